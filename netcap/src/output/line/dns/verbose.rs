//! What `-v` adds to DNS records (tcpdump's `ns_rprint` under `-v`): SOA's names and
//! numbers, TSIG's fields. The owner name before each record is printed by the
//! caller.
use super::Printer;
use crate::output::push_u64;

/// ` MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM`.
pub(super) fn soa(p: &Printer<'_>, out: &mut Vec<u8>, cp: usize) -> Option<()> {
    out.push(b' ');
    let cp = p.name(out, cp)?;
    out.push(b' ');
    let cp = p.name(out, cp)?;
    let fields = p.msg.get(cp..cp + 20)?;
    for w in fields.chunks_exact(4) {
        out.push(b' ');
        push_u64(out, u32::from_be_bytes([w[0], w[1], w[2], w[3]]).into());
    }
    Some(())
}

/// ` ALGORITHM fudge=N maclen=N origid=N error=N otherlen=N`.
pub(super) fn tsig(p: &Printer<'_>, out: &mut Vec<u8>, cp: usize) -> Option<()> {
    out.push(b' ');
    let mut cp = p.name(out, cp)? + 6;
    for (label, skip) in [
        (&b" fudge="[..], false),
        (b" maclen=", true),
        (b" origid=", false),
        (b" error=", false),
        (b" otherlen=", false),
    ] {
        let v = p.u16_at(cp)?;
        out.extend_from_slice(label);
        push_u64(out, v.into());
        cp += 2 + if skip { usize::from(v) } else { 0 };
    }
    Some(())
}

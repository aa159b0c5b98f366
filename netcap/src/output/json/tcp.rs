//! The `tcp` object of `-F json` and its `options` (schema in [`super`]).
use super::{num, push_u64};
use crate::decode::tcp::{self, TcpInfo, TcpOption, TcpOptions};

pub(super) fn tcp_obj(out: &mut Vec<u8>, data: &[u8], t: &TcpInfo) {
    out.extend_from_slice(b",\"tcp\":{\"sport\":");
    push_u64(out, t.sport.into());
    num(out, k!("dport"), t.dport.into());
    num(out, k!("seq"), t.seq.into());
    num(out, k!("ack"), t.ack.into());
    num(out, k!("off"), t.data_offset.into());
    out.extend_from_slice(b",\"flags\":\"");
    let mut f = [0u8; 9];
    let n = tcp::flags_str(t.flags, &mut f);
    out.extend_from_slice(&f[..n]);
    out.push(b'"');
    num(out, k!("flags_int"), t.flags.into());
    num(out, k!("win"), t.window.into());
    num(out, k!("checksum"), t.checksum.into());
    num(out, k!("urg"), t.urgent.into());
    out.extend_from_slice(b",\"options\":[");
    for (i, o) in TcpOptions::new(t.options.slice(data)).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        tcp_option(out, o);
    }
    out.extend_from_slice(b"]}");
}

fn tcp_option(out: &mut Vec<u8>, o: TcpOption<'_>) {
    match o {
        TcpOption::EndOfList => out.extend_from_slice(b"{\"kind\":\"eol\"}"),
        TcpOption::NoOperation => out.extend_from_slice(b"{\"kind\":\"nop\"}"),
        TcpOption::SackPermitted => out.extend_from_slice(b"{\"kind\":\"sack_perm\"}"),
        TcpOption::MaxSegmentSize(v) => {
            out.extend_from_slice(b"{\"kind\":\"mss\",\"value\":");
            push_u64(out, v.into());
            out.push(b'}');
        }
        TcpOption::WindowScale(v) => {
            out.extend_from_slice(b"{\"kind\":\"wscale\",\"value\":");
            push_u64(out, v.into());
            out.push(b'}');
        }
        TcpOption::Sack(blocks) => {
            out.extend_from_slice(b"{\"kind\":\"sack\",\"blocks\":[");
            for (i, b) in blocks.chunks_exact(8).enumerate() {
                out.extend_from_slice(if i == 0 { b"[" } else { b",[" });
                push_u64(out, u32::from_be_bytes([b[0], b[1], b[2], b[3]]).into());
                out.push(b',');
                push_u64(out, u32::from_be_bytes([b[4], b[5], b[6], b[7]]).into());
                out.push(b']');
            }
            out.extend_from_slice(b"]}");
        }
        TcpOption::Timestamps { tsval, tsecr } => {
            out.extend_from_slice(b"{\"kind\":\"ts\",\"val\":");
            push_u64(out, tsval.into());
            num(out, k!("ecr"), tsecr.into());
            out.push(b'}');
        }
        TcpOption::Unknown { kind, data } => {
            out.extend_from_slice(b"{\"kind\":\"unknown\",\"num\":");
            push_u64(out, kind.into());
            num(out, k!("len"), data.len() as u64 + 2);
            out.push(b'}');
        }
        TcpOption::Malformed { kind } => {
            out.extend_from_slice(b"{\"kind\":\"malformed\",\"num\":");
            push_u64(out, kind.into());
            out.push(b'}');
        }
    }
}

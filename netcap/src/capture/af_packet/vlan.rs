//! VLAN tags the NIC or the kernel took out of a received frame, put back after the MAC
//! addresses as libpcap does, so decoding and filters see the frame as it was sent.

const ETH_P_8021Q: u16 = 0x8100;

/// The tag the kernel took out of the frame, as (TPID, TCI), like libpcap's
/// `VLAN_VALID`: a nonzero TCI also counts, for kernels that did not set the flag.
pub(super) fn vlan_tag(hdr: &libc::tpacket3_hdr) -> Option<(u16, u16)> {
    let tci = hdr.hv1.tp_vlan_tci as u16;
    if hdr.tp_status & libc::TP_STATUS_VLAN_VALID == 0 && tci == 0 {
        return None;
    }
    let tpid = if hdr.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
        hdr.hv1.tp_vlan_tpid
    } else {
        ETH_P_8021Q
    };
    Some((tpid, tci))
}

/// Writes `data` with an 802.1Q tag (`tpid`, `tci`) after the two MAC addresses into
/// `out`, cut to `snaplen`. `data` holds at least the 12 address bytes.
pub(super) fn reinsert_vlan(data: &[u8], tpid: u16, tci: u16, snaplen: usize, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&data[..12]);
    out.extend_from_slice(&tpid.to_be_bytes());
    out.extend_from_slice(&tci.to_be_bytes());
    out.extend_from_slice(&data[12..]);
    out.truncate(snaplen);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_tag_goes_back_after_the_mac_addresses() {
        let frame = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x00, 0x45];
        let mut out = Vec::new();
        reinsert_vlan(&frame, 0x8100, 0x2064, 100, &mut out);
        assert_eq!(
            out,
            [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x81, 0x00, 0x20, 0x64, 0x08, 0x00, 0x45]
        );
        reinsert_vlan(&frame, 0x88a8, 7, 14, &mut out);
        assert_eq!(out, [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x88, 0xa8]);
    }

    #[test]
    fn vlan_tag_uses_tpid_only_when_valid() {
        // SAFETY: tpacket3_hdr is plain old data; all-zero is a valid value.
        let mut h: libc::tpacket3_hdr = unsafe { std::mem::zeroed() };
        assert_eq!(vlan_tag(&h), None);
        h.tp_status = libc::TP_STATUS_VLAN_VALID;
        h.hv1.tp_vlan_tpid = 0x88a8;
        assert_eq!(vlan_tag(&h), Some((0x8100, 0)));
        h.tp_status |= libc::TP_STATUS_VLAN_TPID_VALID;
        h.hv1.tp_vlan_tci = 5;
        assert_eq!(vlan_tag(&h), Some((0x88a8, 5)));
    }
}

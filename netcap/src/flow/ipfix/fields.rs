//! The information elements of netcap's templates, in the order records carry them.
use super::*;

/// One information element of a template: IANA id, length on the wire, and whether
/// it is the reverse (RFC 5103) of that id; or, with `netcap`, the id of one of
/// netcap's elements (enterprise [`NETCAP_PEN`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub id: u16,
    pub len: u16,
    pub reverse: bool,
    pub netcap: bool,
}

const fn f(id: u16, len: u16) -> Field {
    Field {
        id,
        len,
        reverse: false,
        netcap: false,
    }
}

const fn rev(id: u16, len: u16) -> Field {
    Field {
        id,
        len,
        reverse: true,
        netcap: false,
    }
}

const fn nc(id: u16, len: u16) -> Field {
    Field {
        id,
        len,
        reverse: false,
        netcap: true,
    }
}

/// The elements, in record order; the address elements are picked per family.
/// Counters and times first (8-byte aligned), then the rest by size.
pub const FIELDS: &[Field] = &[
    f(152, 8), // flowStartMilliseconds
    f(153, 8), // flowEndMilliseconds
    f(1, 8),   // octetDeltaCount (IP octets)
    f(2, 8),   // packetDeltaCount
    f(0, 0),   // sourceIPv4Address 8 (4) or sourceIPv6Address 27 (16)
    f(0, 0),   // destinationIPv4Address 12 (4) or destinationIPv6Address 28 (16)
    f(10, 4),  // ingressInterface
    f(14, 4),  // egressInterface
    f(7, 2),   // sourceTransportPort
    f(11, 2),  // destinationTransportPort
    f(58, 2),  // vlanId
    f(6, 2),   // tcpControlBits (RFC 7125: 16 bits)
    f(56, 6),  // sourceMacAddress
    f(80, 6),  // destinationMacAddress
    f(4, 1),   // protocolIdentifier
    f(5, 1),   // ipClassOfService
    f(61, 1),  // flowDirection: 0 ingress, 1 egress
    f(136, 1), // flowEndReason
];

/// What biflow records add: B's counts, as reverse elements.
pub const REVERSE_FIELDS: &[Field] = &[rev(1, 8), rev(2, 8)];

/// netcap's TCP health elements (enterprise [`NETCAP_PEN`]), after [`FIELDS`]; 0 when
/// the flow is not TCP or the figure was not measured.
pub const TCP_FIELDS: &[Field] = &[
    nc(1, 4), // tcpHandshakeSynMicroseconds: SYN -> SYN/ACK (`rtt_syn_us`)
    nc(2, 4), // tcpHandshakeAckMicroseconds: SYN/ACK -> ACK (`rtt_ack_us`)
    nc(3, 4), // tcpRetransmittedSegments of this direction (`retrans_*`)
    nc(4, 8), // tcpRetransmittedOctets: their payload (`retrans_bytes_*`)
    nc(5, 4), // tcpOutOfOrderSegments (`out_of_order_*`)
    nc(6, 4), // tcpDuplicateAcks (`dup_ack_*`)
    nc(7, 4), // tcpZeroWindows (`zero_window_*`)
];

/// What biflow records add after [`REVERSE_FIELDS`]: B's TCP counts.
pub const TCP_REVERSE_FIELDS: &[Field] = &[
    nc(3 | REVERSE_BIT, 4),
    nc(4 | REVERSE_BIT, 8),
    nc(5 | REVERSE_BIT, 4),
    nc(6 | REVERSE_BIT, 4),
    nc(7 | REVERSE_BIT, 4),
];

/// The fields of template `id`, in order.
pub fn template_fields(id: u16) -> Vec<Field> {
    let v6 = matches!(id, TEMPLATE_V6 | TEMPLATE_BIFLOW_V6);
    let biflow = matches!(id, TEMPLATE_BIFLOW_V4 | TEMPLATE_BIFLOW_V6);
    let mut fields: Vec<Field> = FIELDS.to_vec();
    let (src, dst, len) = if v6 { (27, 28, 16) } else { (8, 12, 4) };
    fields[4] = f(src, len);
    fields[5] = f(dst, len);
    fields.extend_from_slice(TCP_FIELDS);
    if biflow {
        fields.extend_from_slice(REVERSE_FIELDS);
        fields.extend_from_slice(TCP_REVERSE_FIELDS);
    }
    fields
}

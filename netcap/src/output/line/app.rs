//! Which UDP application printer a datagram goes to, by port, in tcpdump's
//! `udp_print` order: a port checked earlier wins (a datagram from port 123 to port
//! 53 is DNS). Beside DNS (printed by the caller), netcap prints NTP ([`super::ntp`])
//! and BOOTP/DHCP ([`super::dhcp`]); a datagram whose earlier port names a protocol
//! netcap does not print stays `UDP, length N`.

/// Ports tcpdump checks before BOOTP's: DNS, mDNS, timed, TFTP.
const BEFORE_BOOTP: [u16; 4] = [53, 5353, 525, 69];
/// Ports tcpdump checks between BOOTP's and NTP's: RIP, AODV, ISAKMP (and NAT-T and
/// its two user ports), SNMP and its traps.
const BEFORE_NTP: [u16; 8] = [520, 654, 500, 4500, 7500, 8500, 161, 162];

/// The application a datagram between these ports is printed as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpApp {
    Ntp,
    Bootp,
}

impl UdpApp {
    pub fn of(sport: u16, dport: u16) -> Option<Self> {
        let is = |p: &u16| sport == *p || dport == *p;
        if BEFORE_BOOTP.iter().any(is) {
            None
        } else if is(&67) || is(&68) {
            Some(Self::Bootp)
        } else if BEFORE_NTP.iter().any(is) {
            None
        } else if is(&123) {
            Some(Self::Ntp)
        } else {
            None
        }
    }
}

/// Prints the datagram's application summary and returns true, or returns false
/// when netcap prints no application for these ports. `payload` as captured,
/// `length` the payload's length on the wire.
pub(super) fn udp(
    out: &mut Vec<u8>,
    (sport, dport): (u16, u16),
    payload: &[u8],
    length: usize,
    verbose: bool,
) -> bool {
    match UdpApp::of(sport, dport) {
        Some(UdpApp::Ntp) => super::ntp::print(out, payload, length, verbose),
        Some(UdpApp::Bootp) => super::dhcp::print(out, payload, length, verbose),
        None => return false,
    }
    true
}

//! The rows `netcap top` shows, apart from how they are drawn: one [`FlowRow`] per
//! live flow of the table, with its rate in each direction over the last refresh, and
//! the same added up per address ([`HostRow`], the hosts view); sorted by the column
//! the user chose and kept to those containing the filter text.
//!
//! Sans-IO like the flow table: [`Model::refresh`] takes the flows and a monotonic
//! clock reading from the caller, so the rates are testable without a clock or a
//! capture. Rates are bits per second of frame bytes on the wire (`orig_len`, as the
//! flow table counts them), over the time between two refreshes: the bytes a flow
//! gained since the previous one, or all of them for a flow new since then.
//!
//! Only the rows shown are sorted in full ([`Model::top_flows`] selects the first `n`
//! first): the table may hold up to `--max-flows` flows, and the screen a few dozen.
use std::{cmp::Ordering, collections::HashMap, net::IpAddr};

use crate::flow::{proto_name, Flow, FlowKey, FlowState};

/// The column that orders the rows: the largest first, except [`SortBy::Address`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    /// Both directions' bit rate over the last refresh.
    #[default]
    Rate,
    Bytes,
    Packets,
    /// The first address and port, ascending: a stable order to read a list by.
    Address,
}

impl SortBy {
    /// In the order the `s` key cycles through them, and keys `1`.. pick them.
    pub const ALL: [Self; 4] = [Self::Rate, Self::Bytes, Self::Packets, Self::Address];

    /// The next column (`s`), back to the first after the last.
    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|&s| s == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// The column a digit key names: `1` is the first of [`SortBy::ALL`].
    pub fn from_digit(c: char) -> Option<Self> {
        let n = c.to_digit(10)? as usize;
        Self::ALL.get(n.checked_sub(1)?).copied()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rate => "rate",
            Self::Bytes => "bytes",
            Self::Packets => "packets",
            Self::Address => "address",
        }
    }
}

/// What the table lists: conversations, or addresses with their conversations added up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum View {
    #[default]
    Flows,
    Hosts,
}

/// One live flow as shown. "A" is the endpoint that sent the flow's first frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRow {
    pub proto: u8,
    pub vlan: u16,
    pub a: (IpAddr, u16),
    pub b: (IpAddr, u16),
    pub packets: u64,
    pub bytes: u64,
    /// Bits per second A to B, and B to A, over the last refresh.
    pub rate_ab: u64,
    pub rate_ba: u64,
    /// TCP only.
    pub state: Option<FlowState>,
}

impl FlowRow {
    pub fn rate(&self) -> u64 {
        self.rate_ab + self.rate_ba
    }

    /// What the filter text is looked for in: protocol, both endpoints, state.
    fn text(&self) -> String {
        let proto = proto_name(self.proto).map_or_else(|| self.proto.to_string(), String::from);
        let state = self.state.map_or("", FlowState::as_str);
        format!(
            "{proto} {} {} {state}",
            endpoint(self.a.0, self.a.1),
            endpoint(self.b.0, self.b.1)
        )
    }
}

/// One address: the sum of the flows it is an endpoint of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRow {
    pub addr: IpAddr,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Bits per second sent by this address, and received by it.
    pub rate_out: u64,
    pub rate_in: u64,
}

/// `addr:port`, IPv6 as `[addr]:port`, as the `--flows` table writes them.
pub fn endpoint(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// A flow record and its orientation: a record started again the other way round
/// (after an eviction) is another entry, whose bytes all count as new.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Seen {
    key: FlowKey,
    a: (IpAddr, u16),
}

/// The rows of the last refresh, the byte counts they were computed from, and the
/// user's choices (sort column, view, filter).
#[derive(Debug, Default)]
pub struct Model {
    flows: Vec<FlowRow>,
    hosts: Vec<HostRow>,
    /// Bytes A to B and B to A of each flow at the last refresh.
    prev: HashMap<Seen, [u64; 2]>,
    /// The clock reading of the last refresh, ns.
    last_ns: Option<u64>,
    pub sort: SortBy,
    pub view: View,
    /// Kept lowercase; rows match when their text contains it.
    filter: String,
}

impl Model {
    /// Replaces the rows with `flows` (the table's live flows) at `now_ns`, a monotonic
    /// clock; the first refresh counts from `start_ns`, when the table was empty.
    pub fn refresh(&mut self, flows: impl IntoIterator<Item = Flow>, start_ns: u64, now_ns: u64) {
        let elapsed = now_ns.saturating_sub(self.last_ns.unwrap_or(start_ns));
        self.last_ns = Some(now_ns);
        let rate = |bytes: u64| match elapsed {
            0 => 0,
            ns => (u128::from(bytes) * 8 * 1_000_000_000 / u128::from(ns)) as u64,
        };
        let mut prev = HashMap::with_capacity(self.prev.len());
        self.flows.clear();
        for f in flows {
            let seen = Seen {
                key: f.key(),
                a: (f.a_addr, f.a_port),
            };
            let [ab0, ba0] = self.prev.get(&seen).copied().unwrap_or_default();
            prev.insert(seen, [f.bytes_ab, f.bytes_ba]);
            self.flows.push(FlowRow {
                proto: f.proto,
                vlan: f.vlan,
                a: seen.a,
                b: (f.b_addr, f.b_port),
                packets: f.packets(),
                bytes: f.bytes(),
                rate_ab: rate(f.bytes_ab.saturating_sub(ab0)),
                rate_ba: rate(f.bytes_ba.saturating_sub(ba0)),
                state: (f.proto == 6).then_some(f.state),
            });
        }
        self.prev = prev;
        self.hosts = hosts(&self.flows);
    }

    /// Sets the filter text (matched case-insensitively).
    pub fn set_filter(&mut self, text: &str) {
        self.filter = text.to_lowercase();
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Rows of the current view: how many match the filter, and how many there are.
    pub fn counts(&self) -> (usize, usize) {
        match self.view {
            View::Flows => (self.matching_flows().len(), self.flows.len()),
            View::Hosts => (self.matching_hosts().len(), self.hosts.len()),
        }
    }

    /// The first `n` flows matching the filter, in the sort order.
    pub fn top_flows(&self, n: usize) -> Vec<&FlowRow> {
        let by = self.sort;
        top(self.matching_flows(), n, |x, y| {
            let key = |r: &FlowRow| match by {
                SortBy::Rate => (r.rate(), r.bytes),
                SortBy::Bytes => (r.bytes, r.packets),
                SortBy::Packets => (r.packets, r.bytes),
                SortBy::Address => (0, 0),
            };
            key(y)
                .cmp(&key(x))
                .then_with(|| (x.a, x.b, x.proto, x.vlan).cmp(&(y.a, y.b, y.proto, y.vlan)))
        })
    }

    /// The first `n` hosts matching the filter, in the sort order.
    pub fn top_hosts(&self, n: usize) -> Vec<&HostRow> {
        let by = self.sort;
        top(self.matching_hosts(), n, |x, y| {
            let key = |r: &HostRow| match by {
                SortBy::Rate => (r.rate_in + r.rate_out, r.bytes),
                SortBy::Bytes => (r.bytes, r.packets),
                SortBy::Packets => (r.packets, r.bytes),
                SortBy::Address => (0, 0),
            };
            key(y).cmp(&key(x)).then_with(|| x.addr.cmp(&y.addr))
        })
    }

    fn matching_flows(&self) -> Vec<&FlowRow> {
        if self.filter.is_empty() {
            return self.flows.iter().collect();
        }
        self.flows
            .iter()
            .filter(|r| r.text().to_lowercase().contains(&self.filter))
            .collect()
    }

    fn matching_hosts(&self) -> Vec<&HostRow> {
        self.hosts
            .iter()
            .filter(|h| self.filter.is_empty() || h.addr.to_string().contains(&self.filter))
            .collect()
    }
}

/// The `n` smallest of `rows` by `cmp`, sorted: a selection, then a sort of `n` rows.
fn top<T>(mut rows: Vec<&T>, n: usize, cmp: impl Fn(&T, &T) -> Ordering) -> Vec<&T> {
    if n == 0 {
        return Vec::new();
    }
    if rows.len() > n {
        rows.select_nth_unstable_by(n - 1, |x, y| cmp(x, y));
        rows.truncate(n);
    }
    rows.sort_unstable_by(|x, y| cmp(x, y));
    rows
}

/// Adds up `flows` per address: each flow counts for both its endpoints, what A sent
/// being A's out and B's in. A flow from an address to itself counts once.
fn hosts(flows: &[FlowRow]) -> Vec<HostRow> {
    let mut by_addr: HashMap<IpAddr, HostRow> = HashMap::new();
    for f in flows {
        let sides = [(f.a.0, f.rate_ab, f.rate_ba), (f.b.0, f.rate_ba, f.rate_ab)];
        let count = if f.a.0 == f.b.0 { 1 } else { 2 };
        for &(addr, out, inn) in &sides[..count] {
            let h = by_addr.entry(addr).or_insert(HostRow {
                addr,
                flows: 0,
                packets: 0,
                bytes: 0,
                rate_out: 0,
                rate_in: 0,
            });
            h.flows += 1;
            h.packets += f.packets;
            h.bytes += f.bytes;
            h.rate_out += out;
            h.rate_in += inn;
        }
    }
    by_addr.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const S: u64 = 1_000_000_000;

    fn v4(d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, d))
    }

    /// A flow from `a` to `b` with these packets and bytes each way.
    fn flow(proto: u8, a: (IpAddr, u16), b: (IpAddr, u16), ab: (u64, u64), ba: (u64, u64)) -> Flow {
        Flow {
            vlan: 0,
            proto,
            a_addr: a.0,
            a_port: a.1,
            b_addr: b.0,
            b_port: b.1,
            packets_ab: ab.0,
            packets_ba: ba.0,
            bytes_ab: ab.1,
            bytes_ba: ba.1,
            first_ns: 0,
            last_ns: 0,
            tcp_flags: 0,
            state: FlowState::Open,
            evicted: false,
            ..Flow::default()
        }
    }

    /// Three flows: many small packets, few big ones, and one in between.
    fn three() -> Vec<Flow> {
        vec![
            flow(17, (v4(1), 1111), (v4(2), 2222), (30, 1800), (0, 0)),
            flow(6, (v4(3), 3333), (v4(2), 80), (10, 10_000), (5, 300)),
            flow(17, (v4(4), 53), (v4(1), 53), (20, 2000), (0, 0)),
        ]
    }

    fn ports(rows: &[&FlowRow]) -> Vec<u16> {
        rows.iter().map(|r| r.a.1).collect()
    }

    #[test]
    fn rates_are_the_bytes_gained_since_the_last_refresh_per_direction() {
        let mut m = Model::default();
        let a = (v4(1), 1000);
        let b = (v4(2), 80);
        // Half a second after the start: 1000 bytes A->B is 16 kbit/s.
        m.refresh([flow(6, a, b, (1, 1000), (1, 500))], 0, S / 2);
        let r = &m.top_flows(1)[0];
        assert_eq!((r.rate_ab, r.rate_ba), (16_000, 8_000));
        // One second later 250 bytes more A->B, nothing B->A.
        m.refresh([flow(6, a, b, (2, 1250), (1, 500))], 0, 3 * S / 2);
        let r = &m.top_flows(1)[0];
        assert_eq!((r.rate_ab, r.rate_ba), (2_000, 0));
        assert_eq!((r.packets, r.bytes), (3, 1750));
        assert_eq!(r.state, Some(FlowState::Open));
        // The record begun again the other way round (after an eviction) is new: all
        // its bytes count, in its own directions.
        m.refresh([flow(6, b, a, (1, 100), (0, 0))], 0, 5 * S / 2);
        let r = &m.top_flows(1)[0];
        assert_eq!((r.a, r.rate_ab, r.rate_ba), (b, 800, 0));
    }

    #[test]
    fn a_refresh_at_the_same_instant_gives_no_rate_rather_than_dividing_by_zero() {
        let mut m = Model::default();
        m.refresh(three(), 5 * S, 5 * S);
        assert!(m.top_flows(10).iter().all(|r| r.rate() == 0));
    }

    #[test]
    fn each_column_sorts_largest_first_and_address_ascending() {
        let mut m = Model::default();
        m.refresh(three(), 0, S);
        assert_eq!(ports(&m.top_flows(10)), [3333, 53, 1111], "rate");
        m.sort = SortBy::Bytes;
        assert_eq!(ports(&m.top_flows(10)), [3333, 53, 1111]);
        m.sort = SortBy::Packets;
        assert_eq!(ports(&m.top_flows(10)), [1111, 53, 3333]);
        m.sort = SortBy::Address;
        assert_eq!(ports(&m.top_flows(10)), [1111, 3333, 53]);
        // Only the first n, still in order.
        m.sort = SortBy::Packets;
        assert_eq!(ports(&m.top_flows(2)), [1111, 53]);
        assert!(m.top_flows(0).is_empty());
    }

    #[test]
    fn sort_keys_cycle_and_digits_pick_a_column() {
        let mut s = SortBy::default();
        let mut seen = vec![s];
        for _ in 0..4 {
            s = s.next();
            seen.push(s);
        }
        assert_eq!(seen[..4], SortBy::ALL);
        assert_eq!(seen[4], SortBy::Rate);
        assert_eq!(SortBy::from_digit('1'), Some(SortBy::Rate));
        assert_eq!(SortBy::from_digit('3'), Some(SortBy::Packets));
        assert_eq!(SortBy::from_digit('0'), None);
        assert_eq!(SortBy::from_digit('5'), None);
        assert_eq!(SortBy::from_digit('x'), None);
    }

    #[test]
    fn the_filter_keeps_rows_containing_the_text_in_any_case() {
        let mut m = Model::default();
        m.refresh(three(), 0, S);
        m.set_filter("2222");
        assert_eq!(ports(&m.top_flows(10)), [1111]);
        m.set_filter("TCP");
        assert_eq!(ports(&m.top_flows(10)), [3333]);
        m.set_filter("192.0.2.1:");
        assert_eq!(ports(&m.top_flows(10)), [53, 1111]);
        assert_eq!(m.counts(), (2, 3));
        m.set_filter("nothing like it");
        assert!(m.top_flows(10).is_empty());
        m.set_filter("");
        assert_eq!(m.counts(), (3, 3));
    }

    #[test]
    fn hosts_add_up_their_flows_with_what_they_sent_as_out() {
        let mut m = Model::default();
        m.refresh(three(), 0, S);
        m.view = View::Hosts;
        assert_eq!(m.counts(), (4, 4));
        m.sort = SortBy::Bytes;
        let hosts = m.top_hosts(10);
        let two = hosts.iter().find(|h| h.addr == v4(2)).expect("192.0.2.2");
        // 192.0.2.2 is B of two flows: it received 1800 + 10000 bytes and sent 300.
        assert_eq!((two.flows, two.packets, two.bytes), (2, 45, 12_100));
        assert_eq!((two.rate_in, two.rate_out), (11_800 * 8, 300 * 8));
        assert_eq!(hosts[0].addr, v4(2), "most bytes first");
        let one = hosts.iter().find(|h| h.addr == v4(1)).expect("192.0.2.1");
        assert_eq!((one.rate_out, one.rate_in), (1800 * 8, 2000 * 8));
        m.set_filter("192.0.2.4");
        assert_eq!(m.top_hosts(10).len(), 1);
    }

    #[test]
    fn a_flow_to_itself_counts_once_for_its_host() {
        let mut m = Model::default();
        let lo = IpAddr::V6(Ipv6Addr::LOCALHOST);
        m.refresh([flow(17, (lo, 1), (lo, 2), (1, 100), (1, 100))], 0, S);
        m.view = View::Hosts;
        let h = m.top_hosts(10);
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].flows, h[0].packets, h[0].bytes), (1, 2, 200));
        assert_eq!(endpoint(lo, 2), "[::1]:2");
    }
}

//! TCP health per flow: the handshake RTT, retransmissions, out-of-order segments,
//! duplicate ACKs and zero windows, counted per direction as Wireshark's `tcp.analysis`
//! flags them (`tcp_analyze_sequence_number` in `epan/dissectors/packet-tcp.c`, whose
//! rules tshark 4.0 applies; re-derived here, not copied).
//!
//! Contract:
//! - One [`TcpTracker`] per flow slot, a fixed 128 bytes: no allocation, no list of
//!   unacknowledged segments (Wireshark keeps one; see the differences below). Fed
//!   every TCP segment of the flow with its direction (0 = A->B) and timestamp.
//! - Sans-IO: time is the frames' own, so a replay counts the same every run.
//! - Segments must come in capture order, as tshark reads them: the analysis cannot
//!   tell a frame the pipeline handed over late from one reordered on the wire. The
//!   pipeline keeps that order with any number of workers (`pipeline/worker.rs`).
//! - The rules, per segment from the sender's side ("fwd") with the other side's last
//!   state ("rev"); `next` is the highest `seq + len (+1 for SYN or FIN)` the sender
//!   has sent, and "before" compares sequence numbers modulo 2^32:
//!   - *zero-window probe*: 1 byte at `next` while rev's window is 0. It does not move
//!     `next` and is neither a zero window nor a duplicate ACK.
//!   - *zero window*: window 0 on a segment without SYN, FIN or RST.
//!   - *keep-alive*: 0 or 1 byte at `next - 1`, no SYN, FIN or RST; never a
//!     retransmission. *Keep-alive ACK*: the reply to one, not a duplicate ACK.
//!   - *duplicate ACK*: no payload, no SYN, FIN or RST, a non-zero window equal to the
//!     sender's previous one, `seq == next` and the previous segment's ACK number.
//!   - For a segment with payload, SYN or FIN (not a keep-alive), in this order:
//!     *spurious retransmission* if its end is at or before the ACK rev last sent;
//!     otherwise nothing more unless it starts before `next` (one byte before, with
//!     more than one byte, still counts as new data); *fast retransmission* if rev sent
//!     two or more duplicate ACKs for this `seq`, the last under 20 ms ago;
//!     *out-of-order* if `next` moved under the initial RTT ago (3 ms before the
//!     handshake is seen) and the segment does not end exactly at `next`; else a
//!     *retransmission*. `retrans` counts all three kinds of retransmission, as
//!     tshark's `tcp.analysis.retransmission` filter does.
//!   - *Initial RTT*: from the most recent SYN to the first segment with ACK and without
//!     SYN (tshark's `tcp.analysis.initial_rtt`); split at the most recent SYN/ACK in
//!     between into [`TcpHealth::rtt_syn_ns`] and [`TcpHealth::rtt_ack_ns`].
//!
//! Deliberate differences from Wireshark, each on cases that are not clear-cut:
//! - Wireshark calls a segment already seen and not yet acknowledged a retransmission
//!   even within the out-of-order time (releases after 4.0 do; 4.0 does not); without a
//!   segment list this tracker follows 4.0.
//! - Windows are compared as sent, not scaled (the tracker does not see the window
//!   scale option): a duplicate ACK whose raw window equals a SYN's raw window under
//!   window scaling would be counted here, not by Wireshark.
//! - No RTT halves when the capture missed the SYN/ACK or saw it before the last SYN
//!   (a refused connection's SYN -> RST has an initial RTT in tshark, none here).
//! - Each flow record starts afresh: after an active timeout splits a conversation the
//!   first segments of the next record have no history (tshark's stream has).
//! - A SYN with a new sequence number after a FIN or RST (ports reused) starts the
//!   sequence analysis again, within the same record; tshark starts a new stream.
use super::tcp_flags::{ACK, FIN, RST, SYN};
use super::TcpSeg;

/// A retransmission within this long of the other side's last duplicate ACK is a fast
/// retransmission (Wireshark's 20 ms).
const FAST_RETRANS_NS: u64 = 20_000_000;
/// The out-of-order window before the handshake gives an RTT (Wireshark's 3 ms).
const OOO_DEFAULT_NS: u64 = 3_000_000;

/// What a flow record says about its TCP connection; zero (and no RTT) when not TCP.
/// Arrays are per direction: index 0 counts segments A sent to B, 1 those B sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpHealth {
    /// SYN -> SYN/ACK as seen at the capture point, ns: the network and the server's
    /// side when the capture is near the client.
    pub rtt_syn_ns: Option<u64>,
    /// SYN/ACK -> the ACK that completes the handshake, ns: the client's side.
    pub rtt_ack_ns: Option<u64>,
    /// Retransmitted segments (plain, fast and spurious), and their payload bytes.
    pub retrans: [u32; 2],
    pub retrans_bytes: [u64; 2],
    pub out_of_order: [u32; 2],
    pub dup_ack: [u32; 2],
    /// Segments advertising a zero window.
    pub zero_window: [u32; 2],
}

impl TcpHealth {
    /// The handshake RTT in µs as two halves (SYN -> SYN/ACK, SYN/ACK -> ACK); the first
    /// rounded down, the second so that their sum is the whole RTT rounded down, which
    /// is tshark's `tcp.analysis.initial_rtt` in whole µs.
    pub fn rtt_us(&self) -> Option<(u64, u64)> {
        let (syn, ack) = (self.rtt_syn_ns?, self.rtt_ack_ns?);
        let first = syn / 1000;
        Some((first, (syn + ack) / 1000 - first))
    }
}

/// Per-direction state bits.
const SEEN: u8 = 1; // a segment was seen: `window`, `last_ack` and `last_ns` hold
const NEXT: u8 = 2; // `next_seq` holds
const KEEPALIVE: u8 = 4; // the last segment was a keep-alive
const ACKED: u8 = 8; // the last segment had the ACK flag
/// Duplicate ACKs in a row, saturating at 3 (only "two or more" matters), in bits 4-5.
const DUP_SHIFT: u8 = 4;
const DUP_MASK: u8 = 3 << DUP_SHIFT;

/// Handshake bits.
const HS_SYN: u8 = 1; // `hs_a` is the most recent SYN's time
const HS_SYNACK: u8 = 2; // `hs_b` is the most recent SYN/ACK's time, after that SYN
const HS_DONE: u8 = 4; // `hs_a`, `hs_b` are the halves (with HS_SYNACK) or `hs_a` the whole
const CLOSED: u8 = 8; // a FIN or RST was seen

/// The analysis state of one flow; see the module doc. Per-direction arrays are
/// indexed by the sender (0 = A->B).
///
/// Two cache lines: the first holds everything an ordinary segment reads or writes
/// (zero windows included: the flows bench's segments all have one), the second the
/// handshake times and the counters of rarer events.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub(crate) struct TcpTracker {
    /// When `next_seq` last moved on.
    next_seq_ns: [u64; 2],
    /// When the last segment was seen.
    last_ns: [u64; 2],
    next_seq: [u32; 2],
    last_ack: [u32; 2],
    window: [u16; 2],
    bits: [u8; 2],
    hs: u8,
    zero_window: [u32; 2],
    // Second line.
    hs_a: u64,
    hs_b: u64,
    retrans_bytes: [u64; 2],
    retrans: [u32; 2],
    out_of_order: [u32; 2],
    dup_ack: [u32; 2],
}

/// `a` is before `b` in sequence space.
#[inline]
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl TcpTracker {
    /// The record's figures.
    pub(crate) fn health(&self) -> TcpHealth {
        let halves = self.hs & (HS_DONE | HS_SYNACK) == HS_DONE | HS_SYNACK;
        TcpHealth {
            rtt_syn_ns: halves.then_some(self.hs_a),
            rtt_ack_ns: halves.then_some(self.hs_b),
            retrans: self.retrans,
            retrans_bytes: self.retrans_bytes,
            out_of_order: self.out_of_order,
            dup_ack: self.dup_ack,
            zero_window: self.zero_window,
        }
    }

    /// The whole handshake RTT once seen (what sets the out-of-order window).
    fn initial_rtt_ns(&self) -> Option<u64> {
        if self.hs & HS_DONE == 0 {
            None
        } else if self.hs & HS_SYNACK != 0 {
            Some(self.hs_a + self.hs_b)
        } else {
            Some(self.hs_a)
        }
    }

    /// Analyses one segment sent in direction `dir` (0 = A->B) at `ts_ns`.
    #[inline]
    pub(crate) fn update(&mut self, dir: usize, seg: &TcpSeg, ts_ns: u64) {
        let (fwd, rev) = (dir & 1, (dir & 1) ^ 1);
        let TcpSeg {
            flags,
            seq,
            ack,
            window,
            payload_len: len,
        } = *seg;
        let ctl = flags & (SYN | FIN | RST) != 0;
        let syn_fin = u32::from(flags & (SYN | FIN) != 0);
        if flags & (SYN | ACK) == SYN && self.hs & CLOSED != 0 && self.bits[fwd] & NEXT != 0 {
            // A new connection on the ports of a closed one (a retransmitted SYN has
            // the old ISN, one before `next`).
            if seq.wrapping_add(1) != self.next_seq[fwd] {
                self.bits = [0; 2];
                self.hs &= !CLOSED;
            }
        }
        let b = self.bits[fwd];
        let rb = self.bits[rev];
        let next = self.next_seq[fwd];
        let known = b & NEXT != 0;

        let zwp = len == 1 && known && seq == next && rb & SEEN != 0 && self.window[rev] == 0;
        let mut keepalive = false;
        let mut dup = false;
        let mut run = b & DUP_MASK;
        if !zwp {
            if window == 0 && !ctl {
                self.zero_window[fwd] = self.zero_window[fwd].saturating_add(1);
            }
            keepalive = len <= 1 && known && seq == next.wrapping_sub(1) && !ctl;
            let repeat = len == 0
                && window != 0
                && b & SEEN != 0
                && window == self.window[fwd]
                && known
                && seq == next
                && ack == self.last_ack[fwd]
                && !ctl;
            // A repeat answering a keep-alive is its ACK, not a duplicate.
            if repeat && rb & KEEPALIVE == 0 {
                dup = true;
                self.dup_ack[fwd] = self.dup_ack[fwd].saturating_add(1);
                if run != DUP_MASK {
                    run += 1 << DUP_SHIFT;
                }
            }
        }
        if !dup && ack != self.last_ack[fwd] {
            run = 0;
        }
        // `classify` reads the other direction's run, never this one's.

        if (len > 0 || syn_fin != 0) && !keepalive {
            self.classify(fwd, seq, len, syn_fin, ts_ns);
        }

        let end = seq.wrapping_add(len).wrapping_add(syn_fin);
        if (!known || before(next, end)) && !zwp {
            self.next_seq[fwd] = end;
            self.next_seq_ns[fwd] = ts_ns;
        }
        self.window[fwd] = window;
        self.last_ack[fwd] = ack;
        self.last_ns[fwd] = ts_ns;
        let mut nb = SEEN | NEXT | run;
        if keepalive {
            nb |= KEEPALIVE;
        }
        if flags & ACK != 0 {
            nb |= ACKED;
        }
        self.bits[fwd] = nb;
        self.handshake(flags, ts_ns);
    }

    /// Retransmission, out-of-order or neither, for a segment with payload, SYN or FIN.
    #[inline]
    fn classify(&mut self, fwd: usize, seq: u32, len: u32, syn_fin: u32, ts_ns: u64) {
        let rev = fwd ^ 1;
        let next = self.next_seq[fwd];
        let end = seq.wrapping_add(len);
        let spurious = len > 0 && self.bits[rev] & ACKED != 0 && !before(self.last_ack[rev], end);
        // One byte before `next` with more data is new data after a zero-window probe.
        let not_advanced = self.bits[fwd] & NEXT != 0
            && before(seq, next)
            && !(len > 1 && next.wrapping_sub(1) == seq);
        let retrans = if spurious {
            true
        } else if !not_advanced {
            return;
        } else {
            let since = |t: u64| ts_ns.checked_sub(t).unwrap_or(u64::MAX);
            let fast = self.bits[rev] & DUP_MASK >= 2 << DUP_SHIFT
                && self.last_ack[rev] == seq
                && since(self.last_ns[rev]) < FAST_RETRANS_NS;
            let ooo_ns = self.initial_rtt_ns().unwrap_or(OOO_DEFAULT_NS);
            fast || !(since(self.next_seq_ns[fwd]) < ooo_ns && next != end.wrapping_add(syn_fin))
        };
        if retrans {
            self.retrans[fwd] = self.retrans[fwd].saturating_add(1);
            self.retrans_bytes[fwd] = self.retrans_bytes[fwd].saturating_add(u64::from(len));
        } else {
            self.out_of_order[fwd] = self.out_of_order[fwd].saturating_add(1);
        }
    }

    /// The handshake RTT: the most recent SYN, then SYN/ACK, then the first ACK.
    #[inline]
    fn handshake(&mut self, flags: u8, ts_ns: u64) {
        if flags & (FIN | RST) != 0 {
            self.hs |= CLOSED;
        }
        if self.hs & HS_DONE != 0 {
            return;
        }
        match flags & (SYN | ACK) {
            SYN => {
                self.hs = (self.hs & CLOSED) | HS_SYN;
                self.hs_a = ts_ns;
            }
            x if x == SYN | ACK && self.hs & HS_SYN != 0 => {
                self.hs |= HS_SYNACK;
                self.hs_b = ts_ns;
            }
            ACK if self.hs & HS_SYN != 0 => {
                // As tshark: a zero RTT (same timestamp) leaves it unset.
                let (syn, synack) = (self.hs_a, self.hs_b);
                let Some(whole) = ts_ns.checked_sub(syn).filter(|&w| w > 0) else {
                    return;
                };
                self.hs |= HS_DONE;
                if self.hs & HS_SYNACK != 0 && synack >= syn && synack <= ts_ns {
                    (self.hs_a, self.hs_b) = (synack - syn, ts_ns - synack);
                } else {
                    self.hs &= !HS_SYNACK;
                    self.hs_a = whole;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "tcp_health_tests.rs"]
mod tests;

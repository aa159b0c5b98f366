//! Reading the ring: frame by frame ([`Source::visit`](super::Source::visit)), or a
//! round at a time with its blocks kept from the kernel until the round's consumer
//! returns ([`Source::visit_round`](super::Source::visit_round)).
use super::{reinsert_vlan, vlan_tag, AfPacket, Cursor, Error, Fill};
use crate::{
    capture::round::{RoundFrames, RoundLimit},
    packet::{Direction, Frame, FrameMeta, LinkType},
};

/// Where the bytes of a frame handed on are.
#[derive(Clone, Copy, Debug)]
pub(super) enum Loc {
    /// In the ring: the frame at this offset of this block.
    Ring { block: usize, offset: usize },
    /// In the source's scratch buffer (its VLAN tag put back), until the next frame.
    Scratch,
    /// Copied into the round's buffer, at this range.
    Copied(usize, usize),
}

/// What a round keeps from one to the next (the allocations), and the blocks read to
/// their end and not yet handed back.
#[derive(Default)]
pub(super) struct RoundState {
    entries: Vec<(FrameMeta, Loc)>,
    copied: Vec<u8>,
    frames: RoundFrames,
    /// Blocks read to their end, held for the round's consumer.
    held: Vec<usize>,
}

impl AfPacket {
    /// Walks the ready frames from the cursor, handing each one kept (direction, the
    /// re-check) to `f` with where its bytes are; stops between two frames when `f`
    /// says so, or when no ready block is left (a partly read block is finished on the
    /// next call). Each block read to its end is handed back to the kernel at once,
    /// or, with `hold`, when [`AfPacket::release_held`] is called.
    pub(super) fn walk(
        &mut self,
        hold: bool,
        mut f: impl FnMut(FrameMeta, &[u8], Loc) -> bool,
    ) -> Result<Fill, Error> {
        let mut progressed = false;
        // One clock read per call, not per frame: the delay includes the time spent
        // in this call, at most one batch's worth.
        let now_ns = crate::capture::realtime_ns();
        let snap = self.snaplen as usize;
        'blocks: for _ in 0..self.ring.geometry().block_nr {
            let Some((first, count)) = self.ring.block_frames(self.cursor.block) else {
                break;
            };
            progressed = true;
            if self.cursor.done == 0 {
                self.cursor.offset = first;
            }
            while self.cursor.done < count {
                // None only if the kernel's offsets were corrupt: skip the block's rest
                // rather than read outside it.
                let (block, offset) = (self.cursor.block, self.cursor.offset);
                let Some((fr, next)) = self.ring.frame(block, offset) else {
                    break;
                };
                let direction = match fr.pkttype {
                    libc::PACKET_OUTGOING => Direction::Out,
                    _ => Direction::In,
                };
                // Each frame's first read is otherwise a cache miss on lines the
                // kernel's CPU wrote (`capture/prefetch.rs`).
                if self.cursor.done + 1 < count {
                    self.ring.prefetch_after(block, self.cursor.offset, next);
                }
                self.cursor.done += 1;
                self.cursor.offset = next;
                if !self.direction.keeps(direction) {
                    self.filtered += 1;
                    continue;
                }
                let mut meta = FrameMeta {
                    ts_ns: u64::from(fr.hdr.tp_sec) * 1_000_000_000 + u64::from(fr.hdr.tp_nsec),
                    orig_len: fr.hdr.tp_len,
                    ifindex: u32::try_from(fr.ifindex).unwrap_or(self.ifindex),
                    direction,
                    link: self.link,
                    iface: 0,
                    drops: 0,
                };
                let (data, loc) = match vlan_tag(&fr.hdr) {
                    Some((tpid, tci)) if self.link == LinkType::Ethernet && fr.data.len() >= 12 => {
                        reinsert_vlan(fr.data, tpid, tci, snap, &mut self.scratch);
                        meta.orig_len = meta.orig_len.saturating_add(4);
                        (&self.scratch[..], Loc::Scratch)
                    }
                    _ => (
                        &fr.data[..fr.data.len().min(snap)],
                        Loc::Ring { block, offset },
                    ),
                };
                if let Some(f) = &self.recheck {
                    if !f.matches(data, meta.orig_len) {
                        self.filtered += 1;
                        continue;
                    }
                }
                crate::capture::sample_delay(
                    &mut self.delay,
                    &mut self.delay_seq,
                    now_ns.saturating_sub(meta.ts_ns) / 1000,
                );
                self.captured += 1;
                if !f(meta, data, loc) {
                    if self.cursor.done == count {
                        self.next_block(hold);
                    }
                    break 'blocks;
                }
            }
            self.next_block(hold);
        }
        if !progressed {
            return self.check_socket_error();
        }
        Ok(Fill::Some)
    }

    /// Moves to the next block, handing the current one back to the kernel, or with
    /// `hold` keeping it until [`AfPacket::release_held`].
    fn next_block(&mut self, hold: bool) {
        if hold {
            self.round.held.push(self.cursor.block);
        } else {
            self.ring.release(self.cursor.block);
        }
        let block = (self.cursor.block + 1) % self.ring.geometry().block_nr;
        self.cursor = Cursor {
            block,
            done: 0,
            offset: 0,
        };
    }

    /// Hands the held blocks back to the kernel.
    fn release_held(&mut self) {
        for block in self.round.held.drain(..) {
            self.ring.release(block);
        }
    }

    /// One round: frames walked with their blocks held, handed to `f` together, and
    /// the blocks read to their end handed back after `f` returns. A frame whose VLAN
    /// tag was put back is copied (its bytes are not the ring's).
    pub(super) fn read_round(
        &mut self,
        limit: RoundLimit,
        f: &mut dyn FnMut(&[Frame<'_>]),
    ) -> Result<Fill, Error> {
        let mut entries = std::mem::take(&mut self.round.entries);
        let mut copied = std::mem::take(&mut self.round.copied);
        entries.clear();
        copied.clear();
        let mut bytes = 0usize;
        let walked = self.walk(true, |meta, data, loc| {
            let loc = match loc {
                Loc::Scratch => {
                    let start = copied.len();
                    copied.extend_from_slice(data);
                    Loc::Copied(start, copied.len())
                }
                other => other,
            };
            entries.push((meta, loc));
            bytes += data.len();
            limit.more(entries.len(), bytes)
        });
        let snap = self.snaplen as usize;
        let mut frames = self.round.frames.take();
        for &(meta, loc) in &entries {
            let data = match loc {
                // The block is still ours (held, or the one being read): the same
                // frame as the walk saw.
                Loc::Ring { block, offset } => self
                    .ring
                    .frame(block, offset)
                    .map(|(fr, _)| &fr.data[..fr.data.len().min(snap)]),
                Loc::Copied(start, end) => copied.get(start..end),
                Loc::Scratch => None,
            };
            if let Some(data) = data {
                frames.push(Frame { meta, data });
            }
        }
        if !frames.is_empty() {
            f(&frames);
        }
        self.round.frames.give_back(frames);
        self.release_held();
        self.round.entries = entries;
        self.round.copied = copied;
        walked
    }
}

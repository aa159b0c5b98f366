//! What the copy, the flow counting and the filter need from a hook's context, for
//! XDP (`xdp_md`) and TC (`__sk_buff`).
use aya_ebpf::{
    cty::c_void,
    helpers::{bpf_skb_load_bytes, bpf_xdp_load_bytes},
    programs::{TcContext, XdpContext},
};

/// What the copy logic and the filter need from a hook's context.
pub trait Frame {
    /// The kernel's context pointer (`xdp_md`, `__sk_buff`), for `load_at`.
    fn raw(&self) -> *mut c_void;
    /// Copies `len` bytes from `offset` of the frame whose context is `raw` to `dst`;
    /// 0 on success, negative when the range is not inside the frame. `dst` must have
    /// room for `len` bytes, and `len` must be bounded where the verifier can see it.
    fn load_at(raw: *mut c_void, offset: u32, dst: *mut u8, len: u32) -> i64;
    /// `(data, data_end)`: the frame's linear bytes for direct packet access.
    fn linear(&self) -> (usize, usize);
    /// The outer VLAN tag the kernel holds apart from the frame's bytes (tc: moved into
    /// the skb), for the in-kernel flow key: `crate::flows::HELD` with its VLAN id, or
    /// 0 when the frame's bytes are all of it.
    #[inline(always)]
    fn outer_tag(&self) -> u32 {
        0
    }
    /// Copies `len` bytes from offset 0 of the frame to `dst`; 0 on success.
    #[inline(always)]
    fn load(&self, dst: *mut u8, len: u32) -> i64 {
        Self::load_at(self.raw(), 0, dst, len)
    }
}

pub struct Xdp<'a>(pub &'a XdpContext);
impl Frame for Xdp<'_> {
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.0.ctx.cast()
    }
    #[inline(always)]
    fn linear(&self) -> (usize, usize) {
        (self.0.data(), self.0.data_end())
    }
    #[inline(always)]
    fn load_at(raw: *mut c_void, offset: u32, dst: *mut u8, len: u32) -> i64 {
        // SAFETY: `raw` is the xdp_md the kernel passed in; `dst` has room for `len`
        // bytes (a record's data in a per-CPU ring, bounded right before, or a 4-byte buffer).
        unsafe { bpf_xdp_load_bytes(raw.cast(), offset, dst.cast(), len) }
    }
}

pub struct Skb<'a>(pub &'a TcContext);
impl Frame for Skb<'_> {
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.0.skb.skb.cast()
    }
    #[inline(always)]
    fn linear(&self) -> (usize, usize) {
        (self.0.data(), self.0.data_end())
    }
    #[inline(always)]
    fn load_at(raw: *mut c_void, offset: u32, dst: *mut u8, len: u32) -> i64 {
        // SAFETY: as for `Xdp::load_at`; `raw` is the __sk_buff the kernel passed in.
        unsafe { bpf_skb_load_bytes(raw as *const _, offset, dst.cast(), len) }
    }
}

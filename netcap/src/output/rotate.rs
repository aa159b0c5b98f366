//! `-C`, `-G`, `-W`, `-z`: the `-w` file rotated by size and by the clock, as tcpdump
//! does it, with two of its faults left out.
//!
//! - `-C N`: a new file before a frame would take the current one past N bytes (a
//!   file holds at least one frame; a frame is never cut). The bytes counted include
//!   pcapng's packet options, a new interface block and the statistics blocks written
//!   at close, so a closed file is within N. tcpdump checks after the write, so its
//!   files pass the size by up to a frame.
//! - `-G SECS`: a new file at every multiple of SECS on the clock (UTC seconds since
//!   the epoch), named by running the `-w` name through strftime in local time (`TZ`
//!   respected). tcpdump rotates only when a frame arrives, so a quiet link never
//!   rotates and the schedule drifts; here [`FrameSink::poll`] rotates on time with no
//!   frame at all, and a frame stamped past the boundary goes to the next file.
//! - `-W K`: with `-C`, a ring of K files (`name0` .. `nameK-1`, padded to the digits of
//!   K-1 as tcpdump pads them); with `-G` alone, the run ends after K files (whose
//!   names are not numbered).
//! - `-z CMD`: `CMD FILE` is started after each rotated file is closed (as tcpdump,
//!   not for the last one), without waiting for it; a failure is reported on stderr.
//!
//! Names: without `-W` the first file is the `-w` name itself and the next are
//! `name1`, `name2`, ...; with `-G` the count restarts at each period, as tcpdump.
//! Every file is complete on its own: header (and pcapng interface blocks) first,
//! written even when the period had no frame.
use std::{
    ffi::OsString,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use super::{
    create_file,
    pcap::{FileFormat, PcapSink},
    FileStats, FrameSink, Interface,
};
use crate::packet::{Frame, Interfaces, LinkType};

/// What to rotate on, from `-C`, `-G`, `-W` and `-z`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// `-C`: most bytes in one file.
    pub size: Option<u64>,
    /// `-G`: a new file every this often.
    pub every: Option<Duration>,
    /// `-W`: files in the ring (`-C`) or in all (`-G` alone).
    pub files: Option<u32>,
    /// `-z`: a program run on each closed file.
    pub post: Option<OsString>,
}

/// Ended the run: `-G` with `-W K` wrote its K files. A normal end (exit status 0),
/// as tcpdump's "Maximum file limit reached".
#[derive(Debug, thiserror::Error)]
#[error("maximum file limit reached: {0}")]
pub struct LimitReached(pub u32);

/// Where a file's bytes go: the file, counting what it was given.
struct Counted {
    out: BufWriter<FailClosed>,
    bytes: u64,
}

/// The file under the buffer: after its first write error (a full disk) it takes
/// nothing more, so the buffer's last flush on drop cannot add to a file that
/// [`cut_to_last_record`] has repaired.
struct FailClosed {
    file: File,
    failed: Arc<AtomicBool>,
}

impl Write for FailClosed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("the file failed before"));
        }
        self.file.write(buf).inspect_err(|_| {
            self.failed.store(true, Ordering::Relaxed);
        })
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("the file failed before"));
        }
        self.file.write_vectored(bufs).inspect_err(|_| {
            self.failed.store(true, Ordering::Relaxed);
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    /// Pieces that fill the buffer go to the file in one `writev`, past the buffer
    /// (`BufWriter` does so only for a writer it knows to be vectored, which a
    /// `Write` outside std cannot say); smaller ones are buffered.
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        let total = bufs
            .iter()
            .map(|b| b.len())
            .fold(0usize, usize::saturating_add);
        let n = if total >= self.out.capacity() {
            self.out.flush()?;
            self.out.get_mut().write_vectored(bufs)?
        } else {
            self.out.write_vectored(bufs)?
        };
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

struct Current {
    sink: PcapSink<Counted>,
    path: PathBuf,
    pcapng: bool,
    frames: u64,
    failed: Arc<AtomicBool>,
}

impl Drop for Current {
    /// A file whose write failed ends with part of a record: it is cut back to its
    /// last complete one, so every reader takes it whole.
    fn drop(&mut self) {
        if self.failed.load(Ordering::Relaxed) {
            match cut_to_last_record(&self.path, self.pcapng) {
                Ok(0) => {}
                Ok(n) => eprintln!(
                    "netcap: {}: cut back to its last complete frame after the write error \
                     ({n} bytes)",
                    self.path.display()
                ),
                Err(e) => eprintln!("netcap: {}: cannot repair: {e}", self.path.display()),
            }
        }
    }
}

/// Truncates a pcap or pcapng file netcap wrote to its last complete record (block);
/// returns its new length. Reads only the record headers; leaves anything that is not
/// a regular file (`-w /dev/full`) alone.
fn cut_to_last_record(path: &Path, pcapng: bool) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(0);
    }
    let size = meta.len();
    let word = |at: u64, big: bool| -> Option<u64> {
        let mut w = [0u8; 4];
        file.read_exact_at(&mut w, at).ok()?;
        Some(u64::from(if big {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }))
    };
    let mut end = 0u64;
    if pcapng {
        // Blocks: type, total length (a multiple of 4, at least 12), body, length.
        let mut bom = [0u8; 4];
        let big = file.read_exact_at(&mut bom, 8).is_ok() && bom == [0x1a, 0x2b, 0x3c, 0x4d];
        while let Some(len) = word(end + 4, big) {
            if len < 12 || len % 4 != 0 || end + len > size {
                break;
            }
            end += len;
        }
    } else if size >= 24 {
        // The 24-byte header, then records of a 16-byte header and caplen bytes.
        end = 24;
        while let Some(caplen) = word(end + 8, false) {
            if end + 16 + caplen > size {
                break;
            }
            end += 16 + caplen;
        }
    }
    file.set_len(end)?;
    Ok(end)
}

/// A [`FrameSink`] that writes a sequence of files; see the module doc.
pub struct RotatingSink {
    template: PathBuf,
    rotation: Rotation,
    format: FileFormat,
    link_hint: Option<LinkType>,
    iface: Option<Interface>,
    names: Option<Interfaces>,
    stats: Option<FileStats>,
    current: Option<Current>,
    /// The `-C` number of the current file.
    index: u32,
    /// Files begun by `-G` so far, the first included.
    periods: u32,
    /// The current `-G` period: `[start, start + every)`, in ns since the epoch.
    period_start_ns: u64,
    /// Frames skipped (link type) by files already closed.
    skipped: u64,
    ended: bool,
}

impl RotatingSink {
    /// Creates the first file, so a bad name fails before the capture starts.
    pub fn create(
        template: &Path,
        rotation: Rotation,
        format: FileFormat,
    ) -> std::io::Result<Self> {
        let mut sink = Self {
            template: template.to_owned(),
            rotation,
            format,
            link_hint: None,
            iface: None,
            names: None,
            stats: None,
            current: None,
            index: 0,
            periods: 1,
            period_start_ns: 0,
            skipped: 0,
            ended: false,
        };
        sink.period_start_ns = sink.period_of(crate::capture::realtime_ns());
        sink.open_next()?;
        Ok(sink)
    }

    /// The file being written.
    pub fn current_path(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }

    /// The start of the `-G` period `ns` falls in (0 without `-G`).
    fn period_of(&self, ns: u64) -> u64 {
        match self.rotation.every.map(|d| d.as_nanos() as u64) {
            Some(p) if p > 0 => ns - ns % p,
            _ => 0,
        }
    }

    fn period_end_ns(&self) -> Option<u64> {
        let every = self.rotation.every?.as_nanos() as u64;
        Some(self.period_start_ns.saturating_add(every))
    }

    fn open_next(&mut self) -> std::io::Result<()> {
        let path = file_name(
            &self.template,
            self.rotation.every.map(|_| self.period_start_ns),
            self.index,
            // As tcpdump: numbered only with -C (with -G alone, -W only counts files).
            self.rotation.files.filter(|_| self.rotation.size.is_some()),
        )?;
        let file = create_file(&path)?;
        let failed = Arc::new(AtomicBool::new(false));
        // A second descriptor of the file for zero-copy writes past the buffer
        // (`FrameSink::through`), failing with it; without one, frames are buffered.
        let through = file.try_clone().ok().map(|file| FailClosed {
            file,
            failed: failed.clone(),
        });
        let file = FailClosed {
            file,
            failed: failed.clone(),
        };
        let out = Counted {
            out: BufWriter::with_capacity(1 << 20, file),
            bytes: 0,
        };
        let mut sink = PcapSink::new(out, self.format);
        if let Some(through) = through {
            sink.set_through(Box::new(through));
        }
        sink.set_link_hint(self.link_hint);
        if let Some(iface) = &self.iface {
            sink.set_interface(iface);
        }
        if let Some(names) = &self.names {
            sink.set_interfaces(names);
        }
        if let Some(stats) = &self.stats {
            sink.set_stats(stats);
        }
        self.current = Some(Current {
            sink,
            path,
            pcapng: self.format.pcapng,
            frames: 0,
            failed,
        });
        Ok(())
    }

    /// Completes the current file (a header even when it holds no frame) and closes it.
    fn close(&mut self, post: bool) -> std::io::Result<()> {
        let Some(mut cur) = self.current.take() else {
            return Ok(());
        };
        cur.sink.close()?;
        self.skipped += cur.sink.skipped();
        let path = cur.path.clone();
        drop(cur);
        if let (true, Some(cmd)) = (post, &self.rotation.post) {
            run_post(cmd, &path);
        }
        Ok(())
    }

    /// The next file of the `-C` sequence (or ring).
    fn rotate_by_size(&mut self) -> std::io::Result<()> {
        self.close(true)?;
        self.index += 1;
        if self.rotation.files.is_some_and(|k| self.index >= k) {
            self.index = 0;
        }
        self.open_next()
    }

    /// The first file of the `-G` period starting at `start_ns`.
    fn rotate_by_time(&mut self, start_ns: u64) -> std::io::Result<()> {
        self.close(true)?;
        if let (None, Some(k)) = (self.rotation.size, self.rotation.files) {
            if self.periods >= k {
                self.ended = true;
                eprintln!("netcap: maximum file limit reached: {k}");
                return Err(std::io::Error::other(LimitReached(k)));
            }
        }
        self.periods += 1;
        self.period_start_ns = start_ns;
        self.index = 0;
        self.open_next()
    }

    fn ended_error(&self) -> std::io::Error {
        std::io::Error::other(LimitReached(self.rotation.files.unwrap_or(0)))
    }
}

impl FrameSink for RotatingSink {
    fn write(&mut self, frame: &Frame<'_>) -> std::io::Result<()> {
        if self.ended {
            return Err(self.ended_error());
        }
        if self
            .period_end_ns()
            .is_some_and(|end| frame.meta.ts_ns >= end)
        {
            self.rotate_by_time(self.period_of(frame.meta.ts_ns))?;
        }
        if let (Some(limit), Some(cur)) = (self.rotation.size, &self.current) {
            // Room for the frame and for what closing the file adds (pcapng: the
            // statistics blocks), so the closed file is within the limit.
            let written = cur.sink.get_ref().map_or(0, |c| c.bytes);
            let after = written + cur.sink.size_after(frame);
            if cur.frames > 0 && after > limit {
                self.rotate_by_size()?;
            }
        }
        let Some(cur) = self.current.as_mut() else {
            return Err(std::io::Error::other("no open -w file"));
        };
        cur.sink.write(frame)?;
        cur.frames += 1;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.current.as_mut() {
            Some(cur) => cur.sink.flush(),
            None => Ok(()),
        }
    }

    fn poll(&mut self) -> std::io::Result<()> {
        if self.ended {
            return Ok(());
        }
        let now = crate::capture::realtime_ns();
        if self.period_end_ns().is_some_and(|end| now >= end) {
            self.rotate_by_time(self.period_of(now))?;
        }
        Ok(())
    }

    fn skipped(&self) -> u64 {
        self.skipped + self.current.as_ref().map_or(0, |c| c.sink.skipped())
    }

    /// Only without `-C` and `-G` (then every record goes to the one file as it is).
    fn record_format(&self) -> Option<super::pcap::RecordFormat> {
        if self.ended || self.rotation.size.is_some() || self.rotation.every.is_some() {
            return None;
        }
        self.current.as_ref()?.sink.record_format()
    }

    /// Only without `-C` and `-G`, as [`FrameSink::record_format`] (bytes written
    /// there are not counted for `-C`).
    fn through(&mut self) -> Option<std::io::Result<&mut dyn Write>> {
        if self.ended || self.rotation.size.is_some() || self.rotation.every.is_some() {
            return None;
        }
        self.current.as_mut()?.sink.through()
    }

    fn write_records(&mut self, records: &[u8], skipped: u64) -> std::io::Result<()> {
        let Some(cur) = self.current.as_mut() else {
            return Err(std::io::Error::other("no open -w file"));
        };
        cur.sink.write_records(records, skipped)
    }

    fn write_records_vectored(
        &mut self,
        records: &[std::io::IoSlice<'_>],
        skipped: u64,
    ) -> std::io::Result<()> {
        let Some(cur) = self.current.as_mut() else {
            return Err(std::io::Error::other("no open -w file"));
        };
        cur.sink.write_records_vectored(records, skipped)
    }

    fn set_link_hint(&mut self, link: Option<LinkType>) {
        self.link_hint = link;
        if let Some(cur) = self.current.as_mut() {
            cur.sink.set_link_hint(link);
        }
    }

    fn set_interface(&mut self, iface: &Interface) {
        self.iface = Some(iface.clone());
        if let Some(cur) = self.current.as_mut() {
            cur.sink.set_interface(iface);
        }
    }

    fn set_interfaces(&mut self, names: &Interfaces) {
        self.names = Some(names.clone());
        if let Some(cur) = self.current.as_mut() {
            cur.sink.set_interfaces(names);
        }
    }

    fn set_stats(&mut self, stats: &FileStats) {
        self.stats = Some(stats.clone());
        if let Some(cur) = self.current.as_mut() {
            cur.sink.set_stats(stats);
        }
    }

    fn close(&mut self) -> std::io::Result<()> {
        match self.current.as_mut() {
            Some(cur) => cur.sink.close(),
            None => Ok(()),
        }
    }
}

/// The name of file `index` of the period starting at `period_ns` (with `-G`), as
/// tcpdump makes it: strftime over the template, then the index, padded to the digits
/// of `files - 1`, unless both are 0.
pub fn file_name(
    template: &Path,
    period_ns: Option<u64>,
    index: u32,
    files: Option<u32>,
) -> std::io::Result<PathBuf> {
    let mut name: OsString = match period_ns {
        Some(ns) => strftime(template, ns)?.into(),
        None => template.as_os_str().to_owned(),
    };
    let digits = files.map_or(0, |k| {
        k.saturating_sub(1).checked_ilog10().map_or(0, |d| d + 1)
    });
    if index > 0 || digits > 0 {
        name.push(format!("{index:0width$}", width = digits as usize));
    }
    Ok(PathBuf::from(name))
}

/// `template` through strftime at `ns` since the epoch, in the local time zone.
pub fn strftime(template: &Path, ns: u64) -> std::io::Result<String> {
    let bad = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
    let text = template.to_str().ok_or_else(|| {
        bad(format!(
            "{}: -G needs a UTF-8 file name",
            template.display()
        ))
    })?;
    let when = jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map_err(|e| bad(e.to_string()))?
        .to_zoned(jiff::tz::TimeZone::system());
    jiff::fmt::strtime::format(text, &when).map_err(|e| bad(format!("{}: {e}", template.display())))
}

/// Starts `cmd file` and reports, from a thread of its own, when it fails.
fn run_post(cmd: &OsString, file: &Path) {
    let what = format!("-z {} {}", cmd.to_string_lossy(), file.display());
    match std::process::Command::new(cmd).arg(file).spawn() {
        Ok(mut child) => {
            let _ = std::thread::Builder::new()
                .name("netcap-post-rotate".into())
                .spawn(move || match child.wait() {
                    Ok(s) if s.success() => {}
                    Ok(s) => eprintln!("netcap: {what}: {s}"),
                    Err(e) => eprintln!("netcap: {what}: {e}"),
                });
        }
        Err(e) => eprintln!("netcap: {what}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_tcpdump_makes_them() {
        let t = Path::new("/tmp/cap.pcap");
        let name = |i, w| {
            file_name(t, None, i, w)
                .map(|p| p.display().to_string())
                .ok()
        };
        assert_eq!(name(0, None).as_deref(), Some("/tmp/cap.pcap"));
        assert_eq!(name(3, None).as_deref(), Some("/tmp/cap.pcap3"));
        assert_eq!(name(0, Some(1)).as_deref(), Some("/tmp/cap.pcap"));
        assert_eq!(name(0, Some(10)).as_deref(), Some("/tmp/cap.pcap0"));
        assert_eq!(name(9, Some(10)).as_deref(), Some("/tmp/cap.pcap9"));
        assert_eq!(name(7, Some(11)).as_deref(), Some("/tmp/cap.pcap07"));
        assert_eq!(name(7, Some(101)).as_deref(), Some("/tmp/cap.pcap007"));
    }

    #[test]
    fn strftime_in_names() {
        // 2026-12-05 10:20:30 UTC, seen as UTC whatever the machine's zone is.
        let ns = 1_796_466_030_000_000_000u64;
        let when = jiff::Timestamp::from_nanosecond(i128::from(ns)).map(|t| t.as_second());
        assert_eq!(when.ok(), Some(1_796_466_030));
        let got = strftime(Path::new("cap-%s.pcap"), ns).ok();
        assert_eq!(got.as_deref(), Some("cap-1796466030.pcap"));
    }
}

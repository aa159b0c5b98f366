//! IPFIX destinations for flow records ([`FlowSink`]s of the exporter thread): a
//! collector over UDP or TCP (`--ipfix HOST:PORT`, `--ipfix-tcp`) and an RFC 5655
//! file (`--ipfix-file`). The messages come from [`crate::flow::ipfix::Encoder`]; this
//! file adds the sockets, the clock and what to do when the collector is not there.
//!
//! A collector that is down is not an error of the run: flows are what a capture
//! host has to give, and losing some while nfcapd restarts beats stopping the capture.
//! - UDP: a send that fails (ECONNREFUSED from the ICMP error of an earlier datagram,
//!   say) is counted; the first failure is reported on stderr, the count at the end.
//!   The next message carries the templates, for a collector that came back.
//! - TCP: records wait in a bounded backlog while the connection is down; the sink
//!   reconnects with exponential backoff ([`BACKOFF_MIN`] to [`BACKOFF_MAX`]) and
//!   starts each connection with the templates and sequence number 0 (a new
//!   transport session). A write that fails loses the records of that write (in
//!   flight); what did not fit in the backlog is counted and reported at the end.
//! - File: an error ends the sink (the exporter reports it, the run fails), as for
//!   `--flows-json`.
use std::collections::VecDeque;
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::capture::realtime_ns;
use crate::flow::ipfix::{Config, Encoder, Refresh};
use crate::flow::Flow;
use crate::pipeline::export::FlowSink;

/// Largest UDP message: one datagram within a 1500-byte MTU, IPv6 headers included
/// (1500 - 40 - 8 = 1452), with room to spare for tunnels.
pub const UDP_MESSAGE: usize = 1400;
/// Largest message on TCP and in files: the header's length field allows 65535.
pub const STREAM_MESSAGE: usize = 65535;
/// Templates again after this many UDP messages (softflowd's interval).
pub const REFRESH_MESSAGES: u32 = 16;
/// First and longest wait between TCP connection attempts.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Longest a TCP connect or write may block the exporter thread (and through its
/// queue, the decoders): a collector that stops reading is treated as gone.
const TCP_TIMEOUT: Duration = Duration::from_secs(5);
/// Records held while the TCP collector is away: about 20 MB of `Flow`s, minutes of
/// a busy link's flow endings.
pub const TCP_BACKLOG: usize = 100_000;
/// Records per TCP write: what a failed write can lose.
const TCP_CHUNK: usize = 256;

/// The encoder's settings for a destination.
pub fn encoder_config(domain: u32, biflow: bool, refresh: Option<Duration>) -> Config {
    Config {
        domain,
        biflow,
        max_message: if refresh.is_some() {
            UDP_MESSAGE
        } else {
            STREAM_MESSAGE
        },
        refresh: refresh.map(|every| Refresh {
            messages: REFRESH_MESSAGES,
            every_ns: u64::try_from(every.as_nanos()).unwrap_or(u64::MAX),
        }),
    }
}

/// `--ipfix HOST:PORT` over UDP.
pub struct UdpExporter {
    name: String,
    sock: UdpSocket,
    enc: Encoder,
    pending: Vec<Vec<u8>>,
    sent: u64,
    failed: u64,
}

impl UdpExporter {
    /// A socket connected to `addr` (so the kernel reports ICMP errors back), and the
    /// templates sent.
    pub fn new(name: String, addr: SocketAddr, cfg: Config) -> io::Result<Self> {
        let local: SocketAddr = if addr.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(local)?;
        sock.connect(addr)?;
        let mut enc = Encoder::new(cfg);
        let pending = vec![enc.templates(realtime_ns())];
        let mut sink = Self {
            name,
            sock,
            enc,
            pending,
            sent: 0,
            failed: 0,
        };
        sink.flush()?;
        Ok(sink)
    }
}

impl FlowSink for UdpExporter {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn write(&mut self, flows: &[Flow]) -> io::Result<()> {
        self.enc.encode(flows, realtime_ns(), &mut self.pending);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        for msg in self.pending.drain(..) {
            match self.sock.send(&msg) {
                Ok(_) => self.sent += 1,
                Err(e) => {
                    if self.failed == 0 {
                        eprintln!(
                            "netcap: {}: {e}; the export goes on, failed sends are counted",
                            self.name
                        );
                    }
                    self.failed += 1;
                    self.enc.resend_templates();
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.flush()?;
        if self.failed > 0 {
            eprintln!(
                "netcap: {}: {} of {} messages could not be sent",
                self.name,
                self.failed,
                self.failed + self.sent
            );
        }
        Ok(())
    }
}

/// `--ipfix HOST:PORT --ipfix-tcp`.
pub struct TcpExporter {
    name: String,
    addr: SocketAddr,
    conn: Option<TcpStream>,
    enc: Encoder,
    backlog: VecDeque<Flow>,
    next_try: Instant,
    backoff: Duration,
    /// Records lost: in a failed write, or pushed out of a full backlog.
    lost: u64,
}

impl TcpExporter {
    /// Connects once now; a collector that is not there yet is retried later.
    pub fn new(name: String, addr: SocketAddr, cfg: Config) -> Self {
        let mut sink = Self {
            name,
            addr,
            conn: None,
            enc: Encoder::new(cfg),
            backlog: VecDeque::new(),
            next_try: Instant::now(),
            backoff: BACKOFF_MIN,
            lost: 0,
        };
        sink.connect();
        sink
    }

    /// One connection attempt; on success the session starts with the templates.
    fn connect(&mut self) {
        let attempt = TcpStream::connect_timeout(&self.addr, TCP_TIMEOUT).and_then(|mut s| {
            s.set_write_timeout(Some(TCP_TIMEOUT))?;
            s.set_nodelay(true)?;
            self.enc.restart();
            s.write_all(&self.enc.templates(realtime_ns()))?;
            Ok(s)
        });
        match attempt {
            Ok(s) => {
                if self.backoff > BACKOFF_MIN {
                    eprintln!("netcap: {}: connected again", self.name);
                }
                self.conn = Some(s);
                self.backoff = BACKOFF_MIN;
            }
            Err(e) => self.down(&e),
        }
    }

    /// The connection failed: retry after the backoff, which doubles each time.
    fn down(&mut self, e: &io::Error) {
        if self.backoff == BACKOFF_MIN {
            eprintln!(
                "netcap: {}: {e}; records wait (at most {TCP_BACKLOG}) while netcap reconnects",
                self.name
            );
        }
        self.conn = None;
        self.next_try = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Sends the backlog in chunks; stops at the first failed write.
    fn send_backlog(&mut self) {
        let mut msgs = Vec::new();
        while !self.backlog.is_empty() {
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            let n = self.backlog.len().min(TCP_CHUNK);
            let chunk: Vec<Flow> = self.backlog.drain(..n).collect();
            msgs.clear();
            let records = self.enc.encode(&chunk, realtime_ns(), &mut msgs);
            if let Err(e) = msgs.iter().try_for_each(|m| conn.write_all(m)) {
                self.lost += records;
                self.down(&e);
            }
        }
    }
}

impl FlowSink for TcpExporter {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn write(&mut self, flows: &[Flow]) -> io::Result<()> {
        self.backlog.extend(flows.iter().copied());
        let over = self.backlog.len().saturating_sub(TCP_BACKLOG);
        if over > 0 {
            self.backlog.drain(..over);
            self.lost += over as u64;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.conn.is_none() && Instant::now() >= self.next_try {
            self.connect();
        }
        self.send_backlog();
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.conn.is_none() && !self.backlog.is_empty() {
            self.connect();
        }
        self.send_backlog();
        self.lost += self.backlog.len() as u64;
        if let Some(conn) = self.conn.take() {
            let _ = conn.shutdown(std::net::Shutdown::Write);
        }
        if self.lost > 0 {
            eprintln!(
                "netcap: {}: {} flow records could not be sent",
                self.name, self.lost
            );
        }
        Ok(())
    }
}

/// `--ipfix-file FILE`: an RFC 5655 file, the messages one after another, the
/// templates first.
pub struct IpfixFile {
    name: String,
    out: BufWriter<std::fs::File>,
    enc: Encoder,
    msgs: Vec<Vec<u8>>,
}

impl IpfixFile {
    pub fn create(path: &Path, cfg: Config) -> io::Result<Self> {
        let file = super::create_file(path)?;
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        let mut enc = Encoder::new(cfg);
        out.write_all(&enc.templates(realtime_ns()))?;
        Ok(Self {
            name: format!("--ipfix-file {}", path.display()),
            out,
            enc,
            msgs: Vec::new(),
        })
    }
}

impl FlowSink for IpfixFile {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn write(&mut self, flows: &[Flow]) -> io::Result<()> {
        self.msgs.clear();
        self.enc.encode(flows, realtime_ns(), &mut self.msgs);
        self.msgs.iter().try_for_each(|m| self.out.write_all(m))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{IpAddr, Ipv4Addr, TcpListener};

    fn flows(n: u16) -> Vec<Flow> {
        (0..n)
            .map(|i| Flow {
                proto: 17,
                a_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                a_port: 1000 + i,
                b_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                b_port: 53,
                packets_ab: 1,
                ip_bytes_ab: 60,
                ..Flow::default()
            })
            .collect()
    }

    /// The IPFIX messages in a byte stream: (has a template set, sequence number,
    /// data records of template 256, whose record length the stream's own template
    /// says).
    fn messages(mut bytes: &[u8]) -> Vec<(bool, u32, usize)> {
        let mut out = Vec::new();
        let mut rec_len = usize::MAX;
        while bytes.len() >= 16 {
            let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
            assert_eq!(bytes[..2], [0, 10]);
            let (msg, rest) = bytes.split_at(len);
            let seq = u32::from_be_bytes([msg[8], msg[9], msg[10], msg[11]]);
            let (mut at, mut templates, mut records) = (16, false, 0);
            while at + 4 <= msg.len() {
                let id = u16::from_be_bytes([msg[at], msg[at + 1]]);
                let slen = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
                templates |= id == 2;
                if id == 2 {
                    // Template records: id, field count, then (id, length[, PEN]).
                    let mut t = at + 4;
                    while t + 4 <= at + slen {
                        let tid = u16::from_be_bytes([msg[t], msg[t + 1]]);
                        let n = usize::from(u16::from_be_bytes([msg[t + 2], msg[t + 3]]));
                        let (mut f, mut len) = (t + 4, 0);
                        for _ in 0..n {
                            let fid = u16::from_be_bytes([msg[f], msg[f + 1]]);
                            len += usize::from(u16::from_be_bytes([msg[f + 2], msg[f + 3]]));
                            f += if fid & 0x8000 != 0 { 8 } else { 4 };
                        }
                        if tid == 256 {
                            rec_len = len;
                        }
                        t = f;
                    }
                }
                if id == 256 {
                    records += (slen - 4) / rec_len;
                }
                at += slen;
            }
            out.push((templates, seq, records));
            bytes = rest;
        }
        out
    }

    fn read_all(conn: &mut TcpStream) -> Vec<u8> {
        let mut buf = Vec::new();
        conn.read_to_end(&mut buf).expect("read");
        buf
    }

    #[test]
    fn tcp_reconnects_and_starts_each_session_with_the_templates() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut sink = TcpExporter::new("test".into(), addr, encoder_config(1, false, None));
        let (mut first, _) = listener.accept().expect("accept");
        sink.write(&flows(3)).expect("write");
        sink.flush().expect("flush");
        // The collector goes away: writes fail (at the latest the second, on the RST).
        drop(listener);
        first
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        // Two messages: the templates, then the 3 records; each says its length.
        let mut got = Vec::new();
        for _ in 0..2 {
            let mut head = [0u8; 16];
            first.read_exact(&mut head).expect("read");
            let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let mut body = vec![0u8; len.saturating_sub(16)];
            first.read_exact(&mut body).expect("read");
            got.extend_from_slice(&head);
            got.extend_from_slice(&body);
        }
        drop(first);
        assert_eq!(
            messages(&got),
            [(true, 0, 0), (false, 0, 3)],
            "templates, then the records"
        );
        for _ in 0..1000 {
            sink.write(&flows(1)).expect("write");
            sink.flush().expect("flush");
            if sink.conn.is_none() {
                break;
            }
        }
        assert!(
            sink.conn.is_none(),
            "writes to a closed peer kept succeeding"
        );
        // It comes back on the same port; the sink retries after its backoff.
        let listener = TcpListener::bind(addr).expect("bind again");
        sink.write(&flows(5)).expect("write");
        std::thread::sleep(BACKOFF_MIN);
        sink.flush().expect("flush");
        assert!(sink.conn.is_some(), "reconnected");
        sink.finish().expect("finish");
        let (mut second, _) = listener.accept().expect("accept");
        let msgs = messages(&read_all(&mut second));
        assert_eq!(
            msgs[0],
            (true, 0, 0),
            "a new session: templates, sequence 0"
        );
        assert_eq!(msgs[1..], [(false, 0, 5)]);
    }

    #[test]
    fn udp_send_errors_are_counted_and_the_templates_go_again() {
        // A port nothing listens on: the ICMP errors come back as ECONNREFUSED.
        let probe = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = probe.local_addr().expect("addr");
        drop(probe);
        let cfg = encoder_config(1, false, Some(Duration::from_secs(600)));
        let mut sink = UdpExporter::new("test".into(), addr, cfg).expect("sink");
        for _ in 0..100 {
            sink.write(&flows(1)).expect("not an error");
            sink.flush().expect("not an error");
            if sink.failed > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(sink.failed > 0, "no send failed");
        // The collector is back: its first message holds the templates.
        let collector = UdpSocket::bind(addr).expect("bind");
        sink.write(&flows(2)).expect("write");
        sink.flush().expect("flush");
        let mut buf = [0u8; 2048];
        let n = collector.recv(&mut buf).expect("recv");
        let msgs = messages(&buf[..n]);
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].0, "templates again");
        assert_eq!(msgs[0].2, 2);
        sink.finish().expect("finish");
    }
}

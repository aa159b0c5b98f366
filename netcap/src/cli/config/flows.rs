//! The flow outputs of a run ([`Flows`]): `--flows`, `--flows-json`, the flow table's
//! bound and timeouts, and IPFIX export ([`Ipfix`]), checked against each other; the
//! collector's host is resolved here, before anything is attached.
use std::{
    net::{SocketAddr, ToSocketAddrs},
    path::PathBuf,
    time::Duration,
};

use super::{CommonArgs, ConfigError};
use crate::Error;

/// The flow outputs: `--flows`, `--flows-json`, and the table's bound.
#[derive(Clone, Debug, Default)]
pub struct Flows {
    /// Print the top flows to stderr at exit.
    pub top: bool,
    /// Write every flow record as a JSON line to this file as it ends (`-`: stdout).
    pub json: Option<PathBuf>,
    pub max_flows: usize,
    /// The table's limits and timeouts (`--max-flows`, `--flow-idle`, `--flow-active`).
    pub table: crate::flow::FlowConfig,
    /// IPFIX export (`--ipfix`, `--ipfix-file`), when asked for.
    pub ipfix: Option<Ipfix>,
}

/// Where and how the flow records go as IPFIX.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipfix {
    /// `--ipfix HOST:PORT`, resolved: the address, and the text as given (for messages).
    pub collector: Option<(SocketAddr, String)>,
    /// `--ipfix-tcp`: the collector is reached over TCP, not UDP.
    pub tcp: bool,
    pub file: Option<PathBuf>,
    pub domain: u32,
    pub biflow: bool,
    /// Template refresh over UDP (`--ipfix-template-secs`).
    pub template_every: Duration,
}

/// `--ipfix-domain`'s default. Not 0: RFC 7012 gives observationDomainId 0 the meaning
/// "no specific domain", and a fleet's exporters each want their own anyway.
pub const IPFIX_DOMAIN: u32 = 1;
/// `--ipfix-template-secs`'s default, as softflowd and pmacct refresh (600 s).
pub const IPFIX_TEMPLATE_SECS: u64 = 600;

impl Flows {
    /// True when flows are counted at all.
    pub fn counted(&self) -> bool {
        self.top || self.json.is_some() || self.ipfix.is_some()
    }

    /// `--flows-json -`: the records go to stdout.
    pub fn json_to_stdout(&self) -> bool {
        self.json.as_ref().is_some_and(|p| p.as_os_str() == "-")
    }
}

/// `--flow-idle` and `--flow-active` count whole seconds.
const S: u64 = 1_000_000_000;

impl Flows {
    /// The flow options of `c`: the table's bound and timeouts, the reports and IPFIX.
    pub(super) fn from_args(c: &CommonArgs) -> Result<Self, Error> {
        let mut table = crate::flow::FlowConfig {
            max_flows: c.max_flows,
            ..crate::flow::FlowConfig::default()
        };
        if let Some(idle) = c.flow_idle {
            table = table.with_idle(idle * S);
        }
        if let Some(active) = c.flow_active {
            table.active_ns = active * S;
        }
        Ok(Self {
            top: c.flows,
            json: c.flows_json.clone(),
            max_flows: c.max_flows,
            table,
            ipfix: ipfix(c)?,
        })
    }
}

/// The IPFIX options, checked against each other; `--ipfix`'s host is resolved here,
/// before anything is attached.
fn ipfix(c: &CommonArgs) -> Result<Option<Ipfix>, Error> {
    let usage = |m: &str| Err(ConfigError::Usage(m.to_owned()).into());
    let modifiers = [
        (c.ipfix_tcp, "--ipfix-tcp"),
        (c.ipfix_domain.is_some(), "--ipfix-domain"),
        (c.ipfix_biflow, "--ipfix-biflow"),
        (c.ipfix_template_secs.is_some(), "--ipfix-template-secs"),
    ];
    if c.ipfix.is_none() && c.ipfix_file.is_none() {
        return match modifiers.iter().find(|(given, _)| *given) {
            Some((_, flag)) => usage(&format!(
                "{flag} needs an IPFIX destination: --ipfix HOST:PORT or --ipfix-file FILE"
            )),
            None => Ok(None),
        };
    }
    if c.ipfix_tcp && c.ipfix.is_none() {
        return usage("--ipfix-tcp needs --ipfix HOST:PORT");
    }
    if c.ipfix_template_secs.is_some() && (c.ipfix.is_none() || c.ipfix_tcp) {
        return usage(
            "--ipfix-template-secs refreshes templates over UDP (--ipfix without --ipfix-tcp); \
             TCP and --ipfix-file send them once, at the start",
        );
    }
    if c.ipfix_file.as_ref().is_some_and(|p| p.as_os_str() == "-") {
        return usage("--ipfix-file needs a file name (stdout is not supported)");
    }
    let collector = match &c.ipfix {
        None => None,
        Some(text) => {
            let (host, port) = split_host_port(text).map_err(|m| {
                ConfigError::Usage(format!("--ipfix {text}: {m}: expected HOST:PORT"))
            })?;
            let addr = (host, port)
                .to_socket_addrs()
                .and_then(|mut a| {
                    a.next()
                        .ok_or_else(|| std::io::Error::other("no address found"))
                })
                .map_err(|e| Error::io(format!("--ipfix {text}: resolving {host}"), e))?;
            Some((addr, text.clone()))
        }
    };
    Ok(Some(Ipfix {
        collector,
        tcp: c.ipfix_tcp,
        file: c.ipfix_file.clone(),
        domain: c.ipfix_domain.unwrap_or(IPFIX_DOMAIN),
        biflow: c.ipfix_biflow,
        template_every: Duration::from_secs(c.ipfix_template_secs.unwrap_or(IPFIX_TEMPLATE_SECS)),
    }))
}

/// `HOST:PORT`, `[V6]:PORT`: the host (brackets off) and a port from 1 to 65535.
fn split_host_port(s: &str) -> Result<(&str, u16), &'static str> {
    let (host, port) = s.rsplit_once(':').ok_or("no port")?;
    let host = match host.strip_prefix('[') {
        Some(h) => h.strip_suffix(']').ok_or("unclosed [")?,
        None if host.contains(':') => return Err("an IPv6 address goes in brackets"),
        None => host,
    };
    match port.parse::<u16>() {
        _ if host.is_empty() => Err("no host"),
        Ok(p) if p > 0 => Ok((host, p)),
        _ => Err("the port is not a number from 1 to 65535"),
    }
}

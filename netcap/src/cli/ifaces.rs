//! `-i` and `--netns` resolved into the interfaces a capture opens: names looked up in
//! the namespace they live in, `any` expanded, labels qualified by namespace when more
//! than one is captured.
use super::ConfigError;
use crate::{
    capture::{self, any, netns::Netns, open::Target},
    Error,
};

/// The interfaces of `-i` (`names`; none: the default route's) in the namespaces of
/// `--netns` (none: netcap's own). A name is looked up in every namespace given and
/// taken in each that has it; `NS/IFNAME` takes it in `NS` only.
pub fn targets(names: &[String], netns: &[Netns]) -> Result<Vec<Target>, Error> {
    let usage = |m: &str| -> Error { ConfigError::Usage(m.to_owned()).into() };
    let spaces: Vec<Option<&Netns>> = if netns.is_empty() {
        vec![None]
    } else {
        netns.iter().map(Some).collect()
    };
    let qualify = spaces.len() > 1;
    if names.iter().any(|n| n == "any") {
        if names.len() > 1 {
            return Err(usage("-i any takes every interface: give it alone"));
        }
        let mut all = Vec::new();
        for ns in &spaces {
            all.extend(any::targets(*ns, qualify)?);
        }
        return Ok(all);
    }
    let names = match names {
        [] if netns.is_empty() => {
            vec![default_route_interface().ok_or(ConfigError::NoDefaultRoute)?]
        }
        [] => return Err(usage("--netns needs -i IFACE (or -i any)")),
        n => n.to_vec(),
    };
    let mut out: Vec<Target> = Vec::new();
    for name in &names {
        let (only, ifname) = match name.split_once('/') {
            Some((ns, ifname)) if qualify => (Some(ns), ifname),
            _ => (None, name.as_str()),
        };
        let mut found = false;
        for ns in spaces
            .iter()
            .filter(|ns| only.is_none_or(|o| ns.is_some_and(|n| n.name == o)))
        {
            let index = match ns {
                Some(n) => n.enter(|| capture::ifindex_of(ifname))?,
                None => capture::ifindex_of(ifname),
            };
            let Some(ifindex) = index else { continue };
            let t = Target {
                label: any::label(ifname, *ns, qualify),
                ifname: ifname.to_owned(),
                ifindex,
                netns: ns.cloned(),
            };
            if out.contains(&t) {
                return Err(usage(&format!("-i {name} is given twice")));
            }
            out.push(t);
            found = true;
        }
        if !found {
            return Err(capture::Error::NoInterface(name.clone()).into());
        }
    }
    Ok(out)
}

/// The interface of the IPv4 (else IPv6) default route, from /proc/net/route.
pub fn default_route_interface() -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    table.lines().skip(1).find_map(|line| {
        let mut cols = line.split_whitespace();
        let iface = cols.next()?;
        let dest = cols.next()?;
        (dest == "00000000").then(|| iface.to_owned())
    })
}

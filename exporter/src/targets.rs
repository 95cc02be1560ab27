//! Which targets `/probe` may fetch, and how many probes of one target may run at once.
//!
//! `/probe?target=` makes the exporter fetch a URL for whoever can reach it: left open it is a
//! proxy into the network it runs in. By default only URLs shaped like the service's
//! (`http` or `https`, path `/stats`, no credentials or query) are fetched, and redirects are
//! never followed (any answer but 200 is a failed scrape). `--probe.allowed-targets` narrows
//! the hosts further to names and networks. The checks are pure functions of the request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use hyper::Uri;

/// One entry of `--probe.allowed-targets`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// `10.0.0.0/8`, `fd00::/8`, or a single address: matches targets written as addresses.
    Network { address: IpAddr, prefix: u8 },
    /// `stats.example.com` or `*.svc.cluster.local` (`*` is one or more whole labels).
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TargetPattern {
    host: HostPattern,
    /// `None` allows any port.
    port: Option<u16>,
}

/// The targets `/probe` accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Empty: any host (the URL's shape is still checked).
    patterns: Vec<TargetPattern>,
}

impl TargetPolicy {
    /// Parses comma-separated patterns: `HOST[:PORT]` where HOST is a name, a `*.`-prefixed
    /// name, an address or a CIDR network, and PORT a number or `*`. IPv6 goes in brackets
    /// when a port follows (`[fd00::]/8:8080`).
    pub fn parse(list: &[String]) -> Result<TargetPolicy, String> {
        let mut patterns = Vec::new();
        for entry in list.iter().flat_map(|item| item.split(',')) {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            patterns.push(parse_pattern(entry).map_err(|reason| format!("{entry:?}: {reason}"))?);
        }
        Ok(TargetPolicy { patterns })
    }

    /// Why `uri` may not be probed, or `Ok` if it may.
    pub fn check(&self, uri: &Uri) -> Result<(), String> {
        if uri.path() != "/stats" || uri.query().is_some() {
            return Err(format!(
                "only the service's /stats may be probed, not {:?}",
                uri.path_and_query().map(|p| p.as_str()).unwrap_or("")
            ));
        }
        if self.patterns.is_empty() {
            return Ok(());
        }
        let host = uri.host().unwrap_or("");
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let address: Option<IpAddr> = host.parse().ok();
        let allowed = self.patterns.iter().any(|pattern| {
            pattern.port.is_none_or(|allowed| allowed == port)
                && match (&pattern.host, address) {
                    (
                        HostPattern::Network {
                            address: network,
                            prefix,
                        },
                        Some(address),
                    ) => in_network(address, *network, *prefix),
                    (HostPattern::Name(name), None) => name_matches(name, host),
                    _ => false,
                }
        });
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "target {host}:{port} is not in --probe.allowed-targets"
            ))
        }
    }
}

fn parse_pattern(entry: &str) -> Result<TargetPattern, String> {
    // Split off a port: "[v6]/n:port", "host:port", or a bare IPv6 network with no port.
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed [")?;
        let (prefix, port) = match after.split_once(':') {
            Some((prefix, port)) => (prefix, Some(port)),
            None => (after, None),
        };
        (format!("{host}{prefix}"), port)
    } else if entry.matches(':').count() == 1 {
        let (host, port) = entry.split_once(':').ok_or("")?;
        (host.to_string(), Some(port))
    } else {
        (entry.to_string(), None)
    };
    let port = match port {
        None | Some("*") => None,
        Some(port) => Some(
            port.parse::<u16>()
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(|| format!("{port:?} is not a port"))?,
        ),
    };
    let host = if let Some((address, prefix)) = host.split_once('/') {
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("{address:?} is not an IP address"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|prefix| *prefix <= max)
            .ok_or_else(|| format!("/{prefix} is not a prefix length for {address}"))?;
        HostPattern::Network { address, prefix }
    } else if let Ok(address) = host.parse::<IpAddr>() {
        let prefix = if address.is_ipv4() { 32 } else { 128 };
        HostPattern::Network { address, prefix }
    } else {
        let name = host.to_ascii_lowercase();
        let labels = name.strip_prefix("*.").unwrap_or(&name);
        let valid = !labels.is_empty()
            && labels.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            return Err("expected a host name, *.domain, an IP address or a CIDR network".into());
        }
        HostPattern::Name(name)
    };
    Ok(TargetPattern { host, port })
}

fn in_network(address: IpAddr, network: IpAddr, prefix: u8) -> bool {
    let (address, network, width) = match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) as u128, u32::from(n) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let shift = width - u32::from(prefix);
    shift >= width || (address >> shift) == (network >> shift)
}

fn name_matches(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => host
            .strip_suffix(domain)
            .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
        None => host == pattern,
    }
}

/// Counts the probes running per target, refusing more than a limit. Entries disappear when
/// their count drops to zero, so the map never holds more than the probes running.
#[derive(Debug)]
pub struct ProbesPerTarget {
    limit: usize,
    running: Mutex<HashMap<String, usize>>,
}

impl ProbesPerTarget {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// A place for one probe of `target`, or `None` if `limit` are already running.
    pub fn try_start<'a>(&'a self, target: &'a str) -> Option<ProbeSlot<'a>> {
        let mut running = self.lock();
        match running.get_mut(target) {
            Some(count) if *count >= self.limit => return None,
            Some(count) => *count += 1,
            None if self.limit == 0 => return None,
            None => {
                running.insert(target.to_string(), 1);
            }
        }
        Some(ProbeSlot {
            owner: self,
            target,
        })
    }

    pub fn tracked_targets(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub struct ProbeSlot<'a> {
    owner: &'a ProbesPerTarget,
    target: &'a str,
}

impl Drop for ProbeSlot<'_> {
    fn drop(&mut self) {
        let mut running = self.owner.lock();
        if let Some(count) = running.get_mut(self.target) {
            *count -= 1;
            if *count == 0 {
                running.remove(self.target);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(patterns: &str) -> TargetPolicy {
        TargetPolicy::parse(&[patterns.to_string()]).unwrap()
    }

    fn allows(policy: &TargetPolicy, uri: &str) -> bool {
        policy.check(&uri.parse().unwrap()).is_ok()
    }

    #[test]
    fn by_default_any_host_but_only_the_stats_path() {
        let open = TargetPolicy::default();
        assert!(allows(&open, "http://10.1.2.3:8080/stats"));
        assert!(allows(&open, "https://svc.example:8443/stats"));
        for uri in [
            "http://h:8080/",
            "http://h:8080/admin",
            "http://h:8080/stats?x=1",
            "http://h:8080/stats/",
            "http://169.254.169.254/latest/meta-data",
        ] {
            let reason = open.check(&uri.parse().unwrap()).unwrap_err();
            assert!(
                reason.contains("only the service's /stats"),
                "{uri}: {reason}"
            );
        }
    }

    #[test]
    fn networks_match_addresses_and_names_match_names() {
        let policy = policy(
            "10.0.0.0/8, 192.168.1.7:8080, *.svc.cluster.local:*, stats.example.com:8080, [fd00::]/8",
        );
        for uri in [
            "http://10.200.0.1:8080/stats",
            "http://192.168.1.7:8080/stats",
            "http://a.b.svc.cluster.local:9999/stats",
            "http://STATS.example.com:8080/stats",
            "http://[fd12::1]:8080/stats",
        ] {
            assert!(allows(&policy, uri), "{uri}");
        }
        for uri in [
            "http://11.0.0.1:8080/stats",
            "http://192.168.1.7:8081/stats",
            "http://192.168.1.8:8080/stats",
            "http://svc.cluster.local:8080/stats",
            "http://evilsvc.cluster.local:8080/stats",
            "http://stats.example.com:9090/stats",
            "http://127.0.0.1:8080/stats",
            "http://[fe80::1]:8080/stats",
            // A name is never matched by a network: no DNS answer decides.
            "http://localhost:8080/stats",
        ] {
            let reason = policy.check(&uri.parse().unwrap()).unwrap_err();
            assert!(
                reason.contains("not in --probe.allowed-targets"),
                "{uri}: {reason}"
            );
        }
    }

    #[test]
    fn malformed_patterns_are_refused_with_a_reason() {
        for bad in [
            "10.0.0.0/33",
            "host:0",
            "host:http",
            "[fd00::/8",
            "a..b",
            "*.",
            "ex ample",
            "1.2.3.4/x",
        ] {
            assert!(TargetPolicy::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn probes_per_target_are_limited_and_forgotten_when_done() {
        let probes = ProbesPerTarget::new(2);
        let first = probes.try_start("a:1").unwrap();
        let second = probes.try_start("a:1").unwrap();
        assert!(probes.try_start("a:1").is_none());
        let other = probes.try_start("b:1").unwrap();
        drop(first);
        let third = probes.try_start("a:1").unwrap();
        drop((second, third, other));
        assert_eq!(probes.tracked_targets(), 0);
    }
}

//! Forward proxies: `proxy_url` (or `HTTP_PROXY` / `HTTPS_PROXY` with
//! `proxy_from_environment`), `no_proxy`, and the `CONNECT` tunnel for https targets.
//!
//! An http target goes to the proxy as an absolute-form request on a connection to the
//! proxy; an https target gets a `CONNECT host:port` tunnel through which TLS runs end to end,
//! as Go's `http.Transport` (and so Prometheus) does it. Credentials in the proxy URL become
//! `Proxy-Authorization` and are never written anywhere else.

use std::net::IpAddr;

use base64::Engine as _;

/// A parsed `http://[user:password@]host[:port]` proxy URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// `host:port`, to connect to.
    pub host: String,
    pub port: u16,
    /// `Basic ...`, from the URL's user information.
    pub authorization: Option<String>,
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<secret>"),
            )
            .finish()
    }
}

impl ProxyUrl {
    /// Messages never repeat the URL: it may hold a password.
    pub fn parse(text: &str) -> Result<ProxyUrl, String> {
        let rest = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "the proxy scheme must be http, not {:?}",
                    scheme.chars().take(16).collect::<String>()
                ));
            }
            None => return Err("expected http://host:port".into()),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (host, port) = match host_port.strip_prefix('[') {
            Some(bracketed) => {
                let (address, after) = bracketed.split_once(']').ok_or("unclosed [ in the host")?;
                (format!("[{address}]"), after.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (host_port.to_string(), None),
            },
        };
        if host.is_empty() || host == "[]" {
            return Err("the proxy URL has no host".into());
        }
        let port = match port {
            None => 80,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|port| *port > 0)
                .ok_or("the proxy port is not a number from 1 to 65535")?,
        };
        let authorization = userinfo.map(|userinfo| {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let credentials = format!("{}:{}", percent_decode(user), percent_decode(password));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            )
        });
        Ok(ProxyUrl {
            host,
            port,
            authorization,
        })
    }

    /// `host:port` as written in a request line or a log.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |at: usize| (bytes.get(at).copied()).and_then(|b| (b as char).to_digit(16));
        match (bytes[index], hex(index + 1), hex(index + 2)) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                index += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// One `no_proxy` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exception {
    /// `*`: no target goes through the proxy.
    All,
    Network {
        address: IpAddr,
        prefix: u8,
    },
    /// `example.com` matches it and its subdomains; `.example.com` (or `*.example.com`)
    /// only the subdomains, as Go's `httpproxy` reads them.
    Domain {
        name: String,
        subdomains_only: bool,
        port: Option<u16>,
    },
}

/// `no_proxy` / `NO_PROXY`: comma-separated hosts, domains and networks reached directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    exceptions: Vec<Exception>,
}

impl NoProxy {
    pub fn parse(text: &str) -> Result<NoProxy, String> {
        let mut exceptions = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            exceptions
                .push(parse_exception(entry).map_err(|reason| format!("{entry:?}: {reason}"))?);
        }
        Ok(NoProxy { exceptions })
    }

    /// Whether a target at `host` (as in a URI: IPv6 in brackets) and `port` is reached
    /// without the proxy.
    pub fn bypasses(&self, host: &str, port: u16) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let address = bare.parse::<IpAddr>().ok();
        let name = bare.trim_end_matches('.').to_ascii_lowercase();
        self.exceptions.iter().any(|exception| match exception {
            Exception::All => true,
            Exception::Network {
                address: network,
                prefix,
            } => address.is_some_and(|address| in_network(address, *network, *prefix)),
            Exception::Domain {
                name: domain,
                subdomains_only,
                port: wanted,
            } => {
                wanted.is_none_or(|wanted| wanted == port)
                    && ((!subdomains_only && name == *domain)
                        || name
                            .strip_suffix(domain.as_str())
                            .is_some_and(|head| head.ends_with('.')))
            }
        })
    }
}

fn parse_exception(entry: &str) -> Result<Exception, String> {
    if entry == "*" {
        return Ok(Exception::All);
    }
    if let Some((address, prefix)) = entry.split_once('/') {
        let address: IpAddr = address.parse().map_err(|_| "not a CIDR network")?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|prefix| *prefix <= bits)
            .ok_or("the prefix length is out of range")?;
        return Ok(Exception::Network { address, prefix });
    }
    let bare = entry.trim_start_matches('[').trim_end_matches(']');
    if let Ok(address) = bare.parse::<IpAddr>() {
        let prefix = if address.is_ipv4() { 32 } else { 128 };
        return Ok(Exception::Network { address, prefix });
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) => (
            host,
            Some(port.parse::<u16>().map_err(|_| "not a port number")?),
        ),
        None => (entry, None),
    };
    let (name, subdomains_only) = match host.strip_prefix("*.").or_else(|| host.strip_prefix('.')) {
        Some(name) => (name, true),
        None => (host, false),
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("not a host name, domain, address or network".into());
    }
    Ok(Exception::Domain {
        name: name.trim_end_matches('.').to_ascii_lowercase(),
        subdomains_only,
        port,
    })
}

fn in_network(address: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(address), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(address) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(address), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(address) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

/// A module's proxy settings, resolved: the proxy per scheme and the exceptions.
#[derive(Clone, Default)]
pub struct ProxySettings {
    pub http: Option<ProxyUrl>,
    pub https: Option<ProxyUrl>,
    pub no_proxy: NoProxy,
    /// `proxy_connect_header` lines, each ending in CRLF (secret values).
    pub connect_headers: String,
}

impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySettings")
            .field("http", &self.http)
            .field("https", &self.https)
            .field("no_proxy", &self.no_proxy)
            .field("connect_headers", &super::REDACTED)
            .finish()
    }
}

impl ProxySettings {
    /// From `proxy_url` and `no_proxy`, or, with `from_environment`, from `HTTP_PROXY`,
    /// `HTTPS_PROXY` and `NO_PROXY` (or their lower-case spellings) as the process has them.
    pub fn resolve(
        proxy_url: Option<&str>,
        no_proxy: Option<&str>,
        from_environment: bool,
        connect_headers: &std::collections::BTreeMap<String, Vec<super::config::SecretText>>,
    ) -> Result<ProxySettings, (&'static str, String)> {
        let mut headers = String::new();
        for (name, values) in connect_headers {
            for value in values {
                headers.push_str(&format!("{name}: {}\r\n", value.expose()));
            }
        }
        if from_environment {
            let variable = |names: [&str; 2]| {
                names
                    .iter()
                    .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
            };
            let proxy =
                |names: [&'static str; 2]| -> Result<Option<ProxyUrl>, (&'static str, String)> {
                    match variable(names) {
                        None => Ok(None),
                        Some(value) => {
                            let value = if value.contains("://") {
                                value
                            } else {
                                format!("http://{value}")
                            };
                            ProxyUrl::parse(&value).map(Some).map_err(|message| {
                                ("proxy_from_environment", format!("{}: {message}", names[0]))
                            })
                        }
                    }
                };
            let exceptions = variable(["NO_PROXY", "no_proxy"]).unwrap_or_default();
            return Ok(ProxySettings {
                http: proxy(["HTTP_PROXY", "http_proxy"])?,
                https: proxy(["HTTPS_PROXY", "https_proxy"])?,
                no_proxy: NoProxy::parse(&exceptions).map_err(|message| {
                    ("proxy_from_environment", format!("NO_PROXY: {message}"))
                })?,
                connect_headers: headers,
            });
        }
        let proxy = match proxy_url {
            Some(url) => Some(ProxyUrl::parse(url).map_err(|message| ("proxy_url", message))?),
            None => None,
        };
        Ok(ProxySettings {
            http: proxy.clone(),
            https: proxy,
            no_proxy: NoProxy::parse(no_proxy.unwrap_or(""))
                .map_err(|message| ("no_proxy", message))?,
            connect_headers: headers,
        })
    }

    /// The proxy a target is fetched through, if any.
    pub fn for_target(&self, https: bool, host: &str, port: u16) -> Option<&ProxyUrl> {
        let proxy = if https { &self.https } else { &self.http };
        proxy
            .as_ref()
            .filter(|_| !self.no_proxy.bypasses(host, port))
    }

    /// The `CONNECT` request for a tunnel to `authority` through `proxy`.
    pub fn connect_request(&self, proxy: &ProxyUrl, authority: &str) -> Vec<u8> {
        let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(authorization) = &proxy.authorization {
            request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
        }
        request.push_str(&self.connect_headers);
        request.push_str("\r\n");
        request.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_give_an_address_and_credentials() {
        let proxy = ProxyUrl::parse("http://user:p%40ss@proxy.internal:3128/").unwrap();
        assert_eq!(proxy.address(), "proxy.internal:3128");
        assert_eq!(
            proxy.authorization.as_deref(),
            Some(
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("user:p@ss")
                )
                .as_str()
            )
        );
        assert_eq!(
            ProxyUrl::parse("http://[::1]:8888").unwrap().address(),
            "[::1]:8888"
        );
        assert_eq!(ProxyUrl::parse("http://proxy").unwrap().port, 80);
        for bad in [
            "socks5://h:1",
            "proxy:3128",
            "http://:1",
            "http://h:0",
            "http://h:x",
        ] {
            assert!(ProxyUrl::parse(bad).is_err(), "{bad}");
        }
        let error = ProxyUrl::parse("https://user:hunter2@h:1").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(!format!("{proxy:?}").contains("user:p"));
    }

    #[test]
    fn the_connect_request_carries_the_proxy_credentials_and_connect_headers() {
        use crate::modules::config::SecretText;
        let headers = [(
            "X-Proxy-Token".to_string(),
            vec![SecretText("a".into()), SecretText("b".into())],
        )]
        .into_iter()
        .collect();
        let settings =
            ProxySettings::resolve(Some("http://u:p@proxy:3128"), None, false, &headers).unwrap();
        let proxy = settings.for_target(true, "10.0.0.1", 8443).unwrap();
        let request = String::from_utf8(settings.connect_request(proxy, "10.0.0.1:8443")).unwrap();
        assert_eq!(
            request,
            format!(
                "CONNECT 10.0.0.1:8443 HTTP/1.1\r\nHost: 10.0.0.1:8443\r\n\
                 Proxy-Authorization: Basic {}\r\nX-Proxy-Token: a\r\nX-Proxy-Token: b\r\n\r\n",
                base64::engine::general_purpose::STANDARD.encode("u:p")
            )
        );
        assert!(!format!("{settings:?}").contains("X-Proxy-Token: a"));
    }

    #[test]
    fn no_proxy_matches_hosts_domains_and_networks_as_go_does() {
        let no_proxy =
            NoProxy::parse("10.0.0.0/8, .cluster.local, example.com, only.port:8080, ::1").unwrap();
        assert!(no_proxy.bypasses("10.1.2.3", 80));
        assert!(!no_proxy.bypasses("11.1.2.3", 80));
        assert!(no_proxy.bypasses("svc.ns.cluster.local", 80));
        assert!(!no_proxy.bypasses("cluster.local", 80));
        assert!(no_proxy.bypasses("example.com", 80));
        assert!(no_proxy.bypasses("a.example.com", 80));
        assert!(!no_proxy.bypasses("badexample.com", 80));
        assert!(no_proxy.bypasses("only.port", 8080));
        assert!(!no_proxy.bypasses("only.port", 8081));
        assert!(no_proxy.bypasses("[::1]", 80));
        assert!(NoProxy::parse("*").unwrap().bypasses("anything", 1));
        assert!(NoProxy::parse("10.0.0.0/33").is_err());
        assert!(NoProxy::parse("a b").is_err());
    }
}

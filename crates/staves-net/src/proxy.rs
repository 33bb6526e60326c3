//! Proxies as curl reads them from the environment: `http_proxy` for `http:` addresses
//! (lower-case only: a CGI-style `HTTP_PROXY` may come from a request header),
//! `https_proxy`/`HTTPS_PROXY` for `https:`, `all_proxy`/`ALL_PROXY` for either when the
//! scheme's own is unset, and `no_proxy`/`NO_PROXY` naming hosts reached directly. HTTPS
//! goes through a proxy with `CONNECT`, so the proxy never sees the request itself.

use crate::NetError;

/// Which proxy, if any, each address goes through.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    http: Option<ureq::Proxy>,
    https: Option<ureq::Proxy>,
    no_proxy: Vec<String>,
}

impl Proxies {
    /// The proxies the environment names.
    pub fn from_env() -> Result<Proxies, NetError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// The proxies `lookup` names (an environment, for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Proxies, NetError> {
        let first = |names: &[&str]| names.iter().find_map(|n| lookup(n));
        let all = first(&["all_proxy", "ALL_PROXY"]);
        let http = first(&["http_proxy"]).or_else(|| all.clone());
        let https = first(&["https_proxy", "HTTPS_PROXY"]).or(all);
        let parse = |value: Option<String>| -> Result<Option<ureq::Proxy>, NetError> {
            value
                .map(|v| {
                    // curl takes a bare `host:port` as an HTTP proxy.
                    let uri = if v.contains("://") {
                        v.clone()
                    } else {
                        format!("http://{v}")
                    };
                    ureq::Proxy::new(&uri).map_err(|e| NetError::Refused {
                        url: v,
                        message: format!("not a proxy address: {e}"),
                    })
                })
                .transpose()
        };
        let no_proxy = first(&["no_proxy", "NO_PROXY"])
            .unwrap_or_default()
            .split(',')
            .map(|entry| entry.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|entry| !entry.is_empty())
            .collect();
        Ok(Proxies {
            http: parse(http)?,
            https: parse(https)?,
            no_proxy,
        })
    }

    /// The proxy for a request to `scheme://host…`, or `None` to connect directly.
    pub fn for_address(&self, scheme: &str, host: &str) -> Option<&ureq::Proxy> {
        let proxy = match scheme {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            _ => None,
        }?;
        (!self.bypassed(host)).then_some(proxy)
    }

    /// `no_proxy` as curl matches it: `*` is every host; an entry is that host and every
    /// name under it (`example.com` covers `www.example.com`); addresses match exactly.
    fn bypassed(&self, host: &str) -> bool {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        self.no_proxy.iter().any(|entry| {
            entry == "*"
                || host == *entry
                || (host.len() > entry.len()
                    && host.ends_with(entry.as_str())
                    && host.as_bytes()[host.len() - entry.len() - 1] == b'.')
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(vars: &[(&str, &str)]) -> Proxies {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxies::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap()
    }

    #[test]
    fn scheme_picks_its_proxy_as_curl_does() {
        let p = proxies(&[
            ("https_proxy", "http://127.0.0.1:3128"),
            ("HTTP_PROXY", "http://127.0.0.1:9"),
        ]);
        assert_eq!(p.for_address("https", "deb.example").unwrap().port(), 3128);
        // Upper-case HTTP_PROXY is ignored, as curl ignores it.
        assert!(p.for_address("http", "deb.example").is_none());
        let all = proxies(&[("ALL_PROXY", "127.0.0.1:8080")]);
        assert_eq!(all.for_address("http", "a").unwrap().port(), 8080);
        assert_eq!(all.for_address("https", "a").unwrap().port(), 8080);
    }

    #[test]
    fn no_proxy_covers_hosts_and_their_subdomains() {
        let p = proxies(&[
            ("https_proxy", "http://127.0.0.1:3128"),
            ("no_proxy", "localhost, .internal.example,10.0.0.1"),
        ]);
        assert!(p.for_address("https", "localhost").is_none());
        assert!(p.for_address("https", "internal.example").is_none());
        assert!(p.for_address("https", "apt.internal.example").is_none());
        assert!(p.for_address("https", "notinternal.example").is_some());
        assert!(p.for_address("https", "10.0.0.1").is_none());
        assert!(p.for_address("https", "10.0.0.10").is_some());
        let everything = proxies(&[("https_proxy", "http://p:1"), ("NO_PROXY", "*")]);
        assert!(everything.for_address("https", "anything").is_none());
    }
}

//! Credentials for private repositories in apt's own format (apt_auth.conf(5)):
//! netrc-like `machine [scheme://]host[:port][/path] login USER password PASS` entries, read
//! from the files named explicitly, then `/etc/apt/auth.conf.d/*.conf` in name order, then
//! `/etc/apt/auth.conf`; the first entry matching an address wins.
//!
//! As apt does, an entry without a scheme is sent only over HTTPS (an `http://` entry allows
//! plain HTTP), to the entry's host (and port, when it names one), for paths under its
//! path. Passwords never appear in `Debug` output or messages.

use std::path::{Path, PathBuf};

use crate::NetError;

/// apt's own credential files, in the order apt reads them.
pub const SYSTEM_AUTH_FILES: (&str, &str) = ("/etc/apt/auth.conf.d", "/etc/apt/auth.conf");

/// One `machine` entry.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthEntry {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
    path: String,
    login: String,
    password: String,
    /// `file:line` of the entry, for messages.
    pub source: String,
}

impl std::fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthEntry")
            .field("host", &self.host)
            .field("path", &self.path)
            .field("login", &self.login)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl AuthEntry {
    /// The `Authorization` header value (HTTP basic).
    pub fn authorization(&self) -> String {
        use base64::Engine as _;
        let pair = format!("{}:{}", self.login, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// Whether this entry applies to `scheme://host:port/path`.
    fn matches(&self, scheme: &str, host: &str, port: Option<u16>, path: &str) -> bool {
        let scheme_ok = match &self.scheme {
            Some(s) => s == scheme,
            None => scheme == "https",
        };
        let default_port = match scheme {
            "https" => 443,
            _ => 80,
        };
        scheme_ok
            && self.host.eq_ignore_ascii_case(host)
            && self.port.is_none_or(|p| p == port.unwrap_or(default_port))
            && path_under(path, &self.path)
    }
}

/// `path` is `prefix` or below it (`/debian` covers `/debian/dists`, not `/debian2`).
fn path_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Every credential entry this run may send, in the order they are tried.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    entries: Vec<AuthEntry>,
    /// The files read, for messages ("credentials are read from …").
    files: Vec<PathBuf>,
}

impl Credentials {
    /// Reads `explicit` files (each must exist), then apt's own files when `system`.
    pub fn load(explicit: &[PathBuf], system: bool) -> Result<Credentials, NetError> {
        let mut credentials = Credentials::default();
        for path in explicit {
            credentials.read_file(path)?;
        }
        if system {
            let (dir, file) = SYSTEM_AUTH_FILES;
            let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            parts.sort();
            parts.push(PathBuf::from(file));
            for path in parts {
                // apt's files are optional, and readable by root alone.
                match credentials.read_file(&path) {
                    Err(NetError::Io { source, .. })
                        if matches!(
                            source.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                        ) => {}
                    other => other?,
                }
            }
        }
        Ok(credentials)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), NetError> {
        let bytes = staves_fs::read_regular(path, 1 << 20).map_err(|source| NetError::Io {
            path: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| NetError::Config {
            path: path.to_owned(),
            message: "is not UTF-8 text".into(),
        })?;
        let entries = parse(&text, path)?;
        self.entries.extend(entries);
        self.files.push(path.to_owned());
        Ok(())
    }

    /// The entry for `url`, if one applies.
    pub fn for_url(&self, url: &str) -> Option<&AuthEntry> {
        let uri: ureq::http::Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?;
        let host = uri.host()?;
        self.entries
            .iter()
            .find(|e| e.matches(scheme, host, uri.port_u16(), uri.path()))
    }

    /// Where credentials were looked for, for a message about a 401.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

/// Reads netrc-style entries; `path` names the file in errors.
fn parse(text: &str, path: &Path) -> Result<Vec<AuthEntry>, NetError> {
    let error = |line: usize, message: String| NetError::Config {
        path: path.to_owned(),
        message: format!("line {line}: {message}"),
    };
    // Tokens with their line numbers; `#` starts a comment to the end of its line.
    let tokens: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .flat_map(|(i, line)| {
            let line = line.split('#').next().unwrap_or_default();
            line.split_whitespace().map(move |t| (i + 1, t))
        })
        .collect();
    let mut entries = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (line, word) = tokens[i];
        if word != "machine" {
            return Err(error(line, format!("expected `machine`, found `{word}`")));
        }
        let machine = tokens
            .get(i + 1)
            .ok_or_else(|| error(line, "`machine` without a host".into()))?
            .1;
        i += 2;
        let (mut login, mut password) = (None, None);
        while let Some(&(l, key)) = tokens.get(i) {
            let slot = match key {
                "login" => &mut login,
                "password" => &mut password,
                "machine" => break,
                other => return Err(error(l, format!("unknown keyword `{other}`"))),
            };
            let value = tokens
                .get(i + 1)
                .ok_or_else(|| error(l, format!("`{key}` without a value")))?
                .1;
            *slot = Some(value.to_owned());
            i += 2;
        }
        let (Some(login), Some(password)) = (login, password) else {
            return Err(error(
                line,
                format!("`machine {machine}` needs both `login` and `password`"),
            ));
        };
        let (scheme, rest) = match machine.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, machine),
        };
        let (authority, prefix) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| error(line, format!("`{machine}`: `{port}` is not a port")))?;
                (host, Some(port))
            }
            _ => (authority, None),
        };
        entries.push(AuthEntry {
            scheme,
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
            path: prefix.to_owned(),
            login,
            password,
            source: format!("{}:{line}", path.display()),
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(text: &str) -> Credentials {
        Credentials {
            entries: parse(text, Path::new("auth.conf")).unwrap(),
            files: Vec::new(),
        }
    }

    #[test]
    fn matches_as_apt_does() {
        let c = credentials(
            "# company mirror\n\
             machine apt.example/debian login alice password s3cret\n\
             machine http://plain.example login bob password p2\n\
             machine ports.example:8443 login carol\n password p3\n",
        );
        let user = |url: &str| c.for_url(url).map(|e| e.login.clone());
        assert_eq!(
            user("https://apt.example/debian/dists/x"),
            Some("alice".into())
        );
        // No scheme in the entry: HTTPS only.
        assert_eq!(user("http://apt.example/debian/dists/x"), None);
        // Path prefixes are whole components.
        assert_eq!(user("https://apt.example/debian2/x"), None);
        assert_eq!(user("https://other.example/debian/x"), None);
        assert_eq!(user("http://plain.example/x"), Some("bob".into()));
        assert_eq!(user("https://ports.example:8443/x"), Some("carol".into()));
        assert_eq!(user("https://ports.example/x"), None);
        assert_eq!(
            c.for_url("https://apt.example/debian/x").unwrap().source,
            "auth.conf:2"
        );
    }

    #[test]
    fn passwords_stay_out_of_debug_and_errors() {
        let c = credentials("machine h login u password hunter2\n");
        assert!(!format!("{c:?}").contains("hunter2"));
        let bad = parse("machine h login u\n", Path::new("a.conf")).unwrap_err();
        assert!(bad.to_string().contains("a.conf: line 1"), "{bad}");
        let unknown = parse("machine h login u password p port 1\n", Path::new("a"));
        assert!(unknown.is_err());
    }
}

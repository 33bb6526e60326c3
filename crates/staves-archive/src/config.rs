//! The server's configuration file: the archive (directory, suites with their components,
//! architectures, retention and required claims), where it listens, TLS, and who may change
//! it (static tokens, JWTs checked against a JWKS). Paths are relative to the file's
//! directory; every error names the file, line and column.
//!
//! ```toml
//! dir = "/srv/archive"
//! listen = "0.0.0.0:8443"
//! token-file = "tokens"
//! max-connections = 512        # more wait to be accepted
//! idle-timeout-seconds = 30    # for a request head, or between parts of a body
//!
//! [tls]
//! certificate = "cert.pem"
//! key = "key.pem"
//!
//! [jwt]
//! jwks = "https://gitlab.example/oauth/discovery/keys"
//! issuer = "https://gitlab.example"
//! audience = "https://archive.example"
//! claims = { namespace_path = ["team", "team/tools"] }
//!
//! [[suites]]
//! name = "stable"
//! architectures = ["amd64", "arm64"]
//! keep = 3
//! claims = { ref_protected = "true" }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use staves_types::Diagnostic;
use toml::Spanned;

use crate::archive::{ArchiveConfig, Suite};
use crate::error::ArchiveError;

/// Everything `staves serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The archive.
    pub archive: ArchiveConfig,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The signing key's file; `DIR/.staves/signing-key.asc`, made on first start, if unset.
    pub signing_key: Option<PathBuf>,
    /// Certificate chain and key for HTTPS.
    pub tls: Option<TlsFiles>,
    /// Who may upload and remove.
    pub auth: AuthConfig,
    /// The largest upload, in bytes.
    pub max_upload: u64,
    /// Connections at once, and how long a quiet one is kept.
    pub limits: crate::connections::Limits,
}

/// PEM files for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub certificate: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// The credentials an upload or removal may carry.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// A file of static tokens, one per line.
    pub token_file: Option<PathBuf>,
    /// JWTs signed by a key of a JWKS.
    pub jwt: Option<JwtConfig>,
}

/// Where a JWKS is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// Fetched over HTTP(S).
    Url(String),
    /// Read from a file (re-read when a token names a key it lacks).
    File(PathBuf),
}

/// How JWTs are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The keys.
    pub jwks: JwksSource,
    /// The `iss` a token must carry, if any.
    pub issuer: Option<String>,
    /// The `aud` a token must carry: a token made for another service is refused.
    pub audience: String,
    /// Claims every token must carry, each with the values it may have.
    pub claims: Claims,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway: u64,
}

pub use crate::archive::Claims;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawConfig {
    dir: Spanned<PathBuf>,
    listen: Option<Spanned<String>>,
    origin: Option<String>,
    signing_key: Option<PathBuf>,
    token_file: Option<PathBuf>,
    max_upload_mib: Option<u64>,
    max_connections: Option<Spanned<usize>>,
    idle_timeout_seconds: Option<Spanned<u64>>,
    tls: Option<RawTls>,
    jwt: Option<Spanned<RawJwt>>,
    #[serde(default)]
    suites: Vec<Spanned<RawSuite>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawTls {
    certificate: PathBuf,
    key: PathBuf,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawJwt {
    jwks: Option<String>,
    jwks_file: Option<PathBuf>,
    issuer: Option<String>,
    audience: Option<String>,
    #[serde(default)]
    claims: BTreeMap<String, OneOrMany>,
    leeway_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawSuite {
    name: Spanned<String>,
    components: Option<Vec<String>>,
    architectures: Option<Vec<String>>,
    keep: Option<Spanned<usize>>,
    #[serde(default)]
    claims: BTreeMap<String, OneOrMany>,
}

/// A claim's accepted value, or several.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn claims(raw: BTreeMap<String, OneOrMany>) -> Claims {
    raw.into_iter()
        .map(|(k, v)| {
            let values = match v {
                OneOrMany::One(one) => vec![one],
                OneOrMany::Many(many) => many,
            };
            (k, values)
        })
        .collect()
}

impl ServerConfig {
    /// Reads and checks the configuration file at `path`.
    pub fn load(path: &Path) -> Result<ServerConfig, ArchiveError> {
        let bytes = staves_fs::read_regular(path, 1 << 20)
            .map_err(ArchiveError::io("reading the configuration", path))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ArchiveError::Config(format!("{} is not UTF-8 text", path.display())))?;
        ServerConfig::parse(&text, path)
    }

    /// Parses configuration `text`; `path` names it in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<ServerConfig, ArchiveError> {
        let diag = |span: Range<usize>, message: String, help: &str| {
            ArchiveError::ConfigFile(Box::new(Diagnostic::new(
                path,
                text,
                span,
                message,
                Some(help.to_owned()).filter(|h| !h.is_empty()),
            )))
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            diag(
                e.span().unwrap_or(0..0),
                e.message().to_owned(),
                "see `staves serve --help` and the GUIDE's \"A package repository\"",
            )
        })?;
        let base = staves_fs::parent_of(path);
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let listen = match raw.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(listen) => listen.get_ref().parse().map_err(|_| {
                diag(
                    listen.span(),
                    format!("`{}` is not an address and port", listen.get_ref()),
                    "write it as `127.0.0.1:8080` or `[::]:8443`",
                )
            })?,
        };
        let mut limits = crate::connections::Limits::default();
        if let Some(max) = raw.max_connections {
            if !(1..=65_536).contains(max.get_ref()) {
                return Err(diag(
                    max.span(),
                    format!("{} connections cannot be served", max.get_ref()),
                    "give a number from 1 to 65536 (each connection holds a file descriptor)",
                ));
            }
            limits.max_connections = *max.get_ref();
        }
        if let Some(seconds) = raw.idle_timeout_seconds {
            if !(1..=3600).contains(seconds.get_ref()) {
                return Err(diag(
                    seconds.span(),
                    format!("an idle timeout of {} s", seconds.get_ref()),
                    "give a number of seconds from 1 to 3600",
                ));
            }
            limits.idle_timeout = std::time::Duration::from_secs(*seconds.get_ref());
        }
        let host_arch = staves_deb::arch::host().to_owned();
        let mut suites = Vec::new();
        for suite in raw.suites {
            let span = suite.span();
            let suite = suite.into_inner();
            if suites
                .iter()
                .any(|s: &Suite| s.name == *suite.name.get_ref())
            {
                return Err(diag(
                    suite.name.span(),
                    format!("suite `{}` is named twice", suite.name.get_ref()),
                    "",
                ));
            }
            if let Some(keep) = &suite.keep
                && *keep.get_ref() == 0
            {
                return Err(diag(
                    keep.span(),
                    "`keep = 0` would remove every package".into(),
                    "keep at least 1 version, or leave `keep` out to keep them all",
                ));
            }
            let components = suite.components.unwrap_or_else(|| vec!["main".into()]);
            let architectures = suite
                .architectures
                .unwrap_or_else(|| vec![host_arch.clone()]);
            if components.is_empty() || architectures.is_empty() {
                return Err(diag(
                    span,
                    "a suite needs at least one component and one architecture".into(),
                    "",
                ));
            }
            suites.push(Suite {
                name: suite.name.into_inner(),
                components,
                architectures,
                keep: suite.keep.map(Spanned::into_inner),
                claims: claims(suite.claims),
            });
        }
        if suites.is_empty() {
            suites.push(Suite::new("stable", &["main"], &[host_arch.as_str()]));
        }
        let jwt = match raw.jwt {
            None => None,
            Some(jwt) => {
                let span = jwt.span();
                let jwt = jwt.into_inner();
                let jwks = match (jwt.jwks, jwt.jwks_file) {
                    (Some(url), None)
                        if url.starts_with("https://") || url.starts_with("http://") =>
                    {
                        JwksSource::Url(url)
                    }
                    (Some(url), None) => {
                        return Err(diag(
                            span,
                            format!("`jwks = \"{url}\"` is not an http(s) URL"),
                            "a file is named with `jwks-file`",
                        ));
                    }
                    (None, Some(file)) => JwksSource::File(resolve(file)),
                    _ => {
                        return Err(diag(
                            span,
                            "[jwt] needs exactly one of `jwks` (a URL) and `jwks-file`".into(),
                            "GitLab serves its keys at https://GITLAB/oauth/discovery/keys",
                        ));
                    }
                };
                let audience = jwt.audience.ok_or_else(|| {
                    diag(
                        span.clone(),
                        "[jwt] needs `audience`: the `aud` tokens for this archive carry".into(),
                        "in GitLab CI, `id_tokens: STAVES_TOKEN: aud: VALUE` makes such a token",
                    )
                })?;
                Some(JwtConfig {
                    jwks,
                    issuer: jwt.issuer,
                    audience,
                    claims: claims(jwt.claims),
                    leeway: jwt.leeway_seconds.unwrap_or(30),
                })
            }
        };
        Ok(ServerConfig {
            archive: ArchiveConfig {
                dir: resolve(raw.dir.into_inner()),
                suites,
                origin: raw.origin.unwrap_or_else(|| "Staves".into()),
            },
            listen,
            signing_key: raw.signing_key.map(resolve),
            tls: raw.tls.map(|t| TlsFiles {
                certificate: resolve(t.certificate),
                key: resolve(t.key),
            }),
            auth: AuthConfig {
                token_file: raw.token_file.map(resolve),
                jwt,
            },
            max_upload: raw.max_upload_mib.unwrap_or(512).saturating_mul(1 << 20),
            limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_configuration_reads_with_paths_beside_it() {
        let text = r#"
dir = "archive"
listen = "[::1]:8443"
token-file = "/etc/tokens"
[tls]
certificate = "cert.pem"
key = "key.pem"
[jwt]
jwks = "https://gitlab.example/oauth/discovery/keys"
audience = "staves"
claims = { namespace_path = ["team", "team/tools"] }
[[suites]]
name = "stable"
architectures = ["amd64", "arm64"]
keep = 3
claims = { ref_protected = "true" }
[[suites]]
name = "testing"
"#;
        let config = ServerConfig::parse(text, Path::new("/srv/conf/archive.toml")).expect("ok");
        assert_eq!(config.archive.dir, PathBuf::from("/srv/conf/archive"));
        assert_eq!(config.listen.port(), 8443);
        assert_eq!(
            config.auth.token_file.as_deref(),
            Some(Path::new("/etc/tokens"))
        );
        assert_eq!(
            config.tls.expect("tls").key,
            PathBuf::from("/srv/conf/key.pem")
        );
        let jwt = config.auth.jwt.expect("jwt");
        assert_eq!(jwt.claims["namespace_path"], ["team", "team/tools"]);
        assert_eq!(jwt.leeway, 30);
        let stable = &config.archive.suites[0];
        assert_eq!(stable.keep, Some(3));
        assert_eq!(stable.claims["ref_protected"], ["true"]);
        assert_eq!(stable.components, ["main"]);
        assert_eq!(config.archive.suites[1].name, "testing");
    }

    #[test]
    fn the_example_configuration_reads() {
        let text = include_str!("../../../examples/repository/archive.toml");
        let path = Path::new("/srv/example/archive.toml");
        let config = ServerConfig::parse(text, path).expect("the example is valid");
        assert_eq!(config.archive.suites.len(), 2);
        assert!(config.tls.is_some() && config.auth.jwt.is_some());
    }

    #[test]
    fn mistakes_are_located() {
        let path = Path::new("archive.toml");
        let cases = [
            ("dir = \"a\"\nlisten = \"localhost\"\n", 2, "not an address"),
            ("dir = \"a\"\nport = 80\n", 2, "unknown field"),
            (
                "dir = \"a\"\n[jwt]\naudience = \"x\"\n",
                2,
                "exactly one of",
            ),
            (
                "dir = \"a\"\n[jwt]\njwks-file = \"k.json\"\n",
                2,
                "needs `audience`",
            ),
            (
                "dir = \"a\"\n[[suites]]\nname = \"s\"\nkeep = 0\n",
                4,
                "remove every package",
            ),
        ];
        for (text, line, message) in cases {
            let error = ServerConfig::parse(text, path).expect_err(text);
            let ArchiveError::ConfigFile(d) = error else {
                panic!("{text}: {error}")
            };
            assert_eq!(d.line_column().0, line, "{text}: {d}");
            assert!(d.message.contains(message), "{text}: {d}");
        }
    }
}

//! Which certificate authorities a run trusts: the system's store as OpenSSL and curl read
//! it (`SSL_CERT_FILE` and `SSL_CERT_DIR` when set, else `/etc/ssl/certs`, where
//! `update-ca-certificates` puts a company's CA), plus CA files named on the command line
//! or on a repository. Only a system without any store falls back to the roots compiled in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::NetError;

/// The authorities a client checks servers against.
#[derive(Clone)]
pub struct Trust {
    certificates: Arc<Vec<Certificate<'static>>>,
    /// Where they came from, for messages.
    sources: Vec<String>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("certificates", &self.certificates.len())
            .field("sources", &self.sources)
            .finish()
    }
}

impl Trust {
    /// The system's store, then every file of `extra` (each must hold a certificate).
    pub fn load(extra: &[PathBuf]) -> Result<Trust, NetError> {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::debug!("reading the system's certificates: {error}");
        }
        let mut certificates: Vec<Certificate<'static>> = found
            .certs
            .into_iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        let mut sources = vec![system_store_name()];
        for path in extra {
            certificates.extend(read_ca_file(path)?);
            sources.push(path.display().to_string());
        }
        Ok(Trust {
            certificates: Arc::new(certificates),
            sources,
        })
    }

    /// No authority at all: for an agent that speaks plain HTTP only.
    pub fn none() -> Trust {
        Trust {
            certificates: Arc::new(Vec::new()),
            sources: vec!["nothing (plain HTTP)".into()],
        }
    }

    /// ureq's TLS settings for these roots.
    pub fn tls_config(&self) -> TlsConfig {
        let roots = if self.certificates.is_empty() {
            RootCerts::WebPki
        } else {
            RootCerts::new_with_certs(&self.certificates)
        };
        TlsConfig::builder().root_certs(roots).build()
    }

    /// The certificates, DER-encoded.
    pub fn certificates(&self) -> &[Certificate<'static>] {
        &self.certificates
    }

    /// Where the trusted certificates were read from.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }
}

/// How the system store was found, as a message names it.
fn system_store_name() -> String {
    match (
        std::env::var_os("SSL_CERT_FILE"),
        std::env::var_os("SSL_CERT_DIR"),
    ) {
        (Some(file), _) => format!("SSL_CERT_FILE={}", Path::new(&file).display()),
        (None, Some(dir)) => format!("SSL_CERT_DIR={}", Path::new(&dir).display()),
        (None, None) => "the system store (/etc/ssl/certs)".into(),
    }
}

/// Every certificate of a PEM file the user named; a file without one is an error.
pub fn read_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, NetError> {
    let pem = staves_fs::read_regular(path, 8 << 20).map_err(|source| NetError::Io {
        path: path.to_owned(),
        source,
    })?;
    let certs: Vec<_> = read_pem_certificates(&pem).collect();
    if certs.is_empty() {
        return Err(NetError::Config {
            path: path.to_owned(),
            message: "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)".into(),
        });
    }
    Ok(certs)
}

/// The certificates of PEM text, skipping anything else (keys, garbage).
pub fn read_pem_certificates(pem: &[u8]) -> impl Iterator<Item = Certificate<'static>> + '_ {
    ureq::tls::parse_pem(pem).filter_map(|item| match item {
        Ok(PemItem::Certificate(cert)) => Some(cert),
        _ => None,
    })
}

//! Which certificates a registry's TLS is checked against: the system's roots
//! (`$SSL_CERT_FILE`, else Debian's bundle) plus docker's `certs.d/<host:port>/*.crt`.

use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::RegistryError;

/// The TLS settings for `registry`: system roots plus docker's certs.d for that host.
pub(crate) fn tls_config(registry: &str, certs_dir: &Path) -> Result<TlsConfig, RegistryError> {
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    if let Ok(pem) = std::fs::read(&system) {
        certs.extend(read_pem_certs(&pem));
    }
    let host_dir = certs_dir.join(registry);
    if let Ok(entries) = std::fs::read_dir(&host_dir) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        paths.sort();
        for path in paths {
            let pem = std::fs::read(&path).map_err(|e| RegistryError::Config {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let found: Vec<_> = read_pem_certs(&pem).collect();
            if found.is_empty() {
                return Err(RegistryError::Config {
                    path,
                    message: "holds no PEM certificate".into(),
                });
            }
            certs.extend(found);
        }
    }
    let roots = if certs.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::new_with_certs(&certs)
    };
    Ok(TlsConfig::builder().root_certs(roots).build())
}

fn read_pem_certs(pem: &[u8]) -> impl Iterator<Item = Certificate<'static>> + '_ {
    ureq::tls::parse_pem(pem).filter_map(|item| match item {
        Ok(PemItem::Certificate(cert)) => Some(cert),
        _ => None,
    })
}

//! A registry's TLS trust: the run's [`Trust`] plus docker's `certs.d/<host:port>/*.crt`.
//!
//! Docker's documented way to trust a registry with a self-signed certificate is to put
//! that very certificate in `certs.d/HOST:PORT/ca.crt`. Such a certificate usually says
//! `CA:TRUE` (openssl's default), and WebPKI refuses a CA certificate presented as the
//! server's own (`CaUsedAsEndEntity`) where docker, podman and skopeo accept it. So for a
//! registry with a `certs.d` directory, connections go through a TLS layer of our own whose
//! verifier accepts exactly the certificates of that directory as the server's certificate
//! — byte for byte, with the handshake signed by its key — and checks everything else as
//! WebPKI does.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use ureq::tls::{Certificate, TlsConfig};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    TcpConnector, Transport, TransportAdapter,
};

use crate::{NetError, Trust};

/// How to reach a registry over TLS.
pub enum RegistryTls {
    /// ureq's own TLS with the run's roots.
    Roots(TlsConfig),
    /// Our TLS layer, accepting the registry's `certs.d` certificates as its own.
    Pinned(PinnedTls),
}

/// The TLS for `registry` (`host:port`): `trust` plus docker's certs.d for that host.
pub fn registry_tls(
    registry: &str,
    certs_dir: &Path,
    trust: &Trust,
) -> Result<RegistryTls, NetError> {
    let pinned = host_certificates(&certs_dir.join(registry))?;
    if !pinned.is_empty() {
        return Ok(RegistryTls::Pinned(PinnedTls::new(
            trust.certificates(),
            pinned,
        )?));
    }
    Ok(RegistryTls::Roots(trust.tls_config()))
}

/// Every certificate of `DIR/*.crt`, in name order; a `.crt` without one is an error.
fn host_certificates(host_dir: &Path) -> Result<Vec<Certificate<'static>>, NetError> {
    let Ok(entries) = std::fs::read_dir(host_dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    paths.sort();
    let mut certs = Vec::new();
    for path in paths {
        certs.extend(crate::trust::read_ca_file(&path)?);
    }
    Ok(certs)
}

/// A ureq connector: TLS with a [`PinnedVerifier`], over TCP (or a CONNECT proxy).
#[derive(Debug, Clone)]
pub struct PinnedTls {
    config: Arc<ClientConfig>,
}

impl PinnedTls {
    fn new(
        system: &[Certificate<'static>],
        pinned: Vec<Certificate<'static>>,
    ) -> Result<PinnedTls, NetError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        let all = system.iter().chain(&pinned);
        roots.add_parsable_certificates(all.map(|c| CertificateDer::from(c.der().to_vec())));
        let tls_error = |e: &dyn std::fmt::Display| NetError::Config {
            path: PathBuf::from("certs.d"),
            message: format!("TLS setup: {e}"),
        };
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| tls_error(&e))?;
        let verifier = PinnedVerifier {
            pinned: pinned
                .iter()
                .map(|c| CertificateDer::from(c.der().to_vec()))
                .collect(),
            webpki,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(&e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(PinnedTls {
            config: Arc::new(config),
        })
    }

    /// An agent that speaks TLS through this layer.
    pub fn agent(&self, config: ureq::config::Config) -> ureq::Agent {
        let connector =
            ().chain(ConnectProxyConnector::default())
                .chain(TcpConnector::default())
                .chain(self.clone());
        ureq::Agent::with_parts(
            config,
            connector,
            ureq::unversioned::resolver::DefaultResolver::default(),
        )
    }
}

impl<In: Transport> Connector<In> for PinnedTls {
    type Out = Either<In, PinnedTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let name =
            ServerName::try_from(host).map_err(|_| ureq::Error::Tls("invalid server name"))?;
        let mut connection = ClientConnection::new(self.config.clone(), name)?;
        let mut socket = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        socket.set_timeout(details.timeout);
        connection.complete_io(&mut socket)?;
        Ok(Some(Either::B(PinnedTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned::new(connection, socket),
        })))
    }
}

/// A TLS connection made by [`PinnedTls`].
pub struct PinnedTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for PinnedTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinnedTransport")
    }
}

impl Transport for PinnedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// WebPKI, except that a server presenting exactly one of `pinned` is accepted even when
/// WebPKI refuses it (a self-signed CA certificate used as the server's). The handshake
/// signature is always checked, so the server holds that certificate's key.
#[derive(Debug)]
struct PinnedVerifier {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            Err(_)
                if self
                    .pinned
                    .iter()
                    .any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                Ok(ServerCertVerified::assertion())
            }
            Err(error) => Err(error),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

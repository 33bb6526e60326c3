//! Naming the certificate a server presented when it was not trusted: a second handshake
//! that only records the chain and stops before any request, so the message can say which
//! certificate (subject, issuer, fingerprint) to trust, and how.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use x509_cert::der::Decode;

/// What an untrusted server presented, and the ways to trust it.
pub(crate) fn untrusted_detail(url: &str, trusted_from: &[String]) -> String {
    let presented = presented_chain(url).and_then(|chain| describe(&chain));
    let what = presented
        .map(|d| format!("the server's certificate ({d})"))
        .unwrap_or_else(|| "the server's certificate".into());
    format!(
        "{what} is not signed by an authority this run trusts (it read {}). Trust the \
         authority that signed it in one of three ways: install it in the system store \
         (copy it to /usr/local/share/ca-certificates/NAME.crt and run update-ca-certificates), \
         point SSL_CERT_FILE at a bundle that holds it, or name its PEM file with --ca-cert FILE \
         (or `ca-cert = \"FILE\"` on the repository)",
        trusted_from.join(", ")
    )
}

/// `subject …, issued by …, SHA-256 …` of the server's own certificate, and the root of the
/// chain it sent when that is another.
fn describe(chain: &[CertificateDer<'static>]) -> Option<String> {
    let leaf = chain.first()?;
    let parsed = x509_cert::Certificate::from_der(leaf.as_ref()).ok()?;
    let tbs = &parsed.tbs_certificate;
    let fingerprint = hex::encode_upper(Sha256::digest(leaf.as_ref()));
    let mut text = format!(
        "subject `{}`, issued by `{}`, SHA-256 {}",
        tbs.subject,
        tbs.issuer,
        &fingerprint[..16]
    );
    if chain.len() > 1
        && let Some(top) = chain
            .last()
            .and_then(|c| x509_cert::Certificate::from_der(c.as_ref()).ok())
    {
        text.push_str(&format!(
            "; the chain it sent ends at `{}`",
            top.tbs_certificate.issuer
        ));
    }
    Some(text)
}

/// The chain the server at `url` presents, or `None` when it cannot be had directly
/// within a few seconds.
fn presented_chain(url: &str) -> Option<Vec<CertificateDer<'static>>> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    let host = uri.host()?.trim_matches(['[', ']']).to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let address = (host.as_str(), port).to_socket_addrs().ok()?.next()?;
    let mut socket = TcpStream::connect_timeout(&address, Duration::from_secs(5)).ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    socket
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    let recorder = Arc::new(Recorder::default());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host).ok()?;
    let mut connection = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
    // The recorder refuses the certificate, so the handshake ends once it has been seen.
    let _ = connection.complete_io(&mut socket);
    recorder.chain.lock().ok()?.take()
}

/// A verifier that keeps what it was shown and trusts nothing.
#[derive(Debug, Default)]
struct Recorder {
    chain: Mutex<Option<Vec<CertificateDer<'static>>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        if let Ok(mut slot) = self.chain.lock() {
            *slot = Some(chain);
        }
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("recording only".into()))
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("recording only".into()))
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

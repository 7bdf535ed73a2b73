//! Whom a client trusts: the platform's roots and `--cacert` through rustls' webpki verifier, a `--cacert`
//! certificate that is the server's own as that server, or anyone with `-k`.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// Whom the client trusts.
#[derive(Debug)]
pub(super) enum Trust {
    /// `-k/--insecure`: every certificate.
    Any,
    /// Chains to these roots (None: no root at all), and the certificates of `--cacert` themselves.
    Roots { webpki: Option<Arc<WebPkiServerVerifier>>, pinned: Vec<CertificateDer<'static>> },
}

/// Verifies the server's certificate by `Trust`, and the handshake's signatures always: with `-k` the session
/// is still the one the server's key signed (it just could be anyone's key).
#[derive(Debug)]
pub(super) struct Verifier {
    pub(super) provider: Arc<CryptoProvider>,
    pub(super) trust: Trust,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (webpki, pinned) = match &self.trust {
            Trust::Any => return Ok(ServerCertVerified::assertion()),
            Trust::Roots { webpki, pinned } => (webpki, pinned),
        };
        // A certificate given with --cacert that is the server's own is trusted as that server, as curl trusts
        // it: the common self-signed certificate (`openssl req -x509`) says CA:TRUE, which webpki refuses in a
        // server's place (CaUsedAsEndEntity), and a pin needs no chain.
        if pinned.iter().any(|cert| cert.as_ref() == end_entity.as_ref()) {
            verify_pinned(end_entity, server_name, now)?;
            return Ok(ServerCertVerified::assertion());
        }
        match webpki {
            Some(webpki) => webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            None => Err(CertificateError::UnknownIssuer.into()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// What is still checked of a pinned certificate: its dates, and that it names the server, by its
/// subjectAltName (as webpki checks it), or by its Common Name when it has none, as curl and OpenSSL's
/// X509_check_host do (RFC 6125 §6.4.4).
fn verify_pinned(cert: &CertificateDer<'_>, server_name: &ServerName<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).map_err(|_| CertificateError::BadEncoding)?;
    let unix = |time: &x509_parser::time::ASN1Time| {
        UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(time.timestamp()).unwrap_or(0)))
    };
    let validity = parsed.validity();
    let (not_before, not_after) = (unix(&validity.not_before), unix(&validity.not_after));
    if now.as_secs() < not_before.as_secs() {
        return Err(CertificateError::NotValidYetContext { time: now, not_before }.into());
    }
    if now.as_secs() > not_after.as_secs() {
        return Err(CertificateError::ExpiredContext { time: now, not_after }.into());
    }
    if matches!(parsed.subject_alternative_name(), Ok(Some(_))) {
        let parsed = rustls::server::ParsedCertificate::try_from(cert)?;
        return rustls::client::verify_server_name(&parsed, server_name);
    }
    let names: Vec<String> =
        parsed.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_string).collect();
    let expected = server_name.to_str();
    let matches = |name: &String| match server_name {
        ServerName::IpAddress(ip) => name.parse::<std::net::IpAddr>().is_ok_and(|cn| cn == std::net::IpAddr::from(*ip)),
        _ => name.eq_ignore_ascii_case(&expected),
    };
    if names.iter().any(matches) {
        return Ok(());
    }
    Err(CertificateError::NotValidForNameContext { expected: server_name.to_owned(), presented: names }.into())
}

//! TLS configuration (docs/design.md §8), with rustls and its `ring` provider: no OpenSSL, nothing to link.
//!
//! The client side: which certificates are trusted (the platform's roots plus `--cacert`, or nothing checked
//! with `-k`), the server name sent as SNI and checked against the certificate, ALPN `http/1.1`, and the
//! session store that lets later connections resume (`--tls-resume`). One `Client` serves every connection of
//! a run, on every engine thread, so a ticket one connection receives is one any other can use, as in a browser.
//!
//! The server side: the identity the embedded server presents, a certificate made at start (rcgen) or one read
//! from PEM files, and the ticketer that lets its clients resume.
//!
//! Also the one blocking handshake of a run, the preflight's: a certificate that does not verify must stop the
//! run before any load, with the reason.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Session tickets kept per run: rustls keeps up to 8 TLS 1.3 tickets per server, and a run has one server.
const SESSIONS_KEPT: usize = 256;
/// The protocols connbench speaks over TLS, by their ALPN ids (RFC 7301): the HTTP/1.x modes offer
/// `http/1.1`, multiplex offers `h2` alone (RFC 9113 §3.2), so a server that cannot speak HTTP/2 says so in
/// the handshake instead of answering frames with HTTP/1.x.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
pub const ALPN_H2: &[u8] = b"h2";

/// What the flags ask of the client's TLS.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-k/--insecure`: accept any certificate (the handshake's signatures are still checked).
    pub insecure: bool,
    /// `--tls-resume`: keep session tickets (TLS 1.3 PSKs, TLS 1.2 tickets and ids) for the next connections.
    pub resume: bool,
    /// Trusted beside the platform's roots: `--cacert`, or the embedded server's own certificate.
    pub extra_roots: Vec<CertificateDer<'static>>,
}

/// Everything a connection needs to speak TLS to the run's server.
#[derive(Debug, Clone)]
pub struct Client {
    pub config: Arc<ClientConfig>,
    /// From the URL's host: a DNS name is sent as SNI; an IP address is not (RFC 6066 §3) but is still checked.
    pub server_name: ServerName<'static>,
    pub insecure: bool,
    /// What checks the server's certificate, kept so that QUIC connections (`net::quic`) can tell a full
    /// handshake, which calls it, from a resumed one, which does not.
    pub verifier: Arc<dyn ServerCertVerifier>,
}

impl Client {
    /// Trusts the platform's certificate store plus `options.extra_roots`, or nothing with `insecure`.
    ///
    /// The platform's store (rustls-native-certs) rather than a compiled-in copy of Mozilla's (webpki-roots): a
    /// benchmark often aims at an internal server whose private CA the administrator installed in that store, as
    /// curl and wget would trust it, and the list follows the system's updates instead of connbench's releases.
    pub fn new(host: &str, options: &Options) -> Result<Client, String> {
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = if options.insecure {
            Arc::new(AnyCertificate(provider.clone()))
        } else {
            let mut roots = RootCertStore::empty();
            // Unreadable entries of the store are skipped, as every TLS client does with a damaged store.
            let _ = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            for cert in &options.extra_roots {
                roots.add(cert.clone()).map_err(|e| format!("--cacert: a certificate cannot be trusted: {e}"))?;
            }
            // What `with_root_certificates` builds, kept by name.
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("TLS: {e}"))?
        };
        let mut config = builder.dangerous().with_custom_certificate_verifier(verifier.clone()).with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        config.resumption =
            if options.resume { Resumption::in_memory_sessions(SESSIONS_KEPT) } else { Resumption::disabled() };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let server_name =
            ServerName::try_from(bare.to_string()).map_err(|_| format!("'{host}' is not a name TLS can check"))?;
        Ok(Client { config: Arc::new(config), server_name, insecure: options.insecure, verifier })
    }

    /// The same client offering HTTP/2 (`h2`) instead of HTTP/1.1: its roots, and the same store of sessions,
    /// so connections of either protocol resume the run's sessions.
    pub fn for_h2(&self) -> Client {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Client { config: Arc::new(config), ..self.clone() }
    }
}

/// The certificates of a PEM file (`--cacert`, `--cert`); the error names the flag and the file.
pub fn read_certificates(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{flag} {name}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{flag} {name}: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{flag} {name}: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)"));
    }
    Ok(certs)
}

/// A certificate and its key, for the embedded server.
#[derive(Debug)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// A self-signed certificate for `localhost` and 127.0.0.1, made now: the run that makes it trusts it, and
    /// nothing else does.
    pub fn self_signed() -> Result<Identity, String> {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
        let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
            .map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
        Ok(Identity { chain: vec![made.cert.der().clone()], key })
    }

    /// The certificate chain as PEM, for a client's `--cacert`.
    pub fn certificate_pem(&self) -> String {
        use base64::Engine as _;
        let mut pem = String::new();
        for cert in &self.chain {
            let text = base64::engine::general_purpose::STANDARD.encode(cert);
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in text.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        pem
    }

    /// `--cert FILE --key FILE` (PEM).
    pub fn from_files(cert: &Path, key: &Path) -> Result<Identity, String> {
        let chain = read_certificates(cert, "--cert")?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("--key {}: {e}", key.display()))?;
        Ok(Identity { chain, key })
    }

    /// The server's TLS configuration: this identity, ALPN `h2` and `http/1.1` (a client offering h2 gets
    /// HTTP/2, any other HTTP/1.x), and tickets so that clients resume.
    pub fn server_config(self) -> Result<Arc<rustls::ServerConfig>, String> {
        let provider = Arc::new(ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(self.chain, self.key)
            .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
        config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
        config.ticketer = ring::Ticketer::new().map_err(|e| format!("TLS: {e}"))?;
        Ok(Arc::new(config))
    }
}

/// Why the preflight's handshake failed.
#[derive(Debug)]
pub enum Refusal {
    /// The server's certificate does not verify: the reason, as rustls gives it.
    Certificate(String),
    /// The server speaks none of the protocols offered (RFC 7301 §3.2: the `no_application_protocol` alert).
    NoProtocol,
    /// Anything else: the server does not speak TLS, an alert, a timeout.
    Handshake(io::Error),
}

/// The preflight's handshake, blocking, on an established connection: returns the session, ready for data,
/// and how long the handshake took. `limit` bounds each read and write.
pub fn handshake_blocking(
    client: &Client,
    tcp: &mut std::net::TcpStream,
    limit: Duration,
) -> Result<(ClientConnection, Duration), Refusal> {
    let start = Instant::now();
    let mut session = ClientConnection::new(client.config.clone(), client.server_name.clone())
        .map_err(|e| Refusal::Handshake(io::Error::other(e)))?;
    tcp.set_read_timeout(Some(limit)).and_then(|()| tcp.set_write_timeout(Some(limit))).map_err(Refusal::Handshake)?;
    while session.is_handshaking() {
        if let Err(err) = session.complete_io(tcp) {
            let rustls_error = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
            return Err(match rustls_error {
                Some(rustls::Error::InvalidCertificate(reason)) => Refusal::Certificate(describe_certificate(reason)),
                Some(rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)) => {
                    Refusal::NoProtocol
                }
                _ => Refusal::Handshake(err),
            });
        }
    }
    let took = start.elapsed();
    tcp.set_read_timeout(None).and_then(|()| tcp.set_write_timeout(None)).map_err(Refusal::Handshake)?;
    Ok((session, took))
}

/// A certificate error in words people know from browsers and curl.
pub(crate) fn describe_certificate(reason: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match reason {
        E::UnknownIssuer => "signed by an unknown authority (self-signed, or a private CA)".into(),
        E::Expired | E::ExpiredContext { .. } => "expired".into(),
        E::NotValidYet | E::NotValidYetContext { .. } => "not valid yet".into(),
        E::NotValidForName | E::NotValidForNameContext { .. } => "not valid for this host name".into(),
        E::Revoked => "revoked".into(),
        // A trusted certificate bears the issuer's name, but not the key that signed this one: an unknown
        // authority that happens to share a name with a known one.
        E::BadSignature | E::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "signed by an unknown authority (its issuer's name matches a trusted certificate, its signature does not)"
                .into()
        }
        // webpki's own findings, e.g. CaUsedAsEndEntity: a CA certificate served as the server's own.
        E::Other(other) => other.to_string(),
        other => format!("{other:?}"),
    }
}

/// `-k/--insecure`: every certificate is accepted; the signatures of the handshake itself are still checked, so
/// the session is the one the server's key signed (it just could be anyone's key).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_signed_certificate_is_trusted_only_where_added() {
        let identity = Identity::self_signed().unwrap();
        let cert = identity.chain[0].clone();
        assert!(identity.server_config().is_ok());
        let options = Options { resume: true, extra_roots: vec![cert], ..Options::default() };
        let client = Client::new("127.0.0.1", &options).unwrap();
        assert!(matches!(client.server_name, ServerName::IpAddress(_)));
        assert_eq!(client.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(Client::new("[::1]", &Options::default()).is_ok());
    }

    #[test]
    fn certificate_files_are_named_in_errors() {
        let dir = std::env::temp_dir().join(format!("connbench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "nothing here\n").unwrap();
        let err = read_certificates(&empty, "--cacert").unwrap_err();
        assert!(err.starts_with("--cacert ") && err.contains("no certificate"), "{err}");
        let err = read_certificates(&dir.join("missing.pem"), "--cacert").unwrap_err();
        assert!(err.contains("missing.pem"), "{err}");
        let err = Identity::from_files(&empty, &empty).unwrap_err();
        assert!(err.starts_with("--cert "), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

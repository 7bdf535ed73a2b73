//! TLS configuration (docs/design.md §8), with rustls and its `ring` provider: no OpenSSL, nothing to link.
//!
//! The client side: which certificates are trusted (the platform's roots plus `--cacert`, or nothing checked
//! with `-k`), the server name sent as SNI and checked against the certificate, ALPN `http/1.1`, the TLS
//! versions offered (`--tls-version`), and the session store that lets later connections resume
//! (`--tls-resume`). One `Client` serves every connection of a run, on every engine thread, so a ticket one
//! connection receives is one any other can use, as in a browser.
//!
//! The server side: the identity the embedded server presents, a certificate made at start (rcgen) or one read
//! from PEM files, and the ticketer that lets its clients resume.
//!
//! Whom a client trusts is `verify`'s (`--cacert` certificates that are the server's own are trusted as that
//! server); the one blocking handshake of a run, the preflight's (and the probe's), and why it failed in
//! words, are `refusal`'s: a certificate that does not verify, or a server that cannot speak TLS as asked,
//! must stop the run before any load, with the reason.

mod refusal;
mod verify;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustls::client::{ResolvesClientCert, Resumption, WebPkiServerVerifier};
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SignatureScheme, SupportedProtocolVersion};

pub use refusal::{handshake_blocking, Alpn, Refusal};
use verify::{Trust, Verifier};

/// Session tickets kept per run: rustls keeps up to 8 TLS 1.3 tickets per server, and a run has one server.
const SESSIONS_KEPT: usize = 256;
/// The protocols connbench speaks over TLS, by their ALPN ids (RFC 7301): the HTTP/1.x modes offer
/// `http/1.1`, multiplex offers `h2` alone (RFC 9113 §3.2), so a server that cannot speak HTTP/2 says so in
/// the handshake instead of answering frames with HTTP/1.x.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
pub const ALPN_H2: &[u8] = b"h2";

/// `--tls-version`: the one TLS version a client offers, or a server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Tls12,
    Tls13,
}

impl Version {
    /// As people write it: `1.2`.
    pub fn name(self) -> &'static str {
        match self {
            Version::Tls12 => "1.2",
            Version::Tls13 => "1.3",
        }
    }

    /// The versions a configuration allows: this one, or rustls' safe defaults (1.3 and 1.2) for None.
    fn allowed(version: Option<Version>) -> &'static [&'static SupportedProtocolVersion] {
        static TLS12: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match version {
            None => rustls::DEFAULT_VERSIONS,
            Some(Version::Tls12) => &TLS12,
            Some(Version::Tls13) => &TLS13,
        }
    }
}

/// What the flags ask of the client's TLS.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-k/--insecure`: accept any certificate (the handshake's signatures are still checked).
    pub insecure: bool,
    /// `--tls-resume`: keep session tickets (TLS 1.3 PSKs, TLS 1.2 tickets and ids) for the next connections.
    pub resume: bool,
    /// Trusted beside the platform's roots: `--cacert`, or the embedded server's own certificate.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// `--tls-version`: offer this version alone; None offers 1.3 and 1.2.
    pub version: Option<Version>,
}

/// Everything a connection needs to speak TLS to the run's server.
#[derive(Debug, Clone)]
pub struct Client {
    pub config: Arc<ClientConfig>,
    /// From the URL's host: a DNS name is sent as SNI; an IP address is not (RFC 6066 §3) but is still checked.
    pub server_name: ServerName<'static>,
    pub insecure: bool,
    /// `--tls-version`, to say why a server refused.
    pub version: Option<Version>,
    /// Set when a server asks for a client certificate (connbench has none to send).
    certificate_request: Arc<CertificateRequest>,
    /// What checks the server's certificate, kept so that QUIC connections (`net::quic`) can tell a full
    /// handshake, which calls it, from a resumed one, which does not.
    pub verifier: Arc<dyn rustls::client::danger::ServerCertVerifier>,
}

impl Client {
    /// Trusts the platform's certificate store plus `options.extra_roots`, or nothing with `insecure`.
    ///
    /// The platform's store (rustls-native-certs) rather than a compiled-in copy of Mozilla's (webpki-roots): a
    /// benchmark often aims at an internal server whose private CA the administrator installed in that store, as
    /// curl and wget would trust it, and the list follows the system's updates instead of connbench's releases.
    pub fn new(host: &str, options: &Options) -> Result<Client, String> {
        let provider = Arc::new(ring::default_provider());
        let trust = if options.insecure {
            Trust::Any
        } else {
            let mut roots = RootCertStore::empty();
            // Unreadable entries of the store are skipped, as every TLS client does with a damaged store.
            let _ = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            for cert in &options.extra_roots {
                roots.add(cert.clone()).map_err(|e| format!("--cacert: a certificate cannot be trusted: {e}"))?;
            }
            // An empty store (no platform roots, no --cacert) trusts no chain: only a pinned certificate.
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().ok();
            Trust::Roots { webpki, pinned: options.extra_roots.clone() }
        };
        let verifier = Arc::new(Verifier { provider: provider.clone(), trust });
        let certificate_request = Arc::new(CertificateRequest::default());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(Version::allowed(options.version))
            .map_err(|e| format!("TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_client_cert_resolver(certificate_request.clone());
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        config.resumption =
            if options.resume { Resumption::in_memory_sessions(SESSIONS_KEPT) } else { Resumption::disabled() };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let server_name =
            ServerName::try_from(bare.to_string()).map_err(|_| format!("'{host}' is not a name TLS can check"))?;
        Ok(Client {
            config: Arc::new(config),
            server_name,
            insecure: options.insecure,
            version: options.version,
            certificate_request,
            verifier,
        })
    }

    /// The same client offering HTTP/2 (`h2`) instead of HTTP/1.1: its roots, and the same store of sessions,
    /// so connections of either protocol resume the run's sessions.
    pub fn for_h2(&self) -> Client {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Client { config: Arc::new(config), ..self.clone() }
    }

    /// Did a server ask for a client certificate since the last call? Clears the answer, so that each mode
    /// of a run hears of its own connections.
    pub fn take_certificate_request(&self) -> bool {
        self.certificate_request.asked.swap(false, Ordering::Relaxed)
    }

    fn certificate_was_requested(&self) -> bool {
        self.certificate_request.asked.load(Ordering::Relaxed)
    }
}

/// connbench sends no client certificate; this resolver only remembers that a server asked for one
/// (a CertificateRequest, RFC 8446 §4.3.2), so that the failures that follow can be explained.
#[derive(Debug, Default)]
struct CertificateRequest {
    asked: AtomicBool,
}

impl ResolvesClientCert for CertificateRequest {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// The certificates of a PEM file (`--cacert`, `--cert`); the error names the flag and the file.
pub fn read_certificates(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let name = path.display();
    let bytes = crate::input::read(path, crate::input::Kind::Pem).map_err(|e| format!("{flag} {name}: {e}"))?;
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
        let named = |e: String| format!("--key {}: {e}", key.display());
        let pem = crate::input::read(key, crate::input::Kind::Pem).map_err(named)?;
        let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| named(e.to_string()))?;
        Ok(Identity { chain, key })
    }

    /// The server's TLS configuration: this identity, the versions `version` allows (`--tls-version`; None:
    /// 1.3 and 1.2), ALPN `h2` and `http/1.1` (a client offering h2 gets HTTP/2, any other HTTP/1.x), and
    /// tickets so that clients resume (TLS 1.3 PSKs, RFC 5077 tickets in TLS 1.2).
    pub fn server_config(self, version: Option<Version>) -> Result<Arc<rustls::ServerConfig>, String> {
        let provider = Arc::new(ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(Version::allowed(version))
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(self.chain, self.key)
            .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
        config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
        config.ticketer = ring::Ticketer::new().map_err(|e| format!("TLS: {e}"))?;
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_signed_certificate_is_trusted_only_where_added() {
        let identity = Identity::self_signed().unwrap();
        let cert = identity.chain[0].clone();
        assert!(identity.server_config(None).is_ok());
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

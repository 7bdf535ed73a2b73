//! QUIC for HTTP/3 (RFC 9000, RFC 9001, RFC 9114), with quinn on the rustls configuration the rest of
//! connbench uses (docs/design.md §8, `net::tls`): the same trusted roots, `--cacert`, `-k`, session store and
//! `ring` provider, with ALPN `h3` (RFC 9114 §3.1) and, for `--0rtt`, early data.
//!
//! It owns the client's QUIC settings (one [`Client`] per run, and how a connection tells a full handshake
//! from a resumed one), the embedded server's
//! ([`server_config`]), and the UDP endpoints: one per engine thread on the client side (docs/design.md §6),
//! one beside the TCP listener on the server side. quinn sends and receives with UDP GSO and GRO where the
//! kernel has them, so a burst of packets costs one system call.
//!
//! QUIC folds the transport and TLS handshakes into one exchange, so a QUIC connection has one handshake time
//! (`latency.connect`) and nothing for `latency.tls`. It leaves no TIME_WAIT: a connection lives in the
//! endpoint's one socket, and its end is a CONNECTION_CLOSE frame, not a four-way close of a port.

use std::cell::Cell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::net::tls;

/// HTTP/3's ALPN id (RFC 9114 §3.1).
pub const ALPN_H3: &[u8] = b"h3";
/// Flow-control credit each side grants, as for HTTP/2 (`engine/h2.rs`): a body of a few MiB never waits for
/// a MAX_STREAM_DATA on loopback. Credit, not buffers: nothing is allocated for it.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 16 << 20;
/// Sessions the embedded server remembers for resumption and 0-RTT.
const SERVER_SESSIONS: usize = 4096;
/// How long a closing endpoint is given for its CONNECTION_CLOSE frames to leave (the driver sends them
/// the first time it runs; the draining period after them needs nobody to wait, RFC 9000 §10.2).
pub const CLOSE_FLUSH: Duration = Duration::from_millis(5);

/// What every QUIC connection of a run shares: the run's TLS client (its roots, its session store) offering
/// `h3`, and quinn's transport settings.
#[derive(Debug)]
pub struct Client {
    config: quinn::ClientConfig,
    verifier: Arc<Watched>,
    /// The name sent as SNI and checked against the certificate, as quinn takes it.
    pub server_name: String,
    pub insecure: bool,
}

impl Client {
    /// The run's TLS client, for QUIC: ALPN `h3` alone, early data with `zero_rtt`. Fails when that TLS
    /// cannot carry QUIC (QUIC needs TLS 1.3, RFC 9001 §4.2).
    pub fn new(client: &tls::Client, zero_rtt: bool) -> Result<Client, String> {
        let mut tls = (*client.config).clone();
        tls.alpn_protocols = vec![ALPN_H3.to_vec()];
        tls.enable_early_data = zero_rtt;
        // One verifier for every connection: rustls resumes a session only under the verifier that made it.
        let verifier = Arc::new(Watched { inner: client.verifier.clone(), refused: Mutex::new(None) });
        tls.dangerous().set_certificate_verifier(verifier.clone());
        let crypto = QuicClientConfig::try_from(Arc::new(tls)).map_err(|e| format!("QUIC needs TLS 1.3: {e}"))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = TransportConfig::default();
        transport
            .stream_receive_window(STREAM_WINDOW.into())
            .receive_window(CONNECTION_WINDOW.into())
            // The server opens its control and QPACK streams (unidirectional), never a request stream.
            .max_concurrent_bidi_streams(VarInt::from_u32(0));
        config.transport_config(Arc::new(transport));
        Ok(Client {
            config,
            verifier,
            server_name: client.server_name.to_str().into_owned(),
            insecure: client.insecure,
        })
    }

    /// What each connection is made with.
    pub fn config(&self) -> quinn::ClientConfig {
        self.config.clone()
    }

    /// Why the server's certificate last failed to verify, if it did.
    pub fn refused(&self) -> Option<rustls::CertificateError> {
        self.verifier.refused.lock().ok()?.clone()
    }
}

thread_local! {
    /// Certificates this thread checked that no finished handshake has claimed yet.
    static UNCLAIMED_CHECKS: Cell<u64> = const { Cell::new(0) };
}

/// Was the handshake that just finished on this thread a full one? A resumed handshake (RFC 8446 §2.2) sees
/// no certificate, a full one has it checked, on the thread that drives the connection (an engine thread's
/// runtime drives its connections alone). Each finished handshake claims one check, if one is unclaimed:
/// when handshakes overlap, one may claim another's, and the counts of full and resumed stay exact.
pub fn full_handshake() -> bool {
    UNCLAIMED_CHECKS.with(|checks| {
        let unclaimed = checks.get();
        checks.set(unclaimed.saturating_sub(1));
        unclaimed > 0
    })
}

/// One client endpoint: a UDP socket on an ephemeral port of the wildcard address of `server`'s family,
/// driven by the tokio runtime it is made in (a current-thread engine runtime: its thread alone).
pub fn endpoint(server: SocketAddr) -> io::Result<quinn::Endpoint> {
    quinn::Endpoint::client(SocketAddr::new(any(server), 0))
}

/// The wildcard address of `server`'s family.
fn any(server: SocketAddr) -> IpAddr {
    if server.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    }
}

/// The embedded server's QUIC: its TLS identity offering `h3`, 0-RTT accepted, at most `max_streams` request
/// streams open per connection (quinn's default of 100 otherwise), idle connections closed after
/// `idle_timeout`.
pub fn server_config(
    tls: &rustls::ServerConfig,
    max_streams: Option<u32>,
    idle_timeout: Option<Duration>,
) -> Result<quinn::ServerConfig, String> {
    let mut tls = tls.clone();
    tls.alpn_protocols = vec![ALPN_H3.to_vec()];
    // rustls accepts early data only from sessions it remembers (never from tickets, which could be
    // replayed anywhere): a store of its own, and no tickets.
    tls.max_early_data_size = u32::MAX;
    tls.session_storage = rustls::server::ServerSessionMemoryCache::new(SERVER_SESSIONS);
    tls.ticketer = Arc::new(NoTickets);
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| format!("QUIC needs TLS 1.3: {e}"))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let transport = Arc::get_mut(&mut config.transport).expect("a new configuration is not shared");
    transport.stream_receive_window(STREAM_WINDOW.into()).receive_window(CONNECTION_WINDOW.into());
    if let Some(max) = max_streams {
        transport.max_concurrent_bidi_streams(max.into());
    }
    if let Some(idle) = idle_timeout {
        let idle = IdleTimeout::try_from(idle).map_err(|_| format!("idle timeout {idle:?} is too long for QUIC"))?;
        transport.max_idle_timeout(Some(idle));
    }
    Ok(config)
}

/// A server endpoint on `addr`'s UDP port, in the current tokio runtime.
pub fn server_endpoint(config: quinn::ServerConfig, addr: SocketAddr) -> io::Result<quinn::Endpoint> {
    quinn::Endpoint::server(config, addr)
}

/// The server's ticketer when it must remember its sessions instead (0-RTT, above): it makes no tickets.
#[derive(Debug)]
struct NoTickets;

impl rustls::server::ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }

    fn lifetime(&self) -> u32 {
        0
    }

    fn encrypt(&self, _plain: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn decrypt(&self, _cipher: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// The run's certificate check, which also counts the checks made on each thread, and keeps why it refused.
#[derive(Debug)]
struct Watched {
    inner: Arc<dyn ServerCertVerifier>,
    refused: Mutex<Option<rustls::CertificateError>>,
}

impl ServerCertVerifier for Watched {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        UNCLAIMED_CHECKS.with(|checks| checks.set(checks.get() + 1));
        let verified = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        if let (Err(rustls::Error::InvalidCertificate(reason)), Ok(mut refused)) = (&verified, self.refused.lock()) {
            *refused = Some(reason.clone());
        }
        verified
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// Why the preflight's QUIC handshake failed.
#[derive(Debug)]
pub enum Refusal {
    /// The server's certificate does not verify.
    Certificate(rustls::CertificateError),
    /// The server speaks QUIC but not HTTP/3 (the `no_application_protocol` alert, RFC 9001 §8.1).
    NoProtocol,
    /// Nothing answered within the limit: a firewall, or a server that drops what it cannot use.
    NoAnswer,
    /// Nothing listens on that UDP port: the host said so (ICMP port unreachable, RFC 1122 §4.1.3.1).
    NoListener,
    /// Anything else, as quinn says it.
    Handshake(String),
}

/// One QUIC handshake before any load, blocking (on a runtime of its own): how long it took. The connection
/// is closed at once; the session tickets the server sends right after the handshake, when they come within
/// the close's few milliseconds, stay in the run's store, and the run's first connections resume with them.
pub fn handshake_blocking(client: &Client, addr: SocketAddr, limit: Duration) -> Result<Duration, Refusal> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Refusal::Handshake(e.to_string()))?;
    runtime.block_on(async {
        let endpoint = endpoint(addr).map_err(|e| Refusal::Handshake(e.to_string()))?;
        let started = std::time::Instant::now();
        let connecting = endpoint
            .connect_with(client.config(), addr, &client.server_name)
            .map_err(|e| Refusal::Handshake(e.to_string()))?;
        // Beside the handshake, one byte from a connected socket of its own: a host with nothing on the port
        // answers it with port unreachable at once, where the handshake would wait out the limit. A QUIC
        // server drops a datagram that short (RFC 9000 §14.1).
        let unreachable = async {
            let refused = async {
                let probe = tokio::net::UdpSocket::bind(SocketAddr::new(any(addr), 0)).await?;
                probe.connect(addr).await?;
                probe.send(&[0]).await?;
                probe.recv(&mut [0u8; 1]).await
            };
            match refused.await {
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                _ => std::future::pending().await,
            }
        };
        let handshake = tokio::select! {
            handshake = tokio::time::timeout(limit, connecting) => handshake,
            () = unreachable => return Err(Refusal::NoListener),
        };
        let took = started.elapsed();
        let refusal = match handshake {
            Ok(Ok(conn)) => {
                conn.close(VarInt::from_u32(0x100), b"");
                // A moment for the CONNECTION_CLOSE to leave; the draining that follows needs no waiting.
                let _ = tokio::time::timeout(CLOSE_FLUSH, endpoint.wait_idle()).await;
                return Ok(took);
            }
            Err(_) | Ok(Err(quinn::ConnectionError::TimedOut)) => Refusal::NoAnswer,
            Ok(Err(error)) => match client.refused() {
                Some(reason) => Refusal::Certificate(reason),
                None if alert(&error) == Some(NO_APPLICATION_PROTOCOL) => Refusal::NoProtocol,
                None => Refusal::Handshake(error.to_string()),
            },
        };
        Err(refusal)
    })
}

/// The TLS alert (RFC 8446 §6) a failed QUIC handshake carried, from either side (RFC 9001 §4.8).
fn alert(error: &quinn::ConnectionError) -> Option<u8> {
    let code = match error {
        quinn::ConnectionError::TransportError(error) => error.code,
        quinn::ConnectionError::ConnectionClosed(close) => close.error_code,
        _ => return None,
    };
    (0x100..0x200).contains(&u64::from(code)).then(|| (u64::from(code) - 0x100) as u8)
}

const NO_APPLICATION_PROTOCOL: u8 = 120;

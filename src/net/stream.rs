//! The one transport the HTTP/1.x code above it reads and writes: plain TCP or TLS over TCP, a closed enum
//! (hyper-rustls' `MaybeHttpsStream`), so the connection loop of the engine and the embedded server's never fork.
//!
//! It owns opening a client connection (the TCP handshake from `socket`, then the TLS one when the run speaks
//! https, timed apart: docs/design.md §3), adopting the preflight's connection, and the two ways a connection's end is
//! observed or announced, which differ by transport: a plain socket's close is read from tokio's readiness
//! without a syscall, a TLS one is read through rustls; a TLS close is `close_notify` then FIN (RFC 8446 §6.1).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::client::Resumption;
use rustls::{ClientConnection, HandshakeKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf, Ready};
use tokio::net::TcpStream;
use tokio::time::sleep_until;
use tokio_rustls::{TlsConnector, TlsStream};

use crate::net::{socket, tls};
use crate::record::{Closer, ErrorKind, Negotiated};

/// A connection, plain or TLS; both arms read and write the same way.
pub enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A client connection just opened.
pub struct Connected {
    pub stream: Stream,
    /// When connect() was called, and when the TCP handshake ended.
    pub started: Instant,
    pub connected: Instant,
    /// The TLS handshake that followed, for https.
    pub tls: Option<Handshake>,
}

/// One TLS handshake, as the recorder wants it.
#[derive(Debug, Clone, Copy)]
pub struct Handshake {
    /// From the end of the TCP handshake to the end of the TLS handshake.
    pub took: Duration,
    /// The server accepted a session ticket (or id): an abbreviated handshake.
    pub resumed: bool,
    pub negotiated: Negotiated,
}

/// Why a client connection could not be opened.
#[derive(Debug)]
pub enum Failed {
    /// No TCP connection: nothing to close.
    Connect(io::Error),
    /// TCP connected (`connected` is when), then the TLS handshake failed, and the connection closed: `closer`
    /// says who ended it.
    Handshake { started: Instant, connected: Instant, closer: Closer },
}

/// Opens a connection to `addr` from `client_ip` (socket.rs' recipe) and, with `tls`, secures it. `limit`
/// (`--connect-timeout`) bounds the TCP and TLS handshakes together, so a server that trickles its handshake
/// out a byte at a time cannot stretch it.
pub async fn connect(
    client_ip: Option<IpAddr>,
    addr: SocketAddr,
    nodelay: bool,
    limit: Duration,
    tls: Option<&tls::Client>,
) -> Result<Connected, Failed> {
    let started = Instant::now();
    let tcp = socket::connect_from(client_ip, addr, nodelay, limit).await.map_err(Failed::Connect)?;
    let connected = Instant::now();
    let Some(client) = tls else {
        return Ok(Connected { stream: Stream::Tcp(tcp), started, connected, tls: None });
    };
    let connector = TlsConnector::from(client.config.clone());
    let left = limit.saturating_sub(connected - started);
    // Boxed: the handshake's state is KiB a plain connection's caller should not keep room for.
    match Box::pin(secure(connector.connect(client.server_name.clone(), tcp), connected, left)).await {
        Ok((stream, handshake)) => Ok(Connected { stream, started, connected, tls: Some(handshake) }),
        Err((_, closer)) => Err(Failed::Handshake { started, connected, closer }),
    }
}

/// Takes over the preflight's connection (opened blocking, before any load): its TCP handshake took
/// `tcp_took`, and with https `tls` carries the session of its finished TLS handshake and how long that took.
/// It counts as if it had just connected, so its wait for the run to start is charged to no request.
pub async fn adopt(
    tcp: std::net::TcpStream,
    tcp_took: Duration,
    tls: Option<(&tls::Client, ClientConnection, Duration)>,
) -> io::Result<Connected> {
    tcp.set_nonblocking(true)?;
    let tcp = TcpStream::from_std(tcp)?;
    let now = Instant::now();
    let Some((client, session, tls_took)) = tls else {
        return Ok(Connected { stream: Stream::Tcp(tcp), started: now - tcp_took, connected: now, tls: None });
    };
    let connected = now - tls_took;
    let handshake = finished(&session, tls_took);
    // NOTE: tokio-rustls builds a TlsStream only around a handshake it drives, so the finished session replaces
    // the fresh one before the first poll, which then has no handshake left to do. The fresh one must not take
    // a session ticket from the run's store: it is built without resumption.
    let mut config = (*client.config).clone();
    config.resumption = Resumption::disabled();
    let connector = TlsConnector::from(std::sync::Arc::new(config));
    let connecting = connector.connect_with(client.server_name.clone(), tcp, |fresh| *fresh = session);
    // No handshake is left to wait for: the limit is never reached.
    let (stream, _) = secure(connecting, now, Duration::from_secs(1)).await.map_err(|(error, _)| error)?;
    Ok(Connected { stream, started: connected - tcp_took, connected, tls: Some(handshake) })
}

/// Drives a client handshake to its end, bounded by `limit`.
async fn secure(
    connecting: tokio_rustls::Connect<TcpStream>,
    connected: Instant,
    limit: Duration,
) -> Result<(Stream, Handshake), (io::Error, Closer)> {
    let stream = match tokio::time::timeout(limit, connecting).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            let closer = handshake_closer(&error);
            return Err((error, closer));
        }
        Err(_) => {
            let error = io::Error::new(io::ErrorKind::TimedOut, format!("TLS handshake took longer than {limit:?}"));
            return Err((error, Closer::Client));
        }
    };
    let handshake = finished(stream.get_ref().1, connected.elapsed());
    Ok((Stream::Tls(Box::new(stream.into())), handshake))
}

/// Who ended a failed handshake: the server when it closed, reset or sent an alert; else the client, which
/// refused what it got (a certificate, bytes that are not TLS) or stopped waiting.
fn handshake_closer(error: &io::Error) -> Closer {
    let alert = error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    match (error.kind(), alert) {
        (_, Some(rustls::Error::AlertReceived(_))) | (io::ErrorKind::UnexpectedEof, _) => Closer::Server,
        _ if ErrorKind::of_io(error) == ErrorKind::Reset => Closer::Reset,
        _ => Closer::Client,
    }
}

/// A finished handshake, as the recorder wants it.
pub(crate) fn finished(session: &rustls::CommonState, took: Duration) -> Handshake {
    let resumed = session.handshake_kind() == Some(HandshakeKind::Resumed);
    Handshake { took, resumed, negotiated: negotiated(session) }
}

fn negotiated(session: &rustls::CommonState) -> Negotiated {
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "unknown",
    };
    let cipher = session.negotiated_cipher_suite().and_then(|s| s.suite().as_str()).unwrap_or("unknown");
    // The server may only answer with what the client offered: http/1.1, or h2 for multiplex.
    let alpn = session.alpn_protocol().map(|id| if id == crate::net::tls::ALPN_H2 { "h2" } else { "http/1.1" });
    Negotiated { version, cipher, alpn }
}

impl Stream {
    /// Did the TLS handshake choose HTTP/2 (ALPN `h2`)? Never over plain TCP.
    pub fn alpn_is_h2(&self) -> bool {
        match self {
            Stream::Tcp(_) => false,
            Stream::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(crate::net::tls::ALPN_H2),
        }
    }

    /// The TCP socket under the connection (for its options).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Reads and discards until the peer closes (its FIN or RST, and over TLS its `close_notify`) or `due`,
    /// whichever comes first; says who closed, or None when `due` came first or the read failed otherwise.
    pub async fn until_peer_closes(&mut self, scratch: &mut [u8], due: Instant) -> Option<Closer> {
        let tcp = match self {
            Stream::Tcp(tcp) => tcp,
            Stream::Tls(_) => return self.read_until_closed(scratch, due).await,
        };
        loop {
            tokio::select! {
                biased;
                ready = tcp.ready(Interest::READABLE) => match ready {
                    // The FIN is in and a short read already took everything before it (tokio cleared
                    // READABLE then and keeps READ_CLOSED): the read that would return 0 is skipped (a
                    // syscall per connection in close mode). An RST sets READABLE, so it is read.
                    Ok(ready) if ready.is_read_closed() && !(ready - Ready::READ_CLOSED).is_readable() => {
                        return Some(Closer::Server)
                    }
                    Ok(_) => match tcp.try_read(scratch) {
                        Ok(0) => return Some(Closer::Server),
                        Ok(_) => continue,
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(err) if ErrorKind::of_io(&err) == ErrorKind::Reset => return Some(Closer::Reset),
                        Err(_) => return None,
                    },
                    Err(_) => return None,
                },
                () = sleep_until(due.into()) => return None,
            }
        }
    }

    /// The TLS arm of `until_peer_closes`: rustls holds what the socket delivered, so only a read tells.
    async fn read_until_closed(&mut self, scratch: &mut [u8], due: Instant) -> Option<Closer> {
        loop {
            tokio::select! {
                biased;
                read = self.read(scratch) => match read {
                    Ok(0) => return Some(Closer::Server),
                    Ok(_) => continue,
                    Err(err) if ErrorKind::of_io(&err) == ErrorKind::Reset => return Some(Closer::Reset),
                    Err(_) => return None,
                },
                () = sleep_until(due.into()) => return None,
            }
        }
    }

    /// The client closes first: over TLS it says so with `close_notify` (RFC 8446 §6.1) before its FIN, waiting
    /// at most `limit` for the write. A plain socket needs nothing: dropping it sends the FIN.
    pub async fn close_notify(&mut self, limit: Duration) {
        if let Stream::Tls(tls) = self {
            let _ = tokio::time::timeout(limit, tls.shutdown()).await;
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => match Pin::new(tls.as_mut()).poll_read(cx, buf) {
                // A FIN without close_notify is an incomplete close, which HTTP tolerates (RFC 9112 §9.8): the
                // message framing, not the alert, says whether the response was whole. It reads as end of stream.
                Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(())),
                other => other,
            },
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

//! The embedded server's HTTP/3 (RFC 9114): with TLS, a QUIC endpoint on the TCP listener's port over UDP
//! (quinn), each connection served by the h3 crate and each request answered in a task of its own, so a
//! delayed response holds up no other. 0-RTT requests are answered before the handshake ends (0.5-RTT).
//!
//! The knobs that mean something for HTTP/3: `delay`, `stall`, `status`, `body_size`, `reset` (each stream is
//! reset with H3_INTERNAL_ERROR instead of answered), `goaway_after` (GOAWAY after N requests on a
//! connection, later streams rejected with H3_REQUEST_REJECTED, RFC 9114 §5.2), `max_concurrent_streams`
//! (the request streams a client may open at once: QUIC's stream credit, RFC 9000 §4.6) and `idle_timeout`
//! (QUIC's idle timeout). The HTTP/1.x connection knobs do not apply.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use h3::error::Code;
use h3::server::RequestResolver;
use http::{Method, Response, StatusCode};
use tokio::task::JoinSet;

use super::conn::Shared;
use super::render::bodyless;
use super::ServerConfig;
use crate::net::quic;

type Resolver = RequestResolver<h3_quinn::Connection, Bytes>;

/// The application close of a connection with nothing wrong (RFC 9114 §8.1).
const H3_NO_ERROR: quinn::VarInt = quinn::VarInt::from_u32(0x100);

/// With TLS, the QUIC endpoint beside the TCP listener at `addr` (same IP and port, over UDP), in the
/// current runtime; without TLS none (QUIC is always encrypted), nor with TLS 1.2 alone (`--tls-version
/// 1.2`: QUIC carries TLS 1.3 only).
pub(super) fn listen(addr: SocketAddr, config: &ServerConfig) -> io::Result<Option<quinn::Endpoint>> {
    let Some(tls) = &config.tls else { return Ok(None) };
    let Ok(quic) = quic::server_config(tls, config.max_concurrent_streams, config.idle_timeout) else {
        return Ok(None);
    };
    let endpoint = quic::server_endpoint(quic, addr)
        .map_err(|e| io::Error::new(e.kind(), format!("HTTP/3 on UDP {addr}: {e}")))?;
    Ok(Some(endpoint))
}

/// The next connection attempt, if the endpoint exists; otherwise (or once it is closed) never.
pub(super) async fn accept(endpoint: Option<&quinn::Endpoint>) -> quinn::Incoming {
    match endpoint {
        Some(endpoint) => match endpoint.accept().await {
            Some(incoming) => incoming,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// One QUIC connection, from its first packet to its close.
pub(super) async fn serve(incoming: quinn::Incoming, shared: Arc<Shared>) {
    let Ok(connecting) = incoming.accept() else { return };
    // A server's into_0rtt always succeeds: requests sent in 0-RTT are answered at once.
    let conn = match connecting.into_0rtt() {
        Ok((conn, _)) => conn,
        Err(connecting) => match connecting.await {
            Ok(conn) => conn,
            Err(_) => return,
        },
    };
    let built = h3::server::builder().send_grease(false).build(h3_quinn::Connection::new(conn.clone())).await;
    let Ok(mut connection) = built else { return };
    let config = &shared.config;
    let open = Arc::new(AtomicU64::new(0));
    let mut answering = JoinSet::new();
    let mut accepted = 0u64;
    loop {
        tokio::select! {
            next = connection.accept() => match next {
                Ok(Some(resolver)) => {
                    accepted += 1;
                    shared.stats.requests.fetch_add(1, Relaxed);
                    let in_flight = open.fetch_add(1, Relaxed) + 1;
                    shared.stats.max_in_flight.fetch_max(in_flight, Relaxed);
                    answering.spawn(answer(resolver, shared.clone(), open.clone()));
                    if config.goaway_after == Some(accepted) {
                        // GOAWAY: what is open is answered, what comes later is rejected (h3 does both).
                        shared.stats.closed_by_server.fetch_add(1, Relaxed);
                        if connection.shutdown(0).await.is_err() {
                            break;
                        }
                    }
                }
                // After a GOAWAY, once every request is answered; or the client closed.
                Ok(None) | Err(_) => break,
            },
            Some(_) = answering.join_next(), if !answering.is_empty() => {}
        }
    }
    while answering.join_next().await.is_some() {}
    conn.close(H3_NO_ERROR, b"");
}

/// Reads the request and its body away, waits as configured, then answers the stream (or resets it).
async fn answer(resolver: Resolver, shared: Arc<Shared>, open: Arc<AtomicU64>) {
    let config = &shared.config;
    let Ok((request, mut stream)) = resolver.resolve_request().await else {
        open.fetch_sub(1, Relaxed);
        return;
    };
    let head_only = request.method() == Method::HEAD;
    loop {
        match stream.recv_data().await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                open.fetch_sub(1, Relaxed);
                return;
            }
        }
    }
    shared.answer_stream(&open).await;
    if config.reset {
        stream.stop_stream(Code::H3_INTERNAL_ERROR);
        return;
    }
    let body = shared.h2_body();
    let no_body = head_only || bodyless(config.status) || body.is_empty();
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::from_u16(config.status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(http::header::CONTENT_LENGTH, body.len().into());
    if stream.send_response(response).await.is_err() {
        return;
    }
    if !no_body && stream.send_data(body).await.is_err() {
        return;
    }
    let _ = stream.finish().await;
}

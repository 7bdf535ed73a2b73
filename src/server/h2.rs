//! The embedded server's HTTP/2: a connection that opens with the client preface (h2c with prior knowledge,
//! RFC 9113 §3.3) is served by the `h2` crate, each stream answered in a task of its own, so a delayed
//! response holds up no other on the connection. The knobs that mean something for HTTP/2: `delay`,
//! `stall`, `status`, `body_size`, `reset` (each stream is answered with RST_STREAM INTERNAL_ERROR instead),
//! `goaway_after` (GOAWAY after N streams) and `max_concurrent_streams` (SETTINGS_MAX_CONCURRENT_STREAMS).
//! The HTTP/1.x connection knobs (chunked, HTTP/1.0, Keep-Alive, close after, idle timeout, truncate) do not
//! apply.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use http::{Method, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::conn::{self, Shared};
use super::page::{self, Resource};
use super::render::bodyless;
use crate::http::preface::starts_like_preface;

/// Windows granted to clients: a large body is never held up by the server's credit on loopback.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 16 << 20;

/// HTTP/2 when the first bytes are the client preface, HTTP/1.x otherwise: one peek per connection decides,
/// bounded by the idle limit as a first request is.
pub(super) async fn serve_either(stream: TcpStream, shared: Arc<Shared>) {
    // Over TLS, HTTP/2 is chosen by ALPN in the handshake (`conn::serve` hands it over), and the bytes to
    // peek at would be the TLS ClientHello anyway.
    if shared.config.tls.is_some() {
        return conn::serve(stream, shared).await;
    }
    let mut first = [0u8; 24];
    let peeked = async {
        loop {
            match stream.peek(&mut first).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => match starts_like_preface(&first[..n]) {
                    Some(h2) => return Some(h2),
                    // Two bytes of "PRI" and no more yet: wait for the rest rather than spin on the peek.
                    None => tokio::time::sleep(Duration::from_millis(1)).await,
                },
            }
        }
    };
    let decided = match shared.config.idle_limit(0) {
        Some(limit) => match tokio::time::timeout(limit, peeked).await {
            Ok(decided) => decided,
            Err(_) => return conn::close_idle(stream, &shared).await,
        },
        None => peeked.await,
    };
    match decided {
        Some(true) => {
            let _ = stream.set_nodelay(true);
            serve(stream, shared).await
        }
        Some(false) => conn::serve(stream, shared).await,
        None => {}
    }
}

/// One HTTP/2 connection, over TCP (h2c) or TLS (ALPN h2).
pub(super) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, shared: Arc<Shared>) {
    let config = &shared.config;
    let mut builder = h2::server::Builder::new();
    builder.initial_window_size(STREAM_WINDOW).initial_connection_window_size(CONNECTION_WINDOW);
    if let Some(max) = config.max_concurrent_streams {
        builder.max_concurrent_streams(max);
    }
    let Ok(mut connection) = builder.handshake::<_, Bytes>(stream).await else {
        return;
    };
    let open = Arc::new(AtomicU64::new(0));
    let mut answering = JoinSet::new();
    let mut accepted = 0u64;
    loop {
        tokio::select! {
            next = connection.accept() => match next {
                Some(Ok((request, mut respond))) => {
                    if config.goaway_after.is_some_and(|n| accepted >= n) {
                        // Arrived after the GOAWAY: not processed (RFC 9113 §8.7), the client may send it again.
                        respond.send_reset(Reason::REFUSED_STREAM);
                        continue;
                    }
                    accepted += 1;
                    shared.stats.requests.fetch_add(1, Relaxed);
                    let path = config.count_paths.then(|| {
                        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
                        let key = format!("{} {path}", request.method());
                        shared.stats.count_path(key.clone(), request.headers().keys().map(|name| name.as_str()));
                        key
                    });
                    let in_flight = open.fetch_add(1, Relaxed) + 1;
                    shared.stats.max_in_flight.fetch_max(in_flight, Relaxed);
                    if config.goaway_after == Some(accepted) {
                        shared.stats.closed_by_server.fetch_add(1, Relaxed);
                        connection.graceful_shutdown();
                    }
                    answering.spawn(answer(request, respond, shared.clone(), open.clone(), path));
                }
                Some(Err(_)) | None => break,
            },
            Some(_) = answering.join_next(), if !answering.is_empty() => {}
        }
    }
}

/// Reads the request body away (counting its bytes to `path`, with `count_paths`), waits as configured, then
/// answers the stream (or resets it).
async fn answer(
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    shared: Arc<Shared>,
    open: Arc<AtomicU64>,
    path: Option<String>,
) {
    let config = &shared.config;
    let head_only = request.method() == Method::HEAD;
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let resource = page::resource(target.as_bytes());
    let mut body = request.into_body();
    let mut body_bytes = 0;
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else {
            open.fetch_sub(1, Relaxed);
            return;
        };
        body_bytes += chunk.len() as u64;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    if let Some(path) = &path {
        shared.stats.count_body(path, body_bytes);
    }
    shared.answer_stream(&open).await;
    if config.reset {
        respond.send_reset(Reason::INTERNAL_ERROR);
        return;
    }
    let (status, body_bytes) = match resource {
        Resource::Plain => (config.status, shared.h2_body()),
        Resource::Bad => (400, Bytes::new()),
        page => (config.status, Bytes::copy_from_slice(&shared.page(page).bodies[0])),
    };
    let no_body = head_only || bodyless(status) || body_bytes.is_empty();
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(http::header::CONTENT_LENGTH, body_bytes.len().into());
    match respond.send_response(response, no_body) {
        Ok(mut stream) if !no_body => {
            let _ = stream.send_data(body_bytes, true);
        }
        Ok(_) => {}
        Err(_) => respond.send_reset(Reason::INTERNAL_ERROR),
    }
}

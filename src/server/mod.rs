//! The embedded HTTP/1.x and h2c server: the target `connbench run` benchmarks when no URL is given, the server behind
//! `connbench serve`, and the controllable peer the project's tests aim at (fault knobs: delay, status, chunked,
//! HTTP/1.0, `Keep-Alive: timeout=, max=`, close after N, idle timeout, reset instead of close, truncation).
//!
//! # What it owns
//!
//! The accept loop ([`run`], stopped by a shutdown future, mini-redis style), one task per connection, the
//! request-head parsing (httparse), request-body discarding, and the rendering of responses. It reports what it
//! saw in [`ServerStats`], so tests can check the client's figures against the server's own. It depends on
//! tokio, httparse, and for https tokio-rustls through `net::stream` (the client's transport enum): no socket2
//! (`SO_LINGER 0` goes through tokio), no logging, nothing on stdout.
//!
//! # Layout
//!
//! - this file: [`ServerConfig`], [`ServerStats`], and the ways to start a server ([`run`], [`spawn_local`],
//!   [`spawn_thread`]);
//! - `request`: request-head parsing and request-body discarding, pure functions over bytes;
//! - `render`: the responses, rendered once per config;
//! - `conn`: one HTTP/1.x connection, from accept to close;
//! - `h2`: HTTP/2 with prior knowledge (h2c), told from HTTP/1.x by one peek at a new connection's first bytes;
//! - `h3`: with TLS, HTTP/3 over QUIC on the same port over UDP;
//! - `page`: the page `connbench page` loads with no URL, `/page?objects=N&size=B`, and its objects;
//! - `tests`: the socket-level tests.
//!
//! # Why it is built for speed
//!
//! It shares a 2-core machine with the client in-process, so every microsecond it spends is taken from the
//! figures being measured, and pipelining must show its gain (fewer syscalls per request) instead of being hidden
//! by a slow peer. Hence:
//! - every response variant is rendered once per config ([`ServerConfig`] -> `Rendered`); the hot path only
//!   copies bytes, never formats;
//! - one reused read buffer per connection (4 KiB, doubling up to 64 KiB only when reads keep filling it, e.g.
//!   large bodies or deep pipelines), request bodies are discarded as they arrive and never buffered whole;
//! - every complete request found in the buffer is parsed first, then all of them are answered in order into one
//!   reused output buffer, written with ONE write: a pipelined batch costs one read and one write;
//! - httparse with an uninitialised fixed header array (no memset per request), no Date header, stats counters
//!   published once per write rather than once per request;
//! - no per-request allocation on the common path.
//!
//! # Protocol choices
//!
//! - HTTP/1.1 requests keep the connection unless `Connection: close`; HTTP/1.0 requests (and every request in
//!   `http10` mode) keep it only with `Connection: keep-alive`, answered with `Connection: Keep-Alive`.
//! - Request bodies: `Content-Length` and `Transfer-Encoding: chunked` are both supported (read and discarded);
//!   a request with both, another transfer coding, or a bad length gets 400 and the connection is closed.
//!   `Expect: 100-continue` (HTTP/1.1) gets `100 Continue` once the earlier requests have been answered.
//! - A malformed request gets 400 + `Connection: close`; a request head that does not fit in 64 KiB gets 431.
//! - Chunked responses are sent to HTTP/1.1 requests only; HTTP/1.0 requests get `Content-Length`.
//! - Outside `http10` mode, HTTP/1.0 requests get an `HTTP/1.1` status line, as any HTTP/1.1 server sends.
//! - Statuses that cannot carry a body (1xx, 204, 304) are sent without body and without framing headers.
//! - With `keep_alive_if_asked`, `Keep-Alive:` is sent only to requests with `Connection: keep-alive`, as
//!   Apache does (its `ap_set_keepalive`); otherwise to every persistent response when its knobs are set.
//! - `Keep-Alive: max=M` counts down as Apache's does: it is the number of requests the server still takes after
//!   this response (M on the first, 1 on the Mth), and response M+1 carries `Connection: close`.
//! - A graceful close is `shutdown(Write)` then drop; if the client has already sent more (requests the server
//!   drops), they are read away for at most a second first, so the kernel sends FIN rather than RST (lingering
//!   close, RFC 9112 §9.6).

mod conn;
mod h2;
mod h3;
pub mod page;
mod render;
mod request;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use conn::Shared;

/// Pause after an accept error such as EMFILE, so a full fd table does not turn the loop into a spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Listen backlog of every listener the server makes ([`listen`]). std's and tokio's 128 overflow when a
/// client opens a few hundred connections at once while the server is busy answering the first ones: the
/// kernel then drops the SYNs beyond the queue, and those connects wait a whole second for the SYN's
/// retransmission.
const BACKLOG: u32 = 1024;
/// The longest a client may take over its TLS handshake when no `idle_timeout` says otherwise.
pub const TLS_HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

/// The server's behaviour, including its fault knobs. Every field is public; start from `Default`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Body length in bytes. The default 12 sends `b"hello world\n"`; any other size sends that many `b'x'`
    /// (a recognisable greeting for the default, a trivially checkable filler for every other size).
    pub body_size: usize,
    /// Wait this long before answering each request (per request: pipelined ones are answered one delay apart,
    /// in order, each written as soon as its delay ends).
    pub delay: Duration,
    /// Response status, 100..=999 (reason phrase from a small table, else "Unknown").
    pub status: u16,
    /// Send the body with `Transfer-Encoding: chunked` (one data chunk) instead of `Content-Length`
    /// (to HTTP/1.1 requests only; not allowed together with `http10`).
    pub chunked: bool,
    /// Behave as an HTTP/1.0 server: status line `HTTP/1.0`; keep the connection only if the request says
    /// `Connection: keep-alive` (then reply `Connection: Keep-Alive`), otherwise close after the response.
    pub http10: bool,
    /// Advertise `Keep-Alive: max=` counting down from M (requests still allowed after each response) and close
    /// after M+1 responses on a connection (the last carries `Connection: close`), as Apache's
    /// `MaxKeepAliveRequests M` does. At least 1.
    pub keep_alive_max: Option<u32>,
    /// Advertise `Keep-Alive: timeout=T` (whole seconds, rounded down) and close connections idle longer than T.
    pub keep_alive_timeout: Option<Duration>,
    /// Advertise `Keep-Alive:` (and `Connection: Keep-Alive`) only in answer to a request that asks for
    /// keep-alive (`Connection: keep-alive`), as Apache does; an HTTP/1.1 connection persists either way, and
    /// the response that ends it still says `Connection: close`.
    pub keep_alive_if_asked: bool,
    /// Close the connection after N responses WITHOUT announcing it, even with further requests already
    /// received and unanswered: a server dropping pipelined requests, or a busy one closing idle connections
    /// early. 0 closes on the first request bytes. A range draws N per connection.
    pub close_after: Option<CloseAfter>,
    /// `close_after` applies to the first N connections accepted only; later ones are served without it: a
    /// server whose limit is lifted mid-run (nginx reloaded with a larger `keepalive_requests`, a busy moment
    /// over).
    pub lift_close_after: Option<u64>,
    /// Close silently a connection idle (no request bytes) this long.
    pub idle_timeout: Option<Duration>,
    /// Whenever the server would close a connection, reset it instead (`SO_LINGER 0` then drop: RST). Over
    /// HTTP/2, each stream is reset (RST_STREAM INTERNAL_ERROR) instead of answered.
    pub reset: bool,
    /// One stall in the whole run, as a garbage-collection pause or a lock would make: the answer to the
    /// server's request number `after + 1` (counted over all connections) waits `length` first.
    pub stall: Option<Stall>,
    /// Every response announces its full length but sends only half of the body (rounded down), then the
    /// connection is closed (or reset). With `chunked`, the chunk-size line is sent with half the chunk data.
    pub truncate: bool,
    /// Speak https with this TLS configuration (`net::tls::Identity` makes one): every connection begins with
    /// a TLS handshake, bounded by `idle_timeout` or [`TLS_HANDSHAKE_LIMIT`].
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// HTTP/2: after N streams on a connection, send GOAWAY (a graceful shutdown, RFC 9113 §6.8) and refuse
    /// (REFUSED_STREAM) any stream that still arrives.
    pub goaway_after: Option<u64>,
    /// HTTP/2: SETTINGS_MAX_CONCURRENT_STREAMS, the streams a client may have open at once (RFC 9113 §6.5.2).
    pub max_concurrent_streams: Option<u32>,
    /// Count requests by method and path ([`ServerStats::paths`]), for the tests of `--targets`: a lock per
    /// request, which a server measured for speed does without.
    pub count_paths: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            body_size: 12,
            delay: Duration::ZERO,
            status: 200,
            chunked: false,
            http10: false,
            keep_alive_max: None,
            keep_alive_timeout: None,
            keep_alive_if_asked: false,
            close_after: None,
            lift_close_after: None,
            idle_timeout: None,
            reset: false,
            stall: None,
            truncate: false,
            tls: None,
            goaway_after: None,
            max_concurrent_streams: None,
            count_paths: false,
        }
    }
}

/// See [`ServerConfig::close_after`]: `N`, or `N-M` for a number drawn uniformly from N..=M per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseAfter {
    pub fewest: u64,
    pub most: u64,
}

impl CloseAfter {
    pub const fn exactly(n: u64) -> CloseAfter {
        CloseAfter { fewest: n, most: n }
    }

    /// The limit of connection number `index`: a fixed draw (splitmix64 of the index), so a test run is
    /// repeatable and needs no random number crate.
    fn draw(self, index: u64) -> u64 {
        let mut z = index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        self.fewest + z % (self.most - self.fewest + 1)
    }
}

impl std::str::FromStr for CloseAfter {
    type Err = String;

    fn from_str(text: &str) -> Result<CloseAfter, String> {
        let number = |t: &str| t.trim().parse::<u64>().map_err(|_| format!("'{text}' is not N or N-M (whole numbers)"));
        let (fewest, most) = match text.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(text)?, number(text)?),
        };
        if fewest > most {
            return Err(format!("'{text}': the range must go from fewer to more"));
        }
        Ok(CloseAfter { fewest, most })
    }
}

/// See [`ServerConfig::stall`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    pub after: u64,
    pub length: Duration,
}

impl ServerConfig {
    /// Rejects combinations that cannot be served; [`run`] and [`spawn_local`] call it first. The error says
    /// how to fix the configuration.
    pub fn validate(&self) -> io::Result<()> {
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if !(100..=999).contains(&self.status) {
            return invalid(format!("status {} is not a three-digit HTTP status; use 100..=999", self.status));
        }
        if self.http10 && self.chunked {
            return invalid("chunked transfer coding does not exist in HTTP/1.0; drop either chunked or http10".into());
        }
        if self.keep_alive_max == Some(0) {
            return invalid("keep_alive_max must be at least 1 (use close_after = 0 to close at once)".into());
        }
        Ok(())
    }

    /// How long a connection may wait for request bytes: `idle_timeout`, and once a response has been sent,
    /// the shorter of it and `keep_alive_timeout`. As in Apache (`KeepAliveTimeout`) and nginx
    /// (`keepalive_timeout`), the keep-alive timeout runs between requests, not before the first.
    fn idle_limit(&self, served: u64) -> Option<Duration> {
        let keep_alive = self.keep_alive_timeout.filter(|_| served > 0);
        match (self.idle_timeout, keep_alive) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Counters the tests read to check the client's figures against the server's own.
///
/// Requests and responses are published just before the write that answers them, so a client that has read a
/// response always sees it counted.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Complete request heads received (counted when parsed; a malformed request is not counted, its 400 is).
    pub requests: AtomicU64,
    /// Responses written (fully or, with `truncate`, partially).
    pub responses: AtomicU64,
    /// Connections the server closed (or reset) first.
    pub closed_by_server: AtomicU64,
    /// Largest number of requests found unanswered on one connection at once (pipelining depth observed):
    /// every complete request in a read's buffer is counted before any of them is answered. Over HTTP/2, the
    /// most streams open at once on one connection.
    pub max_in_flight: AtomicU64,
    /// Times a POST or PATCH request arrived while another request on the same connection was still
    /// unanswered (tests assert 0 for the client's non-idempotent rule).
    pub methods_post_overlap: AtomicU64,
    /// With TLS: handshakes that began a new session, that resumed one, and that failed.
    pub tls_full: AtomicU64,
    pub tls_resumed: AtomicU64,
    pub tls_failed: AtomicU64,
    /// With `count_paths`: requests by `METHOD /path?query`.
    paths: Mutex<BTreeMap<String, PathCount>>,
}

/// What the server saw of the requests to one method and path (with [`ServerConfig::count_paths`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathCount {
    pub requests: u64,
    /// Request body bytes.
    pub body_bytes: u64,
    /// The names of the headers they carried, in lower case.
    pub headers: BTreeSet<String>,
}

/// A plain copy of [`ServerStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    pub connections: u64,
    pub requests: u64,
    pub responses: u64,
    pub closed_by_server: u64,
    pub max_in_flight: u64,
    pub methods_post_overlap: u64,
    pub tls_full: u64,
    pub tls_resumed: u64,
    pub tls_failed: u64,
}

impl ServerStats {
    /// Requests by `METHOD /path?query`, with `count_paths`.
    pub fn paths(&self) -> BTreeMap<String, PathCount> {
        self.paths.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// A request to `key` (`METHOD /path`) with these header names.
    pub(crate) fn count_path<'a>(&self, key: String, headers: impl Iterator<Item = &'a str>) {
        let mut paths = self.paths.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = paths.entry(key).or_default();
        count.requests += 1;
        count.headers.extend(headers.map(str::to_ascii_lowercase));
    }

    /// Body bytes of a request to `key`.
    pub(crate) fn count_body(&self, key: &str, bytes: u64) {
        let mut paths = self.paths.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        paths.entry(key.to_string()).or_default().body_bytes += bytes;
    }

    /// Reads every counter (each atomically, not all at one instant).
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections: self.connections.load(Relaxed),
            requests: self.requests.load(Relaxed),
            responses: self.responses.load(Relaxed),
            closed_by_server: self.closed_by_server.load(Relaxed),
            max_in_flight: self.max_in_flight.load(Relaxed),
            methods_post_overlap: self.methods_post_overlap.load(Relaxed),
            tls_full: self.tls_full.load(Relaxed),
            tls_resumed: self.tls_resumed.load(Relaxed),
            tls_failed: self.tls_failed.load(Relaxed),
        }
    }
}

/// Serve on an already-bound listener until `shutdown` completes; then stop accepting and return. Open
/// connections are dropped (their tasks aborted) on return.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    stats: Arc<ServerStats>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    config.validate()?;
    let quic = h3::listen(listener.local_addr()?, &config)?;
    let shared = Arc::new(Shared::new(config, stats));
    // Owning the connection tasks lets shutdown take them down with the listener.
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            incoming = h3::accept(quic.as_ref()) => {
                shared.stats.connections.fetch_add(1, Relaxed);
                tasks.spawn(h3::serve(incoming, Arc::clone(&shared)));
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    shared.stats.connections.fetch_add(1, Relaxed);
                    tasks.spawn(h2::serve_either(stream, Arc::clone(&shared)));
                }
                // The client gave up between SYN and accept: nothing to do.
                Err(e) if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
                ) => {}
                // EMFILE, ENFILE, ENOBUFS...: retrying at once would spin at 100 % CPU while nothing frees up.
                Err(_) => tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                },
            },
        }
    }
    tasks.abort_all();
    if let Some(quic) = quic {
        quic.close(0u32.into(), b"");
    }
    Ok(())
}

/// Binds `addr` and listens with the server's backlog: what [`spawn_local`], [`spawn_thread`] and `connbench
/// serve` all listen with. Call it inside the tokio runtime that will serve the listener.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As std and tokio's bind do: a restarted `serve` may take its port back while old connections wait.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// A server started by [`spawn_local`]. Dropping it without [`ServerHandle::shutdown`] leaves the server
/// running until the tokio runtime ends.
#[derive(Debug)]
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub stats: Arc<ServerStats>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl ServerHandle {
    /// Stops accepting, drops the open connections and waits for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// For tests and `connbench run` with no URL: binds 127.0.0.1:0, spawns [`run`] on the current tokio runtime
/// and returns a handle with the address and the counters.
pub async fn spawn_local(config: ServerConfig) -> io::Result<ServerHandle> {
    config.validate()?;
    let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(ServerStats::default());
    let (stop, stopped) = oneshot::channel();
    let shutdown = async move {
        // A dropped handle is not a shutdown request.
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let task = tokio::spawn(run(listener, config, Arc::clone(&stats), shutdown));
    Ok(ServerHandle { addr, stats, stop, task })
}

/// The server on a thread of its own, with its own current-thread runtime: what `connbench run`
/// uses when no URL is given, and what tests use beside the engine (whose threads block on joins).
pub struct ServerThread {
    pub addr: SocketAddr,
    pub stats: Arc<ServerStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Binds 127.0.0.1:0 and serves on a new thread until the handle is dropped.
pub fn spawn_thread(config: ServerConfig) -> io::Result<ServerThread> {
    config.validate()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // The listener belongs to the runtime that serves it.
    let listener = {
        let _inside = runtime.enter();
        listen(SocketAddr::from(([127, 0, 0, 1], 0)))?
    };
    let addr = listener.local_addr()?;
    let stats = Arc::new(ServerStats::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name("connbench-server".into()).spawn({
        let stats = stats.clone();
        move || {
            let served = runtime.block_on(async move {
                run(listener, config, stats, async {
                    let _ = stopped.await;
                })
                .await
            });
            if let Err(err) = served {
                eprintln!("connbench: embedded server stopped: {err}");
            }
        }
    })?;
    Ok(ServerThread { addr, stats, stop: Some(stop), thread: Some(thread) })
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

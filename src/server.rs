//! The embedded HTTP/1.x server: the target `connbench run` benchmarks when no URL is given, the server behind
//! `connbench serve`, and the controllable peer the project's tests aim at (fault knobs: delay, status, chunked,
//! HTTP/1.0, `Keep-Alive: timeout=, max=`, close after N, idle timeout, reset instead of close, truncation).
//!
//! # What it owns
//!
//! The accept loop ([`run`], stopped by a shutdown future, mini-redis style), one task per connection, the
//! request-head parsing (httparse), request-body discarding, and the rendering of responses. It reports what it
//! saw in [`ServerStats`], so tests can check the client's figures against the server's own. It depends on
//! tokio and httparse only: no socket2 (`SO_LINGER 0` goes through tokio), no logging, nothing on stdout.
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
//! - `Keep-Alive: max=M` is the same M on every response of a connection (the per-connection limit), not a
//!   countdown as Apache sends.
//! - A graceful close is `shutdown(Write)` then drop; if the client has already sent more (requests the server
//!   drops), they are read away for at most a second first, so the kernel sends FIN rather than RST (lingering
//!   close, RFC 9112 §9.6).

use std::future::Future;
use std::io::{self, Read as _};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// First size of a connection's read buffer: enough for a deep pipeline of ordinary requests, small enough for
/// 10,000 idle connections.
const READ_BUF_INITIAL: usize = 4 * 1024;
/// The read buffer never grows beyond this: a request head must fit in it (else 431).
const READ_BUF_MAX: usize = 64 * 1024;
/// Compact the buffer (move a partial request to the front) when less than this is free behind it.
const READ_MIN_SPACE: usize = 1024;
/// Headers per request; more is answered 400.
const MAX_HEADERS: usize = 64;
/// Bodies up to this size are copied into the output buffer; larger ones are written straight from the
/// pre-rendered bytes so that a deep pipeline of large responses does not inflate the buffer.
const INLINE_BODY_MAX: usize = 16 * 1024;
/// The longest a lingering close reads away what the client sent after the server decided to close.
const LINGER: Duration = Duration::from_secs(1);
/// Pause after an accept error such as EMFILE, so a full fd table does not turn the loop into a spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Listen backlog for [`spawn_local`] (std's default of 128 drops SYNs under parallel-mode load).
const BACKLOG: u32 = 1024;
/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

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
    /// Advertise `Keep-Alive: max=M` and close after M responses on a connection (the Mth carries
    /// `Connection: close`). At least 1.
    pub keep_alive_max: Option<u32>,
    /// Advertise `Keep-Alive: timeout=T` (whole seconds, rounded down) and close connections idle longer than T.
    pub keep_alive_timeout: Option<Duration>,
    /// Close the connection after N responses WITHOUT announcing it, even with further requests already
    /// received and unanswered: a server dropping pipelined requests. 0 closes on the first request bytes.
    pub close_after: Option<u64>,
    /// Close silently a connection idle (no request bytes) this long.
    pub idle_timeout: Option<Duration>,
    /// Whenever the server would close a connection, reset it instead (`SO_LINGER 0` then drop: RST).
    pub reset: bool,
    /// Every response announces its full length but sends only half of the body (rounded down), then the
    /// connection is closed (or reset). With `chunked`, the chunk-size line is sent with half the chunk data.
    pub truncate: bool,
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
            close_after: None,
            idle_timeout: None,
            reset: false,
            truncate: false,
        }
    }
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

    /// How long a connection may wait for request bytes: the shorter of `idle_timeout` and `keep_alive_timeout`.
    fn idle_limit(&self) -> Option<Duration> {
        match (self.idle_timeout, self.keep_alive_timeout) {
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
    /// every complete request in a read's buffer is counted before any of them is answered.
    pub max_in_flight: AtomicU64,
    /// Times a POST or PATCH request arrived while another request on the same connection was still
    /// unanswered (tests assert 0 for the client's non-idempotent rule).
    pub methods_post_overlap: AtomicU64,
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
}

impl ServerStats {
    /// Reads every counter (each atomically, not all at one instant).
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections: self.connections.load(Relaxed),
            requests: self.requests.load(Relaxed),
            responses: self.responses.load(Relaxed),
            closed_by_server: self.closed_by_server.load(Relaxed),
            max_in_flight: self.max_in_flight.load(Relaxed),
            methods_post_overlap: self.methods_post_overlap.load(Relaxed),
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
    let shared = Arc::new(Shared::new(config, stats));
    // Owning the connection tasks lets shutdown take them down with the listener.
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    shared.stats.connections.fetch_add(1, Relaxed);
                    tasks.spawn(serve(stream, Arc::clone(&shared)));
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
    Ok(())
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
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let listener = socket.listen(BACKLOG)?;
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

// ---------------------------------------------------------------------------------------------------------
// Pre-rendered responses

/// How a response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length = 0,
    Chunked = 1,
}

/// Which connection headers a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnHeader {
    /// HTTP/1.1 persistence: nothing, or `Connection: Keep-Alive` + `Keep-Alive:` when its knobs are set.
    Keep11 = 0,
    /// HTTP/1.0 persistence: `Connection: Keep-Alive` (+ `Keep-Alive:` when its knobs are set).
    Keep10 = 1,
    /// `Connection: close`.
    Close = 2,
}

/// Every byte the server sends, rendered once per config.
#[derive(Debug)]
struct Rendered {
    /// Response heads, by `[Framing][ConnHeader]`.
    heads: [[Box<[u8]>; 3]; 2],
    /// The body as framed, by `[Framing]` (the raw bytes, or one chunk and the last chunk).
    bodies: [Box<[u8]>; 2],
    /// How many bytes of `bodies[framing]` a truncated response sends.
    truncated: [usize; 2],
    /// Complete 400 and 431 responses, with `Connection: close`.
    bad_request: Box<[u8]>,
    too_large: Box<[u8]>,
}

/// Reason phrases for the statuses people ask for; anything else is "Unknown".
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Statuses whose responses never have a body (RFC 9110 §6.4.1).
fn bodyless(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

impl Rendered {
    fn new(config: &ServerConfig) -> Self {
        let version = if config.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let no_body = bodyless(config.status);
        let size = if no_body { 0 } else { config.body_size };
        let data: Vec<u8> = if size == 12 { b"hello world\n".to_vec() } else { vec![b'x'; size] };

        let mut keep_alive = Vec::new();
        if let Some(t) = config.keep_alive_timeout {
            keep_alive.push(format!("timeout={}", t.as_secs()));
        }
        if let Some(m) = config.keep_alive_max {
            keep_alive.push(format!("max={m}"));
        }
        let keep_alive_line = if keep_alive.is_empty() {
            String::new()
        } else {
            format!("Connection: Keep-Alive\r\nKeep-Alive: {}\r\n", keep_alive.join(", "))
        };
        let conn_lines = [
            keep_alive_line.clone(),
            if keep_alive_line.is_empty() { "Connection: Keep-Alive\r\n".to_string() } else { keep_alive_line },
            "Connection: close\r\n".to_string(),
        ];
        let framing_lines = if no_body {
            [String::new(), String::new()]
        } else {
            [format!("Content-Length: {size}\r\n"), "Transfer-Encoding: chunked\r\n".to_string()]
        };
        let status_line =
            format!("{version} {} {}\r\nContent-Type: text/plain\r\n", config.status, reason(config.status));
        let heads = framing_lines.map(|framing| {
            conn_lines.clone().map(|conn| format!("{status_line}{framing}{conn}\r\n").into_bytes().into_boxed_slice())
        });

        let mut chunked = Vec::with_capacity(size + 32);
        let mut chunk_prefix = 0;
        if size > 0 {
            chunked.extend_from_slice(format!("{size:x}\r\n").as_bytes());
            chunk_prefix = chunked.len();
            chunked.extend_from_slice(&data);
            chunked.extend_from_slice(b"\r\n");
        }
        if !no_body {
            chunked.extend_from_slice(b"0\r\n\r\n");
        }
        let half = size / 2;
        let truncated = [half, if size > 0 { chunk_prefix + half } else { 0 }];

        let error = |status: u16| {
            let body = format!("{}\n", reason(status).to_ascii_lowercase());
            format!(
                "{version} {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                reason(status),
                body.len()
            )
            .into_bytes()
            .into_boxed_slice()
        };
        Rendered {
            heads,
            bodies: [data.into_boxed_slice(), chunked.into_boxed_slice()],
            truncated,
            bad_request: error(400),
            too_large: error(431),
        }
    }
}

/// What every connection task shares.
struct Shared {
    config: ServerConfig,
    stats: Arc<ServerStats>,
    rendered: Rendered,
    idle: Option<Duration>,
}

impl Shared {
    fn new(config: ServerConfig, stats: Arc<ServerStats>) -> Self {
        Shared { rendered: Rendered::new(&config), idle: config.idle_limit(), config, stats }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Request parsing: pure functions over bytes

/// What the server needs to know about one request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    /// HEAD: answer with the head only.
    head_only: bool,
    /// POST or PATCH (non-idempotent).
    post_like: bool,
    /// Answered by HTTP/1.0 rules (an HTTP/1.0 request, or any request in `http10` mode).
    v10: bool,
    /// An HTTP/1.1 request: may get a chunked response.
    http11: bool,
    /// The request lets the connection persist.
    keep: bool,
    /// `Expect: 100-continue` still to be answered.
    expect_continue: bool,
}

/// The request body still to be read away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Length(u64),
    Chunked(Chunk),
}

/// Where a chunked body decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// This many chunk data bytes to skip.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty line.
    Trailer,
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// A head of `len` bytes.
    Complete { len: usize, head: Head, body: Body },
    /// Malformed: answer 400 and close.
    Bad,
}

/// Splits a header value into its comma-separated tokens.
fn tokens(value: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii)
}

/// A `Content-Length` value: digits only.
fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Parses one request head at the start of `buf`.
fn parse_head(buf: &[u8], http10: bool) -> Parsed {
    let mut headers: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS] = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Bad,
    };
    let method = req.method.unwrap_or("");
    let http11 = req.version == Some(1);
    let v10 = http10 || !http11;

    let (mut close, mut keep_alive, mut expect_continue) = (false, false, false);
    let mut length: Option<u64> = None;
    let mut transfer: Option<&[u8]> = None;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            match (parse_length(h.value), length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Parsed::Bad,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer = Some(h.value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for t in tokens(h.value) {
                close |= t.eq_ignore_ascii_case(b"close");
                keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue = h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
    }
    let body = match (transfer, length) {
        (None, None | Some(0)) => Body::None,
        (None, Some(n)) => Body::Length(n),
        // The final coding must be chunked, or the body has no end (RFC 9112 §6.3); with a length too, the
        // request is a smuggling attempt.
        (Some(te), None) if tokens(te).rfind(|t| !t.is_empty()).is_some_and(|t| t.eq_ignore_ascii_case(b"chunked")) => {
            Body::Chunked(Chunk::Size)
        }
        (Some(_), _) => return Parsed::Bad,
    };
    let head = Head {
        head_only: method == "HEAD",
        post_like: method == "POST" || method == "PATCH",
        v10,
        http11,
        keep: if v10 { keep_alive && !close } else { !close },
        expect_continue: expect_continue && http11 && !http10 && body != Body::None,
    };
    Parsed::Complete { len, head, body }
}

#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// Needs more bytes.
    More,
    /// The body (trailers included) is over.
    Done,
    /// Not chunked encoding: answer 400 and close.
    Bad,
}

/// Reads away chunked body bytes from `buf`; returns how many bytes were used and how far the body got.
fn discard_chunked(state: &mut Chunk, buf: &[u8]) -> (usize, Progress) {
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        match *state {
            Chunk::Size => match httparse::parse_chunk_size(rest) {
                Ok(httparse::Status::Complete((used, size))) => {
                    at += used;
                    *state = if size == 0 { Chunk::Trailer } else { Chunk::Data(size) };
                }
                Ok(httparse::Status::Partial) => return (at, Progress::More),
                Err(_) => return (at, Progress::Bad),
            },
            Chunk::Data(remaining) => {
                let take = remaining.min(rest.len() as u64);
                at += take as usize;
                if take < remaining {
                    *state = Chunk::Data(remaining - take);
                    return (at, Progress::More);
                }
                *state = Chunk::DataEnd;
            }
            Chunk::DataEnd => match rest {
                [b'\r', b'\n', ..] => {
                    at += 2;
                    *state = Chunk::Size;
                }
                [] | [b'\r'] => return (at, Progress::More),
                _ => return (at, Progress::Bad),
            },
            Chunk::Trailer => match rest.windows(2).position(|w| w == b"\r\n") {
                Some(0) => return (at + 2, Progress::Done),
                Some(line) => at += line + 2,
                None => return (at, Progress::More),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// One connection

/// A request waiting for its answer.
#[derive(Debug, Clone, Copy)]
enum Plan {
    Answer(Head),
    BadRequest,
}

/// Whether the connection goes on after a batch of answers.
enum Flow {
    Open,
    Close,
}

/// The state of one connection; everything is reused from request to request.
struct Conn {
    stream: TcpStream,
    /// Read buffer; `buf[start..end]` is received and not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The last read filled all free space: grow before the next one.
    grow: bool,
    /// Responses not yet written.
    out: Vec<u8>,
    /// Requests received and not yet answered, in order; the last may still be waiting for its body.
    queue: Vec<Plan>,
    /// Body of the last queued request still to be read away.
    body: Body,
    /// Responses sent on this connection.
    served: u64,
    max_seen: usize,
    /// Counts not yet published to the shared stats.
    new_requests: u64,
    new_responses: u64,
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let sh = &*shared;
    // Responses are written whole; when a delay splits a pipelined batch, Nagle must not hold the next write
    // until the client's delayed ACK.
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: vec![0; READ_BUF_INITIAL],
        start: 0,
        end: 0,
        grow: false,
        out: Vec::new(),
        queue: Vec::new(),
        body: Body::None,
        served: 0,
        max_seen: 0,
        new_requests: 0,
        new_responses: 0,
    };
    // Ok: the server decided to close; Err: the client closed or the connection failed.
    let server_closes = conn.drive(sh).await.is_ok();
    conn.publish(sh);
    if server_closes {
        sh.stats.closed_by_server.fetch_add(1, Relaxed);
        close(conn.stream, sh.config.reset, &mut conn.buf).await;
    }
}

impl Conn {
    /// Reads, parses and answers until the server decides to close (`Ok`) or the client goes (`Err`).
    async fn drive(&mut self, sh: &Shared) -> io::Result<()> {
        loop {
            self.parse_buffered(sh);
            let flow = self.answer(sh).await?;
            self.flush(sh).await?;
            if let Flow::Close = flow {
                return Ok(());
            }
            if !self.make_room() {
                // A head (or a chunk line, or a trailer) that does not fit in the largest buffer.
                let bytes = if self.body == Body::None { &sh.rendered.too_large } else { &sh.rendered.bad_request };
                self.new_responses += 1;
                self.out.extend_from_slice(bytes);
                self.flush(sh).await?;
                return Ok(());
            }
            let read = self.stream.read(&mut self.buf[self.end..]);
            let n = match sh.idle {
                Some(limit) => match tokio::time::timeout(limit, read).await {
                    Ok(n) => n?,
                    Err(_) => return Ok(()),
                },
                None => read.await?,
            };
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.end += n;
            self.grow = self.end == self.buf.len();
        }
    }

    /// Makes space behind the received bytes for the next read; false if a head cannot fit.
    fn make_room(&mut self) -> bool {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.start > 0 && self.buf.len() - self.end < READ_MIN_SPACE {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.grow || self.end == self.buf.len() {
            self.grow = false;
            if self.buf.len() < READ_BUF_MAX {
                self.buf.resize((self.buf.len() * 2).min(READ_BUF_MAX), 0);
            }
        }
        self.end < self.buf.len()
    }

    /// Queues every complete request in the buffer, reading bodies away.
    fn parse_buffered(&mut self, sh: &Shared) {
        loop {
            match self.body {
                Body::None => {}
                Body::Length(remaining) => {
                    let take = remaining.min((self.end - self.start) as u64);
                    self.start += take as usize;
                    if take < remaining {
                        self.body = Body::Length(remaining - take);
                        return;
                    }
                    self.body = Body::None;
                }
                Body::Chunked(mut chunk) => {
                    let (used, progress) = discard_chunked(&mut chunk, &self.buf[self.start..self.end]);
                    self.start += used;
                    match progress {
                        Progress::More => {
                            self.body = Body::Chunked(chunk);
                            return;
                        }
                        Progress::Done => self.body = Body::None,
                        Progress::Bad => {
                            self.body = Body::None;
                            if let Some(last) = self.queue.last_mut() {
                                *last = Plan::BadRequest;
                            }
                            return;
                        }
                    }
                }
            }
            if self.start == self.end || matches!(self.queue.last(), Some(Plan::BadRequest)) {
                return;
            }
            match parse_head(&self.buf[self.start..self.end], sh.config.http10) {
                Parsed::Partial => return,
                Parsed::Bad => {
                    self.queue.push(Plan::BadRequest);
                    return;
                }
                Parsed::Complete { len, head, body } => {
                    self.start += len;
                    self.new_requests += 1;
                    if head.post_like && !self.queue.is_empty() {
                        sh.stats.methods_post_overlap.fetch_add(1, Relaxed);
                    }
                    self.queue.push(Plan::Answer(head));
                    self.body = body;
                    if self.queue.len() > self.max_seen {
                        self.max_seen = self.queue.len();
                        sh.stats.max_in_flight.fetch_max(self.max_seen as u64, Relaxed);
                    }
                }
            }
        }
    }

    /// Answers, in order, every queued request whose body has been read.
    async fn answer(&mut self, sh: &Shared) -> io::Result<Flow> {
        let cfg = &sh.config;
        let rendered = &sh.rendered;
        let ready = if self.body == Body::None { self.queue.len() } else { self.queue.len() - 1 };
        for i in 0..ready {
            if cfg.close_after.is_some_and(|n| self.served >= n) {
                return Ok(Flow::Close);
            }
            let head = match self.queue[i] {
                Plan::Answer(head) => head,
                Plan::BadRequest => {
                    self.new_responses += 1;
                    self.out.extend_from_slice(&rendered.bad_request);
                    return Ok(Flow::Close);
                }
            };
            if !cfg.delay.is_zero() {
                self.flush(sh).await?;
                tokio::time::sleep(cfg.delay).await;
            }
            self.served += 1;
            let close = !head.keep || cfg.keep_alive_max.is_some_and(|m| self.served >= u64::from(m));
            let conn = match (close, head.v10) {
                (true, _) => ConnHeader::Close,
                (false, true) => ConnHeader::Keep10,
                (false, false) => ConnHeader::Keep11,
            };
            let framing = if cfg.chunked && head.http11 { Framing::Chunked } else { Framing::Length };
            let f = framing as usize;
            let body: &[u8] = match (head.head_only, cfg.truncate) {
                (true, _) => &[],
                (false, false) => &rendered.bodies[f],
                (false, true) => &rendered.bodies[f][..rendered.truncated[f]],
            };
            self.push(sh, &rendered.heads[f][conn as usize], body).await?;
            if close || cfg.truncate || cfg.close_after.is_some_and(|n| self.served >= n) {
                return Ok(Flow::Close);
            }
        }
        self.queue.drain(..ready);
        // The request left is waiting for its body: tell it to send it, after the answers before it.
        if let Some(Plan::Answer(head)) = self.queue.first_mut() {
            if head.expect_continue {
                head.expect_continue = false;
                self.out.extend_from_slice(CONTINUE);
            }
        }
        Ok(Flow::Open)
    }

    /// Adds one response to the output; a large body is written from the shared bytes, not copied.
    async fn push(&mut self, sh: &Shared, head: &[u8], body: &[u8]) -> io::Result<()> {
        self.new_responses += 1;
        self.out.extend_from_slice(head);
        if body.len() <= INLINE_BODY_MAX {
            self.out.extend_from_slice(body);
            return Ok(());
        }
        self.flush(sh).await?;
        self.stream.write_all(body).await
    }

    /// Publishes the counters, then writes everything pending in one write.
    async fn flush(&mut self, sh: &Shared) -> io::Result<()> {
        self.publish(sh);
        if self.out.is_empty() {
            return Ok(());
        }
        let written = self.stream.write_all(&self.out).await;
        self.out.clear();
        written
    }

    fn publish(&mut self, sh: &Shared) {
        if self.new_requests > 0 {
            sh.stats.requests.fetch_add(std::mem::take(&mut self.new_requests), Relaxed);
        }
        if self.new_responses > 0 {
            sh.stats.responses.fetch_add(std::mem::take(&mut self.new_responses), Relaxed);
        }
    }
}

/// The server closes first: RST if `reset`, else FIN with a lingering read of whatever the client already sent.
async fn close(stream: TcpStream, reset: bool, scratch: &mut [u8]) {
    if reset {
        // Dropping a socket with SO_LINGER 0 sends RST at once.
        let _ = stream.set_zero_linger();
        return;
    }
    let mut stream = stream;
    if stream.shutdown().await.is_err() {
        return;
    }
    // NOTE: Linux answers a close with unread received data by RST, which can reach the client before it has
    // read the responses. tokio's `try_read` trusts its cached readiness, so ask the socket itself.
    let Ok(mut std_stream) = stream.into_std() else {
        return;
    };
    if !matches!(std_stream.read(scratch), Ok(n) if n > 0) {
        return;
    }
    let Ok(mut stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let _ = tokio::time::timeout(LINGER, async { while matches!(stream.read(scratch).await, Ok(n) if n > 0) {} }).await;
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
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(ServerStats::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let thread = std::thread::Builder::new().name("connbench-server".into()).spawn({
        let stats = stats.clone();
        move || {
            let served = runtime.block_on(async move {
                let listener = TcpListener::from_std(listener)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Every test is bounded: a hang fails instead of blocking the suite.
    async fn within<T>(test: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), test).await.expect("test timed out")
    }

    async fn start(config: ServerConfig) -> ServerHandle {
        spawn_local(config).await.expect("server starts")
    }

    fn stats(connections: u64, requests: u64, responses: u64, closed_by_server: u64) -> StatsSnapshot {
        StatsSnapshot { connections, requests, responses, closed_by_server, max_in_flight: 1, methods_post_overlap: 0 }
    }

    #[derive(Debug)]
    struct Resp {
        version: u8,
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Resp {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
    }

    /// A whole response at the start of `buf` and its length, or None if more bytes are needed.
    fn parse_response(buf: &[u8], head_only: bool) -> Option<(usize, Resp)> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(mut at) = res.parse(buf).expect("well-formed response head") else {
            return None;
        };
        let mut resp = Resp {
            version: res.version.unwrap(),
            status: res.code.unwrap(),
            headers: res
                .headers
                .iter()
                .map(|h| (h.name.to_string(), String::from_utf8(h.value.to_vec()).unwrap()))
                .collect(),
            body: Vec::new(),
        };
        if head_only || bodyless(resp.status) {
            return Some((at, resp));
        }
        if resp.header("transfer-encoding") == Some("chunked") {
            assert!(resp.header("content-length").is_none(), "chunked and Content-Length together");
            loop {
                let httparse::Status::Complete((used, size)) = httparse::parse_chunk_size(&buf[at..]).unwrap() else {
                    return None;
                };
                at += used;
                let size = size as usize;
                if size == 0 {
                    if buf.len() < at + 2 {
                        return None;
                    }
                    assert_eq!(&buf[at..at + 2], b"\r\n", "no trailers expected");
                    return Some((at + 2, resp));
                }
                if buf.len() < at + size + 2 {
                    return None;
                }
                resp.body.extend_from_slice(&buf[at..at + size]);
                assert_eq!(&buf[at + size..at + size + 2], b"\r\n");
                at += size + 2;
            }
        }
        let len: usize = resp.header("content-length").expect("Content-Length").parse().unwrap();
        if buf.len() < at + len {
            return None;
        }
        resp.body.extend_from_slice(&buf[at..at + len]);
        Some((at + len, resp))
    }

    /// A raw test client: writes bytes, reads responses.
    struct Client {
        stream: TcpStream,
        buf: Vec<u8>,
    }

    impl Client {
        async fn connect(addr: SocketAddr) -> Self {
            let stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).unwrap();
            Client { stream, buf: Vec::new() }
        }

        async fn send(&mut self, bytes: &[u8]) {
            self.stream.write_all(bytes).await.expect("write");
        }

        async fn read_more(&mut self) -> io::Result<usize> {
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await?;
            self.buf.extend_from_slice(&chunk[..n]);
            Ok(n)
        }

        async fn response(&mut self, head_only: bool) -> Resp {
            loop {
                if let Some((len, resp)) = parse_response(&self.buf, head_only) {
                    self.buf.drain(..len);
                    return resp;
                }
                let n = self.read_more().await.expect("read");
                assert!(n > 0, "EOF before a whole response; have {:?}", String::from_utf8_lossy(&self.buf));
            }
        }

        /// Reads until end of stream; Ok(bytes left after the last response) or the error kind.
        async fn end(&mut self) -> Result<Vec<u8>, io::ErrorKind> {
            loop {
                match self.read_more().await {
                    Ok(0) => return Ok(std::mem::take(&mut self.buf)),
                    Ok(_) => {}
                    Err(e) => return Err(e.kind()),
                }
            }
        }
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

    #[tokio::test]
    async fn keep_alive_answers_three_requests_on_one_connection() {
        within(async {
            let server = start(ServerConfig::default()).await;
            let mut c = Client::connect(server.addr).await;
            for _ in 0..3 {
                c.send(GET).await;
                let r = c.response(false).await;
                assert_eq!((r.version, r.status, r.body.as_slice()), (1, 200, &b"hello world\n"[..]));
                assert_eq!(r.header("content-length"), Some("12"));
                assert_eq!(r.header("content-type"), Some("text/plain"));
                assert_eq!(r.header("connection"), None);
                assert_eq!(r.header("date"), None);
            }
            assert_eq!(server.stats.snapshot(), stats(1, 3, 3, 0));
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order() {
        within(async {
            let server = start(ServerConfig::default()).await;
            let mut c = Client::connect(server.addr).await;
            // HEAD answers have no body, so answering out of order would misalign the byte stream.
            c.send(
                b"GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n\
                  HEAD /4 HTTP/1.1\r\n\r\nGET /5 HTTP/1.1\r\nConnection: close\r\n\r\n",
            )
            .await;
            for i in 1..=5 {
                let head_only = i % 2 == 0;
                let r = c.response(head_only).await;
                assert_eq!(r.status, 200);
                assert_eq!(r.body.len(), if head_only { 0 } else { 12 }, "response {i}");
                assert_eq!(r.header("connection"), if i == 5 { Some("close") } else { None });
            }
            assert_eq!(c.end().await, Ok(Vec::new()));
            // One write of a few hundred bytes is one loopback segment, so the server reads all five at once.
            let want = StatsSnapshot { max_in_flight: 5, ..stats(1, 5, 5, 1) };
            assert_eq!(server.stats.snapshot(), want);
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn connection_close_is_answered_then_closed() {
        within(async {
            let server = start(ServerConfig::default()).await;
            let mut c = Client::connect(server.addr).await;
            c.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
            let r = c.response(false).await;
            assert_eq!(r.header("connection"), Some("close"));
            assert_eq!(c.end().await, Ok(Vec::new()));
            assert_eq!(server.stats.snapshot(), stats(1, 1, 1, 1));
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn http10_request_closes_unless_keep_alive() {
        within(async {
            let server = start(ServerConfig::default()).await;
            // Without keep-alive: answered, then closed.
            let mut c = Client::connect(server.addr).await;
            c.send(b"GET / HTTP/1.0\r\n\r\n").await;
            let r = c.response(false).await;
            assert_eq!((r.version, r.header("connection")), (1, Some("close")));
            assert_eq!(r.header("content-length"), Some("12"));
            assert_eq!(c.end().await, Ok(Vec::new()));
            // With keep-alive: kept, and said so.
            let mut c = Client::connect(server.addr).await;
            for _ in 0..2 {
                c.send(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").await;
                let r = c.response(false).await;
                assert_eq!(r.header("connection"), Some("Keep-Alive"));
            }
            assert_eq!(server.stats.snapshot(), stats(2, 3, 3, 1));
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn http10_mode_speaks_http10() {
        within(async {
            let server = start(ServerConfig { http10: true, ..Default::default() }).await;
            let mut c = Client::connect(server.addr).await;
            c.send(GET).await;
            let r = c.response(false).await;
            assert_eq!((r.version, r.header("connection")), (0, Some("close")));
            assert_eq!(c.end().await, Ok(Vec::new()));
            let mut c = Client::connect(server.addr).await;
            c.send(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").await;
            let r = c.response(false).await;
            assert_eq!((r.version, r.header("connection")), (0, Some("Keep-Alive")));
            c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await;
            assert_eq!(c.response(false).await.version, 0);
            assert_eq!(server.stats.snapshot(), stats(2, 3, 3, 1));
            server.shutdown().await;
            // Chunked does not exist in HTTP/1.0.
            let err = spawn_local(ServerConfig { http10: true, chunked: true, ..Default::default() }).await;
            assert_eq!(err.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        })
        .await;
    }

    #[tokio::test]
    async fn keep_alive_max_closes_after_m_responses() {
        within(async {
            let config = ServerConfig {
                keep_alive_max: Some(3),
                keep_alive_timeout: Some(Duration::from_secs(5)),
                ..Default::default()
            };
            let server = start(config).await;
            let mut c = Client::connect(server.addr).await;
            for i in 1..=3 {
                c.send(GET).await;
                let r = c.response(false).await;
                if i < 3 {
                    assert_eq!(r.header("keep-alive"), Some("timeout=5, max=3"));
                    assert_eq!(r.header("connection"), Some("Keep-Alive"));
                } else {
                    assert_eq!(r.header("connection"), Some("close"));
                    assert_eq!(r.header("keep-alive"), None);
                }
            }
            assert_eq!(c.end().await, Ok(Vec::new()));
            assert_eq!(server.stats.snapshot(), stats(1, 3, 3, 1));
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn close_after_drops_pipelined_requests_silently() {
        within(async {
            let server = start(ServerConfig { close_after: Some(2), ..Default::default() }).await;
            let mut c = Client::connect(server.addr).await;
            c.send(&GET.repeat(5)).await;
            for _ in 0..2 {
                let r = c.response(false).await;
                assert_eq!(r.header("connection"), None);
            }
            assert_eq!(c.end().await, Ok(Vec::new()), "exactly two responses, then FIN");
            let want = StatsSnapshot { max_in_flight: 5, ..stats(1, 5, 2, 1) };
            assert_eq!(server.stats.snapshot(), want);
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn close_reads_late_requests_away_instead_of_resetting() {
        within(async {
            let server =
                start(ServerConfig { close_after: Some(1), delay: Duration::from_millis(50), ..Default::default() })
                    .await;
            let mut c = Client::connect(server.addr).await;
            c.send(GET).await;
            // Arrives during the delay, after the server's last read.
            tokio::time::sleep(Duration::from_millis(10)).await;
            c.send(&GET.repeat(3)).await;
            c.response(false).await;
            assert_eq!(c.end().await, Ok(Vec::new()));
            // On loopback the FIN precedes any RST, so EOF alone proves nothing: a write fails only if the
            // server reset the connection (RFC 9112 §9.6: that RST can destroy unread responses elsewhere).
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(c.stream.write_all(GET).await.is_ok(), "the server reset instead of reading late requests away");
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn chunked_responses_are_well_formed() {
        within(async {
            let server = start(ServerConfig { chunked: true, ..Default::default() }).await;
            let mut c = Client::connect(server.addr).await;
            c.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
            let raw = c.end().await.unwrap();
            let raw = String::from_utf8(raw).unwrap();
            assert!(raw.contains("\r\nTransfer-Encoding: chunked\r\n"), "{raw}");
            assert!(!raw.contains("Content-Length"), "{raw}");
            assert!(raw.ends_with("\r\n\r\nc\r\nhello world\n\r\n0\r\n\r\n"), "{raw}");
            // HTTP/1.0 clients cannot decode chunks: they get a length.
            let mut c = Client::connect(server.addr).await;
            c.send(b"GET / HTTP/1.0\r\n\r\n").await;
            let r = c.response(false).await;
            assert_eq!((r.header("content-length"), r.body.as_slice()), (Some("12"), &b"hello world\n"[..]));
            // And a larger body decodes whole.
            server.shutdown().await;
            let server = start(ServerConfig { chunked: true, body_size: 100_000, ..Default::default() }).await;
            let mut c = Client::connect(server.addr).await;
            c.send(&GET.repeat(2)).await;
            for _ in 0..2 {
                assert_eq!(c.response(false).await.body, vec![b'x'; 100_000]);
            }
            assert_eq!(server.stats.snapshot(), StatsSnapshot { max_in_flight: 2, ..stats(1, 2, 2, 0) });
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn truncate_sends_half_the_body_then_closes() {
        within(async {
            let server = start(ServerConfig { truncate: true, body_size: 100, ..Default::default() }).await;
            let mut c = Client::connect(server.addr).await;
            c.send(&GET.repeat(2)).await;
            let rest = c.end().await.unwrap();
            let text = String::from_utf8(rest).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains("Content-Length: 100"), "{head}");
            assert_eq!(body, "x".repeat(50));
            assert_eq!(server.stats.snapshot(), StatsSnapshot { max_in_flight: 2, ..stats(1, 2, 1, 1) });
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn reset_turns_every_server_close_into_rst() {
        within(async {
            let server = start(ServerConfig {
                reset: true,
                idle_timeout: Some(Duration::from_millis(50)),
                ..Default::default()
            })
            .await;
            // Idle: reset with nothing said.
            let mut c = Client::connect(server.addr).await;
            assert_eq!(c.end().await, Err(io::ErrorKind::ConnectionReset));
            // Connection: close: the response (typically readable first), then RST.
            let mut c = Client::connect(server.addr).await;
            c.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
            assert_eq!(c.end().await, Err(io::ErrorKind::ConnectionReset));
            assert_eq!(server.stats.snapshot(), stats(2, 1, 1, 2));
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn idle_timeout_closes_an_idle_connection() {
        within(async {
            let server =
                start(ServerConfig { idle_timeout: Some(Duration::from_millis(100)), ..Default::default() }).await;
            let mut c = Client::connect(server.addr).await;
            c.send(GET).await;
            c.response(false).await;
            let idle_from = Instant::now();
            assert_eq!(c.end().await, Ok(Vec::new()));
            assert!(idle_from.elapsed() >= Duration::from_millis(90), "{:?}", idle_from.elapsed());
            assert_eq!(server.stats.snapshot(), stats(1, 1, 1, 1));
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn keep_alive_timeout_is_advertised_and_enforced() {
        within(async {
            let server =
                start(ServerConfig { keep_alive_timeout: Some(Duration::from_secs(1)), ..Default::default() }).await;
            let mut c = Client::connect(server.addr).await;
            c.send(GET).await;
            let r = c.response(false).await;
            assert_eq!(r.header("keep-alive"), Some("timeout=1"));
            let idle_from = Instant::now();
            assert_eq!(c.end().await, Ok(Vec::new()));
            assert!(idle_from.elapsed() >= Duration::from_millis(900), "{:?}", idle_from.elapsed());
            assert_eq!(server.stats.snapshot(), stats(1, 1, 1, 1));
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn delay_delays_each_response() {
        within(async {
            let server = start(ServerConfig { delay: Duration::from_millis(100), ..Default::default() }).await;
            let mut c = Client::connect(server.addr).await;
            let sent = Instant::now();
            c.send(&GET.repeat(2)).await;
            c.response(false).await;
            let first = sent.elapsed();
            c.response(false).await;
            let second = sent.elapsed();
            assert!(first >= Duration::from_millis(95), "{first:?}");
            assert!(second >= Duration::from_millis(195), "{second:?}");
            assert_eq!(server.stats.snapshot(), StatsSnapshot { max_in_flight: 2, ..stats(1, 2, 2, 0) });
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn head_gets_no_body() {
        within(async {
            let server = start(ServerConfig::default()).await;
            let mut c = Client::connect(server.addr).await;
            c.send(b"HEAD / HTTP/1.1\r\n\r\n").await;
            let r = c.response(true).await;
            assert_eq!((r.status, r.header("content-length")), (200, Some("12")));
            // A body would show up as the start of the next response.
            c.send(GET).await;
            let r = c.response(false).await;
            assert_eq!(r.body, b"hello world\n");
            assert!(c.buf.is_empty());
            assert_eq!(server.stats.snapshot(), stats(1, 2, 2, 0));
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn request_bodies_are_read_away() {
        within(async {
            let server = start(ServerConfig::default()).await;
            let mut c = Client::connect(server.addr).await;
            // By Content-Length, pipelined with a GET.
            c.send(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n").await;
            c.response(false).await;
            c.response(false).await;
            // Chunked, with an extension and a trailer, pipelined with a GET.
            c.send(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.1\r\n\r\n")
                .await;
            c.response(false).await;
            c.response(false).await;
            // A body larger than the read buffer, arriving in pieces.
            let big = 300_000;
            c.send(format!("POST / HTTP/1.1\r\nContent-Length: {big}\r\n\r\n").as_bytes()).await;
            for _ in 0..3 {
                c.send(&vec![b'b'; big / 3]).await;
            }
            c.response(false).await;
            // A GET then a POST without waiting: the overlap the client must never cause.
            c.send(b"GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n!").await;
            c.response(false).await;
            c.response(false).await;
            let want = StatsSnapshot { max_in_flight: 2, methods_post_overlap: 1, ..stats(1, 7, 7, 0) };
            assert_eq!(server.stats.snapshot(), want);
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn expect_100_continue_is_answered() {
        within(async {
            let server = start(ServerConfig::default()).await;
            let mut c = Client::connect(server.addr).await;
            c.send(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n").await;
            let interim = c.response(false).await;
            assert_eq!(interim.status, 100);
            c.send(b"abc").await;
            assert_eq!(c.response(false).await.status, 200);
            assert_eq!(server.stats.snapshot(), stats(1, 1, 1, 0));
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn malformed_requests_get_400_and_close() {
        within(async {
            let server = start(ServerConfig::default()).await;
            // The request before the bad one is still answered.
            let mut c = Client::connect(server.addr).await;
            c.send(b"GET / HTTP/1.1\r\n\r\nBLAH\x01 / HTTP/1.1\r\n\r\n").await;
            assert_eq!(c.response(false).await.status, 200);
            let r = c.response(false).await;
            assert_eq!((r.status, r.header("connection")), (400, Some("close")));
            assert_eq!(c.end().await, Ok(Vec::new()));
            // Content-Length with Transfer-Encoding.
            let mut c = Client::connect(server.addr).await;
            c.send(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").await;
            assert_eq!(c.response(false).await.status, 400);
            // A head that never ends within 64 KiB.
            let mut c = Client::connect(server.addr).await;
            c.send(b"GET / HTTP/1.1\r\n").await;
            c.send(format!("X-Big: {}\r\n", "a".repeat(70_000)).as_bytes()).await;
            assert_eq!(c.response(false).await.status, 431);
            assert_eq!(c.end().await, Ok(Vec::new()));
            let want = StatsSnapshot { max_in_flight: 1, ..stats(3, 1, 4, 3) };
            assert_eq!(server.stats.snapshot(), want);
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn status_and_body_size_knobs() {
        within(async {
            let server = start(ServerConfig { status: 404, body_size: 0, ..Default::default() }).await;
            let mut c = Client::connect(server.addr).await;
            c.send(GET).await;
            let r = c.response(false).await;
            assert_eq!((r.status, r.header("content-length"), r.body.len()), (404, Some("0"), 0));
            server.shutdown().await;
            // A bodyless status has no framing at all; the next response follows at once.
            let server = start(ServerConfig { status: 204, ..Default::default() }).await;
            let mut c = Client::connect(server.addr).await;
            c.send(&GET.repeat(2)).await;
            for _ in 0..2 {
                let r = c.response(false).await;
                assert_eq!((r.status, r.header("content-length")), (204, None));
            }
            server.shutdown().await;
        })
        .await;
    }

    #[tokio::test]
    async fn shutdown_stops_accepting() {
        within(async {
            let server = start(ServerConfig::default()).await;
            let addr = server.addr;
            server.shutdown().await;
            let refused = TcpStream::connect(addr).await;
            assert_eq!(refused.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
        })
        .await;
    }

    #[test]
    fn reason_phrases_and_rendering() {
        assert_eq!(reason(200), "OK");
        assert_eq!(reason(599), "Unknown");
        let r = Rendered::new(&ServerConfig { status: 599, keep_alive_max: Some(7), ..Default::default() });
        let head = |f: Framing, c: ConnHeader| String::from_utf8(r.heads[f as usize][c as usize].to_vec()).unwrap();
        assert_eq!(
            head(Framing::Length, ConnHeader::Keep11),
            "HTTP/1.1 599 Unknown\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\
             Connection: Keep-Alive\r\nKeep-Alive: max=7\r\n\r\n"
        );
        assert_eq!(
            head(Framing::Chunked, ConnHeader::Close),
            "HTTP/1.1 599 Unknown\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(&*r.bodies[1], b"c\r\nhello world\n\r\n0\r\n\r\n");
        assert_eq!(r.truncated, [6, 3 + 6]);
        let plain = Rendered::new(&ServerConfig::default());
        assert_eq!(
            &*plain.heads[0][ConnHeader::Keep10 as usize],
            &b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: Keep-Alive\r\n\r\n"[..]
        );
        let bad = ServerConfig { status: 42, ..Default::default() };
        assert!(bad.validate().is_err());
        assert!(ServerConfig { keep_alive_max: Some(0), ..Default::default() }.validate().is_err());
    }

    #[test]
    fn parse_head_cases() {
        let head = |v10: bool, keep: bool| Head {
            head_only: false,
            post_like: false,
            v10,
            http11: !v10,
            keep,
            expect_continue: false,
        };
        let complete = |buf: &[u8], head: Head, body: Body| Parsed::Complete { len: buf.len(), head, body };
        let cases: &[(&[u8], bool, Parsed)] = &[
            // An unfinished head.
            (b"GET / HTTP/1.1\r\nHost: x\r\n", false, Parsed::Partial),
            // HTTP/1.1 persists by default.
            (b"GET / HTTP/1.1\r\n\r\n", false, complete(b"GET / HTTP/1.1\r\n\r\n", head(false, true), Body::None)),
            // ... unless it says close, among other tokens.
            (
                b"GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n",
                false,
                complete(b"GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n", head(false, false), Body::None),
            ),
            // HTTP/1.0 closes by default.
            (b"GET / HTTP/1.0\r\n\r\n", false, complete(b"GET / HTTP/1.0\r\n\r\n", head(true, false), Body::None)),
            // http10 mode treats an HTTP/1.1 request by HTTP/1.0 rules.
            (
                b"GET / HTTP/1.1\r\nconnection: keep-alive\r\n\r\n",
                true,
                complete(
                    b"GET / HTTP/1.1\r\nconnection: keep-alive\r\n\r\n",
                    Head { http11: true, ..head(true, true) },
                    Body::None,
                ),
            ),
            // A length.
            (
                b"PUT / HTTP/1.1\r\nContent-Length: 42\r\n\r\n",
                false,
                complete(b"PUT / HTTP/1.1\r\nContent-Length: 42\r\n\r\n", head(false, true), Body::Length(42)),
            ),
            // Two equal lengths are one.
            (
                b"PUT / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
                false,
                complete(
                    b"PUT / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
                    head(false, true),
                    Body::Length(4),
                ),
            ),
            // Chunked as the final coding.
            (
                b"PATCH / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                false,
                complete(
                    b"PATCH / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                    Head { post_like: true, ..head(false, true) },
                    Body::Chunked(Chunk::Size),
                ),
            ),
            // Differing lengths, a non-numeric length, a non-chunked final coding, both framings: rejected.
            (b"PUT / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", false, Parsed::Bad),
            (b"PUT / HTTP/1.1\r\nContent-Length: +4\r\n\r\n", false, Parsed::Bad),
            (b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", false, Parsed::Bad),
            (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", false, Parsed::Bad),
            // Not HTTP/1.x.
            (b"PRI * HTTP/2.0\r\n\r\n", false, Parsed::Bad),
        ];
        for (buf, http10, want) in cases {
            assert_eq!(&parse_head(buf, *http10), want, "{}", String::from_utf8_lossy(buf));
        }
        let Parsed::Complete { head, .. } = parse_head(b"HEAD / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", false)
        else {
            panic!()
        };
        assert!(head.head_only && !head.expect_continue, "no body, nothing to continue");
    }

    #[test]
    fn chunked_bodies_are_discarded_whatever_the_split() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let end = body.len() - 4;
        // Every split into two reads gives the same end.
        for split in 0..=body.len() {
            let mut state = Chunk::Size;
            let (used, progress) = discard_chunked(&mut state, &body[..split]);
            let consumed = if progress == Progress::Done {
                used
            } else {
                assert_eq!(progress, Progress::More, "split {split}");
                // The unused tail of the first read is read again with the second.
                let (more, progress) = discard_chunked(&mut state, &body[used..]);
                assert_eq!(progress, Progress::Done, "split {split}");
                used + more
            };
            assert_eq!(consumed, end, "split {split}");
        }
        let mut state = Chunk::Size;
        assert_eq!(discard_chunked(&mut state, b"zz\r\n").1, Progress::Bad);
        let mut state = Chunk::Size;
        assert_eq!(discard_chunked(&mut state, b"1\r\nab").1, Progress::Bad);
    }
}

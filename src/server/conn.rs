//! One connection: the per-connection state machine that reads, parses, answers in order with one write per
//! batch, and closes (RST, or FIN with a lingering read), over plain TCP or TLS alike (`net::stream::Stream`).

use std::collections::HashMap;
use std::io::{self, Read as _};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::HandshakeKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::page::{self, Resource};
use super::render::{ConnHeader, Framing, Rendered};
use super::request::{discard_chunked, parse_head, seen, Body, Head, Parsed, Progress};
use super::{ServerConfig, ServerStats, TLS_HANDSHAKE_LIMIT};
use crate::net::stream::Stream;

/// First size of a connection's read buffer: enough for a deep pipeline of ordinary requests, small enough for
/// 10,000 idle connections.
const READ_BUF_INITIAL: usize = 4 * 1024;
/// The read buffer never grows beyond this: a request head must fit in it (else 431).
const READ_BUF_MAX: usize = 64 * 1024;
/// Compact the buffer (move a partial request to the front) when less than this is free behind it.
const READ_MIN_SPACE: usize = 1024;
/// Bodies up to this size are copied into the output buffer; larger ones are written straight from the
/// pre-rendered bytes so that a deep pipeline of large responses does not inflate the buffer.
const INLINE_BODY_MAX: usize = 16 * 1024;
/// The longest a lingering close reads away what the client sent after the server decided to close.
const LINGER: Duration = Duration::from_secs(1);
/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What every connection task shares.
pub(super) struct Shared {
    pub(super) config: ServerConfig,
    pub(super) stats: Arc<ServerStats>,
    rendered: Rendered,
    /// The body as HTTP/2 sends it: shared by every stream, never copied.
    h2_body: bytes::Bytes,
    /// Requests answered by every connection, counted only when a stall is configured.
    answered: AtomicU64,
    /// Connections served so far, to draw each one's `close_after`.
    accepted: AtomicU64,
    /// The page's resources (`page.rs`), each rendered once, at most `page::KEPT` of them.
    pages: Mutex<HashMap<Resource, Arc<Rendered>>>,
}

impl Shared {
    pub(super) fn new(config: ServerConfig, stats: Arc<ServerStats>) -> Self {
        Shared {
            rendered: Rendered::new(&config),
            h2_body: bytes::Bytes::from(super::render::body(&config)),
            config,
            stats,
            answered: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            pages: Mutex::new(HashMap::new()),
        }
    }
}

impl Shared {
    /// The body of every HTTP/2 response.
    pub(super) fn h2_body(&self) -> bytes::Bytes {
        self.h2_body.clone()
    }

    /// The responses for the page or one of its objects, rendered at their first request.
    pub(super) fn page(&self, resource: Resource) -> Arc<Rendered> {
        let mut pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rendered) = pages.get(&resource) {
            return rendered.clone();
        }
        let (body, media_type) = page::body(resource);
        let rendered = Arc::new(Rendered::with_body(&self.config, body, media_type));
        if pages.len() < page::KEPT {
            pages.insert(resource, rendered.clone());
        }
        rendered
    }

    /// The `close_after` of the connection accepted now: drawn for it, unless the limit was lifted before it.
    fn close_at(&self) -> Option<u64> {
        let index = self.accepted.fetch_add(1, Relaxed);
        let lifted = self.config.lift_close_after.is_some_and(|first| index >= first);
        self.config.close_after.filter(|_| !lifted).map(|c| c.draw(index))
    }

    /// The one stall of the run, for the request being answered now, if this is it.
    pub(super) fn stall_now(&self) -> Option<Duration> {
        self.config.stall.filter(|s| self.answered.fetch_add(1, Relaxed) == s.after).map(|s| s.length)
    }

    /// A stream of HTTP/2 or HTTP/3 (one of `open` on its connection) is answered now: held for the delay and
    /// any stall first, then counted answered.
    pub(super) async fn answer_stream(&self, open: &AtomicU64) {
        let wait = self.config.delay + self.stall_now().unwrap_or_default();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        open.fetch_sub(1, Relaxed);
        self.stats.responses.fetch_add(1, Relaxed);
    }
}

/// The server closes a connection that sent no request within its idle limit.
pub(super) async fn close_idle(stream: TcpStream, shared: &Shared) {
    shared.stats.closed_by_server.fetch_add(1, Relaxed);
    close(Stream::Tcp(stream), shared.config.reset, &mut [0u8; 512]).await;
}

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
    stream: Stream,
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
    /// `close_after` drawn for this connection: close silently after this many responses.
    close_at: Option<u64>,
    max_seen: usize,
    /// Counts not yet published to the shared stats.
    new_requests: u64,
    new_responses: u64,
}

pub(super) async fn serve(tcp: TcpStream, shared: Arc<Shared>) {
    let sh = &*shared;
    // Responses are written whole; when a delay splits a pipelined batch, Nagle must not hold the next write
    // until the client's delayed ACK.
    let _ = tcp.set_nodelay(true);
    let Some(stream) = secure(tcp, sh).await else {
        return;
    };
    if stream.alpn_is_h2() {
        return super::h2::serve(stream, shared).await;
    }
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
        close_at: sh.close_at(),
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

/// With TLS, the handshake first, counted full, resumed or failed; a plain connection as it is.
async fn secure(tcp: TcpStream, sh: &Shared) -> Option<Stream> {
    let Some(config) = &sh.config.tls else {
        return Some(Stream::Tcp(tcp));
    };
    let limit = sh.config.idle_timeout.unwrap_or(TLS_HANDSHAKE_LIMIT);
    match tokio::time::timeout(limit, TlsAcceptor::from(config.clone()).accept(tcp)).await {
        Ok(Ok(tls)) => {
            let resumed = tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
            let counter = if resumed { &sh.stats.tls_resumed } else { &sh.stats.tls_full };
            counter.fetch_add(1, Relaxed);
            Some(Stream::Tls(Box::new(tls.into())))
        }
        Ok(Err(_)) | Err(_) => {
            sh.stats.tls_failed.fetch_add(1, Relaxed);
            None
        }
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
            let n = match sh.config.idle_limit(self.served) {
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
                    if sh.config.count_paths {
                        if let Some((key, headers, length)) = seen(&self.buf[self.start..self.start + len]) {
                            sh.stats.count_path(key.clone(), headers.iter().map(String::as_str));
                            sh.stats.count_body(&key, length);
                        }
                    }
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
        let ready = if self.body == Body::None { self.queue.len() } else { self.queue.len() - 1 };
        for i in 0..ready {
            if self.close_at.is_some_and(|n| self.served >= n) {
                return Ok(Flow::Close);
            }
            let (head, page) = match self.queue[i] {
                Plan::Answer(head @ Head { resource: Resource::Plain, .. }) => (head, None),
                Plan::Answer(head) if head.resource != Resource::Bad => (head, Some(sh.page(head.resource))),
                Plan::Answer(_) | Plan::BadRequest => {
                    self.new_responses += 1;
                    self.out.extend_from_slice(&sh.rendered.bad_request);
                    return Ok(Flow::Close);
                }
            };
            let rendered = page.as_deref().unwrap_or(&sh.rendered);
            let wait = cfg.delay + sh.stall_now().unwrap_or_default();
            if !wait.is_zero() {
                self.flush(sh).await?;
                tokio::time::sleep(wait).await;
            }
            self.served += 1;
            // `Keep-Alive: max=M` counts down the requests still allowed after this one, as Apache does: M on
            // the first response, 1 on the Mth, `Connection: close` on response M+1.
            let max_left = cfg.keep_alive_max.map(|m| (u64::from(m) + 1).saturating_sub(self.served));
            let close = !head.keep || max_left == Some(0);
            let conn = match (close, head.v10) {
                (true, _) => ConnHeader::Close,
                (false, true) => ConnHeader::Keep10,
                (false, false) if cfg.keep_alive_if_asked && !head.asked_keep_alive => ConnHeader::Quiet11,
                (false, false) => ConnHeader::Keep11,
            };
            let framing = if cfg.chunked && head.http11 { Framing::Chunked } else { Framing::Length };
            let f = framing as usize;
            let body: &[u8] = match (head.head_only, cfg.truncate) {
                (true, _) => &[],
                (false, false) => &rendered.bodies[f],
                (false, true) => &rendered.bodies[f][..rendered.truncated[f]],
            };
            self.push(sh, rendered, (framing, conn, max_left), body).await?;
            if close || cfg.truncate || self.close_at.is_some_and(|n| self.served >= n) {
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

    /// Adds one response (its head `rendered.head(framing, conn, max_left)`, then `body`) to the output; a large
    /// body is written from the shared bytes, not copied.
    async fn push(
        &mut self,
        sh: &Shared,
        rendered: &Rendered,
        (framing, conn, max_left): (Framing, ConnHeader, Option<u64>),
        body: &[u8],
    ) -> io::Result<()> {
        self.new_responses += 1;
        rendered.head(&mut self.out, framing, conn, max_left);
        if body.len() <= INLINE_BODY_MAX {
            self.out.extend_from_slice(body);
            return Ok(());
        }
        self.flush(sh).await?;
        self.stream.write_all(body).await?;
        self.stream.flush().await
    }

    /// Publishes the counters, then writes everything pending in one write.
    async fn flush(&mut self, sh: &Shared) -> io::Result<()> {
        self.publish(sh);
        if self.out.is_empty() {
            return Ok(());
        }
        // TLS may keep records back until flushed; a plain socket's flush is a no-op.
        let written = match self.stream.write_all(&self.out).await {
            Ok(()) => self.stream.flush().await,
            failed => failed,
        };
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
async fn close(mut stream: Stream, reset: bool, scratch: &mut [u8]) {
    if reset {
        // Dropping a socket with SO_LINGER 0 sends RST at once.
        let _ = stream.tcp().set_zero_linger();
        return;
    }
    // Over TLS, close_notify then FIN.
    if stream.shutdown().await.is_err() {
        return;
    }
    let stream = match stream {
        Stream::Tcp(tcp) => tcp,
        // rustls may already hold what the socket delivered: only a read through it tells what the client sent.
        mut tls @ Stream::Tls(_) => {
            let _ = tokio::time::timeout(LINGER, async { while matches!(tls.read(scratch).await, Ok(n) if n > 0) {} })
                .await;
            return;
        }
    };
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

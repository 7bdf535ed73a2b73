//! The multiplexed connection of `--mode multiplex`: HTTP/2 (RFC 9113) over one TCP connection, h2c with prior
//! knowledge. The worker's task drives h2's connection future and, beside it, up to `depth` streams, each
//! taking a slot; responses are matched by stream, never by order, so a slow response holds up no other (no
//! head-of-line blocking at the HTTP layer, unlike pipelining; HTTP: The Definitive Guide, ch. 4, names
//! multiplexing as the fourth technique).
//!
//! The same rules as HTTP/1.x, through the same pieces (`backlog.rs`, the recorder): the worker owes what is
//! in its backlog, retries first; a stream the server did not process (above a GOAWAY's last-stream-id, or
//! reset with REFUSED_STREAM, RFC 9113 §6.8 and §8.7) goes again whatever its method (`Backlog::refused`);
//! one a broken connection left with nothing back may have been processed, and goes by the rule of an
//! HTTP/1.x request a close left unanswered (`Backlog::unanswered`); any other RST_STREAM is
//! `errors.h2_reset`. Only one stream goes out before the server's SETTINGS (the first frame it sends, §3.4)
//! are in: the depth is then capped by SETTINGS_MAX_CONCURRENT_STREAMS (§6.5.2), reported when it bites. A
//! server that allows no stream (0) is given up to --timeout to raise it with a SETTINGS frame, each request
//! in turn, and then refuses it (`errors.refused`). A stream that times out is cancelled alone (RST_STREAM
//! CANCEL); the connection goes on.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::{Reason, RecvStream};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::backlog::{Attempt, Backlog, Pending};
use super::{LiveCounters, ThreadCtx};
use crate::http::preface::CLIENT_PREFACE;
use crate::net::stream::Stream as Transport;
use crate::plan::RequestParts;
use crate::record::{Closer, ErrorKind};

/// Flow-control windows the client grants: large enough that a body of a few MiB never waits for a
/// WINDOW_UPDATE on loopback (the defaults of 64 KiB would, and would measure the client's window, not the
/// server). Windows are credit, not buffers: nothing is allocated for them.
pub(crate) const STREAM_WINDOW: u32 = 1 << 20;
pub(crate) const CONNECTION_WINDOW: u32 = 16 << 20;
/// How long the client's own close (its GOAWAY) waits for h2 to flush it.
const CLIENT_LINGER: Duration = Duration::from_millis(100);
/// The send-stream limit h2 starts a connection with, which no SETTINGS frame can set (its value is a u32,
/// and h2 reads a SETTINGS frame without one as no limit, usize::MAX): while the limit still reads this, the
/// server's SETTINGS have not arrived.
const UNSETTLED: usize = usize::MAX - 1;
/// How often a connection whose server allows no stream looks again at the limit.
const LIMIT_POLL: Duration = Duration::from_millis(10);

/// A request as h2 sends it, built once per mode; each stream clones its parts.
pub(super) struct Template {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Template {
    /// Fails on what HTTP/2 cannot carry; `preflight.rs` asks before any load, so a run never meets the error.
    pub(super) fn new(parts: &RequestParts) -> Result<Template, String> {
        Template::for_scheme(parts, "http")
    }

    /// The same, with `scheme` for `:scheme` (HTTP/3 speaks `https` alone, RFC 9114 §3.1).
    pub(super) fn for_scheme(parts: &RequestParts, scheme: &str) -> Result<Template, String> {
        let method = Method::from_bytes(parts.method.as_bytes()).map_err(|e| format!("-X {}: {e}", parts.method))?;
        let uri = format!("{scheme}://{}{}", parts.authority, parts.path)
            .parse::<Uri>()
            .map_err(|e| format!("URL {scheme}://{}{}: {e}", parts.authority, parts.path))?;
        let mut headers = HeaderMap::with_capacity(parts.headers.len());
        for (name, value) in &parts.headers {
            let bad = |e: &dyn std::fmt::Display| format!("-H '{name}: {value}': {e} in HTTP/2");
            let field = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(&e))?;
            headers.append(field, HeaderValue::from_bytes(value.as_bytes()).map_err(|e| bad(&e))?);
        }
        Ok(Template { method, uri, headers, body: Bytes::copy_from_slice(&parts.body) })
    }

    /// The request's head, as the h2 and h3 crates take it.
    pub(super) fn head(&self) -> Request<()> {
        let mut request = Request::new(());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }

    pub(super) fn body(&self) -> &Bytes {
        &self.body
    }

    /// Opens one stream: HEADERS (with END_STREAM when there is no body), then the body.
    fn send(&self, sender: &mut SendRequest<Bytes>) -> Result<ResponseFuture, h2::Error> {
        let (response, mut body) = sender.send_request(self.head(), self.body.is_empty())?;
        if !self.body.is_empty() {
            body.send_data(self.body.clone(), true)?;
        }
        Ok(response)
    }
}

/// What HTTP/2 cannot send of the request, if anything (checked before any load).
pub fn request_error(parts: &RequestParts) -> Option<String> {
    Template::new(parts).err()
}

/// The connection's bytes as h2 sees them: counted as they arrive (`bytes_received`, frames and all, as
/// HTTP/1.x counts heads), and without the preface when the preflight has already written it.
pub(super) struct Wire<'a> {
    stream: Transport,
    ctx: &'a ThreadCtx,
    /// Bytes of h2's first write that are already on the wire.
    skip: usize,
    /// The start of the last read, shared with the session: what to quote when h2 cannot read the frames.
    heard: Rc<RefCell<Heard>>,
}

impl<'a> Wire<'a> {
    pub(super) fn new(ctx: &'a ThreadCtx, stream: Transport, preface_sent: bool) -> Wire<'a> {
        let skip = if preface_sent { CLIENT_PREFACE.len() } else { 0 };
        Wire { stream, ctx, skip, heard: Rc::default() }
    }
}

/// The first bytes of the last read from the server: h2 keeps none of what it could not read, and the read
/// that holds a malformed frame is the one before the error.
struct Heard {
    bytes: [u8; HEARD],
    len: usize,
}

impl Default for Heard {
    fn default() -> Heard {
        Heard { bytes: [0; HEARD], len: 0 }
    }
}

/// Bytes of a read kept to quote, as many as the HTTP/1.x "not HTTP" note quotes.
const HEARD: usize = 64;

impl Heard {
    fn keep(&mut self, read: &[u8]) {
        self.len = read.len().min(HEARD);
        self.bytes[..self.len].copy_from_slice(&read[..self.len]);
    }

    fn quoted(&self) -> String {
        self.bytes[..self.len].escape_ascii().to_string()
    }
}

impl AsyncRead for Wire<'_> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.ctx.recorder.borrow_mut().received(read);
            self.heard.borrow_mut().keep(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Wire<'_> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.skip > 0 {
            // h2 writes the preface alone, first (`write_all`): the preflight's copy stands for it.
            let skipped = self.skip.min(buf.len());
            self.skip -= skipped;
            return Poll::Ready(Ok(skipped));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.skip > 0 {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &**b);
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A stream in flight: the request's times, and its response as it arrives.
struct Stream {
    attempt: Attempt,
    reply: Reply,
}

impl AsMut<Reply> for Stream {
    fn as_mut(&mut self) -> &mut Reply {
        &mut self.reply
    }
}

/// One HTTP/2 response as it arrives: its head awaited, then its body read away. The engine's streams and
/// `connbench page`'s read responses alike.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) first_byte: Option<Instant>,
    /// Body bytes.
    pub(crate) bytes: u64,
    phase: Phase,
}

enum Phase {
    Head(ResponseFuture),
    Body(RecvStream),
}

impl Reply {
    pub(crate) fn new(response: ResponseFuture) -> Reply {
        Reply { status: 0, first_byte: None, bytes: 0, phase: Phase::Head(response) }
    }
}

/// Polls every stream's reply once; the first to end is returned with how it ended (Ok: a whole response).
pub(crate) fn poll_replies<S: AsMut<Reply>>(
    streams: &mut [S],
    cx: &mut Context<'_>,
) -> Poll<(usize, Result<(), h2::Error>)> {
    for (index, stream) in streams.iter_mut().enumerate() {
        let reply = stream.as_mut();
        loop {
            match &mut reply.phase {
                Phase::Head(response) => match Pin::new(response).poll(cx) {
                    Poll::Pending => break,
                    Poll::Ready(Err(err)) => return Poll::Ready((index, Err(err))),
                    Poll::Ready(Ok(response)) => {
                        reply.first_byte = Some(Instant::now());
                        reply.status = response.status().as_u16();
                        let body = response.into_body();
                        if body.is_end_stream() {
                            return Poll::Ready((index, Ok(())));
                        }
                        reply.phase = Phase::Body(body);
                    }
                },
                Phase::Body(body) => match body.poll_data(cx) {
                    Poll::Pending => break,
                    Poll::Ready(None) => return Poll::Ready((index, Ok(()))),
                    Poll::Ready(Some(Err(err))) => return Poll::Ready((index, Err(err))),
                    Poll::Ready(Some(Ok(data))) => {
                        reply.bytes += data.len() as u64;
                        // Read is consumed: give the credit back at once, so the server never waits on us.
                        let _ = body.flow_control().release_capacity(data.len());
                    }
                },
            }
        }
    }
    Poll::Pending
}

/// What becomes of a stream that ended without a whole response.
pub(crate) enum Fate {
    /// The server said it did not process it (GOAWAY above its last-stream-id, REFUSED_STREAM): it goes again
    /// whatever its method (RFC 9113 §8.7).
    Refused {
        go_away: bool,
    },
    /// The connection broke with nothing of its response back: the server may have processed it, so it goes
    /// again by the rule of an HTTP/1.x request a close left unanswered.
    Unanswered,
    Failed(ErrorKind),
}

pub(crate) fn fate(err: &h2::Error, answered_head: bool) -> Fate {
    if err.is_remote() && err.is_go_away() {
        return Fate::Refused { go_away: true };
    }
    if err.is_remote() && err.is_reset() {
        return match err.reason() {
            Some(Reason::REFUSED_STREAM) => Fate::Refused { go_away: false },
            _ => Fate::Failed(ErrorKind::H2Reset),
        };
    }
    match err.get_io() {
        Some(_) if !answered_head => Fate::Unanswered,
        Some(io) => Fate::Failed(match ErrorKind::of_io(io) {
            ErrorKind::Other => ErrorKind::Truncated,
            kind => kind,
        }),
        // h2 found the server's frames malformed (a library GOAWAY or reset).
        None if err.is_library() => Fate::Failed(ErrorKind::Parse),
        None => Fate::Failed(ErrorKind::Other),
    }
}

/// One multiplexed connection; returns who closed it.
pub(super) async fn session(
    ctx: &ThreadCtx,
    wire: Wire<'_>,
    connect_start: Instant,
    backlog: &mut Backlog,
    mut timer: Pin<&mut Sleep>,
) -> Closer {
    let plan = &ctx.shared.plan;
    let heard = wire.heard.clone();
    let handshake = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .initial_max_send_streams(UNSETTLED)
        .handshake::<_, Bytes>(wire)
        .await;
    let (mut sender, mut connection) = match handshake {
        Ok(pair) => pair,
        Err(err) => {
            // The preface could not be written: the first request owed goes by the rule, so a dead
            // connection costs it one more try, never a loop.
            let kind = err.get_io().map_or(ErrorKind::Other, ErrorKind::of_io);
            if let Some(first) = backlog.pending.pop_front() {
                let first = Pending { start: Some(first.start.unwrap_or(connect_start)), ..first };
                backlog.unanswered(first, false, kind, Instant::now());
            }
            return Closer::Client;
        }
    };
    let depth = plan.depth as usize;
    let mut conn = Multiplexed { streams: Vec::with_capacity(depth), sent: 0, answered: 0, going_away: false, heard };
    let mut cap_reported = false;
    loop {
        // One stream until the server's SETTINGS are in (its first frame), then the depth, capped by them.
        let limit = sender.current_max_send_streams();
        let allowed = if limit == UNSETTLED { 1 } else { depth.min(limit) };
        if limit != UNSETTLED && allowed < depth && !cap_reported {
            cap_reported = true;
            ctx.recorder.borrow_mut().stream_cap(allowed as u32);
        }
        if !conn.going_away && conn.streams.len() < allowed {
            let want = (allowed - conn.streams.len()) as u64;
            conn.open_streams(ctx, backlog, &mut sender, want, connect_start);
            ctx.recorder.borrow_mut().in_flight(conn.streams.len());
        }
        if allowed == 0 && conn.streams.is_empty() && !conn.going_away {
            // The server allows no stream for now (§6.5.2); a SETTINGS frame may raise the limit. The request
            // this connection owes (or would take next) waits for that up to --timeout, then fails as the
            // server's refusal. With --rate, the next due request is taken below, as on any idle connection.
            if backlog.pending.is_empty() && ctx.tickets.is_none() {
                backlog.share_out(1, Instant::now());
            }
            if !backlog.pending.is_empty() {
                match room(&sender, &mut connection, Instant::now() + plan.timeout).await {
                    Room::Raised => {}
                    Room::Refused => {
                        if let Some(refused) = backlog.pending.pop_front() {
                            ctx.failed(Instant::now(), ErrorKind::Refused, refused.target);
                        }
                    }
                    // What it owes stays owed, for the next connection.
                    Room::Ended(closer) => return closer,
                }
                continue;
            }
        }
        if conn.streams.is_empty() {
            let more = match &ctx.tickets {
                Some(tickets) if !conn.going_away => tokio::select! {
                    biased;
                    due = tickets.next(ctx) => due,
                    ended = &mut connection => return closer_of(&ended),
                },
                _ => None,
            };
            match more {
                Some(pending) => {
                    backlog.pending.push_back(pending);
                    continue;
                }
                None => {
                    // Nothing more for this connection: ours is the close (h2 sends GOAWAY once the last
                    // handle is gone).
                    drop(sender);
                    let _ = tokio::time::timeout(CLIENT_LINGER, &mut connection).await;
                    return Closer::Client;
                }
            }
        }
        let room = ctx.tickets.is_some() && !conn.going_away && conn.streams.len() < allowed;
        tokio::select! {
            biased;
            (index, result) = poll_fn(|cx| poll_replies(&mut conn.streams, cx)) => {
                conn.ended(ctx, backlog, index, result);
            }
            ended = &mut connection => {
                let closer = closer_of(&ended);
                conn.settle(ctx, backlog);
                return closer;
            }
            () = async { ctx.tickets.as_ref().expect("room is only wanted in open loop").room_wanted().await },
                if room => {}
            () = timer.as_mut() => {
                let now = Instant::now();
                let timeout = plan.timeout;
                // A stream past its time is cancelled alone (dropping it sends RST_STREAM CANCEL).
                conn.streams.retain(|s| {
                    let alive = s.attempt.sent + timeout > now;
                    if !alive {
                        ctx.failed(now, ErrorKind::Timeout, s.attempt.target);
                    }
                    alive
                });
                let due = conn.streams.iter().map(|s| s.attempt.sent + timeout).min().unwrap_or(now + timeout);
                timer.as_mut().reset(due.into());
            }
        }
    }
}

/// How a wait for the server to allow a stream ended.
enum Room {
    /// A SETTINGS frame raised SETTINGS_MAX_CONCURRENT_STREAMS above 0.
    Raised,
    /// It did not within the time given: the server refuses the request.
    Refused,
    /// The connection ended meanwhile; who closed it.
    Ended(Closer),
}

/// Drives the connection until the server allows a stream, `until` passes, or the connection ends. h2 wakes
/// no task when a SETTINGS frame raises the limit, so the limit is looked at every `LIMIT_POLL`.
async fn room<T: AsyncRead + AsyncWrite + Unpin>(
    sender: &SendRequest<Bytes>,
    connection: &mut h2::client::Connection<T, Bytes>,
    until: Instant,
) -> Room {
    loop {
        tokio::select! {
            biased;
            ended = &mut *connection => return Room::Ended(closer_of(&ended)),
            () = tokio::time::sleep(LIMIT_POLL) => {
                if sender.current_max_send_streams() > 0 {
                    return Room::Raised;
                }
                if Instant::now() >= until {
                    return Room::Refused;
                }
            }
        }
    }
}

/// The streams of one connection and what it has done.
struct Multiplexed {
    streams: Vec<Stream>,
    /// Streams opened on this connection.
    sent: u64,
    /// Whole responses on this connection.
    answered: u64,
    /// A GOAWAY arrived (or a stream could not be opened): this connection takes no new stream.
    going_away: bool,
    heard: Rc<RefCell<Heard>>,
}

impl Multiplexed {
    /// Opens up to `want` streams: retries first, then new requests from the allowance (as HTTP/1.x does).
    fn open_streams(
        &mut self,
        ctx: &ThreadCtx,
        backlog: &mut Backlog,
        sender: &mut SendRequest<Bytes>,
        want: u64,
        connect_start: Instant,
    ) {
        let now = Instant::now();
        for _ in 0..backlog.share_out(want, now) {
            let Some(request) = backlog.next(now) else { return };
            let attempt = Attempt::sent(request, self.sent == 0, connect_start, now);
            match ctx.shared.templates[request.target as usize].send(sender) {
                Ok(response) => {
                    self.sent += 1;
                    self.streams.push(Stream { attempt, reply: Reply::new(response) });
                }
                Err(_) => {
                    // The connection takes no more streams (GOAWAY): what was not sent stays owed, first,
                    // for the next connection (new requests claimed and not sent are still in the backlog,
                    // scheduled ones still in the queue). One that took none at all spends a try of its first
                    // request, which the server never saw, whatever its method.
                    self.going_away = true;
                    if self.sent == 0 {
                        backlog.refused(attempt.request(), false, ErrorKind::ClosedEarly, now);
                    } else {
                        backlog.pending.push_front(request);
                    }
                    return;
                }
            }
        }
    }

    /// Stream `index` ended: a whole response, or a failure by its kind.
    fn ended(&mut self, ctx: &ThreadCtx, backlog: &mut Backlog, index: usize, result: Result<(), h2::Error>) {
        let Stream { mut attempt, reply } = self.streams.swap_remove(index);
        attempt.first_byte = reply.first_byte;
        let now = Instant::now();
        let err = match result {
            Ok(()) => {
                self.answered += 1;
                attempt.completed(ctx, now, reply.status);
                LiveCounters::bump(&ctx.live.requests, 1);
                return;
            }
            Err(err) => err,
        };
        let progress = self.answered > 0;
        match fate(&err, attempt.first_byte.is_some()) {
            Fate::Refused { go_away } => {
                self.going_away |= go_away;
                backlog.refused(attempt.request(), progress, ErrorKind::ClosedEarly, now);
            }
            Fate::Unanswered => backlog.unanswered(attempt.request(), progress, ErrorKind::ClosedEarly, now),
            Fate::Failed(ErrorKind::Parse) => {
                let heard = self.heard.borrow();
                ctx.recorder.borrow_mut().unreadable(|| format!("{err}; it sent \"{}\"", heard.quoted()));
                ctx.failed(now, ErrorKind::Parse, attempt.target);
            }
            Fate::Failed(kind) => ctx.failed(now, kind, attempt.target),
        }
    }

    /// The connection has ended: streams whose end h2 already knows are settled as they ended; any other
    /// had nothing back, and was not answered.
    fn settle(&mut self, ctx: &ThreadCtx, backlog: &mut Backlog) {
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready((index, result)) = poll_replies(&mut self.streams, &mut cx) {
            self.ended(ctx, backlog, index, result);
        }
        let now = Instant::now();
        for stream in std::mem::take(&mut self.streams) {
            match stream.reply.first_byte {
                Some(_) => ctx.failed(now, ErrorKind::Truncated, stream.attempt.target),
                None => backlog.unanswered(stream.attempt.request(), self.answered > 0, ErrorKind::ClosedEarly, now),
            }
        }
    }
}

/// Who closed a connection whose future ended while we still held it.
fn closer_of(ended: &Result<(), h2::Error>) -> Closer {
    match ended {
        Err(err) if err.get_io().is_some_and(|io| ErrorKind::of_io(io) == ErrorKind::Reset) => Closer::Reset,
        // h2 found the server's frames malformed, and closed.
        Err(err) if err.is_library() => Closer::Client,
        Ok(()) | Err(_) => Closer::Server,
    }
}

//! One worker: opens connections one after another and runs requests on each as the mode's policy and the
//! server's answers allow (docs/design.md §2; the rules themselves are in `http::reuse`). Multiplex hands each
//! connection to `h2.rs`, and with `--http3` every mode opens QUIC connections and hands them to `h3.rs`;
//! everything else here is the HTTP/1.x connection. Serial and parallel
//! send one request and close; keep-alive sends the next request after each response; pipeline keeps up to
//! `depth` in flight once the connection has proved persistent. Everything a request does is recorded as it
//! happens, in this thread's recorder.
//!
//! Every request claimed ends in one whole response or one counted error (or, when the window ends with it
//! in flight, in `in_flight_at_end`). When a connection ends with requests unanswered (the server closed,
//! reset, or sent something unparseable ahead of them), the server never read them: each idempotent one is
//! sent again first on the worker's next connection (`retries`), and is not a server error. A busy server
//! may close any idle connection early (HTTP: The Definitive Guide, ch. 4; Apache's event MPM does), so an
//! early close after at least one response is progress and its unanswered requests are re-sent as often as
//! that happens; a connection that answered nothing gives each request one more try. A non-idempotent
//! request is never re-sent (the rule is `Backlog::unanswered`, shared with HTTP/2). A per-connection limit
//! is imposed only when the server showed the same one on several connections in a row, and only as long as
//! the connection let run past it now and then does not refute it (`backlog::Learned`).
//!
//! A connection that ends with nothing answered (the server accepted and closed, or reset, without a word:
//! a load balancer with no backend) makes the worker wait before the next one, as a refused connect does.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::IpAddr;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::time::{sleep_until, Sleep};

use super::backlog::{Attempt, Backlog};
use super::governor::Grant;
use super::{LiveCounters, ThreadCtx};
use crate::http::response::{EofOutcome, Feed, ResponseMeta, ResponseParser};
use crate::http::reuse::{Retired, Reuse};
use crate::mode::Mode;
use crate::net::stream::{self, Connected, Failed, Stream};
use crate::record::{Closer, ErrorKind};

/// How long the client's own close after an abnormal end waits for the server's FIN.
const CLIENT_LINGER: Duration = Duration::from_millis(100);
/// A worker whose connects keep failing (a dead server, no free descriptor), or whose connections end with
/// nothing answered, waits before the next one, from the first to the longest pause, doubling: never a spin,
/// and a server that comes back is found quickly.
const BACKOFF_FIRST: Duration = Duration::from_millis(1);
const BACKOFF_LONGEST: Duration = Duration::from_millis(100);

/// A request written and not yet answered.
struct InFlight {
    attempt: Attempt,
    parser: ResponseParser,
    /// Its method is idempotent: others may be pipelined behind it.
    idempotent: bool,
}

/// One connection after another until the mode's allowance ends. `numbered`: in a closed loop, this worker's
/// number in the mode, whose first request the engine has claimed already, so that every one of `-c` workers
/// opens a connection (with `-n`, the run's request of that number); None in an open loop.
///
/// Memory: a task keeps room for the largest state of its future, for its whole life, so every await of the
/// worker is kept to a few hundred bytes, what the HTTP/1.x session needs; a larger one (the multiplexed
/// session, a TLS handshake) is boxed, and costs only while it runs. `tests/memory.rs` holds the bytes per
/// waiting connection to a budget.
pub(super) async fn worker(ctx: Rc<ThreadCtx>, numbered: Option<u64>) {
    let shared = &ctx.shared;
    let plan = &shared.plan;
    // HTTP/2 reads through h2's own buffers: the HTTP/1.x queue is not needed.
    let http1_depth = if plan.mode.is_http2() { 0 } else { plan.depth as usize };
    // Lent by the thread only while a read can fill it (`buffers.rs`).
    let mut buffer = Vec::new();
    let mut flight = VecDeque::with_capacity(http1_depth);
    let mut backlog = Backlog::new(ctx.clone(), numbered.unwrap_or(0));
    if let Some(worker) = numbered {
        ctx.issued(1);
        let by_run = matches!(plan.stop, crate::plan::Stop::Requests(_));
        backlog.owe(None, by_run.then_some(worker));
    }
    let mut timer = pin!(sleep_until(Instant::now().into()));
    let mut backoff = BACKOFF_FIRST;
    loop {
        // Nothing is sent once the window is over: what this worker still owes was never written.
        if !ctx.in_window(Instant::now()) {
            return;
        }
        // A connection is opened only for work: the first request is claimed before connecting, and a
        // failed connect is that request's one error.
        if backlog.pending.is_empty() {
            match &ctx.tickets {
                Some(tickets) => match tickets.next(&ctx).await {
                    Some(due) => backlog.pending.push_back(due),
                    None => return,
                },
                None => match shared.claim(1, Instant::now()) {
                    (1, number) => {
                        ctx.issued(1);
                        backlog.owe(None, number);
                    }
                    _ => return,
                },
            }
        }
        let opened = match &ctx.quic {
            // Boxed (see above): a QUIC handshake's state.
            Some(quic) => Box::pin(super::h3::connect(&ctx, quic)).await.map(Link::Quic).map_err(NotOpened::Quic),
            None => open(&ctx).await.map(Link::Tcp),
        };
        match opened {
            Err(failure) => {
                let kind = match failure {
                    NotOpened::Connect(err) => ErrorKind::of_io(&err),
                    NotOpened::Handshake { ip, closer } => {
                        Lease::new(&ctx, Some(ip)).close(closer, false);
                        ErrorKind::Tls
                    }
                    NotOpened::Quic(kind) => kind,
                };
                // A connect that fails after the window is over took no request with it.
                if !ctx.in_window(Instant::now()) {
                    return;
                }
                if let Some(first) = backlog.pending.pop_front() {
                    ctx.failed(Instant::now(), kind, first.target);
                }
                backoff = back_off(backoff).await;
            }
            Ok(Link::Quic(link)) => {
                let lease = Lease::new(&ctx, None);
                // Boxed (see above): quinn's and h3's connection state.
                let (closer, progress) = Box::pin(super::h3::session(&ctx, link, &mut backlog)).await;
                lease.close(closer, false);
                backoff = if progress { BACKOFF_FIRST } else { back_off(backoff).await };
            }
            Ok(Link::Tcp((stream, start, ip, preface_sent))) => {
                let lease = Lease::new(&ctx, Some(ip));
                let (closer, asked, progress) = match plan.mode {
                    Mode::Multiplex => {
                        let wire = super::h2::Wire::new(&ctx, stream, preface_sent);
                        // Boxed (see above): h2's connection state is several KiB.
                        let closer =
                            Box::pin(super::h2::session(&ctx, wire, start, &mut backlog, timer.as_mut())).await;
                        (closer, false, true)
                    }
                    Mode::Serial | Mode::Parallel | Mode::Keepalive | Mode::Pipeline => {
                        let learned = backlog.learned.cap(Instant::now());
                        let limit = [plan.requests_per_connection, learned].into_iter().flatten().min();
                        let mut session = Session {
                            ctx: &ctx,
                            stream,
                            buffer: &mut buffer,
                            flight: &mut flight,
                            backlog: &mut backlog,
                            timer: timer.as_mut(),
                            reuse: Reuse::new(limit),
                            sent: 0,
                        };
                        let closer = session.run(start).await;
                        if closer == Closer::Client {
                            session.stream.close_notify(CLIENT_LINGER).await;
                        }
                        let (answered, sent) = (session.reuse.answered(), session.sent);
                        // The last response said the connection ends: a close of the client's is the server's wish.
                        let asked = session.reuse.persistent() == Some(false);
                        let announced_max = session.reuse.announced_max();
                        backlog.connection_ended(answered, Instant::now());
                        let mut recorder = ctx.recorder.borrow_mut();
                        if let Some((_, in_full)) = announced_max {
                            recorder.keep_alive_max_used(in_full);
                        }
                        ctx.buffers.give_back(&mut buffer);
                        // Nothing answered: the server's close or reset without a word is counted (and noted);
                        // whoever closed, the next connection waits.
                        let nothing = answered == 0 && sent > 0;
                        if nothing && closer != Closer::Client {
                            recorder.closed_unanswered();
                        }
                        (closer, asked, !nothing)
                    }
                };
                lease.close(closer, asked);
                backoff = if progress { BACKOFF_FIRST } else { back_off(backoff).await };
            }
        }
    }
}

/// Waits `backoff`, and returns the next pause, doubled.
async fn back_off(backoff: Duration) -> Duration {
    sleep_until((Instant::now() + backoff).into()).await;
    (backoff * 2).min(BACKOFF_LONGEST)
}

/// A connection just opened, by transport: TCP (plain or TLS; with the client IP and whether the HTTP/2 preface
/// is on the wire already), or QUIC.
enum Link {
    Tcp((Stream, Instant, IpAddr, bool)),
    Quic(super::h3::Link),
}

/// An open connection's place in the live count and the port ledger (TCP's, from its client IP; a QUIC
/// connection holds no port of its own), given back when it closes, or when the end of the window drops the
/// worker with it open (the client closes it then).
struct Lease<'a> {
    ctx: &'a ThreadCtx,
    ip: Option<IpAddr>,
    closer: Closer,
    /// The server's last response asked for the close.
    asked: bool,
}

impl<'a> Lease<'a> {
    fn new(ctx: &'a ThreadCtx, ip: Option<IpAddr>) -> Lease<'a> {
        LiveCounters::bump(&ctx.live.open_connections, 1);
        Lease { ctx, ip, closer: Closer::Client, asked: false }
    }

    fn close(mut self, closer: Closer, asked: bool) {
        (self.closer, self.asked) = (closer, asked);
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        LiveCounters::bump(&self.ctx.live.open_connections, -1);
        self.ctx.recorder.borrow_mut().closed(self.closer, self.asked);
        if let Some(ip) = self.ip {
            self.ctx.shared.governor.closed(ip, self.closer, Instant::now());
        }
    }
}

/// Why `open` has no connection to give.
enum NotOpened {
    /// No TCP connection was made.
    Connect(io::Error),
    /// TCP connected from `ip`, then the TLS handshake failed and the connection closed, `closer` first.
    Handshake { ip: IpAddr, closer: Closer },
    /// No QUIC connection was made, for this reason.
    Quic(ErrorKind),
}

/// Opens (or takes the preflight's) connection from the client IP the port governor grants; records its
/// handshakes; returns it with the instant its connect began, the IP it came from, and whether the preflight
/// already wrote the HTTP/2 connection preface on it (its check that the target speaks HTTP/2).
async fn open(ctx: &ThreadCtx) -> Result<(Stream, Instant, IpAddr, bool), NotOpened> {
    let plan = &ctx.shared.plan;
    let governor = &ctx.shared.governor;
    let tls = plan.tls.as_deref();
    // Boxed, as the adoption below: once a run, and KiB of TLS state every task would keep room for (see
    // `worker`).
    let preflight = ctx.opened.borrow_mut().take().map(Box::new);
    let (connected, ip, preface_sent) = match preflight {
        Some(opened) => {
            let session = tls.zip(opened.tls).map(|(client, (session, took))| (client, session, took));
            let adopting = Box::pin(stream::adopt(opened.stream, opened.handshake, session));
            let connected = adopting.await.map_err(NotOpened::Connect)?;
            (connected, opened.client_ip, opened.h2_preface_sent)
        }
        None => {
            // EADDRNOTAVAIL rests that IP for a second and tries another, once: never a spin.
            let mut attempts = 2;
            loop {
                let ip = match governor.acquire(Instant::now()) {
                    Grant::From(ip) => ip,
                    Grant::WaitUntil(until) => {
                        let waiting = Instant::now();
                        sleep_until(until.into()).await;
                        governor.waited(waiting.elapsed());
                        continue;
                    }
                    // The governor now tells the engine to stop claiming work.
                    Grant::Exhausted => return Err(NotOpened::Connect(io::ErrorKind::AddrNotAvailable.into())),
                };
                let bind = governor.bind_to(ip);
                match stream::connect(bind, ctx.shared.addr, plan.nodelay, plan.connect_timeout, tls).await {
                    Ok(connected) => break (connected, ip, false),
                    Err(Failed::Connect(err)) => {
                        let kind = ErrorKind::of_io(&err);
                        governor.connect_failed(ip, kind, Instant::now());
                        attempts -= 1;
                        if kind != ErrorKind::AddrUnavailable || attempts == 0 {
                            return Err(NotOpened::Connect(err));
                        }
                    }
                    Err(Failed::Handshake { started, connected, closer }) => {
                        ctx.recorder.borrow_mut().connected(connected, connected - started);
                        return Err(NotOpened::Handshake { ip, closer });
                    }
                }
            }
        }
    };
    let Connected { stream, started, connected, tls } = connected;
    let mut recorder = ctx.recorder.borrow_mut();
    recorder.connected(connected, connected - started);
    if let Some(handshake) = tls {
        recorder.tls_handshake(handshake.took, handshake.resumed, handshake.negotiated);
    }
    Ok((stream, started, ip, preface_sent))
}

impl ThreadCtx {
    /// Requests taken from the mode's allowance by this thread, to tell at the end how many were in flight.
    pub(super) fn issued(&self, count: u64) {
        self.issued.set(self.issued.get() + count);
    }

    /// Requests issued and never written when their worker ended: neither answered, failed nor in flight.
    pub(super) fn unsent(&self, count: u64) {
        self.unsent.set(self.unsent.get() + count);
    }

    /// Request `target` failed as `kind`.
    pub(super) fn failed(&self, at: Instant, kind: ErrorKind, target: u32) {
        if self.in_window(at) {
            self.recorder.borrow_mut().failed_for(at, kind, target as usize);
            LiveCounters::bump(&self.live.errors, 1);
        }
    }

    /// Did `at` fall inside the `-d` window? A request that ends after it (in the moment before the engine
    /// stops it) was in flight at the end, and is counted so, not as completed or failed.
    pub(super) fn in_window(&self, at: Instant) -> bool {
        self.shared.deadline.is_none_or(|deadline| at <= deadline)
    }
}

/// One connection's life; `run` returns who closed it first. Dropping the stream closes our side.
struct Session<'a> {
    ctx: &'a ThreadCtx,
    stream: Stream,
    buffer: &'a mut Vec<u8>,
    flight: &'a mut VecDeque<InFlight>,
    backlog: &'a mut Backlog,
    timer: Pin<&'a mut Sleep>,
    reuse: Reuse,
    /// Requests written on this connection (`reuse` counts the responses).
    sent: u64,
}

/// How a read ended.
enum Read {
    /// A scheduled request is waiting and this connection has pipeline room for it.
    Room,
    Bytes(usize),
    Eof,
    Failed(ErrorKind),
    TimedOut,
}

/// Why a connection is ending while requests may still be in flight.
#[derive(Clone, Copy)]
enum Ending {
    /// End of stream from the server.
    Eof,
    /// A response said the server closes after it.
    Announced,
    /// A read or write failed (reset, mostly).
    Failed(ErrorKind),
    /// The oldest request waited longer than `--timeout`.
    TimedOut,
    /// The oldest request's response cannot be framed.
    Malformed,
}

/// How waiting for work on an idle connection ended.
enum Idle {
    /// A scheduled request is now owed by this connection.
    Work,
    /// No more work for this connection: the schedule is over, or the server's idle timeout is near.
    Over,
    /// The server closed or reset the idle connection.
    Ended(Ending),
    /// Bytes nobody asked for.
    Unexpected,
}

/// What becomes of the oldest request in flight when its connection ends.
enum Fate {
    /// Its body ran until the close: the close completed it.
    Answered(ResponseMeta),
    /// Its response was cut short, timed out or is malformed.
    Failed(ErrorKind),
    /// Not one byte of its response arrived.
    Unanswered,
}

impl Session<'_> {
    async fn run(&mut self, connect_start: Instant) -> Closer {
        let (mut start, mut end) = (0usize, 0usize);
        let depth = u64::from(self.ctx.shared.plan.depth);
        loop {
            // Closed loop: the next pipelined batch goes once the last is answered, as wrk does. Refilling
            // after every read kept the pipe fuller but cost a write per read instead of one per `depth`
            // requests: 4.8 against 3.6 µs of client CPU per request on loopback (1.3x wrk's).
            if self.ctx.tickets.is_some() || self.flight.is_empty() {
                let now = Instant::now();
                let want = self.room(depth, now);
                if want > 0 {
                    if let Err(kind) = self.write_batch(want, connect_start, now).await {
                        return self.closer_after(Ending::Failed(kind));
                    }
                }
                if self.flight.is_empty() {
                    match self.reuse.retired(self.sent, 0, now) {
                        Some(Retired::NotPersistent) => return self.after_last_response().await,
                        // One-shot modes close at once (the server keeps the connection open); a persistent
                        // connection retired by a learned limit or the idle rule may race the server's own
                        // close, and whose FIN came first decides where TIME_WAIT lands.
                        Some(Retired::Limit) if self.ctx.shared.plan.requests_per_connection.is_some() => {
                            return Closer::Client
                        }
                        Some(Retired::Limit | Retired::Idle) => return self.close_unless_closed().await,
                        None => {}
                    }
                    match self.idle().await {
                        Idle::Work => continue,
                        Idle::Over => return Closer::Client,
                        Idle::Ended(ending) => return self.closer_after(ending),
                        Idle::Unexpected => return self.unsolicited().await,
                    }
                }
            }
            let room = self.ctx.tickets.is_some() && self.room(depth, Instant::now()) > 0;
            let n = match self.read(end, room).await {
                Read::Room => continue,
                Read::Bytes(n) => n,
                Read::Eof => return self.closer_after(Ending::Eof),
                Read::Failed(kind) => return self.closer_after(Ending::Failed(kind)),
                Read::TimedOut => {
                    self.settle(Ending::TimedOut);
                    return self.close_gracefully().await;
                }
            };
            let now = Instant::now();
            self.ctx.recorder.borrow_mut().received(n);
            end += n;
            while start < end {
                let Some(head) = self.flight.front_mut() else {
                    return self.unsolicited().await;
                };
                head.attempt.first_byte.get_or_insert(now);
                // The memo's borrow ends with this statement, before any await below.
                let fed = head.parser.feed(&self.buffer[start..end], &mut self.ctx.memo.borrow_mut());
                match fed {
                    Ok(Feed::Incomplete { consumed }) => {
                        start += consumed;
                        break;
                    }
                    Ok(Feed::Complete { consumed, meta }) => {
                        start += consumed;
                        self.complete(now, &meta);
                        if !meta.persistent {
                            // What is still in flight will not be answered on this connection.
                            self.settle(Ending::Announced);
                            break;
                        }
                    }
                    Err(_) => {
                        self.settle(Ending::Malformed);
                        return self.close_gracefully().await;
                    }
                }
            }
            (start, end) = self.make_room(start, end);
        }
    }

    /// How many more requests the connection may have written now: what the server's answers allow
    /// (`Reuse::sendable`), and nothing behind a request that is not idempotent, nor such a request behind
    /// others (RFC 9112 §9.3.2: it goes alone).
    fn room(&self, depth: u64, now: Instant) -> u64 {
        let alone_in_flight = self.flight.front().is_some_and(|f| !f.idempotent);
        let waits_for_alone =
            !self.flight.is_empty() && self.backlog.pending.front().is_some_and(|p| !self.backlog.idempotent(p));
        if alone_in_flight || waits_for_alone {
            return 0;
        }
        self.reuse.sendable(self.sent, self.flight.len() as u64, depth, now)
    }

    /// Writes up to `want` requests in one write: retries first, then new ones from the allowance. A request
    /// that is not idempotent goes only with nothing in flight, and ends the batch; one met behind others
    /// stays owed, first, for when they are answered.
    async fn write_batch(&mut self, want: u64, connect_start: Instant, now: Instant) -> Result<(), ErrorKind> {
        let ctx = self.ctx;
        let requests = &ctx.shared.plan.requests;
        let share = self.backlog.share_out(ctx, want, now);
        // A connection's first request goes alone (persistence is not known yet), and asks for keep-alive.
        let first = self.sent == 0;
        let mut batch = 0;
        for _ in 0..share {
            let Some(request) = self.backlog.next(ctx, now) else { break };
            let prepared = &requests[request.target as usize];
            if !prepared.idempotent && !self.flight.is_empty() {
                self.backlog.pending.push_front(request);
                break;
            }
            let attempt = Attempt::sent(request, self.sent == 0, connect_start, now);
            let parser = ResponseParser::new(prepared.head);
            self.flight.push_back(InFlight { attempt, parser, idempotent: prepared.idempotent });
            self.sent += 1;
            batch += 1;
            if !prepared.idempotent {
                break;
            }
        }
        if batch == 0 {
            return Ok(());
        }
        ctx.recorder.borrow_mut().in_flight(self.flight.len());
        // The batch is the newest of the requests in flight.
        let from = self.flight.len() - batch;
        let target = |f: &InFlight| f.attempt.target as usize;
        let written = match batch {
            1 if first => self.write(requests[target(&self.flight[from])].first()).await,
            1 => self.write(&requests[target(&self.flight[from])].bytes).await,
            _ => {
                // Several requests in one write, copied into a buffer the thread lends for the write.
                let mut joined = ctx.joined.take();
                joined.clear();
                for f in self.flight.range(from..) {
                    joined.extend_from_slice(&requests[target(f)].bytes);
                }
                let written = self.write(&joined).await;
                ctx.joined.set(joined);
                written
            }
        };
        written.map_err(|err| ErrorKind::of_io(&err))
    }

    /// Writes `bytes` whole. TLS may keep records back when the socket is not yet known to be writable; the
    /// flush sends them (a plain socket's flush is a no-op, no syscall).
    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads into the free end of the buffer, bounded by the oldest request's timeout.
    ///
    /// The timer is re-armed only when it fires (to the oldest request's due time), never per
    /// request: a timer reset per response would cost more than the rest of the bookkeeping.
    async fn read(&mut self, end: usize, room: bool) -> Read {
        let ctx = self.ctx;
        loop {
            tokio::select! {
                biased;
                result = poll_fn(|cx| ctx.buffers.poll_read(cx, &mut self.stream, self.buffer, end)) => return match result {
                    Ok(0) => Read::Eof,
                    Ok(n) => Read::Bytes(n),
                    Err(err) => Read::Failed(ErrorKind::of_io(&err)),
                },
                () = async { ctx.tickets.as_ref().expect("room is only wanted in open loop").room_wanted().await },
                    if room => return Read::Room,
                () = self.timer.as_mut() => {
                    let now = Instant::now();
                    let timeout = self.ctx.shared.plan.timeout;
                    let due = self.flight.front().map_or(now + timeout, |oldest| oldest.attempt.sent + timeout);
                    if now >= due {
                        return Read::TimedOut;
                    }
                    self.timer.as_mut().reset(due.into());
                }
            }
        }
    }

    /// Open loop, nothing in flight: waits for the next scheduled request while watching the connection, so
    /// a server closing an idle connection costs no request, and the announced Keep-Alive timeout is kept.
    async fn idle(&mut self) -> Idle {
        let ctx = self.ctx;
        let Some(tickets) = &ctx.tickets else {
            return Idle::Over;
        };
        let expiry = self.reuse.idle_deadline();
        tokio::select! {
            biased;
            due = tickets.next(ctx) => match due {
                Some(due) => {
                    self.backlog.pending.push_back(due);
                    Idle::Work
                }
                None => Idle::Over,
            },
            result = poll_fn(|cx| ctx.buffers.poll_read(cx, &mut self.stream, self.buffer, 0)) => match result {
                Ok(0) => Idle::Ended(Ending::Eof),
                Ok(_) => Idle::Unexpected,
                Err(err) => Idle::Ended(Ending::Failed(ErrorKind::of_io(&err))),
            },
            () = sleep_until(expiry.unwrap_or_else(Instant::now).into()), if expiry.is_some() => Idle::Over,
        }
    }

    /// Keeps unparsed bytes and guarantees free space for the next read.
    fn make_room(&mut self, start: usize, end: usize) -> (usize, usize) {
        if start == end {
            return (0, 0);
        }
        if end == self.buffer.len() {
            if start > 0 {
                self.buffer.copy_within(start..end, 0);
                return (0, end - start);
            }
            // A response head longer than the buffer: grow (the parser bounds heads at 64 KiB).
            let len = self.buffer.len();
            self.buffer.resize(len * 2, 0);
        }
        (start, end)
    }

    fn complete(&mut self, done: Instant, meta: &ResponseMeta) {
        let request = self.flight.pop_front().expect("a response completes a request in flight");
        request.attempt.completed(self.ctx, done, meta.status);
        let mut recorder = self.ctx.recorder.borrow_mut();
        let first = self.reuse.persistent().is_none();
        if first && !meta.persistent && self.ctx.shared.plan.requests_per_connection.is_none() {
            recorder.keep_alive_declined();
        }
        if meta.keep_alive_max.is_some() || meta.keep_alive_timeout_secs.is_some() {
            recorder.keep_alive_limits(meta.keep_alive_max.filter(|_| first), meta.keep_alive_timeout_secs);
        }
        drop(recorder);
        self.reuse.on_response(meta, done);
        LiveCounters::bump(&self.ctx.live.requests, 1);
    }

    /// Settles what is in flight when the connection ends, and says who closed it.
    fn closer_after(&mut self, ending: Ending) -> Closer {
        self.settle(ending);
        match ending {
            Ending::Failed(ErrorKind::Reset) => Closer::Reset,
            Ending::Failed(_) | Ending::TimedOut | Ending::Malformed => Closer::Client,
            Ending::Eof | Ending::Announced => Closer::Server,
        }
    }

    /// The connection is ending: the oldest request fails if its response was cut short (or it timed out,
    /// or its response is malformed); every other request in flight was unanswered, and is retried once
    /// if it may be.
    fn settle(&mut self, ending: Ending) {
        let now = Instant::now();
        let fate = self.flight.front_mut().map(|head| match ending {
            Ending::Eof => match head.parser.eof() {
                EofOutcome::Complete(meta) => Fate::Answered(meta),
                EofOutcome::Truncated => Fate::Failed(ErrorKind::Truncated),
                EofOutcome::NothingReceived => Fate::Unanswered,
            },
            Ending::Failed(kind) if head.parser.started() => Fate::Failed(kind),
            Ending::TimedOut => Fate::Failed(ErrorKind::Timeout),
            Ending::Malformed => Fate::Failed(ErrorKind::Parse),
            Ending::Failed(_) | Ending::Announced => Fate::Unanswered,
        });
        match fate {
            Some(Fate::Answered(meta)) => self.complete(now, &meta),
            Some(Fate::Failed(kind)) => {
                if let Some(head) = self.flight.pop_front() {
                    self.ctx.failed(now, kind, head.attempt.target);
                }
            }
            Some(Fate::Unanswered) | None => {}
        }
        if self.flight.is_empty() {
            return;
        }
        let answered = self.reuse.answered();
        if matches!(ending, Ending::Eof | Ending::Announced | Ending::Failed(_)) {
            self.backlog.learned.early_close(answered);
        }
        let unanswered = match ending {
            Ending::Failed(kind) => kind,
            _ => ErrorKind::ClosedEarly,
        };
        for request in self.flight.drain(..) {
            // The client gave up on the oldest: any other that has waited as long timed out too.
            if matches!(ending, Ending::TimedOut) && request.attempt.too_late(self.ctx, now) {
                self.ctx.failed(now, ErrorKind::Timeout, request.attempt.target);
                continue;
            }
            self.backlog.unanswered(self.ctx, request.attempt.request(), answered > 0, unanswered, now);
        }
    }

    /// After a response that said the connection closes. With `--close-by server`, wait for the server's
    /// FIN so the close is the server's (and TIME_WAIT lands on its side), bounded by the request timeout.
    /// Otherwise the exchange is over and so is the connection, at once (a server that keeps the socket
    /// open must not cost a timeout).
    async fn after_last_response(&mut self) -> Closer {
        if self.ctx.shared.plan.await_server_close {
            let due = Instant::now() + self.ctx.shared.plan.timeout;
            return self.drain_until(due).await.unwrap_or(Closer::Client);
        }
        self.close_unless_closed().await
    }

    /// The client closes now, unless the server's FIN is already in: then the close was the server's.
    async fn close_unless_closed(&mut self) -> Closer {
        self.drain_until(Instant::now()).await.unwrap_or(Closer::Client)
    }

    /// The client's own close after an abnormal end (a timeout, bytes that cannot be matched): shut down
    /// writing, then read away what the server still sends for a moment, so that close() finds nothing
    /// unread and the kernel sends FIN rather than RST (RFC 9112 §9.6). A normal client close needs none
    /// of this: every response has been read, and dropping the socket sends FIN (over TLS, after the
    /// `close_notify` the worker sends).
    async fn close_gracefully(&mut self) -> Closer {
        let _ = self.stream.shutdown().await;
        let _ = self.drain_until(Instant::now() + CLIENT_LINGER).await;
        Closer::Client
    }

    /// Bytes nobody asked for (a second response to one request, say): the stream can no longer be matched
    /// to requests, so the client closes the connection, and counts why.
    async fn unsolicited(&mut self) -> Closer {
        self.ctx.recorder.borrow_mut().closed_unsolicited();
        self.close_gracefully().await
    }

    /// Reads and discards until the server closes (its FIN or RST) or `due`, whichever comes first.
    async fn drain_until(&mut self, due: Instant) -> Option<Closer> {
        self.ctx.buffers.lend(self.buffer);
        self.stream.until_peer_closes(&mut self.buffer[..], due).await
    }
}

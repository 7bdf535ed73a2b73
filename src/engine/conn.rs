//! One worker: opens connections one after another and runs requests on each as the mode's policy and the
//! server's answers allow (docs/design.md §2; the rules themselves are in `http::reuse`). Multiplex hands each
//! connection to `h2.rs`, and with `--http3` every mode opens QUIC connections and hands them to `h3.rs`;
//! everything else here drives the HTTP/1.x connection of `h1.rs` over tokio (the sans-IO machine decides what
//! to send, how each response ends and how the connection closes; this file reads, writes and waits). Serial
//! and parallel send one request and close; keep-alive sends the next request after each response; pipeline keeps up to
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

use std::future::poll_fn;
use std::io;
use std::net::IpAddr;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::time::{sleep_until, Sleep};

use super::backlog::Backlog;
use super::governor::Grant;
use super::h1::{self, Close, Next, Rules};
use super::{LiveCounters, ThreadCtx};
use crate::mode::Mode;
use crate::net::stream::{self, Connected, Failed, Stream};
use crate::record::{Closer, ErrorKind};

/// How long the client's own close after an abnormal end waits for the server's FIN.
pub(super) const CLIENT_LINGER: Duration = Duration::from_millis(100);
/// A worker whose connects keep failing (a dead server, no free descriptor), or whose connections end with
/// nothing answered, waits before the next one, from the first to the longest pause, doubling: never a spin,
/// and a server that comes back is found quickly.
pub(super) const BACKOFF_FIRST: Duration = Duration::from_millis(1);
pub(super) const BACKOFF_LONGEST: Duration = Duration::from_millis(100);

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
    let rules = Rules { depth: if plan.mode.is_http2() { 0 } else { u64::from(plan.depth) }, ..Rules::of(plan) };
    // Lent by the thread only while a read can fill it (`buffers.rs`).
    let mut buffer = Vec::new();
    let mut conn = h1::Connection::new(rules, Instant::now());
    let mut backlog = Backlog::new(ctx.clone(), numbered);
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
                        conn.open(start, Instant::now(), &mut backlog);
                        let mut session = Session {
                            ctx: &ctx,
                            stream,
                            buffer: &mut buffer,
                            conn: &mut conn,
                            backlog: &mut backlog,
                            timer: timer.as_mut(),
                        };
                        let closer = session.run().await;
                        if closer == Closer::Client {
                            session.stream.close_notify(CLIENT_LINGER).await;
                        }
                        drop(session);
                        ctx.buffers.give_back(&mut buffer);
                        let finished = conn.finish(closer, Instant::now(), &mut backlog);
                        (closer, finished.asked, finished.progress)
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
/// worker with it open (the client closes it then). The io_uring engine's connections hold one too.
pub(super) struct Lease {
    ctx: Rc<ThreadCtx>,
    ip: Option<IpAddr>,
    closer: Closer,
    /// The server's last response asked for the close.
    asked: bool,
}

impl Lease {
    pub(super) fn new(ctx: &Rc<ThreadCtx>, ip: Option<IpAddr>) -> Lease {
        LiveCounters::bump(&ctx.live.open_connections, 1);
        Lease { ctx: ctx.clone(), ip, closer: Closer::Client, asked: false }
    }

    pub(super) fn close(mut self, closer: Closer, asked: bool) {
        (self.closer, self.asked) = (closer, asked);
    }
}

impl Drop for Lease {
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
    ctx.opened(started, connected, tls);
    Ok((stream, started, ip, preface_sent))
}

impl ThreadCtx {
    /// A connection opened: its TCP handshake began at `started` and ended at `connected`, then its TLS one.
    pub(super) fn opened(&self, started: Instant, connected: Instant, tls: Option<stream::Handshake>) {
        let mut recorder = self.recorder.borrow_mut();
        recorder.connected(connected, connected - started);
        if let Some(handshake) = tls {
            recorder.tls_handshake(handshake.took, handshake.resumed, handshake.negotiated);
        }
    }

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

/// One connection's life over tokio: the driver of its `h1::Connection`, which decides everything; `run` returns
/// who closed it first. Dropping the stream closes our side.
struct Session<'a> {
    ctx: &'a ThreadCtx,
    stream: Stream,
    buffer: &'a mut Vec<u8>,
    conn: &'a mut h1::Connection,
    backlog: &'a mut Backlog,
    timer: Pin<&'a mut Sleep>,
}

/// How a read ended.
enum Read {
    /// A scheduled request is waiting and this connection has pipeline room for it.
    Room,
    Bytes(usize),
    Eof,
    Failed(ErrorKind),
    /// The timer fired: the machine says whether the oldest request timed out.
    Timer,
}

impl Session<'_> {
    async fn run(&mut self) -> Closer {
        // Unparsed bytes are `buffer[start..end]`: part of a head, or of a chunk's size line.
        let (mut start, mut end) = (0usize, 0usize);
        let mut now = Instant::now();
        loop {
            match self.conn.poll(now, self.backlog) {
                Next::Write(batch) => {
                    if let Err(err) = self.write(batch).await {
                        self.conn.write_failed(ErrorKind::of_io(&err), Instant::now(), self.backlog);
                    }
                }
                Next::Read { room } => match self.read(end, room).await {
                    Read::Room => now = Instant::now(),
                    Read::Bytes(n) => {
                        now = Instant::now();
                        end += n;
                        start += self.conn.feed(&self.buffer[start..end], now, self.backlog);
                        (start, end) = self.make_room(start, end);
                    }
                    Read::Eof => self.conn.eof(Instant::now(), self.backlog),
                    Read::Failed(kind) => self.conn.read_failed(kind, Instant::now(), self.backlog),
                    Read::Timer => {
                        now = Instant::now();
                        if let Some(due) = self.conn.timer(now, self.backlog) {
                            self.timer.as_mut().reset(due.into());
                        }
                    }
                },
                Next::Idle { until } => {
                    match self.idle(until).await {
                        Idle::Work => {}
                        Idle::Over => return Closer::Client,
                        Idle::Eof => self.conn.eof(Instant::now(), self.backlog),
                        Idle::Failed(kind) => self.conn.read_failed(kind, Instant::now(), self.backlog),
                        Idle::Unexpected => self.conn.unsolicited(self.backlog),
                    }
                    now = Instant::now();
                }
                Next::Close(close) => return self.close(close).await,
            }
        }
    }

    /// Writes a batch whole. TLS may keep records back when the socket is not yet known to be writable; the
    /// flush sends them (a plain socket's flush is a no-op, no syscall).
    async fn write(&mut self, batch: h1::Batch) -> io::Result<()> {
        let requests = &self.ctx.shared.plan.requests;
        // Several requests in one write are copied into a buffer the thread lends for the write.
        let mut joined = self.ctx.joined.take();
        let written = self.stream.write_all(self.conn.transmit(batch, requests, &mut joined)).await;
        self.ctx.joined.set(joined);
        written?;
        self.stream.flush().await
    }

    /// Reads into the free end of the buffer, or says the timer fired (`h1::Connection::timer` re-arms it to
    /// the oldest request's due time, never per request).
    async fn read(&mut self, end: usize, room: bool) -> Read {
        let ctx = self.ctx;
        tokio::select! {
            biased;
            result = poll_fn(|cx| ctx.buffers.poll_read(cx, &mut self.stream, self.buffer, end)) => match result {
                Ok(0) => Read::Eof,
                Ok(n) => Read::Bytes(n),
                Err(err) => Read::Failed(ErrorKind::of_io(&err)),
            },
            () = async { ctx.tickets.as_ref().expect("room is only wanted in open loop").room_wanted().await },
                if room => Read::Room,
            () = self.timer.as_mut() => Read::Timer,
        }
    }

    /// Open loop, nothing in flight: waits for the next scheduled request while watching the connection, so
    /// a server closing an idle connection costs no request, and the announced Keep-Alive timeout is kept.
    async fn idle(&mut self, until: Option<Instant>) -> Idle {
        let ctx = self.ctx;
        let tickets = ctx.tickets.as_ref().expect("only an open-loop connection waits idle");
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
                Ok(0) => Idle::Eof,
                Ok(_) => Idle::Unexpected,
                Err(err) => Idle::Failed(ErrorKind::of_io(&err)),
            },
            () = sleep_until(until.unwrap_or_else(Instant::now).into()), if until.is_some() => Idle::Over,
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

    /// Closes as the machine said, and says who closed first.
    async fn close(&mut self, close: Close) -> Closer {
        match close {
            Close::Now(closer) => closer,
            Close::UnlessClosed => self.drain_until(Instant::now()).await.unwrap_or(Closer::Client),
            Close::AwaitServer(due) => self.drain_until(due).await.unwrap_or(Closer::Client),
            Close::Graceful => {
                let _ = self.stream.shutdown().await;
                let _ = self.drain_until(Instant::now() + CLIENT_LINGER).await;
                Closer::Client
            }
        }
    }

    /// Reads and discards until the server closes (its FIN or RST) or `due`, whichever comes first.
    async fn drain_until(&mut self, due: Instant) -> Option<Closer> {
        self.ctx.buffers.lend(self.buffer);
        self.stream.until_peer_closes(&mut self.buffer[..], due).await
    }
}

/// How waiting for work on an idle connection ended.
enum Idle {
    /// A scheduled request is now owed by this connection.
    Work,
    /// No more work for this connection: the schedule is over, or the server's idle timeout is near.
    Over,
    /// The server closed or reset the idle connection.
    Eof,
    Failed(ErrorKind),
    /// Bytes nobody asked for.
    Unexpected,
}

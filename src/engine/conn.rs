//! One worker: opens connections one after another and runs requests on each as the mode's policy
//! says (DESIGN.md §2). Serial and parallel send one request and close; keep-alive sends the next
//! request after each response; pipeline keeps up to `depth` in flight once the connection has proved
//! persistent. Everything a request does is recorded as it happens, in this thread's recorder.

use std::collections::VecDeque;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Sleep};

use super::{LiveCounters, ThreadCtx};
use crate::http::response::{EofOutcome, Feed, ResponseParser};
use crate::net::socket;
use crate::record::{Closer, ErrorKind, Exchange};

/// A request written and not yet answered.
struct InFlight {
    start: Instant,
    sent: Instant,
    first_byte: Option<Instant>,
    opened_connection: bool,
    parser: ResponseParser,
}

pub(super) async fn worker(ctx: Rc<ThreadCtx>) {
    let shared = &ctx.shared;
    let plan = &shared.plan;
    let mut buffer = vec![0u8; ctx.read_buffer];
    let mut flight = VecDeque::with_capacity(plan.depth as usize);
    let mut timer = pin!(sleep_until(Instant::now().into()));
    // The first request is claimed before connecting: a connection is opened only for work, and a
    // failed connect is that request's one error.
    while ctx.shared.claim(1, Instant::now()) == 1 {
        match open(&ctx).await {
            Err(err) => ctx.failed(Instant::now(), ErrorKind::of_io(&err)),
            Ok((stream, start)) => {
                LiveCounters::bump(&ctx.live.open_connections, 1);
                let mut session =
                    Session { ctx: &ctx, stream, buffer: &mut buffer, flight: &mut flight, timer: timer.as_mut() };
                let closer = session.run(start).await;
                LiveCounters::bump(&ctx.live.open_connections, -1);
                ctx.recorder.borrow_mut().closed(closer);
            }
        }
    }
}

/// Opens (or takes the preflight's) connection; records its handshake; returns it with the instant
/// its connect began.
async fn open(ctx: &ThreadCtx) -> io::Result<(TcpStream, Instant)> {
    let plan = &ctx.shared.plan;
    let preflight = ctx.opened.borrow_mut().take();
    let (stream, start) = match preflight {
        Some(opened) => {
            opened.stream.set_nonblocking(true)?;
            // Counted as if it had just connected, so its idle wait is not charged to the request.
            (TcpStream::from_std(opened.stream)?, Instant::now() - opened.handshake)
        }
        None => {
            let start = Instant::now();
            (socket::connect(ctx.shared.addr, plan.nodelay, plan.connect_timeout).await?, start)
        }
    };
    let now = Instant::now();
    ctx.recorder.borrow_mut().connected(now, now - start);
    Ok((stream, start))
}

impl ThreadCtx {
    fn failed(&self, at: Instant, kind: ErrorKind) {
        self.recorder.borrow_mut().failed(at, kind);
        LiveCounters::bump(&self.live.errors, 1);
    }
}

/// One connection's life; returns who closed it first. Dropping the stream closes our side.
struct Session<'a> {
    ctx: &'a ThreadCtx,
    stream: TcpStream,
    buffer: &'a mut Vec<u8>,
    flight: &'a mut VecDeque<InFlight>,
    timer: std::pin::Pin<&'a mut Sleep>,
}

/// How a read ended.
enum Read {
    Bytes(usize),
    Eof,
    Failed(ErrorKind),
    TimedOut,
}

impl Session<'_> {
    async fn run(&mut self, connect_start: Instant) -> Closer {
        let plan = &self.ctx.shared.plan;
        let request_len = plan.request.len();
        let limit = plan.requests_per_connection.unwrap_or(u64::MAX);
        let mut sent_here = 0u64;
        // The worker claimed the first request before connecting.
        let mut claimed_before_connect = 1u64;
        // Pipelining starts only once a response has shown the connection persists (the seeds' rule).
        let mut persistent = false;
        let (mut start, mut end) = (0usize, 0usize);
        loop {
            let window =
                if persistent { plan.depth as u64 - self.flight.len() as u64 } else { u64::from(sent_here == 0) };
            let want = window.min(limit - sent_here);
            let batch = if want == 0 {
                0
            } else {
                let extra = self.ctx.shared.claim(want - claimed_before_connect, Instant::now());
                std::mem::take(&mut claimed_before_connect) + extra
            };
            if batch > 0 {
                let sent = Instant::now();
                let bytes = &self.ctx.shared.burst[..batch as usize * request_len];
                if let Err(err) = self.stream.write_all(bytes).await {
                    self.fail_all(ErrorKind::of_io(&err), batch);
                    return closer_after(&err);
                }
                for _ in 0..batch {
                    let first = sent_here == 0;
                    self.flight.push_back(InFlight {
                        start: if first { connect_start } else { sent },
                        sent,
                        first_byte: None,
                        opened_connection: first,
                        parser: ResponseParser::new(plan.head_request),
                    });
                    sent_here += 1;
                }
            }
            if self.flight.is_empty() {
                return Closer::Client;
            }
            let n = match self.read(end).await {
                Read::Bytes(n) => n,
                Read::Eof => return self.server_closed(),
                Read::Failed(kind) => {
                    self.fail_all(kind, 0);
                    return if kind == ErrorKind::Reset { Closer::Reset } else { Closer::Client };
                }
                Read::TimedOut => {
                    self.fail_all(ErrorKind::Timeout, 0);
                    return Closer::Client;
                }
            };
            let now = Instant::now();
            self.ctx.recorder.borrow_mut().received(n);
            end += n;
            while start < end {
                let Some(head) = self.flight.front_mut() else {
                    // Bytes nobody asked for: the stream can no longer be matched to requests.
                    return Closer::Client;
                };
                head.first_byte.get_or_insert(now);
                match head.parser.feed(&self.buffer[start..end]) {
                    Ok(Feed::Incomplete { consumed }) => {
                        start += consumed;
                        break;
                    }
                    Ok(Feed::Complete { consumed, meta }) => {
                        start += consumed;
                        self.complete(now, meta.status);
                        persistent = meta.persistent;
                        if !persistent {
                            // The server said it closes after this response: what is still in
                            // flight will not be answered.
                            self.fail_all(ErrorKind::ClosedEarly, 0);
                            return self.await_server_close().await;
                        }
                    }
                    Err(_) => {
                        self.fail_head_then_rest(ErrorKind::Parse);
                        return Closer::Client;
                    }
                }
            }
            (start, end) = self.make_room(start, end);
        }
    }

    /// Reads into the free end of the buffer, bounded by the oldest request's timeout.
    ///
    /// The timer is re-armed only when it fires (to the oldest request's due time), never per
    /// request: a timer reset per response would cost more than the rest of the bookkeeping.
    async fn read(&mut self, end: usize) -> Read {
        loop {
            tokio::select! {
                biased;
                result = self.stream.read(&mut self.buffer[end..]) => return match result {
                    Ok(0) => Read::Eof,
                    Ok(n) => Read::Bytes(n),
                    Err(err) => Read::Failed(ErrorKind::of_io(&err)),
                },
                () = self.timer.as_mut() => {
                    let now = Instant::now();
                    let timeout = self.ctx.shared.plan.timeout;
                    let due = self.flight.front().map_or(now + timeout, |oldest| oldest.sent + timeout);
                    if now >= due {
                        return Read::TimedOut;
                    }
                    self.timer.as_mut().reset(due.into());
                }
            }
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

    fn complete(&mut self, done: Instant, status: u16) {
        let request = self.flight.pop_front().expect("a response completes a request in flight");
        let exchange = Exchange {
            start: request.start,
            sent: request.sent,
            first_byte: request.first_byte.unwrap_or(done),
            done,
            opened_connection: request.opened_connection,
        };
        self.ctx.recorder.borrow_mut().completed(&exchange, status);
        LiveCounters::bump(&self.ctx.live.requests, 1);
    }

    /// The server's end-of-stream while requests were in flight.
    fn server_closed(&mut self) -> Closer {
        let now = Instant::now();
        if let Some(head) = self.flight.front_mut() {
            match head.parser.eof() {
                EofOutcome::Complete(meta) => self.complete(now, meta.status),
                EofOutcome::Truncated => self.fail_head_then_rest(ErrorKind::Truncated),
                EofOutcome::NothingReceived => {}
            }
        }
        self.fail_all(ErrorKind::ClosedEarly, 0);
        Closer::Server
    }

    /// After a response that said the connection closes: wait for the server's FIN so the close is
    /// the server's (and TIME_WAIT lands on its side), bounded by the request timeout.
    async fn await_server_close(&mut self) -> Closer {
        let due = Instant::now() + self.ctx.shared.plan.timeout;
        loop {
            tokio::select! {
                biased;
                result = self.stream.read(&mut self.buffer[..]) => match result {
                    Ok(0) => return Closer::Server,
                    Ok(_) => continue,
                    Err(err) => return closer_after(&err),
                },
                () = sleep_until(due.into()) => return Closer::Client,
            }
        }
    }

    /// The oldest request fails with `kind`; the rest behind it were never answered.
    fn fail_head_then_rest(&mut self, kind: ErrorKind) {
        if self.flight.pop_front().is_some() {
            self.ctx.failed(Instant::now(), kind);
        }
        self.fail_all(ErrorKind::ClosedEarly, 0);
    }

    /// Every request in flight, and `unwritten` claimed ones whose write failed, end in one `kind`
    /// error each: a request issued ends in a response or in exactly one counted error.
    fn fail_all(&mut self, kind: ErrorKind, unwritten: u64) {
        let now = Instant::now();
        for _ in 0..self.flight.len() as u64 + unwritten {
            self.ctx.failed(now, kind);
        }
        self.flight.clear();
    }
}

fn closer_after(err: &io::Error) -> Closer {
    if ErrorKind::of_io(err) == ErrorKind::Reset {
        Closer::Reset
    } else {
        Closer::Client
    }
}

//! HTTP/3 (RFC 9114) over QUIC (RFC 9000), for every mode with `--http3`: a QUIC connection from the thread's
//! one endpoint (`net::quic`), the h3 crate over it, and each request on a stream of its own. The mode's
//! policy is the same numbers as over TCP: serial and parallel send one request per connection, keepalive
//! one at a time, multiplex up to `depth` at once; responses are matched by stream, so a slow one holds up no
//! other, and a lost packet holds up only the streams whose data it carried (no TCP head-of-line blocking).
//!
//! The same rules as HTTP/1.x and HTTP/2, through the same pieces (`backlog.rs`, `Attempt`, the recorder):
//! the worker owes what is in its backlog, retries first; a stream the server did not process (reset with
//! H3_REQUEST_REJECTED, refused after a GOAWAY, or lost with its connection before any answer, RFC 9114 §4.1.1
//! and §5.2) goes through `Backlog::unanswered`; any other reset is `errors.h3_reset`. The connection's
//! handshake is its `connect` time: QUIC does transport and TLS in one exchange, so `latency.tls` stays empty
//! and the TLS handshakes are counted, full or resumed. With `--0rtt` the first request of a resumed
//! connection leaves with the first packet, before the handshake ends (RFC 9001 §4.6.1).
//!
//! A stream waits for the server's stream credit (MAX_STREAMS, RFC 9000 §4.6) inside h3 before it is sent;
//! its latency counts from then. When streams had to wait, the most open at once is the server's limit,
//! reported as HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS is.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use h3::error::{Code, StreamError};

use super::backlog::{Attempt, Backlog, Pending};
use super::h2::Template;
use super::{LiveCounters, ThreadCtx};
use crate::net::quic;
use crate::record::{Closer, ErrorKind, Negotiated};

type Sender = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

/// What a QUIC connection negotiated: TLS 1.3 always (RFC 9001 §4.2), ALPN h3; quinn does not say which
/// cipher suite.
pub(crate) const NEGOTIATED: Negotiated = Negotiated { version: "TLSv1.3", cipher: "unknown", alpn: Some("h3") };
/// The application close of a connection with nothing wrong (RFC 9114 §8.1).
const H3_NO_ERROR: quinn::VarInt = quinn::VarInt::from_u32(0x100);

/// A thread's QUIC: its one endpoint (one UDP socket, driven by the thread's runtime), and the run's client.
pub(super) struct Quic {
    endpoint: Result<quinn::Endpoint, ErrorKind>,
    client: Arc<quic::Client>,
}

impl Quic {
    /// Must be called in the context of the thread's runtime, which then drives the endpoint. An endpoint
    /// that cannot be made (no descriptor left) fails each connection instead.
    pub(super) fn new(client: Arc<quic::Client>, server: SocketAddr) -> Quic {
        Quic { endpoint: quic::endpoint(server).map_err(|e| ErrorKind::of_io(&e)), client }
    }

    /// At the thread's end: closes what is still open, and lets the CONNECTION_CLOSE frames leave.
    pub(super) async fn close(&self) {
        if let Ok(endpoint) = &self.endpoint {
            endpoint.close(H3_NO_ERROR, b"");
            let _ = tokio::time::timeout(quic::CLOSE_FLUSH, endpoint.wait_idle()).await;
        }
    }
}

/// A QUIC connection just opened.
pub(super) struct Link {
    conn: quinn::Connection,
    /// When connect began.
    started: Instant,
    /// 0-RTT: the handshake goes on under the first request; it resolves true when the server takes the
    /// early data.
    early: Option<quinn::ZeroRttAccepted>,
}

/// Opens a QUIC connection to the run's server: the handshake whole, or with `--0rtt` and a session to
/// resume, at once. A handshake that fails or outlasts `--connect-timeout` is `quic_handshake`.
pub(super) async fn connect(ctx: &ThreadCtx, quic: &Quic) -> Result<Link, ErrorKind> {
    let plan = &ctx.shared.plan;
    let endpoint = quic.endpoint.as_ref().map_err(|kind| *kind)?;
    let started = Instant::now();
    let connecting = endpoint
        .connect_with(quic.client.config(), ctx.shared.addr, &quic.client.server_name)
        .map_err(|_| ErrorKind::QuicHandshake)?;
    // Early data is offered only with --0rtt for a method safe to replay (`net::quic::Client`), on a session
    // the server allowed it for.
    let connecting = match connecting.into_0rtt() {
        Ok((conn, accepted)) => return Ok(Link { conn, started, early: Some(accepted) }),
        Err(connecting) => connecting,
    };
    let conn = tokio::time::timeout(plan.connect_timeout, connecting)
        .await
        .map_err(|_| ErrorKind::QuicHandshake)?
        .map_err(|_| ErrorKind::QuicHandshake)?;
    handshake_done(ctx, started, Instant::now());
    Ok(Link { conn, started, early: None })
}

fn handshake_done(ctx: &ThreadCtx, started: Instant, done: Instant) {
    let mut recorder = ctx.recorder.borrow_mut();
    recorder.connected(done, done - started);
    recorder.quic_tls(!quic::full_handshake(), NEGOTIATED);
}

/// quinn's figures of a connection go to the recorder when it ends, however it ends (the end of the window
/// drops it in flight).
struct Figures<'a> {
    ctx: &'a ThreadCtx,
    conn: quinn::Connection,
}

impl Drop for Figures<'_> {
    fn drop(&mut self) {
        let stats = self.conn.stats();
        let mut recorder = self.ctx.recorder.borrow_mut();
        // Every byte the server sent (its QUIC packets), as HTTP/2 counts frames and HTTP/1.x heads.
        recorder.received(stats.udp_rx.bytes as usize);
        recorder.quic_closed(stats.path.sent_packets, stats.path.lost_packets, stats.path.rtt);
    }
}

/// How one stream ended.
enum Outcome {
    Answered {
        attempt: Attempt,
        status: u16,
    },
    /// `request` as `Attempt::request` gives it; `head`: the response head had arrived.
    Failed {
        request: Pending,
        head: bool,
        error: Failure,
    },
}

enum Failure {
    Stream(StreamError),
    Timeout,
}

/// What becomes of a stream that ended without a whole response.
enum Fate {
    /// The server did not process it: retried by the rule; `going_away` when the connection takes no more.
    NotProcessed {
        going_away: bool,
        kind: ErrorKind,
    },
    Failed(ErrorKind),
}

fn fate(error: &Failure, head: bool, conn: &quinn::Connection) -> Fate {
    let error = match error {
        Failure::Timeout => return Fate::Failed(ErrorKind::Timeout),
        Failure::Stream(error) => error,
    };
    match error {
        StreamError::RemoteTerminate { code, .. } if *code == Code::H3_REQUEST_REJECTED => {
            Fate::NotProcessed { going_away: false, kind: ErrorKind::ClosedEarly }
        }
        StreamError::RemoteTerminate { .. } => Fate::Failed(ErrorKind::H3Reset),
        // A GOAWAY came before the stream could open.
        StreamError::RemoteClosing { .. } => Fate::NotProcessed { going_away: true, kind: ErrorKind::ClosedEarly },
        // The response broke HTTP/3's rules (h3 closed the stream or the connection).
        StreamError::StreamError { .. } => Fate::Failed(ErrorKind::Parse),
        // The connection broke under the stream, or QUIC dropped it (early data the server refused, RFC 9001
        // §4.6.2): with nothing back it was not processed, and the connection takes no more.
        StreamError::ConnectionError { .. } | StreamError::Undefined { .. } => {
            let kind = match conn.close_reason() {
                Some(quinn::ConnectionError::TimedOut) => ErrorKind::QuicIdleTimeout,
                _ => ErrorKind::QuicClosed,
            };
            match head {
                false => Fate::NotProcessed { going_away: true, kind },
                true => Fate::Failed(kind),
            }
        }
        _ => Fate::Failed(ErrorKind::Other),
    }
}

/// Who closed a connection that has ended, by quinn's reason.
fn closer_of(conn: &quinn::Connection) -> Closer {
    match conn.close_reason() {
        Some(quinn::ConnectionError::ApplicationClosed(_) | quinn::ConnectionError::ConnectionClosed(_)) => {
            Closer::Server
        }
        Some(quinn::ConnectionError::Reset) => Closer::Reset,
        _ => Closer::Client,
    }
}

/// One HTTP/3 connection: requests on it as the mode allows; returns who closed it, and whether it made
/// progress (answered something, or was asked nothing): one that did not makes the worker wait before the next.
pub(super) async fn session(ctx: &ThreadCtx, link: Link, backlog: &mut Backlog) -> (Closer, bool) {
    let Link { conn, started, mut early } = link;
    let _figures = Figures { ctx, conn: conn.clone() };
    let plan = &ctx.shared.plan;
    let built = h3::client::builder().send_grease(false).build(h3_quinn::Connection::new(conn.clone())).await;
    let (mut driver, sender): (_, Sender) = match built {
        Ok(pair) => pair,
        Err(_) => {
            // The connection died before HTTP/3 could start: its first request goes by the rule.
            if let Some(first) = backlog.pending.pop_front() {
                let first = Pending { start: Some(first.start.unwrap_or(started)), ..first };
                backlog.unanswered(first, false, ErrorKind::QuicClosed, Instant::now());
            }
            return (closer_of(&conn), false);
        }
    };
    let credit = Credit::default();
    let connection = Connection { ctx, conn: &conn, started, sender: &sender, credit: &credit };
    let mut state = Streams { sent: 0, answered: 0, going_away: false };
    let closer = connection.requests(backlog, &mut driver, &mut early, &mut state).await;
    if let Some(cap) = credit.cap.get().filter(|&cap| cap < plan.depth as usize) {
        ctx.recorder.borrow_mut().stream_cap(cap as u32);
    }
    // A 0-RTT handshake still under way ends before the close: its answers came first (0.5-RTT), and it is
    // most often over already.
    if let Some(accepted) = early {
        let accepted = tokio::time::timeout(plan.connect_timeout, accepted).await.unwrap_or(false);
        zero_rtt_done(ctx, started, accepted);
    }
    if closer == Closer::Client {
        // Nothing more for this connection: ours is the close.
        drop(sender);
        conn.close(H3_NO_ERROR, b"");
    }
    (closer, state.answered > 0 || state.sent == 0)
}

/// A 0-RTT connection's handshake has ended; `accepted`: the server took its early data.
fn zero_rtt_done(ctx: &ThreadCtx, started: Instant, accepted: bool) {
    handshake_done(ctx, started, Instant::now());
    ctx.recorder.borrow_mut().zero_rtt(accepted);
}

/// What the requests of one connection share.
struct Connection<'a> {
    ctx: &'a ThreadCtx,
    conn: &'a quinn::Connection,
    started: Instant,
    sender: &'a Sender,
    credit: &'a Credit,
}

impl Connection<'_> {
    /// Sends requests on streams as the mode allows, until there is nothing more for this connection or it
    /// ends; returns who ended it.
    async fn requests(
        &self,
        backlog: &mut Backlog,
        driver: &mut h3::client::Connection<h3_quinn::Connection, Bytes>,
        early: &mut Option<quinn::ZeroRttAccepted>,
        state: &mut Streams,
    ) -> Closer {
        let ctx = self.ctx;
        let plan = &ctx.shared.plan;
        let depth = plan.depth as usize;
        let mut streams = FuturesUnordered::new();
        let mut ended = None;
        loop {
            let more =
                !state.going_away && ended.is_none() && plan.requests_per_connection.is_none_or(|n| state.sent < n);
            if more && streams.len() < depth {
                let room = (depth - streams.len()) as u64;
                let want = plan.requests_per_connection.map_or(room, |n| room.min(n - state.sent));
                let now = Instant::now();
                for _ in 0..backlog.share_out(want, now) {
                    let Some(request) = backlog.next(now) else { break };
                    let first = state.sent == 0;
                    streams.push(self.exchange(&ctx.shared.templates[request.target as usize], request, first));
                    state.sent += 1;
                }
            }
            if streams.is_empty() {
                if let Some(closer) = ended {
                    return closer;
                }
                let next = match &ctx.tickets {
                    Some(tickets) if more => tokio::select! {
                        biased;
                        due = tickets.next(ctx) => due,
                        _ = poll_fn(|cx| driver.poll_close(cx)) => return closer_of(self.conn),
                    },
                    _ => None,
                };
                match next {
                    Some(pending) => {
                        backlog.pending.push_back(pending);
                        continue;
                    }
                    None => return Closer::Client,
                }
            }
            let room = ctx.tickets.is_some() && more && streams.len() < depth;
            tokio::select! {
                biased;
                Some(outcome) = streams.next() => state.ended(ctx, backlog, outcome, self.conn),
                _ = poll_fn(|cx| driver.poll_close(cx)), if ended.is_none() => {
                    // What is still in flight fails with the connection, and is settled as it does.
                    ended = Some(closer_of(self.conn));
                }
                accepted = Early(early) => {
                    *early = None;
                    zero_rtt_done(ctx, self.started, accepted);
                }
                () = async { ctx.tickets.as_ref().expect("room is only wanted in open loop").room_wanted().await },
                    if room => {}
            }
        }
    }

    /// One request on its own stream: waits for stream credit, sends, reads the whole response, within
    /// `--timeout`.
    async fn exchange(&self, template: &Template, request: Pending, first_on_connection: bool) -> Outcome {
        let (ctx, credit, connect_start) = (self.ctx, self.credit, self.started);
        let mut sender = self.sender.clone();
        let claimed = Instant::now();
        // Dropped (the window over) before its stream opened, the request was never written: not in flight.
        let mut unwritten = Unwritten(Some(ctx));
        let mut attempt = None;
        let mut head = false;
        let exchanged = tokio::time::timeout(ctx.shared.plan.timeout, async {
            let mut first_poll = true;
            let mut sending = std::pin::pin!(sender.send_request(template.head()));
            let mut stream = poll_fn(|cx| {
                let polled = sending.as_mut().poll(cx);
                if std::mem::take(&mut first_poll) && polled.is_pending() {
                    credit.waiting();
                }
                polled
            })
            .await?;
            credit.open.set(credit.open.get() + 1);
            unwritten.0 = None;
            ctx.recorder.borrow_mut().in_flight(credit.open.get());
            let attempt = attempt.insert(Attempt::sent(request, first_on_connection, connect_start, Instant::now()));
            if !template.body().is_empty() {
                stream.send_data(template.body().clone()).await?;
            }
            stream.finish().await?;
            let response = stream.recv_response().await?;
            attempt.first_byte = Some(Instant::now());
            head = true;
            while stream.recv_data().await?.is_some() {}
            Ok::<u16, StreamError>(response.status().as_u16())
        })
        .await;
        unwritten.0 = None;
        if attempt.is_some() {
            credit.open.set(credit.open.get() - 1);
        }
        let error = match exchanged {
            Ok(Ok(status)) => {
                let attempt = attempt.expect("a response answers a request sent");
                return Outcome::Answered { attempt, status };
            }
            Ok(Err(error)) => Failure::Stream(error),
            Err(_) => Failure::Timeout,
        };
        let request =
            attempt.map_or(Pending { start: Some(request.start.unwrap_or(claimed)), ..request }, |a| a.request());
        Outcome::Failed { request, head, error }
    }
}

/// A request whose stream has not opened yet; dropped so, it is counted as never written (`ThreadCtx::unsent`).
struct Unwritten<'a>(Option<&'a ThreadCtx>);

impl Drop for Unwritten<'_> {
    fn drop(&mut self) {
        if let Some(ctx) = self.0 {
            ctx.unsent(1);
        }
    }
}

/// The 0-RTT handshake's end, while it is pending; never ready once taken.
struct Early<'a>(&'a mut Option<quinn::ZeroRttAccepted>);

impl Future for Early<'_> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        match self.0.as_mut() {
            Some(accepted) => Pin::new(accepted).poll(cx),
            None => Poll::Pending,
        }
    }
}

/// What one connection's streams have done.
struct Streams {
    sent: u64,
    answered: u64,
    /// A GOAWAY arrived, or the connection broke: no new stream goes on this connection.
    going_away: bool,
}

/// The server's stream credit as the streams found it: how many are open, and the most that were open when
/// one had to wait for more (the server's limit: the first streams of a connection take all of its credit).
#[derive(Default)]
struct Credit {
    open: Cell<usize>,
    cap: Cell<Option<usize>>,
}

impl Credit {
    /// A stream could not open at once: the server's credit is taken by those open.
    fn waiting(&self) {
        self.cap.set(Some(self.cap.get().unwrap_or(0).max(self.open.get())));
    }
}

impl Streams {
    fn ended(&mut self, ctx: &ThreadCtx, backlog: &mut Backlog, outcome: Outcome, conn: &quinn::Connection) {
        let now = Instant::now();
        let (request, head, error) = match outcome {
            Outcome::Answered { attempt, status } => {
                self.answered += 1;
                attempt.completed(ctx, now, status);
                LiveCounters::bump(&ctx.live.requests, 1);
                return;
            }
            Outcome::Failed { request, head, error } => (request, head, error),
        };
        match fate(&error, head, conn) {
            Fate::NotProcessed { going_away, kind } => {
                self.going_away |= going_away;
                backlog.unanswered(request, self.answered > 0, kind, now);
            }
            Fate::Failed(kind) => ctx.failed(now, kind, request.target),
        }
    }
}

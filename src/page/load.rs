//! One load of the page with one strategy, recorded as a [`Timeline`]: the connections, the requests they
//! carried, and what each waited for. Runs on the caller's tokio runtime, on one thread (`Rc`, `RefCell`).
//!
//! A load is lanes of work and workers that drain them. Lane 0 holds the page; once its HTML has arrived, the
//! objects go into one lane (serial) or one lane per origin (the others). A worker takes from its lane onto a
//! connection it owns, opening one when it has none: one worker for serial, up to `--per-host` per origin for
//! parallel, persistent and pipelined, one per origin for multiplexed. What a connection may carry is the
//! strategy's: one request then closed (serial, parallel), one at a time (persistent), up to `--depth` at once
//! once the origin has shown it keeps connections, idempotent requests only, each connection taking its fair
//! share of the origin's objects (pipelined), as many streams as the server allows (multiplexed). The page's
//! connection is handed to the first worker of its origin when the strategy keeps connections.
//!
//! A request that no byte answered before its connection ended (the server closed early, a GOAWAY, a refused
//! stream) is sent again on the worker's next connection, by the rule of docs/design.md §2: as often as the
//! connection made progress, else once; a non-idempotent one never.
//!
//! The connection is a closed enum, `Conn`: HTTP/1.x over `net::stream` with `http::response`'s parser, or
//! HTTP/2 with the h2 crate as `engine/h2.rs` drives it (its windows, and its rule for a stream's failure).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use url::Url;

use super::discover::Object;
use super::timeline::{Connection, Request, Timeline};
use super::Strategy;
use crate::engine::h2::{fate, poll_replies, Fate, Reply, CONNECTION_WINDOW, STREAM_WINDOW};
use crate::http::request::{render, RequestSpec};
use crate::http::response::{EofOutcome, Feed, HeadMemo, ResponseParser, MAX_HEAD_BYTES};
use crate::net::stream::{self, Handshake, Stream};
use crate::net::tls;
use crate::record::result::ErrorCounts;
use crate::record::ErrorKind;

/// How long a client's close waits for its TLS close_notify or HTTP/2 GOAWAY to be written.
const CLOSE_LINGER: Duration = Duration::from_millis(20);

/// An origin of the page or its objects, resolved once before any load (a browser's DNS cache is warm after
/// the first page; name resolution is not what the strategies differ in).
pub struct Origin {
    /// `scheme://host:port`.
    pub name: String,
    pub addr: SocketAddr,
    /// The Host header and `:authority`.
    authority: String,
    /// https: the TLS of its HTTP/1.1 connections and of its HTTP/2 ones (ALPN h2), sharing one session store.
    tls: Option<(Arc<tls::Client>, Arc<tls::Client>)>,
}

impl Origin {
    /// Resolves the origin of `url`; with https, its TLS as `options` say.
    pub fn resolve(url: &Url, options: &tls::Options) -> Result<Origin, String> {
        let (authority, _) = crate::plan::url_parts(url);
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addr = (bare, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve host '{host}' of {url}: {e}"))?
            .next()
            .ok_or_else(|| format!("host '{host}' of {url} has no address"))?;
        let tls = match url.scheme() {
            "https" => {
                let client = tls::Client::new(host, options)?;
                Some((Arc::new(client.clone()), Arc::new(client.for_h2())))
            }
            _ => None,
        };
        Ok(Origin { name: url.origin().ascii_serialization(), addr, authority, tls })
    }

    pub fn insecure(&self) -> bool {
        self.tls.as_ref().is_some_and(|(client, _)| client.insecure)
    }
}

/// The page or one of its objects, ready to send.
struct Item {
    origin: usize,
    method: String,
    idempotent: bool,
    /// The HTTP/1.1 request: `[one request, then close; the connection kept]`.
    h1: [Vec<u8>; 2],
    /// As HTTP/2 sends it: scheme, authority and target.
    uri: http::Uri,
}

/// Everything a load fetches: its origins, the page (item 0) and its objects.
pub struct Work {
    pub origins: Vec<Origin>,
    items: Vec<Item>,
    headers: Vec<(String, String)>,
}

/// What each load obeys.
#[derive(Debug, Clone)]
pub struct Settings {
    pub per_host: u32,
    pub depth: u32,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl Work {
    /// The page at `page` (its origin already resolved) and `objects`, whose other origins are resolved here.
    pub fn new(
        page: &Url,
        page_origin: Origin,
        objects: &[Object],
        headers: Vec<(String, String)>,
        options: &tls::Options,
    ) -> Result<Work, String> {
        let mut work = Work { origins: vec![page_origin], items: Vec::new(), headers };
        work.add(page, "GET", 0)?;
        for object in objects {
            let name = object.origin();
            let origin = match work.origins.iter().position(|o| o.name == name) {
                Some(known) => known,
                None => {
                    work.origins.push(Origin::resolve(&object.url, options)?);
                    work.origins.len() - 1
                }
            };
            work.add(&object.url, &object.method, origin)?;
        }
        Ok(work)
    }

    fn add(&mut self, url: &Url, method: &str, origin: usize) -> Result<(), String> {
        let uri = url.as_str().parse::<http::Uri>().map_err(|e| format!("{url}: {e}"))?;
        if http::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(format!("{method} {url}: '{method}' is not an HTTP method"));
        }
        let (_, target) = crate::plan::url_parts(url);
        let authority = &self.origins[origin].authority;
        let request = |connection| {
            render(&RequestSpec {
                method,
                target: &target,
                host: authority,
                headers: &self.headers,
                body: b"",
                http10: false,
                connection,
            })
        };
        let h1 = [request(Some("close")), request(None)];
        let idempotent = crate::http::request::idempotent(method);
        self.items.push(Item { origin, method: method.to_string(), idempotent, h1, uri });
        Ok(())
    }

    /// Objects per origin (the page not counted).
    fn objects_of(&self, origin: usize) -> usize {
        self.items[1..].iter().filter(|item| item.origin == origin).count()
    }
}

/// One load: what happened, and its failed requests by kind.
pub struct Loaded {
    pub timeline: Timeline,
    pub errors: ErrorCounts,
}

/// One load of the page with `strategy`, from cold connections.
pub async fn load(work: &Work, settings: &Settings, strategy: Strategy) -> Loaded {
    let cx = Load {
        work,
        settings,
        strategy,
        start: Instant::now(),
        state: RefCell::new(State {
            timeline: Timeline::default(),
            lanes: vec![VecDeque::from([0])],
            persistent_seen: vec![false; work.origins.len()],
            share: vec![1; work.origins.len()],
            retried: vec![false; work.items.len()],
            errors: ErrorCounts::default(),
        }),
    };
    let (page_connection, page) = cx.worker(0, None, None).await;
    let page_arrived = page.is_some_and(|req| cx.state.borrow().timeline.requests[req].status.is_some());
    if !page_arrived {
        // Nothing to parse: a browser fetches no object of a page that did not come.
        cx.close(page_connection).await;
        return cx.loaded();
    }
    let mut workers = Vec::new();
    let mut page_connection = page_connection;
    {
        let mut state = cx.state.borrow_mut();
        if strategy == Strategy::Serial {
            // One lane, every origin's objects in document order, one worker.
            state.lanes.push((1..work.items.len()).collect());
            workers.push(1);
        } else {
            for origin in (0..work.origins.len()).filter(|&origin| work.objects_of(origin) > 0) {
                let objects = work.objects_of(origin);
                let count = match strategy {
                    Strategy::Multiplexed => 1,
                    _ => objects.min(settings.per_host as usize),
                };
                state.share[origin] = objects.div_ceil(count);
                state.lanes.push((1..work.items.len()).filter(|&i| work.items[i].origin == origin).collect());
                workers.extend(std::iter::repeat_n(state.lanes.len() - 1, count));
            }
        }
    }
    let futures = workers.iter().map(|&lane| {
        let handed = page_connection.take_if(|open| open.origin == cx.work.items[cx.front(lane).unwrap_or(0)].origin);
        cx.worker(lane, handed, page)
    });
    let ended = join_all(futures.collect()).await;
    cx.close(page_connection).await;
    for (idle, _) in ended {
        cx.close(idle).await;
    }
    cx.loaded()
}

struct Load<'a> {
    work: &'a Work,
    settings: &'a Settings,
    strategy: Strategy,
    /// The load's start: its timeline's 0.
    start: Instant,
    state: RefCell<State>,
}

struct State {
    timeline: Timeline,
    /// Items still to send, by lane.
    lanes: Vec<VecDeque<usize>>,
    /// Per origin: a response has shown that its connections persist, so pipelining may begin.
    persistent_seen: Vec<bool>,
    /// Per origin: the most a pipelining connection takes at once, its fair share of the origin's objects.
    share: Vec<usize>,
    /// Per item: sent again once already after a connection that answered nothing.
    retried: Vec<bool>,
    errors: ErrorCounts,
}

impl State {
    fn fail(&mut self, request: usize, kind: ErrorKind) {
        self.timeline.requests[request].error = Some(kind.name().into());
        self.errors.count(kind);
    }
}

/// A connection a worker holds, and what it has done.
struct Open {
    conn: Conn,
    /// In the timeline's `connections`.
    index: usize,
    origin: usize,
    /// Requests sent, and answered whole, on it.
    sent: u64,
    answered: u64,
    /// The last request answered on it: what the next one sent waits for.
    last_done: Option<usize>,
    /// A non-idempotent request is in flight: nothing goes beside it.
    alone: bool,
}

impl Load<'_> {
    fn loaded(self) -> Loaded {
        let State { timeline, errors, .. } = self.state.into_inner();
        Loaded { timeline, errors }
    }

    fn us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_micros() as u64
    }

    fn front(&self, lane: usize) -> Option<usize> {
        self.state.borrow().lanes[lane].front().copied()
    }

    /// Drains `lane`: returns the connection it still holds, idle and reusable, and the last request it saw
    /// answered (for the page's lane, the page).
    async fn worker(
        &self,
        lane: usize,
        mut held: Option<Open>,
        mut last: Option<usize>,
    ) -> (Option<Open>, Option<usize>) {
        loop {
            // A worker opening a connection takes the item it opens it for first, so that no other worker's
            // connection carries it meanwhile and leaves this one with nothing to do.
            let (mut open, first) = match held.take() {
                Some(open) => (open, None),
                None => {
                    let Some(item) = self.state.borrow_mut().lanes[lane].pop_front() else { return (None, last) };
                    match self.open(self.work.items[item].origin, last).await {
                        Ok(open) => (open, Some(item)),
                        Err((connection, kind)) => {
                            // The item fails with its connection; the next one tries a new connection.
                            let request = self.sent(item, connection, last);
                            self.state.borrow_mut().fail(request, kind);
                            continue;
                        }
                    }
                }
            };
            if let Some(item) = first {
                self.send(&mut open, item);
            }
            self.fill(&mut open, lane).await;
            if open.conn.in_flight() == 0 {
                if self.allowed(&mut open) > 0 && self.front(lane).is_none() {
                    return (Some(open), last);
                }
                self.close(Some(open)).await;
                continue;
            }
            let ended = open.conn.next(self.settings.timeout).await;
            if let Some(answered) = self.ended(lane, &mut open, ended) {
                last = Some(answered);
            }
            held = Some(open);
        }
    }

    /// How many requests the connection may have in flight now.
    fn allowed(&self, open: &mut Open) -> usize {
        if !open.conn.reusable() {
            return 0;
        }
        let state = self.state.borrow();
        match self.strategy {
            Strategy::Serial | Strategy::Parallel => usize::from(open.sent == 0),
            Strategy::Persistent => 1,
            Strategy::Pipelined if state.persistent_seen[open.origin] => {
                (self.settings.depth as usize).min(state.share[open.origin]).max(1)
            }
            Strategy::Pipelined => 1,
            Strategy::Multiplexed => open.conn.in_flight() + open.conn.room(),
        }
    }

    /// Sends what the connection may carry from the lane, in one write (a pipeline's requests back to back).
    async fn fill(&self, open: &mut Open, lane: usize) {
        while !open.alone && open.conn.in_flight() < self.allowed(open) {
            let item = {
                let mut state = self.state.borrow_mut();
                let Some(&item) = state.lanes[lane].front() else { break };
                let fits = self.work.items[item].origin == open.origin
                    && (self.work.items[item].idempotent || open.conn.in_flight() == 0 || self.strategy.is_http2());
                if !fits {
                    break;
                }
                state.lanes[lane].pop_front();
                item
            };
            self.send(open, item);
        }
        open.conn.flush().await;
    }

    /// Queues `item` on the connection (`fill` writes it), recorded as waiting for the last request answered on
    /// it.
    fn send(&self, open: &mut Open, item: usize) {
        let request = self.sent(item, open.index, open.last_done);
        let item = &self.work.items[item];
        open.alone = !item.idempotent && !self.strategy.is_http2();
        open.sent += 1;
        let bytes = &item.h1[usize::from(!self.strategy.one_shot())];
        open.conn.send(request, item, bytes, &self.work.headers);
    }

    /// Records request `item` as sent now on `connection`, waiting for `after`; returns its index.
    fn sent(&self, item: usize, connection: usize, after: Option<usize>) -> usize {
        let now = self.us(Instant::now());
        let mut state = self.state.borrow_mut();
        state.timeline.requests.push(Request {
            object: item,
            connection,
            after,
            sent_us: now,
            first_byte_us: None,
            done_us: now,
            status: None,
            bytes: 0,
            error: None,
            retried: false,
        });
        state.timeline.requests.len() - 1
    }

    /// Records how a request ended; returns it when it was answered. An unanswered one goes back to the front
    /// of its lane by the retry rule.
    fn ended(&self, lane: usize, open: &mut Open, ended: Ended) -> Option<usize> {
        let now = self.us(Instant::now());
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let request = &mut state.timeline.requests[ended.req];
        request.done_us = now;
        request.first_byte_us = ended.first_byte.map(|at| self.us(at));
        request.bytes = ended.bytes;
        let item = request.object;
        // A request sent alone (HTTP/1.x only) was the one in flight: whatever ended, it did.
        open.alone = false;
        match ended.outcome {
            Outcome::Answered { status, persistent } => {
                request.status = Some(status);
                state.persistent_seen[open.origin] |= persistent;
                open.answered += 1;
                open.last_done = Some(ended.req);
                Some(ended.req)
            }
            Outcome::Failed(kind) => {
                state.fail(ended.req, kind);
                None
            }
            outcome @ (Outcome::Unanswered(_) | Outcome::Refused) => {
                let (kind, may) = match outcome {
                    Outcome::Unanswered(kind) => (kind, self.work.items[item].idempotent),
                    _ => (ErrorKind::ClosedEarly, true),
                };
                let again = may && (open.answered > 0 || !state.retried[item]);
                if again {
                    state.retried[item] |= open.answered == 0;
                    request.retried = true;
                    state.lanes[lane].push_front(item);
                } else {
                    state.fail(ended.req, kind);
                }
                None
            }
        }
    }

    /// Opens a connection to `origin` after request `after` ended; records it, whether it opened or not.
    async fn open(&self, origin: usize, after: Option<usize>) -> Result<Open, (usize, ErrorKind)> {
        let target = &self.work.origins[origin];
        let h2 = self.strategy.is_http2();
        let client = target.tls.as_ref().map(|(http1, http2)| if h2 { &**http2 } else { &**http1 });
        let started = Instant::now();
        let connected = stream::connect(None, target.addr, true, self.settings.connect_timeout, client).await;
        let mut record = Connection {
            origin: target.name.clone(),
            protocol: if h2 { "h2" } else { "http/1.1" }.into(),
            after,
            start_us: self.us(started),
            connected_us: None,
            secured_us: None,
            handshake_round_trips: 1,
            tls: None,
            closed_us: None,
            bytes: 0,
        };
        let (opened, failure) = match connected {
            Ok(opened) => {
                record.start_us = self.us(opened.started);
                record.connected_us = Some(self.us(opened.connected));
                if let Some(handshake) = &opened.tls {
                    record.secured_us = Some(self.us(opened.connected + handshake.took));
                    record.handshake_round_trips += tls_round_trips(handshake);
                    let resumed = if handshake.resumed { " resumed" } else { "" };
                    record.tls = Some(format!("{}{resumed}", handshake.negotiated.version));
                }
                (Some(opened.stream), None)
            }
            Err(stream::Failed::Connect(error)) => (None, Some(ErrorKind::of_io(&error))),
            Err(stream::Failed::Handshake { connected, .. }) => {
                record.connected_us = Some(self.us(connected));
                (None, Some(ErrorKind::Tls))
            }
        };
        let index = {
            let mut state = self.state.borrow_mut();
            state.timeline.connections.push(record);
            state.timeline.connections.len() - 1
        };
        let conn = match (opened, failure) {
            (Some(stream), _) if h2 => H2::handshake(stream).await.map(|h2| Conn::H2(Box::new(h2))),
            (Some(stream), _) => Ok(Conn::H1(Box::new(H1::new(stream)))),
            (None, failure) => Err(failure.unwrap_or(ErrorKind::Other)),
        };
        match conn {
            Ok(conn) => Ok(Open { conn, index, origin, sent: 0, answered: 0, last_done: None, alone: false }),
            Err(kind) => {
                self.state.borrow_mut().timeline.connections[index].closed_us = Some(self.us(Instant::now()));
                Err((index, kind))
            }
        }
    }

    /// Ends a connection, ours to close (or already closed by the server), and records when.
    async fn close(&self, open: Option<Open>) {
        let Some(open) = open else { return };
        let (at, bytes) = open.conn.close().await;
        let connection = &mut self.state.borrow_mut().timeline.connections[open.index];
        connection.closed_us = Some(self.us(at));
        connection.bytes = bytes;
    }
}

/// TLS 1.3 takes one round trip, full or resumed (without early data); TLS 1.2 two for a full handshake and one
/// for a resumed session (RFC 8446 §2, RFC 5246 §7.3).
fn tls_round_trips(handshake: &Handshake) -> u32 {
    match (handshake.negotiated.version, handshake.resumed) {
        ("TLSv1.2", false) => 2,
        _ => 1,
    }
}

/// Polls every future to its end on this task; their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                if let Poll::Ready(done) = future.as_mut().poll(cx) {
                    *output = Some(done);
                }
            }
        }
        if outputs.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(|output| output.expect("every future ended")).collect()
}

/// How one request ended, as its connection saw it.
struct Ended {
    req: usize,
    first_byte: Option<Instant>,
    /// Response bytes: HTTP/1.x head and body, HTTP/2 body.
    bytes: u64,
    outcome: Outcome,
    /// The body, when it was asked to be kept.
    body: Vec<u8>,
}

enum Outcome {
    Answered {
        status: u16,
        persistent: bool,
    },
    /// Failed after part of its response, or in a way sending it again would not mend.
    Failed(ErrorKind),
    /// No byte of its response came before its connection ended.
    Unanswered(ErrorKind),
    /// HTTP/2: the server said it did not process the stream (REFUSED_STREAM, or above a GOAWAY's last stream):
    /// it goes again whatever its method (RFC 9113 §8.7).
    Refused,
}

/// A connection of either protocol.
// NOTE: HTTP/3 would be a third variant, with the same four calls.
// Boxed: h2's connection state is over a kilobyte, HTTP/1.x's a few hundred bytes.
enum Conn {
    H1(Box<H1>),
    H2(Box<H2>),
}

impl Conn {
    fn in_flight(&self) -> usize {
        match self {
            Conn::H1(c) => c.flights.len(),
            Conn::H2(c) => c.streams.len() + c.refused.len(),
        }
    }

    /// Can it take another request after those in flight end?
    fn reusable(&self) -> bool {
        match self {
            Conn::H1(c) => c.ended.is_none(),
            Conn::H2(c) => c.ended.is_none(),
        }
    }

    /// HTTP/2: streams it may open now beside those open.
    fn room(&mut self) -> usize {
        match self {
            Conn::H1(_) => 0,
            Conn::H2(c) => c.room(),
        }
    }

    /// Queues a request: HTTP/1.x bytes until `flush`, an HTTP/2 stream until the connection is next driven.
    fn send(&mut self, req: usize, item: &Item, bytes: &[u8], headers: &[(String, String)]) {
        match self {
            Conn::H1(c) => c.send(req, bytes, item.method == "HEAD", false),
            Conn::H2(c) => c.send(req, item, headers),
        }
    }

    /// Writes what was queued.
    async fn flush(&mut self) {
        match self {
            Conn::H1(c) => c.flush().await,
            Conn::H2(_) => {}
        }
    }

    /// The next request to end; there must be one in flight.
    async fn next(&mut self, timeout: Duration) -> Ended {
        match self {
            Conn::H1(c) => c.next(timeout).await,
            Conn::H2(c) => c.next(timeout).await,
        }
    }

    /// Closes it (over TLS with close_notify, HTTP/2 with GOAWAY); returns when it was closed, and the bytes
    /// read on it.
    async fn close(self) -> (Instant, u64) {
        match self {
            Conn::H1(mut c) => {
                let closed = Instant::now();
                if !c.eof {
                    c.stream.close_notify(CLOSE_LINGER).await;
                }
                (closed, c.bytes)
            }
            Conn::H2(c) => {
                let closed = Instant::now();
                drop(c.sender);
                if let Some(connection) = c.connection {
                    let _ = tokio::time::timeout(CLOSE_LINGER, connection).await;
                }
                (closed, c.read.get())
            }
        }
    }
}

/// An HTTP/1.x connection: requests written in order, responses read in order.
struct H1 {
    stream: Stream,
    buf: Box<[u8]>,
    /// `buf[..len]` is received and not yet consumed.
    len: usize,
    flights: VecDeque<Flight>,
    memo: HeadMemo,
    /// When the last read returned: the first byte of a response that arrived in it came then.
    read_at: Instant,
    /// Why it carries nothing more: it failed, or a response or the server ended it.
    ended: Option<ErrorKind>,
    /// The server's FIN (or RST) is in.
    eof: bool,
    /// Requests queued and not yet written.
    out: Vec<u8>,
    /// Bytes read on it.
    bytes: u64,
}

struct Flight {
    req: usize,
    sent: Instant,
    parser: ResponseParser,
    first_byte: Option<Instant>,
    bytes: u64,
}

impl H1 {
    fn new(stream: Stream) -> H1 {
        H1 {
            stream,
            // A head must fit whole (the parser refuses one past MAX_HEAD_BYTES); bodies pass through.
            buf: vec![0; MAX_HEAD_BYTES + 4096].into_boxed_slice(),
            len: 0,
            flights: VecDeque::new(),
            memo: HeadMemo::default(),
            read_at: Instant::now(),
            ended: None,
            eof: false,
            out: Vec::new(),
            bytes: 0,
        }
    }

    fn send(&mut self, req: usize, bytes: &[u8], head: bool, keep_body: bool) {
        let parser = if keep_body { ResponseParser::keeping_body(head) } else { ResponseParser::new(head) };
        self.flights.push_back(Flight { req, sent: Instant::now(), parser, first_byte: None, bytes: 0 });
        self.out.extend_from_slice(bytes);
    }

    async fn flush(&mut self) {
        if self.ended.is_none() && !self.out.is_empty() {
            // TLS keeps records back until flushed; a plain socket's flush is a no-op.
            let written = match self.stream.write_all(&self.out).await {
                Ok(()) => self.stream.flush().await,
                failed => failed,
            };
            if let Err(error) = written {
                self.ended = Some(ErrorKind::of_io(&error));
            }
        }
        self.out.clear();
    }

    async fn next(&mut self, timeout: Duration) -> Ended {
        loop {
            let flight = self.flights.front_mut().expect("a request in flight");
            if let Some(kind) = self.ended.filter(|_| !flight.parser.started() || self.eof || self.len == 0) {
                let flight = self.flights.pop_front().expect("a request in flight");
                let outcome = if flight.parser.started() { Outcome::Failed(kind) } else { Outcome::Unanswered(kind) };
                return flight.end(outcome);
            }
            if self.len > 0 {
                let fed = flight.parser.feed(&self.buf[..self.len], &mut self.memo);
                if flight.parser.started() && flight.first_byte.is_none() {
                    flight.first_byte = Some(self.read_at);
                }
                match fed {
                    Ok(Feed::Incomplete { consumed }) => {
                        flight.bytes += consumed as u64;
                        self.consume(consumed);
                    }
                    Ok(Feed::Complete { consumed, meta }) => {
                        flight.bytes += consumed as u64;
                        self.consume(consumed);
                        if !meta.persistent {
                            // What was sent after it is unanswered: the server will close.
                            self.ended = Some(ErrorKind::ClosedEarly);
                        }
                        let flight = self.flights.pop_front().expect("a request in flight");
                        let (status, persistent) = (meta.status, meta.persistent);
                        return flight.end(Outcome::Answered { status, persistent });
                    }
                    Err(_) => {
                        self.ended = Some(ErrorKind::Parse);
                        let flight = self.flights.pop_front().expect("a request in flight");
                        return flight.end(Outcome::Failed(ErrorKind::Parse));
                    }
                }
            }
            let flight = self.flights.front_mut().expect("a request in flight");
            let deadline = flight.sent + timeout;
            let read = tokio::time::timeout_at(deadline.into(), self.stream.read(&mut self.buf[self.len..])).await;
            self.read_at = Instant::now();
            match read {
                Err(_) => {
                    self.ended = Some(ErrorKind::Timeout);
                    let flight = self.flights.pop_front().expect("a request in flight");
                    return flight.end(Outcome::Failed(ErrorKind::Timeout));
                }
                Ok(Ok(0)) => {
                    self.eof = true;
                    match flight.parser.eof() {
                        EofOutcome::Complete(meta) => {
                            self.ended = Some(ErrorKind::ClosedEarly);
                            let flight = self.flights.pop_front().expect("a request in flight");
                            return flight.end(Outcome::Answered { status: meta.status, persistent: false });
                        }
                        EofOutcome::NothingReceived => self.ended = Some(ErrorKind::ClosedEarly),
                        EofOutcome::Truncated => self.ended = Some(ErrorKind::Truncated),
                    }
                }
                Ok(Ok(n)) => {
                    self.len += n;
                    self.bytes += n as u64;
                }
                Ok(Err(error)) => {
                    self.eof = true;
                    self.ended = Some(ErrorKind::of_io(&error));
                }
            }
        }
    }

    fn consume(&mut self, consumed: usize) {
        self.buf.copy_within(consumed..self.len, 0);
        self.len -= consumed;
    }
}

impl Flight {
    fn end(mut self, outcome: Outcome) -> Ended {
        let body = self.parser.take_body();
        Ended { req: self.req, first_byte: self.first_byte, bytes: self.bytes, outcome, body }
    }
}

/// The bytes an HTTP/2 connection reads, counted.
struct Counted {
    stream: Stream,
    read: Rc<Cell<u64>>,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        self.read.set(self.read.get() + (buf.filled().len() - before) as u64);
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// An HTTP/2 connection: every request a stream, answered in any order.
struct H2 {
    sender: SendRequest<Bytes>,
    /// Driven while a stream is awaited; None once it ended.
    connection: Option<h2::client::Connection<Counted, Bytes>>,
    streams: Vec<Stream2>,
    /// Requests the connection would not take (it is going away): unanswered, reported first.
    refused: VecDeque<usize>,
    ended: Option<ErrorKind>,
    /// Bytes read on it, frames and all.
    read: Rc<Cell<u64>>,
}

struct Stream2 {
    req: usize,
    sent: Instant,
    reply: Reply,
}

impl AsMut<Reply> for Stream2 {
    fn as_mut(&mut self) -> &mut Reply {
        &mut self.reply
    }
}

impl H2 {
    /// The client preface and SETTINGS; over TLS the server must have chosen h2 (ALPN).
    async fn handshake(stream: Stream) -> Result<H2, ErrorKind> {
        if matches!(stream, Stream::Tls(_)) && !stream.alpn_is_h2() {
            return Err(ErrorKind::Other);
        }
        let read = Rc::new(Cell::new(0));
        let counted = Counted { stream, read: read.clone() };
        let (sender, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(counted)
            .await
            .map_err(|e| e.get_io().map_or(ErrorKind::Other, ErrorKind::of_io))?;
        Ok(H2 {
            sender,
            connection: Some(connection),
            streams: Vec::new(),
            refused: VecDeque::new(),
            ended: None,
            read,
        })
    }

    /// Streams it may open now: up to the server's SETTINGS_MAX_CONCURRENT_STREAMS (h2 assumes 100 until the
    /// server's SETTINGS arrive), and none while h2 still holds one back for want of room.
    fn room(&mut self) -> usize {
        if self.ended.is_some() {
            return 0;
        }
        match self.sender.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => self.sender.current_max_send_streams().saturating_sub(self.streams.len()),
            Poll::Ready(Err(_)) => {
                self.ended = Some(ErrorKind::ClosedEarly);
                0
            }
            Poll::Pending => 0,
        }
    }

    fn send(&mut self, req: usize, item: &Item, headers: &[(String, String)]) {
        let mut request = http::Request::new(());
        // Work::add checked the method.
        *request.method_mut() = http::Method::from_bytes(item.method.as_bytes()).unwrap_or_default();
        *request.uri_mut() = item.uri.clone();
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) =
                (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(value))
            {
                request.headers_mut().append(name, value);
            }
        }
        match self.sender.send_request(request, true) {
            Ok((response, _)) => self.streams.push(Stream2 { req, sent: Instant::now(), reply: Reply::new(response) }),
            Err(_) => {
                self.ended = Some(ErrorKind::ClosedEarly);
                self.refused.push_back(req);
            }
        }
    }

    async fn next(&mut self, timeout: Duration) -> Ended {
        loop {
            if let Some(req) = self.refused.pop_front() {
                let outcome = Outcome::Unanswered(ErrorKind::ClosedEarly);
                return Ended { req, first_byte: None, bytes: 0, outcome, body: Vec::new() };
            }
            let oldest = self.streams.iter().map(|s| s.sent).min().expect("a stream in flight");
            let Some(connection) = self.connection.as_mut() else {
                // The connection is over: streams whose end h2 knows end so; any other had nothing back.
                let mut cx = Context::from_waker(Waker::noop());
                if let Poll::Ready((index, result)) = poll_replies(&mut self.streams, &mut cx) {
                    return self.finish(index, result);
                }
                let stream = self.streams.remove(0);
                let kind = self.ended.unwrap_or(ErrorKind::ClosedEarly);
                let outcome = if stream.reply.first_byte.is_some() {
                    Outcome::Failed(ErrorKind::Truncated)
                } else {
                    Outcome::Unanswered(kind)
                };
                return stream.end(outcome);
            };
            tokio::select! {
                biased;
                (index, result) = poll_fn(|cx| poll_replies(&mut self.streams, cx)) => return self.finish(index, result),
                ended = connection => {
                    self.connection = None;
                    let kind = match ended {
                        Err(error) => error.get_io().map_or(ErrorKind::ClosedEarly, ErrorKind::of_io),
                        Ok(()) => ErrorKind::ClosedEarly,
                    };
                    self.ended.get_or_insert(kind);
                }
                () = tokio::time::sleep_until((oldest + timeout).into()) => {
                    // Dropping the stream cancels it alone (RST_STREAM CANCEL); the connection goes on.
                    let index = self.streams.iter().position(|s| s.sent == oldest).expect("the oldest is there");
                    return self.streams.swap_remove(index).end(Outcome::Failed(ErrorKind::Timeout));
                }
            }
        }
    }

    fn finish(&mut self, index: usize, result: Result<(), h2::Error>) -> Ended {
        let stream = self.streams.swap_remove(index);
        let outcome = match result {
            Ok(()) => Outcome::Answered { status: stream.reply.status, persistent: true },
            Err(error) => match fate(&error, stream.reply.first_byte.is_some()) {
                Fate::Refused { go_away } => {
                    if go_away {
                        self.ended.get_or_insert(ErrorKind::ClosedEarly);
                    }
                    Outcome::Refused
                }
                Fate::Unanswered => Outcome::Unanswered(ErrorKind::ClosedEarly),
                Fate::Failed(kind) => Outcome::Failed(kind),
            },
        };
        stream.end(outcome)
    }
}

impl Stream2 {
    fn end(self, outcome: Outcome) -> Ended {
        Ended { req: self.req, first_byte: self.reply.first_byte, bytes: self.reply.bytes, outcome, body: Vec::new() }
    }
}

/// The page, fetched once before the loads on a connection of its own (not measured), to find its objects:
/// its status and its body. Opened as the preflight opens one, so that a server that cannot speak TLS as asked,
/// or a certificate that does not verify, is refused in words (`tls::Refusal`).
pub async fn fetch(
    origin: &Origin,
    url: &Url,
    headers: &[(String, String)],
    settings: &Settings,
) -> Result<(u16, Vec<u8>), String> {
    let limit = settings.connect_timeout;
    let started = Instant::now();
    let unreachable = |e: io::Error| format!("cannot connect to {} ({}): {e}", origin.name, origin.addr);
    let mut tcp = std::net::TcpStream::connect_timeout(&origin.addr, limit).map_err(unreachable)?;
    let tcp_took = started.elapsed();
    tcp.set_nodelay(true).map_err(unreachable)?;
    let tls = match &origin.tls {
        Some((client, _)) => {
            let (session, took) = tls::handshake_blocking(client, &mut tcp, started + limit).map_err(|refusal| {
                let why = refusal.explain(client, &format!("{limit:?} (--connect-timeout)"));
                format!("TLS handshake with {} ({}) failed: {why}", origin.name, origin.addr)
            })?;
            Some((&**client, session, took))
        }
        None => None,
    };
    let opened = stream::adopt(tcp, tcp_took, tls).await.map_err(unreachable)?;
    let (_, target) = crate::plan::url_parts(url);
    let request = render(&RequestSpec {
        method: "GET",
        target: &target,
        host: &origin.authority,
        headers,
        body: b"",
        http10: false,
        connection: Some("close"),
    });
    let mut conn = H1::new(opened.stream);
    conn.send(0, &request, false, true);
    conn.flush().await;
    let ended = conn.next(settings.timeout).await;
    Conn::H1(Box::new(conn)).close().await;
    match ended.outcome {
        Outcome::Answered { status, .. } => Ok((status, ended.body)),
        Outcome::Failed(kind) | Outcome::Unanswered(kind) => {
            Err(format!("GET {url}: no whole response ({})", kind.name()))
        }
        // An HTTP/1.x connection refuses no stream.
        Outcome::Refused => Err(format!("GET {url}: no whole response")),
    }
}

/// Does `origin` speak HTTP/2? Over TLS its handshake answers (ALPN); in clear text, the client's preface, and
/// whether the server's first frame is SETTINGS (`http::preface`). One connection, no request.
pub async fn speaks_h2(origin: &Origin, settings: &Settings) -> Result<(), String> {
    use crate::http::preface::{server_answer, ServerAnswer, CLIENT_PREFACE};
    let client = origin.tls.as_ref().map(|(_, h2)| &**h2);
    let opened = stream::connect(None, origin.addr, true, settings.connect_timeout, client).await;
    let mut stream = match opened {
        Ok(opened) => opened.stream,
        Err(_) => return Err(format!("{} did not open a connection offering HTTP/2", origin.name)),
    };
    if client.is_some() {
        return match stream.alpn_is_h2() {
            true => Ok(()),
            false => Err(format!("{} does not speak HTTP/2 over TLS (ALPN h2 refused)", origin.name)),
        };
    }
    let mut first = Vec::new();
    let answer = tokio::time::timeout(settings.connect_timeout, async {
        stream.write_all(CLIENT_PREFACE).await?;
        let mut buf = [0u8; 64];
        loop {
            let n = stream.read(&mut buf).await?;
            first.extend_from_slice(&buf[..n]);
            match server_answer(&first) {
                ServerAnswer::Incomplete if n > 0 => continue,
                answer => return io::Result::Ok(answer),
            }
        }
    })
    .await;
    match answer {
        Ok(Ok(ServerAnswer::Http2)) => Ok(()),
        Ok(Ok(_)) => Err(format!(
            "{} does not speak HTTP/2 (h2c, prior knowledge): it answers \"{}\"",
            origin.name,
            first.escape_ascii()
        )),
        Ok(Err(e)) => Err(format!("{} does not speak HTTP/2 (h2c, prior knowledge): {e}", origin.name)),
        Err(_) => Err(format!("{} does not speak HTTP/2: no answer to the preface", origin.name)),
    }
}

//! The driver: a few connections with blocking sockets, each experiment timed and written down as it
//! happened, nothing concluded. Bounded by one deadline for the whole probe; the idle-timeout wait runs on
//! its own thread so that it overlaps the rest, and the others run one after another, each within its own
//! share of the time ([`Budget`]): a slow server cannot let one experiment eat the time of those after it,
//! and an experiment whose share ran out is written down as such (not measured), never as a failure.
//!
//! Blocking std sockets rather than the engine's tokio loop: a probe is a handful of strictly ordered
//! exchanges, and a read with a timeout says exactly when and how the server closed (0 bytes is its FIN,
//! ECONNRESET its RST), which is what the findings are made of.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::http::request::{render, RequestSpec};
use crate::http::response::{BodyEnd, EofOutcome, Feed, HeadMemo, ResponseMeta, ResponseParser};
use crate::net::tls::{handshake_blocking, Refusal};
use crate::plan::Target;

/// Requests in the pipelining experiment: GET and HEAD alternating, so that answers out of order cannot be
/// framed (a HEAD answer has no body where a GET answer has one).
pub const PIPELINED: usize = 4;
/// Samples taken of the small exchange on a new connection, and of each Nagle case.
const SAMPLES: usize = 5;
/// How long a connection is given to show its end after a response that closes it.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// The longest one blocking read waits before looking at the clock again.
const READ_STEP: Duration = Duration::from_millis(500);

// NOTE: the exchanges each experiment makes, its weight in the budget; `observe` runs them in this order.
/// Requests one after another: two say whether the connection persists; the count goes on as time allows.
const SEQUENCE_EXCHANGES: u32 = 5;
const HTTP10_EXCHANGES: u32 = 3;
/// Three alone, then the batch.
const PIPELINE_EXCHANGES: u32 = 3 + PIPELINED as u32;
const CLOSE_EXCHANGES: u32 = 2;
const NEW_CONNECTION_EXCHANGES: u32 = SAMPLES as u32;
/// Per sample, three exchanges to warm the connection up, then the split request.
const SPLIT_EXCHANGES: u32 = 4 * SAMPLES as u32;
const ALL_EXCHANGES: u32 = SEQUENCE_EXCHANGES
    + HTTP10_EXCHANGES
    + PIPELINE_EXCHANGES
    + CLOSE_EXCHANGES
    + NEW_CONNECTION_EXCHANGES
    + 2 * SPLIT_EXCHANGES;

/// The probe's time, shared out between experiments run one after another: each in turn gets its share of
/// what is left by its weight (the exchanges it makes), and never less than the exchanges its verdict needs
/// take at the pace of the probe's first one, twice over, while time is left; what one leaves unused goes to
/// those after it.
struct Budget {
    deadline: Instant,
    /// How long the first exchange took, a new connection's included.
    pace: Duration,
    weights_left: u32,
}

impl Budget {
    /// The deadline of the next experiment, which makes `exchanges`, needs `needed` of them for a verdict, and
    /// may wait `waits` besides.
    fn share(&mut self, exchanges: u32, needed: u32, waits: Duration) -> Instant {
        let now = Instant::now();
        let left = self.deadline.saturating_duration_since(now);
        let fair = left * exchanges / self.weights_left.max(1);
        self.weights_left = self.weights_left.saturating_sub(exchanges);
        now + fair.max(self.pace * needed * 2 + waits).min(left)
    }
}

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server's FIN: a read returned 0.
    Fin,
    /// The server's RST.
    Reset,
    /// Still open when we stopped waiting.
    Open,
    /// Bytes nobody asked for.
    Unexpected,
    /// Any other failure.
    Failed,
}

/// Requests sent one after another on one connection until the server ended it or the cap was reached.
#[derive(Debug, Clone, Default)]
pub struct Sequence {
    /// Every response, in order.
    pub responses: Vec<ResponseMeta>,
    /// How the connection ended; None when the cap was reached with it open.
    pub end: Option<End>,
}

#[derive(Debug, Clone, Copy)]
pub struct Idle {
    /// How long the connection stayed open after its response; None if it outlived the wait.
    pub lived: Option<Duration>,
    pub waited: Duration,
    pub end: End,
}

#[derive(Debug, Clone)]
pub struct Pipelined {
    /// The batch came to a verdict: every answer arrived, or the server failed one otherwise than by taking
    /// longer than the experiment's share of the time.
    pub measured: bool,
    pub answered: usize,
    /// Every answer was framed as the answer to the request in its place.
    pub framed_in_order: bool,
    /// From the write of the batch to its last answer.
    pub batch: Duration,
    /// The same, for one request alone on the same connection (the median of three).
    pub single: Duration,
}

/// Each None when its share of the time ran out before the experiment came to a verdict.
#[derive(Debug, Clone, Copy)]
pub struct Closes {
    /// After a response to `Connection: close`.
    pub after_close: Option<End>,
    /// After a response to `Connection: close` sent together with one more request the server leaves unread.
    pub with_unread: Option<End>,
    /// The response to that `Connection: close` arrived whole before the end.
    pub unread_response_whole: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Observations {
    pub http11: Sequence,
    pub http10: Sequence,
    pub idle: Idle,
    pub pipelined: Pipelined,
    pub closes: Closes,
    /// (TCP connect, TLS handshake (https), connect plus handshake plus one small exchange) on new
    /// connections.
    pub new_connections: Vec<(Duration, Option<Duration>, Duration)>,
    /// One request written in two parts: time to its answer with Nagle on (TCP_NODELAY off), and off.
    pub split_nagle_on: Vec<Duration>,
    pub split_nodelay: Vec<Duration>,
    /// The first response's `Alt-Svc` field, if it had one.
    pub alt_svc: Option<String>,
    /// https: the HTTP/3 experiment (`probe/quic.rs`).
    pub http3: Option<super::quic::Seen>,
}

/// Why the probe could not run at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Unprobeable {
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    #[error("no HTTP response ({0})")]
    NotHttp(String),
    /// A response began and did not end: what came, in words.
    #[error("{0}")]
    Unfinished(String),
    #[error("{0}")]
    Tls(String),
}

/// Why a connection could not be opened.
enum Opening {
    Connect(io::Error),
    /// The TLS handshake failed: why, in words.
    Tls(String),
}

/// Runs every experiment against `target` within `deadline`.
pub fn observe(target: &Target, deadline: Instant, max_requests: u64) -> Result<Observations, Unprobeable> {
    // The first exchange doubles as the check that there is an HTTP server at all.
    let began = Instant::now();
    let mut first = Conn::open(target, deadline)
        .map_err(|e| match e {
            Opening::Connect(err) => Unprobeable::Connect(err),
            Opening::Tls(why) => Unprobeable::Tls(why),
        })?
        .0;
    first.send(&request(target, "GET", Version::Http11, None)).map_err(|e| Unprobeable::NotHttp(e.to_string()))?;
    if let Err(end) = first.response(false, deadline) {
        return Err(first.unprobeable(end, began.elapsed()));
    }
    let alt_svc = alt_svc(&first.buf[..first.start]);
    drop(first);
    let mut budget = Budget { deadline, pace: began.elapsed(), weights_left: ALL_EXCHANGES };
    std::thread::scope(|scope| {
        // The idle wait is the long one: it overlaps everything else.
        let idle = scope.spawn(|| idle(target, deadline));
        // Two answers say whether a connection persists; the count goes on within the weight's share.
        let until = budget.share(SEQUENCE_EXCHANGES, 2, Duration::ZERO);
        let http11 = sequence(target, Version::Http11, max_requests, until);
        let until = budget.share(HTTP10_EXCHANGES, HTTP10_EXCHANGES, Duration::ZERO);
        let http10 = sequence(target, Version::Http10KeepAlive, 3, until);
        let pipelined = pipelined(target, budget.share(PIPELINE_EXCHANGES, PIPELINE_EXCHANGES, Duration::ZERO));
        let closes = closes(target, budget.share(CLOSE_EXCHANGES, CLOSE_EXCHANGES, CLOSE_WAIT * 2));
        let until = budget.share(NEW_CONNECTION_EXCHANGES, NEW_CONNECTION_EXCHANGES, Duration::ZERO);
        let new_connections = (0..SAMPLES).filter_map(|_| new_connection(target, until)).collect();
        let until = budget.share(SPLIT_EXCHANGES, SPLIT_EXCHANGES, Duration::ZERO);
        let split_nagle_on = (0..SAMPLES).filter_map(|_| split_request(target, false, until)).collect();
        let until = budget.share(SPLIT_EXCHANGES, SPLIT_EXCHANGES, Duration::ZERO);
        let split_nodelay = (0..SAMPLES).filter_map(|_| split_request(target, true, until)).collect();
        // HTTP/3 last, with what is left of the probe's time (https only).
        let http3 = target.quic.as_ref().map(|client| {
            let left = deadline.saturating_duration_since(Instant::now()).min(Duration::from_secs(5));
            super::quic::observe(client, target.addr, &target.display, left)
        });
        let idle = idle.join().expect("the idle experiment does not panic");
        Ok(Observations {
            http11,
            http10,
            idle,
            pipelined,
            closes,
            new_connections,
            split_nagle_on,
            split_nodelay,
            alt_svc,
            http3,
        })
    })
}

/// The `Alt-Svc` field of a response head (RFC 7838), if it has one.
fn alt_svc(response: &[u8]) -> Option<String> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut head = httparse::Response::new(&mut fields);
    head.parse(response).ok()?;
    let field = head.headers.iter().find(|field| field.name.eq_ignore_ascii_case("alt-svc"))?;
    Some(String::from_utf8_lossy(field.value).into_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Http11,
    /// HTTP/1.0 asking for `Connection: Keep-Alive` (the extension HTTP/1.0 servers may honour).
    Http10KeepAlive,
}

fn request(target: &Target, method: &str, version: Version, connection: Option<&str>) -> Vec<u8> {
    let (http10, connection) = match version {
        Version::Http11 => (false, connection),
        Version::Http10KeepAlive => (true, connection.or(Some("Keep-Alive"))),
    };
    let authorization = target.authorization.iter().map(|value| ("Authorization".to_string(), value.clone()));
    render(&RequestSpec {
        method,
        target: &target.path,
        host: &target.host,
        headers: &authorization.collect::<Vec<_>>(),
        body: &[],
        http10,
        connection,
    })
}

/// Requests one at a time on one connection, until the server ends it or `cap` are answered.
fn sequence(target: &Target, version: Version, cap: u64, deadline: Instant) -> Sequence {
    let mut seen = Sequence::default();
    let Ok((mut conn, _)) = Conn::open(target, deadline) else {
        seen.end = Some(End::Failed);
        return seen;
    };
    let bytes = request(target, "GET", version, None);
    while (seen.responses.len() as u64) < cap {
        if conn.send(&bytes).is_err() {
            seen.end = Some(End::Reset);
            return seen;
        }
        match conn.response(false, deadline) {
            Ok(meta) => {
                seen.responses.push(meta);
                if !meta.persistent {
                    seen.end = Some(conn.wait_end((Instant::now() + CLOSE_WAIT).min(deadline)));
                    return seen;
                }
            }
            Err(end) => {
                seen.end = Some(end);
                return seen;
            }
        }
    }
    seen
}

/// One exchange, then nothing: how long until the server closes the idle connection.
fn idle(target: &Target, deadline: Instant) -> Idle {
    let failed = Idle { lived: None, waited: Duration::ZERO, end: End::Failed };
    let Ok((mut conn, _)) = Conn::open(target, deadline) else { return failed };
    if conn.send(&request(target, "GET", Version::Http11, None)).is_err() {
        return failed;
    }
    match conn.response(false, deadline) {
        Ok(meta) if meta.persistent => {}
        _ => return failed,
    }
    let since = Instant::now();
    // Stop a little before the deadline, so that the probe as a whole keeps to it.
    let until = deadline.checked_sub(Duration::from_millis(200)).unwrap_or(deadline).max(since);
    let end = conn.wait_end(until);
    let waited = since.elapsed();
    Idle { lived: (end != End::Open).then_some(waited), waited, end }
}

fn pipelined(target: &Target, deadline: Instant) -> Pipelined {
    let mut seen = Pipelined {
        measured: false,
        answered: 0,
        framed_in_order: false,
        batch: Duration::ZERO,
        single: Duration::ZERO,
    };
    let get = request(target, "GET", Version::Http11, None);
    // One request alone, each on a connection of its own (a server may answer only one per connection).
    let mut singles: Vec<_> = (0..3)
        .filter_map(|_| {
            let (mut conn, _) = Conn::open(target, deadline).ok()?;
            let began = Instant::now();
            conn.send(&get).ok()?;
            conn.response(false, deadline).ok()?;
            Some(began.elapsed())
        })
        .collect();
    singles.sort();
    seen.single = singles.get(singles.len() / 2).copied().unwrap_or_default();
    let Ok((mut conn, _)) = Conn::open(target, deadline) else { return seen };
    let head = request(target, "HEAD", Version::Http11, None);
    let methods: Vec<bool> = (0..PIPELINED).map(|i| i % 2 == 1).collect();
    let batch: Vec<u8> = methods.iter().flat_map(|&is_head| if is_head { head.clone() } else { get.clone() }).collect();
    let began = Instant::now();
    if conn.send(&batch).is_err() {
        return seen;
    }
    seen.framed_in_order = true;
    seen.measured = true;
    for &is_head in &methods {
        match conn.response(is_head, deadline) {
            Ok(_) => seen.answered += 1,
            Err(End::Unexpected) => {
                seen.framed_in_order = false;
                break;
            }
            // Out of time: the answers not yet in say nothing about the server.
            Err(End::Open) => {
                seen.measured = false;
                break;
            }
            Err(_) => break,
        }
    }
    seen.batch = began.elapsed();
    seen
}

fn closes(target: &Target, deadline: Instant) -> Closes {
    let close = request(target, "GET", Version::Http11, Some("close"));
    // How the connection ended and whether the response came whole; None when the time ran out first (no
    // connection, no answer, or less than the whole wait for the end).
    let after = |bytes: &[u8]| -> Option<(End, bool)> {
        let (mut conn, _) = Conn::open(target, deadline).ok()?;
        if conn.send(bytes).is_err() {
            return Some((End::Failed, false));
        }
        match conn.response(false, deadline) {
            Ok(_) => {
                let wait = Instant::now() + CLOSE_WAIT;
                let end = conn.wait_end(wait.min(deadline));
                (end != End::Open || wait <= deadline).then_some((end, true))
            }
            Err(End::Open) => None,
            Err(end) => Some((end, false)),
        }
    };
    let after_close = after(&close).map(|(end, _)| end);
    // One request more behind the one that closes: the server closes with it unread.
    let mut two = close.clone();
    two.extend_from_slice(&request(target, "GET", Version::Http11, None));
    let with_unread = after(&two);
    Closes {
        after_close,
        with_unread: with_unread.map(|(end, _)| end),
        unread_response_whole: with_unread.map(|w| w.1),
    }
}

/// A new connection and one small exchange on it: (connect, TLS handshake, all of it).
fn new_connection(target: &Target, deadline: Instant) -> Option<(Duration, Option<Duration>, Duration)> {
    let began = Instant::now();
    let (mut conn, connect) = Conn::open(target, deadline).ok()?;
    conn.send(&request(target, "GET", Version::Http11, None)).ok()?;
    conn.response(false, deadline).ok()?;
    Some((connect, conn.tls_handshake, began.elapsed()))
}

/// One request written in two segments after a few ordinary exchanges (past TCP's quick-ACK start), with
/// Nagle on or off: Nagle holds the second segment until the first is acknowledged, and a server that
/// delays its ACK while waiting for the rest of the request makes that a delay (RFC 1122 §4.2.3.2, §4.2.3.4).
fn split_request(target: &Target, nodelay: bool, deadline: Instant) -> Option<Duration> {
    let (mut conn, _) = Conn::open(target, deadline).ok()?;
    conn.stream.tcp().set_nodelay(nodelay).ok()?;
    let get = request(target, "GET", Version::Http11, None);
    for _ in 0..3 {
        conn.send(&get).ok()?;
        conn.response(false, deadline).ok()?;
    }
    let split = get.len() / 2;
    let began = Instant::now();
    conn.send(&get[..split]).ok()?;
    conn.send(&get[split..]).ok()?;
    conn.response(false, deadline).ok()?;
    Some(began.elapsed())
}

/// A blocking connection, plain or TLS: both read and write bytes, and both sit on a TCP socket whose
/// options (timeouts, TCP_NODELAY) the experiments set.
enum Wire {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Wire {
    fn tcp(&self) -> &TcpStream {
        match self {
            Wire::Plain(tcp) => tcp,
            Wire::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(tcp) => tcp.read(buf),
            // A TCP end without TLS's close_notify is still the server's close, for what the probe asks.
            Wire::Tls(tls) => match tls.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                read => read,
            },
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(tcp) => tcp.write(buf),
            Wire::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(tcp) => tcp.flush(),
            Wire::Tls(tls) => tls.flush(),
        }
    }
}

/// One blocking connection with its read buffer.
struct Conn {
    stream: Wire,
    /// https: how long the TLS handshake took, apart from the TCP connect.
    tls_handshake: Option<Duration>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    memo: HeadMemo,
    /// The last response that failed after its head was whole: what it said, and how its body ends.
    cut: Option<(ResponseMeta, BodyEnd)>,
}

impl Conn {
    /// Connects within the time left (and over https shakes hands, the TCP and TLS handshakes bounded together);
    /// returns the connection and how long the TCP handshake took. TCP_NODELAY is on, as a browser has it:
    /// over TLS the request follows the client's Finished, and Nagle would hold it until the server's delayed
    /// ACK (only `split_request` turns it off, for its experiment).
    fn open(target: &Target, deadline: Instant) -> Result<(Conn, Duration), Opening> {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let limit = left.min(Duration::from_secs(5));
        let began = Instant::now();
        let mut tcp = TcpStream::connect_timeout(&target.addr, limit).map_err(Opening::Connect)?;
        tcp.set_nodelay(true).map_err(Opening::Connect)?;
        let connect = began.elapsed();
        let (stream, tls_handshake) = match &target.tls {
            None => (Wire::Plain(tcp), None),
            Some(client) => {
                let (session, took) = handshake_blocking(client, &mut tcp, began + limit).map_err(|refusal| {
                    let why = refusal.explain(client, &format!("{limit:.1?} (--max-time; 5s at most per connection)"));
                    Opening::Tls(match refusal {
                        Refusal::Certificate(_) => format!("the certificate does not verify: {why}"),
                        _ => format!("TLS handshake failed: {why}"),
                    })
                })?;
                (Wire::Tls(Box::new(rustls::StreamOwned::new(session, tcp))), Some(took))
            }
        };
        let conn = Conn {
            stream,
            tls_handshake,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            memo: HeadMemo::default(),
            cut: None,
        };
        Ok((conn, connect))
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads one whole response (of a HEAD request when `head`); the error says how the connection ended
    /// instead, `Unexpected` for bytes that are not a response.
    fn response(&mut self, head: bool, deadline: Instant) -> Result<ResponseMeta, End> {
        let mut parser = ResponseParser::new(head);
        let ended = self.parse(&mut parser, deadline);
        if ended.is_err() {
            self.cut = parser.head();
        }
        ended
    }

    fn parse(&mut self, parser: &mut ResponseParser, deadline: Instant) -> Result<ResponseMeta, End> {
        loop {
            match parser.feed(&self.buf[self.start..self.end], &mut self.memo) {
                Ok(Feed::Complete { consumed, meta }) => {
                    self.start += consumed;
                    return Ok(meta);
                }
                Ok(Feed::Incomplete { consumed }) => self.start += consumed,
                Err(_) => return Err(End::Unexpected),
            }
            match self.read(deadline) {
                Ok(0) => {
                    return match parser.eof() {
                        EofOutcome::Complete(meta) => Ok(meta),
                        EofOutcome::NothingReceived => Err(End::Fin),
                        EofOutcome::Truncated => Err(End::Failed),
                    }
                }
                Ok(_) => {}
                Err(end) => return Err(end),
            }
        }
    }

    /// Waits for the server to end the connection, until `until`.
    fn wait_end(&mut self, until: Instant) -> End {
        if self.start < self.end {
            return End::Unexpected;
        }
        match self.read(until) {
            Ok(0) => End::Fin,
            Ok(_) => End::Unexpected,
            Err(end) => end,
        }
    }

    /// One read into the free end of the buffer, bounded by `until`.
    fn read(&mut self, until: Instant) -> Result<usize, End> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.end == self.buf.len() {
            return Err(End::Unexpected);
        }
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(End::Open);
            }
            // The kernel's timer wheel rounds a long timeout up by as much as an eighth (2 s of 20 s), which
            // would overrun the deadline: wait in short steps.
            self.stream.tcp().set_read_timeout(Some(left.min(READ_STEP))).map_err(|_| End::Failed)?;
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Err(End::Reset),
                Err(_) => return Err(End::Failed),
            }
        }
    }

    /// Why the first exchange, `waited` long, leaves nothing to probe: a response begun and not ended in time,
    /// or what the server sent instead of HTTP.
    fn unprobeable(&self, end: End, waited: Duration) -> Unprobeable {
        let Some((meta, body)) = self.cut.filter(|_| end == End::Open) else {
            return Unprobeable::NotHttp(self.describe_failure(end));
        };
        let body = match body {
            BodyEnd::Close => {
                "a body that ends only when the server closes the connection (no Content-Length, not \
                               chunked)"
            }
            BodyEnd::Chunked => "a chunked body",
            BodyEnd::Length => "a body of the length its Content-Length announced",
        };
        Unprobeable::Unfinished(format!(
            "the response to its first request had not ended after {:.1} s (--max-time): a {} head, then {} bytes \
             of {body}, still coming; the probe needs responses that end",
            waited.as_secs_f64(),
            meta.status,
            meta.body_bytes
        ))
    }

    /// What the first bytes received were, for a server that does not speak HTTP.
    fn describe_failure(&self, end: End) -> String {
        let received = &self.buf[..self.end.min(32)];
        match end {
            End::Unexpected => format!("the server sent {:?}", String::from_utf8_lossy(received)),
            End::Fin => "the server closed without answering".into(),
            End::Reset => "the server reset the connection".into(),
            End::Open => "no answer in time".into(),
            End::Failed => "the answer was cut short".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_of_the_probe_turns_nagle_off() {
        // Over TLS a request follows the client's Finished; with Nagle on it would wait for the server's
        // delayed ACK, and the probe would report that wait as the server's.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Target::plain(addr);
        let Ok((conn, _)) = Conn::open(&target, Instant::now() + Duration::from_secs(2)) else { panic!("connects") };
        assert!(conn.stream.tcp().nodelay().unwrap());
    }
}

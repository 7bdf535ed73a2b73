/*!
Per-worker recorders: each engine thread owns one, records without locks or shared atomics, and the
engine merges them when the mode ends (wrk's per-thread stats, vegeta's Metrics.Add/Close). Memory is
flat however long the run: histograms and one small row per second, never a Vec per request.

Each second also keeps the total latency of its requests, for the timeline's p50 and p99. Only the
second being recorded is a live histogram; a second that is over is kept as its HdrHistogram V2
serialization (a few hundred bytes for the few hundred distinct values one second holds at 2
significant digits, where the counts array alone would be 26 KB), so an hour is about a megabyte.

Depends on nothing async: the engine passes instants in.
*/

pub mod merge;
pub mod result;
pub mod validate;

use std::time::{Duration, Instant};

use base64::Engine as _;
use hdrhistogram::serialization::{Serializer as _, V2Serializer};
use hdrhistogram::Histogram;

use result::{
    ErrorCounts, Hist, KeepAlive, Latency, ModeResult, OtherTargets, Pacing, QuicSummary, StatusCounts, TargetFigures,
    TargetTally, Tick, TlsSummary,
};

/// Why a request failed; one per failed request (docs/design.md §5 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Refused,
    Timeout,
    Reset,
    AddrUnavailable,
    FdExhausted,
    Truncated,
    Parse,
    ClosedEarly,
    /// The server reset an HTTP/2 stream (RST_STREAM) for another reason than REFUSED_STREAM.
    H2Reset,
    /// The server reset an HTTP/3 stream for another reason than H3_REQUEST_REJECTED.
    H3Reset,
    /// The QUIC handshake of the request's connection failed (no answer, a certificate, ALPN).
    QuicHandshake,
    /// The request's QUIC connection went silent past its idle timeout.
    QuicIdleTimeout,
    /// The request's QUIC connection was closed (CONNECTION_CLOSE, or the endpoint's end) under it.
    QuicClosed,
    Other,
    /// TLS failed on the request's connection: its handshake, or a fatal alert after it (a server that asks
    /// for a client certificate sends one after the client's TLS 1.3 Finished, RFC 8446 §4.4.2.4).
    Tls,
}

impl ErrorKind {
    /// Its name in the result's `errors` (docs/design.md §5).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::AddrUnavailable => "addr_unavailable",
            ErrorKind::FdExhausted => "fd_exhausted",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Parse => "parse",
            ErrorKind::ClosedEarly => "closed_early",
            ErrorKind::H2Reset => "h2_reset",
            ErrorKind::H3Reset => "h3_reset",
            ErrorKind::QuicHandshake => "quic_handshake",
            ErrorKind::QuicIdleTimeout => "quic_idle_timeout",
            ErrorKind::QuicClosed => "quic_closed",
            ErrorKind::Other => "other",
            ErrorKind::Tls => "tls",
        }
    }

    pub fn of_io(err: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as Io;
        // tokio-rustls and rustls' own streams carry a TLS failure as a rustls::Error inside the io::Error.
        if err.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
            return ErrorKind::Tls;
        }
        match err.kind() {
            Io::ConnectionRefused => ErrorKind::Refused,
            Io::TimedOut => ErrorKind::Timeout,
            Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe => ErrorKind::Reset,
            Io::AddrNotAvailable => ErrorKind::AddrUnavailable,
            _ => match err.raw_os_error() {
                Some(EMFILE | ENFILE) => ErrorKind::FdExhausted,
                _ => ErrorKind::Other,
            },
        }
    }
}

// std has no stable io::ErrorKind for these; the numbers are the same on every Linux architecture,
// and this module stays free of nix (only net/socket.rs touches it).
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

/// Who closed a connection first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closer {
    /// We sent FIN first: our port sits in TIME_WAIT.
    Client,
    /// We read end-of-stream first: TIME_WAIT lands on the server, our port is free once closed.
    Server,
    /// RST, either way: no TIME_WAIT.
    Reset,
}

/// When one completed request happened, for its latency phases (docs/design.md §3).
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    /// Where total latency counts from: the scheduled start with `--rate`, the first attempt's start for a
    /// retry, else `began`.
    pub start: Instant,
    /// This attempt's own start: its connect() when it opened the connection, else its write.
    pub began: Instant,
    pub sent: Instant,
    pub first_byte: Instant,
    pub done: Instant,
    pub opened_connection: bool,
}

/// 1 µs to 1 hour at 3 significant digits: the range and precision of wrk2 and HdrHistogram's defaults.
const MAX_TRACKABLE_US: u64 = 3_600_000_000;

/// A scheduled request that starts later than this is late: the client could not keep to `--rate`
/// (every connection busy). Above the timer's 1 ms granularity, below anything a person would call on time.
pub const LATE: Duration = Duration::from_millis(10);

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 3).expect("static histogram bounds are valid")
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(MAX_TRACKABLE_US)) as u64
}

/// What the two sides of a TLS connection agreed on; names as rustls and the IANA registry spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub version: &'static str,
    pub cipher: &'static str,
    pub alpn: Option<&'static str>,
}

/// The TLS side of one recorder's connections, made at its first handshake: plain http runs carry none.
#[derive(Debug, Clone)]
struct TlsRecord {
    handshake: Histogram<u64>,
    full: u64,
    resumed: u64,
    /// As the first connection negotiated it.
    negotiated: Negotiated,
}

impl TlsRecord {
    fn new(negotiated: Negotiated) -> TlsRecord {
        TlsRecord { handshake: new_histogram(), full: 0, resumed: 0, negotiated }
    }

    fn merge(&mut self, other: &TlsRecord) {
        self.handshake.add(&other.handshake).expect("histograms share bounds");
        self.full += other.full;
        self.resumed += other.resumed;
    }
}

/// Responses per status code: a status line has three digits (RFC 9110 §15), so a fixed array indexed by the
/// code counts one with an index and an add, and never allocates on the way.
#[derive(Debug, Clone)]
struct StatusCodes(Box<[u64; 1000]>);

impl Default for StatusCodes {
    fn default() -> StatusCodes {
        StatusCodes(Box::new([0; 1000]))
    }
}

impl StatusCodes {
    fn count(&mut self, status: u16) {
        // A status of more than three digits has a class (`other`) but no code of its own here.
        if let Some(count) = self.0.get_mut(usize::from(status)) {
            *count += 1;
        }
    }

    fn add(&mut self, other: &StatusCodes) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
            *mine += theirs;
        }
    }

    /// The codes that were seen, with their counts.
    fn seen(&self) -> std::collections::BTreeMap<u16, u64> {
        (0u16..).zip(self.0.iter()).filter(|(_, &n)| n > 0).map(|(code, &n)| (code, n)).collect()
    }
}

/// Per-second latency is for a chart and a glance (p50, p99 of one second): 2 significant digits (1 %)
/// keep each second small.
const SECOND_SIGFIG: u8 = 2;

fn new_second_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_US, SECOND_SIGFIG).expect("static histogram bounds are valid")
}

/// Targets of `--targets` whose figures a run keeps apart, in the file's order; the figures of any later one
/// are kept together, as "other". Each costs a few counters and, once answered, a histogram of a few KiB per
/// engine thread.
pub const TARGETS_APART: usize = 1000;
/// Targets a result lists one by one, the busiest; the others are summed as "other".
pub const TARGETS_LISTED: usize = 100;

/// Per-target latency is for a table of percentiles: 2 significant digits (1 %), and a histogram that grows
/// to the largest value recorded, as a target's few KiB matter when a run has many.
pub fn new_target_histogram() -> Histogram<u64> {
    let mut histogram = Histogram::new(SECOND_SIGFIG).expect("static histogram precision is valid");
    histogram.auto(true);
    histogram
}

/// One target's figures in one recorder: counters, its statuses (a few codes, looked up in turn), and a
/// histogram made at its first response.
#[derive(Debug, Clone, Default)]
struct TargetRecord {
    requests: u64,
    errors: ErrorCounts,
    status: Vec<(u16, u64)>,
    total: Option<Histogram<u64>>,
}

impl TargetRecord {
    fn completed(&mut self, status: u16, total_us: u64) {
        self.requests += 1;
        match self.status.iter_mut().find(|(code, _)| *code == status) {
            Some((_, count)) => *count += 1,
            None => self.status.push((status, 1)),
        }
        // Not `saturating_record`: it would hold the value to the histogram's size so far instead of growing it.
        let _ = self.total.get_or_insert_with(new_target_histogram).record(total_us);
    }

    fn merge(&mut self, other: &TargetRecord) {
        self.requests += other.requests;
        self.errors.add(&other.errors);
        for &(code, count) in &other.status {
            match self.status.iter_mut().find(|(mine, _)| *mine == code) {
                Some((_, mine)) => *mine += count,
                None => self.status.push((code, count)),
            }
        }
        if let Some(theirs) = &other.total {
            self.total.get_or_insert_with(new_target_histogram).add(theirs).expect("auto-resizing histograms add");
        }
    }

    fn tally(&self) -> TargetTally {
        TargetTally {
            requests: self.requests,
            errors: self.errors.clone(),
            status_codes: self.status.iter().map(|(code, n)| (code.to_string(), *n)).collect(),
            latency: summarize(self.total.as_ref().unwrap_or(&new_target_histogram())),
        }
    }

    /// Requests that ended, answered or not: what "busiest" means.
    fn ended(&self) -> u64 {
        self.requests + self.errors.total()
    }
}

#[derive(Debug, Clone, Default)]
struct Second {
    requests: u64,
    errors: u64,
    opened: u64,
    /// Total latency of the requests completed in this second, serialized (V2) once the second is over.
    latency: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct Recorder {
    started: Instant,
    connect: Histogram<u64>,
    ttfb: Histogram<u64>,
    transfer: Histogram<u64>,
    total: Histogram<u64>,
    total_first: Histogram<u64>,
    total_reused: Histogram<u64>,
    /// Open loop only: total from each request's actual start, beside `total` from its scheduled start.
    total_uncorrected: Option<Histogram<u64>>,
    pacing: Pacing,
    status: StatusCounts,
    codes: StatusCodes,
    errors: ErrorCounts,
    requests: u64,
    bytes_received: u64,
    connections_opened: u64,
    closed_by_client: u64,
    closed_by_server: u64,
    closed_by_reset: u64,
    closed_on_server_request: u64,
    closed_unanswered: u64,
    closed_unsolicited: u64,
    retries: u64,
    in_flight_at_end: u64,
    keep_alive: KeepAlive,
    tls: Option<TlsRecord>,
    /// HTTP/2: the lowest SETTINGS_MAX_CONCURRENT_STREAMS that held a connection below `--depth`.
    stream_cap: Option<u32>,
    /// HTTP/3: QUIC's own figures, made at the first QUIC connection.
    quic: Option<QuicRecord>,
    /// The most requests or streams in flight at once on one connection.
    most_in_flight: u32,
    /// What a server sent that could not be read as HTTP, in words, the first time (not part of the result:
    /// the note that says no response was HTTP quotes it).
    unreadable: Option<String>,
    timeline: Vec<Second>,
    /// The second last recorded into: its start, its end, its index in `timeline`.
    current: (Instant, Instant, usize),
    /// Total latency of the second `live_second`, not yet serialized into its `Second`.
    live_latency: Histogram<u64>,
    live_second: usize,
    /// `--targets`: each target's figures by its index, the last for those past `TARGETS_APART`; empty for a
    /// run of one request.
    targets: Vec<TargetRecord>,
}

impl Recorder {
    /// `open_loop`: requests follow a `--rate` schedule, so the uncorrected total is kept too.
    pub fn new(started: Instant, open_loop: bool) -> Recorder {
        Recorder {
            started,
            connect: new_histogram(),
            ttfb: new_histogram(),
            transfer: new_histogram(),
            total: new_histogram(),
            total_first: new_histogram(),
            total_reused: new_histogram(),
            total_uncorrected: open_loop.then(new_histogram),
            pacing: Pacing::default(),
            status: StatusCounts::default(),
            codes: StatusCodes::default(),
            errors: ErrorCounts::default(),
            requests: 0,
            bytes_received: 0,
            connections_opened: 0,
            closed_by_client: 0,
            closed_by_server: 0,
            closed_by_reset: 0,
            closed_on_server_request: 0,
            closed_unanswered: 0,
            closed_unsolicited: 0,
            retries: 0,
            in_flight_at_end: 0,
            keep_alive: KeepAlive::default(),
            tls: None,
            stream_cap: None,
            quic: None,
            most_in_flight: 0,
            unreadable: None,
            timeline: Vec::new(),
            current: (started, started, 0),
            live_latency: new_second_histogram(),
            live_second: 0,
            targets: Vec::new(),
        }
    }

    /// Keeps the figures of each of `count` targets apart (`--targets`), the first `TARGETS_APART` of them;
    /// with 0, none.
    pub fn with_targets(mut self, count: usize) -> Recorder {
        if count > 0 {
            let apart = count.min(TARGETS_APART) + usize::from(count > TARGETS_APART);
            self.targets = vec![TargetRecord::default(); apart];
        }
        self
    }

    /// Target `index`'s record, if the run keeps them apart.
    fn target(&mut self, index: usize) -> Option<&mut TargetRecord> {
        let last = self.targets.len().checked_sub(1)?;
        self.targets.get_mut(index.min(last))
    }

    /// The timeline entry of the second `at` falls in. Events come in time order per thread, so the
    /// current second is remembered and a clock subtraction is paid once a second, not per request.
    fn second(&mut self, at: Instant) -> &mut Second {
        if !(self.current.0..self.current.1).contains(&at) {
            let index = at.saturating_duration_since(self.started).as_secs();
            let begins = self.started + Duration::from_secs(index);
            self.current = (begins, begins + Duration::from_secs(1), index as usize);
            if self.current.2 >= self.timeline.len() {
                self.timeline.resize(self.current.2 + 1, Second::default());
            }
        }
        &mut self.timeline[self.current.2]
    }

    /// Serializes the live second's latency into its `Second` (added to what an earlier visit left
    /// there: a late event may come back to a second already over) and empties the live histogram.
    fn freeze_live_second(&mut self) {
        if self.live_latency.is_empty() {
            return;
        }
        let sum = self.latency_of_second(self.live_second).expect("the live second has samples");
        self.timeline[self.live_second].latency = Some(serialize(&sum));
        self.live_latency.reset();
    }

    /// The total latency of second `index`, live part included; None when no request completed in it.
    fn latency_of_second(&self, index: usize) -> Option<Histogram<u64>> {
        let frozen = self.timeline.get(index).and_then(|s| s.latency.as_deref()).map(|bytes| {
            hdrhistogram::serialization::Deserializer::new()
                .deserialize(&mut &bytes[..])
                .expect("the recorder reads back what it serialized")
        });
        let live = (index == self.live_second && !self.live_latency.is_empty()).then_some(&self.live_latency);
        match (frozen, live) {
            (Some(mut frozen), Some(live)) => {
                frozen.add(live).expect("histograms share bounds");
                Some(frozen)
            }
            (frozen, live) => frozen.or_else(|| live.cloned()),
        }
    }

    pub fn connected(&mut self, at: Instant, handshake: Duration) {
        self.connections_opened += 1;
        self.connect.saturating_record(micros(handshake));
        self.second(at).opened += 1;
    }

    /// A TLS handshake ended `took` after the TCP handshake; `resumed`: an abbreviated one.
    pub fn tls_handshake(&mut self, took: Duration, resumed: bool, negotiated: Negotiated) {
        let tls = self.tls.get_or_insert_with(|| TlsRecord::new(negotiated));
        tls.handshake.saturating_record(micros(took));
        if resumed {
            tls.resumed += 1;
        } else {
            tls.full += 1;
        }
    }

    /// A QUIC connection's TLS, which is part of its one handshake (timed as `connect`): counted, not timed.
    pub fn quic_tls(&mut self, resumed: bool, negotiated: Negotiated) {
        let tls = self.tls.get_or_insert_with(|| TlsRecord::new(negotiated));
        if resumed {
            tls.resumed += 1;
        } else {
            tls.full += 1;
        }
    }

    /// A QUIC connection sent its first request in 0-RTT; `accepted`: the server took it.
    pub fn zero_rtt(&mut self, accepted: bool) {
        let quic = self.quic.get_or_insert_with(QuicRecord::default);
        quic.zero_rtt_sent += 1;
        quic.zero_rtt_accepted += u64::from(accepted);
    }

    /// A QUIC connection ended, with quinn's counts of its packets and its smoothed round-trip time.
    pub fn quic_closed(&mut self, sent_packets: u64, lost_packets: u64, rtt: Duration) {
        let quic = self.quic.get_or_insert_with(QuicRecord::default);
        quic.sent_packets += sent_packets;
        quic.lost_packets += lost_packets;
        quic.rtt_sum_us += micros(rtt);
        quic.rtt_count += 1;
    }

    /// A whole response to the run's request (of a run of one request).
    pub fn completed(&mut self, exchange: &Exchange, status: u16) {
        self.completed_for(exchange, status, 0);
    }

    /// A whole response to target `target`'s request.
    pub fn completed_for(&mut self, exchange: &Exchange, status: u16, target: usize) {
        self.requests += 1;
        self.status.count(status);
        self.codes.count(status);
        let total = micros(exchange.done.saturating_duration_since(exchange.start));
        self.ttfb.saturating_record(micros(exchange.first_byte.saturating_duration_since(exchange.sent)));
        self.transfer.saturating_record(micros(exchange.done.saturating_duration_since(exchange.first_byte)));
        self.total.saturating_record(total);
        if let Some(uncorrected) = &mut self.total_uncorrected {
            uncorrected.saturating_record(micros(exchange.done.saturating_duration_since(exchange.began)));
        }
        if exchange.opened_connection {
            self.total_first.saturating_record(total);
        } else {
            self.total_reused.saturating_record(total);
        }
        self.second(exchange.done).requests += 1;
        let index = self.current.2;
        if index != self.live_second {
            self.freeze_live_second();
            self.live_second = index;
        }
        self.live_latency.saturating_record(total);
        if let Some(record) = self.target(target) {
            record.completed(status, total);
        }
    }

    /// A request of a run of one request failed.
    pub fn failed(&mut self, at: Instant, kind: ErrorKind) {
        self.failed_for(at, kind, 0);
    }

    /// Target `target`'s request failed.
    pub fn failed_for(&mut self, at: Instant, kind: ErrorKind, target: usize) {
        self.errors.count(kind);
        self.second(at).errors += 1;
        if let Some(record) = self.target(target) {
            record.errors.count(kind);
        }
    }

    /// A connection closed, `by` whoever closed first; `asked`: the server's last response said the
    /// connection ends (`Connection: close`), so a client close is the server's wish, counted apart.
    pub fn closed(&mut self, by: Closer, asked: bool) {
        match by {
            Closer::Client if asked => self.closed_on_server_request += 1,
            Closer::Client => self.closed_by_client += 1,
            Closer::Server => self.closed_by_server += 1,
            Closer::Reset => self.closed_by_reset += 1,
        }
    }

    /// The server closed or reset a connection that had requests written and answered none of them.
    pub fn closed_unanswered(&mut self) {
        self.closed_unanswered += 1;
    }

    /// The client closed a connection because the server sent bytes no request asked for.
    pub fn closed_unsolicited(&mut self) {
        self.closed_unsolicited += 1;
    }

    /// A connection carried as many requests as a learned per-connection limit allowed.
    pub fn learned_limit_capped(&mut self) {
        self.keep_alive.capped_connections += 1;
    }

    /// A connection ran past a learned per-connection limit: the limit was dropped.
    pub fn learned_limit_refuted(&mut self) {
        self.keep_alive.learned_limit_dropped += 1;
    }

    /// A worker ended holding this learned per-connection limit (None: none).
    pub fn learned_limit_held(&mut self, limit: Option<u64>) {
        self.keep_alive.merge(&KeepAlive { learned_limit: limit, ..KeepAlive::default() });
    }

    /// A scheduled request started `lag` after its time (`--rate`).
    pub fn paced(&mut self, lag: Duration) {
        if lag > LATE {
            self.pacing.late_starts += 1;
        }
        self.pacing.max_lag_us = self.pacing.max_lag_us.max(micros(lag));
    }

    /// Scheduled requests (`--rate`) that were due and never sent.
    pub fn missed(&mut self, count: u64) {
        self.pacing.missed += count;
    }

    /// Requests this recorder's thread issued that had neither a response nor an error when the run ended.
    pub fn in_flight_at_end(&mut self, issued: u64) {
        let settled = self.requests + self.errors.total();
        self.in_flight_at_end += issued.saturating_sub(settled);
    }

    /// An unanswered request will be sent again on a new connection.
    pub fn retried(&mut self) {
        self.retries += 1;
    }

    /// A connection the client wanted to keep was closed after its first response.
    pub fn keep_alive_declined(&mut self) {
        self.keep_alive.declined += 1;
    }

    /// A response announced `Keep-Alive: max=, timeout=` limits (`first_max`: the max of a connection's first
    /// response; later ones count down).
    pub fn keep_alive_limits(&mut self, first_max: Option<u32>, timeout_s: Option<u32>) {
        let announced = KeepAlive { limits_announced: 1, max: first_max, timeout_s, ..KeepAlive::default() };
        self.keep_alive.merge(&announced);
    }

    /// A connection whose first response announced `Keep-Alive: max` has closed, having carried all of it or not.
    pub fn keep_alive_max_used(&mut self, in_full: bool) {
        self.keep_alive.max_connections += 1;
        self.keep_alive.max_used_in_full += u64::from(in_full);
    }

    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS held a connection to `streams` in flight, below `--depth`.
    pub fn stream_cap(&mut self, streams: u32) {
        self.stream_cap = Some(self.stream_cap.map_or(streams, |cap| cap.min(streams)));
    }

    /// A connection has `now` requests (or streams) in flight, just after sending more.
    pub fn in_flight(&mut self, now: usize) {
        self.most_in_flight = self.most_in_flight.max(u32::try_from(now).unwrap_or(u32::MAX));
    }

    /// A response could not be read: `said` puts what the server sent in words, kept the first time only.
    pub fn unreadable(&mut self, said: impl FnOnce() -> String) {
        if self.unreadable.is_none() {
            self.unreadable = Some(said());
        }
    }

    /// What the first unreadable response was, if one was met.
    pub fn unreadable_said(&self) -> Option<&str> {
        self.unreadable.as_deref()
    }

    pub fn received(&mut self, bytes: usize) {
        self.bytes_received += bytes as u64;
    }

    /// Adds another worker's recordings; both must have started at the same instant.
    pub fn merge(&mut self, other: &Recorder) {
        for (mine, theirs) in [
            (&mut self.connect, &other.connect),
            (&mut self.ttfb, &other.ttfb),
            (&mut self.transfer, &other.transfer),
            (&mut self.total, &other.total),
            (&mut self.total_first, &other.total_first),
            (&mut self.total_reused, &other.total_reused),
        ] {
            mine.add(theirs).expect("histograms share bounds");
        }
        if let (Some(mine), Some(theirs)) = (&mut self.total_uncorrected, &other.total_uncorrected) {
            mine.add(theirs).expect("histograms share bounds");
        }
        self.pacing.merge(&other.pacing);
        self.status.add(&other.status);
        self.codes.add(&other.codes);
        self.errors.add(&other.errors);
        self.requests += other.requests;
        self.bytes_received += other.bytes_received;
        self.connections_opened += other.connections_opened;
        self.closed_by_client += other.closed_by_client;
        self.closed_by_server += other.closed_by_server;
        self.closed_by_reset += other.closed_by_reset;
        self.closed_on_server_request += other.closed_on_server_request;
        self.closed_unanswered += other.closed_unanswered;
        self.closed_unsolicited += other.closed_unsolicited;
        self.retries += other.retries;
        self.in_flight_at_end += other.in_flight_at_end;
        self.keep_alive.merge(&other.keep_alive);
        match (&mut self.tls, &other.tls) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.tls = Some(theirs.clone()),
            (_, None) => {}
        }
        if let Some(cap) = other.stream_cap {
            self.stream_cap(cap);
        }
        if let Some(theirs) = &other.quic {
            self.quic.get_or_insert_with(QuicRecord::default).merge(theirs);
        }
        self.most_in_flight = self.most_in_flight.max(other.most_in_flight);
        if self.targets.len() < other.targets.len() {
            self.targets.resize(other.targets.len(), TargetRecord::default());
        }
        for (mine, theirs) in self.targets.iter_mut().zip(&other.targets) {
            mine.merge(theirs);
        }
        if self.unreadable.is_none() {
            self.unreadable.clone_from(&other.unreadable);
        }
        if other.timeline.len() > self.timeline.len() {
            self.timeline.resize(other.timeline.len(), Second::default());
        }
        for (mine, theirs) in self.timeline.iter_mut().zip(&other.timeline) {
            mine.requests += theirs.requests;
            mine.errors += theirs.errors;
            mine.opened += theirs.opened;
        }
        // One second at a time, so that no more than two histograms are ever decoded at once.
        self.freeze_live_second();
        for index in 0..other.timeline.len() {
            if let Some(theirs) = other.latency_of_second(index) {
                let mut sum = self.latency_of_second(index).unwrap_or_else(new_second_histogram);
                sum.add(&theirs).expect("histograms share bounds");
                self.timeline[index].latency = Some(serialize(&sum));
            }
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Each target's figures, named by `names` (method and URL, by index): the `TARGETS_LISTED` busiest, the
    /// others summed. Empty for a run of one request.
    pub fn targets(&self, names: &[(String, String)]) -> (Vec<TargetFigures>, Option<OtherTargets>) {
        let apart = names.len().min(TARGETS_APART);
        let mut order: Vec<usize> = (0..self.targets.len().min(apart)).collect();
        // The busiest first; the file's order among equals.
        order.sort_by_key(|&index| (std::cmp::Reverse(self.targets[index].ended()), index));
        let listed = order.iter().take(TARGETS_LISTED).map(|&index| TargetFigures {
            index: index as u64,
            method: names[index].0.clone(),
            url: names[index].1.clone(),
            tally: self.targets[index].tally(),
        });
        let mut rest = TargetRecord::default();
        for &index in order.iter().skip(TARGETS_LISTED) {
            rest.merge(&self.targets[index]);
        }
        // Those past `TARGETS_APART` were recorded together, in the last record.
        if let Some(beyond) = self.targets.get(apart) {
            rest.merge(beyond);
        }
        let summed = names.len().saturating_sub(TARGETS_LISTED.min(order.len()));
        let other = (summed > 0 && !self.targets.is_empty())
            .then(|| OtherTargets { targets: summed as u64, tally: rest.tally() });
        (listed.collect(), other)
    }

    /// Freezes the recordings into the result of one mode.
    pub fn finish(mut self, shape: RunShape, elapsed: Duration) -> ModeResult {
        self.freeze_live_second();
        // Every second of the window has its entry, those in which nothing happened too: a stall at the end
        // is a second with nothing completed, not a shorter run.
        let window = elapsed.as_secs_f64().ceil() as usize;
        if self.timeline.len() < window {
            self.timeline.resize(window, Second::default());
        }
        let timeline = self
            .timeline
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut tick = Tick {
                    t: i as u64 + 1,
                    length_s: partial_second(elapsed, i),
                    requests: s.requests,
                    errors: s.errors,
                    opened: s.opened,
                    ..Tick::default()
                };
                if let Some(latency) = self.latency_of_second(i) {
                    set_second_latency(&mut tick, &latency);
                }
                tick
            })
            .collect();
        let duration_s = elapsed.as_secs_f64();
        ModeResult {
            mode: shape.mode,
            connections: shape.connections,
            depth: shape.depth,
            duration_s,
            rate: shape.rate,
            requests: self.requests,
            rps: if duration_s > 0.0 { self.requests as f64 / duration_s } else { 0.0 },
            status: self.status,
            status_codes: self.codes.seen(),
            errors: self.errors,
            retries: self.retries,
            in_flight_at_end: self.in_flight_at_end,
            bytes_received: self.bytes_received,
            connections_opened: self.connections_opened,
            closed_by_client: self.closed_by_client,
            closed_by_server: self.closed_by_server,
            closed_by_reset: self.closed_by_reset,
            closed_on_server_request: self.closed_on_server_request,
            closed_unanswered: self.closed_unanswered,
            closed_unsolicited: self.closed_unsolicited,
            keep_alive: self.keep_alive,
            max_concurrent_streams: self.stream_cap,
            max_in_flight: (self.most_in_flight > 0).then_some(self.most_in_flight),
            latency: Latency {
                connect: summarize(&self.connect),
                ttfb: summarize(&self.ttfb),
                transfer: summarize(&self.transfer),
                total: summarize(&self.total),
                total_first: summarize(&self.total_first),
                total_reused: summarize(&self.total_reused),
                total_uncorrected: self.total_uncorrected.as_ref().map(summarize),
                tls: self.tls.as_ref().map(|tls| summarize(&tls.handshake)),
            },
            pacing: self.total_uncorrected.is_some().then_some(self.pacing),
            ports: None,
            started_unix_ms: None,
            timeline,
            tls: self.tls.map(|tls| TlsSummary {
                version: tls.negotiated.version.into(),
                cipher: tls.negotiated.cipher.into(),
                alpn: tls.negotiated.alpn.map(String::from),
                handshakes_full: tls.full,
                handshakes_resumed: tls.resumed,
                insecure: false,
            }),
            http: None,
            engine: None,
            quic: self.quic.map(|quic| QuicSummary {
                zero_rtt_sent: quic.zero_rtt_sent,
                zero_rtt_accepted: quic.zero_rtt_accepted,
                lost_packets: quic.lost_packets,
                sent_packets: quic.sent_packets,
                rtt_us: quic.rtt_sum_us.checked_div(quic.rtt_count),
            }),
            targets: Vec::new(),
            targets_other: None,
            stages: None,
        }
    }
}

/// QUIC's figures over one recorder's connections.
#[derive(Debug, Clone, Copy, Default)]
struct QuicRecord {
    zero_rtt_sent: u64,
    zero_rtt_accepted: u64,
    sent_packets: u64,
    lost_packets: u64,
    /// The connections' smoothed RTTs at their end, summed, and how many: their mean is the result's.
    rtt_sum_us: u64,
    rtt_count: u64,
}

impl QuicRecord {
    fn merge(&mut self, other: &QuicRecord) {
        self.zero_rtt_sent += other.zero_rtt_sent;
        self.zero_rtt_accepted += other.zero_rtt_accepted;
        self.sent_packets += other.sent_packets;
        self.lost_packets += other.lost_packets;
        self.rtt_sum_us += other.rtt_sum_us;
        self.rtt_count += other.rtt_count;
    }
}

/// How much of second `index` (from `index` to `index + 1` s) lies inside a window of `elapsed`, to the
/// millisecond, when not all of it.
fn partial_second(elapsed: Duration, index: usize) -> Option<f64> {
    let inside = (elapsed.as_secs_f64() - index as f64).clamp(0.0, 1.0);
    let inside = (inside * 1000.0).round() / 1000.0;
    (inside < 1.0).then_some(inside)
}

/// What the result says about the shape of the run, beside what was measured.
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    pub mode: crate::mode::Mode,
    pub connections: u32,
    pub depth: u32,
    pub rate: Option<f64>,
}

pub fn summarize(h: &Histogram<u64>) -> Hist {
    if h.is_empty() {
        return Hist { hdr: encode(h), ..Hist::default() };
    }
    Hist {
        count: h.len(),
        min_us: h.min(),
        mean_us: (h.mean() * 10.0).round() / 10.0,
        p50_us: h.value_at_quantile(0.5),
        p75_us: h.value_at_quantile(0.75),
        p90_us: h.value_at_quantile(0.9),
        p95_us: h.value_at_quantile(0.95),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        p9999_us: h.value_at_quantile(0.9999),
        max_us: h.max(),
        hdr: encode(h),
    }
}

/// A second's total latency in its timeline entry: p50, p99 and the histogram that `merge` adds.
pub fn set_second_latency(tick: &mut Tick, h: &Histogram<u64>) {
    if h.is_empty() {
        (tick.p50_us, tick.p99_us, tick.hdr) = (None, None, None);
    } else {
        tick.p50_us = Some(h.value_at_quantile(0.5));
        tick.p99_us = Some(h.value_at_quantile(0.99));
        tick.hdr = Some(encode(h));
    }
}

fn serialize(h: &Histogram<u64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(h, &mut bytes).expect("serializing into a Vec cannot fail");
    bytes
}

fn encode(h: &Histogram<u64>) -> String {
    base64::engine::general_purpose::STANDARD.encode(serialize(h))
}

/// Reads p75 and p95 from each histogram of a result written before they were kept (they read as 0 there):
/// the histogram is whole, so they are exact. A histogram that does not decode keeps its zeros; `validate`
/// refuses it anyway.
pub fn fill_in_percentiles(result: &mut result::RunResult) {
    for hist in result.runs.iter_mut().flat_map(|run| run.latency.histograms_mut()) {
        if hist.count > 0 && hist.p75_us == 0 && hist.p95_us == 0 {
            if let Ok(h) = decode(hist) {
                (hist.p75_us, hist.p95_us) = (h.value_at_quantile(0.75), h.value_at_quantile(0.95));
            }
        }
    }
}

/// Reads back a histogram written by `summarize` (for merge and compare).
pub fn decode(hist: &Hist) -> Result<Histogram<u64>, String> {
    decode_hdr(&hist.hdr)
}

/// Reads back a base64 HdrHistogram V2 serialization (a `Hist`'s or a timeline second's `hdr`). What it
/// may allocate is bounded by the text it is given: the header is checked before the crate sizes anything
/// from it.
pub fn decode_hdr(hdr: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(hdr).map_err(|e| format!("hdr is not base64: {e}"))?;
    check_v2_header(&bytes)?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("hdr is not an HdrHistogram: {e:?}"))
}

/// The header of HdrHistogram's V2 encoding, as the Java and Rust implementations write it, big-endian:
/// cookie, payload length (u32), normalizing offset, significant digits (u32), lowest and highest trackable
/// values (u64), integer-to-double ratio (f64).
const V2_HEADER_LEN: usize = 40;
/// The cookie of an uncompressed V2 histogram; the compressed one (a zlib stream) is refused, as connbench
/// never writes it and it would let a few bytes inflate into many.
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
/// The most significant digits connbench writes (3 for the phases, 2 for a second). Together with the
/// payload held in the text, this bounds what decoding allocates: about 450 KB of counts at most.
const MAX_SIGFIG: u32 = 3;

/// Refuses a header whose sizes the bytes do not back: the crate would allocate the payload length it
/// claims (4 GiB for a crafted one in a few bytes) before finding the bytes are not there.
fn check_v2_header(bytes: &[u8]) -> Result<(), String> {
    let not = || "hdr is not an HdrHistogram (too short for its header)".to_string();
    let word = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
    if word(0).ok_or_else(not)? != V2_COOKIE {
        return Err("hdr is not an HdrHistogram (not the uncompressed V2 encoding connbench writes)".into());
    }
    let (payload, sigfig) = (word(4).ok_or_else(not)?, word(12).ok_or_else(not)?);
    let held = bytes.len().saturating_sub(V2_HEADER_LEN);
    if bytes.len() < V2_HEADER_LEN || payload as usize > held {
        return Err(format!(
            "hdr is not an HdrHistogram (its header claims {payload} bytes of counts, it holds {held})"
        ));
    }
    if sigfig > MAX_SIGFIG {
        return Err(format!("hdr is not a connbench histogram ({sigfig} significant digits; connbench writes 2 or 3)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;

    #[test]
    fn a_header_claiming_more_than_the_text_holds_is_refused_before_anything_is_allocated() {
        let mut h = new_histogram();
        h.record(100).unwrap();
        let good = serialize(&h);
        assert_eq!(decode_hdr(&base64::engine::general_purpose::STANDARD.encode(&good)).unwrap().len(), 1);
        let craft = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = good.clone();
            edit(&mut bytes);
            decode_hdr(&base64::engine::general_purpose::STANDARD.encode(bytes)).unwrap_err()
        };
        // each case: the change to a real histogram, what the message says
        let four_gib: &dyn Fn(&mut Vec<u8>) = &|b| b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(craft(four_gib).contains("claims 4294967295 bytes of counts, it holds"), "{}", craft(four_gib));
        assert!(craft(&|b| b[12..16].copy_from_slice(&5u32.to_be_bytes())).contains("5 significant digits"));
        assert!(craft(&|b| b[0..4].copy_from_slice(&(V2_COOKIE + 1).to_be_bytes())).contains("not the uncompressed"));
        assert!(craft(&|b| b.truncate(6)).contains("too short"));
        assert!(craft(&|b| b.truncate(20)).contains("claims"));
    }

    const SHAPE: RunShape = RunShape { mode: Mode::Keepalive, connections: 2, depth: 1, rate: None };

    fn exchange(t0: Instant, start_us: u64, sent_us: u64, first_us: u64, done_us: u64, opened: bool) -> Exchange {
        let at = |us| t0 + Duration::from_micros(us);
        Exchange {
            start: at(start_us),
            began: at(start_us),
            sent: at(sent_us),
            first_byte: at(first_us),
            done: at(done_us),
            opened_connection: opened,
        }
    }

    #[test]
    fn each_error_kind_is_counted_under_its_name() {
        use ErrorKind::*;
        for kind in
            [Refused, Timeout, Reset, AddrUnavailable, FdExhausted, Truncated, Parse, ClosedEarly, H2Reset, Other, Tls]
        {
            let mut errors = result::ErrorCounts::default();
            errors.count(kind);
            let json = serde_json::to_value(&errors).unwrap();
            assert_eq!(json[kind.name()], 1, "{kind:?}");
            assert_eq!(errors.total(), 1, "{kind:?}");
        }
    }

    #[test]
    fn phases_are_split_as_designed() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, false);
        r.connected(t0 + Duration::from_micros(100), Duration::from_micros(100));
        // first request on its connection: total includes the 100 µs connect
        r.completed(&exchange(t0, 0, 100, 400, 1000, true), 200);
        // reused: total from its own write
        r.completed(&exchange(t0, 2000, 2000, 2300, 2500, false), 404);
        let m = r.finish(SHAPE, Duration::from_secs(1));
        assert_eq!(m.requests, 2);
        assert_eq!(m.latency.connect.count, 1);
        assert_eq!((m.latency.ttfb.min_us, m.latency.ttfb.max_us), (300, 300));
        assert_eq!((m.latency.transfer.min_us, m.latency.transfer.max_us), (200, 600));
        assert_eq!(m.latency.total_first.max_us, 1000);
        assert_eq!(m.latency.total_reused.max_us, 500);
        assert_eq!(m.latency.total.count, 2);
        assert_eq!((m.status.s2xx, m.status.s4xx), (1, 1));
        assert_eq!(m.status_codes, [(200, 1), (404, 1)].into_iter().collect());
        assert_eq!(m.status.non_2xx(), 1);
        assert_eq!(m.rps, 2.0);
    }

    #[test]
    fn open_loop_keeps_both_totals_and_counts_late_starts() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, true);
        // scheduled at 0, started (connect) at 300 ms because every connection was busy
        let late =
            Exchange { start: t0, began: t0 + Duration::from_millis(300), ..exchange(t0, 0, 0, 0, 300_100, true) };
        r.completed(&late, 200);
        r.paced(Duration::from_millis(300));
        r.paced(Duration::from_millis(1));
        let shape = RunShape { rate: Some(50.0), ..SHAPE };
        let m = r.finish(shape, Duration::from_secs(1));
        assert_eq!(m.latency.total.max_us / 1000, 300, "from the schedule");
        assert_eq!(m.latency.total_uncorrected.unwrap().max_us, 100);
        assert_eq!(m.pacing, Some(Pacing { late_starts: 1, max_lag_us: 300_000, missed: 0 }));
        assert_eq!(m.rate, Some(50.0));
        let closed = Recorder::new(t0, false).finish(SHAPE, Duration::from_secs(1));
        assert_eq!((closed.latency.total_uncorrected, closed.pacing), (None, None));
    }

    #[test]
    fn merge_adds_everything_and_timeline_is_per_second() {
        let t0 = Instant::now();
        let mut a = Recorder::new(t0, false);
        let mut b = Recorder::new(t0, false);
        a.completed(&exchange(t0, 0, 0, 10, 20, false), 200);
        b.completed(&exchange(t0, 1_500_000, 1_500_000, 1_500_010, 1_500_020, false), 200);
        b.failed(t0 + Duration::from_millis(2500), ErrorKind::Reset);
        b.closed(Closer::Server, false);
        b.closed(Closer::Client, true);
        b.closed_unanswered();
        b.closed_unsolicited();
        b.retried();
        a.keep_alive_limits(Some(100), None);
        b.keep_alive_limits(Some(3), Some(5));
        b.keep_alive_declined();
        a.merge(&b);
        let m = a.finish(SHAPE, Duration::from_secs(3));
        assert_eq!(m.requests, 2);
        assert_eq!(m.status_codes, [(200, 2)].into_iter().collect());
        assert_eq!(m.errors.reset, 1);
        assert_eq!(m.errors.total(), 1);
        assert_eq!((m.closed_by_server, m.closed_by_client, m.closed_on_server_request), (1, 0, 1));
        assert_eq!((m.closed_unanswered, m.closed_unsolicited), (1, 1));
        assert_eq!(m.retries, 1);
        let k = &m.keep_alive;
        assert_eq!((k.declined, k.limits_announced, k.max, k.timeout_s), (1, 2, Some(3), Some(5)));
        b.keep_alive_max_used(true);
        b.keep_alive_max_used(false);
        b.learned_limit_capped();
        b.learned_limit_refuted();
        b.learned_limit_held(Some(7));
        b.learned_limit_held(None);
        let mut c = Recorder::new(t0, false);
        c.learned_limit_held(Some(9));
        c.merge(&b);
        let k = c.finish(SHAPE, Duration::from_secs(3)).keep_alive;
        assert_eq!((k.max_connections, k.max_used_in_full), (2, 1));
        assert_eq!((k.learned_limit, k.capped_connections, k.learned_limit_dropped), (Some(7), 1, 1));
        let ticks: Vec<_> = m.timeline.iter().map(|t| (t.t, t.requests, t.errors)).collect();
        assert_eq!(ticks, vec![(1, 1, 0), (2, 1, 0), (3, 0, 1)]);
    }

    #[test]
    fn tls_handshakes_are_timed_and_counted_apart_and_merged() {
        let t0 = Instant::now();
        let tls13 = Negotiated { version: "TLSv1.3", cipher: "TLS13_AES_128_GCM_SHA256", alpn: Some("http/1.1") };
        let mut a = Recorder::new(t0, false);
        a.tls_handshake(Duration::from_micros(900), false, tls13);
        a.tls_handshake(Duration::from_micros(300), true, tls13);
        let mut b = Recorder::new(t0, false);
        b.tls_handshake(Duration::from_micros(280), true, tls13);
        b.failed(t0, ErrorKind::Tls);
        a.merge(&b);
        let m = a.finish(SHAPE, Duration::from_secs(1));
        let tls = m.tls.expect("a recorder that saw a handshake reports TLS");
        assert_eq!((tls.handshakes_full, tls.handshakes_resumed), (1, 2));
        assert_eq!((tls.version.as_str(), tls.alpn.as_deref()), ("TLSv1.3", Some("http/1.1")));
        let hist = m.latency.tls.expect("the tls phase");
        assert_eq!((hist.count, hist.min_us, hist.max_us), (3, 280, 900));
        assert_eq!((m.errors.tls, m.errors.total()), (1, 1));
        // plain http: no tls at all
        let http = Recorder::new(t0, false).finish(SHAPE, Duration::from_secs(1));
        assert_eq!((http.tls, http.latency.tls), (None, None));
    }

    #[test]
    fn each_second_keeps_its_own_latency_even_when_an_event_comes_back_to_it() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, false);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let done_at = |start_ms: u64, us: u64| Exchange {
            start: at(start_ms),
            began: at(start_ms),
            sent: at(start_ms),
            first_byte: at(start_ms),
            done: at(start_ms) + Duration::from_micros(us),
            opened_connection: false,
        };
        for _ in 0..99 {
            r.completed(&done_at(100, 100), 200);
        }
        r.completed(&done_at(200, 5000), 200);
        r.completed(&done_at(1500, 2000), 200);
        // a late event for the first second, after the second one began
        r.completed(&done_at(300, 100), 200);
        let mut other = Recorder::new(t0, false);
        other.completed(&done_at(2500, 700), 200);
        r.merge(&other);
        let ticks = r.finish(SHAPE, Duration::from_secs(3)).timeline;
        let latency: Vec<_> = ticks.iter().map(|t| (t.requests, t.p50_us, t.p99_us)).collect();
        // 2 significant digits: a value reads as the top of its bucket, 2000 µs as 2007, within 1 %
        assert_eq!(latency, vec![(101, Some(100), Some(100)), (1, Some(2007), Some(2007)), (1, Some(703), Some(703))]);
        // the per-second histogram is there, whole, for merge
        let first = decode_hdr(ticks[0].hdr.as_deref().unwrap()).unwrap();
        assert_eq!(first.len(), 101);
        assert!(first.equivalent(first.max(), 5000), "{}", first.max());
    }

    #[test]
    fn each_target_keeps_its_own_figures_and_the_busiest_are_listed() {
        let t0 = Instant::now();
        let names: Vec<(String, String)> = (0..1005).map(|i| ("GET".to_string(), format!("/{i}"))).collect();
        let mut a = Recorder::new(t0, false).with_targets(names.len());
        let mut b = Recorder::new(t0, false).with_targets(names.len());
        // /7: 3 ms and 40 ms, on two threads; /8: a timeout; /1003, past the targets kept apart: one response
        a.completed_for(&exchange(t0, 0, 0, 10, 3_000, false), 200, 7);
        b.completed_for(&exchange(t0, 0, 0, 10, 40_000, false), 503, 7);
        b.failed_for(t0, ErrorKind::Timeout, 8);
        a.completed_for(&exchange(t0, 0, 0, 10, 100, false), 200, 1003);
        a.merge(&b);
        let (listed, other) = a.targets(&names);
        assert_eq!(listed.len(), TARGETS_LISTED);
        let seven = &listed[0];
        assert_eq!((seven.index, seven.url.as_str(), seven.tally.requests), (7, "/7", 2));
        assert_eq!(seven.tally.status_codes, [("200".to_string(), 1), ("503".to_string(), 1)].into());
        // 2 significant digits, within 1 %, and a histogram that grew to hold 40 ms
        assert_eq!((seven.tally.latency.min_us, seven.tally.latency.max_us / 100), (2_992, 401));
        assert_eq!((listed[1].index, listed[1].tally.errors.timeout), (8, 1), "then the one that failed");
        assert_eq!(listed[2].index, 0, "then the file's order");
        let other = other.unwrap();
        assert_eq!((other.targets, other.tally.requests, other.tally.latency.count), (905, 1, 1));
        // a run of one request keeps no targets apart
        let single = Recorder::new(t0, false).with_targets(0);
        assert_eq!(single.targets(&names[..1]), (vec![], None));
    }

    #[test]
    fn a_result_written_before_p75_and_p95_reads_them_from_its_histograms() {
        let mut h = new_histogram();
        for v in 1..=100 {
            h.record(v).unwrap();
        }
        let summary = summarize(&h);
        assert_eq!((summary.p75_us, summary.p95_us), (75, 95));
        let mut run = result::fixture::mode_result(Mode::Keepalive);
        run.latency.total = Hist { p75_us: 0, p95_us: 0, ..summary.clone() };
        let mut old = result::fixture::run_result(vec![run]);
        fill_in_percentiles(&mut old);
        assert_eq!(old.runs[0].latency.total, summary);
        assert_eq!(old.runs[0].latency.connect, Hist::default(), "no samples, nothing to read");
    }

    #[test]
    fn every_second_of_the_window_has_its_entry_and_a_partial_one_its_length() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, false);
        // requests in the first second only, then a stall to the end of a 3.25 s window
        r.completed(&exchange(t0, 0, 0, 10, 20, false), 200);
        let ticks = r.finish(SHAPE, Duration::from_millis(3250)).timeline;
        let seconds: Vec<_> = ticks.iter().map(|t| (t.t, t.requests, t.length_s)).collect();
        assert_eq!(seconds, [(1, 1, None), (2, 0, None), (3, 0, None), (4, 0, Some(0.25))]);
        // an event just past a whole window: a second of no length
        let mut r = Recorder::new(t0, false);
        r.connected(t0 + Duration::from_millis(2001), Duration::from_micros(50));
        let ticks = r.finish(SHAPE, Duration::from_secs(2)).timeline;
        assert_eq!(ticks.iter().map(|t| t.length_s).collect::<Vec<_>>(), [None, None, Some(0.0)]);
    }

    #[test]
    fn histograms_round_trip_through_the_result() {
        let mut h = new_histogram();
        for v in [1, 10, 100, 1000, 10_000] {
            h.record(v).unwrap();
        }
        let summary = summarize(&h);
        let back = decode(&summary).unwrap();
        assert_eq!(back.len(), 5);
        assert_eq!(back.max(), h.max());
        assert_eq!(summarize(&back), summary);
    }

    #[test]
    fn io_errors_map_to_kinds() {
        use std::io::{Error, ErrorKind as Io};
        assert_eq!(ErrorKind::of_io(&Error::from(Io::ConnectionRefused)), ErrorKind::Refused);
        assert_eq!(ErrorKind::of_io(&Error::from(Io::ConnectionReset)), ErrorKind::Reset);
        assert_eq!(ErrorKind::of_io(&Error::from_raw_os_error(24)), ErrorKind::FdExhausted);
        assert_eq!(ErrorKind::of_io(&Error::from_raw_os_error(99)), ErrorKind::AddrUnavailable);
        assert_eq!(ErrorKind::of_io(&Error::other("x")), ErrorKind::Other);
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        assert_eq!(ErrorKind::of_io(&Error::new(Io::InvalidData, alert)), ErrorKind::Tls);
    }
}

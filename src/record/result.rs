//! The one serde result type (docs/design.md §5, `schema_version` 1): what `-o` writes, what `--format json`
//! prints, and what `compare` and `merge` will read.
//!
// NOTE: field names are a published contract. Add fields; never rename or remove them within a schema
// version. `tests/suite/schema.rs` checks a real run against the names of docs/design.md §5.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::Stat;
use crate::mode::Mode;
pub use crate::note::{Note, NoteKind};
use crate::shard::{Shard, WholePlan};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    pub schema_version: u32,
    pub tool: Tool,
    /// False when the run was interrupted (Ctrl-C) before every mode finished.
    pub complete: bool,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub target: String,
    /// The request method, so that `merge` can refuse results of different plans (added within schema 1;
    /// absent in results written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub command: Vec<String>,
    /// What each request carried beside its method and target (added within schema 1; absent in results
    /// written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestSummary>,
    /// The plan as asked: what `-c`, `--depth`, `-n`, `-d` and `--rate` came to (added within schema 1;
    /// absent in results written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanSummary>,
    pub system: System,
    pub runs: Vec<ModeResult>,
    /// `--shard I/N`: which share of the plan this result is, and the plan all shards ran together. Absent
    /// in unsharded and merged results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole: Option<WholePlan>,
    /// What a person should know that no figure says (added within schema 1; empty in older results).
    #[serde(default)]
    pub notes: Vec<Note>,
    /// `--targets`: where the requests came from, how many, and in what order (added within schema 1; absent
    /// for a run of one request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<TargetsInfo>,
}

/// The targets of a run (`--targets`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TargetsInfo {
    /// The file as given (`-`: standard input).
    pub file: String,
    pub count: u64,
    /// How many targets use each method.
    pub methods: BTreeMap<String, u64>,
    /// `round-robin` or `random`.
    pub order: String,
    /// `random`: the seed of the draws, to repeat the run with `--seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// The request beside its method and target, so that a report says what was sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestSummary {
    /// The body's size in bytes (0: no body).
    pub body_bytes: u64,
    /// The `-H` headers as `Name: value`, the values of credentials masked (`Authorization: Bearer ***`).
    pub headers: Vec<String>,
}

/// The plan as asked, for the report's header and for telling two plans apart.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct PlanSummary {
    /// `-c`, after `-n` capped it (one connection per request at most).
    pub connections: u32,
    /// `--depth`: requests in flight per connection in pipeline mode, streams in multiplex mode.
    pub depth: u32,
    /// `-n`, or null for a run by time.
    pub requests: Option<u64>,
    /// `-d` in seconds, or null for a run by count.
    pub duration_s: Option<f64>,
    /// `--rate` in requests per second, or null for a closed loop.
    pub rate: Option<f64>,
}

/// Whether two results measured the same target. Each embedded-server run has its own port, but they all
/// measured the same thing (over the same scheme).
pub fn same_target(a: &str, b: &str) -> bool {
    const EMBEDDED: &str = "(embedded server)";
    let scheme = |target: &str| target.split_once("://").map(|(scheme, _)| scheme.to_string());
    a == b || (a.ends_with(EMBEDDED) && b.ends_with(EMBEDDED) && scheme(a) == scheme(b))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn this() -> Tool {
        Tool { name: env!("CARGO_PKG_NAME").into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// Kernel settings that decide how many new connections a client can open (docs/design.md §4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct System {
    /// None where the kernel does not expose it (not Linux).
    pub ip_local_port_range: Option<[u16; 2]>,
    pub tcp_tw_reuse: Option<u8>,
    pub time_wait_secs: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModeResult {
    pub mode: Mode,
    pub connections: u32,
    pub depth: u32,
    pub duration_s: f64,
    /// Requests per second asked for with `--rate`; null for closed-loop runs.
    pub rate: Option<f64>,
    /// Exchanges completed with a whole response.
    pub requests: u64,
    pub status: StatusCounts,
    /// Responses by status code, beside the classes of `status` (added within schema 1; empty in results
    /// written before it).
    #[serde(default)]
    pub status_codes: BTreeMap<u16, u64>,
    pub errors: ErrorCounts,
    pub retries: u64,
    /// Requests sent and still unanswered when the window (`-d`) ended or the run was interrupted: neither
    /// completed nor errors.
    #[serde(default)]
    pub in_flight_at_end: u64,
    pub rps: f64,
    pub bytes_received: u64,
    pub connections_opened: u64,
    /// Connections closed first by the client of its own accord (its limit, a timeout, the end of the run),
    /// first by the server, and reset. With `closed_on_server_request`, they add up to `connections_opened`.
    pub closed_by_client: u64,
    pub closed_by_server: u64,
    pub closed_by_reset: u64,
    /// Connections the client closed first because the server's last response said so (`Connection: close`,
    /// HTTP/1.0 without Keep-Alive): TIME_WAIT on the client, at the server's wish. Counted in `closed_by_client`
    /// in results written before it was added.
    #[serde(default)]
    pub closed_on_server_request: u64,
    /// Connections the server closed or reset with requests written and not one answered (a server that
    /// accepts and closes: a load balancer with no backend). Added within schema 1.
    #[serde(default)]
    pub closed_unanswered: u64,
    /// Connections the client closed because the server sent bytes no request asked for (a second response
    /// to one request). Added within schema 1.
    #[serde(default)]
    pub closed_unsolicited: u64,
    /// What the server said about keeping connections (absent in results written before it was added).
    #[serde(default)]
    pub keep_alive: KeepAlive,
    /// HTTP/2 (multiplex): the server's SETTINGS_MAX_CONCURRENT_STREAMS when it held connections below
    /// `--depth` streams (RFC 9113 §6.5.2); absent when it did not cap them, and in HTTP/1 modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_streams: Option<u32>,
    /// The most requests (HTTP/1.x) or streams (HTTP/2) in flight at once on one connection: what `depth` came
    /// to once the server's limits and the method had their say (absent in results written before it was added,
    /// and when nothing was sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    pub latency: Latency,
    /// With `--rate`: how well the client kept to the schedule; null for closed-loop runs.
    #[serde(default)]
    pub pacing: Option<Pacing>,
    /// Port accounting (docs/design.md §4).
    pub ports: Option<Ports>,
    /// When the mode started, in Unix milliseconds: timeline second t is the second after it, so `merge`
    /// lines up the timelines of shards started together (absent in results written before it was added).
    #[serde(default)]
    pub started_unix_ms: Option<u64>,
    pub timeline: Vec<Tick>,
    /// https only: what was negotiated and how connections began (added within schema 1; absent for http).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSummary>,
    /// The HTTP version spoken: `"1.1"`, `"1.0"`, `"2"` or `"3"` (added within schema 1; absent in older
    /// results, which spoke HTTP/1.x, or HTTP/2 in multiplex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<crate::mode::Http>,
    /// What drove the mode's connections: `"tokio"` or `"uring"` (added within schema 1; absent in older
    /// results, which ran on tokio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::plan::Engine>,
    /// HTTP/3 only: QUIC's own figures (added within schema 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quic: Option<QuicSummary>,
    /// `--targets`: each target's figures, the busiest first, at most `record::TARGETS_LISTED` (added within
    /// schema 1; absent for a run of one request).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetFigures>,
    /// The targets not listed in `targets`, summed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets_other: Option<OtherTargets>,
    /// `--stages`: the open-loop rate's stages, and the rate they started from (added within schema 1; absent
    /// otherwise). `rate` is then null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Stages>,
}

/// What QUIC itself did under an HTTP/3 run, from quinn's connection statistics.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct QuicSummary {
    /// Connections that sent their first request in 0-RTT (`--0rtt`, on a resumed session), and those whose
    /// early data the server accepted.
    pub zero_rtt_sent: u64,
    pub zero_rtt_accepted: u64,
    /// Packets declared lost and packets sent, over every connection.
    pub lost_packets: u64,
    pub sent_packets: u64,
    /// The mean of the connections' smoothed round-trip times at their end (RFC 9002 §5.3); null when no
    /// connection ended inside the run.
    pub rtt_us: Option<u64>,
}

impl QuicSummary {
    /// Adds another run's figures; `rtt_us` is the mean weighted by each side's `connections`.
    pub fn add(&mut self, connections: u64, other: &QuicSummary, other_connections: u64) {
        self.rtt_us = match (self.rtt_us, other.rtt_us) {
            (Some(a), Some(b)) if connections + other_connections > 0 => {
                Some((a * connections + b * other_connections) / (connections + other_connections))
            }
            (a, b) => a.or(b),
        };
        self.zero_rtt_sent += other.zero_rtt_sent;
        self.zero_rtt_accepted += other.zero_rtt_accepted;
        self.lost_packets += other.lost_packets;
        self.sent_packets += other.sent_packets;
    }
}

/// The stages of an open-loop run (`--stages`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stages {
    /// Requests per second at the start: 0, or `--rate`.
    pub from: f64,
    pub stages: Vec<crate::stages::Stage>,
}

/// What one target got: its requests, errors, responses by status code and total latency.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TargetTally {
    pub requests: u64,
    pub errors: ErrorCounts,
    /// Responses by status code (`"200"`).
    pub status_codes: BTreeMap<String, u64>,
    /// Total latency, recorded at 2 significant digits (within 1 %).
    pub latency: Hist,
}

impl TargetTally {
    /// Its responses by status class, as a mode's.
    pub fn status(&self) -> StatusCounts {
        let mut classes = StatusCounts::default();
        for (code, &count) in &self.status_codes {
            // A code that is not a number, from a file, is outside 100-599 like any other such.
            classes.count_many(code.parse().unwrap_or(0), count);
        }
        classes
    }

    /// Adds another's counts (not the latency: its histograms are added apart); the name of the count that
    /// would pass `u64::MAX` if it cannot.
    pub fn checked_add_counts(&mut self, other: &TargetTally) -> Result<(), &'static str> {
        add_count("targets.requests", &mut self.requests, other.requests)?;
        self.errors.checked_add(&other.errors)?;
        for (code, &count) in &other.status_codes {
            add_count("targets.status_codes", self.status_codes.entry(code.clone()).or_default(), count)?;
        }
        Ok(())
    }
}

/// One target of `--targets`, and what it got.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TargetFigures {
    /// Its place among the targets, from 0 (the file's order).
    pub index: u64,
    pub method: String,
    /// Path and query on the run's origin, as sent.
    pub url: String,
    #[serde(flatten)]
    pub tally: TargetTally,
}

/// The targets a result does not list one by one, summed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OtherTargets {
    /// How many targets are summed here.
    pub targets: u64,
    #[serde(flatten)]
    pub tally: TargetTally,
}

/// The TLS side of a mode's connections (docs/design.md §8).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TlsSummary {
    /// As negotiated on the first connection: `TLSv1.3`, the cipher suite, the ALPN protocol (null if none).
    pub version: String,
    pub cipher: String,
    pub alpn: Option<String>,
    /// Handshakes that began a new session, and those that resumed one (a ticket or a session id).
    pub handshakes_full: u64,
    pub handshakes_resumed: u64,
    /// `-k/--insecure`: the server's certificate was not verified.
    #[serde(default)]
    pub insecure: bool,
}

impl TlsSummary {
    /// Adds another machine's handshakes; the name of the count that would pass `u64::MAX` if it cannot.
    pub fn checked_add(&mut self, other: &TlsSummary) -> Result<(), &'static str> {
        if self.version.is_empty() {
            (self.version, self.cipher, self.alpn) = (other.version.clone(), other.cipher.clone(), other.alpn.clone());
        }
        add_count("tls.handshakes_full", &mut self.handshakes_full, other.handshakes_full)?;
        add_count("tls.handshakes_resumed", &mut self.handshakes_resumed, other.handshakes_resumed)?;
        self.insecure |= other.insecure;
        Ok(())
    }
}

/// `into += from`, or the name of the count, when the sum would pass `u64::MAX`: counts read from files are
/// anyone's numbers, and a sum that wraps around would report a tiny figure for a huge one.
pub fn add_count(name: &'static str, into: &mut u64, from: u64) -> Result<(), &'static str> {
    *into = into.checked_add(from).ok_or(name)?;
    Ok(())
}

/// Counts by name, all added or the first that would pass `u64::MAX` named.
fn add_counts<const N: usize>(
    into: [(&'static str, &mut u64); N],
    from: [(&'static str, u64); N],
) -> Result<(), &'static str> {
    into.into_iter().zip(from).try_for_each(|((name, mine), (_, theirs))| add_count(name, mine, theirs))
}

/// The sum of counts, or None past `u64::MAX`.
pub fn checked_sum<const N: usize>(counts: [(&'static str, u64); N]) -> Option<u64> {
    counts.iter().try_fold(0u64, |sum, (_, n)| sum.checked_add(*n))
}

/// Where a run's own counters are added (one thread's to another's): they stay far below `u64::MAX`.
const IN_PROCESS: &str = "a run's own counts stay far below 2^64";

/// Responses by status class. `1xx` and `other` were added within schema 1 (absent in older results):
/// a final 1xx is a 101 Switching Protocols (interim 1xx responses are skipped, not counted), and
/// `other` is a status outside 100-599, which is never a success.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StatusCounts {
    #[serde(rename = "1xx", default)]
    pub s1xx: u64,
    #[serde(rename = "2xx")]
    pub s2xx: u64,
    #[serde(rename = "3xx")]
    pub s3xx: u64,
    #[serde(rename = "4xx")]
    pub s4xx: u64,
    #[serde(rename = "5xx")]
    pub s5xx: u64,
    #[serde(default)]
    pub other: u64,
}

/// Errors by kind, never by message (docs/design.md §5). One per failed request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ErrorCounts {
    pub refused: u64,
    pub timeout: u64,
    pub reset: u64,
    pub addr_unavailable: u64,
    pub fd_exhausted: u64,
    pub truncated: u64,
    pub parse: u64,
    pub closed_early: u64,
    pub other: u64,
    /// A TLS handshake failed during the run (added within schema 1).
    #[serde(default)]
    pub tls: u64,
    /// HTTP/2 streams the server reset (RST_STREAM), refused streams apart (added within schema 1).
    #[serde(default)]
    pub h2_reset: u64,
    /// HTTP/3 streams the server reset, H3_REQUEST_REJECTED apart (added within schema 1).
    #[serde(default)]
    pub h3_reset: u64,
    /// QUIC connections (added within schema 1): a handshake that failed, a connection that went silent past
    /// its idle timeout, one closed under its requests.
    #[serde(default)]
    pub quic_handshake: u64,
    #[serde(default)]
    pub quic_idle_timeout: u64,
    #[serde(default)]
    pub quic_closed: u64,
}

impl StatusCounts {
    /// Counts one response by its status.
    pub fn count(&mut self, status: u16) {
        self.count_many(status, 1);
    }

    /// Counts `n` responses of one status.
    pub fn count_many(&mut self, status: u16, n: u64) {
        let class = match status {
            100..=199 => &mut self.s1xx,
            200..=299 => &mut self.s2xx,
            300..=399 => &mut self.s3xx,
            400..=499 => &mut self.s4xx,
            500..=599 => &mut self.s5xx,
            _ => &mut self.other,
        };
        *class += n;
    }

    /// Every class by its JSON name.
    pub fn classes(&self) -> [(&'static str, u64); 6] {
        [
            ("status.1xx", self.s1xx),
            ("status.2xx", self.s2xx),
            ("status.3xx", self.s3xx),
            ("status.4xx", self.s4xx),
            ("status.5xx", self.s5xx),
            ("status.other", self.other),
        ]
    }

    fn classes_mut(&mut self) -> [(&'static str, &mut u64); 6] {
        [
            ("status.1xx", &mut self.s1xx),
            ("status.2xx", &mut self.s2xx),
            ("status.3xx", &mut self.s3xx),
            ("status.4xx", &mut self.s4xx),
            ("status.5xx", &mut self.s5xx),
            ("status.other", &mut self.other),
        ]
    }

    pub fn add(&mut self, other: &StatusCounts) {
        self.checked_add(other).expect(IN_PROCESS);
    }

    /// Adds another result's counts; the name of the class that would pass `u64::MAX` if it cannot.
    pub fn checked_add(&mut self, other: &StatusCounts) -> Result<(), &'static str> {
        add_counts(self.classes_mut(), other.classes())
    }

    /// Every response; a result read from a file was checked to keep this below `u64::MAX`.
    pub fn total(&self) -> u64 {
        self.s2xx + self.non_2xx()
    }

    /// Responses that were not a success: every class but 2xx.
    pub fn non_2xx(&self) -> u64 {
        self.s1xx + self.s3xx + self.s4xx + self.s5xx + self.other
    }

    /// The classes other than 2xx that were seen, as people read them: `5xx 3, other 1`.
    pub fn non_2xx_breakdown(&self) -> String {
        let classes =
            [("1xx", self.s1xx), ("3xx", self.s3xx), ("4xx", self.s4xx), ("5xx", self.s5xx), ("other", self.other)];
        classes.iter().filter(|(_, n)| *n > 0).map(|(name, n)| format!("{name} {n}")).collect::<Vec<_>>().join(", ")
    }
}

impl ErrorCounts {
    /// One failed request, by its kind.
    pub fn count(&mut self, kind: super::ErrorKind) {
        use super::ErrorKind;
        let counter = match kind {
            ErrorKind::Refused => &mut self.refused,
            ErrorKind::Timeout => &mut self.timeout,
            ErrorKind::Reset => &mut self.reset,
            ErrorKind::AddrUnavailable => &mut self.addr_unavailable,
            ErrorKind::FdExhausted => &mut self.fd_exhausted,
            ErrorKind::Truncated => &mut self.truncated,
            ErrorKind::Parse => &mut self.parse,
            ErrorKind::ClosedEarly => &mut self.closed_early,
            ErrorKind::H2Reset => &mut self.h2_reset,
            ErrorKind::H3Reset => &mut self.h3_reset,
            ErrorKind::QuicHandshake => &mut self.quic_handshake,
            ErrorKind::QuicIdleTimeout => &mut self.quic_idle_timeout,
            ErrorKind::QuicClosed => &mut self.quic_closed,
            ErrorKind::Other => &mut self.other,
            ErrorKind::Tls => &mut self.tls,
        };
        *counter += 1;
    }

    /// Every kind by its JSON name, `other` last, as people read a breakdown.
    pub fn kinds(&self) -> [(&'static str, u64); 15] {
        [
            ("refused", self.refused),
            ("timeout", self.timeout),
            ("reset", self.reset),
            ("addr_unavailable", self.addr_unavailable),
            ("fd_exhausted", self.fd_exhausted),
            ("truncated", self.truncated),
            ("parse", self.parse),
            ("closed_early", self.closed_early),
            ("tls", self.tls),
            ("h2_reset", self.h2_reset),
            ("h3_reset", self.h3_reset),
            ("quic_handshake", self.quic_handshake),
            ("quic_idle_timeout", self.quic_idle_timeout),
            ("quic_closed", self.quic_closed),
            ("other", self.other),
        ]
    }

    fn kinds_mut(&mut self) -> [(&'static str, &mut u64); 15] {
        [
            ("errors.refused", &mut self.refused),
            ("errors.timeout", &mut self.timeout),
            ("errors.reset", &mut self.reset),
            ("errors.addr_unavailable", &mut self.addr_unavailable),
            ("errors.fd_exhausted", &mut self.fd_exhausted),
            ("errors.truncated", &mut self.truncated),
            ("errors.parse", &mut self.parse),
            ("errors.closed_early", &mut self.closed_early),
            ("errors.tls", &mut self.tls),
            ("errors.h2_reset", &mut self.h2_reset),
            ("errors.h3_reset", &mut self.h3_reset),
            ("errors.quic_handshake", &mut self.quic_handshake),
            ("errors.quic_idle_timeout", &mut self.quic_idle_timeout),
            ("errors.quic_closed", &mut self.quic_closed),
            ("errors.other", &mut self.other),
        ]
    }

    pub fn add(&mut self, other: &ErrorCounts) {
        self.checked_add(other).expect(IN_PROCESS);
    }

    /// Adds another result's counts; the name of the kind that would pass `u64::MAX` if it cannot.
    pub fn checked_add(&mut self, other: &ErrorCounts) -> Result<(), &'static str> {
        add_counts(self.kinds_mut(), other.kinds())
    }

    /// Every failed request; a result read from a file was checked to keep this below `u64::MAX`.
    pub fn total(&self) -> u64 {
        self.kinds().iter().map(|(_, n)| n).sum()
    }
}

/// Scheduled starts the client missed (`--rate`): every connection was busy when a request was due.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Pacing {
    /// Requests that started more than 10 ms after their scheduled time.
    pub late_starts: u64,
    /// The largest delay between a request's scheduled and actual start.
    pub max_lag_us: u64,
    /// Requests due inside the window that were never sent: no connection was free for them within
    /// `--timeout` of their due time, or the window ended first (with a retry not yet sent again).
    #[serde(default)]
    pub missed: u64,
}

impl Pacing {
    pub fn merge(&mut self, other: &Pacing) {
        self.checked_merge(other).expect(IN_PROCESS);
    }

    /// Adds another result's pacing; the name of the count that would pass `u64::MAX` if it cannot.
    pub fn checked_merge(&mut self, other: &Pacing) -> Result<(), &'static str> {
        add_count("pacing.late_starts", &mut self.late_starts, other.late_starts)?;
        add_count("pacing.missed", &mut self.missed, other.missed)?;
        self.max_lag_us = self.max_lag_us.max(other.max_lag_us);
        Ok(())
    }
}

/// The server's side of connection reuse, as the responses told it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct KeepAlive {
    /// Connections the client wanted to keep (keepalive and pipeline modes) whose first response said
    /// the server closes: an HTTP/1.0 server ignoring `Connection: Keep-Alive`, or `Connection: close`.
    pub declined: u64,
    /// Responses carrying a `Keep-Alive: timeout=, max=` limit.
    pub limits_announced: u64,
    /// The `max` announced on a connection's first response (the smallest, if connections differ): the
    /// requests the server takes after that first one.
    pub max: Option<u32>,
    /// Connections whose first response announced a `max`, and how many of them carried all of it (the
    /// first request plus `max` more) before closing.
    #[serde(default)]
    pub max_connections: u64,
    #[serde(default)]
    pub max_used_in_full: u64,
    /// The smallest `timeout` announced, in seconds, if any.
    pub timeout_s: Option<u32>,
    /// A per-connection limit connbench learned because the server closed connections early after the same
    /// number of responses, several in a row, and still held at the end (the smallest, if workers differ);
    /// null if none was learned or every one was refuted. Added within schema 1.
    #[serde(default)]
    pub learned_limit: Option<u64>,
    /// Connections that carried as many requests as a learned limit allowed, and times a connection let run
    /// past a learned limit refuted it (docs/connections.md). Added within schema 1.
    #[serde(default)]
    pub capped_connections: u64,
    #[serde(default)]
    pub learned_limit_dropped: u64,
}

impl KeepAlive {
    pub fn merge(&mut self, other: &KeepAlive) {
        self.checked_merge(other).expect(IN_PROCESS);
    }

    /// Adds another result's counts; the name of the count that would pass `u64::MAX` if it cannot.
    pub fn checked_merge(&mut self, other: &KeepAlive) -> Result<(), &'static str> {
        add_count("keep_alive.declined", &mut self.declined, other.declined)?;
        add_count("keep_alive.limits_announced", &mut self.limits_announced, other.limits_announced)?;
        add_count("keep_alive.max_connections", &mut self.max_connections, other.max_connections)?;
        add_count("keep_alive.max_used_in_full", &mut self.max_used_in_full, other.max_used_in_full)?;
        self.max = min_some(self.max, other.max);
        self.timeout_s = min_some(self.timeout_s, other.timeout_s);
        self.learned_limit = min_some(self.learned_limit, other.learned_limit);
        add_count("keep_alive.capped_connections", &mut self.capped_connections, other.capped_connections)?;
        add_count("keep_alive.learned_limit_dropped", &mut self.learned_limit_dropped, other.learned_limit_dropped)?;
        Ok(())
    }
}

fn min_some<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => a.or(b),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub connect: Hist,
    pub ttfb: Hist,
    pub transfer: Hist,
    pub total: Hist,
    pub total_first: Hist,
    pub total_reused: Hist,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_uncorrected: Option<Hist>,
    /// https only: end of the TCP handshake to end of the TLS handshake, one sample per connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Hist>,
}

impl Latency {
    /// Every histogram by its JSON name; None where the run has none (no `--rate`, no TLS).
    pub fn phases(&self) -> [(&'static str, Option<&Hist>); 8] {
        [
            ("connect", Some(&self.connect)),
            ("tls", self.tls.as_ref()),
            ("ttfb", Some(&self.ttfb)),
            ("transfer", Some(&self.transfer)),
            ("total", Some(&self.total)),
            ("total_first", Some(&self.total_first)),
            ("total_reused", Some(&self.total_reused)),
            ("total_uncorrected", self.total_uncorrected.as_ref()),
        ]
    }

    /// Every histogram the run has, to be changed in place.
    pub fn histograms_mut(&mut self) -> impl Iterator<Item = &mut Hist> {
        [
            Some(&mut self.connect),
            self.tls.as_mut(),
            Some(&mut self.ttfb),
            Some(&mut self.transfer),
            Some(&mut self.total),
            Some(&mut self.total_first),
            Some(&mut self.total_reused),
            self.total_uncorrected.as_mut(),
        ]
        .into_iter()
        .flatten()
    }
}

/// A histogram's summary in microseconds, with the whole histogram so results merge exactly.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Hist {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    /// p75 and p95: added within schema 1; a result written before them reads them from `hdr` when loaded.
    #[serde(default)]
    pub p75_us: u64,
    pub p90_us: u64,
    #[serde(default)]
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub p9999_us: u64,
    pub max_us: u64,
    /// Base64 of the HdrHistogram V2 serialization.
    pub hdr: String,
}

impl Hist {
    /// One statistic of the summary, in microseconds (the mean with its fraction).
    pub fn stat(&self, stat: Stat) -> f64 {
        match stat {
            Stat::P50 => self.p50_us as f64,
            Stat::P75 => self.p75_us as f64,
            Stat::P90 => self.p90_us as f64,
            Stat::P95 => self.p95_us as f64,
            Stat::P99 => self.p99_us as f64,
            Stat::P999 => self.p999_us as f64,
            Stat::P9999 => self.p9999_us as f64,
            Stat::Max => self.max_us as f64,
            Stat::Mean => self.mean_us,
        }
    }
}

/// A histogram with no samples: the `tls` phase of a plain http run, for readers that want one.
pub static NO_SAMPLES: Hist = Hist {
    count: 0,
    min_us: 0,
    mean_us: 0.0,
    p50_us: 0,
    p75_us: 0,
    p90_us: 0,
    p95_us: 0,
    p99_us: 0,
    p999_us: 0,
    p9999_us: 0,
    max_us: 0,
    hdr: String::new(),
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ports {
    pub policy: String,
    /// The client IPs in rotation at the mode's end.
    pub client_ips: Vec<String>,
    /// Peak TIME_WAIT ports of the run's tuples held from connect(), as the ledger counts them: for the
    /// hold the kernel applies (1 s where tcp_tw_reuse covers the tuple, 60 s otherwise).
    pub time_wait_peak: u64,
    /// Peak TIME_WAIT sockets of the run's tuples as the kernel counts them: each kept 60 s, whether or
    /// not tcp_tw_reuse lets connect() take its port over sooner.
    pub kernel_time_wait_peak: u64,
    pub waited_ms: u64,
    pub per_ip: Vec<PerIp>,
    /// How the client IPs were chosen: `auto` (added by the governor as the rate needed), `kernel` (the
    /// kernel's choice, no bind) or `list` (`--source-ip LIST`). Added within schema 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The largest share of its ports any one tuple held at once (open plus TIME_WAIT under the hold the
    /// kernel applies), 0 to 1. Added within schema 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupancy_peak: Option<f64>,
    /// TIME_WAIT ports held when the mode began (what earlier modes and runs left), as the ledger counts
    /// them; of the ports this mode's own connections left, the most held at once and those held at its
    /// end; and the kernel's count when the mode began. `time_wait_peak` and `kernel_time_wait_peak` count
    /// what the mode began with too. Added within schema 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_wait_at_start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_wait_own_peak: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_wait_own_end: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_time_wait_at_start: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PerIp {
    pub ip: String,
    /// New connections from this client IP.
    pub opened: u64,
    /// The most ports its tuple held at once (open plus TIME_WAIT under the hold). Added within schema 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_peak: Option<u64>,
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Tick {
    /// Seconds since the mode started; this entry covers (t-1, t].
    pub t: u64,
    /// How much of the second lies inside the measurement window, when not all of it: the last second of a
    /// run that ended between two (`-n`, a stop), 0 for one past the window. Its counts are over this
    /// length, not a whole second. Absent for a whole second. Added within schema 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_s: Option<f64>,
    pub requests: u64,
    pub errors: u64,
    pub opened: u64,
    /// TIME_WAIT ports of this run's tuples at the end of the second, as the port ledger counts them.
    pub time_wait: Option<u64>,
    /// The same, as the kernel counts them (null where neither sock_diag nor /proc could be read).
    #[serde(default)]
    pub kernel_time_wait: Option<u64>,
    /// Of those, the ports this mode's own connections left (what earlier modes and runs left excluded).
    /// Added within schema 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_wait_own: Option<u64>,
    /// Client IPs in rotation at the end of the second. Added within schema 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ips: Option<u64>,
    /// Total latency of the requests completed in this second, from a histogram of 2 significant digits
    /// (within 1 %); null in a second with none. Added within schema 1.
    #[serde(default)]
    pub p50_us: Option<u64>,
    #[serde(default)]
    pub p99_us: Option<u64>,
    /// That histogram, base64 of its HdrHistogram V2 serialization, so that `merge` recomputes the
    /// second's percentiles instead of averaging them. Added within schema 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr: Option<String>,
    /// Open loop: the requests the schedule made due in this second (its target rate), beside `requests`, those
    /// completed in it. Added within schema 1; absent in a closed loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<f64>,
}

/// Results built by hand for the unit tests of compare, gate and merge.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    /// A mode's result with every count 0 and empty histograms.
    pub fn mode_result(mode: Mode) -> ModeResult {
        ModeResult {
            mode,
            connections: 1,
            depth: 1,
            duration_s: 1.0,
            rate: None,
            requests: 0,
            status: StatusCounts::default(),
            status_codes: BTreeMap::new(),
            errors: ErrorCounts::default(),
            retries: 0,
            in_flight_at_end: 0,
            rps: 0.0,
            bytes_received: 0,
            connections_opened: 0,
            closed_by_client: 0,
            closed_by_server: 0,
            closed_by_reset: 0,
            closed_on_server_request: 0,
            closed_unanswered: 0,
            closed_unsolicited: 0,
            keep_alive: KeepAlive::default(),
            max_concurrent_streams: None,
            max_in_flight: None,
            latency: Latency {
                connect: Hist::default(),
                ttfb: Hist::default(),
                transfer: Hist::default(),
                total: Hist::default(),
                total_first: Hist::default(),
                total_reused: Hist::default(),
                total_uncorrected: None,
                tls: None,
            },
            pacing: None,
            ports: None,
            started_unix_ms: None,
            timeline: Vec::new(),
            tls: None,
            http: None,
            engine: None,
            quic: None,
            targets: Vec::new(),
            targets_other: None,
            stages: None,
        }
    }

    pub fn run_result(runs: Vec<ModeResult>) -> RunResult {
        RunResult {
            schema_version: SCHEMA_VERSION,
            tool: Tool::this(),
            complete: true,
            started_at: "2026-01-01T00:00:00Z".into(),
            target: "http://127.0.0.1:8080/".into(),
            method: Some("GET".into()),
            command: vec![],
            request: None,
            plan: None,
            system: System { ip_local_port_range: Some([32768, 60999]), tcp_tw_reuse: Some(2), time_wait_secs: 60 },
            runs,
            shard: None,
            whole: None,
            notes: Vec::new(),
            targets: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quic_figures_add_up_and_the_rtt_is_weighted_by_connections() {
        let mut a = QuicSummary {
            zero_rtt_sent: 3,
            zero_rtt_accepted: 2,
            lost_packets: 1,
            sent_packets: 100,
            rtt_us: Some(100),
        };
        let b = QuicSummary {
            zero_rtt_sent: 1,
            zero_rtt_accepted: 1,
            lost_packets: 0,
            sent_packets: 50,
            rtt_us: Some(400),
        };
        a.add(3, &b, 1);
        assert_eq!(
            a,
            QuicSummary {
                zero_rtt_sent: 4,
                zero_rtt_accepted: 3,
                lost_packets: 1,
                sent_packets: 150,
                rtt_us: Some(175)
            }
        );
        // a side with no connection that ended has no rtt to weigh
        let mut none = QuicSummary::default();
        none.add(0, &b, 1);
        assert_eq!(none.rtt_us, Some(400));
    }

    #[test]
    fn the_http_version_is_written_as_the_protocol_names_it_and_older_results_load_without_it() {
        let mut run = fixture::mode_result(Mode::Multiplex);
        run.http = Some(crate::mode::Http::Http3);
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(json["http"], "3");
        let mut older = json.clone();
        older.as_object_mut().unwrap().remove("http");
        assert_eq!(serde_json::from_value::<ModeResult>(older).unwrap().http, None);
        for (http, name) in [("1.0", "HTTP/1.0"), ("1.1", "HTTP/1.1"), ("2", "HTTP/2"), ("3", "HTTP/3")] {
            let version: crate::mode::Http = serde_json::from_value(serde_json::json!(http)).unwrap();
            assert_eq!((version.name(), version.version()), (name, http));
        }
    }
}

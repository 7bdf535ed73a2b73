/*!
The figures of a mode's result, each defined once with its name for people (`label`) and for scripts
(`column`), grouped into the sections of the report in the order people read them: the headline, then
connections, latency by phase, the open loop, the ports. The text, markdown, csv and html writers all
choose from these definitions; none of them reads a `ModeResult` field for a figure of its own.

A section or a row that says nothing for these runs (no `--rate`, nothing happened to the ports, no
1xx response) is left out here, once, for every writer.
*/

use crate::printable::printable;
use crate::record::result::{ErrorCounts, Hist, KeepAlive, ModeResult, Tick};

/// One cell's worth of a figure, typed so each writer can say it its own way.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Count(u64),
    /// A count that is bad news when above 0 (non-2xx responses): markdown bolds it.
    Alarm(u64),
    /// Requests per second and other rates, one decimal.
    Rate(f64),
    Micros(u64),
    Seconds(f64),
    BytesPerSecond(f64),
    /// A share from 0 to 1.
    Share(f64),
    Text(String),
    /// Responses by status code: `200: 9998, 503: 2` for people, `200:9998 503:2` for scripts (no comma, so
    /// a CSV cell needs no quotes).
    Codes(Vec<(u16, u64)>),
    /// Not measured here (a reused connection in serial mode, a rate in a closed loop).
    Absent,
}

impl Value {
    /// As people read it: 87µs, 1.25ms, 10.00s, 12.5MB/s, 25.0%, `-` for nothing.
    pub fn human(&self) -> String {
        match self {
            Value::Count(n) | Value::Alarm(n) => n.to_string(),
            Value::Rate(r) => format!("{r:.1}"),
            Value::Micros(us) => micros(*us),
            Value::Seconds(s) => format!("{s:.2}s"),
            Value::BytesPerSecond(b) => bytes_per_second(*b),
            Value::Share(s) => format!("{:.1}%", 100.0 * s),
            Value::Text(t) => printable(t).into_owned(),
            Value::Codes(codes) if codes.is_empty() => "-".into(),
            Value::Codes(codes) => codes.iter().map(|(code, n)| format!("{code}: {n}")).collect::<Vec<_>>().join(", "),
            Value::Absent => "-".into(),
        }
    }

    /// As a script reads it: whole microseconds, plain numbers, an empty cell for nothing.
    pub fn raw(&self) -> String {
        match self {
            Value::Count(n) | Value::Alarm(n) | Value::Micros(n) => n.to_string(),
            Value::Rate(r) => format!("{r:.1}"),
            Value::Seconds(s) => format!("{s:.3}"),
            Value::BytesPerSecond(b) => format!("{b:.0}"),
            Value::Share(s) => format!("{s:.4}"),
            Value::Text(t) => printable(t).into_owned(),
            Value::Codes(codes) => codes.iter().map(|(code, n)| format!("{code}:{n}")).collect::<Vec<_>>().join(" "),
            Value::Absent => String::new(),
        }
    }
}

/// Microseconds in the unit people read best: 87µs, 1.25ms, 2.10s.
pub fn micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=999_999 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// Decimal units, as network rates are said: 950B/s, 12.3kB/s, 1.25MB/s, 2.50GB/s.
fn bytes_per_second(b: f64) -> String {
    match b {
        b if b < 1e3 => format!("{b:.0}B/s"),
        b if b < 1e6 => format!("{:.1}kB/s", b / 1e3),
        b if b < 1e9 => format!("{:.2}MB/s", b / 1e6),
        b => format!("{:.2}GB/s", b / 1e9),
    }
}

/// One figure: what people call it, what a CSV column calls it, and how to read it from a mode's result.
pub struct Figure {
    pub label: String,
    pub column: String,
    value: Box<dyn Fn(&ModeResult) -> Value>,
}

impl Figure {
    fn new(
        label: impl Into<String>,
        column: impl Into<String>,
        value: impl Fn(&ModeResult) -> Value + 'static,
    ) -> Figure {
        Figure { label: label.into(), column: column.into(), value: Box::new(value) }
    }

    pub fn of(&self, run: &ModeResult) -> Value {
        (self.value)(run)
    }
}

/// A latency histogram of the result, by its JSON name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    /// https: the end of the TCP handshake to the end of the TLS handshake.
    Tls,
    Ttfb,
    Transfer,
    Total,
    TotalFirst,
    TotalReused,
    TotalUncorrected,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Connect,
        Phase::Tls,
        Phase::Ttfb,
        Phase::Transfer,
        Phase::Total,
        Phase::TotalFirst,
        Phase::TotalReused,
        Phase::TotalUncorrected,
    ];

    /// The name of the histogram in the JSON result (`latency.NAME`) and of `--phase`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Ttfb => "ttfb",
            Phase::Transfer => "transfer",
            Phase::Total => "total",
            Phase::TotalFirst => "total_first",
            Phase::TotalReused => "total_reused",
            Phase::TotalUncorrected => "total_uncorrected",
        }
    }

    pub fn parse(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The histogram; None for the uncorrected total of a closed-loop run, and for tls over plain http.
    pub fn of(self, run: &ModeResult) -> Option<&Hist> {
        let l = &run.latency;
        match self {
            Phase::Connect => Some(&l.connect),
            Phase::Tls => l.tls.as_ref(),
            Phase::Ttfb => Some(&l.ttfb),
            Phase::Transfer => Some(&l.transfer),
            Phase::Total => Some(&l.total),
            Phase::TotalFirst => Some(&l.total_first),
            Phase::TotalReused => Some(&l.total_reused),
            Phase::TotalUncorrected => l.total_uncorrected.as_ref(),
        }
    }

    /// How people call it in a row label.
    fn label(self) -> &'static str {
        match self {
            Phase::TotalFirst | Phase::TotalReused | Phase::TotalUncorrected => "total",
            other => other.name(),
        }
    }

    /// What follows the statistic in a row label: `total p50, new conn`.
    fn qualifier(self) -> &'static str {
        match self {
            Phase::TotalFirst => ", new conn",
            Phase::TotalReused => ", reused",
            Phase::TotalUncorrected => ", uncorrected",
            _ => "",
        }
    }
}

pub use crate::check::Stat;

/// `total p99`, `connect_p99_us`: a statistic of a phase, absent where the phase has no samples.
pub fn latency(phase: Phase, stat: Stat) -> Figure {
    Figure::new(
        format!("{} {}{}", phase.label(), stat.name(), phase.qualifier()),
        // As the JSON's field names: `p999_us` for p99.9.
        format!("{}_{}_us", phase.name(), stat.name().replace('.', "")),
        move |r| match phase.of(r) {
            Some(h) if h.count > 0 => Value::Micros(h.stat(stat).round() as u64),
            _ => Value::Absent,
        },
    )
}

pub fn mode() -> Figure {
    Figure::new("", "mode", |r| Value::Text(r.mode.name().into()))
}

pub fn connections() -> Figure {
    Figure::new("connections", "connections", |r| Value::Count(r.connections.into()))
}

pub fn requests() -> Figure {
    Figure::new("requests", "requests", |r| Value::Count(r.requests))
}

pub fn rps() -> Figure {
    Figure::new("requests/s", "rps", |r| Value::Rate(r.rps))
}

pub fn errors() -> Figure {
    Figure::new("errors", "errors", |r| Value::Count(r.errors.total()))
}

pub fn non_2xx() -> Figure {
    Figure::new("non-2xx", "non_2xx", |r| Value::Alarm(r.status.non_2xx()))
}

/// The HTTP version the mode spoke, as the JSON writes it (`1.1`, `2`, `3`); an older result says none
/// (HTTP/1.x, or HTTP/2 in multiplex).
pub fn http() -> Figure {
    Figure::new("http", "http", |r| r.http.map_or(Value::Absent, |http| Value::Text(http.version().into())))
}

/// What the report's first line says of the protocol: HTTP/3 when every mode spoke it (the other versions
/// are the modes' own: HTTP/1.x, and HTTP/2 for multiplex).
pub fn spoken(runs: &[ModeResult]) -> Option<&'static str> {
    let http3 = !runs.is_empty() && runs.iter().all(|r| r.http == Some(crate::mode::Http::Http3));
    http3.then_some("HTTP/3")
}

/// HTTP/3: QUIC's own figures (absent for TCP runs).
pub fn quic() -> [Figure; 5] {
    use crate::record::result::QuicSummary;
    let count = |pick: fn(&QuicSummary) -> u64| {
        move |r: &ModeResult| r.quic.as_ref().map_or(Value::Absent, |q| Value::Count(pick(q)))
    };
    [
        Figure::new("0-RTT sent", "zero_rtt_sent", count(|q| q.zero_rtt_sent)),
        Figure::new("0-RTT accepted", "zero_rtt_accepted", count(|q| q.zero_rtt_accepted)),
        Figure::new("QUIC packets sent", "quic_sent_packets", count(|q| q.sent_packets)),
        Figure::new("QUIC packets lost", "quic_lost_packets", count(|q| q.lost_packets)),
        Figure::new("QUIC rtt (smoothed)", "quic_rtt_us", |r| {
            r.quic.and_then(|q| q.rtt_us).map_or(Value::Absent, Value::Micros)
        }),
    ]
}

pub fn connections_opened() -> Figure {
    Figure::new("connections opened", "connections_opened", |r| Value::Count(r.connections_opened))
}

/// The most requests (HTTP/1.x) or streams (HTTP/2) in flight at once on one connection.
pub fn max_in_flight() -> Figure {
    Figure::new("in flight at most", "max_in_flight", |r| {
        r.max_in_flight.map_or(Value::Absent, |n| Value::Count(n.into()))
    })
}

/// HTTP/2: the server's SETTINGS_MAX_CONCURRENT_STREAMS where it held connections below `--depth`.
pub fn max_concurrent_streams() -> Figure {
    Figure::new("server's stream limit", "max_concurrent_streams", |r| {
        r.max_concurrent_streams.map_or(Value::Absent, |n| Value::Count(n.into()))
    })
}

/// What `--depth` came to, for people: in flight at most, of the depth asked (`8 of 16`). Labelled for what
/// the runs keep in flight: pipelined requests, HTTP/2 streams, or both side by side.
pub fn depth_reached(runs: &[ModeResult]) -> Figure {
    let deep = |http2: bool| runs.iter().any(|r| r.depth > 1 && r.mode.is_http2() == http2);
    let label = match (deep(false), deep(true)) {
        (true, true) => "reqs/streams in flight",
        (false, true) => "streams in flight, most",
        _ => "requests in flight, most",
    };
    Figure::new(label, "depth", |r| {
        let most = r.max_in_flight.map_or("-".to_string(), |n| n.to_string());
        Value::Text(format!("{most} of {}", r.depth))
    })
}

/// The status classes, in the order of the CSV columns.
pub fn status_classes() -> [Figure; 6] {
    [
        Figure::new("status 1xx", "status_1xx", |r| Value::Count(r.status.s1xx)),
        Figure::new("status 2xx", "status_2xx", |r| Value::Count(r.status.s2xx)),
        Figure::new("status 3xx", "status_3xx", |r| Value::Count(r.status.s3xx)),
        Figure::new("status 4xx", "status_4xx", |r| Value::Count(r.status.s4xx)),
        Figure::new("status 5xx", "status_5xx", |r| Value::Count(r.status.s5xx)),
        Figure::new("status other", "status_other", |r| Value::Count(r.status.other)),
    ]
}

/// The status codes worth a row of their own in these runs: every code seen, unless every response was a 200,
/// which the 2xx row says already. A result written before codes were kept has none.
pub fn status_codes_shown<'a>(runs: impl IntoIterator<Item = &'a ModeResult>) -> Vec<u16> {
    let mut codes: Vec<u16> = runs.into_iter().flat_map(|r| r.status_codes.keys().copied()).collect();
    codes.sort_unstable();
    codes.dedup();
    if codes == [200] {
        codes.clear();
    }
    codes
}

/// The responses of one status code, a row under its class: `  503`.
pub fn status_code(code: u16) -> Figure {
    Figure::new(format!("  {code}"), format!("status_{code}"), move |r| {
        Value::Count(r.status_codes.get(&code).copied().unwrap_or(0))
    })
}

/// Every status code seen and its responses, in one cell.
pub fn status_codes() -> Figure {
    Figure::new("status codes", "status_codes", |r| {
        Value::Codes(r.status_codes.iter().map(|(&code, &n)| (code, n)).collect())
    })
}

/// A group of rows, and the lines for people that belong under it (warnings, what the server announced).
pub struct Section {
    /// The heading where a format has room for one (html); the text separates sections by a blank line.
    pub title: &'static str,
    pub rows: Vec<Figure>,
    pub notes: Vec<String>,
}

/// Below this share of a tuple's ports the port rows say nothing a person needs: connect() is far from
/// the slow half (docs/design.md §4), no port was waited for, one client IP did it all.
const PORTS_WORTH_SAYING: f64 = 0.01;

/// The report for people, headline first, every row that has something to say for these runs.
pub fn sections(runs: &[ModeResult]) -> Vec<Section> {
    let any = |f: fn(&ModeResult) -> bool| runs.iter().any(f);
    let mut headline = vec![connections()];
    if any(|r| r.depth > 1) {
        headline.push(depth_reached(runs));
    }
    if any(|r| r.max_concurrent_streams.is_some()) {
        headline.push(max_concurrent_streams());
    }
    headline.extend([
        requests(),
        Figure::new("duration", "duration_s", |r| Value::Seconds(r.duration_s)),
        rps(),
        Figure::new("bytes received/s", "bytes_received_per_s", |r| {
            Value::BytesPerSecond(if r.duration_s > 0.0 { r.bytes_received as f64 / r.duration_s } else { 0.0 })
        }),
    ]);
    headline.extend(
        [Stat::P50, Stat::P75, Stat::P90, Stat::P95, Stat::P99, Stat::P999, Stat::Max]
            .map(|s| latency(Phase::Total, s)),
    );
    headline.push(errors());
    // 2xx always; the other classes when any response had one; under each, its codes where they say more.
    let codes = status_codes_shown(runs);
    let [s1xx, s2xx, s3xx, s4xx, s5xx, other] = status_classes();
    for (class, hundreds) in
        [(s2xx, Some(2)), (s1xx, Some(1)), (s3xx, Some(3)), (s4xx, Some(4)), (s5xx, Some(5)), (other, None)]
    {
        if hundreds != Some(2) && runs.iter().all(|r| class.of(r) == Value::Count(0)) {
            continue;
        }
        headline.push(class);
        let in_class = |code: &&u16| match hundreds {
            Some(h) => **code / 100 == h,
            None => !(100..600).contains(*code),
        };
        headline.extend(codes.iter().filter(in_class).map(|&code| status_code(code)));
    }
    headline.push(non_2xx());
    // A server answering 503 to everything is fast and error-free: say so where nobody can miss it.
    let mut warnings = no_completed_request(runs);
    warnings.extend(runs.iter().filter(|r| r.status.non_2xx() > 0).map(non_2xx_warning));
    warnings.extend(
        runs.iter()
            .filter(|r| r.errors.total() > 0)
            .map(|r| format!("{} errors: {}", r.mode.name(), error_breakdown(&r.errors))),
    );

    let mut connection_rows = vec![
        connections_opened(),
        Figure::new("requests/connection", "requests_per_connection", |r| match r.connections_opened {
            0 => Value::Absent,
            n => Value::Rate(r.requests as f64 / n as f64),
        }),
        Figure::new("closed by client first", "closed_by_client", |r| Value::Count(r.closed_by_client)),
    ];
    // The client's closes the server asked for, apart from its own (where some were).
    if any(|r| r.closed_on_server_request > 0) {
        connection_rows.push(Figure::new(
            "closed after the server's Connection: close",
            "closed_on_server_request",
            |r| Value::Count(r.closed_on_server_request),
        ));
    }
    connection_rows.extend([
        Figure::new("closed by server first", "closed_by_server", |r| Value::Count(r.closed_by_server)),
        Figure::new("closed by reset", "closed_by_reset", |r| Value::Count(r.closed_by_reset)),
        Figure::new("retries", "retries", |r| Value::Count(r.retries)),
        Figure::new("keep-alive declined", "keep_alive_declined", |r| Value::Count(r.keep_alive.declined)),
    ]);
    if any(|r| r.in_flight_at_end > 0) {
        connection_rows.push(Figure::new("in flight at end", "in_flight_at_end", |r| Value::Count(r.in_flight_at_end)));
    }
    let https = any(|r| r.tls.is_some());
    if https {
        connection_rows.extend(tls_handshakes());
    }
    if any(|r| r.quic.is_some()) {
        connection_rows.extend(quic());
    }
    let mut connection_notes: Vec<String> = runs
        .iter()
        .filter(|r| r.keep_alive.limits_announced > 0)
        .map(|r| format!("{}: {}", r.mode.name(), announced_limits(&r.keep_alive)))
        .collect();
    connection_notes
        .extend(runs.iter().filter_map(|r| Some(format!("{} tls: {}", r.mode.name(), negotiated(r.tls.as_ref()?)))));

    let mut phase_rows = Vec::new();
    let phases: &[Phase] = if https {
        &[Phase::Connect, Phase::Tls, Phase::Ttfb, Phase::Transfer]
    } else {
        &[Phase::Connect, Phase::Ttfb, Phase::Transfer]
    };
    for &phase in phases {
        phase_rows.extend([latency(phase, Stat::P50), latency(phase, Stat::P99)]);
    }
    phase_rows.extend([latency(Phase::TotalFirst, Stat::P50), latency(Phase::TotalReused, Stat::P50)]);

    let mut sections = vec![
        Section { title: "summary", rows: headline, notes: warnings },
        Section { title: "connections", rows: connection_rows, notes: connection_notes },
        Section { title: "latency by phase", rows: phase_rows, notes: vec![] },
    ];
    if any(|r| r.stages.is_some()) {
        sections.push(Section { title: "open loop (--stages)", rows: open_loop_rows(), notes: stages_notes(runs) });
    } else if any(|r| r.rate.is_some()) {
        sections.push(Section { title: "open loop (--rate)", rows: open_loop_rows(), notes: vec![] });
    }
    // QUIC holds no TCP port: its runs say so where the port rows would be.
    let quic_modes: Vec<&str> =
        runs.iter().filter(|r| r.http == Some(crate::mode::Http::Http3)).map(|r| r.mode.name()).collect();
    let quic_ports: Vec<String> = (!quic_modes.is_empty())
        .then(|| format!("QUIC ({}): {QUIC_PORTS}", quic_modes.join(", ")))
        .into_iter()
        .collect();
    if any(ports_worth_saying) || !quic_ports.is_empty() {
        let rows = if any(ports_worth_saying) { port_rows() } else { vec![] };
        sections.push(Section { title: "client ports", rows, notes: quic_ports });
    }
    sections
}

/// What QUIC does with client ports, said under the port rows (docs/http3.md).
const QUIC_PORTS: &str = "one UDP socket per engine thread carries every connection; no TIME_WAIT, no port governor";
/// A line for each mode that completed no request: its latency rows are empty, and must not read as missing.
pub fn no_completed_request(runs: &[ModeResult]) -> Vec<String> {
    runs.iter().filter(|r| r.requests == 0).map(|r| format!("{}: no completed request", r.mode.name())).collect()
}

/// Why `phase` of `run` has no sample, in words; None when it has some.
pub fn why_no_samples(phase: Phase, run: &ModeResult) -> Option<&'static str> {
    let Some(hist) = phase.of(run) else {
        return Some(match phase {
            Phase::Tls => "the run had no TLS (an http:// target)",
            Phase::TotalUncorrected => "the run was a closed loop (no --rate): total already counts from each start",
            _ => "the result has no such histogram",
        });
    };
    (hist.count == 0).then_some(match phase {
        Phase::Connect => "no connection was established",
        Phase::Tls => "no TLS handshake completed",
        _ if run.requests == 0 => "no completed request",
        Phase::TotalFirst => "no completed request opened its connection",
        Phase::TotalReused => "no completed request reused a connection",
        Phase::Ttfb | Phase::Transfer | Phase::Total | Phase::TotalUncorrected => "no completed request",
    })
}

/// https: full and resumed TLS handshakes (absent for http).
pub fn tls_handshakes() -> [Figure; 2] {
    let count = |pick: fn(&crate::record::result::TlsSummary) -> u64| {
        move |r: &ModeResult| r.tls.as_ref().map_or(Value::Absent, |t| Value::Count(pick(t)))
    };
    [
        Figure::new("tls handshakes, full", "tls_handshakes_full", count(|t| t.handshakes_full)),
        Figure::new("tls handshakes, resumed", "tls_handshakes_resumed", count(|t| t.handshakes_resumed)),
    ]
}

/// What a TLS connection negotiated, and whether its certificate was checked.
fn negotiated(tls: &crate::record::result::TlsSummary) -> String {
    let alpn = printable(tls.alpn.as_deref().unwrap_or("none"));
    let verified = if tls.insecure { "NOT verified (-k)" } else { "verified" };
    format!("{} {}, ALPN {alpn}, certificate {verified}", printable(&tls.version), printable(&tls.cipher))
}

fn open_loop_rows() -> Vec<Figure> {
    let pacing = |r: &ModeResult, pick: fn(&crate::record::result::Pacing) -> u64| {
        r.pacing.map_or(Value::Absent, |p| Value::Count(pick(&p)))
    };
    vec![
        Figure::new("rate asked", "rate", |r| match (&r.stages, r.rate) {
            (Some(_), _) => Value::Text("stages".into()),
            (None, Some(rate)) => Value::Text(format!("{rate}/s")),
            (None, None) => Value::Absent,
        }),
        latency(Phase::TotalUncorrected, Stat::P50),
        latency(Phase::TotalUncorrected, Stat::P99),
        Figure::new("late starts", "late_starts", move |r| pacing(r, |p| p.late_starts)),
        Figure::new("missed (never sent)", "missed", move |r| pacing(r, |p| p.missed)),
    ]
}

/// Achieved below this share of the target in a second is the knee of a ramp.
pub const KNEE: f64 = 0.95;
/// A second with fewer requests due than this says nothing about a knee: one request is 5 % of 20.
const KNEE_LEAST_DUE: f64 = 20.0;

/// The first whole second past the first in which the requests completed fell below 95 % of those due
/// (`--stages`, `--rate`): where the server, or the client, stopped keeping up. None if none did.
pub fn knee(run: &ModeResult) -> Option<&Tick> {
    run.timeline.iter().find(|tick| {
        let whole = tick.length_s.is_none() && tick.t as f64 <= run.duration_s + 1e-9;
        let due = tick.target_rate.unwrap_or(0.0);
        tick.t >= 2 && whole && due >= KNEE_LEAST_DUE && (tick.requests as f64) < KNEE * due
    })
}

/// The stages, once, and for each mode the knee of its ramp.
fn stages_notes(runs: &[ModeResult]) -> Vec<String> {
    let Some(stages) = runs.iter().find_map(|r| r.stages.as_ref()) else { return Vec::new() };
    let mut notes = vec![format!("stages: {}", crate::stages::describe(stages.from, &stages.stages))];
    for run in runs.iter().filter(|r| r.stages.is_some()) {
        notes.push(match knee(run) {
            Some(tick) => format!(
                "{}: achieved fell below {:.0}% of the target in second {}: {} completed of {:.0} due",
                run.mode.name(),
                KNEE * 100.0,
                tick.t,
                tick.requests,
                tick.target_rate.unwrap_or(0.0)
            ),
            None => {
                format!("{}: achieved kept within {:.0}% of the target every second", run.mode.name(), KNEE * 100.0)
            }
        });
    }
    notes
}

fn ports_worth_saying(r: &ModeResult) -> bool {
    r.errors.addr_unavailable > 0
        || r.ports.as_ref().is_some_and(|p| {
            p.waited_ms > 0 || p.client_ips.len() > 1 || p.occupancy_peak.is_some_and(|o| o >= PORTS_WORTH_SAYING)
        })
}

/// What the port governor did. Occupancy and the TIME_WAIT ports held use the hold the kernel applies
/// (1 s where tcp_tw_reuse covers the tuple); the kernel's own count keeps every socket 60 s.
fn port_rows() -> Vec<Figure> {
    use crate::record::result::Ports;
    fn port(cell: impl Fn(&Ports) -> Value + 'static) -> impl Fn(&ModeResult) -> Value {
        move |r| r.ports.as_ref().map_or(Value::Absent, &cell)
    }
    // Absent in results written before the figure was kept.
    fn count(n: Option<u64>) -> Value {
        n.map_or(Value::Absent, Value::Count)
    }
    vec![
        Figure::new(
            "client IPs used",
            "client_ips",
            port(|p| match &p.source_ip {
                Some(source) => Value::Text(format!("{} {source}", p.client_ips.len())),
                None => Value::Count(p.client_ips.len() as u64),
            }),
        ),
        Figure::new(
            "new conns, busiest IP",
            "opened_busiest_ip",
            port(|p| Value::Count(p.per_ip.iter().map(|i| i.opened).max().unwrap_or(0))),
        ),
        Figure::new(
            "ports in use, busiest IP",
            "occupancy_peak",
            port(|p| p.occupancy_peak.map_or(Value::Absent, Value::Share)),
        ),
        Figure::new("waited for a free port", "waited_us", port(|p| Value::Micros(p.waited_ms * 1000))),
        // A mode's own TIME_WAIT apart from what earlier modes left, which it shares the tuples with.
        Figure::new("TIME_WAIT held at start", "time_wait_at_start", port(|p| count(p.time_wait_at_start))),
        Figure::new("TIME_WAIT this mode, peak", "time_wait_own_peak", port(|p| count(p.time_wait_own_peak))),
        Figure::new("TIME_WAIT this mode, end", "time_wait_own_end", port(|p| count(p.time_wait_own_end))),
        Figure::new(
            "kernel TIME_WAIT at start",
            "kernel_time_wait_at_start",
            port(|p| count(p.kernel_time_wait_at_start)),
        ),
        Figure::new("kernel TIME_WAIT, peak", "kernel_time_wait_peak", port(|p| Value::Count(p.kernel_time_wait_peak))),
    ]
}

fn error_breakdown(e: &ErrorCounts) -> String {
    e.kinds().iter().filter(|(_, n)| *n > 0).map(|(name, n)| format!("{name} {n}")).collect::<Vec<_>>().join(", ")
}

fn non_2xx_warning(run: &ModeResult) -> String {
    let share = crate::report::gate::non_2xx_rate(run) * 100.0;
    format!(
        "{}: WARNING: {} of {} responses ({share:.1}%) were not 2xx: {}",
        run.mode.name(),
        run.status.non_2xx(),
        run.status.total(),
        run.status.non_2xx_breakdown()
    )
}

/// What the server announced and how much of it the client used: `max=M` on a first response allows M more.
fn announced_limits(k: &KeepAlive) -> String {
    let max = k.max.map(|m| format!("max={m} ({} requests per connection)", u64::from(m) + 1));
    let limits: Vec<_> = [max, k.timeout_s.map(|t| format!("timeout={t}s"))].into_iter().flatten().collect();
    let mut text = format!("server announced Keep-Alive {} on {} responses", limits.join(", "), k.limits_announced);
    if k.max_connections > 0 {
        text += &format!("; {} of {} connections used max in full", k.max_used_in_full, k.max_connections);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::record::result::{fixture, Ports};

    #[test]
    fn values_read_as_people_and_scripts_read_them() {
        // each case: the value, for people, for scripts
        for (value, human, raw) in [
            (Value::Micros(87), "87µs", "87"),
            (Value::Micros(1250), "1.25ms", "1250"),
            (Value::Micros(2_100_000), "2.10s", "2100000"),
            (Value::Rate(71279.66), "71279.7", "71279.7"),
            (Value::BytesPerSecond(950.0), "950B/s", "950"),
            (Value::BytesPerSecond(1_250_000.0), "1.25MB/s", "1250000"),
            (Value::Share(0.25), "25.0%", "0.2500"),
            (Value::Absent, "-", ""),
        ] {
            assert_eq!((value.human(), value.raw()), (human.to_string(), raw.to_string()), "{value:?}");
        }
    }

    #[test]
    fn latency_figures_name_phase_and_statistic_and_are_absent_without_samples() {
        let mut run = fixture::mode_result(Mode::Keepalive);
        run.latency.total_reused = Hist { count: 3, p999_us: 1200, ..Hist::default() };
        let figure = latency(Phase::TotalReused, Stat::P999);
        assert_eq!((figure.label.as_str(), figure.column.as_str()), ("total p99.9, reused", "total_reused_p999_us"));
        assert_eq!(figure.of(&run), Value::Micros(1200));
        assert_eq!(latency(Phase::Connect, Stat::P50).of(&run), Value::Absent);
        assert_eq!(latency(Phase::TotalUncorrected, Stat::P50).of(&run), Value::Absent);
        assert_eq!(Phase::parse("total_first"), Some(Phase::TotalFirst));
        assert_eq!(Phase::parse("p99"), None);
    }

    #[test]
    fn sections_leave_out_what_has_nothing_to_say() {
        let quiet = fixture::mode_result(Mode::Keepalive);
        let titles = |runs: &[ModeResult]| sections(runs).iter().map(|s| s.title).collect::<Vec<_>>();
        assert_eq!(titles(std::slice::from_ref(&quiet)), ["summary", "connections", "latency by phase"]);
        let labels: Vec<_> = sections(std::slice::from_ref(&quiet))[0].rows.iter().map(|f| f.label.clone()).collect();
        assert!(!labels.iter().any(|l| l == "status 5xx" || l.contains("in flight, most")), "{labels:?}");
        let connection_labels =
            |runs: &[ModeResult]| -> Vec<String> { sections(runs)[1].rows.iter().map(|f| f.label.clone()).collect() };
        let asked = "closed after the server's Connection: close".to_string();
        assert!(!connection_labels(std::slice::from_ref(&quiet)).contains(&asked));
        let mut closing = quiet.clone();
        closing.closed_on_server_request = 3;
        let labels = connection_labels(&[quiet.clone(), closing.clone()]);
        let at = labels.iter().position(|l| *l == asked).expect("the row, once a run has one");
        assert_eq!(
            (labels[at - 1].as_str(), labels[at + 1].as_str()),
            ("closed by client first", "closed by server first")
        );
        assert_eq!(sections(&[closing])[1].rows[at].of(&quiet), Value::Count(0));
        let mut busy = quiet.clone();
        busy.rate = Some(100.0);
        (busy.status.s5xx, busy.requests) = (1, 1);
        busy.ports = Some(Ports {
            policy: "wait".into(),
            client_ips: vec!["127.0.0.1".into(), "127.0.0.2".into()],
            time_wait_peak: 0,
            kernel_time_wait_peak: 0,
            waited_ms: 0,
            per_ip: vec![],
            source_ip: Some("auto".into()),
            occupancy_peak: None,
            time_wait_at_start: None,
            time_wait_own_peak: None,
            time_wait_own_end: None,
            kernel_time_wait_at_start: None,
        });
        assert_eq!(
            titles(&[quiet, busy.clone()]),
            ["summary", "connections", "latency by phase", "open loop (--rate)", "client ports"]
        );
        let summary = &sections(std::slice::from_ref(&busy))[0];
        assert!(summary.rows.iter().any(|f| f.label == "status 5xx"));
        assert_eq!(summary.notes, ["keepalive: WARNING: 1 of 1 responses (100.0%) were not 2xx: 5xx 1"]);
    }

    #[test]
    fn http3_runs_say_so_in_the_header_quic_rows_and_port_notes() {
        let mut h3 = fixture::mode_result(Mode::Keepalive);
        h3.http = Some(crate::mode::Http::Http3);
        h3.quic = Some(crate::record::result::QuicSummary { sent_packets: 9, rtt_us: Some(250), ..Default::default() });
        let mut tcp = fixture::mode_result(Mode::Keepalive);
        tcp.http = Some(crate::mode::Http::Http11);
        assert_eq!(spoken(std::slice::from_ref(&h3)), Some("HTTP/3"));
        assert_eq!(spoken(&[h3.clone(), tcp.clone()]), None, "the header names HTTP/3 when every mode spoke it");
        let all = sections(&[h3.clone(), tcp]);
        let connections = &all[1].rows;
        let rtt = connections.iter().find(|f| f.column == "quic_rtt_us").expect("a QUIC row");
        assert_eq!((rtt.of(&h3), rtt.of(&all_but_quic(&h3))), (Value::Micros(250), Value::Absent));
        let ports = all.iter().find(|s| s.title == "client ports").expect("QUIC says what it does with ports");
        assert!(ports.rows.is_empty());
        assert_eq!(ports.notes.len(), 1);
        assert!(ports.notes[0].starts_with("QUIC (keepalive): one UDP socket per engine thread"), "{:?}", ports.notes);
    }

    fn all_but_quic(run: &ModeResult) -> ModeResult {
        ModeResult { quic: None, ..run.clone() }
    }

    #[test]
    fn the_depth_row_says_what_was_in_flight_and_the_servers_limit_labelled_by_protocol() {
        let mut pipeline = fixture::mode_result(Mode::Pipeline);
        (pipeline.depth, pipeline.max_in_flight) = (16, Some(6));
        let mut multiplex = fixture::mode_result(Mode::Multiplex);
        (multiplex.depth, multiplex.max_in_flight, multiplex.max_concurrent_streams) = (16, Some(8), Some(8));
        let row = |runs: &[ModeResult]| {
            let figure = sections(runs)[0].rows.iter().find(|f| f.column == "depth").map(|f| f.label.clone());
            (figure, runs.iter().map(|r| depth_reached(runs).of(r).human()).collect::<Vec<_>>())
        };
        assert_eq!(
            row(std::slice::from_ref(&multiplex)),
            (Some("streams in flight, most".into()), vec!["8 of 16".into()])
        );
        let limit = |runs: &[ModeResult]| sections(runs)[0].rows.iter().any(|f| f.column == "max_concurrent_streams");
        assert!(limit(std::slice::from_ref(&multiplex)), "the server's limit has its row where it capped");
        assert_eq!(
            row(std::slice::from_ref(&pipeline)),
            (Some("requests in flight, most".into()), vec!["6 of 16".into()])
        );
        assert!(!limit(std::slice::from_ref(&pipeline)));
        let both = [pipeline, multiplex];
        assert_eq!(row(&both).0.as_deref(), Some("reqs/streams in flight"));
        // a result written before the figure was kept says only what was asked
        let mut old = both[0].clone();
        old.max_in_flight = None;
        assert_eq!(depth_reached(&both).of(&old).human(), "- of 16");
        assert_eq!((max_in_flight().of(&both[1]), max_concurrent_streams().of(&old)), (Value::Count(8), Value::Absent));
    }

    #[test]
    fn a_ramp_says_its_stages_and_where_achieved_fell_below_the_target() {
        use crate::record::result::Stages;
        use crate::stages::Stage;
        let mut run = fixture::mode_result(Mode::Keepalive);
        run.duration_s = 4.5;
        run.stages = Some(Stages { from: 0.0, stages: vec![Stage { duration_s: 4.5, rate: 900.0 }] });
        // each case: completed and due in seconds 1 to 5
        let ticks = |seconds: &[(u64, f64)]| {
            seconds
                .iter()
                .enumerate()
                .map(|(i, &(requests, due))| Tick {
                    t: i as u64 + 1,
                    requests,
                    target_rate: Some(due),
                    ..Tick::default()
                })
                .collect::<Vec<_>>()
        };
        // the first second and the last, cut short, never count; nor does a second with few due
        run.timeline = ticks(&[(1, 10.0), (19, 19.9), (300, 300.0), (500, 500.0), (10, 300.0)]);
        assert_eq!(knee(&run).map(|t| t.t), None);
        let notes = &sections(std::slice::from_ref(&run))[3].notes;
        assert_eq!(notes[0], "stages: 0 → 900/s over 4s 500ms");
        assert_eq!(notes[1], "keepalive: achieved kept within 95% of the target every second");
        run.timeline = ticks(&[(1, 10.0), (190, 200.0), (300, 300.0), (470, 500.0), (10, 300.0)]);
        assert_eq!(knee(&run).map(|t| t.t), Some(4), "190 of 200 is 95%; 470 of 500 is less");
        let notes = &sections(std::slice::from_ref(&run))[3].notes;
        assert_eq!(notes[1], "keepalive: achieved fell below 95% of the target in second 4: 470 completed of 500 due");
        assert_eq!(sections(&[run])[3].title, "open loop (--stages)");
    }

    #[test]
    fn only_nonzero_errors_are_listed() {
        let e = ErrorCounts { reset: 2, timeout: 1, ..ErrorCounts::default() };
        assert_eq!(error_breakdown(&e), "timeout 1, reset 2");
    }

    #[test]
    fn non_2xx_responses_are_flagged_with_their_classes() {
        let mut run = fixture::mode_result(Mode::Keepalive);
        for status in [200, 503, 503, 999] {
            run.status.count(status);
        }
        assert_eq!(non_2xx_warning(&run), "keepalive: WARNING: 3 of 4 responses (75.0%) were not 2xx: 5xx 2, other 1");
    }

    #[test]
    fn announced_limits_name_what_was_said() {
        let k = KeepAlive {
            limits_announced: 7,
            max: Some(3),
            timeout_s: Some(5),
            max_connections: 2,
            max_used_in_full: 1,
            ..KeepAlive::default()
        };
        assert_eq!(
            announced_limits(&k),
            "server announced Keep-Alive max=3 (4 requests per connection), timeout=5s on 7 responses; \
             1 of 2 connections used max in full"
        );
        let k = KeepAlive { max: None, max_connections: 0, ..k };
        assert_eq!(announced_limits(&k), "server announced Keep-Alive timeout=5s on 7 responses");
    }
}

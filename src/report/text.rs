//! The report for people: the modes side by side, one column each (Figure 4-18 of HTTP: The Definitive Guide, ch. 4, measured).

use std::io::{self, Write};

use crate::record::result::{ErrorCounts, Hist, KeepAlive, ModeResult, Ports, RunResult};

const LABEL: usize = 22;
const COLUMN: usize = 12;

pub fn write(result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    let runs = &result.runs;
    let status = if result.complete { "" } else { "  (interrupted: partial results)" };
    writeln!(out, "connbench {}  {}{status}", result.tool.version, result.target)?;
    writeln!(out)?;
    row(out, "", runs, |r| r.mode.name().to_string())?;
    row(out, "connections", runs, |r| r.connections.to_string())?;
    row(out, "pipeline depth", runs, |r| r.depth.to_string())?;
    row(out, "duration", runs, |r| format!("{:.2}s", r.duration_s))?;
    row(out, "requests", runs, |r| r.requests.to_string())?;
    row(out, "requests/s", runs, |r| format!("{:.1}", r.rps))?;
    row(out, "connections opened", runs, |r| r.connections_opened.to_string())?;
    row(out, "requests/connection", runs, |r| ratio(r.requests, r.connections_opened))?;
    for (phase, pick) in PHASES {
        row(out, &format!("{phase} p50"), runs, |r| stat(pick(r), |h| h.p50_us))?;
        row(out, &format!("{phase} p99"), runs, |r| stat(pick(r), |h| h.p99_us))?;
    }
    row(out, "total max", runs, |r| stat(&r.latency.total, |h| h.max_us))?;
    if runs.iter().any(|r| r.rate.is_some()) {
        row(out, "rate asked", runs, |r| r.rate.map_or("-".into(), |rate| format!("{rate}/s")))?;
        let uncorrected = |r: &ModeResult, pick: fn(&Hist) -> u64| {
            r.latency.total_uncorrected.as_ref().map_or("-".into(), |h| stat(h, pick))
        };
        row(out, "total p50, uncorrected", runs, |r| uncorrected(r, |h| h.p50_us))?;
        row(out, "total p99, uncorrected", runs, |r| uncorrected(r, |h| h.p99_us))?;
        row(out, "late starts", runs, |r| r.pacing.map_or("-".into(), |p| p.late_starts.to_string()))?;
        row(out, "missed (never sent)", runs, |r| r.pacing.map_or("-".into(), |p| p.missed.to_string()))?;
    }
    row(out, "total p50, new conn", runs, |r| stat(&r.latency.total_first, |h| h.p50_us))?;
    row(out, "total p50, reused", runs, |r| stat(&r.latency.total_reused, |h| h.p50_us))?;
    row(out, "closed by client", runs, |r| r.closed_by_client.to_string())?;
    row(out, "closed by server", runs, |r| r.closed_by_server.to_string())?;
    row(out, "closed by reset", runs, |r| r.closed_by_reset.to_string())?;
    row(out, "keep-alive declined", runs, |r| r.keep_alive.declined.to_string())?;
    row(out, "retries", runs, |r| r.retries.to_string())?;
    if runs.iter().any(|r| r.ports.is_some()) {
        let port = |r: &ModeResult, cell: fn(&Ports) -> String| r.ports.as_ref().map_or("-".into(), cell);
        // What the port governor did; occupancy and the TIME_WAIT it holds use the hold the kernel applies
        // (1 s where tcp_tw_reuse covers the tuple), the kernel's own count keeps every socket 60 s.
        row(out, "client IPs", runs, |r| port(r, client_ips))?;
        row(out, "new conns per IP, max", runs, |r| {
            port(r, |p| p.per_ip.iter().map(|i| i.opened).max().unwrap_or(0).to_string())
        })?;
        row(out, "port occupancy peak", runs, |r| {
            port(r, |p| p.occupancy_peak.map_or("-".into(), |o| format!("{:.1}%", 100.0 * o)))
        })?;
        row(out, "port wait", runs, |r| port(r, |p| micros(p.waited_ms * 1000)))?;
        row(out, "TIME_WAIT held, peak", runs, |r| port(r, |p| p.time_wait_peak.to_string()))?;
        row(out, "kernel TIME_WAIT (60s)", runs, |r| port(r, |p| p.kernel_time_wait_peak.to_string()))?;
    }
    row(out, "non-2xx", runs, |r| r.status.non_2xx().to_string())?;
    row(out, "errors", runs, |r| r.errors.total().to_string())?;
    // A server answering 503 to everything is fast and error-free: say so where nobody can miss it.
    for run in runs.iter().filter(|r| r.status.non_2xx() > 0) {
        writeln!(out, "  {}", non_2xx_warning(run))?;
    }
    if runs.iter().any(|r| r.in_flight_at_end > 0) {
        row(out, "in flight at end", runs, |r| r.in_flight_at_end.to_string())?;
    }
    for run in runs.iter().filter(|r| r.errors.total() > 0) {
        writeln!(out, "  {} errors: {}", run.mode.name(), error_breakdown(&run.errors))?;
    }
    for run in runs.iter().filter(|r| r.keep_alive.limits_announced > 0) {
        writeln!(out, "  {}: {}", run.mode.name(), announced_limits(&run.keep_alive))?;
    }
    Ok(())
}

fn row(out: &mut impl Write, label: &str, runs: &[ModeResult], cell: impl Fn(&ModeResult) -> String) -> io::Result<()> {
    write!(out, "{label:<LABEL$}")?;
    for run in runs {
        write!(out, "{:>COLUMN$}", cell(run))?;
    }
    writeln!(out)
}

/// How many client IPs, and how they were chosen (`auto`, `kernel`, `list`) where the result says.
fn client_ips(p: &Ports) -> String {
    match &p.source_ip {
        Some(source) => format!("{} {source}", p.client_ips.len()),
        None => p.client_ips.len().to_string(),
    }
}

fn ratio(requests: u64, connections: u64) -> String {
    if connections == 0 {
        "-".into()
    } else {
        format!("{:.2}", requests as f64 / connections as f64)
    }
}

type PhasePick = fn(&ModeResult) -> &Hist;

const PHASES: [(&str, PhasePick); 3] =
    [("connect", |r| &r.latency.connect), ("ttfb", |r| &r.latency.ttfb), ("total", |r| &r.latency.total)];

fn stat(h: &Hist, pick: fn(&Hist) -> u64) -> String {
    if h.count == 0 {
        "-".into()
    } else {
        micros(pick(h))
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

fn error_breakdown(e: &ErrorCounts) -> String {
    [
        ("refused", e.refused),
        ("timeout", e.timeout),
        ("reset", e.reset),
        ("addr_unavailable", e.addr_unavailable),
        ("fd_exhausted", e.fd_exhausted),
        ("truncated", e.truncated),
        ("parse", e.parse),
        ("closed_early", e.closed_early),
        ("h2_reset", e.h2_reset),
        ("other", e.other),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(name, n)| format!("{name} {n}"))
    .collect::<Vec<_>>()
    .join(", ")
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

    #[test]
    fn micros_pick_a_readable_unit() {
        assert_eq!(micros(87), "87µs");
        assert_eq!(micros(1250), "1.25ms");
        assert_eq!(micros(2_100_000), "2.10s");
    }

    #[test]
    fn only_nonzero_errors_are_listed() {
        let e = ErrorCounts { reset: 2, timeout: 1, ..ErrorCounts::default() };
        assert_eq!(error_breakdown(&e), "timeout 1, reset 2");
    }

    #[test]
    fn non_2xx_responses_are_flagged_with_their_classes() {
        let mut run = crate::record::result::fixture::mode_result(crate::mode::Mode::Keepalive);
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

//! `--rate`: requests start on a fixed schedule, and latency counts from it.

use std::process::Stdio;
use std::time::Duration;

use connbench::server::{ServerConfig, Stall};

use crate::util::{assert_consistent, binary, engines, on, only, run, server};

fn within_5_percent(measured: u64, want: u64) -> bool {
    measured.abs_diff(want) * 20 <= want
}

#[test]
fn a_rate_run_starts_rate_times_duration_requests() {
    for engine in engines() {
        let target = server(ServerConfig::default());
        let m = only(&run(&target, &on(engine, &["--rate", "200", "-d", "4s"]))).clone();
        assert_consistent(&m);
        assert!(within_5_percent(m.requests, 800), "{} requests", m.requests);
        assert_eq!((m.errors.total(), m.rate), (0, Some(200.0)));
        assert!(m.connections_opened < 50, "concurrency grows only as needed: {}", m.connections_opened);
        let uncorrected = m.latency.total_uncorrected.as_ref().expect("kept with --rate");
        assert_eq!(uncorrected.count, m.requests);
        // A fast server makes no start late, but a loaded 2-core machine (the whole suite runs at once) delays
        // some by more than 10 ms: the assertion is that the schedule is kept, not that no thread was descheduled.
        // A pacer that fell behind would make most starts late.
        let late = m.pacing.expect("reported with --rate").late_starts;
        assert!(late * 10 <= m.requests, "{late} late starts");
    }
}

#[test]
fn parallel_at_a_rate_opens_one_connection_per_request() {
    for engine in engines() {
        let target = server(ServerConfig::default());
        let m = only(&run(&target, &on(engine, &["--mode", "parallel", "--rate", "100", "-d", "3s"]))).clone();
        assert_consistent(&m);
        assert!(within_5_percent(m.requests, 300), "{} requests", m.requests);
        // One connection per request, including one still in flight when the window closed.
        assert_eq!((m.connections_opened, m.errors.total()), (m.requests + m.in_flight_at_end, 0), "{m:?}");
    }
}

#[test]
fn a_stall_shows_in_corrected_latency_and_not_in_uncorrected() {
    for engine in engines() {
        // One connection, so requests due during the 1 s stall queue behind it (wrk2's demonstration).
        let stall = Stall { after: 100, length: Duration::from_secs(1) };
        let target = server(ServerConfig { stall: Some(stall), ..ServerConfig::default() });
        let m = only(&run(&target, &on(engine, &["--rate", "100", "-d", "3s", "-c", "1"]))).clone();
        assert_consistent(&m);
        assert!(within_5_percent(m.requests, 300), "{} requests", m.requests);
        let corrected = &m.latency.total;
        let uncorrected = m.latency.total_uncorrected.as_ref().unwrap();
        assert!(corrected.p90_us > 300_000, "corrected p90 {} µs shows the stall", corrected.p90_us);
        assert!(uncorrected.p90_us < 100_000, "uncorrected p90 {} µs hides it", uncorrected.p90_us);
        let pacing = m.pacing.unwrap();
        assert!(pacing.late_starts >= 50 && pacing.max_lag_us > 500_000, "{pacing:?}");
    }
}

#[test]
fn no_progress_redraws_reach_stderr_off_a_terminal() {
    let out = binary()
        .args(["run", "--mode", "keepalive", "-d", "1s"])
        .env_remove("CI")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "stderr: {:?}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("keepalive"));
}

#[test]
fn every_request_due_in_the_window_is_completed_failed_in_flight_or_missed() {
    for engine in engines() {
        // Far more than two slow connections can carry: what they cannot start is missed, not dropped, and the
        // queue of what is due stays bounded even at a billion a second.
        let target = server(ServerConfig { delay: Duration::from_millis(50), ..ServerConfig::default() });
        for rate in ["100000", "1000000000"] {
            let began = std::time::Instant::now();
            let m = only(&run(&target, &on(engine, &["--rate", rate, "-d", "1s", "-c", "2", "--timeout", "200ms"])))
                .clone();
            assert!(began.elapsed() < Duration::from_millis(2500), "took {:?}", began.elapsed());
            assert_eq!(m.duration_s, 1.0);
            let missed = m.pacing.expect("reported with --rate").missed;
            let due: u64 = rate.parse().unwrap();
            assert_eq!(m.requests + m.errors.total() + m.in_flight_at_end + missed, due, "{m:?}");
            assert!(m.requests > 0 && missed > due / 2, "{} completed, {missed} missed", m.requests);
        }
    }
}

#[test]
fn missed_requests_are_gateable() {
    let out = binary()
        .args(["run", "--rate", "100000", "-d", "1s", "-c", "1", "--server-delay", "20ms", "--no-progress"])
        .args(["--check", "missed<1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("missed < 1") && stdout.contains("FAILED"), "{stdout}");
}

#[test]
fn in_flight_at_the_end_is_only_what_was_written_before_it() {
    for engine in engines() {
        // Far more due than the connections can carry from a fast server: at the deadline, in flight is what was
        // written and unanswered (at most connections × depth), and every other request due is missed.
        let target = server(ServerConfig::default());
        for (mode, connections, depth) in [("keepalive", 1u64, 1u64), ("pipeline", 2, 16)] {
            let (c, d) = (connections.to_string(), depth.to_string());
            let args = ["--mode", mode, "-c", &c, "--depth", &d, "--rate", "100000", "-d", "1s"];
            let m = only(&run(&target, &on(engine, &args))).clone();
            let missed = m.pacing.expect("reported with --rate").missed;
            assert!(m.in_flight_at_end <= connections * depth, "{mode}: {} in flight", m.in_flight_at_end);
            assert_eq!(m.requests + m.errors.total() + m.in_flight_at_end + missed, 100_000, "{mode}: {m:?}");
        }
    }
}

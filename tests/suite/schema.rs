use std::collections::BTreeSet;

use serde_json::Value;

use crate::util::binary;

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().expect("an object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A real result, checked against the names of docs/design.md §5 (schema_version 1).
#[test]
fn json_result_has_the_designed_names() {
    let out =
        binary().args(["run", "--mode", "serial", "-n", "20", "--format", "json"]).env("CI", "true").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON result alone");
    assert_eq!(
        keys(&json),
        // method: added within schema 1, so that merge can refuse results of different plans
        // notes: added within schema 1, warnings kept as data
        // request and plan: added within schema 1, so that a result says how it was made
        set(&[
            "schema_version",
            "tool",
            "complete",
            "started_at",
            "target",
            "method",
            "command",
            "request",
            "plan",
            "system",
            "runs",
            "notes"
        ])
    );
    assert_eq!(keys(&json["request"]), set(&["body_bytes", "headers"]));
    assert_eq!(keys(&json["plan"]), set(&["connections", "depth", "requests", "duration_s", "rate"]));
    assert_eq!((json["plan"]["requests"].as_u64(), json["request"]["body_bytes"].as_u64()), (Some(20), Some(0)));
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["tool"]["name"], "connbench");
    assert!(humantime::parse_rfc3339(json["started_at"].as_str().unwrap()).is_ok());
    assert_eq!(keys(&json["system"]), set(&["ip_local_port_range", "tcp_tw_reuse", "time_wait_secs"]));
    let run = &json["runs"][0];
    assert_eq!(
        keys(run),
        set(&[
            "mode",
            "connections",
            "depth",
            "duration_s",
            "rate",
            "requests",
            "status",
            // added within schema 1: responses by status code
            "status_codes",
            "errors",
            "retries",
            "in_flight_at_end",
            "rps",
            "bytes_received",
            "connections_opened",
            "closed_by_client",
            "closed_by_server",
            "closed_by_reset",
            // added within schema 1: the client's closes the server asked for, apart from its own; connections
            // the server ended without an answer; those the client ended over bytes nobody asked for
            "closed_on_server_request",
            "closed_unanswered",
            "closed_unsolicited",
            "keep_alive",
            // added within schema 1: the most requests in flight at once on one connection
            "max_in_flight",
            "latency",
            "pacing",
            "ports",
            "started_unix_ms",
            "timeline",
            // added within schema 1: the HTTP version spoken, and what drove the connections
            "http",
            "engine",
        ])
    );
    assert_eq!(run["mode"], "serial");
    assert_eq!(run["http"], "1.1");
    assert!(["tokio", "uring"].contains(&run["engine"].as_str().unwrap()), "{}", run["engine"]);
    assert!(run["pacing"].is_null() && run["rate"].is_null(), "closed loop: no schedule to report");
    // added within schema 1: what the server said about keeping connections, and the limit learned from it
    assert_eq!(
        keys(&run["keep_alive"]),
        set(&[
            "declined",
            "limits_announced",
            "max",
            "timeout_s",
            "max_connections",
            "max_used_in_full",
            "learned_limit",
            "capped_connections",
            "learned_limit_dropped"
        ])
    );
    // 1xx and other: added within schema 1
    assert_eq!(keys(&run["status"]), set(&["1xx", "2xx", "3xx", "4xx", "5xx", "other"]));
    assert_eq!(
        keys(&run["errors"]),
        set(&[
            "refused",
            "timeout",
            "reset",
            "addr_unavailable",
            "fd_exhausted",
            "truncated",
            "parse",
            "closed_early",
            "other",
            // added within schema 1: a TLS handshake failed
            "tls",
            "h2_reset",
            // added within schema 1: HTTP/3 over QUIC
            "h3_reset",
            "quic_handshake",
            "quic_idle_timeout",
            "quic_closed",
        ])
    );
    assert_eq!(keys(&run["latency"]), set(&["connect", "ttfb", "transfer", "total", "total_first", "total_reused"]));
    // p75_us and p95_us: added within schema 1
    let hist = set(&[
        "count", "min_us", "mean_us", "p50_us", "p75_us", "p90_us", "p95_us", "p99_us", "p999_us", "p9999_us",
        "max_us", "hdr",
    ]);
    for phase in ["connect", "ttfb", "transfer", "total", "total_first", "total_reused"] {
        assert_eq!(keys(&run["latency"][phase]), hist, "latency.{phase}");
    }
    assert_eq!(run["latency"]["total"]["count"], 20);
    assert_eq!(run["status_codes"], serde_json::json!({"200": 20}));
    // added within schema 1: client_ips, the client IPs in rotation at the end of each second; p50_us,
    // p99_us and the histogram (hdr) of the second's total latency; time_wait_own, this mode's own part of
    // time_wait; length_s, in a second the window ended in (20 requests take less than a second)
    assert_eq!(
        keys(&run["timeline"][0]),
        set(&[
            "t",
            "length_s",
            "requests",
            "errors",
            "opened",
            "time_wait",
            "kernel_time_wait",
            "time_wait_own",
            "client_ips",
            "p50_us",
            "p99_us",
            "hdr"
        ])
    );
    let length = run["timeline"][0]["length_s"].as_f64().unwrap();
    assert!(length > 0.0 && length < 1.0 && (length - run["duration_s"].as_f64().unwrap()).abs() < 0.001);
    // source_ip and occupancy_peak, and per_ip's held_peak: added within schema 1 (what the governor did);
    // so were the TIME_WAIT a mode began with and its own apart
    assert_eq!(
        keys(&run["ports"]),
        set(&[
            "policy",
            "client_ips",
            "time_wait_peak",
            "kernel_time_wait_peak",
            "waited_ms",
            "per_ip",
            "source_ip",
            "occupancy_peak",
            "time_wait_at_start",
            "time_wait_own_peak",
            "time_wait_own_end",
            "kernel_time_wait_at_start"
        ])
    );
    assert_eq!(keys(&run["ports"]["per_ip"][0]), set(&["ip", "opened", "held_peak"]));
    // The result type reads back what it wrote: compare and merge depend on it.
    let back: connbench::record::result::RunResult = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), json);
}

/// A result written before a field was added still loads: the added fields read as absent or zero.
#[test]
fn results_written_before_added_fields_still_load() {
    let out = binary().args(["run", "-n", "5", "-c", "1", "--format", "json"]).env("CI", "true").output().unwrap();
    let mut json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = json["runs"][0].as_object_mut().unwrap();
    for added in ["keep_alive", "pacing", "closed_on_server_request", "closed_unanswered", "closed_unsolicited"] {
        run.remove(added);
    }
    let status = run["status"].as_object_mut().unwrap();
    status.remove("1xx");
    status.remove("other");
    run.remove("status_codes");
    for phase in run["latency"].as_object_mut().unwrap().values_mut() {
        let hist = phase.as_object_mut().unwrap();
        hist.remove("p75_us");
        hist.remove("p95_us");
    }
    for added in ["method", "request", "plan"] {
        json.as_object_mut().unwrap().remove(added);
    }
    let old: connbench::record::result::RunResult = serde_json::from_value(json.clone()).unwrap();
    assert_eq!((old.runs[0].status.other, old.runs[0].status.s1xx, old.runs[0].status.s2xx), (0, 0, 5));
    assert!(old.runs[0].status_codes.is_empty() && old.request.is_none() && old.plan.is_none());
    // read back by a command, p75 and p95 come from the histogram, whole
    let dir = crate::util::scratch("old-result");
    let file = dir.join("old.json");
    std::fs::write(&file, serde_json::to_string(&json).unwrap()).unwrap();
    let (code, csv, stderr) = crate::util::connbench(&["report", file.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(code, 0, "{stderr}");
    let (header, row) = csv.split_once('\n').unwrap();
    let cell = |name| row.split(',').nth(header.split(',').position(|c| c == name).unwrap()).unwrap().to_string();
    let total = &old.runs[0].latency.total;
    assert!(cell("total_p95_us").parse::<u64>().unwrap() >= total.p90_us, "{csv}");
    assert!(cell("total_p75_us").parse::<u64>().unwrap() >= total.p50_us, "{csv}");
    std::fs::remove_dir_all(&dir).unwrap();
}

//! `connbench probe`: each finding comes out both ways against the embedded server's knobs, and a target
//! that cannot be probed exits 2.

use std::time::{Duration, Instant};

use connbench::server::{CloseAfter, ServerConfig, ServerThread};
use serde_json::Value;

use crate::util::{binary, raw_server, server};

/// Probes `target` with `args` and returns the JSON findings.
fn probe(target: &ServerThread, args: &[&str]) -> Value {
    let url = format!("http://{}/", target.addr);
    let out = binary().args(["probe", &url, "--format", "json"]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("stdout is the JSON findings")
}

#[test]
fn a_server_like_apache_with_five_more_and_a_one_second_timeout() {
    let target = server(ServerConfig {
        keep_alive_max: Some(5),
        keep_alive_timeout: Some(Duration::from_secs(1)),
        ..ServerConfig::default()
    });
    let began = Instant::now();
    let f = probe(&target, &["--max-time", "3s"]);
    assert!(began.elapsed() < Duration::from_secs(3), "bounded by --max-time: {:?}", began.elapsed());
    assert_eq!((f["http11_persistent"].as_bool(), f["http10_keep_alive"].as_bool()), (Some(true), Some(true)));
    assert_eq!(f["announced"]["keep_alive_max"], 5);
    assert_eq!(f["announced"]["keep_alive_timeout_s"], 1);
    assert_eq!(f["announced"]["max_counts_down"], true);
    assert_eq!(f["max_requests_per_connection"], 6, "max=5 on the first response: five more");
    let idle = f["idle_timeout_s"].as_f64().expect("measured");
    assert!((idle - 1.0).abs() <= 0.2, "idle timeout {idle} s");
    assert_eq!(f["pipelining"]["answered"], 4);
    assert_eq!(f["pipelining"]["in_order"], true);
    assert_eq!(
        (f["close"]["fin_after_close"].as_bool(), f["close"]["rst_on_unread"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(f["handshake_share"].as_f64().is_some_and(|s| s > 0.0 && s < 1.0));
    assert!(f["nagle"]["split_request_delay_ms"]["nodelay_on"].as_f64().is_some());
}

#[test]
fn a_server_that_closes_after_one_answer_or_resets() {
    let once = server(ServerConfig { close_after: Some(CloseAfter::exactly(1)), ..ServerConfig::default() });
    let f = probe(&once, &["--max-time", "2s"]);
    assert_eq!((f["http11_persistent"].as_bool(), f["http10_keep_alive"].as_bool()), (Some(false), Some(false)));
    assert_eq!(f["max_requests_per_connection"], 1);
    assert_eq!(f["pipelining"]["answered"], 1);
    assert_eq!(f["announced"]["keep_alive_max"], Value::Null);
    // RST instead of FIN whenever it closes: the book's warning about closing with unread data, and worse
    let resetting = server(ServerConfig { reset: true, ..ServerConfig::default() });
    let f = probe(&resetting, &["--max-time", "2s"]);
    assert_eq!(f["close"]["after_close"], "reset");
    assert_eq!(f["close"]["fin_after_close"], false);
    assert_eq!(f["close"]["rst_on_unread"], true);
}

#[test]
fn limits_not_reached_in_time_are_lower_bounds() {
    let target = server(ServerConfig::default());
    let f = probe(&target, &["--max-time", "1s", "--max-requests", "50"]);
    assert_eq!(
        (f["max_requests_per_connection"].clone(), f["max_requests_at_least"].clone()),
        (Value::Null, 50.into())
    );
    assert_eq!(f["idle_timeout_s"], Value::Null);
    assert!(f["idle_timeout_at_least_s"].as_f64().is_some_and(|s| s >= 0.5), "{}", f["idle_timeout_at_least_s"]);
}

#[test]
fn a_server_answering_pipelined_requests_one_by_one_is_serialized() {
    let target = server(ServerConfig { delay: Duration::from_millis(100), ..ServerConfig::default() });
    let f = probe(&target, &["--max-time", "3s", "--max-requests", "3"]);
    assert_eq!(f["pipelining"]["answered"], 4);
    assert_eq!(f["pipelining"]["serialized"], true, "{}", f["pipelining"]);
}

#[test]
fn a_target_that_cannot_be_probed_exits_2_saying_why() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let not_http = raw_server(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec());
    for (addr, why) in [(closed, "cannot connect"), (not_http, "SSH-2.0")] {
        let out = binary().args(["probe", &format!("http://{addr}/")]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
    }
}

#[test]
fn an_https_server_is_probed_with_its_tls_handshake_apart() {
    let (target, ca) = crate::util::tls_server(ServerConfig { keep_alive_max: Some(2), ..ServerConfig::default() });
    let url = format!("https://{}/", target.addr);
    let out = binary()
        .args(["probe", &url, "--format", "json", "--max-time", "2s", "--cacert", ca.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((f["http11_persistent"].as_bool(), f["max_requests_per_connection"].as_u64()), (Some(true), Some(3)));
    assert!(f["tls_handshake_us"].as_u64().is_some_and(|us| us > 0), "{f}");
    assert!(f["tls_share"].as_f64().is_some_and(|s| s > 0.0 && s < 1.0), "{f}");
    assert_eq!(f["close"]["fin_after_close"], true);
    // the embedded server answers HTTP/3 on the same port (over UDP) without advertising it, and takes 0-RTT
    let h3 = &f["http3"];
    assert_eq!(
        (h3["alt_svc"].as_str(), h3["advertised"].as_bool(), h3["answers"].as_bool()),
        (None, Some(false), Some(true))
    );
    assert!(h3["handshake_share"].as_f64().is_some_and(|s| s > 0.0 && s < 1.0), "{h3}");
    assert_eq!(h3["zero_rtt"], "accepted");
    // a plain http target has no HTTP/3 to ask about
    let plain = probe(&server(ServerConfig::default()), &["--max-time", "2s"]);
    assert!(plain.get("http3").is_none(), "{plain}");
    // without the CA: exit 2, before any request, saying how to trust it
    let out = binary().args(["probe", &url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--cacert"), "{stderr}");
}

#[test]
fn a_slow_server_gets_each_finding_its_share_and_nothing_it_did_not_fail_is_a_failure() {
    // 300 ms an answer: a 6 s budget measures some findings and not others, and ends on time.
    let target = server(ServerConfig { delay: Duration::from_millis(300), ..ServerConfig::default() });
    let began = Instant::now();
    let f = probe(&target, &["--max-time", "6s"]);
    assert!(began.elapsed() < Duration::from_secs(8), "ends within --max-time: {:?}", began.elapsed());
    // this server keeps every rule: each verdict is either measured true or not measured (null)
    for (finding, kept) in [
        ("http11_persistent", &f["http11_persistent"]),
        ("http10_keep_alive", &f["http10_keep_alive"]),
        ("fin_after_close", &f["close"]["fin_after_close"]),
        ("pipelining in order", &f["pipelining"]["in_order"]),
    ] {
        assert!(kept.is_null() || kept == true, "{finding}: {kept} in {f}");
    }
    assert!(!f["close"]["rst_on_unread"].as_bool().unwrap_or(false), "{f}");
    assert!(f["pipelining"].is_null() || f["pipelining"]["answered"] == 4, "{f}");
    assert_eq!(f["http11_persistent"], true, "the first finding has time enough for two answers");
    // and the text says which were not measured
    let url = format!("http://{}/", target.addr);
    let out = binary().args(["probe", &url, "--max-time", "3s"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('✗'), "{text}");
    assert!(text.lines().any(|l| l.starts_with('?') && l.ends_with("not measured")), "{text}");
}

#[test]
fn a_response_whose_body_never_ends_is_told_as_such() {
    // A head, then a body delimited by the close that goes on and on.
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = stream.read(&mut [0u8; 4096]);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                while stream.write_all(b"more and more\n").is_ok() {
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
    });
    let out = binary().args(["probe", &format!("http://{addr}/"), "--max-time", "1s"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("had not ended after 1.0 s") && stderr.contains("a 200 head"), "{stderr}");
    assert!(stderr.contains("ends only when the server closes the connection"), "{stderr}");
    assert!(!stderr.contains("no answer in time"), "{stderr}");
}

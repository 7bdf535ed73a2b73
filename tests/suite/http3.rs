//! `--http3`: every mode over HTTP/3 on QUIC against the embedded server's HTTP/3 (the same port, over UDP),
//! counted against its own figures; its limits (stream credit, GOAWAY, stream resets) each provoked, 0-RTT
//! on and off, the window, a signal, and what is refused before any load.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use connbench::plan::{Http, Mode};
use connbench::server::{ServerConfig, Stall};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::util::{
    assert_consistent, binary, connbench, only, raw_server, run_url, scratch, settled, tls_server, wait,
};

fn h3(addr: std::net::SocketAddr, ca: &std::path::Path, args: &[&str]) -> connbench::record::result::RunResult {
    let mut all = vec!["--http3", "--cacert", ca.to_str().unwrap()];
    all.extend_from_slice(args);
    run_url(&format!("https://{addr}/"), &all)
}

#[test]
fn every_mode_counts_over_http3_what_the_server_counts() {
    let (target, ca) = tls_server(ServerConfig::default());
    let result = h3(target.addr, &ca, &["--mode", "all", "-c", "3", "--depth", "4", "-n", "101"]);
    // pipeline has no meaning over HTTP/3: all is the other four
    let modes: Vec<_> = result.runs.iter().map(|m| m.mode).collect();
    assert_eq!(modes, [Mode::Serial, Mode::Parallel, Mode::Keepalive, Mode::Multiplex]);
    let mut opened = 0;
    for m in &result.runs {
        assert_consistent(m);
        assert_eq!((m.http, m.requests, m.errors.total(), m.retries), (Some(Http::Http3), 101, 0, 0), "{:?}", m.mode);
        let tls = m.tls.as_ref().expect("QUIC's TLS is reported");
        assert_eq!((tls.version.as_str(), tls.alpn.as_deref()), ("TLSv1.3", Some("h3")));
        assert_eq!(tls.handshakes_full + tls.handshakes_resumed, m.connections_opened, "{:?}", m.mode);
        // one handshake for transport and TLS: timed as connect, nothing as tls
        assert_eq!(m.latency.tls.as_ref().map_or(0, |h| h.count), 0);
        assert!(m.ports.is_none(), "QUIC holds no TCP port");
        let quic = m.quic.expect("QUIC's figures");
        assert!(quic.sent_packets > 0 && quic.rtt_us.is_some() && quic.zero_rtt_sent == 0, "{quic:?}");
        opened += m.connections_opened;
    }
    let [serial, parallel, keepalive, multiplex] = &result.runs[..] else { unreachable!() };
    // a connection per request, and the first mode counts the preflight's handshake, as the server does
    assert_eq!((serial.connections_opened, parallel.connections_opened), (102, 101), "a connection per request");
    assert_eq!((keepalive.connections_opened, multiplex.connections_opened), (3, 3));
    assert_eq!(multiplex.depth, 4);
    let s = settled(&target);
    assert_eq!((s.requests, s.responses, s.connections), (4 * 101, 4 * 101, opened));
    assert!(s.max_in_flight > 1 && s.max_in_flight <= 4, "multiplex: {} streams at once", s.max_in_flight);
}

#[test]
fn the_depth_is_held_to_the_servers_stream_credit_and_reported() {
    let (target, ca) = tls_server(ServerConfig { max_concurrent_streams: Some(3), ..ServerConfig::default() });
    let m = only(&h3(target.addr, &ca, &["--mode", "multiplex", "-c", "2", "--depth", "16", "-n", "300"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total(), m.retries), (300, 0, 0), "{:?}", m.errors);
    assert_eq!(m.max_concurrent_streams, Some(3));
    let s = settled(&target);
    assert_eq!(s.requests, 300);
    assert!((2..=3).contains(&s.max_in_flight), "server saw {} streams at once", s.max_in_flight);
}

#[test]
fn requests_rejected_after_a_goaway_are_sent_again_on_a_new_connection() {
    let (target, ca) = tls_server(ServerConfig { goaway_after: Some(40), ..ServerConfig::default() });
    let m = only(&h3(target.addr, &ca, &["--mode", "multiplex", "-c", "2", "--depth", "8", "-n", "400"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total()), (400, 0), "{:?}", m.errors);
    assert!(m.retries > 0, "streams past the 40th were rejected and re-sent");
    assert!(m.connections_opened >= 400 / 40, "{} connections", m.connections_opened);
    let s = settled(&target);
    assert_eq!(s.requests, 400, "every request processed once, none twice");
    assert_eq!(s.connections, m.connections_opened, "the preflight's handshake counted with the mode");
}

#[test]
fn a_stream_the_server_resets_is_an_h3_reset_error() {
    let (target, ca) = tls_server(ServerConfig { reset: true, ..ServerConfig::default() });
    let m = only(&h3(target.addr, &ca, &["--mode", "multiplex", "-c", "1", "--depth", "4", "-n", "20"])).clone();
    assert_eq!((m.requests, m.errors.h3_reset, m.errors.total(), m.retries), (0, 20, 20, 0), "{:?}", m.errors);
    // the one connection of -c 1, and the preflight's handshake counted with the mode
    assert_eq!(m.connections_opened, 2, "a reset stream leaves its connection open");
}

#[test]
fn zero_rtt_sends_the_first_request_early_only_when_asked_and_only_for_get() {
    let (target, ca) = tls_server(ServerConfig::default());
    let early = only(&h3(target.addr, &ca, &["--mode", "serial", "-n", "30", "--0rtt"])).clone();
    assert_consistent(&early);
    let quic = early.quic.unwrap();
    assert_eq!((early.requests, early.errors.total()), (30, 0), "{:?}", early.errors);
    // a connection without a ticket left (the last one closed before its tickets came) does a full handshake
    assert!(quic.zero_rtt_sent > 0, "{quic:?}");
    assert_eq!(quic.zero_rtt_accepted, quic.zero_rtt_sent, "the embedded server takes early data");
    let tls = early.tls.unwrap();
    assert_eq!(tls.handshakes_resumed, quic.zero_rtt_sent, "0-RTT goes on resumed sessions alone");
    let off = only(&h3(target.addr, &ca, &["--mode", "serial", "-n", "30"])).clone();
    assert_eq!((off.requests, off.quic.unwrap().zero_rtt_sent), (30, 0));
    // a POST could be replayed: it waits for the handshake, and the plan says so
    let post = h3(target.addr, &ca, &["--mode", "serial", "-n", "10", "--0rtt", "-X", "POST", "--body", "x"]);
    assert_eq!((post.runs[0].requests, post.runs[0].quic.unwrap().zero_rtt_sent), (10, 0));
    assert!(post.notes.iter().any(|n| n.text.contains("POST is not sent in 0-RTT")), "{:?}", post.notes);
    assert_eq!(settled(&target).requests, 70);
}

#[test]
fn the_window_cancels_streams_in_flight_and_counts_them() {
    // The 21st request waits 4 s: the 1 s window ends on time, that stream in flight, the others go on.
    let (target, ca) = tls_server(ServerConfig {
        stall: Some(Stall { after: 20, length: Duration::from_secs(4) }),
        ..ServerConfig::default()
    });
    let began = Instant::now();
    let m = only(&h3(target.addr, &ca, &["--mode", "multiplex", "-c", "2", "--depth", "4", "-d", "1s"])).clone();
    assert!(began.elapsed() < Duration::from_millis(2500), "took {:?}", began.elapsed());
    assert_eq!(m.duration_s, 1.0);
    assert!((1..=8).contains(&m.in_flight_at_end), "{} in flight", m.in_flight_at_end);
    assert!(m.requests > 20 && m.errors.total() == 0, "{} requests, {:?}", m.requests, m.errors);
    assert_eq!(m.latency.total.count, m.requests);
}

#[test]
fn sigterm_stops_an_http3_run_which_still_writes_what_it_measured() {
    let dir = scratch("http3-sigterm");
    let saved = dir.join("result.json");
    let mut child = binary()
        .args(["run", "--tls", "--http3", "--mode", "keepalive", "-c", "2", "-d", "30s", "--format", "json", "-o"])
        .arg(&saved)
        .env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let code = wait(&mut child, Duration::from_secs(15));
    assert_eq!(code, 143);
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    for text in [stdout, std::fs::read_to_string(&saved).unwrap()] {
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["complete"], false);
        assert_eq!(
            (json["runs"][0]["http"].as_str(), json["runs"][0]["mode"].as_str()),
            (Some("3"), Some("keepalive"))
        );
        assert!(json["runs"][0]["requests"].as_u64().unwrap() > 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn what_http3_cannot_do_is_refused_before_any_load() {
    // a TCP listener and no QUIC on its port: the handshake is tried, and named
    let tcp_only = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec());
    let url = format!("https://{tcp_only}/");
    // each case: the arguments, what the one-line error must say
    for (args, needle) in [
        (vec!["run", &url, "--http3", "-k", "--connect-timeout", "300ms", "-n", "5"], "does not answer QUIC"),
        (vec!["run", &url, "--http3", "--mode", "pipeline", "-n", "5"], "pipeline has no meaning over HTTP/3"),
        (vec!["run", "http://127.0.0.1:1/", "--http3", "-n", "5"], "use an https:// URL"),
        (vec!["run", "--http3", "-n", "5"], "use an https:// URL (or --tls"),
        (vec!["run", "--tls", "--0rtt", "-n", "5"], "--0rtt is for HTTP/3"),
        (vec!["run", "--tls", "--http-version", "2", "-n", "5"], "only --mode multiplex speaks HTTP/2"),
        (vec!["run", "--tls", "--http3", "--http1.0", "-n", "5"], "ask for different HTTP versions"),
        (vec!["run", "--tls", "--http3", "--close-by", "server", "-n", "5"], "no meaning over HTTP/3"),
        (vec!["run", "--tls", "--http3", "-H", "Connection: x", "-n", "5"], "set by the mode"),
        (vec!["run", "--tls", "--http3", "-H", "Keep-Alive: 5", "-n", "5"], "HTTP/3 forbids"),
    ] {
        let (code, _, stderr) = connbench(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: one line: {stderr}");
    }
}

#[test]
fn http_version_3_is_http3_and_the_report_says_so() {
    let (code, stdout, stderr) =
        connbench(&["run", "--tls", "--http-version", "3", "--mode", "keepalive", "-c", "2", "-n", "40"]);
    assert_eq!(code, 0, "{stderr}");
    let first = stdout.lines().next().unwrap();
    assert!(first.ends_with("(embedded server)  HTTP/3"), "{first}");
    assert!(stdout.contains("QUIC (keepalive): one UDP socket per engine thread"), "{stdout}");
    assert!(stdout.contains("keepalive tls: TLSv1.3 unknown, ALPN h3"), "{stdout}");
}

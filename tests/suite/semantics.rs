//! The seeds' connection rules, each against a server that provokes it, with the outcome counted.

use std::time::Duration;

use connbench::server::ServerConfig;

use crate::util::{assert_consistent, only, raw_server, run, run_at, server, settled};

#[test]
fn pipelined_requests_a_server_drops_are_retried_once_and_nothing_is_lost() {
    // The server answers 5 requests per connection, then closes with the rest unanswered.
    let target = server(ServerConfig { close_after: Some(5), ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "pipeline", "--depth", "10", "-c", "4", "-n", "1000"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total()), (1000, 0), "errors: {:?}", m.errors);
    assert!(m.retries > 0, "a pipelined connection was cut with requests queued");
    let s = settled(&target);
    assert_eq!(s.responses, 1000, "every request answered once, none twice");
    assert!(m.closed_by_server > 0);
}

#[test]
fn keep_alive_requests_on_a_silently_closed_connection_are_retried() {
    let target = server(ServerConfig { close_after: Some(3), ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "keepalive", "-c", "2", "-n", "200"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total()), (200, 0), "errors: {:?}", m.errors);
    assert!(m.retries > 0);
    assert_eq!(settled(&target).responses, 200);
}

#[test]
fn a_retry_that_fails_again_counts_one_error() {
    // close_after 0: the server closes every connection on the first request bytes, answering nothing.
    let target = server(ServerConfig { close_after: Some(0), ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "keepalive", "-c", "1", "-n", "5"])).clone();
    assert_eq!((m.requests, m.retries, m.errors.closed_early, m.errors.total()), (0, 5, 5, 5), "{:?}", m.errors);
    assert_eq!(m.connections_opened, 10, "each request: its first attempt and its one retry");
}

#[test]
fn non_idempotent_requests_are_never_pipelined_nor_retried() {
    let target = server(ServerConfig::default());
    let args = ["--mode", "pipeline", "--depth", "8", "-c", "2", "-n", "200", "-X", "POST", "--body", "x=1"];
    let m = only(&run(&target, &args)).clone();
    assert_eq!((m.depth, m.requests, m.errors.total()), (1, 200, 0));
    let s = settled(&target);
    assert_eq!((s.methods_post_overlap, s.max_in_flight), (0, 1), "never two POSTs in flight on a connection");

    // A server that closes after each response without saying so: the POST sent next is lost, and counted.
    let dropping = server(ServerConfig { close_after: Some(1), ..ServerConfig::default() });
    let m = only(&run(&dropping, &["--mode", "keepalive", "-c", "1", "-n", "20", "-X", "POST"])).clone();
    assert_consistent(&m);
    assert_eq!(m.retries, 0, "a POST is never sent twice");
    assert_eq!(m.requests + m.errors.total(), 20, "each request: one response or one error");
    assert!(m.errors.total() > 0);
    assert_eq!(m.errors.closed_early + m.errors.reset, m.errors.total(), "{:?}", m.errors);
    assert_eq!(settled(&dropping).responses, m.requests);
}

#[test]
fn announced_keep_alive_max_is_honoured_even_when_pipelining() {
    let target = server(ServerConfig { keep_alive_max: Some(3), ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "pipeline", "--depth", "16", "-c", "1", "-n", "300"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total(), m.retries), (300, 0, 0), "no request sent past max");
    assert_eq!(m.connections_opened, 100, "one connection per 3 requests");
    let k = &m.keep_alive;
    // the third response of each connection says `Connection: close` instead
    assert_eq!((k.max, k.limits_announced, k.declined), (Some(3), 200, 0));
    assert_eq!(settled(&target).requests, 300);
}

#[test]
fn announced_keep_alive_timeout_is_honoured() {
    // timeout=0: the server closes a connection the moment it is idle, so the client never reuses one.
    // (A request can still race the server's close of a fresh connection, so a retry may happen.)
    let target = server(ServerConfig { keep_alive_timeout: Some(Duration::ZERO), ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "keepalive", "-c", "2", "-n", "50"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total(), m.latency.total_reused.count), (50, 0, 0));
    assert_eq!(m.connections_opened, m.requests + m.retries, "one connection per attempt");
    assert_eq!(m.keep_alive.timeout_s, Some(0));
}

#[test]
fn http10_keep_alive_uses_only_c_connections_and_a_refusal_is_reported() {
    let target = server(ServerConfig { http10: true, ..ServerConfig::default() });
    let asked = only(&run(&target, &["--mode", "pipeline", "-c", "3", "-n", "300", "--http1.0"])).clone();
    assert_consistent(&asked);
    assert_eq!((asked.requests, asked.errors.total(), asked.keep_alive.declined), (300, 0, 0));
    assert!(asked.connections_opened <= 3);
    // Without --http1.0 the client does not ask for Keep-Alive, so this server closes every connection.
    let plain = only(&run(&target, &["--mode", "keepalive", "-c", "2", "-n", "20"])).clone();
    assert_eq!((plain.requests, plain.errors.total(), plain.connections_opened), (20, 0, 20));
    assert_eq!(plain.keep_alive.declined, 20, "the report says the server declined keep-alive");
}

#[test]
fn a_reset_between_requests_is_a_reconnect_but_a_reset_response_is_an_error() {
    let between = server(ServerConfig { reset: true, close_after: Some(1), ..ServerConfig::default() });
    let m = only(&run(&between, &["--mode", "keepalive", "-c", "1", "-n", "20"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total()), (20, 0), "errors: {:?}", m.errors);
    assert!(m.closed_by_reset > 0 && m.retries > 0);

    let mid_response = server(ServerConfig { reset: true, truncate: true, body_size: 5000, ..ServerConfig::default() });
    let m = only(&run(&mid_response, &["--mode", "keepalive", "-c", "1", "-n", "5"])).clone();
    assert_eq!((m.requests, m.errors.reset, m.errors.total(), m.retries), (0, 5, 5, 0));
    assert_eq!(m.closed_by_reset, 5);
}

#[test]
fn cut_bodies_are_truncated_never_completed() {
    for config in [
        ServerConfig { truncate: true, body_size: 1000, ..ServerConfig::default() },
        ServerConfig { truncate: true, chunked: true, body_size: 1000, ..ServerConfig::default() },
    ] {
        let target = server(config);
        let m = only(&run(&target, &["--mode", "pipeline", "-c", "1", "-n", "6"])).clone();
        assert_eq!((m.requests, m.errors.truncated, m.errors.total()), (0, 6, 6), "{:?}", m.errors);
        assert_eq!(m.closed_by_server, 6);
    }
}

#[test]
fn malformed_responses_are_parse_errors_and_the_run_goes_on() {
    let mut huge = b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec();
    huge.resize(70_000, b'a');
    huge.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    for reply in [
        b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 0\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(),
        huge,
    ] {
        let m = only(&run_at(raw_server(reply), &["--mode", "serial", "-n", "3"])).clone();
        assert_eq!((m.requests, m.errors.parse, m.errors.total(), m.connections_opened), (0, 3, 3, 3));
        assert_eq!(m.closed_by_client, 3, "the client closes a connection it cannot read");
    }
}

#[test]
fn a_target_that_never_accepts_gives_connect_timeouts_not_a_hang() {
    // Backlog 0: the first connection waits in the accept queue unanswered, later SYNs are dropped.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::new(0).unwrap()).unwrap();
    let args = ["--mode", "serial", "-n", "3", "--connect-timeout", "300ms", "--timeout", "300ms"];
    let m = only(&run_at(listener.local_addr().unwrap(), &args)).clone();
    assert_eq!((m.requests, m.errors.timeout, m.errors.total()), (0, 3, 3), "{:?}", m.errors);
    assert!(m.duration_s < 3.0, "took {} s", m.duration_s);
}

#[test]
fn a_stalled_server_cannot_stretch_a_run_past_duration_plus_timeout() {
    let target = server(ServerConfig { delay: Duration::from_secs(30), ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "pipeline", "-c", "2", "-d", "1s", "--timeout", "400ms"])).clone();
    assert_eq!(m.requests, 0);
    assert!(m.errors.timeout >= 2, "{:?}", m.errors);
    assert!(m.duration_s < 1.0 + 0.4 + 1.0, "took {} s", m.duration_s);
}

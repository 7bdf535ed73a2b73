//! The connection rules of HTTP: The Definitive Guide, ch. 4, each against a server that provokes it, with the
//! outcome counted.

use std::time::{Duration, Instant};

use connbench::record::result::NoteKind;
use connbench::server::{CloseAfter, ServerConfig, Stall};

use crate::util::{assert_consistent, engines, on, only, raw_server, run, run_at, server, settled};

#[test]
fn pipelined_requests_a_server_drops_are_retried_and_a_steady_limit_is_learned() {
    for engine in engines() {
        // The server answers 5 requests per connection, then closes with the rest unanswered.
        let target = server(ServerConfig { close_after: Some(CloseAfter::exactly(5)), ..ServerConfig::default() });
        let result = run(&target, &on(engine, &["--mode", "pipeline", "--depth", "10", "-c", "4", "-n", "1000"]));
        let m = only(&result).clone();
        assert_consistent(&m);
        assert_eq!((m.requests, m.errors.total()), (1000, 0), "errors: {:?}", m.errors);
        assert!(m.retries > 0, "a pipelined connection was cut with requests queued");
        let s = settled(&target);
        assert_eq!(s.responses, 1000, "every request answered once, none twice");
        assert!(m.closed_by_server > 0);
        // After three connections in a row closed after 5, each worker sends no more than 5 per connection, but for
        // a connection let run past it now and then (after 8, 16, 32 capped ones: 3 of this worker's ~50): at
        // most 6 early closes of up to 10 retries each per worker, where not learning costs ~1000.
        assert!(m.retries <= 4 * 6 * 10, "{} retries", m.retries);
        let k = &m.keep_alive;
        assert_eq!((k.learned_limit, k.learned_limit_dropped), (Some(5), 0), "every test confirmed it");
        assert!(k.capped_connections > 100, "{} connections capped", k.capped_connections);
        assert!(result.notes.iter().any(|n| n.kind == NoteKind::KeepAlive), "{:?}", result.notes);
    }
}

#[test]
fn a_learned_limit_the_server_lifts_mid_run_is_dropped() {
    // Five responses per connection on the first 40 connections (nginx with keepalive_requests 5), then none
    // (reloaded with a larger one): the limit learned from the first is refuted by a connection let run past
    // it, and later connections carry as many requests as the run has.
    let config = ServerConfig {
        close_after: Some(CloseAfter::exactly(5)),
        lift_close_after: Some(40),
        ..ServerConfig::default()
    };
    let target = server(config);
    let result = run(&target, &["--mode", "pipeline", "--depth", "10", "-c", "2", "-n", "20000"]);
    let m = only(&result).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total()), (20000, 0), "errors: {:?}", m.errors);
    // capped at 5 for good, the run would take 4,000 connections
    assert!(m.connections_opened < 100, "{} connections", m.connections_opened);
    let k = &m.keep_alive;
    assert_eq!(k.learned_limit, None, "no limit holds at the end");
    assert!(k.capped_connections > 0 && k.learned_limit_dropped >= 1, "{k:?}");
    let note = result.notes.iter().find(|n| n.kind == NoteKind::KeepAlive).expect("a note says what was capped");
    assert!(note.text.ends_with("no limit held at the end"), "{}", note.text);
}

#[test]
fn a_busy_moment_of_early_closes_does_not_cap_the_rest_of_the_run() {
    // A busy server closes the first connections after one response each, as Apache's event MPM does under
    // load, then keeps connections open: three in a row at 1 look like a rule, and must not stay one.
    let config = ServerConfig {
        close_after: Some(CloseAfter::exactly(1)),
        lift_close_after: Some(6),
        ..ServerConfig::default()
    };
    let target = server(config);
    for mode in ["keepalive", "pipeline"] {
        let m = only(&run(&target, &["--mode", mode, "-c", "2", "-n", "5000"])).clone();
        assert_consistent(&m);
        assert_eq!((m.requests, m.errors.total()), (5000, 0), "{mode}: {:?}", m.errors);
        assert!(m.connections_opened < 100, "{mode}: {} connections", m.connections_opened);
        assert_eq!(m.keep_alive.learned_limit, None, "{mode}");
    }
}

#[test]
fn a_server_closing_early_at_random_costs_no_errors_and_imposes_no_cap() {
    // A busy server closing each connection after 1 to 20 responses, without a word: the request it never
    // read goes again first on a new connection, and no connection is capped at what another carried.
    let target =
        server(ServerConfig { close_after: Some(CloseAfter { fewest: 1, most: 20 }), ..ServerConfig::default() });
    for args in [["--mode", "keepalive", "--depth", "1"], ["--mode", "pipeline", "--depth", "8"]] {
        let mut full = args.to_vec();
        full.extend(["-c", "4", "-n", "4000"]);
        let m = only(&run(&target, &full)).clone();
        assert_consistent(&m);
        assert_eq!((m.requests, m.errors.total()), (4000, 0), "{args:?}: {:?}", m.errors);
        assert!(m.retries > 0);
        // 1-20 answered per connection: 10.5 on average, so about 4000 / 10.5 = 381 connections
        let per_connection = m.requests as f64 / m.connections_opened as f64;
        assert!((8.5..=12.5).contains(&per_connection), "{args:?}: {per_connection:.2} requests per connection");
    }
}

#[test]
fn keep_alive_max_counts_down_as_apache_does_and_is_used_in_full() {
    // MaxKeepAliveRequests 5 in Apache's terms: max=5, 4, 3, 2, 1, then Connection: close on the sixth.
    let target = server(ServerConfig { http10: true, keep_alive_max: Some(5), ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "keepalive", "--http1.0", "-c", "1", "-n", "60"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total(), m.retries, m.connections_opened), (60, 0, 0, 10));
    let k = &m.keep_alive;
    assert_eq!((k.max, k.max_connections, k.max_used_in_full), (Some(5), 10, 10));
    assert_eq!(settled(&target).connections, 10);
}

#[test]
fn every_connection_of_c_opens_even_when_n_is_small() {
    let target = server(ServerConfig::default());
    for _ in 0..5 {
        let m = only(&run(&target, &["--mode", "keepalive", "-n", "50", "-c", "10"])).clone();
        assert_eq!((m.requests, m.connections_opened), (50, 10));
    }
}

#[test]
fn a_stalled_response_neither_stretches_the_window_nor_goes_uncounted() {
    for engine in engines() {
        // The 11th request waits 4 s: the -d 1s window ends on time, with that request in flight.
        let stall = Stall { after: 10, length: Duration::from_secs(4) };
        let target = server(ServerConfig { stall: Some(stall), ..ServerConfig::default() });
        let began = Instant::now();
        let m = only(&run(&target, &on(engine, &["--mode", "keepalive", "-c", "2", "-d", "1s"]))).clone();
        assert!(began.elapsed() < Duration::from_millis(2500), "took {:?}", began.elapsed());
        assert_eq!(m.duration_s, 1.0, "rps is per the window");
        // the stalled request, and the other connection's if it had one out at the deadline
        assert!((1..=2).contains(&m.in_flight_at_end), "{} in flight", m.in_flight_at_end);
        assert_eq!(m.errors.total(), 0);
        assert_eq!(m.rps, m.requests as f64);
    }
}

#[test]
fn a_response_that_ends_the_connection_ends_it_at_once() {
    for engine in engines() {
        // An HTTP/1.0 server that answers without Keep-Alive and keeps the socket open anyway.
        let addr = lingering_server(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec());
        let began = Instant::now();
        let m = only(&run_at(addr, &on(engine, &["--mode", "keepalive", "--http1.0", "-c", "1", "-n", "3"]))).clone();
        assert!(began.elapsed() < Duration::from_secs(2), "took {:?}", began.elapsed());
        assert_eq!((m.requests, m.errors.total(), m.connections_opened), (3, 0, 3));
        assert_eq!((m.closed_on_server_request, m.closed_by_client), (3, 0), "each close was the server's wish");
    }
}

#[test]
fn a_dead_server_is_retried_with_backoff_not_spun_on() {
    for engine in engines() {
        // A server that goes away after its first connection: the one connection it accepted keeps working, every
        // new connect is refused.
        let addr = lingering_server_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec());
        let m = only(&run_at(addr, &on(engine, &["--mode", "keepalive", "-c", "4", "-d", "1s"]))).clone();
        // Without backoff: tens of thousands of refused connects a second, starving the working connection. With
        // it, each of the three other workers waits 1 ms doubling to 100 ms: under 20 connects in a second.
        assert!(m.errors.refused > 0 && m.errors.refused <= 3 * 20, "{engine}: {:?}", m.errors);
        assert_eq!(m.errors.total(), m.errors.refused);
        assert!(m.requests > 100, "the working connection goes on: {} requests", m.requests);
    }
}

#[test]
fn keep_alive_requests_on_a_silently_closed_connection_are_retried() {
    for engine in engines() {
        let target = server(ServerConfig { close_after: Some(CloseAfter::exactly(3)), ..ServerConfig::default() });
        let m = only(&run(&target, &on(engine, &["--mode", "keepalive", "-c", "2", "-n", "200"]))).clone();
        assert_consistent(&m);
        assert_eq!((m.requests, m.errors.total()), (200, 0), "errors: {:?}", m.errors);
        assert!(m.retries > 0);
        assert_eq!(settled(&target).responses, 200);
    }
}

#[test]
fn a_retry_that_fails_again_counts_one_error() {
    for engine in engines() {
        // close_after 0: the server closes every connection on the first request bytes, answering nothing.
        let target = server(ServerConfig { close_after: Some(CloseAfter::exactly(0)), ..ServerConfig::default() });
        let m = only(&run(&target, &on(engine, &["--mode", "keepalive", "-c", "1", "-n", "5"]))).clone();
        assert_eq!(
            (m.requests, m.retries, m.errors.closed_early, m.errors.total()),
            (0, 5, 5, 5),
            "{engine}: {:?}",
            m.errors
        );
        assert_eq!(m.connections_opened, 10, "each request: its first attempt and its one retry");
    }
}

#[test]
fn non_idempotent_requests_are_never_pipelined_nor_retried() {
    for engine in engines() {
        let target = server(ServerConfig::default());
        let args = ["--mode", "pipeline", "--depth", "8", "-c", "2", "-n", "200", "-X", "POST", "--body", "x=1"];
        let m = only(&run(&target, &on(engine, &args))).clone();
        assert_eq!((m.depth, m.requests, m.errors.total()), (1, 200, 0));
        let s = settled(&target);
        assert_eq!((s.methods_post_overlap, s.max_in_flight), (0, 1), "never two POSTs in flight on a connection");

        // A server that closes after each response without saying so: the POST sent next is lost, and counted.
        let dropping = server(ServerConfig { close_after: Some(CloseAfter::exactly(1)), ..ServerConfig::default() });
        let m =
            only(&run(&dropping, &on(engine, &["--mode", "keepalive", "-c", "1", "-n", "20", "-X", "POST"]))).clone();
        assert_consistent(&m);
        assert_eq!(m.retries, 0, "a POST is never sent twice");
        assert_eq!(m.requests + m.errors.total(), 20, "each request: one response or one error");
        assert!(m.errors.total() > 0);
        assert_eq!(m.errors.closed_early + m.errors.reset, m.errors.total(), "{engine}: {:?}", m.errors);
        assert_eq!(settled(&dropping).responses, m.requests);
    }
}

#[test]
fn announced_keep_alive_max_is_honoured_even_when_pipelining() {
    for engine in engines() {
        let target = server(ServerConfig { keep_alive_max: Some(3), ..ServerConfig::default() });
        let m =
            only(&run(&target, &on(engine, &["--mode", "pipeline", "--depth", "16", "-c", "1", "-n", "300"]))).clone();
        assert_consistent(&m);
        assert_eq!((m.requests, m.errors.total(), m.retries), (300, 0, 0), "no request sent past max");
        assert_eq!(m.connections_opened, 75, "max=3 on the first response: three more, four per connection");
        let k = &m.keep_alive;
        // the fourth response of each connection says `Connection: close` instead
        assert_eq!((k.max, k.limits_announced, k.declined, k.max_used_in_full), (Some(3), 225, 0, 75));
        assert_eq!(settled(&target).requests, 300);
    }
}

#[test]
fn announced_keep_alive_timeout_is_honoured() {
    for engine in engines() {
        // timeout=0: the server closes a connection the moment it is idle, so the client never reuses one.
        // (A request can still race the server's close of a fresh connection, so a retry may happen.)
        let target = server(ServerConfig { keep_alive_timeout: Some(Duration::ZERO), ..ServerConfig::default() });
        let m = only(&run(&target, &on(engine, &["--mode", "keepalive", "-c", "2", "-n", "50"]))).clone();
        assert_consistent(&m);
        assert_eq!((m.requests, m.errors.total(), m.latency.total_reused.count), (50, 0, 0));
        assert_eq!(m.connections_opened, m.requests + m.retries, "one connection per attempt");
        assert_eq!(m.keep_alive.timeout_s, Some(0));
    }
}

#[test]
fn http10_keep_alive_uses_only_c_connections_and_a_refusal_is_reported() {
    let target = server(ServerConfig { http10: true, ..ServerConfig::default() });
    let asked = only(&run(&target, &["--mode", "pipeline", "-c", "3", "-n", "300", "--http1.0"])).clone();
    assert_consistent(&asked);
    assert_eq!((asked.requests, asked.errors.total(), asked.keep_alive.declined), (300, 0, 0));
    assert!(asked.connections_opened <= 3);
    // Without --http1.0 the client asks for keep-alive on each connection's first request only (an HTTP/1.1
    // connection persists unasked), so this server keeps each connection for two requests.
    let plain = only(&run(&target, &["--mode", "keepalive", "-c", "1", "-n", "20"])).clone();
    assert_eq!((plain.requests, plain.errors.total(), plain.connections_opened), (20, 0, 10));
    assert_eq!(plain.closed_on_server_request + plain.closed_by_server, 10);
    // A server that closes after each response, asked or not: the report says it declined keep-alive.
    let addr = lingering_server(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec());
    let declined = only(&run_at(addr, &["--mode", "keepalive", "-c", "1", "-n", "5"])).clone();
    assert_eq!((declined.requests, declined.connections_opened, declined.keep_alive.declined), (5, 5, 5));
}

#[test]
fn a_reset_between_requests_is_a_reconnect_but_a_reset_response_is_an_error() {
    for engine in engines() {
        let between =
            server(ServerConfig { reset: true, close_after: Some(CloseAfter::exactly(1)), ..ServerConfig::default() });
        let m = only(&run(&between, &on(engine, &["--mode", "keepalive", "-c", "1", "-n", "20"]))).clone();
        assert_consistent(&m);
        assert_eq!((m.requests, m.errors.total()), (20, 0), "errors: {:?}", m.errors);
        assert!(m.closed_by_reset > 0 && m.retries > 0);

        let mid_response =
            server(ServerConfig { reset: true, truncate: true, body_size: 5000, ..ServerConfig::default() });
        let m = only(&run(&mid_response, &on(engine, &["--mode", "keepalive", "-c", "1", "-n", "5"]))).clone();
        assert_eq!((m.requests, m.errors.reset, m.errors.total(), m.retries), (0, 5, 5, 0));
        assert_eq!(m.closed_by_reset, 5);
    }
}

#[test]
fn cut_bodies_are_truncated_never_completed() {
    for engine in engines() {
        for config in [
            ServerConfig { truncate: true, body_size: 1000, ..ServerConfig::default() },
            ServerConfig { truncate: true, chunked: true, body_size: 1000, ..ServerConfig::default() },
        ] {
            let target = server(config);
            let m = only(&run(&target, &on(engine, &["--mode", "pipeline", "-c", "1", "-n", "6"]))).clone();
            assert_eq!((m.requests, m.errors.truncated, m.errors.total()), (0, 6, 6), "{engine}: {:?}", m.errors);
            assert_eq!(m.closed_by_server, 6);
        }
    }
}

#[test]
fn malformed_responses_are_parse_errors_and_the_run_goes_on() {
    for engine in engines() {
        let mut huge = b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec();
        huge.resize(70_000, b'a');
        huge.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        for reply in [
            b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 0\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(),
            huge,
        ] {
            let m = only(&run_at(raw_server(reply), &on(engine, &["--mode", "serial", "-n", "3"]))).clone();
            assert_eq!((m.requests, m.errors.parse, m.errors.total(), m.connections_opened), (0, 3, 3, 3));
            assert_eq!(m.closed_by_client, 3, "the client closes a connection it cannot read");
        }
    }
}

#[test]
fn a_target_that_never_accepts_gives_connect_timeouts_not_a_hang() {
    for engine in engines() {
        // Backlog 0: the first connection waits in the accept queue unanswered, later SYNs are dropped.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::new(0).unwrap()).unwrap();
        let args = ["--mode", "serial", "-n", "3", "--connect-timeout", "300ms", "--timeout", "300ms"];
        let m = only(&run_at(listener.local_addr().unwrap(), &on(engine, &args))).clone();
        assert_eq!((m.requests, m.errors.timeout, m.errors.total()), (0, 3, 3), "{engine}: {:?}", m.errors);
        assert!(m.duration_s < 3.0, "took {} s", m.duration_s);
    }
}

#[test]
fn a_stalled_server_gives_timeouts_inside_the_window() {
    for engine in engines() {
        let target = server(ServerConfig { delay: Duration::from_secs(30), ..ServerConfig::default() });
        let m = only(&run(&target, &on(engine, &["--mode", "pipeline", "-c", "2", "-d", "1s", "--timeout", "400ms"])))
            .clone();
        assert_eq!(m.requests, 0);
        assert!(m.errors.timeout >= 2, "{engine}: {:?}", m.errors);
        assert_eq!(m.duration_s, 1.0);
    }
}

/// Answers every request (one per read) with `reply` and keeps each connection open until the client closes it.
fn lingering_server(reply: Vec<u8>) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let reply = reply.clone();
            std::thread::spawn(move || answer_each_read(stream, &reply));
        }
    });
    addr
}

/// Like [`lingering_server`], but the listener closes after its first connection.
fn lingering_server_once(reply: Vec<u8>) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            drop(listener);
            answer_each_read(stream, &reply);
        }
    });
    addr
}

fn answer_each_read(mut stream: std::net::TcpStream, reply: &[u8]) {
    let mut request = [0u8; 4096];
    while matches!(std::io::Read::read(&mut stream, &mut request), Ok(n) if n > 0) {
        let _ = std::io::Write::write_all(&mut stream, reply);
    }
}

#[test]
fn connections_that_cannot_have_a_descriptor_are_refused_before_any_load() {
    // A hard limit of 200 open files cannot hold 1000 connections (2000 with the embedded server in-process).
    let out = std::process::Command::new("bash")
        .args(["-c", "ulimit -n 200 && exec \"$0\" run --mode keepalive -c 1000 -d 1s --no-progress"])
        .arg(env!("CARGO_BIN_EXE_connbench"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("-c 1000") && stderr.contains("RLIMIT_NOFILE") && stderr.contains("200"), "{stderr}");
    assert!(out.stdout.is_empty(), "no load, no report");
}

#[test]
fn a_window_that_ends_before_any_request_is_written_has_none_in_flight() {
    for engine in engines() {
        let target = server(ServerConfig::default());
        let m = only(&run(&target, &on(engine, &["--mode", "keepalive", "-c", "2", "-d", "1ns"]))).clone();
        assert_eq!(
            (m.requests, m.errors.total(), m.in_flight_at_end),
            (0, 0, 0),
            "a request never sent is not in flight"
        );
    }
}

#[test]
fn a_response_slower_than_the_timeout_is_never_a_success() {
    for engine in engines() {
        let target = server(ServerConfig::default());
        for mode in ["keepalive", "pipeline", "serial"] {
            let m =
                only(&run(&target, &on(engine, &["--mode", mode, "--timeout", "1ns", "-n", "100", "-c", "2"]))).clone();
            assert_eq!((m.requests, m.errors.timeout, m.errors.total()), (0, 100, 100), "{mode}: {:?}", m.errors);
        }
    }
}

#[test]
fn a_server_that_closes_without_answering_is_backed_off_not_stormed() {
    for engine in engines() {
        // Accept, then close (or reset) on the first request bytes, answering nothing: a load balancer with no
        // backend. Each worker waits before reconnecting, as after a refused connect.
        for reset in [false, true] {
            let config = ServerConfig { close_after: Some(CloseAfter::exactly(0)), reset, ..ServerConfig::default() };
            let target = server(config);
            let m = only(&run(&target, &on(engine, &["--mode", "keepalive", "-c", "2", "-d", "1s"]))).clone();
            assert_eq!(m.requests, 0);
            // 1 ms doubling to 100 ms: about 15 connections per worker in a second, where a storm opens thousands
            assert!(m.connections_opened <= 2 * 30, "reset {reset}: {} connections", m.connections_opened);
            assert!(m.errors.total() > 0, "{engine}: {:?}", m.errors);
            assert_eq!(m.closed_unanswered, m.connections_opened, "reset {reset}");
        }
        // and the result says so, with exit 0 left to the gates
        let target = server(ServerConfig { close_after: Some(CloseAfter::exactly(0)), ..ServerConfig::default() });
        let result = run(&target, &on(engine, &["--mode", "serial", "-n", "5"]));
        let note = result.notes.iter().find(|n| n.kind == NoteKind::Unanswered).expect("a note");
        assert!(
            note.text.starts_with("10 of 10 connections were closed") && !note.text.contains("  "),
            "{}",
            note.text
        );
    }
}

#[test]
fn a_server_that_answers_each_request_twice_is_noted() {
    for engine in engines() {
        // Two responses to every request: the second matches no request, so the client closes the connection
        // (it can no longer tell which response answers what) and says why.
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".repeat(2);
        let result = run_at(lingering_server(reply), &on(engine, &["--mode", "keepalive", "-c", "1", "-n", "20"]));
        let m = only(&result).clone();
        assert_consistent(&m);
        assert_eq!((m.requests, m.errors.total(), m.connections_opened, m.closed_unsolicited), (20, 0, 20, 20));
        let note = result.notes.iter().find(|n| n.kind == NoteKind::Unsolicited).expect("the reconnects are explained");
        assert!(note.text.contains("on 20 connections") && !note.text.contains("  "), "{}", note.text);
    }
}

#[test]
fn closes_the_server_asked_for_are_counted_apart_from_the_clients_own() {
    for engine in engines() {
        // Keep-Alive max=3: the fourth response of each connection says Connection: close, and the client closes
        // at once; the connections it closes of its own accord are the serial ones it is done with.
        let target = server(ServerConfig { keep_alive_max: Some(3), ..ServerConfig::default() });
        let m = only(&run(&target, &on(engine, &["--mode", "keepalive", "-c", "1", "-n", "40"]))).clone();
        assert_eq!(m.connections_opened, 10);
        assert_eq!(m.closed_on_server_request + m.closed_by_server, 10, "{m:?}");
        assert_eq!((m.closed_by_client, m.closed_by_reset), (0, 0));
        let m = only(&run(&target, &on(engine, &["--mode", "serial", "-n", "5"]))).clone();
        assert_eq!((m.closed_by_client, m.closed_on_server_request), (5, 0));
    }
}

#[test]
fn a_connections_first_request_asks_for_keep_alive_so_a_server_announces_its_limit() {
    // A server that says `Keep-Alive: max` only when asked (Apache): asked on each connection's first request,
    // it announces its limit, and no pipelined request goes past it, where learning it costs retries.
    let config = ServerConfig { keep_alive_max: Some(5), keep_alive_if_asked: true, ..ServerConfig::default() };
    let target = server(config);
    let m = only(&run(&target, &["--mode", "pipeline", "--depth", "16", "-c", "1", "-n", "600"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total(), m.retries), (600, 0, 0));
    assert_eq!(m.connections_opened, 100, "max=5 on the first response: six requests per connection");
    let k = &m.keep_alive;
    assert_eq!((k.max, k.limits_announced, k.max_used_in_full), (Some(5), 100, 100), "{k:?}");
}

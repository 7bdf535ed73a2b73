use connbench::plan::Mode;
use connbench::record::result::NoteKind;
use connbench::server::ServerConfig;

use crate::util::{assert_consistent, engines, on, only, run, server, settled};

#[test]
fn serial_opens_one_connection_per_request_and_closes_first() {
    for engine in engines() {
        let target = server(ServerConfig::default());
        let m = only(&run(&target, &on(engine, &["--mode", "serial", "-n", "200"]))).clone();
        assert_consistent(&m);
        assert_eq!((m.mode, m.connections, m.requests, m.errors.total()), (Mode::Serial, 1, 200, 0), "{engine}");
        assert_eq!(m.connections_opened, 200, "{engine}");
        assert_eq!(m.closed_by_client, 200, "{engine}: --close-by client (the default) closes first");
        assert_eq!(m.latency.total_first.count, 200);
        let s = settled(&target);
        assert_eq!((s.requests, s.connections, s.closed_by_server), (200, 200, 0), "{engine}");
    }
}

#[test]
fn close_by_server_asks_for_close_and_waits_for_the_servers_fin() {
    for engine in engines() {
        let target = server(ServerConfig::default());
        let m = only(&run(&target, &on(engine, &["--mode", "serial", "-n", "50", "--close-by", "server"]))).clone();
        assert_consistent(&m);
        let closes = (m.requests, m.connections_opened, m.closed_by_server, m.closed_by_client);
        assert_eq!(closes, (50, 50, 50, 0), "{engine}");
        assert_eq!(settled(&target).closed_by_server, 50, "{engine}");
    }
}

#[test]
fn parallel_runs_connections_at_once_one_request_each() {
    for engine in engines() {
        let target = server(ServerConfig::default());
        let m = only(&run(&target, &on(engine, &["--mode", "parallel", "-c", "8", "-n", "300"]))).clone();
        assert_consistent(&m);
        assert_eq!((m.connections, m.requests, m.connections_opened, m.errors.total()), (8, 300, 300, 0), "{engine}");
        let s = settled(&target);
        assert_eq!((s.requests, s.connections), (300, 300), "{engine}");
    }
}

#[test]
fn keepalive_reuses_at_most_c_connections() {
    for engine in engines() {
        let target = server(ServerConfig::default());
        let m = only(&run(&target, &on(engine, &["--mode", "keepalive", "-c", "8", "-n", "1000"]))).clone();
        assert_consistent(&m);
        assert_eq!((m.requests, m.errors.total()), (1000, 0), "{engine}");
        assert!(m.connections_opened <= 8, "{engine}: opened {}", m.connections_opened);
        assert_eq!(m.latency.total_first.count, m.connections_opened);
        let s = settled(&target);
        assert_eq!((s.requests, s.connections), (1000, m.connections_opened), "{engine}");
        assert_eq!(s.max_in_flight, 1, "{engine}: keep-alive never pipelines");
    }
}

#[test]
fn pipeline_keeps_depth_requests_in_flight_and_matches_in_order() {
    for engine in engines() {
        let target = server(ServerConfig::default());
        let args = ["--mode", "pipeline", "-c", "4", "--depth", "8", "-n", "2000"];
        let m = only(&run(&target, &on(engine, &args))).clone();
        assert_consistent(&m);
        assert_eq!((m.depth, m.requests, m.errors.total()), (8, 2000, 0), "{engine}");
        assert!(m.connections_opened <= 4);
        let s = settled(&target);
        assert_eq!((s.requests, s.connections), (2000, m.connections_opened), "{engine}");
        assert!(s.max_in_flight > 1 && s.max_in_flight <= 8, "{engine}: server saw {} in flight", s.max_in_flight);
    }
}

#[test]
fn exactly_n_requests_reach_the_server_in_every_mode_all_five() {
    // An odd N that no connection count divides: no overshoot from requests in flight at the end.
    for engine in engines() {
        let target = server(ServerConfig::default());
        let result = run(&target, &on(engine, &["--mode", "all", "-c", "7", "--depth", "5", "-n", "503"]));
        assert_eq!(result.runs.iter().map(|m| m.mode).collect::<Vec<_>>(), Mode::ALL);
        for m in &result.runs {
            assert_consistent(m);
            assert_eq!((m.requests, m.errors.total()), (503, 0), "{engine}: {:?}", m.mode);
        }
        let opened: u64 = result.runs.iter().map(|m| m.connections_opened).sum();
        let s = settled(&target);
        assert_eq!((s.requests, s.connections), (5 * 503, opened), "{engine}");
        assert!(result.complete);
        // Multiplex has only the tokio engine: asked for io_uring, the result says so.
        let noted = result.notes.iter().any(|n| n.kind == NoteKind::Engine && n.mode == Some(Mode::Multiplex));
        assert_eq!(noted, engine == "uring", "{engine}: {:?}", result.notes);
    }
}

#[test]
fn a_duration_run_stops_on_time() {
    for engine in engines() {
        let target = server(ServerConfig::default());
        let m = only(&run(&target, &on(engine, &["--mode", "keepalive", "-c", "4", "-d", "1s"]))).clone();
        assert_consistent(&m);
        assert!(m.requests > 0 && m.errors.total() == 0, "{engine}");
        assert!((1.0..2.0).contains(&m.duration_s), "{engine}: ran {} s", m.duration_s);
        assert_eq!(m.timeline.iter().map(|t| t.requests).sum::<u64>(), m.requests);
        // What the server answered was completed, or in flight at the end of the window.
        let s = settled(&target);
        assert!(m.requests <= s.responses && s.responses <= m.requests + m.in_flight_at_end, "{engine}: {s:?}");
    }
}

#[test]
fn http10_keepalive_is_kept_only_when_asked() {
    let target = server(ServerConfig { http10: true, ..ServerConfig::default() });
    // HTTP/1.1 requests to an HTTP/1.0 server: only the first on each connection asks for keep-alive, so it
    // closes after the second response, and the client follows.
    let plain = only(&run(&target, &["--mode", "keepalive", "-c", "1", "-n", "20"])).clone();
    assert_consistent(&plain);
    assert_eq!((plain.requests, plain.connections_opened), (20, 10));
    assert_eq!(plain.closed_by_server + plain.closed_on_server_request, 10);
    // With --http1.0 the client asks for Keep-Alive and the server keeps the connection.
    let asked = only(&run(&target, &["--mode", "keepalive", "-c", "2", "-n", "20", "--http1.0"])).clone();
    assert_consistent(&asked);
    assert_eq!((asked.requests, asked.errors.total()), (20, 0));
    assert!(asked.connections_opened <= 2);
}

#[test]
fn server_closing_between_requests_is_normal() {
    // keep_alive_max announces the close with the last response, so nothing is lost: max=3 allows 3 more
    // after the first, so 30 requests take 8 connections, the last one cut short by -n.
    let target = server(ServerConfig { keep_alive_max: Some(3), ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "keepalive", "-c", "1", "-n", "30"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total(), m.retries, m.connections_opened), (30, 0, 0, 8));
    assert_eq!((m.keep_alive.max_connections, m.keep_alive.max_used_in_full), (8, 7));
}

#[test]
fn bodies_chunked_large_and_head_are_read_whole() {
    let big = server(ServerConfig { body_size: 200_000, ..ServerConfig::default() });
    let chunked = server(ServerConfig { chunked: true, body_size: 5000, ..ServerConfig::default() });
    for engine in engines() {
        let m = only(&run(&big, &on(engine, &["--mode", "keepalive", "-c", "2", "-n", "20"]))).clone();
        assert_consistent(&m);
        assert_eq!((m.requests, m.errors.total()), (20, 0), "{engine}");
        assert!(m.bytes_received >= 20 * 200_000);
        let m = only(&run(&chunked, &on(engine, &["--mode", "pipeline", "-c", "2", "-n", "100"]))).clone();
        assert_eq!((m.requests, m.errors.total()), (100, 0), "{engine}");
        let m = only(&run(&big, &on(engine, &["--mode", "keepalive", "-c", "1", "-n", "5", "-X", "HEAD"]))).clone();
        assert_eq!((m.requests, m.errors.total()), (5, 0), "{engine}");
        assert!(m.bytes_received < 5 * 1000, "{engine}: HEAD responses carry no body");
    }
}

#[test]
fn statuses_are_counted_by_class() {
    let target = server(ServerConfig { status: 404, ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "keepalive", "-c", "2", "-n", "10"])).clone();
    assert_eq!((m.requests, m.status.s4xx, m.status.s2xx, m.errors.total()), (10, 10, 0, 0));
}

#[test]
fn posts_send_their_body() {
    let target = server(ServerConfig::default());
    let m =
        only(&run(&target, &["--mode", "keepalive", "-c", "1", "-n", "10", "-X", "POST", "--body", "hello"])).clone();
    assert_eq!((m.requests, m.errors.total()), (10, 0));
    assert_eq!(settled(&target).requests, 10);
}

#[test]
fn a_silent_server_is_a_timeout_not_a_hang() {
    let target = server(ServerConfig { delay: std::time::Duration::from_secs(5), ..ServerConfig::default() });
    for engine in engines() {
        let m = only(&run(&target, &on(engine, &["--mode", "serial", "-n", "2", "--timeout", "200ms"]))).clone();
        assert_eq!((m.requests, m.errors.timeout), (0, 2), "{engine}");
        assert!(m.duration_s < 2.0, "{engine}: took {} s", m.duration_s);
    }
}

#[test]
fn truncated_bodies_are_errors_not_responses() {
    let target = server(ServerConfig { truncate: true, body_size: 1000, ..ServerConfig::default() });
    for engine in engines() {
        let m = only(&run(&target, &on(engine, &["--mode", "keepalive", "-c", "1", "-n", "5"]))).clone();
        assert_eq!((m.requests, m.errors.truncated, m.errors.total()), (0, 5, 5), "{engine}");
        assert_eq!(m.closed_by_server, 5, "{engine}");
    }
}

#[test]
fn every_connection_of_c_opens_at_the_start_of_a_duration_run_in_every_mode() {
    // 192 connects at once: a listen queue of 128 would drop the SYNs beyond it, and those connects would
    // wait a second for the retransmission, past this window.
    let target = server(ServerConfig::default());
    for engine in engines() {
        for mode in ["keepalive", "pipeline", "multiplex"] {
            let m = only(&run(&target, &on(engine, &["--mode", mode, "-c", "192", "-d", "1s"]))).clone();
            assert_eq!(m.connections_opened, 192, "{engine}: {mode}");
            assert_eq!(m.timeline[0].opened, 192, "{engine}: {mode}: all in the first second");
        }
    }
}

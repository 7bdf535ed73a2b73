use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use connbench::net::tls::{Identity, Version};
use connbench::plan::Mode;
use connbench::server::ServerConfig;

use crate::util::{assert_consistent, connbench, engines, on, run_url, settled, tls_server, tls_server_with};

pub fn https(addr: SocketAddr) -> String {
    format!("https://{addr}/")
}

/// The embedded server's TLS configuration for `version` (None: 1.3 and 1.2), to shape further.
pub fn tls_config(identity: Identity, version: Option<Version>) -> rustls::ServerConfig {
    (*identity.server_config(version).expect("a TLS configuration")).clone()
}

#[test]
fn every_mode_counts_over_tls_what_the_server_counts() {
    for engine in engines() {
        let (target, ca) = tls_server(ServerConfig::default());
        let ca = ca.to_str().unwrap();
        let result = run_url(
            &https(target.addr),
            &on(engine, &["--cacert", ca, "--mode", "all", "-c", "3", "--depth", "4", "-n", "101"]),
        );
        assert_eq!(result.runs.iter().map(|m| m.mode).collect::<Vec<_>>(), Mode::ALL);
        let (mut opened, mut full, mut resumed) = (0, 0, 0);
        for m in &result.runs {
            assert_consistent(m);
            assert_eq!((m.requests, m.errors.total()), (101, 0), "{engine}: {:?}", m.mode);
            let tls = m.tls.as_ref().expect("an https run reports its TLS");
            // HTTP/2 over TLS is chosen in the handshake: multiplex offers h2, the others http/1.1
            let alpn = if m.mode == Mode::Multiplex { "h2" } else { "http/1.1" };
            assert_eq!((tls.version.as_str(), tls.alpn.as_deref(), tls.insecure), ("TLSv1.3", Some(alpn), false));
            // one handshake per connection, timed apart from connect
            assert_eq!(tls.handshakes_full + tls.handshakes_resumed, m.connections_opened, "{:?}", m.mode);
            assert_eq!(m.latency.tls.as_ref().unwrap().count, m.connections_opened);
            // the first request on a connection pays both handshakes
            assert!(m.latency.total_first.min_us >= m.latency.tls.as_ref().unwrap().min_us);
            (opened, full, resumed) =
                (opened + m.connections_opened, full + tls.handshakes_full, resumed + tls.handshakes_resumed);
        }
        let s = settled(&target);
        assert_eq!(
            (s.requests, s.connections),
            (5 * 101, opened),
            "the preflight's connection is the first mode's first"
        );
        assert_eq!((s.tls_full, s.tls_resumed, s.tls_failed), (full, resumed, 0));
    }
}

#[test]
fn serial_connections_resume_with_tickets_and_not_without() {
    for engine in engines() {
        let (target, ca) = tls_server(ServerConfig::default());
        let url = https(target.addr);
        let ca = ca.to_str().unwrap();
        let resuming = run_url(&url, &on(engine, &["--cacert", ca, "--mode", "serial", "-n", "30"]));
        let tls = resuming.runs[0].tls.clone().unwrap();
        // the first connection has no ticket yet; each later one uses a ticket the one before it received
        assert_eq!((tls.handshakes_full, tls.handshakes_resumed), (1, 29));
        let fresh =
            run_url(&url, &on(engine, &["--cacert", ca, "--mode", "serial", "-n", "30", "--tls-resume", "false"]));
        let tls = fresh.runs[0].tls.clone().unwrap();
        assert_eq!((tls.handshakes_full, tls.handshakes_resumed), (30, 0));
        let s = settled(&target);
        assert_eq!((s.requests, s.tls_full, s.tls_resumed), (60, 31, 29));
    }
}

#[test]
fn a_certificate_that_does_not_verify_stops_the_run_before_any_request() {
    let (target, ca) = tls_server(ServerConfig::default());
    let url = https(target.addr);
    let (code, stdout, stderr) = connbench(&["run", &url, "-n", "10"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for needle in ["127.0.0.1", "does not verify", "unknown authority", "--cacert", "-k"] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert_eq!(settled(&target).requests, 0, "no request reached the server");
    // -k turns verification off, and the report says so
    let (code, stdout, stderr) = connbench(&["run", &url, "-n", "10", "-k", "--mode", "serial"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("certificate NOT verified (-k)"), "{stdout}");
    assert!(stdout.contains("-k/--insecure: the certificate of 127.0.0.1"), "a note under the headline: {stdout}");
    // a --cacert that is not the signer is no better than none
    let (other, other_ca) = tls_server(ServerConfig::default());
    let (code, _, stderr) = connbench(&["run", &url, "-n", "1", "--cacert", other_ca.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    drop(other);
    let (code, _, stderr) = connbench(&["run", &url, "-n", "1", "--cacert", ca.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(settled(&target).requests, 11);
}

/// Passes the first connection on to `tls` (a TLS server), and answers every later one with bytes that are
/// not TLS: a handshake that fails mid-run.
fn tls_for_the_first_connection_only(tls: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut incoming = listener.incoming().flatten();
        let Some(first) = incoming.next() else { return };
        let upstream = TcpStream::connect(tls).unwrap();
        for (mut from, mut to) in [(first.try_clone().unwrap(), upstream.try_clone().unwrap()), (upstream, first)] {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(std::net::Shutdown::Write);
            });
        }
        for mut stream in incoming {
            let mut hello = [0u8; 4096];
            let _ = stream.read(&mut hello);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    addr
}

#[test]
fn a_handshake_failing_mid_run_is_a_tls_error() {
    for engine in engines() {
        let (target, _) = tls_server(ServerConfig::default());
        let flaky = tls_for_the_first_connection_only(target.addr);
        let result = run_url(&https(flaky), &on(engine, &["-k", "--mode", "serial", "-n", "5"]));
        let m = &result.runs[0];
        assert_eq!((m.requests, m.errors.tls, m.errors.total()), (1, 4, 4));
        assert_eq!(m.connections_opened, 5, "each failed handshake followed a TCP connection");
        assert_eq!(m.latency.tls.as_ref().unwrap().count, 1);
        assert_eq!(m.closed_by_client + m.closed_by_server + m.closed_by_reset, 5);
    }
}

#[test]
fn the_embedded_server_speaks_tls_that_its_own_run_trusts() {
    let (code, stdout, stderr) = connbench(&[
        "run",
        "--tls",
        "--mode",
        "serial,keepalive",
        "-n",
        "40",
        "-c",
        "2",
        "--format",
        "json",
        "--check",
        "p99.tls<10s",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(json["target"].as_str().unwrap().starts_with("https://127.0.0.1:"), "{}", json["target"]);
    let serial = &json["runs"][0];
    assert_eq!((serial["requests"].as_u64(), serial["tls"]["handshakes_resumed"].as_u64()), (Some(40), Some(39)));
    assert!(serial["latency"]["tls"]["count"].as_u64() == Some(40));
    assert!(stderr.contains("p99.tls < 10s") && stderr.contains("ok"), "{stderr}");
    // http carries no tls at all, and a tls check finds no samples
    let (code, stdout, _) = connbench(&["run", "-n", "5", "--format", "json", "--check", "p99.tls<10s"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(json["runs"][0].get("tls").is_none() && json["runs"][0]["latency"].get("tls").is_none());
    // --tls is the embedded server's; --cert needs --tls
    assert_eq!(connbench(&["run", "--tls", "https://127.0.0.1:1/"]).0, 2);
    assert_eq!(connbench(&["serve", "--cert", "a.pem", "--key", "b.pem"]).0, 2);
}

#[test]
fn multiplex_over_https_needs_a_server_that_chooses_h2() {
    // The same server, offering only http/1.1 in its handshake: an HTTP/1.x-only https server.
    let identity = connbench::net::tls::Identity::self_signed().unwrap();
    let ca = std::env::temp_dir().join(format!("connbench-test-h1-{}.pem", std::process::id()));
    std::fs::write(&ca, identity.certificate_pem()).unwrap();
    let mut tls = (*identity.server_config(None).unwrap()).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let target = crate::util::server(ServerConfig { tls: Some(std::sync::Arc::new(tls)), ..ServerConfig::default() });
    let (url, ca) = (https(target.addr), ca.to_str().unwrap());
    let (code, _, stderr) = connbench(&["run", &url, "--cacert", ca, "--mode", "multiplex", "-n", "10"]);
    assert_eq!(code, 2, "{stderr}");
    let said =
        "does not speak HTTP/2 over TLS (offered h2 by ALPN, it answered with a no_application_protocol alert); \
                use an HTTP/1.x mode";
    assert!(stderr.contains(said), "{stderr}");
    assert_eq!(settled(&target).requests, 0, "refused before any request");
    // --mode all leaves multiplex out, saying why, and runs the rest
    let (code, stdout, stderr) =
        connbench(&["run", &url, "--cacert", ca, "--mode", "all", "-n", "10", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("--mode all runs the four HTTP/1.x modes"), "{stderr}");
    let result: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["runs"].as_array().unwrap().len(), 4);
}

#[test]
fn a_server_that_answers_no_protocol_to_h2_is_said_to_not_speak_http2_over_tls() {
    // HAProxy with `alpn http/1.1` answers a client offering h2 alone with no ALPN at all
    let (target, ca) = tls_server_with(ServerConfig::default(), |identity| {
        let mut tls = tls_config(identity, None);
        tls.alpn_protocols = Vec::new();
        tls
    });
    let (url, ca) = (https(target.addr), ca.to_str().unwrap());
    let (code, _, stderr) = connbench(&["run", &url, "--cacert", ca, "--mode", "multiplex", "-n", "10"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("does not speak HTTP/2 over TLS (offered h2 by ALPN, it answered with no protocol)"),
        "{stderr}"
    );
    assert!(stderr.contains("use an HTTP/1.x mode"), "{stderr}");
    // --mode all notes it in the same words, and runs the rest
    let result = run_url(&url, &["--cacert", ca, "--mode", "all", "-n", "4"]);
    assert_eq!(result.runs.len(), 4);
    assert!(result
        .notes
        .iter()
        .any(|n| n.text.contains("over TLS (offered h2 by ALPN, it answered with no protocol)")));
}

#[test]
fn one_shot_connections_over_tls_do_not_wait_for_the_servers_delayed_ack() {
    // Two servers that send nothing after the client's Finished: TLS 1.2 resuming a session, TLS 1.3 sending no
    // tickets. With Nagle on, the request written right after that Finished waits for the server's delayed
    // ACK, 40 ms on Linux, on every such connection; with TCP_NODELAY it leaves at once.
    let tls12 = tls_server_with(ServerConfig::default(), |identity| tls_config(identity, Some(Version::Tls12)));
    let tls13 = tls_server_with(ServerConfig::default(), |identity| {
        let mut tls = tls_config(identity, Some(Version::Tls13));
        tls.send_tls13_tickets = 0;
        tls
    });
    for (target, ca) in [&tls12, &tls13] {
        let args = ["--cacert", ca.to_str().unwrap(), "--mode", "serial,parallel", "-n", "20", "-c", "2"];
        let result = run_url(&https(target.addr), &args);
        for m in &result.runs {
            assert_eq!((m.requests, m.errors.total()), (20, 0));
            // Held back, at least 19 of the 20 answers would come after 40 ms; half within it is a margin
            // no loaded machine takes away.
            let ttfb = &m.latency.ttfb;
            assert!(
                ttfb.p50_us < 40_000,
                "{:?} over {}: ttfb p50 {} µs",
                m.mode,
                m.tls.as_ref().unwrap().version,
                ttfb.p50_us
            );
        }
    }
}

#[test]
fn tls12_sessions_resume_by_ticket_and_by_session_id() {
    // The embedded server issues TLS 1.2 tickets (RFC 5077); a server without a ticketer resumes from its cache
    // of session ids (RFC 5246 §7.4.1.2), as nginx does with `ssl_session_tickets off`.
    let by_ticket = tls_server_with(ServerConfig::default(), |identity| tls_config(identity, Some(Version::Tls12)));
    let by_id = tls_server_with(ServerConfig::default(), |identity| {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(identity.chain, identity.key)
            .unwrap();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        tls
    });
    for (target, ca) in [&by_ticket, &by_id] {
        let ca = ca.to_str().unwrap();
        let result =
            run_url(&https(target.addr), &["--cacert", ca, "--tls-version", "1.2", "--mode", "serial", "-n", "30"]);
        let tls = result.runs[0].tls.clone().unwrap();
        assert_eq!(tls.version, "TLSv1.2");
        assert_eq!((tls.handshakes_full, tls.handshakes_resumed), (1, 29));
        let s = settled(target);
        assert_eq!((s.requests, s.tls_full, s.tls_resumed), (30, 1, 29), "the server resumed them too");
    }
    // the same run without resumption: full handshakes only
    let result = run_url(
        &https(by_id.0.addr),
        &["-k", "--tls-version", "1.2", "--mode", "serial", "-n", "5", "--tls-resume", "false"],
    );
    let tls = result.runs[0].tls.clone().unwrap();
    assert_eq!((tls.handshakes_full, tls.handshakes_resumed), (5, 0));
}

#[test]
fn tls_version_sets_the_embedded_servers_version_and_the_clients() {
    // run without a URL: client and server both speak the version asked
    for (version, named) in [("1.2", "TLSv1.2"), ("1.3", "TLSv1.3")] {
        let (code, stdout, stderr) =
            connbench(&["run", "--tls", "--tls-version", version, "--mode", "serial", "-n", "10", "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json["runs"][0]["tls"]["version"], named);
        assert_eq!(json["runs"][0]["tls"]["handshakes_resumed"], 9);
    }
    // serve: the server accepts 1.2 alone, and says so to a client that offers 1.3 alone
    let mut serve = crate::util::binary()
        .args(["serve", "--listen", "127.0.0.1:0", "--tls", "--tls-version", "1.2"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(serve.stderr.take().unwrap()).lines();
    let mut next = || lines.next().expect("serve prints two lines").unwrap();
    let (cert_line, serving_line) = (next(), next());
    let ca = cert_line.split(" in ").nth(1).and_then(|rest| rest.split(' ').next()).expect("the certificate's path");
    let url = serving_line.split("serving ").nth(1).and_then(|rest| rest.split(' ').next()).expect("the URL");
    let result = run_url(url, &["--cacert", ca, "--mode", "serial", "-n", "5"]);
    assert_eq!(result.runs[0].tls.as_ref().unwrap().version, "TLSv1.2");
    let (code, _, stderr) = connbench(&["run", url, "--cacert", ca, "--tls-version", "1.3", "-n", "1"]);
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("it does not accept TLS 1.3, the only version --tls-version 1.3 offers"), "{stderr}");
    // --tls-version is for https: serve needs --tls
    assert_eq!(connbench(&["serve", "--tls-version", "1.2"]).0, 2);
}

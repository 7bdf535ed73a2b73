use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use connbench::plan::Mode;
use connbench::server::ServerConfig;

use crate::util::{assert_consistent, connbench, raw_server, run_url, settled, tls_server};

fn https(addr: SocketAddr) -> String {
    format!("https://{addr}/")
}

#[test]
fn every_mode_counts_over_tls_what_the_server_counts() {
    let (target, ca) = tls_server(ServerConfig::default());
    let ca = ca.to_str().unwrap();
    let result =
        run_url(&https(target.addr), &["--cacert", ca, "--mode", "all", "-c", "3", "--depth", "4", "-n", "101"]);
    assert_eq!(result.runs.iter().map(|m| m.mode).collect::<Vec<_>>(), Mode::ALL);
    let (mut opened, mut full, mut resumed) = (0, 0, 0);
    for m in &result.runs {
        assert_consistent(m);
        assert_eq!((m.requests, m.errors.total()), (101, 0), "{:?}", m.mode);
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
    assert_eq!((s.requests, s.connections), (5 * 101, opened), "the preflight's connection is the first mode's first");
    assert_eq!((s.tls_full, s.tls_resumed, s.tls_failed), (full, resumed, 0));
}

#[test]
fn serial_connections_resume_with_tickets_and_not_without() {
    let (target, ca) = tls_server(ServerConfig::default());
    let url = https(target.addr);
    let ca = ca.to_str().unwrap();
    let resuming = run_url(&url, &["--cacert", ca, "--mode", "serial", "-n", "30"]);
    let tls = resuming.runs[0].tls.clone().unwrap();
    // the first connection has no ticket yet; each later one uses a ticket the one before it received
    assert_eq!((tls.handshakes_full, tls.handshakes_resumed), (1, 29));
    let fresh = run_url(&url, &["--cacert", ca, "--mode", "serial", "-n", "30", "--tls-resume", "false"]);
    let tls = fresh.runs[0].tls.clone().unwrap();
    assert_eq!((tls.handshakes_full, tls.handshakes_resumed), (30, 0));
    let s = settled(&target);
    assert_eq!((s.requests, s.tls_full, s.tls_resumed), (60, 31, 29));
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
    // a server that does not speak TLS at all is found before any load too
    let plain = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec());
    let (code, _, stderr) = connbench(&["run", &https(plain), "-n", "1", "-k"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("TLS handshake with https://127.0.0.1:"), "{stderr}");
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
    let (target, _) = tls_server(ServerConfig::default());
    let flaky = tls_for_the_first_connection_only(target.addr);
    let result = run_url(&https(flaky), &["-k", "--mode", "serial", "-n", "5"]);
    let m = &result.runs[0];
    assert_eq!((m.requests, m.errors.tls, m.errors.total()), (1, 4, 4));
    assert_eq!(m.connections_opened, 5, "each failed handshake followed a TCP connection");
    assert_eq!(m.latency.tls.as_ref().unwrap().count, 1);
    assert_eq!(m.closed_by_client + m.closed_by_server + m.closed_by_reset, 5);
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
    let mut tls = (*identity.server_config().unwrap()).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let target = crate::util::server(ServerConfig { tls: Some(std::sync::Arc::new(tls)), ..ServerConfig::default() });
    let (url, ca) = (https(target.addr), ca.to_str().unwrap());
    let (code, _, stderr) = connbench(&["run", &url, "--cacert", ca, "--mode", "multiplex", "-n", "10"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("does not speak HTTP/2 (ALPN h2)"), "{stderr}");
    assert_eq!(settled(&target).requests, 0, "refused before any request");
    // --mode all leaves multiplex out, saying why, and runs the rest
    let (code, stdout, stderr) =
        connbench(&["run", &url, "--cacert", ca, "--mode", "all", "-n", "10", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("--mode all runs the four HTTP/1.x modes"), "{stderr}");
    let result: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["runs"].as_array().unwrap().len(), 4);
}

//! `connbench ports` against a listener the test holds: the kernel's TIME_WAIT count per tuple, the
//! designed JSON names, what `--source-ip auto` would start from, and one-line errors for bad input.

use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};

use connbench::net::census;
use connbench::net::ports::Tuple;

use crate::util::connbench;

/// `n` connections to the listener that the client closes first, so each leaves a TIME_WAIT on
/// the client's side; returns once the kernel shows them (the server's last FIN may still be in
/// flight when `drop` returns, so the wait is bounded rather than assumed).
fn client_first_closes(listener: &TcpListener, n: u64) -> Tuple {
    let server = listener.local_addr().unwrap();
    for _ in 0..n {
        let client = TcpStream::connect(server).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        // shutdown, not drop: a test running beside this one may fork a child that holds a copy
        // of `client` until its exec, and a close then sends no FIN; the server would close first.
        client.shutdown(Shutdown::Write).unwrap();
        // the server has our FIN before it sends its own
        assert_eq!(accepted.read(&mut [0; 1]).unwrap(), 0);
        drop(accepted);
        drop(client);
    }
    let tuple = Tuple { client: "127.0.0.1".parse().unwrap(), server };
    for _ in 0..100 {
        if census::take().unwrap().get(tuple).time_wait >= n {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    tuple
}

#[test]
fn ports_json_counts_client_first_closes_for_the_tuple() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server: SocketAddr = listener.local_addr().unwrap();
    client_first_closes(&listener, 5);
    let url = format!("http://{server}/");
    let (code, stdout, stderr) =
        connbench(&["ports", &url, "--source-ip", "kernel", "--format", "json", "--rate", "1000"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut names: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "client_ips_needed",
            "ip_local_port_range",
            "ports_per_tuple",
            "rate",
            "source_ip",
            "sustainable_conn_rate",
            "tcp_tw_reuse",
            "time_wait_secs",
            "tuples"
        ]
    );
    let tuples = json["tuples"].as_array().unwrap();
    assert_eq!(tuples.len(), 1, "the kernel's source IP only");
    assert_eq!(json["source_ip"], "kernel");
    let row = &tuples[0];
    let mut row_names: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
    row_names.sort_unstable();
    assert_eq!(row_names, ["client_ip", "established", "free", "server", "time_wait"]);
    assert_eq!(row["client_ip"], "127.0.0.1");
    assert_eq!(row["server"], server.to_string());
    assert!(row["time_wait"].as_u64().unwrap() >= 5, "{row}");
    // the arithmetic: ports / hold time, and ⌈rate × hold / ports⌉
    let ports = json["ports_per_tuple"].as_f64().unwrap();
    let hold = json["time_wait_secs"].as_f64().unwrap();
    assert!((json["sustainable_conn_rate"].as_f64().unwrap() - ports / hold).abs() < 1e-6);
    assert_eq!(json["client_ips_needed"].as_f64().unwrap(), (1000.0 * hold / ports).ceil());
}

#[test]
fn ports_by_default_starts_where_run_would_and_says_how_many_more_it_may_add() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (code, stdout, stderr) = connbench(&["ports", &url, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (json["source_ip"].as_str(), json["tuples"][0]["client_ip"].as_str()),
        (Some("auto"), Some("127.0.0.2"))
    );
    assert_eq!(json["more_client_ips"], 65_535, "127.0.0.3 up, as many as a list may name");
    let (code, stdout, stderr) = connbench(&["ports", &url]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("--source-ip auto: run adds up to 65535 more client IPs"), "{stdout}");
}

#[test]
fn ports_text_lists_each_source_ip() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (code, stdout, stderr) = connbench(&["ports", &url, "--source-ip", "127.0.0.2-127.0.0.3"]);
    assert_eq!(code, 0, "{stderr}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("127.0.0.")).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(stdout.contains("client IP") && stdout.contains("x 2 client IPs"), "{stdout}");
}

#[test]
fn ports_without_a_url_lists_time_wait_holders() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    client_first_closes(&listener, 1);
    let (code, stdout, stderr) = connbench(&["ports", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(json["sustainable_conn_rate"].is_null());
    let tuples = json["tuples"].as_array().unwrap();
    assert!(!tuples.is_empty() && tuples.len() <= 20);
    assert!(tuples.iter().all(|t| t["time_wait"].as_u64().unwrap() > 0));
}

#[test]
fn bad_ports_input_exits_2_with_one_line_naming_it() {
    // each case: arguments, and what the one-line message must name
    for (args, needle) in [
        (vec!["ports", "http://127.0.0.1:1/", "--source-ip", "bogus"], "'bogus'"),
        (vec!["ports", "http://127.0.0.1:1/", "--source-ip", "automatic"], "auto or kernel"),
        (vec!["ports", "http://127.0.0.1:1/", "--source-ip", "10.0.0.0/8"], "more than 65536"),
        // TEST-NET-3 (RFC 5737): not on this host, refused by the probe-bind
        (vec!["ports", "http://127.0.0.1:1/", "--source-ip", "203.0.113.7"], "203.0.113.7"),
        (vec!["ports", "http://127.0.0.1:1/", "--source-ip", "::1"], "address family"),
        (vec!["ports", "ftp://127.0.0.1/"], "scheme 'ftp'"),
        (vec!["ports", "http://no-such-host.invalid/"], "no-such-host.invalid"),
        (vec!["ports", "http://127.0.0.1:1/", "--rate", "fast"], "fast"),
        (vec!["ports", "--rate", "10"], "--rate"),
    ] {
        let (code, stdout, stderr) = connbench(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

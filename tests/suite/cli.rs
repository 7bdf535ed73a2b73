use std::time::{Duration, Instant};

use crate::util::connbench;

#[test]
fn bad_input_exits_2_with_one_line_naming_it() {
    // each case: arguments, and what the one-line message must name
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let refused_url = format!("http://{refused}/");
    for (args, needle) in [
        (vec!["run", "ftp://127.0.0.1/"], "scheme 'ftp'"),
        (vec!["run", "http://"], "URL 'http://'"),
        (vec!["run", refused_url.as_str(), "-n", "1"], "refused"),
        (vec!["run", "http://no-such-host.invalid/", "-n", "1"], "no-such-host.invalid"),
        (vec!["run", "--mode", "bogus"], "bogus"),
        (vec!["run", "-d", "soon"], "soon"),
        (vec!["run", "-H", "nocolon"], "-H 'nocolon'"),
    ] {
        let started = Instant::now();
        let (code, stdout, stderr) = connbench(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{args:?}: exits before any load");
    }
}

#[test]
fn text_report_shows_the_modes_side_by_side() {
    let (code, stdout, stderr) = connbench(&["run", "--mode", "serial,keepalive", "-n", "100", "-c", "4"]);
    assert_eq!(code, 0, "{stderr}");
    let header = stdout.lines().find(|l| l.trim_start().starts_with("serial")).expect("a header row");
    assert!(header.contains("keepalive"));
    let requests = stdout.lines().find(|l| l.starts_with("requests ")).expect("a requests row");
    assert_eq!(requests.split_whitespace().skip(1).collect::<Vec<_>>(), vec!["100", "100"]);
    assert!(stdout.contains("(embedded server)"));
}

#[test]
fn what_cannot_be_used_is_refused_before_any_load_naming_it() {
    // each case: arguments, and what the one-line message must name
    let in_two_days = std::time::SystemTime::now() + Duration::from_secs(2 * 86_400);
    let in_two_days = in_two_days.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    for (args, needle) in [
        // bind(2) takes these, but none is an address of this host a connection can leave from
        (vec!["run", "-n", "1", "--source-ip", "0.0.0.0"], "--source-ip 0.0.0.0"),
        (vec!["run", "-n", "1", "--source-ip", "224.0.0.1"], "--source-ip 224.0.0.1: not an address of this host"),
        (vec!["run", "-n", "1", "--source-ip", "127.0.0.2,255.255.255.255"], "--source-ip 255.255.255.255"),
        (vec!["ports", "http://127.0.0.1:0/"], "port 0 is not a port"),
        (vec!["probe", "http://127.0.0.1:9/", "--max-time", "0"], "--max-time"),
        (vec!["run", "-n", "1", "--start-at", in_two_days.as_str()], "more than a day ahead"),
    ] {
        let (code, stdout, stderr) = connbench(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

/// A keep-alive server that answers every request `200` with no body, and keeps each request head it read.
fn recording_server() -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = heads.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let kept = kept.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut chunk) {
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        kept.lock().unwrap().push(String::from_utf8_lossy(&buf[..end]).into_owned());
                        buf.drain(..end + 4);
                        if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, heads)
}

#[test]
fn a_urls_password_is_sent_as_basic_auth_and_never_written() {
    let (addr, heads) = recording_server();
    let url = format!("http://user:s3cret@{addr}/");
    let (code, stdout, stderr) = connbench(&["run", &url, "-n", "3", "-c", "1", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    // "user:s3cret", as curl sends it
    assert!(heads.lock().unwrap().iter().all(|h| h.contains("\r\nAuthorization: Basic dXNlcjpzM2NyZXQ=")), "{heads:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["target"], format!("http://user:***@{addr}/"));
    assert!(json["command"].as_array().unwrap().iter().any(|w| w == &format!("http://user:***@{addr}/")));
    let (_, probed, stderr) = connbench(&["probe", &url, "--max-time", "2s", "--format", "json"]);
    assert!(probed.contains("user:***@"), "{probed}{stderr}");
    assert!(
        heads.lock().unwrap().len() > 10 && heads.lock().unwrap().iter().all(|h| h.contains("Authorization: Basic"))
    );
    // nowhere: not in the output, not in an error
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    for args in [
        vec!["run", "http://user:s3cret@127.0.0.1:0/"],
        vec!["run", &format!("http://user:s3cret@{refused}/"), "-n", "1"],
        vec!["probe", &format!("http://user:s3cret@{refused}/")],
        vec!["ports", "http://user:s3cret@no-such-host.invalid/"],
    ]
    .iter()
    .chain([vec!["run", url.as_str(), "-n", "2"], vec!["probe", url.as_str(), "--max-time", "2s"]].iter())
    {
        let (_, stdout, stderr) = connbench(args);
        assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"), "{args:?}: {stdout}{stderr}");
        assert!(stdout.contains("user:***@") || stderr.contains("user:***@"), "{args:?}: {stdout}{stderr}");
    }
}

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

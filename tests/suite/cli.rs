use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::binary;

/// Runs the binary, returning (exit code, stdout, stderr).
fn connbench(args: &[&str]) -> (i32, String, String) {
    let out = binary().args(args).env("CI", "true").output().expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

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
fn ctrl_c_stops_the_run_and_still_writes_what_was_measured() {
    let dir = std::env::temp_dir().join(format!("connbench-ctrlc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join("result.json");
    let mut child = binary()
        .args(["run", "--mode", "keepalive,pipeline", "-c", "4", "-d", "30s", "--format", "json", "-o"])
        .arg(&saved)
        .env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the run did not stop after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert_eq!(status.code(), Some(130));
    for text in [stdout, std::fs::read_to_string(&saved).unwrap()] {
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["complete"], false);
        let runs = json["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1, "the interrupted mode is the last one");
        assert!(runs[0]["requests"].as_u64().unwrap() > 0);
        assert!(runs[0]["duration_s"].as_f64().unwrap() < 10.0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
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

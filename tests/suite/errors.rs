//! Bad input and signals, through the binary: range checks instead of panics, `-o` checked before any
//! load, SIGTERM and SIGHUP handled as Ctrl-C, gates that hold when stdout is closed.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::util::{binary, connbench, engines, scratch, wait};

#[test]
fn values_out_of_range_exit_2_with_one_line_and_no_panic() {
    let dir = scratch("ranges");
    let profile = dir.join("long.toml");
    std::fs::write(&profile, "mode = \"serial\"\nduration = 1e30\n").unwrap();
    let headers = dir.join("headers.toml");
    std::fs::write(&headers, "mode = \"serial\"\nheaders = [\"NoColon\"]\n").unwrap();
    let (profile, headers) = (profile.to_str().unwrap(), headers.to_str().unwrap());
    // each case: arguments, what the one line must name
    for (args, needle) in [
        (vec!["run", "-d", "1e20"], "'1e20' is too long"),
        (vec!["run", "-d", "1e19"], "'1e19' is too long"),
        (vec!["run", "--timeout", "1e30"], "--timeout"),
        (vec!["run", "--server-delay", "1e30"], "--server-delay"),
        (vec!["run", "--server-body-size", "99999999999999"], "largest body"),
        (vec!["serve", "--server-body-size", "99999999999999"], "largest body"),
        (vec!["serve", "--server-keep-alive-max", "0"], "--server-keep-alive-max"),
        // refused before "serving" is printed
        (vec!["serve", "--listen", "127.0.0.1:0", "--server-http10", "--server-chunked"], "HTTP/1.0"),
        (vec!["run", "--rate", "1e-30"], "smallest rate"),
        (vec!["run", "-p", profile], ":2: "),
        (vec!["run", "-p", headers], ":2: headers 'NoColon'"),
        (vec!["run", "--check", "error_rate<5"], "needs %"),
        (vec!["run", "--baseline", "x.json", "--max-regression", "150%"], "more than 100%"),
        (vec!["run", "http://127.0.0.1:0/"], "port 0 is not a port"),
        (vec!["run", "--bogus"], "unexpected argument '--bogus'"),
        // gates whose verdict is known before the run
        (vec!["run", "--check", "error_rate<200%"], "a rate is from 0% to 100%"),
        (vec!["run", "--check", "error_rate<=100%"], "cannot fail: a rate is never above 100%"),
        // one plan, refused alike by every shard
        (vec!["run", "-n", "100", "-c", "2", "--shard", "0/1000"], "--shard 0/1000: -n 100 (one request each"),
        (vec!["run", "-n", "100", "-c", "2", "--shard", "2/1000"], "--shard 2/1000: -n 100 (one request each"),
        // files read whole have a cap for their kind
        (vec!["run", "--body-file", "/dev/zero"], "--body-file /dev/zero: larger than 64 MiB"),
        (vec!["run", "https://127.0.0.1:1/", "--cacert", "/dev/zero"], "--cacert /dev/zero: larger than 4 MiB"),
        (vec!["run", "-p", "/dev/zero"], "profile /dev/zero: larger than 1 MiB"),
        (vec!["serve", "--tls", "--cert", "/dev/zero", "--key", "/dev/zero"], "--cert /dev/zero: larger than 4 MiB"),
        (vec!["run", "-H", "X-A: a\x01b"], "-H 'X-A: a\\u{1}b': the value holds the control character 0x01"),
    ] {
        let started = Instant::now();
        let (code, stdout, stderr) = connbench(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(stdout.is_empty() && !stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{args:?}: exits before any load");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_url_without_a_scheme_is_http() {
    let server = crate::util::server(connbench::server::ServerConfig::default());
    let (code, stdout, stderr) =
        connbench(&["run", &server.addr.to_string(), "-n", "3", "-c", "1", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["target"], format!("http://{}/", server.addr));
    assert_eq!(json["runs"][0]["requests"], 3);
}

#[test]
fn an_output_that_cannot_be_created_costs_no_load_and_a_full_disk_keeps_the_report() {
    let started = Instant::now();
    let (code, stdout, stderr) = connbench(&["run", "-d", "5s", "-o", "/nonexistent/dir/out.json"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.starts_with("connbench: -o/--output /nonexistent/dir/out.json: "), "{stderr}");
    assert!(stdout.is_empty());
    assert!(started.elapsed() < Duration::from_secs(4), "refused before the 5 s load");

    let (code, stdout, stderr) = connbench(&["run", "-n", "20", "-c", "2", "-o", "/dev/full"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.contains("requests/s"), "the report is printed first: {stdout}");
    assert!(stderr.contains("-o/--output /dev/full: No space left on device"), "{stderr}");
}

#[test]
fn ctrl_c_sigterm_and_sighup_stop_the_run_and_still_write_what_was_measured() {
    let dir = scratch("signals");
    let each = engines().into_iter().flat_map(|engine| {
        [(Signal::SIGINT, 130), (Signal::SIGTERM, 143), (Signal::SIGHUP, 129)]
            .map(|(signal, code)| (engine, signal, code))
    });
    for (engine, signal, code) in each {
        let saved = dir.join(format!("{engine}-{signal}.json"));
        let mut child = binary()
            .args(["run", "--engine", engine, "--mode", "keepalive,pipeline", "-c", "2", "-d", "30s"])
            .args(["--format", "json", "-o"])
            .arg(&saved)
            .env("CI", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        assert_eq!(wait(&mut child, Duration::from_secs(15)), code, "{engine}: {signal}");
        let mut stdout = String::new();
        child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        for text in [stdout, std::fs::read_to_string(&saved).unwrap()] {
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(json["complete"], false, "{signal}");
            let runs = json["runs"].as_array().unwrap();
            assert_eq!(runs.len(), 1, "{signal}: the interrupted mode is the last one");
            assert!(runs[0]["requests"].as_u64().unwrap() > 0, "{signal}");
            assert!(runs[0]["duration_s"].as_f64().unwrap() < 10.0, "{signal}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs the binary with its stdout closed before it writes, as `connbench ... | true` does.
fn with_stdout_closed(args: &[&str]) -> (i32, String) {
    let mut child =
        binary().args(args).env("CI", "true").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let code = wait(&mut child, Duration::from_secs(30));
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (code, stderr)
}

#[test]
fn a_failed_gate_exits_1_even_when_nobody_reads_stdout() {
    let dir = scratch("pipe");
    let saved = dir.join("a.json");
    let saved = saved.to_str().unwrap();
    let (code, stderr) = with_stdout_closed(&["run", "-n", "50", "-c", "2", "--check", "rps>1e9", "-o", saved]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("gate failed: keepalive rps > 1000000000"), "{stderr}");
    assert!(std::fs::metadata(saved).unwrap().len() > 0, "the result is written all the same");
    // a passing gate with nobody reading is still a success
    assert_eq!(with_stdout_closed(&["run", "-n", "50", "-c", "2", "--check", "rps>0"]).0, 0);

    // B: A with every latency doubled and half the requests/s
    let mut b: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(saved).unwrap()).unwrap();
    b["runs"][0]["rps"] = (b["runs"][0]["rps"].as_f64().unwrap() / 2.0).into();
    let slower = dir.join("b.json");
    std::fs::write(&slower, b.to_string()).unwrap();
    let (code, stderr) = with_stdout_closed(&["compare", saved, slower.to_str().unwrap(), "--max-regression", "10%"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("regression: keepalive: requests/s fell 50.0%"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs the binary with stdout on `/dev/full`, as `connbench ... > /dev/full` does.
fn with_stdout_full(args: &[&str]) -> (i32, String) {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = binary().args(args).env("CI", "true").stdout(full).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn a_failed_write_to_stdout_is_named_and_never_hides_a_failed_gate() {
    let dir = scratch("stdout");
    let saved = dir.join("a.json");
    let saved = saved.to_str().unwrap();
    // the gate's verdict wins over the failed print, which is still said
    let (code, stderr) = with_stdout_full(&["run", "-n", "50", "-c", "2", "--check", "rps>1e9", "-o", saved]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("connbench: stdout: No space left on device"), "{stderr}");
    assert!(stderr.contains("gate failed: keepalive rps > 1000000000"), "{stderr}");
    // a passing gate: the failed print is the outcome
    let (code, stderr) = with_stdout_full(&["run", "-n", "50", "-c", "2", "--check", "rps>0"]);
    assert_eq!((code, stderr.lines().last()), (2, Some("connbench: stdout: No space left on device (os error 28)")));
    let (code, stderr) = with_stdout_full(&["compare", saved, saved, "--max-regression", "10%"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("stdout: No space left on device"), "{stderr}");
    let (code, stderr) = with_stdout_full(&["report", saved]);
    assert_eq!((code, stderr.trim_end()), (2, "connbench: stdout: No space left on device (os error 28)"));

    // merge's result is its only output: gone with a closed or full stdout is a failure, named
    let other = dir.join("b.json");
    let (code, _, stderr) = connbench(&["run", "-n", "50", "-c", "2", "-o", other.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let merge = ["merge", saved, other.to_str().unwrap()];
    let (code, stderr) = with_stdout_closed(&merge);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("stdout: Broken pipe (os error 32): the merged result was not written"), "{stderr}");
    let (code, stderr) = with_stdout_full(&merge);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("stdout: No space left on device (os error 28): the merged result"), "{stderr}");
    let (code, stderr) = with_stdout_closed(&[&merge[..], &["-o", "-"]].concat());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("-o/--output - (stdout): Broken pipe"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_run_killed_before_it_wrote_leaves_no_empty_result_at_the_path() {
    let dir = scratch("killed");
    let (fresh, earlier) = (dir.join("new.json"), dir.join("earlier.json"));
    std::fs::write(&earlier, "the earlier result").unwrap();
    for saved in [&fresh, &earlier] {
        let mut child = binary()
            .args(["run", "-c", "2", "-d", "30s", "-o"])
            .arg(saved)
            .env("CI", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
        wait(&mut child, Duration::from_secs(15));
    }
    assert!(!fresh.exists(), "no 0-byte file where the result would be");
    assert_eq!(std::fs::read_to_string(&earlier).unwrap(), "the earlier result", "the earlier result is whole");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_baseline_without_the_runs_mode_exits_2_before_any_load() {
    let dir = scratch("baseline");
    let base = dir.join("base.json");
    let (code, _, stderr) =
        connbench(&["run", "--mode", "serial,parallel", "-n", "10", "-c", "2", "-o", base.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let started = Instant::now();
    let (code, stdout, stderr) = connbench(&["run", "-d", "5s", "--baseline", base.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("base.json has no keepalive run (it has serial, parallel)"), "{stderr}");
    assert!(stdout.is_empty() && started.elapsed() < Duration::from_secs(4), "no load was run");
    // one mode each is no exception: a serial baseline does not judge a keep-alive run
    let (code, _, stderr) = connbench(&["run", "--mode", "serial", "-n", "10", "-o", base.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = connbench(&["run", "-d", "5s", "--baseline", base.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("base.json has no keepalive run (it has serial)"), "{stderr}");
    assert!(stdout.is_empty(), "no load was run");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_server_that_does_not_speak_http_is_named_with_its_first_bytes() {
    let addr = crate::util::raw_server(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec());
    let url = format!("http://{addr}/");
    let (code, stdout, stderr) = connbench(&["run", &url, "-n", "3", "-c", "1", "--no-progress"]);
    assert_eq!(code, 0, "no gate was asked: {stderr}");
    // A note of the result, printed under the headline.
    let note = stdout.lines().find(|l| l.contains("no response was HTTP")).expect("a note");
    assert!(note.contains(&format!("is {addr} an HTTP server? it answers \"SSH-2.0-OpenSSH_9.6\\r\\n\"")), "{note}");
}

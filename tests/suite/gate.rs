//! Issue #5's acceptance, through the binary: `--check` exits 0, 1 and 2; `compare` and `--baseline`
//! gate on regressions; `merge` adds histograms exactly; every shipped profile runs, and a bad one
//! names its file and line; csv and markdown have the promised shape.

use std::path::{Path, PathBuf};

use connbench::server::ServerConfig;
use serde_json::Value;

use crate::util::{connbench, scratch, server};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn checks_that_pass_exit_0_and_a_failed_one_exits_1_naming_mode_measured_and_asked() {
    let pass = ["--check", "rps>0", "--check", "errors<=0", "--check", "p99.total<60s"];
    let (code, stdout, stderr) =
        connbench(&[&["run", "--mode", "serial,keepalive", "-n", "200", "-c", "2"][..], &pass].concat());
    assert_eq!(code, 0, "{stderr}");
    // with the text report, the verdicts follow it on stdout: 3 checks for each of 2 modes
    assert_eq!(stdout.lines().filter(|l| l.starts_with("check ") && l.ends_with(" ok")).count(), 6, "{stdout}");

    let (code, stdout, stderr) =
        connbench(&["run", "-n", "200", "-c", "2", "--format", "json", "--check", "errors<=0", "--check", "rps>1e12"]);
    assert_eq!(code, 1, "{stderr}");
    // the mode, what was asked, and what was measured
    let failed = stderr.lines().find(|l| l.ends_with("FAILED")).expect("the failed check on stderr");
    assert!(failed.contains("keepalive") && failed.contains("rps > 1000000000000"), "{failed}");
    assert!(failed.contains("measured "), "{failed}");
    assert!(stderr.lines().any(|l| l.contains("errors <= 0") && l.ends_with(" ok")), "{stderr}");
    assert!(stderr.contains("gate failed: keepalive rps > 1000000000000 (measured "), "{stderr}");
    // machine formats own stdout: it is the JSON result alone
    let result: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(result["runs"][0]["requests"], 200);
}

#[test]
fn a_malformed_check_exits_2_before_any_load() {
    // A listener nobody accepts on: any connection (even the preflight) would queue on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    for (check, needle) in
        [("p99.total<20", "needs a unit"), ("p98.total<1ms", "unknown metric"), ("rps=5", "no comparison")]
    {
        let (code, stdout, stderr) = connbench(&["run", &url, "-d", "60s", "--check", check]);
        assert_eq!(code, 2, "{check}: {stderr}");
        assert!(stderr.contains(&format!("--check '{check}'")) && stderr.contains(needle), "{check}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stdout.is_empty());
    }
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "no connection was made");
}

#[test]
fn compare_gates_on_regressions_and_a_result_passes_against_itself() {
    let dir = scratch("compare");
    let (keepalive, serial) = (dir.join("keepalive.json"), dir.join("serial.json"));
    for (mode, out) in [("keepalive", &keepalive), ("serial", &serial)] {
        let (code, _, stderr) = connbench(&["run", "--mode", mode, "-c", "8", "-n", "2000", "-o", path(out)]);
        assert_eq!(code, 0, "{stderr}");
    }
    // two modes are two plans: no gate across them unless asked for, and the comparison says so first
    let (code, stdout, stderr) = connbench(&["compare", path(&keepalive), path(&serial), "--max-regression", "10%"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("were made with different plans (mode: keepalive vs serial)"), "{stderr}");
    assert!(stderr.contains("add --allow-plan-change") && stdout.is_empty(), "{stderr}");
    let gate_anyway = ["--max-regression", "10%", "--allow-plan-change"];
    let (code, stdout, stderr) = connbench(&[&["compare", path(&keepalive), path(&serial)][..], &gate_anyway].concat());
    assert_eq!(code, 1, "{stdout}{stderr}");
    let said = stdout.find("the plans differ, so the ratios compare different things:\n  mode: keepalive vs serial\n");
    assert!(said.is_some_and(|at| at < stdout.find("B/A").unwrap()), "before any ratio: {stdout}");
    assert!(stdout.contains("keepalive -> serial"), "{stdout}");
    let rps = stdout.lines().find(|l| l.starts_with("requests/s")).unwrap();
    assert!(rps.ends_with("REGRESSION"), "{rps}");
    assert!(stderr.contains("regression: keepalive -> serial: requests/s fell"), "{stderr}");

    let (code, stdout, stderr) = connbench(&["compare", path(&keepalive), path(&keepalive), "--max-regression", "10%"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stdout.contains("REGRESSION"));

    // markdown and json say the same
    let (code, stdout, _) = connbench(&["compare", path(&keepalive), path(&serial), "--format", "markdown"]);
    assert_eq!(code, 0, "no --max-regression, no gate");
    assert!(stdout.contains("| keepalive -> serial | A | B | B/A | |"), "{stdout}");
    let (code, stdout, _) =
        connbench(&[&["compare", path(&keepalive), path(&serial), "--format", "json"][..], &gate_anyway].concat());
    assert_eq!(code, 1);
    let verdict: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(verdict["plan_changes"], serde_json::json!(["mode: keepalive vs serial"]));
    assert_eq!(verdict["pairs"][0]["rows"][0]["metric"], "requests/s");
    assert_eq!(verdict["pairs"][0]["rows"][0]["regression"], true);
    assert!(!verdict["regressions"].as_array().unwrap().is_empty());

    // run --baseline does the same against a saved result of its plan (a slower server is no change of
    // plan), and still prints and writes its own
    let latest = dir.join("latest.json");
    let slower = ["run", "--mode", "keepalive", "-c", "8", "-n", "200", "--server-delay", "5ms"];
    let gate = ["--baseline", path(&keepalive), "--max-regression", "10%", "-o", path(&latest)];
    let (code, stdout, stderr) = connbench(&[&slower[..], &gate].concat());
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("REGRESSION") && stderr.contains("requests/s fell"), "{stdout}{stderr}");
    assert_eq!(json(&latest)["runs"][0]["requests"], 200);
    // another plan is refused before any load, unless allowed
    let other_plan = ["run", "--mode", "keepalive", "-c", "4", "-n", "200", "-X", "HEAD", "--server-delay", "5ms"];
    let (code, stdout, stderr) = connbench(&[&other_plan[..], &gate].concat());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("(method: GET vs HEAD; -c: 8 vs 4 (keepalive))"), "{stderr}");
    assert!(stdout.is_empty(), "no load: {stdout}");
    let (code, stdout, stderr) = connbench(&[&other_plan[..], &gate, &["--allow-plan-change"]].concat());
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("the plans differ") && stdout.contains("REGRESSION"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_compare_and_baseline_inputs_exit_2() {
    let dir = scratch("compare-bad");
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "hello").unwrap();
    for (args, needle) in [
        (vec!["compare", path(&not_json), path(&not_json)], "not JSON"),
        (vec!["compare", "/nonexistent/a.json", path(&not_json)], "/nonexistent/a.json"),
        (vec!["run", "-n", "10", "--baseline", "/nonexistent/b.json"], "--baseline /nonexistent/b.json"),
        (vec!["run", "-n", "10", "--max-regression", "10%"], "needs --baseline"),
        (vec!["compare", "a", "b", "--max-regression", "lots"], "lots"),
    ] {
        let (code, _, stderr) = connbench(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn merge_adds_requests_and_histograms_and_refuses_different_plans() {
    let target = server(ServerConfig::default());
    let url = format!("http://{}/", target.addr);
    let dir = scratch("merge");
    let files: Vec<_> = ["a", "b", "c"].iter().map(|n| dir.join(format!("{n}.json"))).collect();
    for (n, c, out) in [("1000", "4", &files[0]), ("1500", "4", &files[1]), ("100", "2", &files[2])] {
        let (code, _, stderr) = connbench(&["run", &url, "--mode", "keepalive", "-n", n, "-c", c, "-o", path(out)]);
        assert_eq!(code, 0, "{stderr}");
    }
    let merged = dir.join("all.json");
    let (code, stdout, stderr) = connbench(&["merge", path(&files[0]), path(&files[1]), "-o", path(&merged)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());
    let all = json(&merged);
    let run = &all["runs"][0];
    assert_eq!(run["requests"], 2500);
    assert_eq!(run["latency"]["total"]["count"], 2500);
    assert_eq!(run["status"]["2xx"], 2500);
    // the two ran one after the other: requests/s is over the span from the first start to the last end, and
    // a note says they did not overlap
    let window = |f: &PathBuf| {
        let run = &json(f)["runs"][0];
        let start = run["started_unix_ms"].as_u64().unwrap() as f64 / 1e3;
        (start, start + run["duration_s"].as_f64().unwrap())
    };
    let ((first, _), (_, last)) = (window(&files[0]), window(&files[1]));
    assert!((run["duration_s"].as_f64().unwrap() - (last - first)).abs() < 1e-6, "{run}");
    assert!((run["rps"].as_f64().unwrap() - 2500.0 / (last - first)).abs() < 0.1, "{run}");
    assert_eq!(all["notes"][0]["kind"], "merge", "{all}");
    // the merged result is a result: it compares with itself
    assert_eq!(connbench(&["compare", path(&merged), path(&merged), "--max-regression", "0"]).0, 0);

    let (code, stdout, stderr) = connbench(&["merge", path(&files[0]), path(&files[2])]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("differs from") && stderr.contains("connections (keepalive): 2 vs 4"), "{stderr}");
    assert!(stdout.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn shipped_profiles() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    found.sort();
    found
}

#[test]
fn every_shipped_profile_runs_and_flags_override_it() {
    let profiles = shipped_profiles();
    for name in ["browser-parallel", "keepalive-soak", "pipeline-depth16", "new-connections"] {
        assert!(profiles.iter().any(|p| p.ends_with(format!("{name}.toml"))), "profiles/{name}.toml ships");
    }
    for profile in &profiles {
        // -n replaces the profile's duration, so the suite stays fast
        let (code, stdout, stderr) = connbench(&["run", "-p", path(profile), "-n", "200", "--format", "json"]);
        assert_eq!(code, 0, "{}: {stderr}", profile.display());
        let result: Value = serde_json::from_str(&stdout).unwrap();
        for run in result["runs"].as_array().unwrap() {
            assert_eq!(run["requests"], 200, "{}", profile.display());
        }
    }
    let browser = profiles.iter().find(|p| p.ends_with("browser-parallel.toml")).unwrap();
    let (_, stdout, _) = connbench(&["run", "-p", path(browser), "-n", "50", "--format", "json"]);
    let run = &serde_json::from_str::<Value>(&stdout).unwrap()["runs"][0];
    assert_eq!((run["mode"].as_str(), run["connections"].as_u64()), (Some("parallel"), Some(6)));
    let (_, stdout, _) = connbench(&["run", "-p", path(browser), "-n", "50", "-c", "3", "--format", "json"]);
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["runs"][0]["connections"], 3);
}

#[test]
fn a_bad_profile_names_its_file_and_line() {
    let dir = scratch("profile");
    let bad = dir.join("bad.toml");
    // each case: the profile, and what the one line must say besides file:line
    for (text, line, needle) in [
        (
            "mode = \"parallel\"\n# six, like a browser\nconnections = 0\n",
            3,
            "connections must be a whole number from 1",
        ),
        ("mode = \"parallel\"\nconection = 6\n", 2, "unknown field `conection`"),
        ("duration = \"ten seconds\"\n", 1, "'ten seconds' is not a duration"),
        ("checks = [\"rps>=1000\", \"p99.total<20\"]\n", 1, "p99.total<20"),
    ] {
        std::fs::write(&bad, text).unwrap();
        let (code, stdout, stderr) = connbench(&["run", "-p", path(&bad)]);
        assert_eq!(code, 2, "{text:?}: {stderr}");
        assert!(stderr.contains(&format!("{}:{line}: ", bad.display())), "{text:?}: {stderr}");
        assert!(stderr.contains(needle), "{text:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stdout.is_empty());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_is_a_header_and_a_row_per_mode_and_markdown_a_table() {
    let (code, stdout, stderr) =
        connbench(&["run", "--mode", "serial,keepalive", "-n", "100", "-c", "2", "--format", "csv"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("mode,connections,requests,rps,errors,connections_opened,connect_p50_us,"));
    assert!(lines[0].contains(",total_p50_us,total_p90_us,total_p99_us,total_max_us,"));
    assert!(lines[0].contains(",status_other,non_2xx,"));
    // https columns, empty for http, then what --depth came to and the server's HTTP/2 stream limit, the HTTP
    // version, and QUIC's figures (empty but for HTTP/3), then which target a row is about (--targets)
    assert!(lines[0]
        .contains(",tls_max_us,tls_handshakes_full,tls_handshakes_resumed,max_in_flight,max_concurrent_streams,http,"));
    assert!(lines[0].contains(",quic_lost_packets,quic_rtt_us,connect_p75_us,"));
    // then p75 and p95 of each phase, the codes, what tells rows of several results apart, and the engine
    assert!(lines[0].ends_with(
        ",total_p75_us,total_p95_us,tls_p75_us,tls_p95_us,status_codes,method,target,started_at,file,\
                    target_method,target_url,engine"
    ));
    assert!(
        lines[2].contains(",200:100,GET,http://127.0.0.1:") && lines[2].contains(" (embedded server),"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("serial,1,100,") && lines[2].starts_with("keepalive,2,100,"), "{stdout}");
    let columns = lines[0].split(',').count();
    assert!(lines.iter().all(|l| l.split(',').count() == columns));

    let (code, stdout, stderr) = connbench(&["run", "--mode", "serial,keepalive", "-n", "100", "--format", "markdown"]);
    assert_eq!(code, 0, "{stderr}");
    let table: Vec<_> = stdout.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 4, "{stdout}");
    assert!(table[1].starts_with("| --- |"));
    assert!(table[2].starts_with("| serial |") && table[3].starts_with("| keepalive |"));
}

#[test]
fn an_all_503_run_is_flagged_and_fails_a_non_2xx_gate_that_error_rate_lets_through() {
    let (code, stdout, stderr) = connbench(&[
        "run",
        "-n",
        "20",
        "-c",
        "2",
        "--server-status",
        "503",
        "--check",
        "error_rate<1%",
        "--check",
        "non_2xx_rate<1%",
        "--check",
        "non_2xx<=0",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("keepalive: WARNING: 20 of 20 responses (100.0%) were not 2xx: 5xx 20"), "{stdout}");
    assert!(stdout.lines().any(|l| l.contains("error_rate < 1%") && l.ends_with(" ok")), "{stdout}");
    assert!(stderr.contains("non_2xx_rate < 1% (measured 100%); keepalive non_2xx <= 0 (measured 20)"), "{stderr}");
}

#[test]
fn a_status_outside_100_to_599_is_other_never_a_success() {
    let target = server(ServerConfig { status: 999, ..ServerConfig::default() });
    let result = crate::util::run(&target, &["-n", "10", "-c", "1"]);
    let run = crate::util::only(&result);
    assert_eq!((run.requests, run.status.other, run.status.s2xx, run.status.non_2xx()), (10, 10, 0, 10));
    crate::util::assert_consistent(run);
}

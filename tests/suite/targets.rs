use std::collections::BTreeMap;
use std::path::PathBuf;

use connbench::record::result::ModeResult;
use connbench::server::{PathCount, ServerConfig, ServerThread};

use crate::util::{assert_consistent, connbench, only, run, scratch, server, settled};

/// The body of the POST target, from a file named in the targets file.
const ORDER: &[u8] = b"{\"item\":42,\"quantity\":3}";

/// A server that counts requests per path, and a targets file of three: a GET with a header of its own, a POST
/// with a body file, and a HEAD.
fn three_targets(test: &str) -> (ServerThread, PathBuf) {
    let target = server(ServerConfig { count_paths: true, ..ServerConfig::default() });
    let dir = scratch(test);
    std::fs::write(dir.join("order.json"), ORDER).unwrap();
    let file = dir.join("targets.txt");
    let text = format!(
        "# three endpoints\nGET http://{addr}/api/users?page=2\nX-Api-Key: secret\n\nPOST /api/orders\n\
         Content-Type: application/json\n@{body}\n\nHEAD /health\n",
        addr = target.addr,
        body = dir.join("order.json").display()
    );
    std::fs::write(&file, text).unwrap();
    (target, file)
}

/// Requests per target, by method and URL, as the result lists them.
fn per_target(m: &ModeResult) -> BTreeMap<String, u64> {
    m.targets.iter().map(|t| (format!("{} {}", t.method, t.url), t.tally.requests)).collect()
}

fn path_counts(target: &ServerThread) -> BTreeMap<String, PathCount> {
    settled(target);
    target.stats.paths()
}

#[test]
fn each_target_is_sent_as_written_and_counted_per_path_by_the_server_in_every_mode() {
    let (target, file) = three_targets("per-path");
    let mut expected = BTreeMap::new();
    for mode in ["keepalive", "pipeline", "multiplex", "serial"] {
        let result = run(&target, &["--mode", mode, "--targets", file.to_str().unwrap(), "-n", "600", "-c", "4"]);
        let m = only(&result);
        assert_consistent(m);
        // round-robin with -n: exactly a third each, every one answered
        assert_eq!((m.requests, m.errors.total()), (600, 0), "{mode}");
        let client = per_target(m);
        let thirds: BTreeMap<String, u64> = ["GET /api/users?page=2", "POST /api/orders", "HEAD /health"]
            .into_iter()
            .map(|key| (key.to_string(), 200))
            .collect();
        assert_eq!(client, thirds, "{mode}");
        // the server's count per path, the POST's body and the GET's own header included
        for (key, count) in &client {
            expected.entry(key.clone()).and_modify(|n| *n += count).or_insert(*count);
        }
        let server = path_counts(&target);
        let seen: BTreeMap<String, u64> = server.iter().map(|(key, c)| (key.clone(), c.requests)).collect();
        assert_eq!(seen, expected, "{mode}: the server's counts equal the client's");
        let orders = &server["POST /api/orders"];
        assert_eq!(orders.body_bytes, orders.requests * ORDER.len() as u64, "{mode}");
        assert!(orders.headers.contains("content-type"), "{mode}: {:?}", orders.headers);
        assert!(server["GET /api/users?page=2"].headers.contains("x-api-key"), "{mode}");
        assert!(!server["HEAD /health"].headers.contains("x-api-key"), "{mode}: a target's header is its own");
        // each target's latency and statuses are its own
        for t in &m.targets {
            assert_eq!((t.tally.latency.count, t.tally.status_codes.get("200")), (200, Some(&200)), "{mode}");
        }
    }
    // the POST was never pipelined behind another request
    assert_eq!(settled(&target).methods_post_overlap, 0);
}

#[test]
fn a_random_order_repeats_with_its_seed() {
    let (target, file) = three_targets("random");
    let file = file.to_str().unwrap();
    let draws = |seed: &str| {
        let result = run(&target, &["--targets", file, "--targets-order", "random", "--seed", seed, "-n", "900"]);
        (result.targets.clone().unwrap().seed, per_target(only(&result)))
    };
    let (seed, first) = draws("7");
    assert_eq!(seed, Some(7));
    assert_eq!(draws("7").1, first, "the same seed sends each target as many requests");
    assert_eq!(first.values().sum::<u64>(), 900);
    assert!(first.values().any(|&n| n != 300), "drawn, not in turn: {first:?}");
    assert_ne!(draws("8").1, first);
    // without --seed, one is drawn and recorded, and repeats the run
    let result = run(&target, &["--targets", file, "--targets-order", "random", "-n", "900"]);
    let seed = result.targets.as_ref().unwrap().seed.expect("the seed drawn is recorded").to_string();
    assert_eq!(draws(&seed).1, per_target(only(&result)));
}

#[test]
fn stages_ramp_the_rate_second_by_second() {
    let target = server(ServerConfig::default());
    // 0 → 300/s over 1 s, then 300/s held for 2 s: 150, 300 and 300 due in seconds 1 to 3
    let result = run(&target, &["--stages", "1s:300,2s:300", "-c", "20"]);
    let m = only(&result);
    assert_eq!(m.rate, None);
    assert_eq!(m.duration_s, 3.0);
    let due: Vec<f64> = m.timeline.iter().map(|t| t.target_rate.unwrap()).collect();
    assert_eq!(due, [150.0, 300.0, 300.0], "each second's target, from the schedule");
    let pacing = m.pacing.unwrap();
    // every request due is accounted for
    assert_eq!(m.requests + m.errors.total() + m.in_flight_at_end + pacing.missed, 750);
    // past the first second each second completes what it had due; generous bounds, as this machine is shared
    for tick in &m.timeline[1..] {
        let due = tick.target_rate.unwrap();
        assert!((tick.requests as f64 - due).abs() <= due * 0.1, "second {}: {} of {due}", tick.t, tick.requests);
    }
}

#[test]
fn a_check_gates_one_target_by_its_url() {
    let (target, file) = three_targets("check");
    let url = format!("http://{}/", target.addr);
    let (code, stdout, stderr) = connbench(&[
        "run",
        &url,
        "--targets",
        file.to_str().unwrap(),
        "-n",
        "300",
        "--check",
        "p99.total[/health]<10s",
        "--check",
        "errors[POST /api/orders]<=0",
        "--check",
        "rps[/nowhere]>1",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let verdict =
        |check: &str| stdout.lines().find(|l| l.contains(check)).map(|l| l.split_whitespace().last().unwrap());
    assert_eq!(verdict("p99.total[/health] < 10s"), Some("ok"), "{stdout}");
    assert_eq!(verdict("errors[POST /api/orders] <= 0"), Some("ok"), "{stdout}");
    assert_eq!(verdict("rps[/nowhere] > 1"), Some("FAILED"), "{stdout}");
    assert!(stderr.contains("gate failed: keepalive rps[/nowhere] > 1 (measured no target /nowhere)"), "{stderr}");
    // the text report: what the targets were under the first line, and a table under the headline
    // under the request and the plan
    let header: Vec<_> = stdout.lines().skip(1).take(3).collect();
    assert!(header[0] == "request: GET,POST,HEAD" && header[1].starts_with("plan: -c 50, -n 300"), "{stdout}");
    assert!(header[2].starts_with("targets: 3 from "), "{stdout}");
    assert!(stdout.contains("(GET 1, HEAD 1, POST 1), round-robin\n"), "{stdout}");
    assert!(stdout.contains("\ntargets, keepalive\n  method  url"), "{stdout}");
    let post = stdout.lines().find(|l| l.starts_with("  POST ")).expect("a row per target");
    assert_eq!(post.split_whitespace().take(4).collect::<Vec<_>>(), ["POST", "/api/orders", "100", "0"], "{stdout}");
}

#[test]
fn targets_come_from_standard_input_too() {
    let target = server(ServerConfig { count_paths: true, ..ServerConfig::default() });
    let url = format!("http://{}/", target.addr);
    let mut child = crate::util::binary()
        .args(["run", &url, "--targets", "-", "-n", "40", "--format", "json"])
        .env("CI", "true")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines =
        "{\"method\":\"GET\",\"url\":\"/a\"}\n{\"method\":\"DELETE\",\"url\":\"/b\",\"header\":{\"X-B\":[\"1\"]}}\n";
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), lines.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let result: connbench::record::result::RunResult = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(per_target(only(&result)), BTreeMap::from([("GET /a".into(), 20), ("DELETE /b".into(), 20)]));
    assert_eq!(result.targets.unwrap().file, "-");
    assert!(path_counts(&target)["DELETE /b"].headers.contains("x-b"));
}

#[test]
fn bad_targets_are_refused_before_any_load_naming_file_and_line() {
    let target = server(ServerConfig { count_paths: true, ..ServerConfig::default() });
    let url = format!("http://{}/", target.addr);
    let dir = scratch("bad-targets");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    // each case: the file, what the message must say
    for (path, needle) in [
        (write("empty", "# nothing\n"), "empty: holds no target".to_string()),
        (write("line", "GET /a\n\nPOST /b\nNo Colon\n"), "line:4: 'No Colon': expected 'Name: value'".into()),
        (
            write("origins", &format!("GET {url}a\nGET http://127.0.0.1:1/b\n")),
            format!("origins:2: http://127.0.0.1:1 is a second origin beside the URL's, http://{}", target.addr),
        ),
        (write("method", "{\"method\":\"G T\",\"url\":\"/a\"}\n"), "method:1: 'G T' is not an HTTP method".into()),
        ("/nonexistent/targets".into(), "--targets /nonexistent/targets: No such file".into()),
    ] {
        let (code, stdout, stderr) = connbench(&["run", &url, "--targets", &path, "-n", "10"]);
        assert_eq!(code, 2, "{path}: {stdout}{stderr}");
        assert!(stderr.contains(&needle), "{path}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
    // without a URL, the first absolute target's origin is the target, and a second is named beside it
    let two = write("two", &format!("GET {url}a\nGET http://127.0.0.1:1/b\n"));
    let (code, _, stderr) = connbench(&["run", "--targets", &two, "-n", "10"]);
    assert_eq!(code, 2);
    assert!(stderr.contains(&format!("beside http://{} (line 1)", target.addr)), "{stderr}");
    assert!(target.stats.paths().is_empty(), "no load");
}

#[test]
fn stages_and_orders_are_refused_where_they_cannot_apply() {
    // each case: the arguments, what the message must say
    for (args, needle) in [
        (
            &["--stages", "5s:100", "-d", "10s"][..],
            "-d cannot be used with --stages: the stages are the schedule, and the run lasts their sum (5s)",
        ),
        (&["--stages", "5s:100", "-n", "10"], "-n cannot be used with --stages"),
        (&["--stages", "5s:100,0s:5"], "--stages '5s:100,0s:5': stage 2 '0s:5': a stage lasts longer than 0s"),
        (&["--seed", "3"], "--seed orders the targets of --targets FILE, and there is none"),
        (&["--targets-order", "random"], "--targets-order orders the targets of --targets FILE"),
    ] {
        let mut full = vec!["run"];
        full.extend_from_slice(args);
        let (code, _, stderr) = connbench(&full);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

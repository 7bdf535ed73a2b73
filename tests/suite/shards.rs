//! `--shard I/N` and `--start-at`: shares of one plan run side by side, merged into exactly the whole.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use connbench::record::merge::merge;
use connbench::record::result::RunResult;
use connbench::server::ServerConfig;

use crate::util::{binary, run, server, settled};

/// Runs the shards of one plan at once against `target`, all starting at the same moment.
fn shards(target: &connbench::server::ServerThread, count: u32, args: &[&str]) -> Vec<RunResult> {
    let start = SystemTime::now() + Duration::from_millis(700);
    let start = format!("{:.3}", start.duration_since(UNIX_EPOCH).unwrap().as_secs_f64());
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..count)
            .map(|index| {
                let shard = format!("{index}/{count}");
                let mut full = vec!["--shard", shard.as_str(), "--start-at", start.as_str()];
                full.extend_from_slice(args);
                let full: Vec<String> = full.iter().map(|s| s.to_string()).collect();
                scope.spawn(move || run(target, &full.iter().map(String::as_str).collect::<Vec<_>>()))
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    })
}

fn merged(results: &[RunResult]) -> RunResult {
    let named: Vec<(String, &RunResult)> = results.iter().enumerate().map(|(i, r)| (format!("shard{i}"), r)).collect();
    let inputs: Vec<(&str, &RunResult)> = named.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    merge(&inputs).unwrap()
}

#[test]
fn two_shards_of_a_rate_run_started_together_merge_into_the_whole() {
    let target = server(ServerConfig::default());
    let results = shards(&target, 2, &["--rate", "2000", "-d", "3s", "-c", "4"]);
    for (index, result) in results.iter().enumerate() {
        assert_eq!(result.shard.map(|s| (s.index, s.count)), Some((index as u32, 2)));
        let whole = result.whole.expect("a shard records the whole plan");
        assert_eq!((whole.connections, whole.rate), (4, Some(2000.0)));
        assert_eq!((result.runs[0].connections, result.runs[0].rate), (2, Some(1000.0)));
    }
    let m = merged(&results);
    let run = &m.runs[0];
    assert_eq!((run.connections, run.rate, run.errors.total()), (4, Some(2000.0), 0));
    assert!(run.requests.abs_diff(6000) <= 60, "{} requests", run.requests);
    // The server also answered some of what was in flight when the window closed, and nothing else.
    let served = settled(&target).responses;
    assert!((run.requests..=run.requests + run.in_flight_at_end).contains(&served), "{served} served, {run:?}");
    let seconds: Vec<_> = run.timeline.iter().filter(|t| t.requests > 100).map(|t| t.t).collect();
    assert_eq!(seconds, vec![1, 2, 3], "one 3-second timeline: {:?}", run.timeline);
}

#[test]
fn request_counts_split_exactly_and_a_shard_given_twice_is_refused() {
    let target = server(ServerConfig::default());
    let results = shards(&target, 3, &["-n", "1001", "-c", "4"]);
    let requests: Vec<_> = results.iter().map(|r| r.runs[0].requests).collect();
    assert_eq!(requests, vec![334, 334, 333]);
    let m = merged(&results);
    assert_eq!((m.runs[0].requests, m.runs[0].connections), (1001, 4));
    assert_eq!(settled(&target).responses, 1001);
    // the same through the binary: a shard given twice is exit 2
    let dir = std::env::temp_dir().join(format!("connbench-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<_> = results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let path = dir.join(format!("{i}.json"));
            std::fs::write(&path, serde_json::to_vec(r).unwrap()).unwrap();
            path
        })
        .collect();
    let out = binary().arg("merge").args([&files[0], &files[1], &files[1]]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("shard 1/3 is given twice"), "{stderr}");
    let out = binary().arg("merge").args(&files).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_wait_for_start_at_says_when_the_load_starts() {
    let in_a_moment = SystemTime::now() + Duration::from_millis(600);
    let when = humantime::format_rfc3339_millis(in_a_moment).to_string();
    let (code, _, stderr) = crate::util::connbench(&["run", "-n", "5", "-c", "1", "--start-at", &when]);
    assert_eq!(code, 0, "{stderr}");
    let line = stderr.lines().find(|l| l.contains("--start-at")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.starts_with(&format!("connbench: --start-at: the load starts at {when} (in ")), "{line}");
}

#[test]
fn a_preflight_connection_closed_while_waiting_for_start_at_is_still_counted() {
    // More than a second to wait: the idle preflight connection is closed rather than kept, and counted.
    let target = server(ServerConfig::default());
    let start = SystemTime::now() + Duration::from_millis(1500);
    let start = format!("{:.3}", start.duration_since(UNIX_EPOCH).unwrap().as_secs_f64());
    let result = run(&target, &["--start-at", &start, "--mode", "keepalive", "-c", "2", "-n", "10"]);
    let m = &result.runs[0];
    assert_eq!(m.requests, 10);
    assert_eq!(settled(&target).connections, m.connections_opened, "the server's count is ours");
    assert_eq!(m.connections_opened, 3, "the preflight's, closed, and the mode's two");
}

//! Port accounting where exhaustion is deterministic: each test runs a shell in a private network
//! namespace (`unshare -rn`) with a 10-port ephemeral range, starts the embedded server there and runs
//! connbench against it. The namespace exists before connbench starts, since it is another process.
//! Where namespaces are refused, the tests say so and pass without asserting. Tests of one client IP
//! say `--source-ip kernel` (127.0.0.1, no bind); the default, `auto`, rotates over 127.0.0.2 up.

use std::process::{Command, Output};

use serde_json::Value;

use crate::util::engines;

/// Runs `script` in a fresh namespace: loopback up, ports 40000-40009, `tcp_tw_reuse` as given, the
/// embedded server listening on 127.0.0.1:8080 ($U), the binary as $B, each `run` of it on `engine`. None
/// when namespaces are refused.
fn lab(engine: &str, tw_reuse: u8, script: &str) -> Option<Output> {
    let script = script.replace("\"$B\" run ", &format!("\"$B\" run --engine {engine} "));
    let setup = format!(
        "ip link set lo up || exit 97
         echo '40000 40009' > /proc/sys/net/ipv4/ip_local_port_range
         echo {tw_reuse} > /proc/sys/net/ipv4/tcp_tw_reuse
         \"$B\" serve --listen 127.0.0.1:8080 >/dev/null 2>&1 &
         server=$!
         # wait for the listener (1F90 is 8080, 0A is LISTEN) without connecting: that would take a port
         for i in $(seq 100); do grep -q ':1F90 00000000:0000 0A' /proc/net/tcp && break; sleep 0.05; done
         U=http://127.0.0.1:8080/
         {script}
         kill $server"
    );
    let out = Command::new("unshare")
        .args(["-rn", "timeout", "60", "sh", "-c", &setup])
        .env("B", env!("CARGO_BIN_EXE_connbench"))
        .env("CI", "true")
        .output();
    match out {
        Ok(out) if out.status.code() != Some(97) && !String::from_utf8_lossy(&out.stderr).starts_with("unshare:") => {
            Some(out)
        }
        refused => {
            eprintln!("skipped: no private network namespace here (unshare -rn: {refused:?})");
            None
        }
    }
}

/// The JSON documents the script printed, in order, one per line of `---` between them.
fn results(out: &Output) -> Vec<Value> {
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("\n---\n")
        .map(|doc| serde_json::from_str(doc).unwrap_or_else(|e| panic!("{e}: {doc}\nstderr: {}", stderr(out))))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fills 127.0.0.1's ten ports with TIME_WAIT.
const FILL: &str = "\"$B\" run $U --mode serial -n 10 --source-ip kernel --format json 2>/dev/null; echo ---";

#[test]
fn ten_client_closes_fill_a_ten_port_tuple_in_ledger_and_kernel_alike() {
    for engine in engines() {
        let script = format!("{FILL}; \"$B\" ports $U --source-ip kernel --format json; \"$B\" run $U --mode serial -n 5 --source-ip kernel --port-policy fail 2>&2; echo \"fail exit $?\" >&2");
        let Some(out) = lab(engine, 0, &script) else { return };
        let docs = results(&out);
        let run = &docs[0]["runs"][0];
        assert_eq!((run["requests"].as_u64(), run["connections_opened"].as_u64()), (Some(10), Some(10)));
        let ports = &run["ports"];
        assert_eq!((ports["time_wait_peak"].as_u64(), ports["kernel_time_wait_peak"].as_u64()), (Some(10), Some(10)));
        let tuple = &docs[1]["tuples"][0];
        assert_eq!((tuple["time_wait"].as_u64(), tuple["free"].as_u64()), (Some(10), Some(0)), "the tuple is full");
        let err = stderr(&out);
        assert!(err.contains("fail exit 2") && err.contains("TIME_WAIT"), "{err}");
    }
}

#[test]
fn rotation_over_three_more_client_ips_completes_what_one_cannot() {
    for engine in engines() {
        let script = format!("{FILL}; \"$B\" run $U --mode serial -n 25 --source-ip 127.0.0.2-127.0.0.4 --format json");
        let Some(out) = lab(engine, 0, &script) else { return };
        let run = &results(&out)[1]["runs"][0];
        assert_eq!(
            (run["requests"].as_u64(), run["errors"].as_object().unwrap().values().any(|v| v != 0)),
            (Some(25), false)
        );
        let per_ip: Vec<u64> =
            run["ports"]["per_ip"].as_array().unwrap().iter().map(|p| p["opened"].as_u64().unwrap()).collect();
        assert_eq!((per_ip.len(), per_ip.iter().sum::<u64>()), (3, 25));
        assert!(per_ip.iter().all(|&n| n <= 10), "no IP past its 10 ports: {per_ip:?}");
    }
}

#[test]
fn policy_off_counts_each_eaddrnotavail() {
    for engine in engines() {
        let script =
            format!("{FILL}; \"$B\" run $U --mode serial -n 5 --source-ip kernel --port-policy off --format json");
        let Some(out) = lab(engine, 0, &script) else { return };
        let run = &results(&out)[1]["runs"][0];
        assert_eq!((run["requests"].as_u64(), run["errors"]["addr_unavailable"].as_u64()), (Some(0), Some(5)));
    }
}

#[test]
fn policy_wait_completes_by_waiting_for_ports_to_free() {
    for engine in engines() {
        // tcp_tw_reuse=1: a TIME_WAIT port is taken over after a second, so 40 connections fit 10 ports in turn.
        let Some(out) =
            lab(engine, 1, "\"$B\" run $U --mode serial -n 40 --source-ip kernel --port-policy wait --format json")
        else {
            return;
        };
        let run = &results(&out)[0]["runs"][0];
        assert_eq!((run["requests"].as_u64(), run["errors"]["addr_unavailable"].as_u64()), (Some(40), Some(0)));
        assert!(run["ports"]["waited_ms"].as_u64().unwrap() > 0, "it waited for ports");
    }
}

#[test]
fn policy_fail_stops_a_mode_that_runs_out_and_still_writes_the_result() {
    for engine in engines() {
        // A duration run cannot say up front how many ports it needs: it starts, and stops at the 11th.
        let script =
            "\"$B\" run $U --mode serial -d 5s --source-ip kernel --port-policy fail --format json; echo \"exit $?\" >&2";
        let Some(out) = lab(engine, 0, script) else { return };
        let result = &results(&out)[0];
        let run = &result["runs"][0];
        assert_eq!((run["requests"].as_u64(), run["errors"]["addr_unavailable"].as_u64()), (Some(10), Some(1)));
        assert_eq!(result["complete"], false);
        let err = stderr(&out);
        assert!(err.contains("exit 2") && err.contains("TIME_WAIT"), "{err}");
    }
}

/// The numbers of one mode's port accounting: (requests, errors, waited_ms, client IPs, most held by one).
fn port_figures(run: &Value) -> (u64, u64, u64, Vec<String>, u64) {
    let errors = run["errors"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    let ports = &run["ports"];
    let ips = ports["client_ips"].as_array().unwrap().iter().map(|ip| ip.as_str().unwrap().to_string()).collect();
    let most_held = ports["per_ip"].as_array().unwrap().iter().map(|p| p["held_peak"].as_u64().unwrap()).max().unwrap();
    (run["requests"].as_u64().unwrap(), errors, ports["waited_ms"].as_u64().unwrap(), ips, most_held)
}

#[test]
fn by_default_new_client_ips_carry_what_one_cannot_with_no_error_and_no_wait() {
    for engine in engines() {
        // 127.0.0.1's ports full first; then twice 50 client-first closes: the second run finds the first
        // one's TIME_WAIT in the kernel's census and moves past those addresses.
        let run = "\"$B\" run $U --mode serial -n 50 --format json";
        let Some(out) = lab(engine, 0, &format!("{FILL}; {run}; echo ---; {run}")) else { return };
        let docs = results(&out);
        let mut all_ips = Vec::new();
        for doc in &docs[1..] {
            let run = &doc["runs"][0];
            let (requests, errors, waited_ms, ips, most_held) = port_figures(run);
            assert_eq!((requests, errors, waited_ms), (50, 0, 0), "{}", stderr(&out));
            assert!(ips.len() >= 5 && ips.iter().all(|ip| ip.starts_with("127.")), "{ips:?}");
            assert!(!ips.contains(&"127.0.0.1".to_string()), "auto leaves 127.0.0.1 alone: {ips:?}");
            assert!(most_held <= 5, "no tuple past half its 10 ports: {most_held}");
            assert_eq!(run["ports"]["source_ip"], "auto");
            assert!(run["ports"]["occupancy_peak"].as_f64().unwrap() <= 0.5);
            let per_second = run["timeline"].as_array().unwrap().iter().map(|t| t["client_ips"].as_u64().unwrap());
            assert!(per_second.max().unwrap() >= 5, "the timeline counts client IPs in rotation");
            all_ips.push(ips);
        }
        let fresh = all_ips[1].iter().filter(|ip| !all_ips[0].contains(ip)).count();
        assert!(fresh >= 5, "the second run needs addresses the first left in TIME_WAIT: {all_ips:?}");
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    }
}

#[test]
fn each_mode_says_the_time_wait_it_left_apart_from_what_it_began_with() {
    for engine in engines() {
        // TIME_WAIT held 60 s (tcp_tw_reuse=0): nothing frees during the run, so every count is exact. Serial
        // and parallel close 3 connections each from the client, keepalive its 2 at the end: 8 of 10 ports.
        let script = "\"$B\" run $U --mode serial,parallel,keepalive -n 3 -c 2 --source-ip kernel --format json";
        let Some(out) = lab(engine, 0, script) else { return };
        let result = &results(&out)[0];
        let mut held = 0;
        for run in result["runs"].as_array().unwrap() {
            let ports = &run["ports"];
            let count = |name: &str| ports[name].as_u64().unwrap_or_else(|| panic!("{name}: {ports}"));
            let left = run["closed_by_client"].as_u64().unwrap() + run["closed_on_server_request"].as_u64().unwrap();
            let mode = run["mode"].as_str().unwrap();
            assert_eq!(count("time_wait_at_start"), held, "{mode}: what the modes before it left");
            assert_eq!((count("time_wait_own_peak"), count("time_wait_own_end")), (left, left), "{mode}: its own");
            assert_eq!(count("time_wait_peak"), held + left, "{mode}: the two together");
            assert!(count("kernel_time_wait_at_start") <= held, "{mode}: {ports}");
            let last = run["timeline"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(last["time_wait_own"].as_u64(), Some(left), "{mode}: the timeline says the same");
            held += left;
        }
        assert_eq!(held, 8, "{}", stderr(&out));
    }
}

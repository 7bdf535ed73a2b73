//! `--engine`: where io_uring is refused, as a container runtime's seccomp profile refuses it, `--engine uring`
//! stops the run before any load and a default of io_uring falls back to tokio with a note. The refusal is
//! real: the binary runs under a seccomp filter, installed before exec, that fails io_uring_setup with EPERM.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::util::binary;

/// io_uring_setup's number, the same on every Linux architecture (the unified syscall table).
const IO_URING_SETUP: u32 = 425;

/// The binary, with io_uring_setup failing as EPERM in it (PR_SET_NO_NEW_PRIVS lets an unprivileged process
/// install the filter).
fn without_io_uring() -> Command {
    use nix::libc;
    let mut command = binary();
    command.env("CI", "true");
    // SAFETY: between fork and exec the closure calls only prctl(2), async-signal-safe, on memory it owns.
    unsafe {
        command.pre_exec(|| {
            let mut filter = [
                // A = the syscall's number (seccomp_data.nr, at offset 0)
                libc::sock_filter { code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, jt: 0, jf: 0, k: 0 },
                libc::sock_filter {
                    code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
                    jt: 0,
                    jf: 1,
                    k: IO_URING_SETUP,
                },
                libc::sock_filter {
                    code: (libc::BPF_RET | libc::BPF_K) as u16,
                    jt: 0,
                    jf: 0,
                    k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
                },
                libc::sock_filter {
                    code: (libc::BPF_RET | libc::BPF_K) as u16,
                    jt: 0,
                    jf: 0,
                    k: libc::SECCOMP_RET_ALLOW,
                },
            ];
            let program = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_mut_ptr() };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &raw const program) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

#[test]
fn engine_uring_where_io_uring_is_refused_exits_2_before_any_load() {
    let out = without_io_uring().args(["run", "--engine", "uring", "-n", "10", "--no-progress"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--engine uring: io_uring_setup was refused"), "{stderr}");
    assert!(out.stdout.is_empty(), "no load, no report");
}

#[test]
fn engine_tokio_runs_where_io_uring_is_refused() {
    let out = without_io_uring().args(["run", "--engine", "tokio", "-n", "10", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["runs"][0]["requests"], 10);
    assert!(json["notes"].as_array().is_none_or(|notes| notes.is_empty()), "{}", json["notes"]);
}

#[test]
fn a_mode_whose_default_is_io_uring_runs_on_tokio_where_it_is_refused_and_says_so() {
    use connbench::plan::{Engine, Mode};
    let out = without_io_uring()
        .args(["run", "--mode", "serial,parallel,keepalive,pipeline", "-n", "50", "-c", "2", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for run in json["runs"].as_array().unwrap() {
        assert_eq!((&run["requests"], &run["engine"]), (&50.into(), &"tokio".into()), "{}", run["mode"]);
    }
    let notes: Vec<_> = json["notes"].as_array().map_or(vec![], |notes| notes.iter().collect());
    for mode in [Mode::Serial, Mode::Parallel, Mode::Keepalive, Mode::Pipeline] {
        let noted = notes.iter().any(|n| {
            n["kind"] == "engine"
                && n["mode"] == mode.name()
                && n["text"].as_str().unwrap().starts_with("io_uring is not available (io_uring_setup was refused")
        });
        assert_eq!(noted, Engine::default_for(mode) == Engine::Uring, "{mode:?}: {notes:?}");
    }
}

#[test]
fn each_mode_records_the_engine_that_drove_it() {
    let Ok(()) = connbench::engine::uring_available() else {
        eprintln!("skipped: io_uring is not available here (the fallback is tested above)");
        return;
    };
    let out = binary()
        .args(["run", "--engine", "uring", "--mode", "keepalive,multiplex", "-n", "20", "-c", "2", "--format", "json"])
        .env("CI", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let engines: Vec<_> = json["runs"].as_array().unwrap().iter().map(|r| r["engine"].as_str()).collect();
    assert_eq!(engines, [Some("uring"), Some("tokio")], "multiplex has only tokio's");
}

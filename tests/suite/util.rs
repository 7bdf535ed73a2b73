use std::process::Command;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use connbench::cli::{Cli, Command as Sub};
use connbench::plan::Plan;
use connbench::record::result::{ModeResult, RunResult};
use connbench::server::{self, ServerConfig, ServerThread, StatsSnapshot};

pub fn server(config: ServerConfig) -> ServerThread {
    server::spawn_thread(config).expect("embedded server starts")
}

/// Runs `connbench run URL ARGS…` in-process against `target` and returns the result.
pub fn run(target: &ServerThread, args: &[&str]) -> RunResult {
    run_at(target.addr, args)
}

/// The one mode of a single-mode run.
pub fn only(result: &RunResult) -> &ModeResult {
    assert_eq!(result.runs.len(), 1, "one mode expected");
    &result.runs[0]
}

/// The server's counters once it has finished with every connection the client closed.
pub fn settled(target: &ServerThread) -> StatsSnapshot {
    // The client has read every response before returning, and the server publishes its counters
    // before writing; only a closing connection's bookkeeping may still be running.
    std::thread::sleep(std::time::Duration::from_millis(100));
    target.stats.snapshot()
}

/// Invariants every mode keeps, whatever the server does (docs/design.md §3, §5).
pub fn assert_consistent(m: &ModeResult) {
    assert_eq!(m.latency.connect.count, m.connections_opened, "{:?}: one connect sample per connection", m.mode);
    assert_eq!(m.latency.total.count, m.requests, "{:?}: one total sample per request", m.mode);
    assert_eq!(m.latency.ttfb.count, m.requests);
    assert_eq!(m.latency.total_first.count + m.latency.total_reused.count, m.requests);
    assert_eq!(m.status.total(), m.requests, "{:?}: one status per response", m.mode);
}

pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_connbench"))
}

/// A listener that answers every connection with the same bytes, whatever was asked, then closes: a
/// server misbehaving in ways the embedded one never does. Lives as long as the test process.
pub fn raw_server(reply: Vec<u8>) -> std::net::SocketAddr {
    raw_server_counting(reply).0
}

/// [`raw_server`], with the count of connections it accepted.
pub fn raw_server_counting(reply: Vec<u8>) -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = std::io::Write::write_all(&mut stream, &reply);
            let _ = stream.shutdown(std::net::Shutdown::Write);
            // read until the client closes, so our close never resets what it still sends
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        }
    });
    (addr, accepted)
}

/// Like [`run`], against any address.
pub fn run_at(addr: std::net::SocketAddr, args: &[&str]) -> RunResult {
    run_url(&format!("http://{addr}/"), args)
}

/// Like [`run`], against any URL (https included).
pub fn run_url(url: &str, args: &[&str]) -> RunResult {
    static NEVER: AtomicBool = AtomicBool::new(false);
    let mut full = vec!["connbench", "run", url, "--no-progress"];
    full.extend_from_slice(args);
    let Sub::Run(run) = Cli::try_parse_from(&full).expect("flags parse").command else { unreachable!() };
    let plan = Plan::from_args(&run, full.iter().map(|s| s.to_string()).collect()).expect("plan is valid");
    connbench::measure::measure(&plan, &NEVER).expect("run succeeds")
}

/// Runs the binary, returning (exit code, stdout, stderr). Off a terminal and in CI, so no progress bar and
/// no colour whatever the environment says (NO_COLOR changes nothing off a terminal, but a test's output
/// must not depend on it).
pub fn connbench(args: &[&str]) -> (i32, String, String) {
    let out = binary().args(args).env("CI", "true").env_remove("NO_COLOR").output().expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A fresh directory for one test's files.
pub fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("connbench-test-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An embedded server speaking https with a certificate made now, and a PEM file of that certificate for
/// `--cacert` (a few hundred bytes left in the temporary directory, named by process and server).
pub fn tls_server(config: ServerConfig) -> (ServerThread, std::path::PathBuf) {
    tls_server_with(config, |identity| (*identity.server_config(None).expect("a TLS configuration")).clone())
}

/// Like [`tls_server`], with the TLS configuration `make` builds around the certificate made now (another
/// version, no tickets, a client certificate required).
pub fn tls_server_with(
    config: ServerConfig,
    make: impl FnOnce(connbench::net::tls::Identity) -> rustls::ServerConfig,
) -> (ServerThread, std::path::PathBuf) {
    use connbench::net::tls::Identity;
    let identity = Identity::self_signed().expect("a certificate is made");
    let pem = temp_pem(&identity.certificate_pem());
    let tls = Some(std::sync::Arc::new(make(identity)));
    (server(ServerConfig { tls, ..config }), pem)
}

/// A PEM file in the temporary directory (a few hundred bytes left there, named by process and number).
pub fn temp_pem(pem: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("connbench-test-{}-{}.pem", std::process::id(), unique()));
    std::fs::write(&path, pem).unwrap();
    path
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The exit code of `child`, which must end within `within`.
pub fn wait(child: &mut std::process::Child, within: std::time::Duration) -> i32 {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(std::time::Instant::now() < deadline, "the process did not end");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The engines a test of counts runs on, one pass each: tokio, and io_uring where this kernel lets a process
/// have a ring (where it does not, the test says so and skips that pass; the fallback is tested apart).
pub fn engines() -> Vec<&'static str> {
    match connbench::engine::uring_available() {
        Ok(()) => vec!["tokio", "uring"],
        Err(why) => {
            eprintln!("skipped: the uring pass (io_uring is not available here: {why})");
            vec!["tokio"]
        }
    }
}

/// `args` run on `engine`.
pub fn on<'a>(engine: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--engine", engine];
    all.extend_from_slice(args);
    all
}

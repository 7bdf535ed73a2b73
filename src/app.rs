/*!
The glue of `connbench run` (docs/design.md §6): profile -> plan -> target -> engine per mode -> result ->
report -> gate; and of `compare` and `merge`, which read saved results.

Input problems surface as `Failure::Usage` (exit 2) before any load; everything measured, even when
interrupted, becomes a `RunResult` that is written and printed. A failed `--check` or regression is
`Failure::Gate` (exit 1), returned after everything was written and printed.
*/

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::cli::{CompareArgs, CompareFormatArg, MergeArgs, ReportArgs, ReportFormatArg, RunArgs};
use crate::engine::governor::{Governor, Grant, Sampler};
use crate::engine::{self, LiveCounters};
use crate::net::socket;
use crate::output::OutputFile;
use crate::plan::{url_parts, Format, Mode, Plan, Target, TargetSpec};
use crate::record::result::{RunResult, System, Tool, SCHEMA_VERSION};
use crate::record::RunShape;
use crate::report::figures::Phase;
use crate::report::{compare, gate, hgrm, Look};
use crate::server::{self, ServerThread};
use crate::{progress, report};

/// Why `run` produced no result.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The run could not be made: bad input or an unreachable target (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The run was made and printed, but a `--check` or the regression gate failed (exit 1).
    #[error("{0}")]
    Gate(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// `connbench run`: measure, print the report, write the result where `-o` says, then hold it to the gates.
pub fn run(args: &RunArgs, command: Vec<String>, stop: &'static AtomicBool) -> Result<RunResult, Failure> {
    let plan = Plan::from_args(args, command).map_err(Failure::Usage)?;
    // Read and opened before any load, so a missing baseline or an unwritable -o costs nothing.
    let baseline = match &plan.baseline {
        Some(path) => Some(load_result(path, "--baseline")?),
        None => None,
    };
    if let (Some(baseline), Some(path)) = (&baseline, &plan.baseline) {
        let modes: Vec<_> = baseline.runs.iter().map(|r| r.mode).collect();
        if let Some(why) =
            compare::nothing_in_common(&format!("--baseline {}", path.display()), &modes, "this run", &plan.modes)
        {
            return Err(Failure::Usage(why));
        }
    }
    let output = plan.output.as_deref().map(OutputFile::open).transpose().map_err(Failure::Usage)?;
    let json_on_stdout = output.as_ref().is_some_and(OutputFile::is_stdout);
    if json_on_stdout && plan.format == Format::Json {
        return Err(Failure::Usage(
            "-o - and --format json would both write the JSON result to stdout: give one of them".into(),
        ));
    }
    for note in plan.notes() {
        eprintln!("connbench: {note}");
    }
    let result = measure(&plan, stop)?;
    let stopped_short = !result.complete && !stop.load(std::sync::atomic::Ordering::Relaxed);
    // The report first: a result file that cannot be written must not take the report with it. With
    // `-o -` the result owns stdout and the report goes to stderr.
    let report_to = if json_on_stdout { Stream::Stderr } else { Stream::Stdout };
    let look = Look { histogram: plan.histogram, colour: progress::colour(report_to.is_terminal()) };
    let printed = print_to(report_to, |mut out| report::write(plan.format, &result, look, &mut out));
    if let Some(output) = output {
        output.write(&result).map_err(Failure::Usage)?;
    }
    printed?;
    if stopped_short {
        return Err(Failure::Usage("the run stopped early: --port-policy fail found no free port".into()));
    }
    if !result.complete {
        if !plan.checks.is_empty() || baseline.is_some() {
            eprintln!("connbench: the run was interrupted: checks and baseline not evaluated");
        }
        return Ok(result);
    }
    // People read stdout when it carries the text report, stderr when it carries anything else.
    let people = if plan.format == Format::Text { report_to } else { Stream::Stderr };
    let failed = hold_to_gates(&plan, baseline.as_ref(), &result, people)?;
    if failed.is_empty() {
        Ok(result)
    } else {
        Err(Failure::Gate(format!("gate failed: {}", failed.join("; "))))
    }
}

/// Where a report goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn is_terminal(self) -> bool {
        use std::io::IsTerminal;
        match self {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

/// Writes to stdout. A reader that has gone (`connbench run | head`) made its choice: what it did not
/// read is not a failure, and what follows (the `-o` file, the gates and their exit code) still happens.
fn print(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    print_to(Stream::Stdout, write)
}

fn print_to(stream: Stream, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    let written = match stream {
        Stream::Stdout => {
            let mut stdout = std::io::stdout().lock();
            write(&mut stdout).and_then(|()| stdout.flush())
        }
        Stream::Stderr => {
            let mut stderr = std::io::stderr().lock();
            write(&mut stderr).and_then(|()| stderr.flush())
        }
    };
    unless_reader_gone(written)
}

fn unless_reader_gone(written: std::io::Result<()>) -> std::io::Result<()> {
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Evaluates `--check` and `--baseline`, prints the verdicts for people where they read, and returns what
/// failed.
fn hold_to_gates(
    plan: &Plan,
    baseline: Option<&RunResult>,
    result: &RunResult,
    people: Stream,
) -> Result<Vec<String>, Failure> {
    let rows = gate::evaluate(&plan.checks, &result.runs);
    let mut failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.passed)
        .map(|row| format!("{} {} (measured {})", row.mode, row.check, row.measured))
        .collect();
    let comparison = match (baseline, &plan.baseline) {
        (Some(baseline), Some(path)) => {
            Some(compare::compare(&path.display().to_string(), baseline, "this run", result, plan.max_regression))
        }
        _ => None,
    };
    failed.extend(comparison.iter().flat_map(compare::Comparison::regressions));
    let verdicts = |people: &mut dyn Write| {
        if !rows.is_empty() {
            writeln!(people)?;
            gate::write_rows(&rows, people)?;
        }
        if let Some(comparison) = &comparison {
            writeln!(people)?;
            compare::write_text(comparison, people)?;
        }
        people.flush()
    };
    print_to(people, verdicts)?;
    Ok(failed)
}

/// `connbench compare A B`: every figure side by side; exit 1 on a regression beyond `--max-regression`.
pub fn compare(args: &CompareArgs) -> Result<(), Failure> {
    let (a, b) = (load_result(&args.a, "A")?, load_result(&args.b, "B")?);
    let (a_name, b_name) = (args.a.display().to_string(), args.b.display().to_string());
    let modes = |r: &RunResult| r.runs.iter().map(|m| m.mode).collect::<Vec<_>>();
    if let Some(why) = compare::nothing_in_common(&a_name, &modes(&a), &b_name, &modes(&b)) {
        return Err(Failure::Usage(why));
    }
    let comparison = compare::compare(&a_name, &a, &b_name, &b, args.max_regression);
    print(|out| match args.format {
        CompareFormatArg::Text => compare::write_text(&comparison, out),
        CompareFormatArg::Markdown => compare::write_markdown(&comparison, out),
        CompareFormatArg::Json => compare::write_json(&comparison, out),
    })?;
    let regressions = comparison.regressions();
    if regressions.is_empty() {
        Ok(())
    } else {
        Err(Failure::Gate(format!("regression: {}", regressions.join("; "))))
    }
}

/// `connbench merge A B … [-o OUT]`: one result from several machines' results of the same plan.
pub fn merge(args: &MergeArgs) -> Result<(), Failure> {
    let output = args.output.as_deref().map(OutputFile::open).transpose().map_err(Failure::Usage)?;
    let mut loaded = Vec::new();
    for path in &args.files {
        loaded.push((path.display().to_string(), load_result(path, "merge")?));
    }
    let inputs: Vec<(&str, &RunResult)> = loaded.iter().map(|(name, r)| (name.as_str(), r)).collect();
    let merged = crate::record::merge::merge(&inputs).map_err(|e| Failure::Usage(format!("cannot merge: {e}")))?;
    match (output, &args.output) {
        (Some(output), Some(path)) => {
            output.write(&merged).map_err(Failure::Usage)?;
            let requests: u64 = merged.runs.iter().map(|r| r.requests).sum();
            eprintln!("connbench: merged {} results ({requests} requests) into {}", inputs.len(), path.display());
        }
        _ => print(|mut out| report::write(Format::Json, &merged, Look::PLAIN, &mut out))?,
    }
    Ok(())
}

/// `connbench report FILE…`: saved or merged results rendered again; the text is what `run` printed.
pub fn report(args: &ReportArgs) -> Result<(), Failure> {
    let mut loaded = Vec::new();
    for path in &args.files {
        let result = load_result(path, "report")?;
        // Found here, naming the file, rather than as a chart or histogram quietly missing.
        if let Some(why) = damaged_histogram(&result) {
            return Err(Failure::Usage(format!("report {}: {why}", path.display())));
        }
        loaded.push((path.display().to_string(), result));
    }
    let format = match args.format {
        ReportFormatArg::Hgrm => {
            let histogram = hgrm_histogram(args, &loaded)?;
            return Ok(print(|mut out| hgrm::write(&histogram, &mut out))?);
        }
        ReportFormatArg::Text => Format::Text,
        ReportFormatArg::Markdown => Format::Markdown,
        ReportFormatArg::Csv => Format::Csv,
        ReportFormatArg::Html => Format::Html,
    };
    let look = Look { histogram: !args.no_histogram, colour: progress::colour(Stream::Stdout.is_terminal()) };
    let results: Vec<&RunResult> = loaded.iter().map(|(_, r)| r).collect();
    Ok(print(|mut out| report::write_all(format, &results, look, &mut out))?)
}

/// The one histogram `--format hgrm` prints: `--phase` of the `--mode` (needed when there are several).
fn hgrm_histogram(args: &ReportArgs, loaded: &[(String, RunResult)]) -> Result<hdrhistogram::Histogram<u64>, Failure> {
    let names = || Phase::ALL.map(Phase::name).join(", ");
    let phase = Phase::parse(&args.phase)
        .ok_or_else(|| Failure::Usage(format!("--phase '{}': not a phase (one of {})", args.phase, names())))?;
    if loaded.len() > 1 {
        return Err(Failure::Usage(
            "--format hgrm prints one histogram: give one result (merge several first with connbench merge)".into(),
        ));
    }
    let (name, result) = &loaded[0];
    let runs: Vec<_> = match &args.mode {
        Some(mode) => result.runs.iter().filter(|r| r.mode.name() == mode).collect(),
        None => result.runs.iter().collect(),
    };
    let modes = || result.runs.iter().map(|r| r.mode.name()).collect::<Vec<_>>().join(", ");
    let run = match runs[..] {
        [run] => run,
        [] => {
            let mode = args.mode.as_deref().unwrap_or_default();
            return Err(Failure::Usage(format!("--mode {mode}: {name} has no such mode (it has {})", modes())));
        }
        _ => return Err(Failure::Usage(format!("{name} has several modes ({}): choose one with --mode", modes()))),
    };
    let hist = phase.of(run).ok_or_else(|| {
        Failure::Usage(format!("--phase {}: {name} has none for {} (closed loop)", phase.name(), run.mode.name()))
    })?;
    Ok(crate::record::decode(hist).expect("checked when loaded"))
}

/// The first histogram of a result that does not decode, said as where it is and what is wrong.
fn damaged_histogram(result: &RunResult) -> Option<String> {
    for run in &result.runs {
        for phase in Phase::ALL {
            if let Some(Err(e)) = phase.of(run).map(crate::record::decode) {
                return Some(format!("{} latency.{}: {e}", run.mode.name(), phase.name()));
            }
        }
        for tick in &run.timeline {
            if let Some(Err(e)) = tick.hdr.as_deref().map(crate::record::decode_hdr) {
                return Some(format!("{} timeline second {}: {e}", run.mode.name(), tick.t));
            }
        }
    }
    None
}

/// Reads a saved result; `what` says which argument it came from.
fn load_result(path: &std::path::Path, what: &str) -> Result<RunResult, Failure> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("{what} {name}: {e}")))?;
    let version: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Failure::Usage(format!("{what} {name}: not JSON: {e}")))?;
    if version.get("schema_version").and_then(|v| v.as_u64()) != Some(u64::from(SCHEMA_VERSION)) {
        return Err(Failure::Usage(format!(
            "{what} {name}: not a connbench result of schema_version {SCHEMA_VERSION}"
        )));
    }
    serde_json::from_value(version).map_err(|e| Failure::Usage(format!("{what} {name}: not a connbench result: {e}")))
}

/// Runs every mode of the plan against its target and returns what was measured.
/// Descriptors kept for everything but the connections: the runtime, the census socket, stdio, files.
const RESERVED_FDS: u64 = 64;

/// Refuses, before any load, a plan whose connections cannot fit on this machine: in the open-files limit
/// (raised first to the hard limit; one descriptor each, two with the embedded server in-process, which
/// holds the other end), or in the memory available.
fn check_capacity(plan: &Plan, embedded: bool) -> Result<(), Failure> {
    let connections = u64::from(plan.connections);
    let limit = socket::raise_open_files_limit()?;
    let per_connection = if embedded { 2 } else { 1 };
    let needed = connections * per_connection + RESERVED_FDS;
    if needed > limit {
        return Err(Failure::Usage(format!(
            "-c {connections} needs about {needed} open files{}, but the limit (RLIMIT_NOFILE) is {limit}: \
             raise it (ulimit -n) or lower -c",
            if embedded { " (two per connection with the embedded server)" } else { "" }
        )));
    }
    let memory = connections * engine::memory_per_connection(plan.connections) as u64;
    match available_memory() {
        Some(available) => fits_in_memory(connections, memory, available).map_err(Failure::Usage),
        None => Ok(()),
    }
}

/// The connections' memory must leave a fifth of what is available to the rest of the machine.
fn fits_in_memory(connections: u64, memory: u64, available: u64) -> Result<(), String> {
    if memory > available / 10 * 8 {
        return Err(format!(
            "-c {connections} needs about {} MiB of memory, more than the {} MiB available: lower -c",
            memory >> 20,
            available >> 20
        ));
    }
    Ok(())
}

/// MemAvailable of /proc/meminfo, in bytes (None where the kernel does not say).
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

pub fn measure(plan: &Plan, stop: &'static AtomicBool) -> Result<RunResult, Failure> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let embedded;
    let (target, reserved_cores) = match &plan.target {
        TargetSpec::Url(url) => {
            let tls = secure(url.scheme() == "https", url.host_str().unwrap_or_default(), &plan.tls)?;
            (Target { tls, ..resolve(url)? }, 0)
        }
        TargetSpec::Embedded(config) => {
            embedded = server::spawn_thread(config.clone())?;
            (embedded_target(&embedded, config.tls.is_some(), &plan.tls)?, 1)
        }
    };
    check_capacity(plan, matches!(plan.target, TargetSpec::Embedded(_)))?;
    let governor = engine::governor::prepare(plan, target.addr).map_err(Failure::Usage)?;
    // The preflight's connection is the first mode's first, so over https it offers that mode's protocol.
    let first_tls = plan.mode_plan(plan.modes[0], &target).tls;
    let mut first_connection = preflight(&target, plan, &governor, first_tls.as_deref())?;
    let (modes, mut multiplex_connection) = multiplex_if_spoken(plan, &target, &governor, first_connection.as_mut())?;
    if let Some(at) = plan.start_at {
        // A connection idle for long may be closed by the server meanwhile: open fresh ones then.
        if wait_until(at, stop) > Duration::from_secs(1) {
            (first_connection, multiplex_connection) = (None, None);
        }
    }
    let threads = engine_threads(reserved_cores);
    let mut runs = Vec::new();
    let mut complete = true;
    for mode in modes {
        let mode_plan = plan.mode_plan(mode, &target);
        let request = mode_plan.request.clone();
        let live: Vec<_> = (0..threads).map(|_| Arc::new(LiveCounters::default())).collect();
        let shape = RunShape { mode, connections: mode_plan.connections, depth: mode_plan.depth, rate: mode_plan.rate };
        let tracker = progress::track(progress::wanted(plan.progress), mode.name(), plan.stop, live.clone());
        let sampler = Sampler::start(governor.clone());
        let opened = match mode {
            Mode::Multiplex => multiplex_connection.take(),
            Mode::Serial | Mode::Parallel | Mode::Keepalive | Mode::Pipeline => None,
        };
        let opened = opened.or_else(|| first_connection.take());
        let started = SystemTime::now();
        let outcome = engine::run_mode(mode_plan, target.addr, governor.clone(), threads, stop, &live, opened);
        drop(sampler);
        drop(tracker);
        let mut run = outcome.recorder.finish(shape, outcome.elapsed);
        run.started_unix_ms = started.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_millis() as u64);
        if let Some(client) = &target.tls {
            run.tls.get_or_insert_with(Default::default).insecure = client.insecure;
        }
        let (ports, samples) = governor.end_mode();
        run.ports = Some(ports);
        for (i, tick) in run.timeline.iter_mut().enumerate() {
            // Sample i was taken at the end of second i+1; the last covers a final partial second.
            if let Some(sample) = samples.get(i).or(samples.last()) {
                (tick.time_wait, tick.kernel_time_wait) = (Some(sample.ledger), sample.kernel);
                tick.client_ips = Some(sample.client_ips);
            }
        }
        if outcome.ran_out_of_ports {
            eprintln!(
                "connbench: {}: --port-policy fail: no client IP had a free port (TIME_WAIT); the mode stopped early",
                mode.name()
            );
        }
        if run.errors.fd_exhausted > 0 {
            eprintln!(
                "connbench: {}: {} connections failed for want of file descriptors: raise the limit (ulimit -n) \
                 or lower -c",
                mode.name(),
                run.errors.fd_exhausted
            );
        }
        if run.requests == 0 && run.errors.parse > 0 && run.errors.parse == run.errors.total() {
            eprintln!("connbench: {}: {}", mode.name(), not_http(target.addr, &request));
        }
        if let Some(cap) = run.max_concurrent_streams {
            eprintln!(
                "connbench: {}: the server allows {cap} concurrent streams per connection \
                 (SETTINGS_MAX_CONCURRENT_STREAMS), fewer than --depth {}: {cap} were in flight at most",
                mode.name(),
                run.depth
            );
        }
        if let Some(pacing) = run.pacing.filter(|p| p.late_starts > 0 || p.missed > 0) {
            let missed = match pacing.missed {
                0 => String::new(),
                n => format!(", and {n} were never sent (missed)"),
            };
            eprintln!(
                "connbench: {}: {} of {} requests started more than {:?} after their scheduled time (largest lag \
                 {}){missed}: every connection was busy; raise -c or lower --rate",
                mode.name(),
                pacing.late_starts,
                run.requests + run.errors.total() + run.in_flight_at_end,
                crate::record::LATE,
                crate::report::micros(pacing.max_lag_us),
            );
        }
        runs.push(run);
        if outcome.interrupted || outcome.ran_out_of_ports {
            complete = false;
            break;
        }
    }
    Ok(RunResult {
        schema_version: SCHEMA_VERSION,
        tool: Tool::this(),
        complete,
        started_at,
        target: target.display,
        method: Some(plan.method.clone()),
        command: plan.command.clone(),
        system: System {
            ip_local_port_range: socket::ip_local_port_range(),
            tcp_tw_reuse: socket::tcp_tw_reuse(),
            time_wait_secs: socket::TIME_WAIT_SECS,
        },
        runs,
        shard: plan.shard,
        whole: plan.shard.map(|_| plan.whole),
    })
}

/// `--start-at`: sleeps until `at` (or a stop signal) and returns how long it waited. A moment already past
/// starts at once, saying so when it is more than a second ago.
fn wait_until(at: SystemTime, stop: &AtomicBool) -> Duration {
    let began = Instant::now();
    match at.duration_since(SystemTime::now()) {
        Ok(left) => {
            let until = began + left;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until {
                std::thread::sleep(until.saturating_duration_since(Instant::now()).min(Duration::from_millis(50)));
            }
        }
        Err(past) if past.duration() > Duration::from_secs(1) => {
            eprintln!("connbench: --start-at was {:.1} s ago: starting now", past.duration().as_secs_f64());
        }
        Err(_) => {}
    }
    began.elapsed()
}

/// What to say when no response could be parsed: most likely the target speaks another protocol (SSH,
/// TLS, Redis), and its first bytes say which. They are asked for again on a connection of its own, as
/// the engine keeps no bytes of the responses it could not parse.
fn not_http(addr: SocketAddr, request: &[u8]) -> String {
    use std::io::Read;
    let wait = Duration::from_secs(1);
    let mut first = [0u8; 64];
    let answer = std::net::TcpStream::connect_timeout(&addr, wait).and_then(|mut stream| {
        stream.set_read_timeout(Some(wait))?;
        stream.write_all(request)?;
        stream.read(&mut first)
    });
    let said = match answer {
        Ok(0) | Err(_) => "nothing it could read again".to_string(),
        Ok(n) => format!("it answers \"{}\"", first[..n].escape_ascii()),
    };
    format!("no response was HTTP (every one failed to parse): is {addr} an HTTP server? {said}")
}

/// One thread per core the process may use; with the embedded server in-process, one core is left
/// to it so that client and server do not fight over the same core.
fn engine_threads(reserved: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(reserved).max(1)
}

pub(crate) fn resolve(url: &url::Url) -> Result<Target, Failure> {
    let (host, path) = url_parts(url);
    let name = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    // IPv6 literals come bracketed from the URL; the resolver wants them bare.
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    let addr = (bare, port)
        .to_socket_addrs()
        .map_err(|e| Failure::Usage(format!("cannot resolve host '{name}' of {url}: {e}")))?
        .next()
        .ok_or_else(|| Failure::Usage(format!("host '{name}' of {url} has no address")))?;
    Ok(Target { addr, host, path, display: url.to_string(), tls: None })
}

fn embedded_target(server: &ServerThread, https: bool, tls: &crate::net::tls::Options) -> Result<Target, Failure> {
    let addr = server.addr;
    let scheme = if https { "https" } else { "http" };
    let display = format!("{scheme}://{addr}/ (embedded server)");
    let tls = secure(https, &addr.ip().to_string(), tls)?;
    Ok(Target { addr, host: addr.to_string(), path: "/".into(), display, tls })
}

/// The TLS every connection to `host` speaks, for https.
pub(crate) fn secure(
    https: bool,
    host: &str,
    options: &crate::net::tls::Options,
) -> Result<Option<Arc<crate::net::tls::Client>>, Failure> {
    if !https {
        return Ok(None);
    }
    if options.insecure {
        eprintln!("connbench: -k/--insecure: the certificate of {host} is not verified");
    }
    Ok(Some(Arc::new(crate::net::tls::Client::new(host, options).map_err(Failure::Usage)?)))
}

/// Proves the target accepts connections before any load, so an unreachable target exits 2 at once.
/// The connection is not wasted: it becomes the first connection of the first mode, so the server's
/// own connection count still equals ours. It takes its client IP from the port governor like any other.
/// When the kernel has no free port (EADDRNOTAVAIL), reachability cannot be proven this way: the run goes
/// on without the preflight, and its connections count `addr_unavailable` as the port policy says.
fn preflight(
    target: &Target,
    plan: &Plan,
    governor: &Governor,
    tls: Option<&crate::net::tls::Client>,
) -> Result<Option<engine::Opened>, Failure> {
    let client_ip = loop {
        match governor.acquire(Instant::now()) {
            Grant::From(ip) => break ip,
            Grant::WaitUntil(until) => std::thread::sleep(until.saturating_duration_since(Instant::now())),
            Grant::Exhausted => return Err(Failure::Usage("--port-policy fail: no free port (TIME_WAIT)".into())),
        }
    };
    let start = Instant::now();
    let err = match socket::connect_blocking_from(client_ip, target.addr, plan.nodelay, plan.connect_timeout) {
        Ok(mut stream) => {
            let handshake = start.elapsed();
            let tls = match tls {
                Some(client) => Some(tls_preflight(target, client, &mut stream, plan.connect_timeout)?),
                None => None,
            };
            return Ok(Some(engine::Opened { stream, client_ip, handshake, tls, h2_preface_sent: false }));
        }
        Err(err) => err,
    };
    governor.connect_failed(client_ip, crate::record::ErrorKind::of_io(&err), Instant::now());
    let what = match err.kind() {
        std::io::ErrorKind::AddrNotAvailable => return Ok(None),
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            format!("no answer within {:?} (--connect-timeout)", plan.connect_timeout)
        }
        _ => err.to_string(),
    };
    Err(Failure::Usage(format!("cannot connect to {} ({}): {what}", target.display, target.addr)))
}

/// With https, the preflight's TLS handshake: a certificate that does not verify stops the run here, before
/// any request, with the reason and the two ways out.
fn tls_preflight(
    target: &Target,
    client: &crate::net::tls::Client,
    stream: &mut std::net::TcpStream,
    limit: Duration,
) -> Result<(rustls::ClientConnection, Duration), Failure> {
    use crate::net::tls::{handshake_blocking, Refusal};
    handshake_blocking(client, stream, limit).map_err(|refusal| {
        Failure::Usage(match refusal {
            Refusal::Certificate(reason) => format!(
                "the certificate of {} does not verify: {reason}; trust its CA with --cacert FILE, or skip \
                 verification with -k/--insecure",
                target.host
            ),
            Refusal::Handshake(err) => format!("TLS handshake with {} ({}) failed: {err}", target.display, target.addr),
            Refusal::NoProtocol => format!(
                "{} does not speak HTTP/2 (ALPN h2): its TLS handshake refused every protocol offered ({})",
                target.display,
                client.config.alpn_protocols.iter().map(|p| String::from_utf8_lossy(p)).collect::<Vec<_>>().join(", ")
            ),
        })
    })
}

/// The modes to run, and the connection the multiplex mode starts with. Multiplex needs a target that
/// speaks HTTP/2 with prior knowledge (h2c): the embedded server does; any other is asked before any load,
/// by the client's preface and the server's first frame. The connection asked is not wasted, so the server
/// counts no connection that the run does not: the preflight's when multiplex runs first, else one opened
/// for the check and kept (idle) for the multiplex mode. A target that does not speak h2c is an error
/// (exit 2) when multiplex was asked for by name, and is left out of `--mode all` with a note.
fn multiplex_if_spoken(
    plan: &Plan,
    target: &Target,
    governor: &Governor,
    first_connection: Option<&mut engine::Opened>,
) -> Result<(Vec<Mode>, Option<engine::Opened>), Failure> {
    let mut modes = plan.modes.clone();
    if !modes.contains(&Mode::Multiplex) {
        return Ok((modes, None));
    }
    if let Some(why) = engine::h2_request_error(&plan.mode_plan(Mode::Multiplex, target).parts) {
        return Err(Failure::Usage(why));
    }
    if matches!(plan.target, TargetSpec::Embedded(_)) {
        return Ok((modes, None));
    }
    let mut own = None;
    let asked = match first_connection.filter(|_| modes[0] == Mode::Multiplex) {
        Some(first) => Some(first),
        None => {
            let h2_tls = plan.mode_plan(Mode::Multiplex, target).tls;
            own = match preflight(target, plan, governor, h2_tls.as_deref()) {
                Ok(opened) => opened,
                // The run's own preflight has shown the target answers: this one failed over HTTP/2.
                Err(Failure::Usage(why)) if plan.multiplex_if_spoken => {
                    eprintln!("connbench: note: {why}: --mode all runs the four HTTP/1.x modes");
                    modes.retain(|&mode| mode != Mode::Multiplex);
                    return Ok((modes, None));
                }
                Err(failure) => return Err(failure),
            };
            own.as_mut()
        }
    };
    // No free port to ask on (EADDRNOTAVAIL): the mode's own connections will tell.
    let Some(opened) = asked else { return Ok((modes, own)) };
    // Over TLS the handshake has answered already (ALPN); in clear text, the preface asks.
    let (how, checked) = match &opened.tls {
        Some((session, _)) => ("ALPN h2", chose_h2(session)),
        None => {
            opened.h2_preface_sent = true;
            ("h2c, prior knowledge", speaks_h2c(&mut opened.stream, plan.connect_timeout))
        }
    };
    match checked {
        Ok(()) => Ok((modes, own)),
        Err(said) if plan.multiplex_if_spoken => {
            eprintln!(
                "connbench: note: {} does not speak HTTP/2 ({how}; {said}): --mode all runs the four HTTP/1.x modes",
                target.display
            );
            modes.retain(|&mode| mode != Mode::Multiplex);
            Ok((modes, None))
        }
        Err(said) => Err(Failure::Usage(format!(
            "--mode multiplex: {} does not speak HTTP/2 ({how}): {said}; use an HTTP/1.x mode, or a server with \
             HTTP/2 enabled",
            target.display
        ))),
    }
}

/// Whether the TLS handshake chose HTTP/2: a server that cannot speak it picks no protocol (or refuses).
fn chose_h2(session: &rustls::ClientConnection) -> Result<(), String> {
    match session.alpn_protocol() {
        Some(id) if id == crate::net::tls::ALPN_H2 => Ok(()),
        Some(other) => Err(format!("its TLS handshake chose {}", String::from_utf8_lossy(other))),
        None => Err("its TLS handshake chose no protocol for h2".into()),
    }
}

/// Writes the HTTP/2 client preface and looks (without reading it away) at what the server sends back:
/// an HTTP/2 server's first frame is SETTINGS (RFC 9113 §3.4); an HTTP/1.x server answers the preface's
/// `PRI * HTTP/2.0` line with an error status, or closes.
fn speaks_h2c(stream: &mut std::net::TcpStream, wait: Duration) -> Result<(), String> {
    use crate::http::preface::{server_answer, ServerAnswer, CLIENT_PREFACE};
    let deadline = Instant::now() + wait;
    let failed = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("no answer to its preface within {wait:?}")
        }
        _ => format!("the check failed: {e}"),
    };
    stream.write_all(CLIENT_PREFACE).map_err(failed)?;
    let mut first = [0u8; 64];
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left)).map_err(failed)?;
        let n = stream.peek(&mut first).map_err(failed)?;
        match server_answer(&first[..n]) {
            _ if n == 0 => return Err("it closed the connection at the HTTP/2 preface".into()),
            ServerAnswer::Http2 => return stream.set_read_timeout(None).map_err(failed),
            ServerAnswer::NotHttp2 => return Err(format!("it answers \"{}\"", first[..n].escape_ascii())),
            // A frame header split over segments: a peek returns at once while bytes wait, so pause.
            ServerAnswer::Incomplete if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            ServerAnswer::Incomplete => return Err(format!("no answer to its preface within {wait:?}")),
        }
    }
}

/// `connbench serve`: the embedded server on its own until Ctrl-C.
pub fn serve(args: &crate::cli::ServeArgs, stop: &'static AtomicBool) -> Result<(), Failure> {
    let listen: SocketAddr =
        args.listen.parse().map_err(|_| Failure::Usage(format!("--listen '{}': expected IP:PORT", args.listen)))?;
    let mut config = crate::plan::server_config(&args.knobs, &crate::profile::Profile::default());
    // Refused before "serving" is printed, so nobody reads that it serves.
    config.validate().map_err(|e| Failure::Usage(e.to_string()))?;
    let scheme = if args.knobs.tls {
        config.tls = Some(serving_identity(args)?.server_config().map_err(Failure::Usage)?);
        "https"
    } else {
        "http"
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Failure::Usage(format!("--listen {listen}: {e}")))?;
        eprintln!("connbench: serving {scheme}://{}/ (Ctrl-C to stop)", listener.local_addr()?);
        let stats = Arc::new(server::ServerStats::default());
        let stopped = async {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        server::run(listener, config, stats, stopped).await?;
        Ok(())
    })
}

/// `serve --tls`: `--cert`/`--key`, or a self-signed certificate made now and written where a client can find it
/// for its `--cacert`.
fn serving_identity(args: &crate::cli::ServeArgs) -> Result<crate::net::tls::Identity, Failure> {
    use crate::net::tls::Identity;
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        return Identity::from_files(cert, key).map_err(Failure::Usage);
    }
    let identity = Identity::self_signed().map_err(Failure::Usage)?;
    let path = std::env::temp_dir().join(format!("connbench-serve-{}.pem", std::process::id()));
    std::fs::write(&path, identity.certificate_pem())
        .map_err(|e| Failure::Usage(format!("cannot write the certificate to {}: {e}", path.display())))?;
    eprintln!("connbench: self-signed certificate for localhost and 127.0.0.1 in {} (for --cacert)", path.display());
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_that_do_not_fit_in_memory_are_refused_with_the_arithmetic() {
        let per = engine::memory_per_connection(1_000_000) as u64;
        assert!(fits_in_memory(10_000, 10_000 * per, 8 << 30).is_ok());
        let err = fits_in_memory(1_000_000, 1_000_000 * per, 1 << 30).unwrap_err();
        assert!(err.starts_with("-c 1000000 needs about 6") && err.ends_with("1024 MiB available: lower -c"), "{err}");
    }
}

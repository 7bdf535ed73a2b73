/*!
The measurement (docs/design.md §3, §6): the target resolved (or the embedded server started), the plan held
to this machine's limits, the preflight, then the engine once per mode, each mode's figures and notes
gathered into one `RunResult`. Everything measured, even when interrupted, is returned.
*/

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::commands::Failure;
use crate::engine::governor::Sampler;
use crate::engine::{self, LiveCounters};
use crate::http::request::masked_header;
use crate::net::socket;
use crate::plan::{Engine, Http, Mode, Plan, Stop, Target, TargetSpec};
use crate::preflight::{
    embedded_target, multiplex_if_spoken, not_http, not_http2, preflight, resolve, retire, secure, First,
};
use crate::record::result::{
    ModeResult, Note, NoteKind, PlanSummary, RequestSummary, RunResult, Stages, System, TargetsInfo, Tool,
    SCHEMA_VERSION,
};
use crate::record::RunShape;
use crate::{progress, server};

/// Descriptors kept for everything but the connections: the runtime, the census socket, stdio, files.
const RESERVED_FDS: u64 = 64;

/// Refuses, before any load, a plan whose connections cannot fit on this machine: in the open-files limit
/// (raised first to the hard limit; one descriptor each, two with the embedded server in-process, which
/// holds the other end), or in the memory available (over https with `tls`).
fn check_capacity(plan: &Plan, embedded: bool, tls: bool) -> Result<(), Failure> {
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
    // Modes run one after another: the costliest decides.
    let multiplex = plan.modes.contains(&Mode::Multiplex);
    let memory = connections * engine::memory_per_connection(plan.connections, tls, multiplex) as u64;
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

/// Whether io_uring may drive the modes that would run on it (`--engine uring`, or a mode whose default it
/// is), checked once before any load: why not, if not. Asked for where the kernel refuses it, the run stops
/// here (exit 2); a default the kernel refuses falls back to tokio (`mode_engine` says so).
fn uring_check(plan: &Plan) -> Result<Result<(), String>, Failure> {
    let wanted = plan.modes.iter().any(|&mode| {
        Engine::uring_drives(mode, plan.http(mode)) && plan.engine.unwrap_or(Engine::default_for(mode)) == Engine::Uring
    });
    if !wanted {
        return Ok(Ok(()));
    }
    match engine::uring_available() {
        Err(why) if plan.engine == Some(Engine::Uring) => {
            Err(Failure::Usage(format!("--engine uring: {why}; --engine tokio runs the same load without it")))
        }
        available => Ok(available),
    }
}

/// The engine `mode` runs on: `--engine` or the mode's default, if it can; else tokio, with a note.
fn mode_engine(plan: &Plan, mode: Mode, uring: &Result<(), String>, notes: &mut Vec<Note>) -> Engine {
    if plan.engine.unwrap_or(Engine::default_for(mode)) == Engine::Tokio {
        return Engine::Tokio;
    }
    let text = if !Engine::uring_drives(mode, plan.http(mode)) {
        // Only an explicit --engine uring names an engine the mode cannot have.
        if plan.engine.is_none() {
            return Engine::Tokio;
        }
        let what = if plan.http(mode) == Http::Http3 { "HTTP/3" } else { "HTTP/2" };
        format!("{what} ran on the tokio engine: --engine uring drives HTTP/1.x alone")
    } else {
        match uring {
            Ok(()) => return Engine::Uring,
            Err(why) => format!("io_uring is not available ({why}): this mode ran on the tokio engine"),
        }
    };
    notes.push(Note::new(NoteKind::Engine, Some(mode), text));
    Engine::Tokio
}

/// MemAvailable of /proc/meminfo, in bytes (None where the kernel does not say).
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

/// Runs every mode of the plan against its target and returns what was measured.
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
    let target = Target { quic: quic_client(plan, &target)?, ..target };
    check_capacity(plan, matches!(plan.target, TargetSpec::Embedded(_)), target.tls.is_some())?;
    let uring = uring_check(plan)?;
    let governor = engine::governor::prepare(plan, target.addr).map_err(Failure::Usage)?;
    // The preflight's connection is the first mode's first, so over https it offers that mode's protocol.
    let first_tls = plan.mode_plan(plan.modes[0], &target).tls;
    let (mut first_connection, quic_preflight) = match preflight(&target, plan, &governor, first_tls.as_deref())? {
        First::Opened(opened) => (Some(*opened), None),
        First::Spent(spent) => (None, Some(spent)),
        First::None => (None, None),
    };
    let mut notes = plan.notes();
    if target.tls.as_ref().is_some_and(|client| client.insecure) {
        let text = format!("-k/--insecure: the certificate of {} was not verified", target.host);
        notes.push(Note::new(NoteKind::Insecure, None, text));
    }
    let multiplex = multiplex_if_spoken(plan, &target, &governor, first_connection.as_mut(), &mut notes)?;
    let (modes, mut multiplex_connection) = (multiplex.modes, multiplex.connection);
    // Connections opened before the load that carry no request: the first mode counts them, as the server does.
    let mut spent: Vec<_> = quic_preflight.into_iter().chain(multiplex.spent).collect();
    if let Some(at) = plan.start_at {
        // A connection idle for long may be closed by the server meanwhile: close them and open fresh ones then.
        if wait_until(at, stop, &mut notes) > Duration::from_secs(1) {
            spent.extend(
                [first_connection.take(), multiplex_connection.take()]
                    .into_iter()
                    .flatten()
                    .map(|c| retire(c, &governor)),
            );
        }
    }
    let threads = match plan.threads {
        Some(asked) => {
            notes.extend(threads_note(asked));
            asked as usize
        }
        None => engine_threads(reserved_cores),
    };
    let mut runs = Vec::new();
    let mut complete = true;
    let of = modes.len();
    for (index, mode) in modes.into_iter().enumerate() {
        let mut mode_plan = plan.mode_plan(mode, &target);
        mode_plan.engine = mode_engine(plan, mode, &uring, &mut notes);
        let request = mode_plan.requests[0].bytes.clone();
        let (http, engine) = (mode_plan.http, mode_plan.engine);
        let live: Vec<_> = (0..threads).map(|_| Arc::new(LiveCounters::default())).collect();
        let shape =
            RunShape { mode, connections: mode_plan.connections, depth: mode_plan.depth, rate: asked_rate(plan) };
        let position = progress::Position { mode: index + 1, of };
        let tracker = progress::track(progress::wanted(plan.progress), mode.name(), position, plan.stop, live.clone());
        let sampler = Sampler::start(governor.clone());
        let opened = match mode {
            Mode::Multiplex => multiplex_connection.take(),
            Mode::Serial | Mode::Parallel | Mode::Keepalive | Mode::Pipeline => None,
        };
        let opened = opened.or_else(|| first_connection.take());
        let started = SystemTime::now();
        let mut outcome = engine::run_mode(mode_plan, target.addr, governor.clone(), threads, stop, &live, opened);
        for connection in spent.drain(..) {
            connection.count(&mut outcome.recorder);
        }
        let port_warnings = sampler.finish();
        drop(tracker);
        let unreadable = outcome.recorder.unreadable_said().map(str::to_string);
        let (targets, targets_other) = outcome.recorder.targets(&target_names(plan, &target));
        let mut run = outcome.recorder.finish(shape, outcome.elapsed);
        (run.targets, run.targets_other) = (targets, targets_other);
        if let Some(schedule) = plan.schedule() {
            run.stages = stages_of(&schedule);
            set_target_rates(&mut run, &schedule);
        }
        run.started_unix_ms = started.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_millis() as u64);
        if let Some(client) = &target.tls {
            run.tls.get_or_insert_with(Default::default).insecure = client.insecure;
        }
        (run.http, run.engine) = (Some(http), Some(engine));
        let (ports, samples) = governor.end_mode();
        // QUIC holds no TCP port: the governor saw nothing of it.
        run.ports = (http != Http::Http3).then_some(ports);
        for (i, tick) in run.timeline.iter_mut().enumerate() {
            // Sample i was taken at the end of second i+1; the last covers a final partial second.
            if let Some(sample) = samples.get(i).or(samples.last()) {
                (tick.time_wait, tick.kernel_time_wait) = (Some(sample.ledger), sample.kernel);
                tick.time_wait_own = Some(sample.own);
                tick.client_ips = Some(sample.client_ips);
            }
        }
        notes.extend(port_warnings.into_iter().map(|text| Note::new(NoteKind::Ports, Some(mode), text)));
        // HTTP/2 streams met frames h2 could not read: quote those, not an HTTP/1.1 answer on a side connection.
        let not_http = || match unreadable {
            _ if http == Http::Http3 => {
                format!("no response was HTTP/3 (every one broke its rules): is {} an HTTP/3 server?", target.addr)
            }
            Some(said) if mode.is_http2() => not_http2(target.addr, &said),
            _ => not_http(target.addr, &request),
        };
        notes.extend(mode_notes(&run, outcome.ran_out_of_ports, not_http));
        notes.extend(target.tls.as_deref().and_then(|client| client_certificate_note(client, &run)));
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
        method: Some(plan.methods().join(",")),
        command: plan.command.clone(),
        request: request_summary(plan),
        plan: Some(plan_summary(plan)),
        system: System {
            ip_local_port_range: socket::ip_local_port_range(),
            tcp_tw_reuse: socket::tcp_tw_reuse(),
            time_wait_secs: socket::TIME_WAIT_SECS,
        },
        runs,
        shard: plan.shard,
        whole: plan.shard.map(|_| plan.whole),
        notes,
        targets: plan.targets.as_ref().map(|targets| targets_info(plan, targets)),
    })
}

/// Each request's method and URL (path and query, on the run's origin), for its figures.
fn target_names(plan: &Plan, target: &Target) -> Vec<(String, String)> {
    let path = |request: &crate::plan::Request| request.path.clone().unwrap_or_else(|| target.path.clone());
    plan.requests.iter().map(|request| (request.method.clone(), path(request))).collect()
}

/// The rate the result says was asked (`--rate`): none when it began stages, which the result holds apart.
fn asked_rate(plan: &Plan) -> Option<f64> {
    plan.rate.filter(|_| plan.stages.is_empty())
}

/// `--stages` as the result holds them.
fn stages_of(schedule: &crate::stages::Schedule) -> Option<Stages> {
    schedule.stages().map(|(from, stages)| Stages { from, stages: stages.to_vec() })
}

/// What the result says of `--targets`.
fn targets_info(plan: &Plan, targets: &crate::plan::TargetsPlan) -> TargetsInfo {
    let mut methods = std::collections::BTreeMap::new();
    for request in &plan.requests {
        *methods.entry(request.method.clone()).or_default() += 1;
    }
    let seed = match targets.order {
        crate::targets::Order::Random { seed } => Some(seed),
        crate::targets::Order::RoundRobin => None,
    };
    TargetsInfo {
        file: targets.file.clone(),
        count: plan.requests.len() as u64,
        methods,
        order: targets.order.name().into(),
        seed,
    }
}

/// Open loop: each second of the timeline (every second of the window has one) holds the requests the
/// schedule made due in it beside those completed; a partial last second, those due in its part.
fn set_target_rates(run: &mut ModeResult, schedule: &crate::stages::Schedule) {
    for tick in &mut run.timeline {
        let start = tick.t as f64 - 1.0;
        let end = start + tick.length_s.unwrap_or(1.0);
        tick.target_rate = Some(schedule.due_by(end) - schedule.due_by(start));
    }
}

/// What each request carries beside its method and target, credentials masked.
/// None with `--targets`: each target carries its own (the result's `targets` says what they are).
fn request_summary(plan: &Plan) -> Option<RequestSummary> {
    match (&plan.requests[..], &plan.targets) {
        ([one], None) => Some(RequestSummary {
            body_bytes: one.body.len() as u64,
            headers: one.headers.iter().map(|(name, value)| masked_header(name, value)).collect(),
        }),
        _ => None,
    }
}

/// The plan as asked (this shard's share of it, with `--shard`).
fn plan_summary(plan: &Plan) -> PlanSummary {
    let (requests, duration_s) = match plan.stop {
        Stop::Requests(n) => (Some(n), None),
        Stop::After(d) => (None, Some(d.as_secs_f64())),
    };
    PlanSummary { connections: plan.connections, depth: plan.depth, requests, duration_s, rate: plan.rate }
}

/// What the result of `plan` will say of how it was made, before it runs: its target, request, plan and the
/// shape of each mode, with no figure. `run --baseline` holds it against the baseline before any load.
pub fn as_planned(plan: &Plan) -> RunResult {
    let target = match &plan.target {
        TargetSpec::Url(url) => crate::plan::shown(url),
        TargetSpec::Embedded(config) => {
            let scheme = if config.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://127.0.0.1:0/ (embedded server)")
        }
    };
    let runs = plan
        .modes
        .iter()
        .map(|&mode| {
            let (connections, depth) = plan.shape(mode);
            let shape = RunShape { mode, connections, depth, rate: asked_rate(plan) };
            let recorder = crate::record::Recorder::new(Instant::now(), plan.schedule().is_some());
            let stages = plan.schedule().and_then(|s| stages_of(&s));
            ModeResult { http: Some(plan.http(mode)), stages, ..recorder.finish(shape, Duration::ZERO) }
        })
        .collect();
    RunResult {
        schema_version: SCHEMA_VERSION,
        tool: Tool::this(),
        complete: false,
        started_at: String::new(),
        target,
        method: Some(plan.methods().join(",")),
        command: plan.command.clone(),
        request: request_summary(plan),
        plan: Some(plan_summary(plan)),
        system: System { ip_local_port_range: None, tcp_tw_reuse: None, time_wait_secs: socket::TIME_WAIT_SECS },
        runs,
        shard: plan.shard,
        whole: plan.shard.map(|_| plan.whole),
        notes: Vec::new(),
        targets: plan.targets.as_ref().map(|targets| targets_info(plan, targets)),
    }
}

/// `--http3`: the QUIC every connection to the target speaks, on its TLS (https only: `plan.rs` checked).
fn quic_client(plan: &Plan, target: &Target) -> Result<Option<Arc<crate::net::quic::Client>>, Failure> {
    let Some(tls) = target.tls.as_ref().filter(|_| plan.http3) else { return Ok(None) };
    let zero_rtt = plan.mode_plan(plan.modes[0], target).zero_rtt;
    let client = crate::net::quic::Client::new(tls, zero_rtt).map_err(Failure::Usage)?;
    Ok(Some(Arc::new(client)))
}

/// A server that asked this mode's connections for a client certificate: connbench sends none, so a server
/// that requires one fails every request (`errors.tls`), which the figures alone would not explain.
fn client_certificate_note(client: &crate::net::tls::Client, run: &ModeResult) -> Option<Note> {
    if !client.take_certificate_request() {
        return None;
    }
    let outcome = match run.errors.tls {
        0 => "the handshakes went on without one (a server that requires one may answer errors instead, as \
              nginx's 400)"
            .to_string(),
        failed => format!("{failed} requests failed with a TLS error; benchmark a server that does not require one"),
    };
    let text = format!("the server asked for a client certificate, which connbench does not send: {outcome}");
    let note = Note::new(NoteKind::ClientCertificate, Some(run.mode), text);
    Some(note.with(&[("tls_errors", run.errors.tls as f64)]))
}

/// What a mode's figures alone do not say: why it stopped early, what limited it, what the target speaks
/// when nothing parsed. `not_http` asks the target again, so it is called only when it is needed.
fn mode_notes(run: &ModeResult, ran_out_of_ports: bool, not_http: impl FnOnce() -> String) -> Vec<Note> {
    let mode = Some(run.mode);
    let mut notes = Vec::new();
    if ran_out_of_ports {
        let text = "--port-policy fail: no client IP had a free port (TIME_WAIT); the mode stopped early";
        notes.push(Note::new(NoteKind::Ports, mode, text));
    }
    if run.errors.fd_exhausted > 0 {
        let text = format!(
            "{} connections failed for want of file descriptors: raise the limit (ulimit -n) or lower -c",
            run.errors.fd_exhausted
        );
        notes.push(Note::new(NoteKind::FdLimit, mode, text).with(&[("fd_exhausted", run.errors.fd_exhausted as f64)]));
    }
    if run.requests == 0 && run.errors.parse > 0 && run.errors.parse == run.errors.total() {
        notes.push(Note::new(NoteKind::NotHttp, mode, not_http()));
    }
    if let Some(cap) = run.max_concurrent_streams {
        // HTTP/2 says it in SETTINGS (RFC 9113 §6.5.2), QUIC in stream credit (RFC 9000 §4.6).
        let limit = match run.http {
            Some(Http::Http3) => "QUIC's MAX_STREAMS",
            _ => "SETTINGS_MAX_CONCURRENT_STREAMS",
        };
        let text = match cap {
            0 if run.errors.refused == 0 => "the server allowed no stream at first (SETTINGS_MAX_CONCURRENT_STREAMS \
                 0): requests waited for a SETTINGS frame to raise the limit"
                .to_string(),
            0 => format!(
                "the server allowed no stream (SETTINGS_MAX_CONCURRENT_STREAMS 0) and did not raise it within \
                 --timeout: {} requests were refused",
                run.errors.refused
            ),
            _ => format!(
                "the server allows {cap} concurrent streams per connection ({limit}), fewer than --depth {}: {} were \
                 in flight at most",
                run.depth,
                run.max_in_flight.unwrap_or(0)
            ),
        };
        notes.push(Note::new(NoteKind::StreamsCapped, mode, text).with(&[("max_concurrent_streams", cap.into())]));
    }
    notes.extend(learned_limit_note(run));
    if run.closed_unanswered > 0 {
        let text = format!(
            "{} of {} connections were closed or reset by the server without an answer to any request written \
             on them (a server that accepts and closes, as a load balancer with no backend does): each worker \
             waited before its next connection, 1 ms doubling to 100 ms, as after a refused connect",
            run.closed_unanswered, run.connections_opened
        );
        let figures = [("closed_unanswered", run.closed_unanswered as f64)];
        notes.push(Note::new(NoteKind::Unanswered, mode, text).with(&figures));
    }
    if run.closed_unsolicited > 0 {
        let text = format!(
            "the server sent bytes no request asked for (a second response to one request?) on {} connections: \
             connbench closed each, as it could no longer tell which response answers which request, and \
             reconnected",
            run.closed_unsolicited
        );
        let figures = [("closed_unsolicited", run.closed_unsolicited as f64)];
        notes.push(Note::new(NoteKind::Unsolicited, mode, text).with(&figures));
    }
    if let Some(pacing) = run.pacing.filter(|p| p.late_starts > 0 || p.missed > 0) {
        let missed = match pacing.missed {
            0 => String::new(),
            n => format!(", and {n} were never sent (missed)"),
        };
        let lower = if run.stages.is_some() { "the rates of --stages" } else { "--rate" };
        let text = format!(
            "{} of {} requests started more than {:?} after their scheduled time (largest lag {}){missed}: every \
             connection was busy; raise -c or lower {lower}",
            pacing.late_starts,
            run.requests + run.errors.total() + run.in_flight_at_end,
            crate::record::LATE,
            crate::report::micros(pacing.max_lag_us),
        );
        let figures = [
            ("late_starts", pacing.late_starts as f64),
            ("max_lag_us", pacing.max_lag_us as f64),
            ("missed", pacing.missed as f64),
        ];
        notes.push(Note::new(NoteKind::Pacing, mode, text).with(&figures));
    }
    notes
}

/// A per-connection limit learned from the server's early closes (docs/connections.md): what it capped, and
/// whether it still held at the end.
fn learned_limit_note(run: &ModeResult) -> Option<Note> {
    let k = &run.keep_alive;
    if k.learned_limit.is_none() && k.capped_connections == 0 && k.learned_limit_dropped == 0 {
        return None;
    }
    let refuted = match k.learned_limit_dropped {
        0 => String::new(),
        1 => "; a connection let run past it refuted it, and it was dropped".into(),
        n => format!("; connections let run past it refuted it {n} times, and it was dropped each time"),
    };
    let held = match k.learned_limit {
        Some(limit) => format!("; the limit held at the end: {limit} requests per connection"),
        None => "; no limit held at the end".into(),
    };
    let text = format!(
        "capped {} connections at a per-connection limit learned from the server's early closes (three in a row \
         after the same number of responses, with requests unanswered){refuted}{held}",
        k.capped_connections
    );
    let mut figures = vec![
        ("capped_connections", k.capped_connections as f64),
        ("learned_limit_dropped", k.learned_limit_dropped as f64),
    ];
    figures.extend(k.learned_limit.map(|limit| ("learned_limit", limit as f64)));
    Some(Note::new(NoteKind::KeepAlive, Some(run.mode), text).with(&figures))
}

/// `--start-at`: sleeps until `at` (or a stop signal) and returns how long it waited. A moment already past
/// starts at once, saying so when it is more than a second ago.
fn wait_until(at: SystemTime, stop: &AtomicBool, notes: &mut Vec<Note>) -> Duration {
    let began = Instant::now();
    match at.duration_since(SystemTime::now()) {
        Ok(left) => {
            // Progress, not a warning: a live line, so that a wait of minutes does not look like a hang.
            let shown = Duration::from_millis(left.as_millis() as u64 / 100 * 100);
            eprintln!(
                "connbench: --start-at: the load starts at {} (in {})",
                humantime::format_rfc3339_millis(at),
                humantime::format_duration(shown)
            );
            let until = began + left;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until {
                std::thread::sleep(until.saturating_duration_since(Instant::now()).min(Duration::from_millis(50)));
            }
        }
        Err(past) if past.duration() > Duration::from_secs(1) => {
            let ago = past.duration().as_secs_f64();
            notes.push(Note::new(NoteKind::StartAt, None, format!("--start-at was {ago:.1} s ago: started at once")));
        }
        Err(_) => {}
    }
    began.elapsed()
}

/// One thread per core the process may use; with the embedded server in-process, one core is left
/// to it so that client and server do not fight over the same core.
fn engine_threads(reserved: usize) -> usize {
    cores().saturating_sub(reserved).max(1)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `-t N` above the cores this process may use: the threads take turns, which adds to every latency. A hey
/// or oha user's `-t 20` meant a timeout.
fn threads_note(asked: u32) -> Option<Note> {
    let cores = cores();
    (asked as usize > cores).then(|| {
        let text = format!(
            "-t/--threads {asked}: more engine threads than the {cores} cores this process may use, so they take \
             turns (the request timeout, hey's and oha's -t, is --timeout)"
        );
        Note::new(NoteKind::Plan, None, text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_that_do_not_fit_in_memory_are_refused_with_the_arithmetic() {
        let per = engine::memory_per_connection(1_000_000, false, false) as u64;
        assert!(fits_in_memory(10_000, 10_000 * per, 8 << 30).is_ok());
        let err = fits_in_memory(1_000_000, 1_000_000 * per, 1 << 30).unwrap_err();
        assert!(
            err.starts_with("-c 1000000 needs about 5859 MiB") && err.ends_with("1024 MiB available: lower -c"),
            "{err}"
        );
    }

    fn plan(args: &[&str]) -> Plan {
        Plan::of_args(args).unwrap()
    }

    #[test]
    fn io_uring_drives_the_http1_modes_it_may_and_a_note_says_where_it_did_not() {
        let asked = plan(&["--engine", "uring", "--mode", "all"]);
        let mut notes = Vec::new();
        assert_eq!(mode_engine(&asked, Mode::Keepalive, &Ok(()), &mut notes), Engine::Uring);
        assert!(notes.is_empty());
        assert_eq!(mode_engine(&asked, Mode::Multiplex, &Ok(()), &mut notes), Engine::Tokio);
        assert_eq!(notes[0].text, "HTTP/2 ran on the tokio engine: --engine uring drives HTTP/1.x alone");
        // Not available: a default of io_uring falls back, with a note (an asked one never gets here:
        // `uring_check` refuses it before any load).
        let refused = Err("io_uring_setup was refused".to_string());
        let default = plan(&["--mode", "pipeline"]);
        let mut notes = Vec::new();
        let expected = if Engine::default_for(Mode::Pipeline) == Engine::Uring { 1 } else { 0 };
        assert_eq!(mode_engine(&default, Mode::Pipeline, &refused, &mut notes), Engine::Tokio);
        assert_eq!(notes.len(), expected);
        // Asked for tokio: tokio, whatever the kernel.
        let tokio = plan(&["--engine", "tokio"]);
        assert_eq!(mode_engine(&tokio, Mode::Keepalive, &refused, &mut Vec::new()), Engine::Tokio);
    }
}

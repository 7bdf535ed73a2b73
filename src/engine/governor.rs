//! The port governor (docs/design.md §4): every new connection of a run asks it for a client IP. It keeps the
//! run's port ledger (shared by every mode, because TIME_WAIT outlives a mode, and by every engine thread),
//! picks the client IP with the most free ports for the target, and applies `--port-policy` when none has
//! one: `wait` for the next port to free, `fail` to stop the mode cleanly, `off` to let the kernel decide.
//!
//! With `--source-ip auto` it first adds a client IP from the reserve (`net/clients.rs`) whenever the best
//! one would pass `ROTATE_OCCUPANCY` of its ports. That is the arithmetic ⌈rate × hold / ports⌉ with a
//! margin, applied as it happens: a tuple's TIME_WAIT ports are its client-first closes of the last hold,
//! so n client IPs each below a share s of their ports carry rate × hold / (n × ports) < s. Waiting and
//! warnings are left for when the reserve is empty.
//!
//! One lock per new connection and per close, never per request: connections are opened at most tens of
//! thousands of times a second, and the two engine threads rarely meet on it.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::net::census::{self, Census};
use crate::net::clients::{self, ClientIps};
use crate::net::ports::{occupancy_warning, Ledger, Settings, Tuple, ROTATE_OCCUPANCY};
use crate::net::socket;
use crate::plan::{Mode, Plan, PortPolicy, Stop};
use crate::record::result::{PerIp, Ports};
use crate::record::{Closer, ErrorKind};

/// How long to wait when every port is held by an open connection (only a close frees one, and no
/// ledger clock can say when).
const OPEN_PORTS_RECHECK: Duration = Duration::from_millis(50);

pub struct Governor {
    state: Mutex<State>,
    server: SocketAddr,
    policy: PortPolicy,
    /// `auto`, `kernel` or `list`, for the report.
    source: &'static str,
    /// The kernel's own source address for the target: a connection from it needs no bind.
    kernel_choice: Option<IpAddr>,
    /// The kernel's sockets at start and when they were counted: seeds for client IPs added later.
    census: Option<Census>,
    census_at: Instant,
    /// `fail` found no free port during this mode: the engine stops claiming work (checked per request,
    /// hence an atomic rather than a field under the lock).
    exhausted: AtomicBool,
    /// Tuples already warned about for passing half their ports.
    warned: Mutex<HashSet<Tuple>>,
}

/// Everything a new connection reads and changes, under one lock.
struct State {
    ledger: Ledger,
    /// Client IPs in rotation, in the order they joined.
    ips: Vec<IpAddr>,
    /// `auto`: client IPs not yet in rotation; empty for `kernel` and a list.
    reserve: Box<dyn Iterator<Item = IpAddr> + Send>,
    /// At most this many left in the reserve; 0 once it is found empty.
    reserve_left: usize,
    mode: ModePorts,
}

/// The run's governor: the client IPs (`--source-ip auto|kernel|LIST`, probe-bound), the ledger seeded
/// from the kernel's census, and, under `fail`, the refusal of a plan that cannot fit. Errors are one line
/// for exit 2.
pub fn prepare(plan: &Plan, server: SocketAddr) -> Result<Arc<Governor>, String> {
    let clients = clients::resolve(&plan.source_ips, server, plan.shard)?;
    let now = Instant::now();
    let census = census::take_toward(server).ok();
    let governor = Governor::new(socket::port_settings(), server, clients, plan.port_policy, census, now);
    if plan.port_policy == PortPolicy::Fail {
        governor.check_fit(plan, now)?;
    }
    Ok(Arc::new(governor))
}

/// New ports a plan needs within one hold of TIME_WAIT: a new connection per request in serial and
/// parallel modes (all of them with `-n`, the rate times the hold with `--rate` or `--stages`); otherwise one per
/// connection. A duration run without a rate cannot say; its connections are the least it needs.
fn ports_needed(plan: &Plan, hold_secs: u32) -> u64 {
    plan.modes
        .iter()
        .map(|&mode| {
            let connections = if mode == Mode::Serial { 1 } else { u64::from(plan.connections) };
            if !matches!(mode, Mode::Serial | Mode::Parallel) {
                return connections;
            }
            // With stages, their peak rate held throughout: an upper bound.
            match (plan.stop, plan.schedule().map(|schedule| schedule.peak())) {
                (Stop::Requests(n), _) => n,
                (Stop::After(d), Some(rate)) => (rate * d.as_secs_f64().min(f64::from(hold_secs))).ceil() as u64,
                (Stop::After(_), None) => connections,
            }
        })
        .sum()
}

/// A new connection's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Connect from this IP; its port is counted as held from now.
    From(IpAddr),
    /// `wait`: no port is free; ask again at this instant.
    WaitUntil(Instant),
    /// `fail`: no port is free, and the mode must stop.
    Exhausted,
}

/// What one mode did with ports; reset at each mode's start. Per-IP vectors follow `State::ips`.
#[derive(Debug, Default)]
struct ModePorts {
    /// Connections established per client IP.
    opened: Vec<u64>,
    /// The most ports each client IP's tuple held at once.
    held_peak: Vec<u64>,
    waited: Duration,
    /// The kernel's TIME_WAIT count for the tuples in rotation when the mode began (the last sample before
    /// it), and the most it counted during the mode.
    kernel_time_wait_at_start: Option<u64>,
    kernel_time_wait_peak: u64,
    samples: Vec<Sample>,
}

impl ModePorts {
    fn new(ips: usize) -> ModePorts {
        ModePorts { opened: vec![0; ips], held_peak: vec![0; ips], ..ModePorts::default() }
    }
}

/// Samples the governor once a second while a mode runs (and once more when finished), keeping the
/// occupancy warnings for the mode's notes.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Sampler {
    pub fn start(governor: Arc<Governor>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("connbench-ports".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    let mut next = Instant::now() + Duration::from_secs(1);
                    let mut warnings = Vec::new();
                    loop {
                        // Parked, not polling: the mode's end unparks it, so its last sample costs no wait.
                        while !stop.load(Ordering::Relaxed) {
                            match next.checked_duration_since(Instant::now()) {
                                Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                                _ => break,
                            }
                        }
                        let census = census::take_toward(governor.server).ok();
                        warnings.extend(governor.sample(census.as_ref(), Instant::now()));
                        if stop.load(Ordering::Relaxed) {
                            return warnings;
                        }
                        next += Duration::from_secs(1);
                    }
                }
            })
            .ok();
        Sampler { stop, thread }
    }
}

impl Sampler {
    /// Takes the last sample and returns the warnings the mode's samples gave.
    pub fn finish(mut self) -> Vec<String> {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        let Some(thread) = self.thread.take() else { return Vec::new() };
        thread.thread().unpark();
        thread.join().unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// One second of the run's ports, for the timeline.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// TIME_WAIT ports held from connect(), as the ledger counts them.
    pub ledger: u64,
    /// Of those, the ports this mode's own connections left.
    pub own: u64,
    /// TIME_WAIT sockets as the kernel counts them (60 s each).
    pub kernel: Option<u64>,
    /// Client IPs in rotation.
    pub client_ips: u64,
}

impl Governor {
    /// `census`: the kernel's sockets at `now`, so ports a previous run left in TIME_WAIT count as held,
    /// for the client IPs in rotation now and for those added later.
    pub fn new(
        settings: Settings,
        server: SocketAddr,
        clients: ClientIps,
        policy: PortPolicy,
        census: Option<Census>,
        now: Instant,
    ) -> Governor {
        let ClientIps { source, first, reserve, reserve_len, kernel_choice } = clients;
        let mode = ModePorts::new(first.len());
        let governor = Governor {
            state: Mutex::new(State {
                ledger: Ledger::new(settings, now),
                ips: Vec::new(),
                reserve,
                reserve_left: reserve_len,
                mode,
            }),
            server,
            policy,
            source,
            kernel_choice,
            census,
            census_at: now,
            exhausted: AtomicBool::new(false),
            warned: Mutex::new(HashSet::new()),
        };
        let mut state = governor.state();
        for ip in first {
            governor.join(&mut state, ip);
        }
        let census = governor.census.as_ref();
        state.mode.kernel_time_wait_at_start =
            census.map(|census| governor.tuples(&state).map(|tuple| census.get(tuple).time_wait).sum());
        drop(state);
        governor
    }

    /// The address to bind a connection granted `ip` to: none when it is the kernel's own choice anyway.
    pub fn bind_to(&self, ip: IpAddr) -> Option<IpAddr> {
        (Some(ip) != self.kernel_choice).then_some(ip)
    }

    /// `fail`: refuses, with the arithmetic, a plan needing more ports than are free now (counting those of
    /// the client IPs `auto` may still add).
    fn check_fit(&self, plan: &Plan, now: Instant) -> Result<(), String> {
        let mut state = self.state();
        let settings = state.ledger.settings().clone();
        let first = Tuple { client: state.ips[0], server: self.server };
        let hold = settings.hold_secs(first);
        let needed = ports_needed(plan, hold);
        let per_ip = u64::from(settings.ports_per_tuple());
        let tuples: Vec<Tuple> = self.tuples(&state).collect();
        let free_now: u64 = tuples.iter().map(|&t| state.ledger.free(t, now)).sum();
        let free = free_now.saturating_add((state.reserve_left as u64).saturating_mul(per_ip));
        if needed <= free {
            return Ok(());
        }
        let held: u64 = tuples.iter().map(|&t| state.ledger.held(t, now)).sum();
        let more_ips = (needed - free).div_ceil(per_ip.max(1));
        Err(format!(
            "--port-policy fail: the plan needs {needed} new ports to {} within {hold} s, but its {} client IP(s) have \
             {free} free ({per_ip} per IP, {held} held: ports stay in TIME_WAIT {hold} s with tcp_tw_reuse={}); add \
             {more_ips} more client IP(s) with --source-ip, wait for TIME_WAIT to end, or use --port-policy wait",
            self.server,
            tuples.len() + state.reserve_left,
            settings.tw_reuse
        ))
    }

    /// Before a connect: which client IP, or wait, or stop.
    pub fn acquire(&self, now: Instant) -> Grant {
        let mut guard = self.state();
        let state = &mut *guard;
        let capacity = state.ledger.capacity();
        // Each candidate comes with the ports its tuple holds once this connection has taken one.
        let mut picked = state.ledger.pick(&state.ips, self.server, now).map(|(ip, free)| (ip, capacity - free + 1));
        let rotate = |held: u64| held as f64 > ROTATE_OCCUPANCY * capacity as f64;
        while picked.is_none_or(|(_, held)| rotate(held)) {
            let Some(joined) = self.join_next(state, now) else { break };
            // An added IP may come seeded with a previous run's TIME_WAIT: take the emptier one.
            if picked.is_none_or(|(_, held)| joined.1 < held) {
                picked = Some(joined);
            }
        }
        let picked = picked.filter(|&(_, held)| held <= capacity).or_else(|| match self.policy {
            // The kernel decides: try the IP with the fewest ports held, and count what it says.
            PortPolicy::Off => state
                .ips
                .iter()
                .map(|&client| (client, state.ledger.held(Tuple { client, server: self.server }, now) + 1))
                .min_by_key(|&(_, held)| held),
            PortPolicy::Wait | PortPolicy::Fail => None,
        });
        match (picked, self.policy) {
            (Some((ip, held)), _) => {
                state.ledger.opened(Tuple { client: ip, server: self.server });
                let index = state.ips.iter().position(|&c| c == ip).expect("picked from the rotation");
                state.mode.opened[index] += 1;
                state.mode.held_peak[index] = state.mode.held_peak[index].max(held);
                Grant::From(ip)
            }
            (None, PortPolicy::Fail) => {
                self.exhausted.store(true, Ordering::Relaxed);
                Grant::Exhausted
            }
            (None, _) => {
                let tuples: Vec<Tuple> = self.tuples(state).collect();
                let next = tuples
                    .into_iter()
                    .filter_map(|tuple| state.ledger.next_free_at(tuple, now))
                    .min()
                    .unwrap_or(now + OPEN_PORTS_RECHECK);
                // A port freeing "now" that `pick` did not see belongs to an IP marked saturated.
                Grant::WaitUntil(next.max(now + Duration::from_millis(1)))
            }
        }
    }

    /// `auto`: puts the reserve's next client IP in rotation and returns it with the ports its tuple holds
    /// once a new connection takes one; None when the reserve is empty. A full one is returned as holding
    /// more than it can, so it is never chosen.
    fn join_next(&self, state: &mut State, now: Instant) -> Option<(IpAddr, u64)> {
        let Some(ip) = state.reserve.next() else {
            // Addresses that could not be bound were skipped: the count was only an upper bound.
            state.reserve_left = 0;
            return None;
        };
        state.reserve_left = state.reserve_left.saturating_sub(1);
        self.join(state, ip);
        Some((ip, state.ledger.held(Tuple { client: ip, server: self.server }, now) + 1))
    }

    /// Puts `ip` in rotation, seeded with what the kernel held for its tuple at start.
    fn join(&self, state: &mut State, ip: IpAddr) {
        let tuple = Tuple { client: ip, server: self.server };
        if let Some(census) = &self.census {
            state.ledger.seed(tuple, census.get(tuple).time_wait, self.census_at);
        }
        state.ips.push(ip);
        state.mode.opened.push(0);
        state.mode.held_peak.push(0);
    }

    /// The connect from `ip` failed: its port was never held, and it opened nothing; EADDRNOTAVAIL also
    /// rests the IP a second.
    pub fn connect_failed(&self, ip: IpAddr, kind: ErrorKind, now: Instant) {
        let mut state = self.state();
        state.ledger.closed(Tuple { client: ip, server: self.server }, Closer::Reset, now);
        if kind == ErrorKind::AddrUnavailable {
            state.ledger.mark_saturated(ip, self.server, now);
        }
        let index = state.ips.iter().position(|&c| c == ip).expect("granted from the rotation");
        state.mode.opened[index] = state.mode.opened[index].saturating_sub(1);
    }

    /// A connection from `ip` ended; a client-first close holds its port in TIME_WAIT.
    pub fn closed(&self, ip: IpAddr, closer: Closer, now: Instant) {
        self.state().ledger.closed(Tuple { client: ip, server: self.server }, closer, now);
    }

    /// A new connection waited for a port.
    pub fn waited(&self, how_long: Duration) {
        self.state().mode.waited += how_long;
    }

    /// Did `fail` find no port during this mode?
    pub fn exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }

    /// The once-a-second cross-check: the ledger's TIME_WAIT count beside the kernel's, and each tuple's
    /// occupancy. Returns a warning for each tuple passing half its ports for the first time (past half,
    /// connect() slows down) that rotation cannot relieve: `auto` with an empty reserve, `kernel`, a list.
    pub fn sample(&self, census: Option<&Census>, now: Instant) -> Vec<String> {
        let mut guard = self.state();
        let state = &mut *guard;
        let tuples: Vec<Tuple> = self.tuples(state).collect();
        let kernel = census.map(|c| tuples.iter().map(|&tuple| c.get(tuple).time_wait).sum());
        let ledger_time_wait = state.ledger.time_wait_total(now);
        let own = state.ledger.own_time_wait(now);
        let settings = state.ledger.settings().clone();
        let capacity = state.ledger.capacity();
        let mut warned = self.warned.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut warnings = Vec::new();
        for (index, &tuple) in tuples.iter().enumerate() {
            // The kernel may hold more than the ledger knows (TIME_WAIT left by another program).
            let kernel_held = settings.time_wait_held(tuple, census.map_or(0, |c| c.get(tuple).time_wait));
            let held = state.ledger.held(tuple, now).max(kernel_held);
            state.mode.held_peak[index] = state.mode.held_peak[index].max(held);
            let can_rotate = state.reserve_left > 0;
            if let Some(warning) = occupancy_warning(tuple, held, capacity).filter(|_| !can_rotate) {
                if warned.insert(tuple) {
                    warnings.push(warning + &self.more_ips_would(&settings, tuple, ledger_time_wait, tuples.len()));
                }
            }
        }
        state.mode.kernel_time_wait_peak = state.mode.kernel_time_wait_peak.max(kernel.unwrap_or(0));
        state.mode.samples.push(Sample { ledger: ledger_time_wait, own, kernel, client_ips: tuples.len() as u64 });
        warnings
    }

    /// `auto` out of addresses: what more client IPs would allow, from the new-connection rate the ledger
    /// implies (its TIME_WAIT ports are the client-first closes of the last hold).
    fn more_ips_would(&self, settings: &Settings, tuple: Tuple, time_wait: u64, in_use: usize) -> String {
        if self.source != "auto" {
            return String::new();
        }
        let hold = settings.hold_secs(tuple);
        let rate = time_wait as f64 / f64::from(hold);
        let needed = settings.ips_needed(rate / ROTATE_OCCUPANCY, tuple).unwrap_or(0);
        format!(
            "; --source-ip auto found no other address toward {} on this host: at {rate:.1} new connections/s \
             (TIME_WAIT {hold} s, {} ports per client IP), {needed} client IPs instead of {in_use} would keep each \
             under a quarter of its ports; each adds {:.1}/s",
            self.server,
            settings.ports_per_tuple(),
            settings.tuple_rate(tuple)
        )
    }

    /// Ends a mode: what it did with ports, and its once-a-second samples; starts the next.
    pub fn end_mode(&self) -> (Ports, Vec<Sample>) {
        let mut state = self.state();
        let mut fresh = ModePorts::new(state.ips.len());
        fresh.kernel_time_wait_at_start = state.mode.samples.last().and_then(|s| s.kernel);
        let mode = std::mem::replace(&mut state.mode, fresh);
        self.exhausted.store(false, Ordering::Relaxed);
        let time_wait = state.ledger.end_mode(Instant::now());
        let capacity = state.ledger.capacity();
        let most_held = mode.held_peak.iter().copied().max().unwrap_or(0);
        let ports = Ports {
            policy: self.policy.name().to_string(),
            client_ips: state.ips.iter().map(IpAddr::to_string).collect(),
            time_wait_peak: time_wait.peak,
            kernel_time_wait_peak: mode.kernel_time_wait_peak,
            time_wait_at_start: Some(time_wait.at_start),
            time_wait_own_peak: Some(time_wait.own_peak),
            time_wait_own_end: Some(time_wait.own_end),
            kernel_time_wait_at_start: mode.kernel_time_wait_at_start,
            waited_ms: mode.waited.as_millis() as u64,
            per_ip: state
                .ips
                .iter()
                .zip(mode.opened.iter().zip(&mode.held_peak))
                .map(|(ip, (&opened, &held))| PerIp { ip: ip.to_string(), opened, held_peak: Some(held) })
                .collect(),
            source_ip: Some(self.source.to_string()),
            occupancy_peak: Some(if capacity == 0 { 1.0 } else { (most_held as f64 / capacity as f64).min(1.0) }),
        };
        (ports, mode.samples)
    }

    fn tuples<'a>(&'a self, state: &'a State) -> impl Iterator<Item = Tuple> + 'a {
        state.ips.iter().map(|&client| Tuple { client, server: self.server })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::census::{Counts, Via};

    const SERVER: &str = "127.0.0.1:80";

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|ip| ip.parse().unwrap()).collect()
    }

    /// `ports` per tuple, no reuse (TIME_WAIT holds 60 s), starting from `first` with `reserve` to add
    /// from (`auto`) or none (a list).
    fn governor_with(
        ports: u16,
        first: &[&str],
        reserve: &[&str],
        policy: PortPolicy,
        census: Option<Census>,
        t0: Instant,
    ) -> Governor {
        let settings = Settings::new([40000, 40000 + ports - 1], &[], 0, 1000);
        let reserve = ips(reserve);
        let clients = ClientIps {
            source: if reserve.is_empty() { "list" } else { "auto" },
            first: ips(first),
            reserve_len: reserve.len(),
            reserve: Box::new(reserve.into_iter()),
            kernel_choice: Some("127.0.0.1".parse().unwrap()),
        };
        Governor::new(settings, SERVER.parse().unwrap(), clients, policy, census, t0)
    }

    fn governor(ips: &[&str], policy: PortPolicy, t0: Instant) -> Governor {
        governor_with(2, ips, &[], policy, None, t0)
    }

    #[test]
    fn connections_spread_over_client_ips_and_client_closes_hold_ports() {
        let t0 = Instant::now();
        let g = governor(&["127.0.0.2", "127.0.0.3"], PortPolicy::Fail, t0);
        let mut used = Vec::new();
        for _ in 0..4 {
            let Grant::From(ip) = g.acquire(t0) else { panic!("four ports exist") };
            g.closed(ip, Closer::Client, t0);
            used.push(ip.to_string());
        }
        used.sort();
        assert_eq!(used, ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"]);
        assert_eq!(g.acquire(t0), Grant::Exhausted, "every port is in TIME_WAIT");
        assert!(g.exhausted());
        let (ports, _) = g.end_mode();
        assert_eq!((ports.time_wait_peak, ports.policy.as_str()), (4, "fail"));
        assert_eq!(ports.per_ip.iter().map(|p| p.opened).collect::<Vec<_>>(), [2, 2]);
        assert_eq!((ports.source_ip.as_deref(), ports.occupancy_peak), (Some("list"), Some(1.0)));
        assert!(!g.exhausted(), "a new mode starts afresh");
    }

    #[test]
    fn wait_names_when_the_next_port_frees_and_server_closes_hold_nothing() {
        let t0 = Instant::now();
        let g = governor(&["127.0.0.2"], PortPolicy::Wait, t0);
        let Grant::From(ip) = g.acquire(t0) else { panic!() };
        g.closed(ip, Closer::Server, t0);
        let Grant::From(ip) = g.acquire(t0) else { panic!() };
        g.closed(ip, Closer::Client, t0);
        let Grant::From(ip) = g.acquire(t0) else { panic!() };
        g.closed(ip, Closer::Client, t0);
        assert_eq!(g.acquire(t0), Grant::WaitUntil(t0 + Duration::from_secs(60)));
        assert_eq!(g.acquire(t0 + Duration::from_secs(60)), Grant::From(ip));
    }

    #[test]
    fn off_leaves_it_to_the_kernel_and_a_refused_port_rests_the_ip() {
        let t0 = Instant::now();
        let g = governor(&["127.0.0.2"], PortPolicy::Off, t0);
        for _ in 0..3 {
            let Grant::From(ip) = g.acquire(t0) else { panic!("off never waits") };
            g.closed(ip, Closer::Client, t0);
        }
        let w = governor(&["127.0.0.2", "127.0.0.3"], PortPolicy::Wait, t0);
        let first: IpAddr = "127.0.0.2".parse().unwrap();
        w.connect_failed(first, ErrorKind::AddrUnavailable, t0);
        assert_eq!(w.acquire(t0), Grant::From("127.0.0.3".parse().unwrap()), "saturated IP skipped");
    }

    #[test]
    fn auto_adds_a_client_ip_before_any_passes_a_quarter_of_its_ports_and_never_waits() {
        let t0 = Instant::now();
        let reserve = ["127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"];
        // 8 ports per tuple: a quarter is 2
        let g = governor_with(8, &["127.0.0.2"], &reserve, PortPolicy::Wait, None, t0);
        for _ in 0..10 {
            let Grant::From(ip) = g.acquire(t0) else { panic!("auto rotates instead of waiting") };
            g.closed(ip, Closer::Client, t0);
        }
        let (ports, _) = g.end_mode();
        assert_eq!(ports.client_ips, ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"]);
        assert!(ports.per_ip.iter().all(|p| (p.opened, p.held_peak) == (2, Some(2))), "{:?}", ports.per_ip);
        assert_eq!((ports.source_ip.as_deref(), ports.occupancy_peak, ports.waited_ms), (Some("auto"), Some(0.25), 0));
        // the last one in the reserve, then past a quarter, and finally nothing but waiting
        for _ in 0..2 {
            assert_eq!(g.acquire(t0), Grant::From("127.0.0.7".parse().unwrap()));
        }
        assert!(matches!(g.acquire(t0), Grant::From(_)), "an empty reserve: the best IP, as a list would");
        // a reserve that held fewer usable addresses than counted is found empty, and warnings resume
        let g = governor_with(2, &["127.0.0.2"], &["127.0.0.3"], PortPolicy::Wait, None, t0);
        g.state().reserve_left = 5;
        for _ in 0..4 {
            assert!(matches!(g.acquire(t0), Grant::From(_)));
        }
        assert_eq!(g.state().reserve_left, 0);
        assert_eq!(g.sample(None, t0).len(), 2, "both tuples full, nothing left to add");
        let mut g = governor_with(1, &["127.0.0.2"], &[], PortPolicy::Wait, None, t0);
        g.source = "auto";
        assert!(matches!(g.acquire(t0), Grant::From(_)));
        assert!(matches!(g.acquire(t0), Grant::WaitUntil(_)), "nothing to add: wait, as today");
    }

    #[test]
    fn an_added_client_ip_counts_what_the_kernel_held_for_it_at_start() {
        let t0 = Instant::now();
        let tuple = |ip: &str| Tuple { client: ip.parse().unwrap(), server: SERVER.parse().unwrap() };
        // a previous run left 127.0.0.3's four ports in TIME_WAIT
        let census =
            Census { via: Via::Proc, tuples: [(tuple("127.0.0.3"), Counts { time_wait: 4, established: 0 })].into() };
        let g = governor_with(4, &["127.0.0.2"], &["127.0.0.3", "127.0.0.4"], PortPolicy::Wait, Some(census), t0);
        let granted: Vec<Grant> = (0..2).map(|_| g.acquire(t0)).collect();
        let from = |ip: &str| Grant::From(ip.parse().unwrap());
        assert_eq!(granted, [from("127.0.0.2"), from("127.0.0.4")], "127.0.0.3 is full: skipped");
    }

    #[test]
    fn past_half_a_tuple_is_warned_about_once_and_only_when_rotation_cannot_help() {
        let t0 = Instant::now();
        let list = governor(&["127.0.0.2"], PortPolicy::Wait, t0);
        let Grant::From(_) = list.acquire(t0) else { panic!() };
        let Grant::From(_) = list.acquire(t0) else { panic!() };
        let warnings = list.sample(None, t0);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].ends_with("with --source-ip"), "{}", warnings[0]);
        assert!(list.sample(None, t0).is_empty(), "once per tuple");
        // auto out of addresses: the arithmetic of what more would allow
        let mut auto = governor_with(4, &["127.0.0.2"], &[], PortPolicy::Wait, None, t0);
        auto.source = "auto";
        for _ in 0..3 {
            let Grant::From(ip) = auto.acquire(t0) else { panic!() };
            auto.closed(ip, Closer::Client, t0);
        }
        let warnings = auto.sample(None, t0);
        assert!(warnings[0].contains("found no other address toward 127.0.0.1:80"), "{}", warnings[0]);
        // 3 closes held 60 s: 0.05/s; 3 IPs keep 3 ports under a quarter of 4 each; one more carries 4/60 s
        assert!(
            warnings[0].contains("3 client IPs instead of 1") && warnings[0].ends_with("adds 0.1/s"),
            "{}",
            warnings[0]
        );
        let (_, samples) = auto.end_mode();
        assert_eq!((samples[0].ledger, samples[0].client_ips), (3, 1));
    }

    #[test]
    fn the_kernels_own_choice_needs_no_bind() {
        let t0 = Instant::now();
        let g = governor(&["127.0.0.1", "127.0.0.2"], PortPolicy::Wait, t0);
        assert_eq!(g.bind_to("127.0.0.1".parse().unwrap()), None);
        assert_eq!(g.bind_to("127.0.0.2".parse().unwrap()), Some("127.0.0.2".parse().unwrap()));
    }
}

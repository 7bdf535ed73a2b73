//! The port governor (DESIGN.md §4): every new connection of a run asks it for a client IP. It keeps the
//! run's port ledger (shared by every mode, because TIME_WAIT outlives a mode, and by every engine thread),
//! picks the client IP with the most free ports for the target, and applies `--port-policy` when none has
//! one: `wait` for the next port to free, `fail` to stop the mode cleanly, `off` to let the kernel decide.
//!
//! One lock per new connection and per close, never per request: connections are opened at most tens of
//! thousands of times a second, and the two engine threads rarely meet on it.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::net::census::{self, Census};
use crate::net::ports::{occupancy_warning, Ledger, Settings, Tuple};
use crate::net::socket;
use crate::plan::{Mode, Plan, PortPolicy, Stop};
use crate::record::result::{PerIp, Ports};
use crate::record::{Closer, ErrorKind};

/// How long to wait when every port is held by an open connection (only a close frees one, and no
/// ledger clock can say when).
const OPEN_PORTS_RECHECK: Duration = Duration::from_millis(50);

pub struct Governor {
    ledger: Mutex<Ledger>,
    server: SocketAddr,
    client_ips: Vec<IpAddr>,
    policy: PortPolicy,
    mode: Mutex<ModePorts>,
    /// `fail` found no free port during this mode: the engine stops claiming work (checked per request,
    /// hence an atomic rather than a field under the lock).
    exhausted: AtomicBool,
    /// Tuples already warned about for passing half their ports.
    warned: Mutex<HashSet<Tuple>>,
    /// No `--source-ip`: the one client IP is the kernel's own choice for the target.
    kernel_chooses: bool,
}

/// The run's governor: the client IPs (`--source-ip`, each probe-bound, or the kernel's own choice for
/// the target), the ledger seeded from the kernel's census, and, under `fail`, the refusal of a plan that
/// cannot fit. Errors are one line for exit 2.
pub fn prepare(plan: &Plan, server: SocketAddr) -> Result<Arc<Governor>, String> {
    let client_ips = socket::client_ips(&plan.source_ips, server)?;
    let kernel_chooses = plan.source_ips.is_empty();
    let now = Instant::now();
    let census = census::take_toward(server).ok();
    let mut governor =
        Governor::new(socket::port_settings(), server, client_ips, plan.port_policy, census.as_ref(), now);
    governor.kernel_chooses = kernel_chooses;
    if plan.port_policy == PortPolicy::Fail {
        governor.check_fit(plan, now)?;
    }
    Ok(Arc::new(governor))
}

/// New ports a plan needs within one hold of TIME_WAIT: a new connection per request in serial and
/// parallel modes (all of them with `-n`, the rate times the hold with `--rate`); otherwise one per
/// connection. A duration run without a rate cannot say; its connections are the least it needs.
fn ports_needed(plan: &Plan, hold_secs: u32) -> u64 {
    plan.modes
        .iter()
        .map(|&mode| {
            let connections = if mode == Mode::Serial { 1 } else { u64::from(plan.connections) };
            if !matches!(mode, Mode::Serial | Mode::Parallel) {
                return connections;
            }
            match (plan.stop, plan.rate) {
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

/// What one mode did with ports; reset at each mode's start.
#[derive(Debug, Default)]
struct ModePorts {
    /// Connections established per client IP.
    opened: Vec<u64>,
    waited: Duration,
    kernel_time_wait_peak: u64,
    /// Once a second: (ledger, kernel) TIME_WAIT over this run's tuples.
    samples: Vec<(u64, Option<u64>)>,
}

/// Samples the governor once a second while a mode runs (and once more when dropped), printing the
/// occupancy warnings on stderr.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
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
                    loop {
                        while Instant::now() < next && !stop.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(20).min(next - Instant::now()));
                        }
                        let census = census::take_toward(governor.server).ok();
                        for warning in governor.sample(census.as_ref(), Instant::now()) {
                            eprintln!("connbench: {warning}");
                        }
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        next += Duration::from_secs(1);
                    }
                }
            })
            .ok();
        Sampler { stop, thread }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One second's TIME_WAIT count, for the timeline.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub ledger: u64,
    pub kernel: Option<u64>,
}

impl Governor {
    /// `census`: the kernel's sockets at start, so ports a previous run left in TIME_WAIT count as held.
    pub fn new(
        settings: Settings,
        server: SocketAddr,
        client_ips: Vec<IpAddr>,
        policy: PortPolicy,
        census: Option<&Census>,
        now: Instant,
    ) -> Governor {
        let mut ledger = Ledger::new(settings, now);
        if let Some(census) = census {
            for &client in &client_ips {
                let tuple = Tuple { client, server };
                ledger.seed(tuple, census.get(tuple).time_wait, now);
            }
        }
        let mode = ModePorts { opened: vec![0; client_ips.len()], ..ModePorts::default() };
        Governor {
            ledger: Mutex::new(ledger),
            server,
            client_ips,
            policy,
            mode: Mutex::new(mode),
            exhausted: AtomicBool::new(false),
            warned: Mutex::new(HashSet::new()),
            kernel_chooses: false,
        }
    }

    /// The address to bind a connection granted `ip` to: none when it is the kernel's own choice anyway.
    pub fn bind_to(&self, ip: IpAddr) -> Option<IpAddr> {
        (!self.kernel_chooses).then_some(ip)
    }

    /// `fail`: refuses, with the arithmetic, a plan needing more ports than are free now.
    fn check_fit(&self, plan: &Plan, now: Instant) -> Result<(), String> {
        let settings = self.settings();
        let first = Tuple { client: self.client_ips[0], server: self.server };
        let hold = settings.hold_secs(first);
        let needed = ports_needed(plan, hold);
        let free = self.free_ports(now);
        if needed <= free {
            return Ok(());
        }
        let per_ip = u64::from(settings.ports_per_tuple());
        let held: u64 = self.occupancy(now).iter().map(|&(_, held, _)| held).sum();
        let more_ips = (needed - free).div_ceil(per_ip.max(1));
        Err(format!(
            "--port-policy fail: the plan needs {needed} new ports to {} within {hold} s, but its {} client IP(s) have \
             {free} free ({per_ip} per IP, {held} held: ports stay in TIME_WAIT {hold} s with tcp_tw_reuse={}); add \
             {more_ips} more client IP(s) with --source-ip, wait for TIME_WAIT to end, or use --port-policy wait",
            self.server,
            self.client_ips.len(),
            settings.tw_reuse
        ))
    }

    pub fn tuples(&self) -> impl Iterator<Item = Tuple> + '_ {
        self.client_ips.iter().map(|&client| Tuple { client, server: self.server })
    }

    /// Ports a new connection could take now, over every client IP.
    pub fn free_ports(&self, now: Instant) -> u64 {
        let mut ledger = self.ledger();
        self.tuples().map(|tuple| ledger.free(tuple, now)).sum()
    }

    /// Every tuple's ports held and in TIME_WAIT now.
    pub fn occupancy(&self, now: Instant) -> Vec<(Tuple, u64, u64)> {
        let mut ledger = self.ledger();
        self.tuples().map(|tuple| (tuple, ledger.held(tuple, now), ledger.time_wait(tuple, now))).collect()
    }

    pub fn settings(&self) -> Settings {
        self.ledger().settings().clone()
    }

    /// Before a connect: which client IP, or wait, or stop.
    pub fn acquire(&self, now: Instant) -> Grant {
        let mut ledger = self.ledger();
        let picked = ledger.pick(&self.client_ips, self.server, now).or_else(|| match self.policy {
            // The kernel decides: try the IP with the fewest ports held, and count what it says.
            PortPolicy::Off => self
                .client_ips
                .iter()
                .copied()
                .min_by_key(|&client| ledger.held(Tuple { client, server: self.server }, now)),
            PortPolicy::Wait | PortPolicy::Fail => None,
        });
        match (picked, self.policy) {
            (Some(ip), _) => {
                ledger.opened(Tuple { client: ip, server: self.server });
                drop(ledger);
                let index = self.client_ips.iter().position(|&c| c == ip).expect("picked from the list");
                self.mode().opened[index] += 1;
                Grant::From(ip)
            }
            (None, PortPolicy::Fail) => {
                self.exhausted.store(true, Ordering::Relaxed);
                Grant::Exhausted
            }
            (None, _) => {
                let next = self
                    .tuples()
                    .filter_map(|tuple| ledger.next_free_at(tuple, now))
                    .min()
                    .unwrap_or(now + OPEN_PORTS_RECHECK);
                // A port freeing "now" that `pick` did not see belongs to an IP marked saturated.
                Grant::WaitUntil(next.max(now + Duration::from_millis(1)))
            }
        }
    }

    /// The connect from `ip` failed: its port was never held, and it opened nothing; EADDRNOTAVAIL also
    /// rests the IP a second.
    pub fn connect_failed(&self, ip: IpAddr, kind: ErrorKind, now: Instant) {
        let mut ledger = self.ledger();
        ledger.closed(Tuple { client: ip, server: self.server }, Closer::Reset, now);
        if kind == ErrorKind::AddrUnavailable {
            ledger.mark_saturated(ip, self.server, now);
        }
        drop(ledger);
        let index = self.client_ips.iter().position(|&c| c == ip).expect("granted from the list");
        let mut mode = self.mode();
        mode.opened[index] = mode.opened[index].saturating_sub(1);
    }

    /// A connection from `ip` ended; a client-first close holds its port in TIME_WAIT.
    pub fn closed(&self, ip: IpAddr, closer: Closer, now: Instant) {
        self.ledger().closed(Tuple { client: ip, server: self.server }, closer, now);
    }

    /// A new connection waited for a port.
    pub fn waited(&self, how_long: Duration) {
        self.mode().waited += how_long;
    }

    /// Did `fail` find no port during this mode?
    pub fn exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }

    /// The once-a-second cross-check: the ledger's TIME_WAIT count beside the kernel's. Returns a warning
    /// for each tuple passing half its ports for the first time (past half, connect() slows down).
    pub fn sample(&self, census: Option<&Census>, now: Instant) -> Vec<String> {
        let ledger = self.ledger().time_wait_total(now);
        let kernel = census.map(|c| self.tuples().map(|tuple| c.get(tuple).time_wait).sum());
        let mut mode = self.mode();
        mode.kernel_time_wait_peak = mode.kernel_time_wait_peak.max(kernel.unwrap_or(0));
        mode.samples.push((ledger, kernel));
        drop(mode);
        let settings = self.settings();
        let capacity = u64::from(settings.ports_per_tuple());
        let mut warned = self.warned.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.occupancy(now)
            .into_iter()
            .filter_map(|(tuple, held, _)| {
                // The kernel may hold more than the ledger knows (TIME_WAIT left by another program), except
                // where tcp_tw_reuse lets connect() take its TIME_WAIT ports over: there its count says
                // nothing about free ports.
                let kernel = if settings.reuses(tuple) { 0 } else { census.map_or(0, |c| c.get(tuple).time_wait) };
                let held = held.max(kernel);
                occupancy_warning(tuple, held, capacity).filter(|_| warned.insert(tuple))
            })
            .collect()
    }

    /// Ends a mode: what it did with ports, and its once-a-second TIME_WAIT samples; starts the next.
    pub fn end_mode(&self) -> (Ports, Vec<Sample>) {
        let fresh = ModePorts { opened: vec![0; self.client_ips.len()], ..ModePorts::default() };
        let mode = std::mem::replace(&mut *self.mode(), fresh);
        self.exhausted.store(false, Ordering::Relaxed);
        let time_wait_peak = self.ledger().restart_peak(Instant::now());
        let ports = Ports {
            policy: self.policy.name().to_string(),
            client_ips: self.client_ips.iter().map(IpAddr::to_string).collect(),
            time_wait_peak,
            kernel_time_wait_peak: mode.kernel_time_wait_peak,
            waited_ms: mode.waited.as_millis() as u64,
            per_ip: self
                .client_ips
                .iter()
                .zip(&mode.opened)
                .map(|(ip, &opened)| PerIp { ip: ip.to_string(), opened })
                .collect(),
        };
        let samples = mode.samples.into_iter().map(|(ledger, kernel)| Sample { ledger, kernel }).collect();
        (ports, samples)
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn mode(&self) -> MutexGuard<'_, ModePorts> {
        self.mode.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn governor(ips: &[&str], policy: PortPolicy, t0: Instant) -> Governor {
        // 2 ports per tuple, no reuse: TIME_WAIT holds 60 s
        let settings = Settings::new([40000, 40001], &[], 0, 1000);
        let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
        Governor::new(settings, "127.0.0.1:80".parse().unwrap(), ips, policy, None, t0)
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
}

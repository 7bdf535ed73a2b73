/*!
The port ledger (docs/design.md §4): how many local ports each (client IP, server IP, server port)
tuple holds, so that the engine can pick the client IP with the most free ports, pace new connections
to the rate at which ports free up, and say how many client IPs a rate needs.

Pure bookkeeping: no I/O, no tokio. Time is passed in as `Instant`, so the tests drive a fake clock.
The kernel settings come in as `Settings` (read by `net/socket.rs`); the kernel's own count of
TIME_WAIT sockets (`net/census.rs`) seeds the ledger at start.

A port is held while its connection is open and, when the client closed first, for the TIME_WAIT
length after the close. Closes are kept per tuple in a ring of 100 ms buckets (a `VecDeque` of
(expiry tick, count), at most one entry per tick of the TIME_WAIT window). Not one-second buckets: where
tcp_tw_reuse frees a port after 1 s, rounding closes up to whole seconds held ports up to 2 s, which
halved what a loopback tuple sustains (the governor capped parallel mode at 14k connections/s).
*/

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

/// Who closed first; only a client-first close leaves a TIME_WAIT on our port.
pub use crate::record::Closer;

/// Linux's TCP_TIMEWAIT_LEN: fixed at 60 s, whatever `tcp_fin_timeout` says.
pub const TIME_WAIT_SECS: u32 = 60;

/// Past this share of a tuple's ports, connect() slows down: the kernel walks the range for a free port
/// (docs/design.md §4, measured: ~200 connects/s at half occupancy).
pub const WARN_OCCUPANCY: f64 = 0.5;

/// The governor's `auto` rotation adds a client IP before the best one would pass this share of its ports:
/// a margin of two below `WARN_OCCUPANCY`, so a rate may double within one hold before any tuple reaches
/// the slow half, and the kernel's port search stays short (a free port in 1 of every 4/3 tried).
pub const ROTATE_OCCUPANCY: f64 = 0.25;

/// The stderr warning for a tuple holding more than `WARN_OCCUPANCY` of its `capacity` ports, if it does.
/// `held` counts the ports the kernel really withholds: see [`Settings::time_wait_held`].
pub fn occupancy_warning(tuple: Tuple, held: u64, capacity: u64) -> Option<String> {
    let share = if capacity == 0 { 1.0 } else { held as f64 / capacity as f64 };
    (share > WARN_OCCUPANCY).then(|| {
        format!(
            "warning: {} -> {} holds {held} of its {capacity} ports ({:.0}%): past half, connect() slows down as \
             the kernel searches for a free one; spread new connections over more client IPs with --source-ip",
            tuple.client,
            tuple.server,
            100.0 * share.min(1.0)
        )
    })
}

/// How long an EADDRNOTAVAIL keeps an IP out of rotation for a destination (docs/design.md §4).
const SATURATED_FOR: Duration = Duration::from_secs(1);

/// The ledger's clock resolution: closes free ports at most this late, never early.
const TICK_MS: u64 = 100;

/// One (client IP, server IP, server port): the unit the kernel allots ephemeral ports in, because
/// with IP_BIND_ADDRESS_NO_PORT a local port only has to be unique per 4-tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    pub client: IpAddr,
    pub server: SocketAddr,
}

/// The kernel settings that decide port capacity and TIME_WAIT length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `net.ipv4.ip_local_port_range`, inclusive.
    pub port_range: [u16; 2],
    /// Ports of the range listed in `net.ipv4.ip_local_reserved_ports`: connect() skips them.
    pub reserved_in_range: u32,
    /// `net.ipv4.tcp_tw_reuse`: 0 off, 1 on, 2 loopback only.
    pub tw_reuse: u8,
    /// `net.ipv4.tcp_tw_reuse_delay` (Linux 6.13+, milliseconds; 1000 before it existed).
    pub tw_reuse_delay_ms: u32,
}

impl Settings {
    /// Settings from the sysctl values; `reserved` is `ip_local_reserved_ports` as inclusive ranges.
    pub fn new(port_range: [u16; 2], reserved: &[[u16; 2]], tw_reuse: u8, tw_reuse_delay_ms: u32) -> Settings {
        let [low, high] = port_range;
        let reserved_in_range = reserved
            .iter()
            .map(|&[a, b]| {
                let (a, b) = (a.max(low), b.min(high));
                if a <= b {
                    u32::from(b - a) + 1
                } else {
                    0
                }
            })
            .sum();
        Settings { port_range, reserved_in_range, tw_reuse, tw_reuse_delay_ms }
    }

    /// Ports one tuple can use: the range less the reserved ports inside it.
    pub fn ports_per_tuple(&self) -> u32 {
        let [low, high] = self.port_range;
        if low > high {
            return 0;
        }
        (u32::from(high - low) + 1).saturating_sub(self.reserved_in_range)
    }

    /// Whether connect() may take over a TIME_WAIT port of this tuple before TIME_WAIT ends.
    ///
    /// The kernel's rule (`tcp_twsk_unique`, net/ipv4/tcp_ipv4.c): with `tcp_tw_reuse=1` always;
    /// with `=2` only when the TIME_WAIT socket's local *or* remote address is loopback (127.0.0.0/8,
    /// ::1, or their v4-mapped forms) or it was bound to `lo`; `=0` never. Reuse also needs the peer
    /// to have sent TCP timestamps (PAWS keeps old segments out), which every Linux peer does with
    /// the default `tcp_timestamps=1`; a peer without them keeps the full 60 s, which the ledger
    /// does not model. It applies to outgoing connect() only, which is all the ledger counts.
    pub fn reuses(&self, tuple: Tuple) -> bool {
        match self.tw_reuse {
            1 => true,
            2 => is_loopback(tuple.client) || is_loopback(tuple.server.ip()),
            _ => false,
        }
    }

    /// Milliseconds a client-first close holds its port for this tuple: 60 s, or where reuse applies
    /// the reuse delay (the kernel reuses once more than `tcp_tw_reuse_delay` ms have passed since the
    /// socket entered TIME_WAIT), rounded up to the ledger's 100 ms tick.
    pub fn hold_ms(&self, tuple: Tuple) -> u32 {
        let full = TIME_WAIT_SECS * 1000;
        if self.reuses(tuple) {
            (u64::from(self.tw_reuse_delay_ms).div_ceil(TICK_MS) * TICK_MS).clamp(TICK_MS, u64::from(full)) as u32
        } else {
            full
        }
    }

    /// Of the kernel's count of a tuple's TIME_WAIT sockets (each kept 60 s), how many withhold their port
    /// from connect(): all of them, or none where tcp_tw_reuse lets connect() take one over. There the
    /// sockets younger than the reuse delay still withhold theirs, but a count cannot tell them apart;
    /// they are the last second's closes, which the ledger itself holds. This is the one notion of a held
    /// port behind every occupancy figure: the governor's, `run`'s warnings and `connbench ports`.
    pub fn time_wait_held(&self, tuple: Tuple, kernel_time_wait: u64) -> u64 {
        if self.reuses(tuple) {
            0
        } else {
            kernel_time_wait
        }
    }

    /// The hold in whole seconds, rounded up, for reports.
    pub fn hold_secs(&self, tuple: Tuple) -> u32 {
        self.hold_ms(tuple).div_ceil(1000)
    }

    /// New connections per second one tuple sustains when the client closes first:
    /// ports / hold time (28,232 / 60 = 470 by default).
    pub fn tuple_rate(&self, tuple: Tuple) -> f64 {
        f64::from(self.ports_per_tuple()) * 1000.0 / f64::from(self.hold_ms(tuple))
    }

    /// The sustainable new-connection rate of a set of tuples: the sum of each one's rate.
    pub fn sustainable_rate(&self, tuples: &[Tuple]) -> f64 {
        tuples.iter().map(|&t| self.tuple_rate(t)).sum()
    }

    /// Client IPs like `tuple`'s needed for `rate` new connections/s: ⌈rate × hold / ports⌉.
    /// None when the range is empty (no number of IPs will do).
    pub fn ips_needed(&self, rate: f64, tuple: Tuple) -> Option<u64> {
        let ports = self.ports_per_tuple();
        if ports == 0 {
            return None;
        }
        let needed = (rate.max(0.0) * f64::from(self.hold_ms(tuple)) / 1000.0 / f64::from(ports)).ceil();
        // `as` saturates, so an absurd rate gives u64::MAX rather than wrapping.
        Some(needed as u64)
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// What the ledger knows about one tuple.
#[derive(Debug, Default)]
struct Slot {
    open: u64,
    /// Client-first closes as (tick, counted from the ledger's epoch, at which they free; count),
    /// oldest first.
    time_wait: VecDeque<(u64, u64)>,
    time_wait_total: u64,
    /// An EADDRNOTAVAIL keeps the tuple out of `pick` until then.
    saturated_until: Option<Instant>,
}

impl Slot {
    fn expire(&mut self, now_tick: u64) {
        while let Some(&(frees_at, count)) = self.time_wait.front() {
            if frees_at > now_tick {
                break;
            }
            self.time_wait.pop_front();
            self.time_wait_total -= count;
        }
    }

    /// Returns the tick the ports were filed under, which may be later than `frees_at`.
    fn add_time_wait(&mut self, frees_at: u64, count: u64) -> u64 {
        self.time_wait_total += count;
        match self.time_wait.back_mut() {
            Some((last, n)) if *last >= frees_at => {
                // Same tick, or a caller's `now` slightly older than the last one: fold it into
                // the later bucket, which only holds the port a little longer (never shorter).
                *n += count;
                *last
            }
            _ => {
                self.time_wait.push_back((frees_at, count));
                frees_at
            }
        }
    }
}

/// Whose TIME_WAIT ports are added: the current mode's connections', or what was held before it began (the
/// kernel's count of an earlier run, seeded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    ThisMode,
    Before,
}

/// Open connections and TIME_WAIT ports per tuple.
#[derive(Debug)]
pub struct Ledger {
    settings: Settings,
    capacity: u64,
    epoch: Instant,
    /// Fx, not SipHash: every connection looks its tuple up three times, and SipHash cost ~390
    /// instructions a lookup (callgrind, close mode): a sixth of the user-space instructions per
    /// connection. The keys are the client's own addresses: no one can choose them to collide.
    slots: FxHashMap<Tuple, Slot>,
    /// Every tuple's TIME_WAIT ports by the tick they free, so the total is exact without a walk
    /// over all tuples (hold times differ per tuple, hence a map rather than one ring).
    all_time_wait: BTreeMap<u64, u64>,
    time_wait_now: u64,
    time_wait_peak: u64,
    /// The current mode's view (a run's modes share the ledger, and TIME_WAIT outlives a mode).
    mode: ModeView,
}

/// What a mode began with, so that its own TIME_WAIT is told apart from what earlier modes and runs left.
#[derive(Debug, Default)]
struct ModeView {
    /// TIME_WAIT held when the mode began, by the tick it frees (seeds from the kernel's census added):
    /// expired with `all_time_wait`, so that what is left of it is known at any moment.
    before: BTreeMap<u64, u64>,
    before_now: u64,
    at_start: u64,
    own_peak: u64,
}

/// One mode's TIME_WAIT, as the ledger counts it (for the hold the kernel applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeTimeWait {
    /// Held when the mode began: what earlier modes, and runs before this one, left.
    pub at_start: u64,
    /// The most held at once during the mode, what it began with included.
    pub peak: u64,
    /// Of the ports the mode's own connections left: the most held at once, and those held at its end.
    pub own_peak: u64,
    pub own_end: u64,
}

impl Ledger {
    /// An empty ledger whose clock starts at `epoch` (any instant not later than the first `now`).
    pub fn new(settings: Settings, epoch: Instant) -> Ledger {
        let capacity = u64::from(settings.ports_per_tuple());
        Ledger {
            settings,
            capacity,
            epoch,
            slots: FxHashMap::default(),
            all_time_wait: BTreeMap::new(),
            time_wait_now: 0,
            time_wait_peak: 0,
            mode: ModeView::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Ports one tuple can use.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Seeds a tuple with the TIME_WAIT sockets the kernel already holds for it (a run right after
    /// another), as far as they withhold ports ([`Settings::time_wait_held`]). Their ages are unknown
    /// from a count, so they are taken as closed at `census_at`: each frees a whole hold time from
    /// then. That overstates how long they are held (by up to the hold time) but never understates
    /// it: the cost of the error is some waiting or one more client IP, where the opposite error would
    /// let the governor open connections that fail with EADDRNOTAVAIL.
    pub fn seed(&mut self, tuple: Tuple, kernel_time_wait: u64, census_at: Instant) {
        let held = self.settings.time_wait_held(tuple, kernel_time_wait);
        if held > 0 {
            self.add_time_wait(tuple, held, census_at, Left::Before);
        }
    }

    /// A connection of this tuple was established (or is being attempted: its port is taken).
    pub fn opened(&mut self, tuple: Tuple) {
        self.slots.entry(tuple).or_default().open += 1;
    }

    /// A connection of this tuple ended; a client-first close keeps its port for the hold time.
    pub fn closed(&mut self, tuple: Tuple, closer: Closer, now: Instant) {
        let slot = self.slots.entry(tuple).or_default();
        slot.open = slot.open.saturating_sub(1);
        if closer == Closer::Client {
            self.add_time_wait(tuple, 1, now, Left::ThisMode);
        }
    }

    /// Ports of the tuple in use now: open connections plus TIME_WAIT.
    pub fn held(&mut self, tuple: Tuple, now: Instant) -> u64 {
        let tick = self.tick(now);
        self.slots.get_mut(&tuple).map_or(0, |slot| {
            slot.expire(tick);
            slot.open + slot.time_wait_total
        })
    }

    /// TIME_WAIT ports of the tuple now.
    pub fn time_wait(&mut self, tuple: Tuple, now: Instant) -> u64 {
        let tick = self.tick(now);
        self.slots.get_mut(&tuple).map_or(0, |slot| {
            slot.expire(tick);
            slot.time_wait_total
        })
    }

    /// Ports of the tuple a new connection could take now.
    pub fn free(&mut self, tuple: Tuple, now: Instant) -> u64 {
        self.capacity.saturating_sub(self.held(tuple, now))
    }

    /// Share of the tuple's ports held, 0.0 to 1.0 (1.0 for an empty range). Past 0.5 the kernel's
    /// port search slows connect() down (docs/design.md §4).
    pub fn occupancy(&mut self, tuple: Tuple, now: Instant) -> f64 {
        if self.capacity == 0 {
            return 1.0;
        }
        (self.held(tuple, now) as f64 / self.capacity as f64).min(1.0)
    }

    /// The client IP with the most free ports for `server`, and how many it has, skipping IPs marked
    /// saturated and IPs with none free; ties go to the earlier IP in the list. None when no IP can take
    /// a connection now (the `wait` governor then asks `next_free_at`).
    pub fn pick(&mut self, client_ips: &[IpAddr], server: SocketAddr, now: Instant) -> Option<(IpAddr, u64)> {
        let mut best: Option<(IpAddr, u64)> = None;
        for &client in client_ips {
            let tuple = Tuple { client, server };
            if self.is_saturated(tuple, now) {
                continue;
            }
            let free = self.free(tuple, now);
            if free > 0 && best.is_none_or(|(_, most)| free > most) {
                best = Some((client, free));
            }
        }
        best
    }

    /// When the tuple will next have a free port: `now` if it has one; the end of its oldest
    /// TIME_WAIT bucket otherwise; None when every port is held by an open connection (only a close
    /// frees one).
    pub fn next_free_at(&mut self, tuple: Tuple, now: Instant) -> Option<Instant> {
        if self.free(tuple, now) > 0 {
            return Some(now);
        }
        let slot = self.slots.get(&tuple)?;
        slot.time_wait.front().map(|&(frees_at, _)| self.epoch + Duration::from_millis(frees_at * TICK_MS))
    }

    /// connect() failed with EADDRNOTAVAIL: the kernel found no port, whatever the ledger thinks.
    /// Keep the IP out of rotation for this server for a second.
    pub fn mark_saturated(&mut self, client: IpAddr, server: SocketAddr, now: Instant) {
        self.slots.entry(Tuple { client, server }).or_default().saturated_until = Some(now + SATURATED_FOR);
    }

    /// TIME_WAIT ports across all tuples now.
    pub fn time_wait_total(&mut self, now: Instant) -> u64 {
        self.expire_all(self.tick(now));
        self.time_wait_now
    }

    /// The most TIME_WAIT ports held at once across all tuples, seeds included.
    pub fn time_wait_peak(&self) -> u64 {
        self.time_wait_peak
    }

    /// TIME_WAIT ports the current mode's own connections left, held now.
    pub fn own_time_wait(&mut self, now: Instant) -> u64 {
        self.expire_all(self.tick(now));
        self.time_wait_now - self.mode.before_now
    }

    /// Ends a mode: its TIME_WAIT, and a new mode begun from what is held now.
    pub fn end_mode(&mut self, now: Instant) -> ModeTimeWait {
        let total = self.time_wait_total(now);
        let ended = ModeTimeWait {
            at_start: self.mode.at_start,
            peak: self.time_wait_peak,
            own_peak: self.mode.own_peak,
            own_end: total - self.mode.before_now,
        };
        self.mode = ModeView { before: self.all_time_wait.clone(), before_now: total, at_start: total, own_peak: 0 };
        self.time_wait_peak = total;
        ended
    }

    fn is_saturated(&self, tuple: Tuple, now: Instant) -> bool {
        self.slots.get(&tuple).and_then(|s| s.saturated_until).is_some_and(|until| now < until)
    }

    fn add_time_wait(&mut self, tuple: Tuple, count: u64, now: Instant, left: Left) {
        let hold = u64::from(self.settings.hold_ms(tuple)) / TICK_MS;
        let frees_at = self.tick_ceil(now) + hold;
        let frees_at = self.slots.entry(tuple).or_default().add_time_wait(frees_at, count);
        self.expire_all(self.tick(now));
        *self.all_time_wait.entry(frees_at).or_default() += count;
        self.time_wait_now += count;
        self.time_wait_peak = self.time_wait_peak.max(self.time_wait_now);
        match left {
            Left::Before => {
                *self.mode.before.entry(frees_at).or_default() += count;
                self.mode.before_now += count;
                self.mode.at_start += count;
            }
            Left::ThisMode => {
                self.mode.own_peak = self.mode.own_peak.max(self.time_wait_now - self.mode.before_now);
            }
        }
    }

    fn expire_all(&mut self, now_tick: u64) {
        for (all, held) in
            [(&mut self.all_time_wait, &mut self.time_wait_now), (&mut self.mode.before, &mut self.mode.before_now)]
        {
            while let Some(entry) = all.first_entry() {
                if *entry.key() > now_tick {
                    break;
                }
                *held -= entry.remove();
            }
        }
    }

    /// Ticks since the epoch, rounded down: a bucket ending at tick T is expired from the instant T on.
    fn tick(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.epoch).as_nanos() / u128::from(TICK_MS * 1_000_000)) as u64
    }

    /// Ticks since the epoch, rounded up: a close on a tick frees at exactly the hold time; one between
    /// ticks at the next tick after it (up to 100 ms late, never early, which also covers the kernel's
    /// timer firing a little after the nominal time).
    fn tick_ceil(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.epoch).as_nanos();
        nanos.div_ceil(u128::from(TICK_MS * 1_000_000)) as u64
    }
}

/// `ip_local_reserved_ports` ("8080,9000-9010", empty when none) as inclusive ranges. Items that
/// do not parse are skipped: the kernel only ever writes well-formed lists here.
pub fn parse_reserved_ports(text: &str) -> Vec<[u16; 2]> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .filter_map(|item| match item.split_once('-') {
            Some((a, b)) => Some([a.trim().parse().ok()?, b.trim().parse().ok()?]),
            None => item.parse().ok().map(|p| [p, p]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = "192.0.2.10:80";
    const LOOPBACK_SERVER: &str = "127.0.0.1:8080";

    /// A small range (10 ports), tcp_tw_reuse=2, the default 1 s reuse delay.
    fn settings() -> Settings {
        Settings::new([50000, 50009], &[], 2, 1000)
    }

    fn tuple(client: &str, server: &str) -> Tuple {
        Tuple { client: client.parse().unwrap(), server: server.parse().unwrap() }
    }

    fn secs(t0: Instant, s: f64) -> Instant {
        t0 + Duration::from_secs_f64(s)
    }

    #[test]
    fn capacity_is_the_range_less_reserved_ports_inside_it() {
        // the kernel default: 32768-60999
        assert_eq!(Settings::new([32768, 60999], &[], 2, 1000).ports_per_tuple(), 28_232);
        // 8080 lies outside the range; 40000-40009 inside (10); 60990-61010 half inside (10)
        let reserved = parse_reserved_ports("8080,40000-40009,60990-61010");
        assert_eq!(Settings::new([32768, 60999], &reserved, 2, 1000).ports_per_tuple(), 28_212);
        // a range written backwards has no ports
        assert_eq!(Settings::new([2, 1], &[], 2, 1000).ports_per_tuple(), 0);
    }

    #[test]
    fn reserved_ports_parse_as_the_kernel_writes_them() {
        assert_eq!(parse_reserved_ports(""), Vec::<[u16; 2]>::new());
        assert_eq!(parse_reserved_ports("\n"), Vec::<[u16; 2]>::new());
        assert_eq!(parse_reserved_ports("8080,9000-9010\n"), vec![[8080, 8080], [9000, 9010]]);
    }

    #[test]
    fn tw_reuse_follows_the_kernel_rule() {
        // each case: tcp_tw_reuse, client, server, whether a TIME_WAIT port is reused after 1 s
        for (reuse, client, server, expected) in [
            (0, "127.0.0.1", LOOPBACK_SERVER, false),
            (1, "192.0.2.1", SERVER, true),
            (2, "127.0.0.2", LOOPBACK_SERVER, true),
            (2, "192.0.2.1", SERVER, false),
            // either end loopback is enough for =2
            (2, "127.0.0.1", SERVER, true),
            (2, "::1", "[::1]:80", true),
            (2, "::ffff:127.0.0.1", "[::ffff:127.0.0.1]:80", true),
            (2, "fd00::2", "[fd00::10]:80", false),
        ] {
            let s = Settings::new([1, 10], &[], reuse, 1000);
            assert_eq!(s.reuses(tuple(client, server)), expected, "{reuse} {client} {server}");
            assert_eq!(s.hold_secs(tuple(client, server)), if expected { 1 } else { 60 });
        }
        // a longer reuse delay is rounded up to whole seconds
        assert_eq!(Settings::new([1, 10], &[], 1, 1500).hold_secs(tuple("192.0.2.1", SERVER)), 2);
    }

    #[test]
    fn time_wait_expires_at_exactly_the_hold_time() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let t = tuple("192.0.2.1", SERVER);
        ledger.opened(t);
        assert_eq!(ledger.held(t, t0), 1);
        ledger.closed(t, Closer::Client, t0);
        assert_eq!(ledger.held(t, t0), 1, "open -> TIME_WAIT keeps the port");
        assert_eq!(ledger.time_wait(t, secs(t0, 59.999)), 1);
        assert_eq!(ledger.time_wait(t, secs(t0, 60.0)), 0);
        assert_eq!(ledger.free(t, secs(t0, 60.0)), 10);
    }

    #[test]
    fn a_close_between_ticks_frees_on_the_next_tick_after_the_hold() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let t = tuple("192.0.2.1", SERVER);
        ledger.opened(t);
        ledger.closed(t, Closer::Client, secs(t0, 0.55));
        assert_eq!(ledger.time_wait(t, secs(t0, 60.55)), 1, "never freed early");
        assert_eq!(ledger.time_wait(t, secs(t0, 60.6)), 0, "at most a tick late");
    }

    #[test]
    fn loopback_reuses_after_one_second() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let t = tuple("127.0.0.2", LOOPBACK_SERVER);
        ledger.opened(t);
        ledger.closed(t, Closer::Client, t0);
        assert_eq!(ledger.time_wait(t, secs(t0, 0.999)), 1);
        assert_eq!(ledger.time_wait(t, secs(t0, 1.0)), 0);
    }

    #[test]
    fn only_client_first_closes_hold_a_port() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let t = tuple("192.0.2.1", SERVER);
        for closer in [Closer::Server, Closer::Reset, Closer::Client] {
            ledger.opened(t);
            ledger.closed(t, closer, t0);
        }
        assert_eq!(ledger.held(t, t0), 1);
        assert_eq!(ledger.time_wait(t, t0), 1);
        // a close never drives the open count below zero
        ledger.closed(t, Closer::Server, t0);
        assert_eq!(ledger.held(t, t0), 1);
    }

    #[test]
    fn free_and_occupancy_count_open_and_time_wait() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let t = tuple("192.0.2.1", SERVER);
        for _ in 0..6 {
            ledger.opened(t);
        }
        for _ in 0..3 {
            ledger.closed(t, Closer::Client, t0);
        }
        assert_eq!(ledger.held(t, t0), 6);
        assert_eq!(ledger.free(t, t0), 4);
        assert!((ledger.occupancy(t, t0) - 0.6).abs() < 1e-9);
        // an unknown tuple is all free
        assert_eq!(ledger.free(tuple("192.0.2.2", SERVER), t0), 10);
    }

    #[test]
    fn seeded_ports_are_held_a_whole_hold_time_from_the_seed() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let t = tuple("192.0.2.1", SERVER);
        ledger.seed(t, 7, secs(t0, 2.0));
        assert_eq!(ledger.free(t, secs(t0, 2.0)), 3);
        assert_eq!(ledger.time_wait(t, secs(t0, 61.9)), 7);
        assert_eq!(ledger.time_wait(t, secs(t0, 62.0)), 0);
        assert_eq!(ledger.time_wait_peak(), 7);
    }

    #[test]
    fn the_kernels_time_wait_withholds_ports_only_where_tw_reuse_does_not_apply() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let (real, lo) = (tuple("192.0.2.1", SERVER), tuple("127.0.0.2", LOOPBACK_SERVER));
        assert_eq!((ledger.settings().time_wait_held(real, 7), ledger.settings().time_wait_held(lo, 7)), (7, 0));
        ledger.seed(real, 7, t0);
        ledger.seed(lo, 7, t0);
        assert_eq!((ledger.free(real, t0), ledger.free(lo, t0)), (3, 10));
    }

    #[test]
    fn peak_is_the_most_held_at_once_across_tuples() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let (a, b) = (tuple("192.0.2.1", SERVER), tuple("192.0.2.2", SERVER));
        for s in 0..3 {
            for t in [a, b] {
                ledger.opened(t);
                ledger.closed(t, Closer::Client, secs(t0, f64::from(s)));
            }
        }
        assert_eq!(ledger.time_wait_total(secs(t0, 3.0)), 6);
        // the first second's two expire at 60; two more close at 60: total stays 6
        for t in [a, b] {
            ledger.opened(t);
            ledger.closed(t, Closer::Client, secs(t0, 60.0));
        }
        assert_eq!(ledger.time_wait_total(secs(t0, 60.0)), 6);
        assert_eq!(ledger.time_wait_peak(), 6);
        assert_eq!(ledger.time_wait_total(secs(t0, 200.0)), 0);
        assert_eq!(ledger.time_wait_peak(), 6, "the peak stays");
    }

    #[test]
    fn a_modes_own_time_wait_is_told_apart_from_what_it_began_with() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let t = tuple("192.0.2.1", SERVER);
        // a run before this one left 3, then the first mode leaves 4
        ledger.seed(t, 3, t0);
        let close = |ledger: &mut Ledger, n: usize, at: Instant| {
            for _ in 0..n {
                ledger.opened(t);
                ledger.closed(t, Closer::Client, at);
            }
        };
        close(&mut ledger, 4, secs(t0, 1.0));
        assert_eq!(ledger.own_time_wait(secs(t0, 2.0)), 4);
        let first = ledger.end_mode(secs(t0, 2.0));
        assert_eq!(first, ModeTimeWait { at_start: 3, peak: 7, own_peak: 4, own_end: 4 });
        // the second mode begins with 7 held and leaves 2 of its own; the seed frees at 60 s, the first
        // mode's at 61 s
        close(&mut ledger, 2, secs(t0, 30.0));
        assert_eq!(ledger.own_time_wait(secs(t0, 60.5)), 2, "what it began with is not its own, held or not");
        let second = ledger.end_mode(secs(t0, 61.0));
        assert_eq!(second, ModeTimeWait { at_start: 7, peak: 9, own_peak: 2, own_end: 2 });
        // the third begins with the second's 2, which free at 90 s: nothing of its own
        let third = ledger.end_mode(secs(t0, 95.0));
        assert_eq!(third, ModeTimeWait { at_start: 2, peak: 2, own_peak: 0, own_end: 0 });
    }

    #[test]
    fn pick_takes_the_ip_with_most_free_ports_and_spreads() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let server: SocketAddr = SERVER.parse().unwrap();
        let ips: Vec<IpAddr> = ["192.0.2.1", "192.0.2.2", "192.0.2.3"].iter().map(|s| s.parse().unwrap()).collect();
        let mut picks = Vec::new();
        for _ in 0..6 {
            let (ip, _) = ledger.pick(&ips, server, t0).unwrap();
            ledger.opened(Tuple { client: ip, server });
            picks.push(ip);
        }
        // ties go to the earlier IP, and each open makes the others freer: round robin
        assert_eq!(picks, [&ips[..], &ips[..]].concat());
        // fill every IP: nothing to pick until a port frees
        for &ip in &ips {
            for _ in 0..8 {
                ledger.opened(Tuple { client: ip, server });
            }
        }
        assert_eq!(ledger.pick(&ips, server, t0), None);
        ledger.closed(Tuple { client: ips[1], server }, Closer::Reset, t0);
        assert_eq!(ledger.pick(&ips, server, t0), Some((ips[1], 1)));
    }

    #[test]
    fn a_saturated_ip_is_skipped_for_one_second() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let server: SocketAddr = SERVER.parse().unwrap();
        let ips: Vec<IpAddr> = ["192.0.2.1", "192.0.2.2"].iter().map(|s| s.parse().unwrap()).collect();
        ledger.mark_saturated(ips[0], server, t0);
        assert_eq!(ledger.pick(&ips, server, secs(t0, 0.999)), Some((ips[1], 10)));
        assert_eq!(ledger.pick(&ips[..1], server, secs(t0, 0.5)), None);
        assert_eq!(ledger.pick(&ips, server, secs(t0, 1.0)), Some((ips[0], 10)));
        // saturation is per destination
        let other: SocketAddr = "192.0.2.20:80".parse().unwrap();
        ledger.mark_saturated(ips[0], server, secs(t0, 2.0));
        assert_eq!(ledger.pick(&ips[..1], other, secs(t0, 2.0)), Some((ips[0], 10)));
    }

    #[test]
    fn next_free_at_says_when_the_oldest_time_wait_ends() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let t = tuple("192.0.2.1", SERVER);
        assert_eq!(ledger.next_free_at(t, t0), Some(t0), "a free port now");
        for i in 0..4 {
            ledger.opened(t);
            ledger.closed(t, Closer::Client, secs(t0, 5.0 + f64::from(i)));
        }
        for _ in 0..6 {
            ledger.opened(t);
        }
        // 10 held: 4 in TIME_WAIT (closed at 5, 6, 7, 8 s) and 6 open
        assert_eq!(ledger.free(t, secs(t0, 10.0)), 0);
        assert_eq!(ledger.next_free_at(t, secs(t0, 10.0)), Some(secs(t0, 65.0)));
        assert_eq!(ledger.next_free_at(t, secs(t0, 65.0)), Some(secs(t0, 65.0)));
        // all held by open connections: only a close frees one
        let mut full = Ledger::new(settings(), t0);
        for _ in 0..10 {
            full.opened(t);
        }
        assert_eq!(full.next_free_at(t, t0), None);
    }

    #[test]
    fn rate_arithmetic_matches_design() {
        let s = Settings::new([32768, 60999], &[], 2, 1000);
        let real = tuple("192.0.2.1", SERVER);
        let lo = tuple("127.0.0.1", LOOPBACK_SERVER);
        // 28,232 / 60 = 470.5 per real tuple; loopback reuses after 1 s
        assert!((s.sustainable_rate(&[real]) - 470.533).abs() < 0.01);
        assert!((s.sustainable_rate(&[real, real]) - 941.066).abs() < 0.01);
        assert!((s.sustainable_rate(&[lo]) - 28_232.0).abs() < 1e-9);
        // ⌈rate × 60 / ports⌉
        assert_eq!(s.ips_needed(470.0, real), Some(1));
        assert_eq!(s.ips_needed(471.0, real), Some(2));
        assert_eq!(s.ips_needed(5000.0, real), Some(11));
        assert_eq!(s.ips_needed(0.0, real), Some(0));
        assert_eq!(s.ips_needed(-1.0, real), Some(0));
        assert_eq!(s.ips_needed(f64::INFINITY, real), Some(u64::MAX));
        assert_eq!(Settings::new([2, 1], &[], 0, 1000).ips_needed(1.0, real), None);
    }

    #[test]
    fn an_older_now_never_frees_a_port_early() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(settings(), t0);
        let t = tuple("192.0.2.1", SERVER);
        ledger.opened(t);
        ledger.opened(t);
        ledger.closed(t, Closer::Client, secs(t0, 10.0));
        // a worker's slightly stale clock: folded into the later bucket
        ledger.closed(t, Closer::Client, secs(t0, 9.0));
        assert_eq!(ledger.time_wait(t, secs(t0, 69.5)), 2);
        assert_eq!(ledger.time_wait(t, secs(t0, 70.0)), 0);
    }
}

/*!
The one spawn/stop loop (docs/design.md §2, §6): every mode runs here; modes differ only in the
per-connection policy of `ModePlan` that `conn.rs` follows.

Shape (measured against a plain epoll and an io_uring client, docs/performance.md): one OS thread per usable core, each with a
current-thread tokio runtime driving its share of the connections as tasks. A thread owns its
`Recorder`, so recording needs no lock and no shared atomic, and an interrupted thread can drop its
tasks without losing what they measured. The only cross-thread state is the `-n` budget (one atomic
add per request issued) and the stop flag.
*/

mod backlog;
mod buffers;
mod conn;
pub mod governor;
mod h1;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod h1_bench;
pub(crate) mod h2;
pub(crate) mod h3;
pub mod live;
mod pace;
mod schedule;
mod uring;

pub use uring::available as uring_available;

pub use h2::request_error as h2_request_error;
use tokio::time::sleep_until;

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::http::response::HeadMemo;
use crate::plan::{Engine, ModePlan, Stop};
use crate::record::Recorder;

/// What one mode measured, before it is frozen into a result.
pub struct ModeRun {
    pub recorder: Recorder,
    /// The measurement window: `-d` when the run reached it (a stalled response never stretches it), else
    /// until the last request ended or the stop.
    pub elapsed: Duration,
    /// The stop flag ended the mode early.
    pub interrupted: bool,
    /// `--port-policy fail` found no free port and ended the mode early.
    pub ran_out_of_ports: bool,
}

/// Live counters for the progress display: each written by one thread only, read by anyone.
#[derive(Debug, Default)]
pub struct LiveCounters {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub open_connections: AtomicU64,
    /// Responses completed in the window that were not 2xx, and the total latency of every completed one.
    pub non_2xx: AtomicU64,
    pub latency: live::LiveLatency,
}

impl LiveCounters {
    /// A request completed in the window, `total` after its start, with `status`.
    fn completed(&self, total: Duration, status: u16) {
        self.latency.record(total.as_micros().try_into().unwrap_or(u64::MAX));
        if !(200..300).contains(&status) {
            LiveCounters::bump(&self.non_2xx, 1);
        }
    }

    /// Single-writer increment: a plain load and store, no locked instruction on the hot path.
    fn bump(counter: &AtomicU64, delta: i64) {
        let value = counter.load(Ordering::Relaxed).wrapping_add_signed(delta);
        counter.store(value, Ordering::Relaxed);
    }
}

/// State shared by every thread of one mode.
struct Shared {
    plan: ModePlan,
    addr: SocketAddr,
    /// Multiplex and HTTP/3: each request as h2 or h3 sends it, built once (none over HTTP/1.x).
    templates: Vec<h2::Template>,
    requests_issued: AtomicU64,
    deadline: Option<Instant>,
    stop: &'static AtomicBool,
    governor: Arc<governor::Governor>,
}

impl Shared {
    /// Ctrl-C, or the mode ran out of ports: nothing new starts, not even a retry.
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.governor.exhausted()
    }

    /// Takes up to `want` requests from the mode's allowance: the `-n` budget, or the time left; returns how
    /// many, and with `-n` the run's number of the first (the budget counts them in order).
    /// A request claimed is a request issued: it ends in a response or one counted error.
    fn claim(&self, want: u64, now: Instant) -> (u64, Option<u64>) {
        if want == 0 || self.stopping() {
            return (0, None);
        }
        match self.plan.stop {
            Stop::Requests(limit) => {
                let before = self.requests_issued.fetch_add(want, Ordering::Relaxed);
                (limit.saturating_sub(before).min(want), Some(before))
            }
            Stop::After(_) => {
                if self.deadline.is_some_and(|d| now >= d) {
                    (0, None)
                } else {
                    (want, None)
                }
            }
        }
    }

    /// The target of request `position` of the sequence `stream` (`targets::Order::pick`).
    fn target(&self, stream: u64, position: u64) -> u32 {
        self.plan.order.pick(self.plan.requests.len(), stream, position) as u32
    }
}

/// One thread's context, shared by its connection tasks (never across threads).
struct ThreadCtx {
    shared: Arc<Shared>,
    recorder: RefCell<Recorder>,
    live: Arc<LiveCounters>,
    /// Lent to HTTP/1.x connections only while a read can fill them.
    buffers: buffers::ReadBuffers,
    /// The thread's last response head: its connections talk to one server, which repeats itself.
    memo: RefCell<HeadMemo>,
    /// A connection opened before the run (the preflight), used before opening any other.
    opened: RefCell<Option<Opened>>,
    /// Open loop (`--rate`): the scheduled requests waiting for a connection.
    tickets: Option<schedule::Tickets>,
    /// Requests this thread took from the allowance: at the end, those neither answered nor failed were in
    /// flight, unless their worker still owed them (`unsent`): never written (with `--rate`, missed).
    issued: Cell<u64>,
    /// HTTP/3: the thread's QUIC endpoint (its one UDP socket), instead of TCP connections.
    quic: Option<h3::Quic>,
    unsent: Cell<u64>,
    /// Lent to a pipelining connection for the write of a batch of several requests, given back after.
    joined: Cell<Vec<u8>>,
}

/// A connection already established, where from, and how long its handshake took; with https, the session of
/// its finished TLS handshake and how long that took.
pub struct Opened {
    pub stream: std::net::TcpStream,
    pub client_ip: IpAddr,
    pub handshake: Duration,
    pub tls: Option<(rustls::ClientConnection, Duration)>,
    /// The preflight wrote the HTTP/2 connection preface (and only peeked at the server's answer), so the
    /// multiplexed connection that takes it over must not write the preface again.
    pub h2_preface_sent: bool,
}

/// Runs one mode to its end (duration, request count, or stop flag) on `threads` threads.
pub fn run_mode(
    plan: ModePlan,
    addr: SocketAddr,
    governor: Arc<governor::Governor>,
    threads: usize,
    stop: &'static AtomicBool,
    live: &[Arc<LiveCounters>],
    mut opened: Option<Opened>,
) -> ModeRun {
    // With -n, never more workers than requests: each one owns its first request from the start.
    let workers = match plan.stop {
        Stop::Requests(n) => u64::from(plan.connections).min(n.max(1)) as usize,
        Stop::After(_) => plan.connections as usize,
    };
    let threads = threads.clamp(1, workers).min(live.len());
    // The runtimes are built before the clock starts and the threads start together, so a thread that is
    // slow to start neither loses part of the window nor finds the -n budget spent (every -c opens).
    let uring = plan.engine == Engine::Uring;
    let runtimes: Vec<_> = (0..threads).map(|_| (!uring).then(runtime)).collect();
    let barrier = Arc::new(Barrier::new(threads));
    let open_loop = plan.schedule.is_some();
    // HTTP/3 and HTTP/2 send each request from its parts (HTTP/3's :scheme is https alone, RFC 9114 §3.1).
    let scheme = match (plan.http, plan.mode) {
        (crate::mode::Http::Http3, _) => Some("https"),
        (_, crate::mode::Mode::Multiplex) => Some("http"),
        _ => None,
    };
    let templates = match scheme {
        Some(scheme) => plan
            .requests
            .iter()
            .map(|request| {
                h2::Template::for_scheme(&request.parts, scheme).expect("preflight.rs checked every request")
            })
            .collect(),
        None => Vec::new(),
    };
    let requests_issued = AtomicU64::new(if open_loop { 0 } else { workers as u64 });
    let started = Instant::now();
    let deadline = match plan.stop {
        Stop::After(d) => Some(started + d),
        Stop::Requests(_) => None,
    };
    let read_buffer = read_buffer_size(plan.connections);
    let shared = Arc::new(Shared { plan, addr, templates, requests_issued, deadline, stop, governor });
    let handles: Vec<_> = runtimes
        .into_iter()
        .enumerate()
        .map(|(index, runtime)| {
            let thread = ThreadPlan {
                shared: shared.clone(),
                live: live[index].clone(),
                workers: share(workers, threads, index),
                first_worker: (0..index).map(|earlier| share(workers, threads, earlier)).sum(),
                pacer: shared.plan.schedule.clone().map(|schedule| pace::Pacer::new(schedule, threads, index)),
                started,
                read_buffer,
                opened: opened.take(),
                barrier: barrier.clone(),
            };
            std::thread::Builder::new()
                .name(format!("connbench-{index}"))
                .spawn(move || match runtime {
                    Some(runtime) => run_thread(runtime, thread),
                    None => uring::run_thread(thread),
                })
                .expect("spawning an engine thread")
        })
        .collect();
    let mut recorder = Recorder::new(started, open_loop);
    let mut finished = started;
    for handle in handles {
        let (part, done) = handle.join().expect("engine thread panicked");
        recorder.merge(&part);
        finished = finished.max(done);
    }
    let finished = deadline.map_or(finished, |d| finished.min(d));
    ModeRun {
        recorder,
        elapsed: finished.duration_since(started),
        interrupted: shared.stop.load(Ordering::Relaxed),
        ran_out_of_ports: shared.governor.exhausted(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("building a current-thread runtime")
}

/// What one engine thread is given.
struct ThreadPlan {
    shared: Arc<Shared>,
    live: Arc<LiveCounters>,
    /// Its share of the connections, and the mode's number of its first.
    workers: usize,
    first_worker: usize,
    pacer: Option<pace::Pacer>,
    started: Instant,
    read_buffer: usize,
    opened: Option<Opened>,
    barrier: Arc<Barrier>,
}

/// Connections of thread `index` when `total` are spread over `threads`.
fn share(total: usize, threads: usize, index: usize) -> usize {
    total / threads + usize::from(index < total % threads)
}

/// What one connection may cost the client in memory, at `connections` in all (figures in
/// docs/performance.md, memory): its task, its socket's registration and its queues (1.8 KiB while it waits
/// for a response, counted by `tests/memory.rs`), plus a read buffer, which an HTTP/1.x connection holds only
/// while part of a response is in it (`buffers.rs`), so this is a bound; with `tls`, rustls' session and
/// record buffer; with `multiplex`, h2's connection in place of the read buffer.
pub fn memory_per_connection(connections: u32, tls: bool, multiplex: bool) -> usize {
    const TASK: usize = 2 << 10;
    // heaptrack, 2,000 keep-alive connections against nginx: 8.6 KiB more a connection over https (the boxed
    // stream, rustls' session and 4 KiB record buffer); 62.6 KiB a connection in all in multiplex at
    // --depth 16 (h2's frame buffers and HPACK tables, the boxed session, the streams' state).
    const TLS: usize = 9 << 10;
    const H2: usize = 64 << 10;
    let protocol = if multiplex { H2 } else { read_buffer_size(connections) };
    TASK + protocol + if tls { TLS } else { 0 }
}

/// Each read buffer, lent by `buffers.rs` for a read that may fill it: big enough that a read takes
/// everything queued (tokio then skips the read that would return WouldBlock), small enough that 10,000
/// connections each holding one at once would fit in 40 MiB. Grows on its own for a larger response head.
fn read_buffer_size(connections: u32) -> usize {
    ((32 << 20) / connections as usize).clamp(4 << 10, 64 << 10)
}

impl ThreadPlan {
    /// The thread's context, for its connections; with its number of workers and first worker's number.
    fn context(self, quic: impl FnOnce(&Arc<Shared>) -> Option<h3::Quic>) -> (Rc<ThreadCtx>, usize, usize) {
        let ThreadPlan { shared, live, workers, first_worker, pacer, started, read_buffer, opened, barrier: _ } = self;
        let per_target = if shared.plan.per_target { shared.plan.requests.len() } else { 0 };
        let ctx = Rc::new(ThreadCtx {
            recorder: RefCell::new(Recorder::new(started, pacer.is_some()).with_targets(per_target)),
            quic: quic(&shared),
            shared,
            live,
            buffers: buffers::ReadBuffers::new(read_buffer),
            memo: RefCell::new(HeadMemo::default()),
            opened: RefCell::new(opened),
            tickets: pacer.map(|pacer| schedule::Tickets::new(pacer, started)),
            issued: Cell::new(0),
            unsent: Cell::new(0),
            joined: Cell::new(Vec::new()),
        });
        (ctx, workers, first_worker)
    }
}

/// What a thread measured, once every connection of it is gone.
fn settle(ctx: Rc<ThreadCtx>) -> Recorder {
    let ctx = Rc::try_unwrap(ctx).ok().expect("every task has ended");
    let mut recorder = ctx.recorder.into_inner();
    let unsent = ctx.unsent.get();
    if let Some(tickets) = &ctx.tickets {
        recorder.missed(tickets.left_unsent() + unsent);
    }
    recorder.in_flight_at_end(ctx.issued.get() - unsent);
    recorder
}

fn run_thread(runtime: tokio::runtime::Runtime, thread: ThreadPlan) -> (Recorder, Instant) {
    let barrier = thread.barrier.clone();
    // The endpoint's driver is spawned on the runtime it is made in: this thread's.
    let (ctx, workers, first_worker) = thread.context(|shared| {
        shared.plan.quic.clone().map(|client| {
            let _context = runtime.enter();
            h3::Quic::new(client, shared.addr)
        })
    });
    let closed_loop = ctx.tickets.is_none();
    barrier.wait();
    let local = tokio::task::LocalSet::new();
    let finished = local.block_on(&runtime, {
        let ctx = ctx.clone();
        async move {
            let load = async {
                if closed_loop {
                    let workers: Vec<_> = (first_worker..first_worker + workers)
                        .map(|worker| tokio::task::spawn_local(conn::worker(ctx.clone(), Some(worker as u64))))
                        .collect();
                    for worker in workers {
                        let _ = worker.await;
                    }
                } else {
                    schedule::pace(ctx.clone(), workers).await;
                }
            };
            tokio::select! {
                () = load => {}
                // The open-loop pacer ends its own window, after releasing what was due before the end.
                () = window_end(&ctx.shared, closed_loop) => {}
            }
            Instant::now()
        }
    });
    // Dropping the set ends the tasks still running at the end of the window or after a stop; what they
    // measured is in the recorder, and their open connections close as they drop.
    drop(local);
    if let Some(quic) = &ctx.quic {
        runtime.block_on(quic.close());
    }
    drop(runtime);
    (settle(ctx), finished)
}

/// Returns when the run must end now, whatever is in flight: the end of the `-d` window, or the stop flag
/// (Ctrl-C). Requests still in flight then are counted as such, neither completed nor failed.
async fn window_end(shared: &Shared, at_deadline: bool) {
    let deadline = shared.deadline.filter(|_| at_deadline).map(|d| sleep_until(d.into()));
    let stopped = async {
        while !shared.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    match deadline {
        Some(deadline) => tokio::select! {
            () = deadline => {}
            () = stopped => {}
        },
        None => stopped.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_spread_evenly_over_threads() {
        let spread: Vec<_> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(spread, vec![4, 3, 3]);
        assert_eq!((0..2).map(|i| share(1, 2, i)).sum::<usize>(), 1);
    }

    #[test]
    fn read_buffers_fit_ten_thousand_connections() {
        assert_eq!(read_buffer_size(50), 64 << 10);
        assert!(read_buffer_size(10_000) * 10_000 <= 48 << 20);
        assert_eq!(read_buffer_size(1_000_000), 4 << 10);
    }
}

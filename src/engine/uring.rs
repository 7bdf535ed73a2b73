//! The io_uring engine (`--engine uring`): the HTTP/1.x modes driven by one ring per engine thread instead of
//! a tokio runtime. It is the second driver of the same `h1::Connection` and `Backlog` host as `conn.rs`, so
//! what to send, how a response ends, reuse, retries and closes are decided by the one logic, and both
//! engines count alike; only the waiting differs. A worker here is a state machine of its own (claim, port
//! grant, connect, TLS handshake, session, close, back-off), stepped by the ring's completions and the
//! thread's timers, in the order `conn::worker` goes through them.
//!
//! The ring: each connection's socket sits in its worker's slot of the fixed file table; connect and send are
//! SQEs; one multishot receive per connection delivers what arrives into the thread's provided buffers
//! (`ring::Buffers`), handed back as soon as the connection has read them; everything queued in a loop turn is
//! submitted by the one io_uring_enter that also waits for the next completions, bounded by the earliest
//! timer of the thread's heap. TLS is rustls' `ClientConnection`, fed with what the ring read.
//!
//! # Layout
//! - `event_loop.rs`: the thread's loop, its timer heap's due entries and the open loop's pacer.
//! - `ring.rs`: the ring, its fixed file table and provided buffers, and whether the kernel allows one.
//! - `worker.rs`: a worker's state machine and the completions that step it; its session's reads and writes in
//!   `worker/session.rs`, TLS in `worker/tls.rs`.

mod event_loop;
mod ring;
mod worker;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use io_uring::squeue::Entry;
use io_uring::IoUring;
use socket2::SockAddr;

pub use ring::available;

use super::ThreadPlan;
use crate::record::Recorder;
use event_loop::{Pacer, Thread};

/// Each provided receive buffer: a whole response of most servers' small pages in one completion.
const BUFFER_SIZE: usize = 16 << 10;
/// Provided buffers per thread (4 MiB): whatever the connections, since a connection holds one only from the
/// completion that filled it to the end of its parse, in the same loop turn. When they run out, a receive
/// ends (ENOBUFS) and is armed again once they are back.
const BUFFERS: u16 = 256;
/// The longest one wait in the kernel lasts, so a stop (Ctrl-C) is seen soon.
const LONGEST_WAIT: Duration = Duration::from_millis(50);

/// What an SQE was for, kept in its user data beside its worker's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// The new socket into the worker's slot of the fixed table (linked to its connect).
    Install = 1,
    Connect,
    /// The socket's own descriptor, once the fixed table holds it.
    CloseRaw,
    Recv,
    Send,
    Shutdown,
    Cancel,
    Close,
}

impl Op {
    fn of(user_data: u64) -> Op {
        match user_data & 0xff {
            1 => Op::Install,
            2 => Op::Connect,
            3 => Op::CloseRaw,
            4 => Op::Recv,
            5 => Op::Send,
            6 => Op::Shutdown,
            7 => Op::Cancel,
            _ => Op::Close,
        }
    }

    fn tag(self, slot: u32) -> u64 {
        u64::from(slot) << 8 | self as u64
    }
}

/// Everything of a thread's workers that is not one worker's: the ring and what the kernel reads.
struct Io {
    ring: IoUring,
    /// Dropped after the ring, which reads it.
    buffers: ring::Buffers,
    /// Each worker's one timer, by due time (an entry whose worker now waits for another time is stale).
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    /// The descriptor each slot's install puts in the fixed table, read by the kernel at submission.
    raw: Box<[RawFd]>,
    /// The server's address, read by the kernel at each connect.
    addr: Box<SockAddr>,
    /// Open loop: workers waiting for a scheduled request, and those reading with pipeline room for one.
    idle: Vec<u32>,
    room: Vec<u32>,
    /// Plaintext out of TLS records, before the connection takes it.
    plain: Vec<u8>,
}

impl Io {
    /// Queues an SQE, submitting what is queued first when the submission queue is full.
    fn push(&mut self, entry: &Entry) {
        // SAFETY: every buffer an SQE names (requests, a worker's output, `raw`, `addr`, provided buffers)
        // stays allocated and unchanged until its completion: workers never change a buffer a send is
        // reading, and the ring is dropped before any of them.
        while unsafe { self.ring.submission().push(entry) }.is_err() {
            let _ = self.ring.submit();
        }
    }

    fn arm(&mut self, slot: u32, at: Instant) {
        self.timers.push(Reverse((at, slot)));
    }
}

/// One engine thread on io_uring: its workers (closed loop: its share of `-c`; open loop: started by the pacer
/// as the schedule needs them) until the mode's allowance, the window or a stop ends them.
pub(super) fn run_thread(thread: ThreadPlan) -> (Recorder, Instant) {
    let barrier = thread.barrier.clone();
    let (ctx, workers, first_worker) = thread.context(|_| None);
    let open_loop = ctx.tickets.is_some();
    let most = if open_loop { workers } else { workers.max(1) };
    // Each worker's multishot receive may post a completion for every chunk it reads before the thread
    // takes them: the queue is large, and the kernel keeps any overflow (IORING_FEAT_NODROP).
    let completions = (most as u32 * 4).next_power_of_two().clamp(1024, 1 << 16);
    let ring = ring::build(1024, completions).expect("io_uring was available when the run began");
    ring.submitter().register_files_sparse(most.max(1) as u32).expect("a fixed file table for the connections");
    let buffers = ring::Buffers::new(&ring, BUFFERS, BUFFER_SIZE).expect("the thread's receive buffers");
    let mut io = Io {
        ring,
        buffers,
        timers: BinaryHeap::new(),
        raw: vec![-1; most.max(1)].into(),
        addr: Box::new(SockAddr::from(ctx.shared.addr)),
        idle: Vec::new(),
        room: Vec::new(),
        plain: Vec::new(),
    };
    let mut thread = Thread { ctx: ctx.clone(), workers: Vec::with_capacity(most), most, pacer: None };
    barrier.wait();
    let now = Instant::now();
    if open_loop {
        thread.pacer = Some(Pacer { issued: 0, next: now, finished: false, over: false });
    } else {
        for number in first_worker..first_worker + workers {
            thread.spawn(&mut io, Some(number as u64), now);
        }
    }
    let finished = thread.run(&mut io);
    // What is still open closes now: the client's close, as the tokio engine's dropped tasks.
    drop(thread);
    drop(io);
    (super::settle(ctx), finished)
}

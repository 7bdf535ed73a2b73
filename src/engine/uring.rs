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

mod ring;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::fd::{IntoRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use io_uring::squeue::{self, Entry};
use io_uring::types::{Fixed, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, IoUring};
use rustls::ClientConnection;
use socket2::SockAddr;

pub use ring::available;

use super::backlog::Backlog;
use super::conn::{Lease, BACKOFF_FIRST, BACKOFF_LONGEST, CLIENT_LINGER};
use super::governor::Grant;
use super::h1::{self, Close, Next, Rules};
use super::schedule;
use super::{ThreadCtx, ThreadPlan};
use crate::net::{socket, stream};
use crate::record::{Closer, ErrorKind, Recorder};

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

/// The open loop's pacer on this thread (`schedule::Tickets::wake` decides what it releases).
struct Pacer {
    issued: u64,
    next: Instant,
    /// The allowance is spent: idle workers stop, and tickets left waiting expire.
    finished: bool,
    /// The window is over: the thread ends after submitting what was due before it.
    over: bool,
}

struct Thread {
    ctx: Rc<ThreadCtx>,
    workers: Vec<Worker>,
    most: usize,
    pacer: Option<Pacer>,
}

impl Thread {
    fn spawn(&mut self, io: &mut Io, numbered: Option<u64>, now: Instant) {
        let slot = self.workers.len() as u32;
        let mut worker = Worker::new(self.ctx.clone(), slot, numbered);
        worker.start(io, now);
        self.workers.push(worker);
    }

    /// The loop: one io_uring_enter a turn submits what the last turn queued and waits for completions, up
    /// to the next timer; then completions, timers and the pacer step the workers. Returns when the load ended.
    fn run(&mut self, io: &mut Io) -> Instant {
        let shared = self.ctx.shared.clone();
        let deadline = shared.deadline.filter(|_| self.pacer.is_none());
        let mut completions = Vec::new();
        loop {
            let now = Instant::now();
            let done = self.workers.iter().all(|w| matches!(w.phase, Phase::Done));
            let over = self.pacer.as_ref().is_some_and(|p| p.over);
            let paced_out = self.pacer.as_ref().is_none_or(|p| p.finished);
            if shared.stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d) || (done && paced_out) {
                return now;
            }
            let mut until = now + LONGEST_WAIT;
            if let Some(Reverse((at, _))) = io.timers.peek() {
                until = until.min(*at);
            }
            if let Some(pacer) = &self.pacer {
                until = until.min(pacer.next);
            }
            if let Some(d) = deadline {
                until = until.min(d);
            }
            let wait = if over { Duration::ZERO } else { until.saturating_duration_since(now) };
            let timespec = Timespec::from(wait);
            // One completion is enough to wake: waiting for several would date a response later than it came
            // (a batch of 8 measured 3 % less CPU per request in keep-alive, within the noise of this VM).
            let args = SubmitArgs::new().timespec(&timespec);
            match io.ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY)) => {}
                Err(e) => panic!("io_uring_enter: {e}"),
            }
            if over {
                return Instant::now();
            }
            completions.extend(io.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
            let now = Instant::now();
            for (user_data, result, flags) in completions.drain(..) {
                let slot = (user_data >> 8) as usize;
                self.workers[slot].complete(io, Op::of(user_data), result, flags, now);
            }
            while let Some(&Reverse((at, slot))) = io.timers.peek() {
                if at > now {
                    break;
                }
                io.timers.pop();
                let worker = &mut self.workers[slot as usize];
                if worker.due == Some(at) {
                    worker.due = None;
                    worker.timer(io, now);
                }
            }
            if self.pacer.as_ref().is_some_and(|p| p.next <= now) {
                self.pace(io, now);
            }
            // A re-armed timer leaves its old entry behind until that one is due: a connection a millisecond
            // leaves its connect timeout's for seconds. Those are dropped when they outnumber the workers.
            if io.timers.len() > 4 * self.workers.len() + 1024 {
                io.timers.retain(|&Reverse((at, slot))| self.workers[slot as usize].due == Some(at));
            }
        }
    }

    /// A wake-up of the open loop's pacer: the tickets due go to idle workers first, then to new workers up to
    /// the thread's share of `-c`, and what is left to those with pipeline room (as `schedule::pace`).
    fn pace(&mut self, io: &mut Io, now: Instant) {
        let ctx = self.ctx.clone();
        let tickets = ctx.tickets.as_ref().expect("an open-loop thread has a ticket queue");
        let Some(pacer) = self.pacer.as_mut() else { return };
        if pacer.finished {
            tickets.expire(now, ctx.shared.plan.timeout);
            pacer.next = now + schedule::PACER_TICK;
            return;
        }
        let wake = tickets.wake(&ctx, &mut pacer.issued, now);
        match wake.next {
            schedule::Next::At(next) => pacer.next = next,
            schedule::Next::WindowOver => pacer.over = true,
            schedule::Next::Finished => {
                tickets.finish();
                (pacer.finished, pacer.next) = (true, now + schedule::PACER_TICK);
            }
        }
        let mut granted = wake.granted as usize;
        while granted > 0 {
            let Some(slot) = io.idle.pop() else { break };
            if self.workers[slot as usize].wake(io, now) {
                granted -= 1;
            }
        }
        while granted > 0 && self.workers.len() < self.most {
            self.spawn(io, None, now);
            granted -= 1;
        }
        if granted > 0 {
            for slot in std::mem::take(&mut io.room) {
                self.workers[slot as usize].room(io, now);
            }
        }
        if tickets.finished() {
            // No ticket will come: every worker still waiting for one stops.
            for slot in std::mem::take(&mut io.idle) {
                self.workers[slot as usize].wake(io, now);
            }
        }
    }
}

/// Where a worker is in `conn::worker`'s loop.
enum Phase {
    /// Waiting for its timer: a port grant (since when), or a back-off.
    Granting(Instant),
    BackingOff,
    /// Open loop, no connection: waiting for a scheduled request.
    Ticket,
    /// The connect SQE is in flight; `timed_out`: its timer fired and cancelled it.
    Connecting {
        timed_out: bool,
    },
    Handshake,
    /// The connection's `h1::Connection` runs; `idle`: it waits for a scheduled request (open loop).
    Session {
        idle: bool,
    },
    /// Reading until the server closes or the timer fires; `graceful`: the client closes whatever comes.
    Draining {
        graceful: bool,
    },
    /// The socket is closing; what follows when the last SQE of the connection has completed.
    Closing(After),
    Done,
}

/// What a closing connection came to.
#[derive(Clone, Copy)]
enum After {
    /// A session that ended, `Closer` first.
    Session(Closer),
    /// A TLS handshake that failed, `Closer` first.
    Handshake(Closer),
    /// A connect that failed as this.
    Connect(ErrorKind),
}

/// One open (or opening) connection of a worker.
struct Link {
    ip: IpAddr,
    started: Instant,
    connected: Instant,
    /// Taken when the connection is open for requests (after TLS), as in `conn::worker`.
    lease: Option<Lease>,
    tls: Option<Box<ClientConnection>>,
    /// The multishot receive is armed.
    receiving: bool,
    /// The peer's end of stream (or reset) has been read.
    peer_closed: Option<Closer>,
    /// A send in flight: its bytes (requests of the plan, or `joined`, or `out`) and how many went.
    sending: Option<(*const u8, usize, usize)>,
    /// TLS: `close_notify` is sent.
    notified: bool,
    /// Bytes read and not yet consumed: part of a head, or of a chunk's size line.
    unparsed: Vec<u8>,
    /// Several pipelined requests joined for one send.
    joined: Vec<u8>,
    /// TLS records to send.
    out: Vec<u8>,
}

impl Link {
    fn new(ip: IpAddr, started: Instant) -> Link {
        Link {
            ip,
            started,
            connected: started,
            lease: None,
            tls: None,
            receiving: false,
            peer_closed: None,
            sending: None,
            notified: false,
            unparsed: Vec::new(),
            joined: Vec::new(),
            out: Vec::new(),
        }
    }
}

struct Worker {
    ctx: Rc<ThreadCtx>,
    slot: u32,
    backlog: Backlog,
    conn: h1::Connection,
    phase: Phase,
    /// SQEs of the current connection whose last completion has not come.
    ops: u32,
    /// The worker's timer, if armed.
    due: Option<Instant>,
    backoff: Duration,
    /// Connect attempts left for this request (EADDRNOTAVAIL rests an IP and tries another, once).
    attempts: u8,
    link: Option<Link>,
}

impl Worker {
    fn new(ctx: Rc<ThreadCtx>, slot: u32, numbered: Option<u64>) -> Worker {
        let plan = &ctx.shared.plan;
        let conn = h1::Connection::new(Rules::of(plan), Instant::now());
        let mut backlog = Backlog::new(ctx.clone(), numbered.unwrap_or(0));
        if let Some(worker) = numbered {
            ctx.issued(1);
            let by_run = matches!(plan.stop, crate::plan::Stop::Requests(_));
            backlog.owe(None, by_run.then_some(worker));
        }
        Worker {
            ctx,
            slot,
            backlog,
            conn,
            phase: Phase::Done,
            ops: 0,
            due: None,
            backoff: BACKOFF_FIRST,
            attempts: 2,
            link: None,
        }
    }

    fn arm(&mut self, io: &mut Io, at: Instant) {
        self.due = Some(at);
        io.arm(self.slot, at);
    }

    fn queue(&mut self, io: &mut Io, entry: Entry, op: Op) {
        self.ops += 1;
        io.push(&entry.user_data(op.tag(self.slot)));
    }

    /// The top of `conn::worker`'s loop: work to do, then a connection for it.
    fn start(&mut self, io: &mut Io, now: Instant) {
        let ctx = self.ctx.clone();
        self.due = None;
        if !ctx.in_window(now) {
            self.phase = Phase::Done;
            return;
        }
        if self.backlog.pending.is_empty() {
            match &ctx.tickets {
                Some(tickets) => match tickets.take(&ctx, now) {
                    Some(due) => self.backlog.pending.push_back(due),
                    None if tickets.finished() => {
                        self.phase = Phase::Done;
                        return;
                    }
                    None => {
                        self.phase = Phase::Ticket;
                        io.idle.push(self.slot);
                        return;
                    }
                },
                None => match ctx.shared.claim(1, now) {
                    (1, number) => {
                        ctx.issued(1);
                        self.backlog.owe(None, number);
                    }
                    _ => {
                        self.phase = Phase::Done;
                        return;
                    }
                },
            }
        }
        self.attempts = 2;
        self.open(io, now);
    }

    /// Opens a connection: the preflight's, or a new one from the IP the port governor grants.
    fn open(&mut self, io: &mut Io, now: Instant) {
        let ctx = self.ctx.clone();
        let preflight = ctx.opened.borrow_mut().take();
        if let Some(opened) = preflight {
            return self.adopt(io, opened, now);
        }
        let governor = &ctx.shared.governor;
        let ip = match governor.acquire(now) {
            Grant::From(ip) => ip,
            Grant::WaitUntil(until) => {
                self.phase = Phase::Granting(now);
                return self.arm(io, until);
            }
            // The governor now tells the engine to stop claiming work.
            Grant::Exhausted => return self.not_opened(io, ErrorKind::AddrUnavailable, now),
        };
        let plan = &ctx.shared.plan;
        let started = Instant::now();
        self.link = Some(Link::new(ip, started));
        match socket::client_socket(governor.bind_to(ip), ctx.shared.addr, plan.nodelay) {
            Ok(socket) => {
                let slot = self.slot;
                io.raw[slot as usize] = socket.into_raw_fd();
                let install = opcode::FilesUpdate::new(&raw const io.raw[slot as usize], 1).offset(slot as i32);
                self.queue(io, install.build().flags(squeue::Flags::IO_LINK), Op::Install);
                let connect = opcode::Connect::new(Fixed(slot), io.addr.as_ptr().cast(), io.addr.len());
                self.queue(io, connect.build(), Op::Connect);
                self.phase = Phase::Connecting { timed_out: false };
                self.arm(io, started + plan.connect_timeout);
            }
            Err(err) => self.connect_failed(io, ip, ErrorKind::of_io(&err), now),
        }
    }

    /// Takes over the preflight's connection (`stream::adopt`): it counts as if it had just connected.
    fn adopt(&mut self, io: &mut Io, opened: super::Opened, now: Instant) {
        let raw = opened.stream.into_raw_fd();
        if io.ring.submitter().register_files_update(self.slot, &[raw]).is_err() {
            // SAFETY: the descriptor is ours, and nothing else holds it.
            unsafe { libc::close(raw) };
            return self.not_opened(io, ErrorKind::Other, now);
        }
        // SAFETY: as above; the fixed table holds the socket now.
        unsafe { libc::close(raw) };
        let tcp_took = opened.handshake;
        let tls = self.ctx.shared.plan.tls.as_ref().zip(opened.tls);
        let (connected, handshake, session) = match tls {
            Some((_, (session, took))) => (now - took, Some(stream::finished(&session, took)), Some(session)),
            None => (now, None, None),
        };
        let mut link = Link::new(opened.client_ip, connected - tcp_took);
        link.connected = connected;
        link.tls = session.map(Box::new);
        self.link = Some(link);
        self.receive(io);
        self.session(io, handshake, now);
    }

    /// The connection is open for requests: its lease, its facts, and the `h1::Connection` takes over.
    fn session(&mut self, io: &mut Io, handshake: Option<stream::Handshake>, now: Instant) {
        let link = self.link.as_mut().expect("a session has a connection");
        link.lease = Some(Lease::new(&self.ctx, Some(link.ip)));
        self.ctx.opened(link.started, link.connected, handshake);
        self.conn.open(link.started, now, &mut self.backlog);
        self.phase = Phase::Session { idle: false };
        let due = self.conn.deadline(now);
        self.arm(io, due);
        self.drive(io, now);
    }

    /// Arms the connection's multishot receive.
    fn receive(&mut self, io: &mut Io) {
        let entry = opcode::RecvMulti::new(Fixed(self.slot), ring::BUFFER_GROUP).build();
        self.queue(io, entry, Op::Recv);
        self.link.as_mut().expect("a receive has a connection").receiving = true;
    }

    /// Asks the machine what next, and does it, until it waits for the world.
    fn drive(&mut self, io: &mut Io, now: Instant) {
        let Some(link) = self.link.as_mut() else { return };
        if link.sending.is_some() {
            return;
        }
        match self.conn.poll(now, &mut self.backlog) {
            Next::Write(batch) => {
                let requests = &self.ctx.shared.plan.requests;
                let bytes = self.conn.transmit(batch, requests, &mut link.joined);
                let (ptr, len) = match link.tls.as_mut() {
                    Some(tls) => {
                        link.out.clear();
                        encrypt(tls, bytes, &mut link.out);
                        (link.out.as_ptr(), link.out.len())
                    }
                    None => (bytes.as_ptr(), bytes.len()),
                };
                if let Phase::Session { idle: true } = self.phase {
                    // Back from waiting idle: the request timer runs again.
                    let due = self.conn.deadline(now);
                    self.arm(io, due);
                }
                self.phase = Phase::Session { idle: false };
                self.send(io, ptr, len, 0);
            }
            Next::Read { room } => {
                self.phase = Phase::Session { idle: false };
                if room {
                    io.room.push(self.slot);
                }
            }
            // The schedule is over: no request will come for it (`Tickets::next`).
            Next::Idle { .. } if self.ctx.tickets.as_ref().is_some_and(|t| t.finished()) => {
                self.shut(io, After::Session(Closer::Client));
            }
            Next::Idle { until } => {
                self.phase = Phase::Session { idle: true };
                io.idle.push(self.slot);
                match until {
                    Some(until) => self.arm(io, until),
                    None => self.due = None,
                }
            }
            Next::Close(close) => self.close(io, close, now),
        }
    }

    fn send(&mut self, io: &mut Io, ptr: *const u8, len: usize, done: usize) {
        let link = self.link.as_mut().expect("a send has a connection");
        link.sending = Some((ptr, len, done));
        // SAFETY: `done < len` bytes of the buffer `ptr` points at are left to send.
        let rest = unsafe { ptr.add(done) };
        let entry = opcode::Send::new(Fixed(self.slot), rest, (len - done) as u32).flags(libc::MSG_NOSIGNAL);
        self.queue(io, entry.build(), Op::Send);
    }

    /// Ends the connection as the machine said.
    fn close(&mut self, io: &mut Io, close: Close, now: Instant) {
        let peer_closed = self.link.as_ref().and_then(|link| link.peer_closed);
        match close {
            Close::Now(closer) => self.shut(io, After::Session(closer)),
            Close::UnlessClosed | Close::AwaitServer(_) if peer_closed.is_some() => {
                self.shut(io, After::Session(peer_closed.unwrap_or(Closer::Server)));
            }
            Close::UnlessClosed => self.drain(io, now, false),
            Close::AwaitServer(due) => self.drain(io, due, false),
            Close::Graceful => {
                self.notify(io, squeue::Flags::IO_HARDLINK);
                let entry = opcode::Shutdown::new(Fixed(self.slot), libc::SHUT_WR).build();
                self.queue(io, entry, Op::Shutdown);
                self.drain(io, now + CLIENT_LINGER, true);
            }
        }
    }

    /// Reads and discards until the server closes or `due` (`Stream::until_peer_closes`).
    fn drain(&mut self, io: &mut Io, due: Instant, graceful: bool) {
        let link = self.link.as_mut().expect("a drain has a connection");
        if !link.receiving && link.peer_closed.is_none() {
            self.receive(io);
        }
        self.phase = Phase::Draining { graceful };
        self.arm(io, due);
    }

    /// TLS: the client says it closes (`close_notify`, RFC 8446 §6.1), unless a send is in flight.
    fn notify(&mut self, io: &mut Io, flags: squeue::Flags) {
        let Some(link) = self.link.as_mut() else { return };
        let Some(tls) = link.tls.as_mut() else { return };
        if link.notified || link.sending.is_some() {
            return;
        }
        link.notified = true;
        tls.send_close_notify();
        link.out.clear();
        while tls.wants_write() && tls.write_tls(&mut link.out).is_ok() {}
        let (ptr, len) = (link.out.as_ptr(), link.out.len());
        link.sending = Some((ptr, len, 0));
        let entry = opcode::Send::new(Fixed(self.slot), ptr, len as u32).flags(libc::MSG_NOSIGNAL);
        self.queue(io, entry.build().flags(flags), Op::Send);
    }

    /// Closes the socket; `after` follows once every SQE of the connection has completed.
    fn shut(&mut self, io: &mut Io, after: After) {
        if let After::Session(Closer::Client) = after {
            // The close waits for the send: the socket stays open while an SQE holds it.
            self.notify(io, squeue::Flags::empty());
        }
        let link = self.link.as_mut().expect("a close has a connection");
        if link.receiving {
            let entry = opcode::AsyncCancel::new(Op::Recv.tag(self.slot)).build();
            self.queue(io, entry, Op::Cancel);
        }
        self.queue(io, opcode::Close::new(Fixed(self.slot)).build(), Op::Close);
        self.phase = Phase::Closing(after);
        self.due = None;
    }

    /// A completion of one of this worker's SQEs.
    fn complete(&mut self, io: &mut Io, op: Op, result: i32, flags: u32, now: Instant) {
        let more = op == Op::Recv && cqueue::more(flags);
        if !more {
            self.ops -= 1;
        }
        match op {
            Op::Install if result < 0 => {
                // The socket never reached the table: its connect is cancelled, and the descriptor closes here.
                // SAFETY: the descriptor is ours, and nothing else holds it.
                unsafe { libc::close(io.raw[self.slot as usize]) };
            }
            Op::Install => {
                let entry = opcode::Close::new(io_uring::types::Fd(io.raw[self.slot as usize])).build();
                self.queue(io, entry, Op::CloseRaw);
            }
            Op::Connect => self.connected(io, result, now),
            Op::Recv => {
                if let Some(link) = self.link.as_mut() {
                    link.receiving = more;
                }
                if result > 0 {
                    let id = cqueue::buffer_select(flags).expect("a receive into a provided buffer names it");
                    let bytes = io.buffers.get(id, result as usize);
                    // SAFETY: the buffer's memory lives as long as `io`, and nothing writes it until it is
                    // given back, after the connection has read it.
                    let bytes = unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) };
                    self.received(io, bytes, now);
                    io.buffers.give_back(id);
                } else if result == -libc::ENOBUFS {
                    // Every buffer was in use: receive again, now that the turn's buffers are back.
                    if !matches!(self.phase, Phase::Closing(_)) {
                        self.receive(io);
                    }
                } else {
                    let closer = match result {
                        0 => Some(Closer::Server),
                        _ if ErrorKind::of_io(&std::io::Error::from_raw_os_error(-result)) == ErrorKind::Reset => {
                            Some(Closer::Reset)
                        }
                        _ => None,
                    };
                    if result != -libc::ECANCELED {
                        self.ended(io, closer, result, now);
                    }
                }
            }
            Op::Send => self.sent(io, result, now),
            Op::CloseRaw | Op::Shutdown | Op::Cancel | Op::Close => {}
        }
        if self.ops == 0 {
            if let Phase::Closing(after) = self.phase {
                self.closed(io, after, now);
            }
        }
    }

    fn connected(&mut self, io: &mut Io, result: i32, now: Instant) {
        let Phase::Connecting { timed_out } = self.phase else { return };
        if result < 0 {
            let kind = if timed_out {
                ErrorKind::Timeout
            } else {
                ErrorKind::of_io(&std::io::Error::from_raw_os_error(-result))
            };
            return self.shut(io, After::Connect(kind));
        }
        let link = self.link.as_mut().expect("a connect has a connection");
        link.connected = now;
        let Some(client) = self.ctx.shared.plan.tls.clone() else {
            self.receive(io);
            return self.session(io, None, now);
        };
        match ClientConnection::new(client.config.clone(), client.server_name.clone()) {
            Ok(tls) => {
                link.tls = Some(Box::new(tls));
                self.phase = Phase::Handshake;
                self.receive(io);
                self.handshake_out(io);
            }
            Err(_) => self.shut(io, After::Handshake(Closer::Client)),
        }
    }

    /// Sends what the TLS handshake has to say, if a send is free.
    fn handshake_out(&mut self, io: &mut Io) {
        let link = self.link.as_mut().expect("a handshake has a connection");
        let tls = link.tls.as_mut().expect("a handshake has TLS");
        if link.sending.is_some() || !tls.wants_write() {
            return;
        }
        link.out.clear();
        while tls.wants_write() && tls.write_tls(&mut link.out).is_ok() {}
        let (ptr, len) = (link.out.as_ptr(), link.out.len());
        self.send(io, ptr, len, 0);
    }

    /// Bytes the ring read for the connection.
    fn received(&mut self, io: &mut Io, bytes: &[u8], now: Instant) {
        let Some(link) = self.link.as_mut() else { return };
        let plain = match link.tls.as_mut() {
            Some(tls) => {
                io.plain.clear();
                match decrypt(tls, bytes, &mut io.plain) {
                    Ok(close_notify) => {
                        if close_notify {
                            link.peer_closed = Some(Closer::Server);
                        }
                    }
                    Err(error) => {
                        let closer = match error {
                            rustls::Error::AlertReceived(_) => Closer::Server,
                            _ => Closer::Client,
                        };
                        return match self.phase {
                            Phase::Handshake => self.shut(io, After::Handshake(closer)),
                            Phase::Session { .. } => {
                                let error = std::io::Error::new(std::io::ErrorKind::InvalidData, error);
                                self.conn.read_failed(ErrorKind::of_io(&error), now, &mut self.backlog);
                                self.drive(io, now)
                            }
                            Phase::Draining { .. } => self.shut(io, After::Session(Closer::Client)),
                            _ => {}
                        };
                    }
                }
                let close_notify = link.peer_closed.is_some();
                if let Phase::Handshake = self.phase {
                    if !tls.is_handshaking() {
                        let took = now - link.connected;
                        let handshake = stream::finished(tls, took);
                        link.unparsed.extend_from_slice(&io.plain);
                        return self.session(io, Some(handshake), now);
                    }
                    return if close_notify {
                        self.shut(io, After::Handshake(Closer::Server))
                    } else {
                        self.handshake_out(io)
                    };
                }
                if close_notify {
                    // Plaintext before the close is the connection's; the close is an end of stream.
                    let plain = std::mem::take(&mut io.plain);
                    self.plaintext(io, &plain, now);
                    io.plain = plain;
                    return self.ended(io, Some(Closer::Server), 0, now);
                }
                std::mem::take(&mut io.plain)
            }
            None => return self.plaintext(io, bytes, now),
        };
        self.plaintext(io, &plain, now);
        io.plain = plain;
    }

    /// Plaintext read: the machine's, or discarded while draining.
    fn plaintext(&mut self, io: &mut Io, bytes: &[u8], now: Instant) {
        if bytes.is_empty() {
            return;
        }
        let Some(link) = self.link.as_mut() else { return };
        match self.phase {
            Phase::Session { idle: true } => {
                self.conn.unsolicited(&mut self.backlog);
                self.drive(io, now);
            }
            Phase::Session { idle: false } => {
                if link.unparsed.is_empty() {
                    let used = self.conn.feed(bytes, now, &mut self.backlog);
                    link.unparsed.extend_from_slice(&bytes[used..]);
                } else {
                    link.unparsed.extend_from_slice(bytes);
                    let used = self.conn.feed(&link.unparsed, now, &mut self.backlog);
                    link.unparsed.drain(..used);
                }
                self.drive(io, now);
            }
            _ => {}
        }
    }

    /// The receive ended: the server's end of stream (`Closer::Server`), a reset, or another error.
    fn ended(&mut self, io: &mut Io, closer: Option<Closer>, result: i32, now: Instant) {
        if let Some(link) = self.link.as_mut() {
            link.peer_closed = closer;
        }
        match self.phase {
            Phase::Handshake => self.shut(io, After::Handshake(closer.unwrap_or(Closer::Client))),
            Phase::Session { .. } => {
                match closer {
                    Some(Closer::Server) => self.conn.eof(now, &mut self.backlog),
                    _ => {
                        let error = std::io::Error::from_raw_os_error(-result);
                        self.conn.read_failed(ErrorKind::of_io(&error), now, &mut self.backlog);
                    }
                }
                self.drive(io, now);
            }
            Phase::Draining { graceful } => {
                let closer = if graceful { Closer::Client } else { closer.unwrap_or(Closer::Client) };
                self.shut(io, After::Session(closer));
            }
            _ => {}
        }
    }

    fn sent(&mut self, io: &mut Io, result: i32, now: Instant) {
        let Some(link) = self.link.as_mut() else { return };
        let Some((ptr, len, done)) = link.sending.take() else { return };
        if result >= 0 && done + (result as usize) < len {
            return self.send(io, ptr, len, done + result as usize);
        }
        match self.phase {
            Phase::Session { .. } if result < 0 => {
                let error = std::io::Error::from_raw_os_error(-result);
                self.conn.write_failed(ErrorKind::of_io(&error), now, &mut self.backlog);
                self.drive(io, now);
            }
            Phase::Session { .. } => self.drive(io, now),
            Phase::Handshake if result < 0 => {
                let error = std::io::Error::from_raw_os_error(-result);
                let closer = if ErrorKind::of_io(&error) == ErrorKind::Reset { Closer::Reset } else { Closer::Client };
                self.shut(io, After::Handshake(closer));
            }
            Phase::Handshake => self.handshake_out(io),
            _ => {}
        }
    }

    /// The worker's timer fired.
    fn timer(&mut self, io: &mut Io, now: Instant) {
        match self.phase {
            Phase::Granting(since) => {
                self.ctx.shared.governor.waited(since.elapsed());
                self.open(io, now);
            }
            Phase::BackingOff => self.start(io, now),
            Phase::Connecting { .. } => {
                self.phase = Phase::Connecting { timed_out: true };
                let entry = opcode::AsyncCancel::new(Op::Connect.tag(self.slot)).build();
                self.queue(io, entry, Op::Cancel);
            }
            Phase::Handshake => self.shut(io, After::Handshake(Closer::Client)),
            Phase::Session { idle: true } => self.shut(io, After::Session(Closer::Client)),
            Phase::Session { idle: false } => match self.conn.timer(now, &mut self.backlog) {
                Some(due) => self.arm(io, due),
                None => self.drive(io, now),
            },
            Phase::Draining { .. } => self.shut(io, After::Session(Closer::Client)),
            Phase::Ticket | Phase::Closing(_) | Phase::Done => {}
        }
    }

    /// Open loop: a scheduled request may be waiting for this worker, if it waits for one; false if it does
    /// not (its place in the idle list was stale).
    fn wake(&mut self, io: &mut Io, now: Instant) -> bool {
        let ctx = self.ctx.clone();
        let tickets = ctx.tickets.as_ref().expect("an open-loop worker has tickets");
        match self.phase {
            Phase::Ticket => {
                self.start(io, now);
                true
            }
            Phase::Session { idle: true } => {
                match tickets.take(&ctx, now) {
                    Some(due) => {
                        self.backlog.pending.push_back(due);
                        self.drive(io, now);
                    }
                    None if tickets.finished() => self.shut(io, After::Session(Closer::Client)),
                    None => io.idle.push(self.slot),
                }
                true
            }
            _ => false,
        }
    }

    /// Open loop: a scheduled request found no idle connection; this one may pipeline it.
    fn room(&mut self, io: &mut Io, now: Instant) {
        if let Phase::Session { idle: false } = self.phase {
            self.drive(io, now);
        }
    }

    /// Every SQE of the closed connection has completed: what it came to, then the next connection.
    fn closed(&mut self, io: &mut Io, after: After, now: Instant) {
        let link = self.link.take().expect("a close had a connection");
        let progress = match after {
            After::Session(closer) => {
                let finished = self.conn.finish(closer, now, &mut self.backlog);
                if let Some(lease) = link.lease {
                    lease.close(closer, finished.asked);
                }
                finished.progress
            }
            After::Handshake(closer) => {
                self.ctx.opened(link.started, link.connected, None);
                Lease::new(&self.ctx, Some(link.ip)).close(closer, false);
                return self.not_opened(io, ErrorKind::Tls, now);
            }
            After::Connect(kind) => return self.connect_failed(io, link.ip, kind, now),
        };
        if progress {
            self.backoff = BACKOFF_FIRST;
            self.start(io, now);
        } else {
            self.back_off(io, now);
        }
    }

    /// A connect failed as `kind`: the governor learns of it; EADDRNOTAVAIL tries another IP, once.
    fn connect_failed(&mut self, io: &mut Io, ip: IpAddr, kind: ErrorKind, now: Instant) {
        self.link = None;
        self.ctx.shared.governor.connect_failed(ip, kind, now);
        self.attempts -= 1;
        if kind == ErrorKind::AddrUnavailable && self.attempts > 0 {
            return self.open(io, now);
        }
        self.not_opened(io, kind, now);
    }

    /// No connection for the first request owed: it fails as `kind` (unless the window is over), and the
    /// worker backs off.
    fn not_opened(&mut self, io: &mut Io, kind: ErrorKind, now: Instant) {
        self.link = None;
        if !self.ctx.in_window(now) {
            self.phase = Phase::Done;
            return;
        }
        if let Some(first) = self.backlog.pending.pop_front() {
            self.ctx.failed(now, kind, first.target);
        }
        self.back_off(io, now);
    }

    fn back_off(&mut self, io: &mut Io, now: Instant) {
        self.phase = Phase::BackingOff;
        let until = now + self.backoff;
        self.arm(io, until);
        self.backoff = (self.backoff * 2).min(BACKOFF_LONGEST);
    }
}

/// Plaintext into TLS records, appended to `out`.
fn encrypt(tls: &mut ClientConnection, plain: &[u8], out: &mut Vec<u8>) {
    // rustls buffers what it cannot encrypt yet: never short of a whole request.
    let _ = tls.writer().write_all(plain);
    while tls.wants_write() && tls.write_tls(out).is_ok() {}
}

/// TLS records into plaintext, appended to `plain`; true when the server's `close_notify` came.
fn decrypt(tls: &mut ClientConnection, mut records: &[u8], plain: &mut Vec<u8>) -> Result<bool, rustls::Error> {
    while !records.is_empty() {
        match tls.read_tls(&mut records) {
            Ok(0) | Err(_) => return Err(rustls::Error::General("TLS records too large to buffer".into())),
            Ok(_) => {}
        }
        let state = tls.process_new_packets()?;
        let ready = state.plaintext_bytes_to_read();
        if ready > 0 {
            let start = plain.len();
            plain.resize(start + ready, 0);
            let _ = tls.reader().read_exact(&mut plain[start..]);
        }
        if state.peer_has_closed() {
            return Ok(true);
        }
    }
    Ok(false)
}

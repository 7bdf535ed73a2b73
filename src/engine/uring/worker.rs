//! One worker of an engine thread: a state machine that goes through `conn::worker`'s loop (claim, port
//! grant, connect, TLS handshake, session, close, back-off), stepped by its SQEs' completions and its timer.
//! The session's reads and writes are in `session.rs`, TLS in `tls.rs`.

mod session;
mod tls;

use std::net::IpAddr;
use std::os::fd::IntoRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use io_uring::squeue::{self, Entry};
use io_uring::types::Fixed;
use io_uring::{cqueue, opcode};
use rustls::ClientConnection;

use super::{Io, Op};
use crate::engine::backlog::Backlog;
use crate::engine::conn::{Lease, BACKOFF_FIRST, BACKOFF_LONGEST};
use crate::engine::governor::Grant;
use crate::engine::h1::{self, Rules};
use crate::engine::ThreadCtx;
use crate::net::{socket, stream};
use crate::record::{Closer, ErrorKind};

/// Where a worker is in `conn::worker`'s loop.
pub(super) enum Phase {
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
pub(super) enum After {
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
    pub(super) fn new(ip: IpAddr, started: Instant) -> Link {
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

pub(super) struct Worker {
    ctx: Rc<ThreadCtx>,
    slot: u32,
    backlog: Backlog,
    conn: h1::Connection,
    pub(super) phase: Phase,
    /// SQEs of the current connection whose last completion has not come.
    ops: u32,
    /// The worker's timer, if armed.
    pub(super) due: Option<Instant>,
    backoff: Duration,
    /// Connect attempts left for this request (EADDRNOTAVAIL rests an IP and tries another, once).
    attempts: u8,
    link: Option<Link>,
}

impl Worker {
    pub(super) fn new(ctx: Rc<ThreadCtx>, slot: u32, numbered: Option<u64>) -> Worker {
        let plan = &ctx.shared.plan;
        let conn = h1::Connection::new(Rules::of(plan), Instant::now());
        let backlog = Backlog::new(ctx.clone(), numbered);
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
    pub(super) fn start(&mut self, io: &mut Io, now: Instant) {
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
    fn adopt(&mut self, io: &mut Io, opened: crate::engine::Opened, now: Instant) {
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

    /// A completion of one of this worker's SQEs.
    pub(super) fn complete(&mut self, io: &mut Io, op: Op, result: i32, flags: u32, now: Instant) {
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

    /// The worker's timer fired.
    pub(super) fn timer(&mut self, io: &mut Io, now: Instant) {
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
    pub(super) fn wake(&mut self, io: &mut Io, now: Instant) -> bool {
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
    pub(super) fn room(&mut self, io: &mut Io, now: Instant) {
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

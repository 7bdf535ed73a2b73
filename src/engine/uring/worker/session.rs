//! A worker's session: the `h1::Connection` asked what next and done (sends, the multishot receive, closes),
//! and what the ring read and wrote fed back to it.

use std::time::Instant;

use io_uring::opcode;
use io_uring::squeue;
use io_uring::types::Fixed;

use super::tls::encrypt;
use super::{After, Phase, Worker};
use crate::engine::conn::{Lease, CLIENT_LINGER};
use crate::engine::h1::{Close, Next};
use crate::engine::uring::{ring, Io, Op};
use crate::net::stream;
use crate::record::{Closer, ErrorKind};

impl Worker {
    /// The connection is open for requests: its lease, its facts, and the `h1::Connection` takes over.
    pub(super) fn session(&mut self, io: &mut Io, handshake: Option<stream::Handshake>, now: Instant) {
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
    pub(super) fn receive(&mut self, io: &mut Io) {
        let entry = opcode::RecvMulti::new(Fixed(self.slot), ring::BUFFER_GROUP).build();
        self.queue(io, entry, Op::Recv);
        self.link.as_mut().expect("a receive has a connection").receiving = true;
    }

    /// Asks the machine what next, and does it, until it waits for the world.
    pub(super) fn drive(&mut self, io: &mut Io, now: Instant) {
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

    pub(super) fn send(&mut self, io: &mut Io, ptr: *const u8, len: usize, done: usize) {
        let link = self.link.as_mut().expect("a send has a connection");
        link.sending = Some((ptr, len, done));
        // SAFETY: `done < len` bytes of the buffer `ptr` points at are left to send.
        let rest = unsafe { ptr.add(done) };
        let entry = opcode::Send::new(Fixed(self.slot), rest, (len - done) as u32).flags(libc::MSG_NOSIGNAL);
        self.queue(io, entry.build(), Op::Send);
    }

    /// Ends the connection as the machine said.
    pub(super) fn close(&mut self, io: &mut Io, close: Close, now: Instant) {
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
    pub(super) fn drain(&mut self, io: &mut Io, due: Instant, graceful: bool) {
        let link = self.link.as_mut().expect("a drain has a connection");
        if !link.receiving && link.peer_closed.is_none() {
            self.receive(io);
        }
        self.phase = Phase::Draining { graceful };
        self.arm(io, due);
    }

    /// Closes the socket; `after` follows once every SQE of the connection has completed.
    pub(super) fn shut(&mut self, io: &mut Io, after: After) {
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

    /// Plaintext read: the machine's, or discarded while draining.
    pub(super) fn plaintext(&mut self, io: &mut Io, bytes: &[u8], now: Instant) {
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
    pub(super) fn ended(&mut self, io: &mut Io, closer: Option<Closer>, result: i32, now: Instant) {
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

    pub(super) fn sent(&mut self, io: &mut Io, result: i32, now: Instant) {
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
}

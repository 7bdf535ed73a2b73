//! TLS on the ring: rustls' `ClientConnection` fed with what the ring read, its records sent as SQEs.

use std::io::{Read, Write};
use std::time::Instant;

use io_uring::opcode;
use io_uring::squeue;
use io_uring::types::Fixed;
use rustls::ClientConnection;

use super::{After, Phase, Worker};
use crate::engine::uring::{Io, Op};
use crate::net::stream;
use crate::record::{Closer, ErrorKind};

impl Worker {
    /// Sends what the TLS handshake has to say, if a send is free.
    pub(super) fn handshake_out(&mut self, io: &mut Io) {
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

    /// TLS: the client says it closes (`close_notify`, RFC 8446 §6.1), unless a send is in flight.
    pub(super) fn notify(&mut self, io: &mut Io, flags: squeue::Flags) {
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

    /// Bytes the ring read for the connection.
    pub(super) fn received(&mut self, io: &mut Io, bytes: &[u8], now: Instant) {
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
}

/// Plaintext into TLS records, appended to `out`.
pub(super) fn encrypt(tls: &mut ClientConnection, plain: &[u8], out: &mut Vec<u8>) {
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

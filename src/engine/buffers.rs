//! The read buffers of one engine thread's HTTP/1.x connections (memory at scale, docs/design.md §7). A
//! connection waiting for its response holds no buffer: it is lent one for a read that may fill it, and the
//! buffer goes back as soon as that read must wait with nothing unparsed in it. So 10,000 keep-alive
//! connections waiting on a server cost a few buffers, not 10,000 of them (40 MiB at 4 KiB each). A
//! connection keeps its buffer only while the buffer holds part of a response (a head cut by the end of a
//! read) and while it drains a closing connection.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// The thread's free buffers, all of one size. The free list grows to the most buffers lent at once and
/// stays there: no allocation per read once the thread is warm.
pub(super) struct ReadBuffers {
    size: usize,
    free: RefCell<Vec<Vec<u8>>>,
}

impl ReadBuffers {
    pub(super) fn new(size: usize) -> ReadBuffers {
        ReadBuffers { size, free: RefCell::new(Vec::new()) }
    }

    /// Lends the connection whose buffer is `buffer` one, if it holds none.
    pub(super) fn lend(&self, buffer: &mut Vec<u8>) {
        if buffer.is_empty() {
            *buffer = self.free.borrow_mut().pop().unwrap_or_else(|| vec![0; self.size]);
        }
    }

    /// Takes the connection's buffer back. One grown for a long head is freed instead, so the free list
    /// never holds more than its size each.
    pub(super) fn give_back(&self, buffer: &mut Vec<u8>) {
        let buffer = std::mem::take(buffer);
        if buffer.len() == self.size {
            self.free.borrow_mut().push(buffer);
        }
    }

    /// Reads from `stream` into `buffer[end..]`, lending a buffer first if needed. A read that must wait
    /// gives the buffer back when nothing before `end` is kept in it: it is lent again when polled again.
    pub(super) fn poll_read<S: AsyncRead + Unpin>(
        &self,
        cx: &mut Context<'_>,
        stream: &mut S,
        buffer: &mut Vec<u8>,
        end: usize,
    ) -> Poll<io::Result<usize>> {
        self.lend(buffer);
        let mut free = ReadBuf::new(&mut buffer[end..]);
        match Pin::new(stream).poll_read(cx, &mut free) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(free.filled().len())),
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                if end == 0 {
                    self.give_back(buffer);
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    /// A stream with nothing to read yet, then `data`.
    struct Later {
        data: &'static [u8],
        polls_pending: usize,
    }

    impl AsyncRead for Later {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            if self.polls_pending > 0 {
                self.polls_pending -= 1;
                return Poll::Pending;
            }
            buf.put_slice(self.data);
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_waiting_read_holds_no_buffer_and_a_ready_one_keeps_it() {
        let buffers = ReadBuffers::new(64);
        let mut cx = Context::from_waker(Waker::noop());
        let mut stream = Later { data: b"HTTP/1.1 200 OK\r\n", polls_pending: 1 };
        let mut buffer = Vec::new();
        assert!(buffers.poll_read(&mut cx, &mut stream, &mut buffer, 0).is_pending());
        assert!(buffer.is_empty(), "the buffer went back while the read waits");
        assert_eq!(buffers.free.borrow().len(), 1);
        let Poll::Ready(Ok(n)) = buffers.poll_read(&mut cx, &mut stream, &mut buffer, 0) else { panic!("ready") };
        assert_eq!(&buffer[..n], b"HTTP/1.1 200 OK\r\n");
        assert!(buffers.free.borrow().is_empty(), "the same buffer was lent again, not a new one");
    }

    #[test]
    fn a_buffer_holding_part_of_a_response_stays_while_the_rest_is_awaited() {
        let buffers = ReadBuffers::new(64);
        let mut cx = Context::from_waker(Waker::noop());
        let mut buffer = Vec::new();
        buffers.lend(&mut buffer);
        buffer[..4].copy_from_slice(b"HTTP");
        let mut stream = Later { data: b"/1.1", polls_pending: 1 };
        assert!(buffers.poll_read(&mut cx, &mut stream, &mut buffer, 4).is_pending());
        assert_eq!(&buffer[..4], b"HTTP");
        let Poll::Ready(Ok(n)) = buffers.poll_read(&mut cx, &mut stream, &mut buffer, 4) else { panic!("ready") };
        assert_eq!(&buffer[..4 + n], b"HTTP/1.1");
    }

    #[test]
    fn a_grown_buffer_is_freed_not_kept() {
        let buffers = ReadBuffers::new(64);
        let mut buffer = Vec::new();
        buffers.lend(&mut buffer);
        buffer.resize(128, 0);
        buffers.give_back(&mut buffer);
        assert!(buffer.is_empty() && buffers.free.borrow().is_empty());
    }
}

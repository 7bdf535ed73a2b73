//! Request parsing: pure functions over bytes. One request head (httparse) into what the server needs to
//! know, and the decoder that reads chunked request bodies away.

use std::mem::MaybeUninit;

use super::page::{self, Resource};

/// Headers per request; more is answered 400.
const MAX_HEADERS: usize = 64;

/// What the server needs to know about one request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Head {
    /// HEAD: answer with the head only.
    pub(super) head_only: bool,
    /// POST or PATCH (non-idempotent).
    pub(super) post_like: bool,
    /// Answered by HTTP/1.0 rules (an HTTP/1.0 request, or any request in `http10` mode).
    pub(super) v10: bool,
    /// An HTTP/1.1 request: may get a chunked response.
    pub(super) http11: bool,
    /// The request lets the connection persist.
    pub(super) keep: bool,
    /// The request asked for keep-alive (`Connection: keep-alive`), whatever its version.
    pub(super) asked_keep_alive: bool,
    /// `Expect: 100-continue` still to be answered.
    pub(super) expect_continue: bool,
    /// The page of `connbench page` or one of its objects, or the configured body.
    pub(super) resource: Resource,
}

/// The request body still to be read away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Body {
    None,
    Length(u64),
    Chunked(Chunk),
}

/// Where a chunked body decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// This many chunk data bytes to skip.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty line.
    Trailer,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// A head of `len` bytes.
    Complete { len: usize, head: Head, body: Body },
    /// Malformed: answer 400 and close.
    Bad,
}

/// Splits a header value into its comma-separated tokens.
fn tokens(value: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii)
}

/// A `Content-Length` value: digits only.
fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Parses one request head at the start of `buf`.
pub(super) fn parse_head(buf: &[u8], http10: bool) -> Parsed {
    let mut headers: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS] = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Bad,
    };
    let method = req.method.unwrap_or("");
    let http11 = req.version == Some(1);
    let v10 = http10 || !http11;

    let (mut close, mut keep_alive, mut expect_continue) = (false, false, false);
    let mut length: Option<u64> = None;
    let mut transfer: Option<&[u8]> = None;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            match (parse_length(h.value), length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Parsed::Bad,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer = Some(h.value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for t in tokens(h.value) {
                close |= t.eq_ignore_ascii_case(b"close");
                keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue = h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
    }
    let body = match (transfer, length) {
        (None, None | Some(0)) => Body::None,
        (None, Some(n)) => Body::Length(n),
        // The final coding must be chunked, or the body has no end (RFC 9112 §6.3); with a length too, the
        // request is a smuggling attempt.
        (Some(te), None) if tokens(te).rfind(|t| !t.is_empty()).is_some_and(|t| t.eq_ignore_ascii_case(b"chunked")) => {
            Body::Chunked(Chunk::Size)
        }
        (Some(_), _) => return Parsed::Bad,
    };
    let head = Head {
        head_only: method == "HEAD",
        post_like: method == "POST" || method == "PATCH",
        v10,
        http11,
        keep: if v10 { keep_alive && !close } else { !close },
        asked_keep_alive: keep_alive,
        expect_continue: expect_continue && http11 && !http10 && body != Body::None,
        resource: page::resource(req.path.unwrap_or_default().as_bytes()),
    };
    Parsed::Complete { len, head, body }
}

/// What a complete request head says of where it went, for `count_paths`: `METHOD /path`, its header names
/// and its declared body length. None when it does not parse (it was parsed once already).
pub(super) fn seen(head: &[u8]) -> Option<(String, Vec<String>, u64)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(head).ok()?;
    let key = format!("{} {}", req.method?, req.path?);
    let length =
        req.headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length")).and_then(|h| parse_length(h.value));
    Some((key, req.headers.iter().map(|h| h.name.to_string()).collect(), length.unwrap_or(0)))
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Progress {
    /// Needs more bytes.
    More,
    /// The body (trailers included) is over.
    Done,
    /// Not chunked encoding: answer 400 and close.
    Bad,
}

/// Reads away chunked body bytes from `buf`; returns how many bytes were used and how far the body got.
pub(super) fn discard_chunked(state: &mut Chunk, buf: &[u8]) -> (usize, Progress) {
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        match *state {
            Chunk::Size => match httparse::parse_chunk_size(rest) {
                Ok(httparse::Status::Complete((used, size))) => {
                    at += used;
                    *state = if size == 0 { Chunk::Trailer } else { Chunk::Data(size) };
                }
                Ok(httparse::Status::Partial) => return (at, Progress::More),
                Err(_) => return (at, Progress::Bad),
            },
            Chunk::Data(remaining) => {
                let take = remaining.min(rest.len() as u64);
                at += take as usize;
                if take < remaining {
                    *state = Chunk::Data(remaining - take);
                    return (at, Progress::More);
                }
                *state = Chunk::DataEnd;
            }
            Chunk::DataEnd => match rest {
                [b'\r', b'\n', ..] => {
                    at += 2;
                    *state = Chunk::Size;
                }
                [] | [b'\r'] => return (at, Progress::More),
                _ => return (at, Progress::Bad),
            },
            Chunk::Trailer => match rest.windows(2).position(|w| w == b"\r\n") {
                Some(0) => return (at + 2, Progress::Done),
                Some(line) => at += line + 2,
                None => return (at, Progress::More),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_head_cases() {
        let head = |v10: bool, keep: bool| Head {
            head_only: false,
            post_like: false,
            v10,
            http11: !v10,
            keep,
            asked_keep_alive: false,
            expect_continue: false,
            resource: Resource::Plain,
        };
        let complete = |buf: &[u8], head: Head, body: Body| Parsed::Complete { len: buf.len(), head, body };
        let cases: &[(&[u8], bool, Parsed)] = &[
            // An unfinished head.
            (b"GET / HTTP/1.1\r\nHost: x\r\n", false, Parsed::Partial),
            // HTTP/1.1 persists by default.
            (b"GET / HTTP/1.1\r\n\r\n", false, complete(b"GET / HTTP/1.1\r\n\r\n", head(false, true), Body::None)),
            // ... unless it says close, among other tokens.
            (
                b"GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n",
                false,
                complete(b"GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n", head(false, false), Body::None),
            ),
            // HTTP/1.0 closes by default.
            (b"GET / HTTP/1.0\r\n\r\n", false, complete(b"GET / HTTP/1.0\r\n\r\n", head(true, false), Body::None)),
            // http10 mode treats an HTTP/1.1 request by HTTP/1.0 rules.
            (
                b"GET / HTTP/1.1\r\nconnection: keep-alive\r\n\r\n",
                true,
                complete(
                    b"GET / HTTP/1.1\r\nconnection: keep-alive\r\n\r\n",
                    Head { http11: true, asked_keep_alive: true, ..head(true, true) },
                    Body::None,
                ),
            ),
            // A length.
            (
                b"PUT / HTTP/1.1\r\nContent-Length: 42\r\n\r\n",
                false,
                complete(b"PUT / HTTP/1.1\r\nContent-Length: 42\r\n\r\n", head(false, true), Body::Length(42)),
            ),
            // Two equal lengths are one.
            (
                b"PUT / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
                false,
                complete(
                    b"PUT / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
                    head(false, true),
                    Body::Length(4),
                ),
            ),
            // Chunked as the final coding.
            (
                b"PATCH / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                false,
                complete(
                    b"PATCH / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                    Head { post_like: true, ..head(false, true) },
                    Body::Chunked(Chunk::Size),
                ),
            ),
            // Differing lengths, a non-numeric length, a non-chunked final coding, both framings: rejected.
            (b"PUT / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", false, Parsed::Bad),
            (b"PUT / HTTP/1.1\r\nContent-Length: +4\r\n\r\n", false, Parsed::Bad),
            (b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", false, Parsed::Bad),
            (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", false, Parsed::Bad),
            // Not HTTP/1.x.
            (b"PRI * HTTP/2.0\r\n\r\n", false, Parsed::Bad),
        ];
        for (buf, http10, want) in cases {
            assert_eq!(&parse_head(buf, *http10), want, "{}", String::from_utf8_lossy(buf));
        }
        let Parsed::Complete { head, .. } = parse_head(b"HEAD / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", false)
        else {
            panic!()
        };
        assert!(head.head_only && !head.expect_continue, "no body, nothing to continue");
    }

    #[test]
    fn chunked_bodies_are_discarded_whatever_the_split() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let end = body.len() - 4;
        // Every split into two reads gives the same end.
        for split in 0..=body.len() {
            let mut state = Chunk::Size;
            let (used, progress) = discard_chunked(&mut state, &body[..split]);
            let consumed = if progress == Progress::Done {
                used
            } else {
                assert_eq!(progress, Progress::More, "split {split}");
                // The unused tail of the first read is read again with the second.
                let (more, progress) = discard_chunked(&mut state, &body[used..]);
                assert_eq!(progress, Progress::Done, "split {split}");
                used + more
            };
            assert_eq!(consumed, end, "split {split}");
        }
        let mut state = Chunk::Size;
        assert_eq!(discard_chunked(&mut state, b"zz\r\n").1, Progress::Bad);
        let mut state = Chunk::Size;
        assert_eq!(discard_chunked(&mut state, b"1\r\nab").1, Progress::Bad);
    }
}

//! Response framing for HTTP/1.x: where one response ends and the next begins on a connection, and the few
//! facts the engine needs from it (status, persistence, `Keep-Alive` limits, body size). Pure: bytes in,
//! [`Feed`] out, no I/O and no tokio, so it can be split-tested byte by byte and fuzzed.
//!
//! Why hand-written around httparse: httparse parses a head (status line and fields) and nothing more.
//! Message framing (RFC 9112 §6: interim 1xx, HEAD/204/304, chunked, Content-Length, read-until-close) is
//! ours, and it has to run once per response on the client's hot path, so the parser never allocates: the
//! head is parsed into a fixed array of [`MAX_HEADERS`] fields on the stack, and body bytes are counted and
//! handed back to the caller as they arrive, so a 1 GB body needs no buffer.
//!
//! Framing decisions, in RFC 9112 §6.3 order:
//! - no body for a HEAD request, 1xx, 204 and 304, whatever the fields say; 1xx other than 101 are skipped
//!   and the final response that follows is parsed in the same [`ResponseParser`];
//! - `Transfer-Encoding` wins over `Content-Length`. If its last coding is `chunked` the body is chunked;
//!   otherwise (e.g. `gzip`) the body runs until the server closes, as §6.3 says for responses. `chunked`
//!   applied twice, or an empty coding list, is [`ParseError::UnsupportedTransferEncoding`]. A chunked body
//!   that also carries `Content-Length`, or arrives in HTTP/1.0, is decoded but the response is not
//!   persistent: §6.1 and §6.3 call such framing suspect and ask the recipient to close after it;
//! - else `Content-Length` (identical repeats allowed, RFC 9110 §8.6);
//! - else the body runs until the server closes (`persistent: false`), completed by [`ResponseParser::eof`].
//!
//! Blank lines before a status line are not part of any response (RFC 9112 §2.2 robustness: some servers
//! send a stray CRLF after a body): they are consumed, and a connection that closes after only blank lines
//! reports [`EofOutcome::NothingReceived`].

use httparse::Status;

/// The largest response head accepted, blank lines before it not counted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Header fields parsed per head; more is [`ParseError::BadHead`] (`TooManyHeaders`).
pub const MAX_HEADERS: usize = 64;
/// The longest head [`HeadMemo`] keeps. Typical heads are 150-600 bytes; a longer one is parsed every time.
const MEMO_MAX_BYTES: usize = 2 * 1024;
/// The longest chunk-size line or trailer line, terminator excluded. Chunk extensions are tiny in
/// practice; the bound only keeps a hostile server from making us wait on an endless line.
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// What a complete response said; all the engine needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseMeta {
    pub status: u16,
    /// 0 => HTTP/1.0, 1 => HTTP/1.1
    pub minor_version: u8,
    /// May the client send another request on this connection after this response?
    /// HTTP/1.1: yes unless `Connection: close` (token list, case-insensitive). HTTP/1.0: only with
    /// `Connection: keep-alive`. Also false when the body was delimited by the server closing the
    /// connection, after a 101, and after suspect chunked framing (see the module docs).
    pub persistent: bool,
    /// From `Keep-Alive: timeout=T, max=M` (either may be absent; unknown params ignored; values
    /// too large for a u32 saturate).
    pub keep_alive_max: Option<u32>,
    pub keep_alive_timeout_secs: Option<u32>,
    /// Body bytes received (decoded length for chunked).
    pub body_bytes: u64,
}

#[cfg(test)]
impl ResponseMeta {
    /// A 200 with these connection facts, for the tests of the rules built on responses.
    pub(crate) fn with_keep_alive(persistent: bool, max: Option<u32>, timeout: Option<u32>) -> ResponseMeta {
        ResponseMeta {
            status: 200,
            minor_version: 1,
            persistent,
            keep_alive_max: max,
            keep_alive_timeout_secs: timeout,
            body_bytes: 0,
        }
    }
}

/// Why a response could not be framed. The connection cannot be trusted after any of these: the engine
/// counts a parse error and closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed response head: {0}")]
    BadHead(httparse::Error),
    #[error("response head larger than {} bytes", MAX_HEAD_BYTES)]
    HeadTooLarge,
    #[error("invalid or conflicting Content-Length")]
    BadContentLength,
    #[error("malformed chunked body (chunk size, extension, line end or trailer)")]
    BadChunk,
    #[error("unsupported Transfer-Encoding: chunked applied twice, or an empty coding list")]
    UnsupportedTransferEncoding,
}

/// How the stream ended when the connection hit end-of-file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EofOutcome {
    /// The body was delimited by the close: the response is complete.
    Complete(ResponseMeta),
    /// Not one byte of this response had arrived: a clean close before it (the engine decides what that
    /// means). Blank lines alone count as nothing.
    NothingReceived,
    /// Part of the response arrived (head incomplete, body shorter than Content-Length, chunked body cut
    /// short), or the parser had already failed.
    Truncated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// All of `consumed` bytes belong to this response; more are needed. The caller drops `consumed`
    /// bytes from the front of its buffer, keeps the rest, and calls feed again with more data appended.
    Incomplete { consumed: usize },
    /// The response ended after `consumed` bytes; bytes after that belong to the next response
    /// (pipelining). Feeding a completed parser again returns the same meta with `consumed: 0`.
    Complete { consumed: usize, meta: ResponseMeta },
}

/// How a response's body ends, as its head said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// After `Content-Length` bytes (or at once: no body).
    Length,
    Chunked,
    /// When the server closes the connection (neither a length nor chunked).
    Close,
}

/// One in-flight response. Cheap to build (no allocation): make a new one per request.
#[derive(Debug, Clone)]
pub struct ResponseParser {
    head_request: bool,
    /// A byte other than a leading blank line arrived: an EOF now truncates a response.
    received: bool,
    state: State,
    /// How far the pending chunk-size or trailer line has been searched for its LF, so a line that arrives
    /// a byte at a time is scanned once, not once per feed.
    line_scan: usize,
    meta: ResponseMeta,
    /// The body's bytes, decoded from chunks, when the caller asked to keep them ([`ResponseParser::keeping_body`]).
    body: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Head(HeadScan),
    Fixed { remaining: u64 },
    UntilClose,
    ChunkSize,
    ChunkData { remaining: u64 },
    ChunkDataEnd,
    Trailers,
    Done,
    Failed(ParseError),
}

/// Progress on a head that has not arrived whole. Offsets are from the head's first byte, which is the
/// front of the caller's buffer on every feed after the first.
#[derive(Debug, Clone, Copy, Default)]
struct HeadScan {
    /// Leading blank lines are behind us.
    begun: bool,
    /// Where the search for the blank line ending the head resumes.
    scan: usize,
    /// Head length at the last httparse run; httparse runs again when the head has doubled, so garbage is
    /// reported early while the total work stays linear in the head's size.
    checked: usize,
}

/// The outcome of one state's step over the unconsumed bytes.
enum Step {
    /// Consumed this many bytes and moved to a state that may progress on the rest.
    Advance(usize),
    /// Consumed this many bytes; nothing more can happen without more data.
    NeedMore(usize),
    /// The response ended after this many bytes.
    Done(usize),
}

/// How the body is delimited, as read from the head.
#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// The framing-relevant facts of one head, copied out so the borrow of the caller's buffer ends.
#[derive(Debug, Clone, Copy)]
struct HeadFacts {
    status: u16,
    minor_version: u8,
    connection_close: bool,
    connection_keep_alive: bool,
    keep_alive_max: Option<u32>,
    keep_alive_timeout_secs: Option<u32>,
    transfer_encoding: Option<Result<bool, ParseError>>,
    content_length: Result<Option<u64>, ParseError>,
}

/// The last complete head an engine thread parsed, byte for byte, and its facts.
///
/// Why: under load a server sends the same head over and over (nginx changes only `Date`, once a second),
/// and httparse was half of the client's instructions per pipelined response (callgrind: 1,387 of 2,942).
/// A head whose first bytes equal the remembered head is that head: httparse's verdict depends only on
/// the bytes up to the first blank line, which ends the remembered bytes, so the facts are reused after
/// one `memcmp` instead of a parse. Any other head is parsed by httparse and remembered in its place.
/// One per engine thread, shared by its connections; it holds no borrow, so it outlives the parsers.
#[derive(Debug, Default)]
pub struct HeadMemo {
    head: Vec<u8>,
    facts: Option<HeadFacts>,
}

impl HeadMemo {
    /// The remembered head's length and facts if `head` begins with it.
    fn recall(&self, head: &[u8]) -> Option<(usize, HeadFacts)> {
        let facts = self.facts?;
        head.starts_with(&self.head).then_some((self.head.len(), facts))
    }

    fn remember(&mut self, head: &[u8], facts: HeadFacts) {
        if head.len() <= MEMO_MAX_BYTES {
            self.head.clear();
            self.head.extend_from_slice(head);
            self.facts = Some(facts);
        }
    }
}

impl ResponseParser {
    /// `head_request`: the request was HEAD, so the response has no body whatever its headers say.
    pub fn new(head_request: bool) -> Self {
        Self {
            head_request,
            received: false,
            state: State::Head(HeadScan::default()),
            line_scan: 0,
            meta: ResponseMeta {
                status: 0,
                minor_version: 1,
                persistent: false,
                keep_alive_max: None,
                keep_alive_timeout_secs: None,
                body_bytes: 0,
            },
            body: None,
        }
    }

    /// A parser that keeps the body (for a page whose HTML is read, never on the load's hot path).
    pub fn keeping_body(head_request: bool) -> Self {
        Self { body: Some(Vec::new()), ..Self::new(head_request) }
    }

    /// The body kept so far (empty unless made by [`ResponseParser::keeping_body`]).
    pub fn take_body(&mut self) -> Vec<u8> {
        self.body.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn keep(&mut self, bytes: &[u8]) {
        if let Some(body) = &mut self.body {
            body.extend_from_slice(bytes);
        }
    }

    /// Has any byte of this response arrived, stray blank lines before it not counted? A connection that
    /// fails after this point cut a response short; before it, the request was simply unanswered.
    pub fn started(&self) -> bool {
        self.received
    }

    /// Once its head has arrived whole: what it said (`body_bytes` so far) and how its body ends. None before,
    /// and after a parse error.
    pub fn head(&self) -> Option<(ResponseMeta, BodyEnd)> {
        let end = match self.state {
            State::Head(_) | State::Failed(_) => return None,
            State::Fixed { .. } | State::Done => BodyEnd::Length,
            State::ChunkSize | State::ChunkData { .. } | State::ChunkDataEnd | State::Trailers => BodyEnd::Chunked,
            State::UntilClose => BodyEnd::Close,
        };
        Some((self.meta, end))
    }

    /// Feeds the caller's unconsumed bytes: everything not yet consumed by an earlier call, plus whatever
    /// arrived since. `memo` is the engine thread's; any memo gives the same answers, only faster when it hits.
    pub fn feed(&mut self, buf: &[u8], memo: &mut HeadMemo) -> Result<Feed, ParseError> {
        let mut pos = 0;
        loop {
            let rest = buf.get(pos..).unwrap_or_default();
            match self.step(rest, memo) {
                Ok(Step::Advance(n)) => pos += n,
                Ok(Step::NeedMore(n)) => return Ok(Feed::Incomplete { consumed: pos + n }),
                Ok(Step::Done(n)) => {
                    self.state = State::Done;
                    return Ok(Feed::Complete { consumed: pos + n, meta: self.meta });
                }
                Err(e) => {
                    self.state = State::Failed(e);
                    return Err(e);
                }
            }
        }
    }

    /// The connection hit end-of-file: classify what this response had become.
    pub fn eof(&mut self) -> EofOutcome {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                EofOutcome::Complete(self.meta)
            }
            State::Head(_) if !self.received => EofOutcome::NothingReceived,
            _ => EofOutcome::Truncated,
        }
    }

    fn step(&mut self, rest: &[u8], memo: &mut HeadMemo) -> Result<Step, ParseError> {
        match self.state {
            State::Head(scan) => self.step_head(scan, rest, memo),
            State::Fixed { remaining } => {
                let n = take(remaining, rest.len());
                self.keep(&rest[..n]);
                self.meta.body_bytes += n as u64;
                if n as u64 == remaining {
                    return Ok(Step::Done(n));
                }
                self.state = State::Fixed { remaining: remaining - n as u64 };
                Ok(Step::NeedMore(n))
            }
            State::UntilClose => {
                self.keep(rest);
                self.meta.body_bytes = self.meta.body_bytes.saturating_add(rest.len() as u64);
                Ok(Step::NeedMore(rest.len()))
            }
            State::ChunkSize => {
                let Some((line, used)) = self.take_line(rest)? else {
                    return Ok(Step::NeedMore(0));
                };
                self.state = match parse_chunk_size(line)? {
                    0 => State::Trailers,
                    remaining => State::ChunkData { remaining },
                };
                Ok(Step::Advance(used))
            }
            State::ChunkData { remaining } => {
                let n = take(remaining, rest.len());
                self.keep(&rest[..n]);
                self.meta.body_bytes = self.meta.body_bytes.saturating_add(n as u64);
                if n as u64 == remaining {
                    self.state = State::ChunkDataEnd;
                    return Ok(Step::Advance(n));
                }
                self.state = State::ChunkData { remaining: remaining - n as u64 };
                Ok(Step::NeedMore(n))
            }
            State::ChunkDataEnd => {
                let used = match rest {
                    [b'\r', b'\n', ..] => 2,
                    [b'\n', ..] => 1,
                    [] | [b'\r'] => return Ok(Step::NeedMore(0)),
                    _ => return Err(ParseError::BadChunk),
                };
                self.state = State::ChunkSize;
                Ok(Step::Advance(used))
            }
            State::Trailers => {
                // Trailer fields are read past, not parsed: nothing in them changes the framing.
                let Some((line, used)) = self.take_line(rest)? else {
                    return Ok(Step::NeedMore(0));
                };
                if line.is_empty() {
                    return Ok(Step::Done(used));
                }
                if line.iter().copied().any(is_ctl) {
                    return Err(ParseError::BadChunk);
                }
                Ok(Step::Advance(used))
            }
            State::Done => Ok(Step::Done(0)),
            State::Failed(e) => Err(e),
        }
    }

    fn step_head(&mut self, mut scan: HeadScan, rest: &[u8], memo: &mut HeadMemo) -> Result<Step, ParseError> {
        let mut skip = 0;
        if !scan.begun {
            loop {
                match rest.get(skip..).unwrap_or_default() {
                    [b'\n', ..] => skip += 1,
                    [b'\r', b'\n', ..] => skip += 2,
                    [] | [b'\r'] => return Ok(Step::NeedMore(skip)),
                    _ => break,
                }
            }
            scan.begun = true;
            self.received = true;
        }
        let head = rest.get(skip..).unwrap_or_default();
        if head.is_empty() {
            self.state = State::Head(scan);
            return Ok(Step::NeedMore(skip));
        }

        // A head usually arrives whole in one read: let httparse find its end directly.
        if scan.checked == 0 {
            scan.checked = head.len();
            if let Some((len, facts)) = parse_head(head, memo)? {
                return self.head_complete(facts, skip + len);
            }
        }
        // Otherwise look for the blank line ourselves and run httparse only once it is there, so a head
        // trickling in a byte at a time costs linear, not quadratic, work.
        loop {
            match find_head_end(head, scan.scan) {
                Err(resume) => {
                    scan.scan = resume;
                    break;
                }
                Ok(end) if end > MAX_HEAD_BYTES => return Err(too_large(head)),
                Ok(end) => match parse_head(head, memo)? {
                    Some((len, facts)) => return self.head_complete(facts, skip + len),
                    // Unreachable with httparse's grammar (the first blank line ends the head), but
                    // keep looking rather than wait for bytes that may never come.
                    None => scan.scan = end,
                },
            }
        }
        if head.len() > MAX_HEAD_BYTES {
            return Err(too_large(head));
        }
        if head.len() >= scan.checked.saturating_mul(2) {
            scan.checked = head.len();
            parse_head(head, memo)?;
        }
        self.state = State::Head(scan);
        Ok(Step::NeedMore(skip))
    }

    /// A head ended `used` bytes into the unconsumed input: decide what follows it.
    fn head_complete(&mut self, facts: HeadFacts, used: usize) -> Result<Step, ParseError> {
        if (100..200).contains(&facts.status) && facts.status != 101 {
            // Interim response: the final one follows on the same stream.
            self.state = State::Head(HeadScan::default());
            return Ok(Step::Advance(used));
        }
        let persistent =
            !facts.connection_close && (facts.minor_version >= 1 || facts.connection_keep_alive) && facts.status != 101;
        self.meta = ResponseMeta {
            status: facts.status,
            minor_version: facts.minor_version,
            persistent,
            keep_alive_max: facts.keep_alive_max,
            keep_alive_timeout_secs: facts.keep_alive_timeout_secs,
            body_bytes: 0,
        };
        let bodiless = self.head_request || matches!(facts.status, 100..=199 | 204 | 304);
        if bodiless {
            return Ok(Step::Done(used));
        }
        let framing = match facts.transfer_encoding {
            Some(Ok(true)) => {
                if facts.minor_version == 0 || !matches!(facts.content_length, Ok(None)) {
                    self.meta.persistent = false;
                }
                Framing::Chunked
            }
            Some(Ok(false)) => Framing::UntilClose,
            Some(Err(e)) => return Err(e),
            None => match facts.content_length? {
                Some(n) => Framing::Length(n),
                None => Framing::UntilClose,
            },
        };
        match framing {
            Framing::Length(0) => return Ok(Step::Done(used)),
            Framing::Length(remaining) => self.state = State::Fixed { remaining },
            Framing::Chunked => {
                self.line_scan = 0;
                self.state = State::ChunkSize;
            }
            Framing::UntilClose => {
                self.meta.persistent = false;
                self.state = State::UntilClose;
            }
        }
        Ok(Step::Advance(used))
    }

    /// The next chunk-size or trailer line without its CRLF (or bare LF, RFC 9112 §2.2), and the bytes it
    /// took; `None` until its LF has arrived.
    fn take_line<'a>(&mut self, rest: &'a [u8]) -> Result<Option<(&'a [u8], usize)>, ParseError> {
        let from = self.line_scan.min(rest.len());
        let Some(i) = rest[from..].iter().position(|&b| b == b'\n') else {
            if rest.len() > MAX_CHUNK_LINE {
                return Err(ParseError::BadChunk);
            }
            self.line_scan = rest.len();
            return Ok(None);
        };
        let end = from + i;
        if end > MAX_CHUNK_LINE {
            return Err(ParseError::BadChunk);
        }
        self.line_scan = 0;
        let line = &rest[..end];
        Ok(Some((line.strip_suffix(b"\r").unwrap_or(line), end + 1)))
    }
}

/// How many of `available` bytes a body with `remaining` bytes to go takes.
fn take(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

/// The head's length and facts once it is complete (from `memo`, else by httparse, then remembered),
/// `None` while more is needed.
fn parse_head(head: &[u8], memo: &mut HeadMemo) -> Result<Option<(usize, HeadFacts)>, ParseError> {
    if let Some(known) = memo.recall(head) {
        return Ok(Some(known));
    }
    // Uninitialised: zeroing 64 headers for every response cost ~170 instructions (callgrind).
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut resp, head, &mut headers) {
        Ok(Status::Complete(n)) if n > MAX_HEAD_BYTES => Err(too_large(head)),
        Ok(Status::Complete(n)) => {
            let facts = head_facts(&resp)?;
            memo.remember(&head[..n], facts);
            Ok(Some((n, facts)))
        }
        Ok(Status::Partial) => Ok(None),
        Err(e) => Err(ParseError::BadHead(e)),
    }
}

/// The error for a head past [`MAX_HEAD_BYTES`]: a malformed head is reported as such if the fault lies
/// within the limit, so the answer does not depend on how the bytes were split.
fn too_large(head: &[u8]) -> ParseError {
    let prefix = &head[..head.len().min(MAX_HEAD_BYTES + 1)];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::Response::new(&mut headers).parse(prefix) {
        Err(e) => ParseError::BadHead(e),
        Ok(_) => ParseError::HeadTooLarge,
    }
}

/// The end of the head (just past its blank line) if present, else where to resume the search. Lines end
/// in CRLF or bare LF, as httparse accepts, and leading blank lines have already been skipped, so the
/// first LF followed by an empty line ends the head.
fn find_head_end(buf: &[u8], from: usize) -> Result<usize, usize> {
    let mut i = from.min(buf.len());
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let lf = i + off;
        match buf.get(lf + 1..).unwrap_or_default() {
            [b'\n', ..] => return Ok(lf + 2),
            [b'\r', b'\n', ..] => return Ok(lf + 3),
            [] | [b'\r'] => return Err(lf),
            _ => i = lf + 1,
        }
    }
    Err(buf.len())
}

/// Copies the framing facts out of a complete head, so the borrow of the caller's buffer can end.
fn head_facts(resp: &httparse::Response<'_, '_>) -> Result<HeadFacts, ParseError> {
    let status = resp.code.unwrap_or(0);
    if status < 100 {
        return Err(ParseError::BadHead(httparse::Error::Status));
    }
    let mut facts = HeadFacts {
        status,
        minor_version: resp.version.unwrap_or(1),
        connection_close: false,
        connection_keep_alive: false,
        keep_alive_max: None,
        keep_alive_timeout_secs: None,
        transfer_encoding: None,
        content_length: Ok(None),
    };
    let mut codings = Codings::default();
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        // Most fields are none of the four below: their length rules them out without a comparison.
        if !matches!(name.len(), 10 | 14 | 17) {
            continue;
        }
        if is(name, b"connection") {
            for token in list(h.value) {
                facts.connection_close |= is(token, b"close");
                facts.connection_keep_alive |= is(token, b"keep-alive");
            }
        } else if is(name, b"keep-alive") {
            parse_keep_alive(h.value, &mut facts);
        } else if is(name, b"transfer-encoding") {
            codings.add(h.value);
        } else if is(name, b"content-length") {
            facts.content_length = merge_content_length(facts.content_length, h.value);
        }
    }
    facts.transfer_encoding = codings.chunked();
    Ok(facts)
}

/// `bytes` equals `lower` (lowercase letters and `-` only) ignoring ASCII case. One OR per byte rather than
/// `eq_ignore_ascii_case`'s lowercasing of both sides: for a letter, `b | 0x20` is its lowercase; for `-`
/// it also matches CR, which httparse never lets into a name or a value.
fn is(bytes: &[u8], lower: &[u8]) -> bool {
    bytes.len() == lower.len() && bytes.iter().zip(lower).all(|(&b, &l)| b | 0x20 == l)
}

/// The non-empty elements of a comma-separated field value, trimmed (RFC 9110 §5.6.1).
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|t| !t.is_empty())
}

/// Transfer codings seen across every `Transfer-Encoding` field, in order.
#[derive(Default)]
struct Codings {
    present: bool,
    count: usize,
    chunked: usize,
    last_is_chunked: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) {
        self.present = true;
        for coding in list(value) {
            // Parameters (`;q=...`) do not change what the coding is.
            let name = coding.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
            let chunked = name.eq_ignore_ascii_case(b"chunked");
            self.count += 1;
            self.chunked += usize::from(chunked);
            self.last_is_chunked = chunked;
        }
    }

    /// `None`: no field; `Some(Ok(true))`: chunked body; `Some(Ok(false))`: read until close.
    fn chunked(&self) -> Option<Result<bool, ParseError>> {
        if !self.present {
            return None;
        }
        if self.count == 0 || self.chunked > 1 {
            return Some(Err(ParseError::UnsupportedTransferEncoding));
        }
        Some(Ok(self.last_is_chunked))
    }
}

/// Folds one `Content-Length` field into what earlier ones said: every element must be the same decimal.
fn merge_content_length(seen: Result<Option<u64>, ParseError>, value: &[u8]) -> Result<Option<u64>, ParseError> {
    let mut seen = seen?;
    let mut any = false;
    for element in value.split(|&b| b == b',') {
        let n = decimal(element.trim_ascii()).ok_or(ParseError::BadContentLength)?;
        if seen.is_some_and(|s| s != n) {
            return Err(ParseError::BadContentLength);
        }
        seen = Some(n);
        any = true;
    }
    if any {
        Ok(seen)
    } else {
        Err(ParseError::BadContentLength)
    }
}

/// `1*DIGIT` as a u64; `None` if empty, not all digits, or too large.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// `Keep-Alive: timeout=5, max=100` (RFC 2068 §19.7.1.1): the first value of each known parameter wins.
fn parse_keep_alive(value: &[u8], facts: &mut HeadFacts) {
    for param in value.split(|&b| b == b',' || b == b';') {
        let Some(eq) = param.iter().position(|&b| b == b'=') else {
            continue;
        };
        let name = param[..eq].trim_ascii();
        let slot = if name.eq_ignore_ascii_case(b"timeout") {
            &mut facts.keep_alive_timeout_secs
        } else if name.eq_ignore_ascii_case(b"max") {
            &mut facts.keep_alive_max
        } else {
            continue;
        };
        let raw = param[eq + 1..].trim_ascii();
        let raw = raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")).unwrap_or(raw);
        let all_digits = !raw.is_empty() && raw.iter().all(u8::is_ascii_digit);
        if slot.is_none() && all_digits {
            *slot = Some(decimal(raw).map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)));
        }
    }
}

/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1), its line end already removed.
fn parse_chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(ParseError::BadChunk);
    }
    let mut size = 0u64;
    for &b in &line[..digits] {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        size = size.checked_mul(16).and_then(|s| s.checked_add(u64::from(d))).ok_or(ParseError::BadChunk)?;
    }
    // Extensions carry nothing we use, so they are only checked for what would desynchronize framing: a
    // stray CR or control byte, or text after the size that is not an extension.
    let ext = line[digits..].trim_ascii_start();
    if !(ext.is_empty() || ext[0] == b';') || ext.iter().copied().any(is_ctl) {
        return Err(ParseError::BadChunk);
    }
    Ok(size)
}

/// A control byte other than HTAB: never valid inside a chunk line or a field line.
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the caller saw, in order, over one connection's byte stream.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Event {
        Resp(ResponseMeta),
        Eof(EofOutcome),
        Err(ParseError),
    }
    use EofOutcome::{NothingReceived, Truncated};
    use Event::{Eof, Err as Fail, Resp};

    /// Plays the engine: appends `input` in pieces of the given sizes (the rest in one piece after
    /// them), drops what the parser consumed, starts a new parser per response, and calls `eof` once
    /// everything has been delivered. `heads[i]` says whether request `i` was HEAD. One [`HeadMemo`] for
    /// the whole stream, as an engine thread has.
    fn drive(input: &[u8], cuts: &[usize], heads: &[bool]) -> Vec<Event> {
        drive_with(input, cuts, heads, Memo::Shared)
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Memo {
        Shared,
        /// A new memo per response: every head goes through httparse.
        Fresh,
    }

    fn drive_with(input: &[u8], cuts: &[usize], heads: &[bool], memo_use: Memo) -> Vec<Event> {
        let is_head = |i: usize| heads.get(i).copied().unwrap_or(false);
        let mut memo = HeadMemo::default();
        let mut out = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut index = 0;
        let mut parser = ResponseParser::new(is_head(index));
        let mut fed = 0;
        let mut cuts = cuts.iter();
        loop {
            let n = cuts.next().map_or(input.len() - fed, |&c| c.min(input.len() - fed));
            buf.extend_from_slice(&input[fed..fed + n]);
            fed += n;
            loop {
                match parser.feed(&buf, &mut memo) {
                    Ok(Feed::Incomplete { consumed }) => {
                        assert!(consumed <= buf.len(), "consumed {consumed} of {}", buf.len());
                        buf.drain(..consumed);
                        break;
                    }
                    Ok(Feed::Complete { consumed, meta }) => {
                        assert!(consumed <= buf.len(), "consumed {consumed} of {}", buf.len());
                        assert!(consumed > 0, "a fresh parser completed on no bytes");
                        buf.drain(..consumed);
                        out.push(Resp(meta));
                        index += 1;
                        parser = ResponseParser::new(is_head(index));
                        if memo_use == Memo::Fresh {
                            memo = HeadMemo::default();
                        }
                        if buf.is_empty() {
                            break;
                        }
                    }
                    Err(e) => {
                        out.push(Fail(e));
                        return out;
                    }
                }
            }
            if fed == input.len() {
                out.push(Eof(parser.eof()));
                return out;
            }
        }
    }

    fn meta(status: u16, minor_version: u8, persistent: bool, body_bytes: u64) -> ResponseMeta {
        ResponseMeta {
            status,
            minor_version,
            persistent,
            keep_alive_max: None,
            keep_alive_timeout_secs: None,
            body_bytes,
        }
    }

    fn ka(m: ResponseMeta, timeout: Option<u32>, max: Option<u32>) -> ResponseMeta {
        ResponseMeta { keep_alive_timeout_secs: timeout, keep_alive_max: max, ..m }
    }

    struct Case {
        input: &'static [u8],
        head: bool,
        want: Vec<Event>,
    }

    fn case(input: &'static [u8], want: Vec<Event>) -> Case {
        Case { input, head: false, want }
    }

    fn cases() -> Vec<Case> {
        let ok = |status, body| vec![Resp(meta(status, 1, true, body)), Eof(NothingReceived)];
        vec![
            // Content-Length body
            case(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", ok(200, 5)),
            // Content-Length zero completes with the head
            case(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ok(200, 0)),
            // identical repeated Content-Length, as a list and as two fields
            case(b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\ncontent-length:3\r\n\r\nabc", ok(200, 3)),
            // differing Content-Length
            case(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                vec![Fail(ParseError::BadContentLength)],
            ),
            // negative Content-Length
            case(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", vec![Fail(ParseError::BadContentLength)]),
            // signed Content-Length
            case(b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", vec![Fail(ParseError::BadContentLength)]),
            // empty Content-Length
            case(b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", vec![Fail(ParseError::BadContentLength)]),
            // Content-Length beyond u64
            case(
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
                vec![Fail(ParseError::BadContentLength)],
            ),
            // chunked with extensions (one quoted, holding a ';') and trailers
            case(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=val\r\nhello\r\n\
                  6 ; a=\"b;c\"\r\n world\r\n0\r\nX-Trailer: 1\r\nY: two\r\n\r\n",
                ok(200, 11),
            ),
            // chunked with upper-case hex, leading zeros and an empty trailer section
            case(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n00A\r\n0123456789\r\n0\r\n\r\n", ok(200, 10)),
            // chunked after another coding
            case(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n\
                  3\r\nabc\r\n0\r\n\r\n",
                ok(200, 3),
            ),
            // bare LF line ends throughout (RFC 9112 §2.2)
            case(b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nhi\n0\n\n", ok(200, 2)),
            // chunked not last: the body runs until close (RFC 9112 §6.3)
            case(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxyz",
                vec![Eof(EofOutcome::Complete(meta(200, 1, false, 3)))],
            ),
            // chunked twice
            case(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
                vec![Fail(ParseError::UnsupportedTransferEncoding)],
            ),
            // empty coding list
            case(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n",
                vec![Fail(ParseError::UnsupportedTransferEncoding)],
            ),
            // chunked wins over Content-Length, but the connection is not reused
            case(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n\
                  1\r\nx\r\n0\r\n\r\n",
                vec![Resp(meta(200, 1, false, 1)), Eof(NothingReceived)],
            ),
            // chunked in HTTP/1.0 is decoded, then the connection is closed
            case(
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n\
                  1\r\nx\r\n0\r\n\r\n",
                vec![Resp(meta(200, 0, false, 1)), Eof(NothingReceived)],
            ),
            // HEAD: no body whatever Content-Length says
            Case { input: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", head: true, want: ok(200, 0) },
            // HEAD: no body whatever Transfer-Encoding says
            Case { input: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", head: true, want: ok(200, 0) },
            // 204 has no body
            case(b"HTTP/1.1 204 No Content\r\n\r\n", ok(204, 0)),
            // 304 has no body even with Content-Length
            case(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", ok(304, 0)),
            // 100 Continue then the final response
            case(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", ok(200, 2)),
            // 103 Early Hints, then 100, then the final response
            case(
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n\
                  HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                ok(204, 0),
            ),
            // interim response then EOF: something arrived, so truncated
            case(b"HTTP/1.1 100 Continue\r\n\r\n", vec![Eof(Truncated)]),
            // 101 ends the HTTP exchange on this connection
            case(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                vec![Resp(meta(101, 1, false, 0)), Eof(NothingReceived)],
            ),
            // HTTP/1.0 without keep-alive
            case(
                b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
                vec![Resp(meta(200, 0, false, 1)), Eof(NothingReceived)],
            ),
            // HTTP/1.0 with keep-alive (case-insensitive, in a token list)
            case(
                b"HTTP/1.0 200 OK\r\nConnection: foo, Keep-Alive\r\nContent-Length: 1\r\n\r\nx",
                vec![Resp(meta(200, 0, true, 1)), Eof(NothingReceived)],
            ),
            // HTTP/1.0 with keep-alive and close: close wins
            case(
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                vec![Resp(meta(200, 0, false, 0)), Eof(NothingReceived)],
            ),
            // HTTP/1.1 Connection: close
            case(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                vec![Resp(meta(200, 1, false, 0)), Eof(NothingReceived)],
            ),
            // HTTP/1.1 close in a token list, upper case
            case(
                b"HTTP/1.1 200 OK\r\nConnection: Upgrade ,CLOSE\r\nContent-Length: 0\r\n\r\n",
                vec![Resp(meta(200, 1, false, 0)), Eof(NothingReceived)],
            ),
            // "closed" is not "close"
            case(b"HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n", ok(200, 0)),
            // Keep-Alive with both parameters, over HTTP/1.0
            case(
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=100\r\n\
                  Content-Length: 0\r\n\r\n",
                vec![Resp(ka(meta(200, 0, true, 0), Some(5), Some(100))), Eof(NothingReceived)],
            ),
            // Keep-Alive with max alone
            case(
                b"HTTP/1.1 200 OK\r\nKeep-Alive: max=3\r\nContent-Length: 0\r\n\r\n",
                vec![Resp(ka(meta(200, 1, true, 0), None, Some(3))), Eof(NothingReceived)],
            ),
            // Keep-Alive with odd spacing, case, separators, quotes and an unknown parameter
            case(
                b"HTTP/1.1 200 OK\r\nkeep-alive:  TIMEOUT = \"7\" ;foo=bar,   Max=  9  \r\nContent-Length: 0\r\n\r\n",
                vec![Resp(ka(meta(200, 1, true, 0), Some(7), Some(9))), Eof(NothingReceived)],
            ),
            // Keep-Alive with a non-numeric value (ignored) and a huge one (saturated)
            case(
                b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=soon, max=99999999999\r\nContent-Length: 0\r\n\r\n",
                vec![Resp(ka(meta(200, 1, true, 0), None, Some(u32::MAX))), Eof(NothingReceived)],
            ),
            // no framing: the body runs until the server closes
            case(b"HTTP/1.1 200 OK\r\n\r\nabcdef", vec![Eof(EofOutcome::Complete(meta(200, 1, false, 6)))]),
            // HTTP/1.0 keep-alive without a length still ends at close
            case(
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nab",
                vec![Eof(EofOutcome::Complete(meta(200, 0, false, 2)))],
            ),
            // body shorter than Content-Length
            case(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", vec![Eof(Truncated)]),
            // chunked body cut inside a chunk
            case(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", vec![Eof(Truncated)]),
            // chunked body cut before the final blank line
            case(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", vec![Eof(Truncated)]),
            // head cut short
            case(b"HTTP/1.1 200 OK\r\nContent-", vec![Eof(Truncated)]),
            // nothing at all
            case(b"", vec![Eof(NothingReceived)]),
            // only blank lines: nothing of a response
            case(b"\r\n\n", vec![Eof(NothingReceived)]),
            // blank lines before a response are skipped
            case(b"\r\n\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", ok(200, 1)),
            // bad protocol name in the status line
            case(b"HTTX/1.1 200 OK\r\n\r\n", vec![Fail(ParseError::BadHead(httparse::Error::Version))]),
            // non-digit status code
            case(b"HTTP/1.1 2x0 OK\r\n\r\n", vec![Fail(ParseError::BadHead(httparse::Error::Status))]),
            // status below 100
            case(b"HTTP/1.1 099 Odd\r\n\r\n", vec![Fail(ParseError::BadHead(httparse::Error::Status))]),
            // space in a header name
            case(
                b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
                vec![Fail(ParseError::BadHead(httparse::Error::HeaderName))],
            ),
            // not HTTP at all
            case(b"SSH-2.0-OpenSSH_9.6\r\n", vec![Fail(ParseError::BadHead(httparse::Error::Version))]),
            // chunk size not hex
            case(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", vec![Fail(ParseError::BadChunk)]),
            // chunk size beyond u64
            case(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
                vec![Fail(ParseError::BadChunk)],
            ),
            // text after the chunk size that is not an extension
            case(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n",
                vec![Fail(ParseError::BadChunk)],
            ),
            // bare CR inside a chunk extension
            case(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n",
                vec![Fail(ParseError::BadChunk)],
            ),
            // chunk data longer than its size
            case(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
                vec![Fail(ParseError::BadChunk)],
            ),
            // pipelined: three responses of three framings, back to back
            case(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
                  HTTP/1.1 204 No Content\r\n\r\n\
                  HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n\
                  HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\nConnection: close\r\n\r\n!",
                vec![
                    Resp(meta(200, 1, true, 3)),
                    Resp(meta(204, 1, true, 0)),
                    Resp(meta(200, 1, true, 4)),
                    Resp(meta(404, 1, false, 1)),
                    Eof(NothingReceived),
                ],
            ),
            // pipelined: a good response, then garbage
            case(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxjunk\r\n\r\n",
                vec![Resp(meta(200, 1, true, 1)), Fail(ParseError::BadHead(httparse::Error::Version))],
            ),
        ]
    }

    #[test]
    fn a_head_once_whole_says_how_its_body_ends_and_how_much_came() {
        let memo = &mut HeadMemo::default();
        // each case: bytes so far, how the body ends, body bytes so far
        for (bytes, end, body) in [
            (&b"HTTP/1.1 200 OK\r\n\r\nabc"[..], BodyEnd::Close, 3),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab", BodyEnd::Length, 2),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", BodyEnd::Chunked, 2),
        ] {
            let mut parser = ResponseParser::new(false);
            assert!(matches!(parser.feed(bytes, memo), Ok(Feed::Incomplete { .. })));
            let (meta, how) = parser.head().expect("the head is whole");
            assert_eq!((meta.status, how, meta.body_bytes), (200, end, body), "{}", String::from_utf8_lossy(bytes));
        }
        let mut parser = ResponseParser::new(false);
        let _ = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Le", memo);
        assert_eq!(parser.head(), None, "not yet whole");
    }

    #[test]
    fn table_in_one_piece() {
        for c in cases() {
            let got = drive(c.input, &[], &[c.head]);
            assert_eq!(got, c.want, "input {:?}", String::from_utf8_lossy(c.input));
        }
    }

    #[test]
    fn table_one_byte_at_a_time() {
        for c in cases() {
            let cuts = vec![1; c.input.len()];
            let got = drive(c.input, &cuts, &[c.head]);
            assert_eq!(got, c.want, "input {:?}", String::from_utf8_lossy(c.input));
        }
    }

    #[test]
    fn table_split_at_every_position() {
        for c in cases() {
            for i in 0..=c.input.len() {
                let got = drive(c.input, &[i], &[c.head]);
                assert_eq!(got, c.want, "split at {i} of {:?}", String::from_utf8_lossy(c.input));
            }
        }
    }

    #[test]
    fn table_split_at_every_pair_of_positions() {
        for c in cases() {
            for i in 0..=c.input.len() {
                for j in 0..=c.input.len() - i {
                    let got = drive(c.input, &[i, j], &[c.head]);
                    assert_eq!(got, c.want, "splits {i},{j} of {:?}", String::from_utf8_lossy(c.input));
                }
            }
        }
    }

    #[test]
    fn pipelined_head_and_get() {
        // A HEAD response carries Content-Length but no body, so the next response starts right after it.
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n\
                      HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let want = vec![Resp(meta(200, 1, true, 0)), Resp(meta(200, 1, true, 5)), Eof(NothingReceived)];
        assert_eq!(drive(input, &[], &[true, false]), want);
        assert_eq!(drive(input, &vec![1; input.len()], &[true, false]), want);
    }

    #[test]
    fn started_on_the_first_byte_even_unconsumed() {
        let mut p = ResponseParser::new(false);
        let memo = &mut HeadMemo::default();
        assert!(!p.started());
        assert_eq!(p.feed(b"", memo), Ok(Feed::Incomplete { consumed: 0 }));
        assert!(!p.started());
        assert_eq!(p.feed(b"H", memo), Ok(Feed::Incomplete { consumed: 0 }));
        assert!(p.started());
        assert_eq!(p.eof(), Truncated);
    }

    #[test]
    fn complete_parser_stays_complete() {
        let mut p = ResponseParser::new(false);
        let memo = &mut HeadMemo::default();
        let first = p.feed(b"HTTP/1.1 204 No Content\r\n\r\nHTTP", memo);
        let m = meta(204, 1, true, 0);
        assert_eq!(first, Ok(Feed::Complete { consumed: 27, meta: m }));
        assert_eq!(p.feed(b"HTTP", memo), Ok(Feed::Complete { consumed: 0, meta: m }));
        assert_eq!(p.eof(), EofOutcome::Complete(m));
    }

    #[test]
    fn failed_parser_stays_failed() {
        let mut p = ResponseParser::new(false);
        let memo = &mut HeadMemo::default();
        let e = ParseError::BadHead(httparse::Error::Version);
        assert_eq!(p.feed(b"nope\r\n\r\n", memo), Err(e));
        assert_eq!(p.feed(b"HTTP/1.1 200 OK\r\n\r\n", memo), Err(e));
        assert_eq!(p.eof(), Truncated);
    }

    #[test]
    fn body_is_consumed_as_it_arrives() {
        let len: u64 = 1 << 30;
        let mut p = ResponseParser::new(false);
        let memo = &mut HeadMemo::default();
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
        assert_eq!(p.feed(head.as_bytes(), memo), Ok(Feed::Incomplete { consumed: head.len() }));
        let block = vec![b'x'; 1 << 20];
        for _ in 1..1024 {
            assert_eq!(p.feed(&block, memo), Ok(Feed::Incomplete { consumed: block.len() }));
        }
        let mut last = block.clone();
        last.extend_from_slice(b"HTTP/1.1");
        let Ok(Feed::Complete { consumed, meta }) = p.feed(&last, memo) else { panic!("not complete") };
        assert_eq!((consumed, meta.body_bytes), (block.len(), len));
    }

    #[test]
    fn chunk_data_is_consumed_before_the_chunk_ends() {
        let mut p = ResponseParser::new(false);
        let memo = &mut HeadMemo::default();
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n";
        assert_eq!(p.feed(head, memo), Ok(Feed::Incomplete { consumed: head.len() }));
        assert_eq!(p.feed(&[0; 1000], memo), Ok(Feed::Incomplete { consumed: 1000 }));
    }

    #[test]
    fn oversized_head_is_rejected() {
        // A 70 KB field: rejected whole, a byte at a time, and once the head is complete.
        let mut input = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        input.resize(input.len() + 70 * 1024, b'a');
        assert_eq!(drive(&input, &[], &[]), vec![Fail(ParseError::HeadTooLarge)]);
        assert_eq!(drive(&input, &vec![1; input.len()], &[]), vec![Fail(ParseError::HeadTooLarge)]);
        input.extend_from_slice(b"\r\n\r\n");
        assert_eq!(drive(&input, &[], &[]), vec![Fail(ParseError::HeadTooLarge)]);
        // Garbage within the limit is reported as what it is, however large the buffer.
        let mut garbage = b"HTTP/1.1 200 OK\r\nBad Name: x\r\n".to_vec();
        garbage.resize(garbage.len() + 70 * 1024, b'a');
        let bad = vec![Fail(ParseError::BadHead(httparse::Error::HeaderName))];
        assert_eq!(drive(&garbage, &[], &[]), bad);
        assert_eq!(drive(&garbage, &[20, 5, 10], &[]), bad);
    }

    #[test]
    fn head_at_the_limit_is_accepted() {
        let prefix = b"HTTP/1.1 200 OK\r\nX-Big: ";
        let suffix = b"\r\nContent-Length: 0\r\n\r\n";
        let mut input = prefix.to_vec();
        input.resize(MAX_HEAD_BYTES - suffix.len(), b'a');
        input.extend_from_slice(suffix);
        assert_eq!(input.len(), MAX_HEAD_BYTES);
        let want = vec![Resp(meta(200, 1, true, 0)), Eof(NothingReceived)];
        assert_eq!(drive(&input, &[], &[]), want);
        assert_eq!(drive(&input, &vec![1; input.len()], &[]), want);
    }

    #[test]
    fn too_many_headers() {
        let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            input.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        input.extend_from_slice(b"\r\n");
        let want = vec![Fail(ParseError::BadHead(httparse::Error::TooManyHeaders))];
        assert_eq!(drive(&input, &[], &[]), want);
    }

    #[test]
    fn overlong_chunk_line() {
        let mut input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;".to_vec();
        input.resize(input.len() + 5000, b'e');
        assert_eq!(drive(&input, &[], &[]), vec![Fail(ParseError::BadChunk)]);
        assert_eq!(drive(&input, &[60, 100, 100], &[]), vec![Fail(ParseError::BadChunk)]);
        input.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(drive(&input, &[], &[]), vec![Fail(ParseError::BadChunk)]);
    }

    #[test]
    fn memo_recalls_only_the_same_head() {
        let memo = &mut HeadMemo::default();
        let first = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
        let Ok(Feed::Incomplete { consumed }) = ResponseParser::new(false).feed(first, memo) else { panic!() };
        assert_eq!((consumed, memo.head.as_slice()), (first.len(), &first[..]));
        // Same head, then a body and the next response behind it: recalled, and the body still framed.
        let again = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1";
        assert!(memo.recall(again).is_some());
        let mut p = ResponseParser::new(false);
        assert_eq!(p.feed(again, memo), Ok(Feed::Complete { consumed: first.len() + 2, meta: meta(200, 1, true, 2) }));
        // A different head (one more digit in a field) is not recalled: it is parsed and remembered instead.
        let longer = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n";
        assert!(memo.recall(longer).is_none());
        let mut p = ResponseParser::new(false);
        assert_eq!(p.feed(longer, memo), Ok(Feed::Incomplete { consumed: longer.len() }));
        assert_eq!(memo.head.as_slice(), &longer[..]);
        // Too long to keep: parsed, and the memo keeps the last head it could.
        let mut big = b"HTTP/1.1 204 No Content\r\nX-Big: ".to_vec();
        big.resize(big.len() + MEMO_MAX_BYTES, b'a');
        big.extend_from_slice(b"\r\n\r\n");
        assert!(matches!(ResponseParser::new(false).feed(&big, memo), Ok(Feed::Complete { .. })));
        assert_eq!(memo.head.as_slice(), &longer[..]);
    }

    #[test]
    fn names_match_ignoring_case_and_nothing_else() {
        assert!(is(b"Keep-Alive", b"keep-alive") && is(b"CONNECTION", b"connection") && is(b"close", b"close"));
        // the OR that folds letters must not fold other bytes onto them (CR onto `-` is the one exception,
        // and httparse never lets a CR into a name or a value)
        for other in [&b"keep_alive"[..], b"keep-aliv", b"keep-alive ", b"@lose", b"c\x0cose"] {
            assert!(!is(other, b"keep-alive") && !is(other, b"close"), "{other:?}");
        }
    }

    #[test]
    fn error_messages() {
        let e = ParseError::BadHead(httparse::Error::Version);
        assert_eq!(e.to_string(), "malformed response head: invalid HTTP version");
        assert_eq!(ParseError::HeadTooLarge.to_string(), "response head larger than 65536 bytes");
    }

    /// Valid single responses, to be concatenated and mutated.
    fn corpus() -> Vec<&'static [u8]> {
        cases()
            .into_iter()
            .filter(|c| !c.head && c.want.iter().all(|e| matches!(e, Resp(_) | Eof(NothingReceived))))
            .map(|c| c.input)
            .collect()
    }

    /// A byte likely to matter to the framing half the time, else any byte. A plain map, because a
    /// per-byte `prop_oneof!` makes generation ten times slower in a debug build.
    fn interesting_byte() -> impl Strategy<Value = u8> {
        const FRAMING: &[u8] = b"\r\n \t:;,=\"0159aAfFxX\x00\x7f\xff";
        any::<u8>().prop_map(|b| if b < 128 { FRAMING[usize::from(b) % FRAMING.len()] } else { b })
    }

    /// Valid responses, pipelined, with a few bytes flipped, inserted or deleted.
    fn mutated_stream() -> impl Strategy<Value = Vec<u8>> {
        mutated(prop::collection::vec(prop::sample::select(corpus()), 1..4))
    }

    /// One valid response two to five times over, a few bytes edited: heads that repeat, and heads that
    /// repeat but for an edit, as the head memo meets them.
    fn repeated_stream() -> impl Strategy<Value = Vec<u8>> {
        mutated((prop::sample::select(corpus()), 2usize..6).prop_map(|(piece, n)| vec![piece; n]))
    }

    fn mutated(pieces: impl Strategy<Value = Vec<&'static [u8]>>) -> impl Strategy<Value = Vec<u8>> {
        let edits = prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, interesting_byte()), 0..4);
        (pieces, edits).prop_map(|(pieces, edits)| {
            let mut bytes = pieces.concat();
            for (at, kind, b) in edits {
                let i = at.index(bytes.len() + 1);
                match kind {
                    0 if i < bytes.len() => bytes[i] = b,
                    1 => bytes.insert(i, b),
                    _ if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => {}
                }
            }
            bytes
        })
    }

    fn any_stream() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // pure noise
            prop::collection::vec(any::<u8>(), 0..256),
            // noise behind a plausible head start
            prop::collection::vec(interesting_byte(), 0..256)
                .prop_map(|tail| [&b"HTTP/1.1 200 OK\r\n"[..], &tail].concat()),
            // near-valid
            mutated_stream(),
            mutated_stream(),
        ]
    }

    /// 10,000 cases per property in the suite; `PROPTEST_CASES=1000000 cargo test --release --lib
    /// http::response` runs a long fuzzing session.
    fn fuzz_cases() -> u32 {
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: fuzz_cases(), failure_persistence: None, ..ProptestConfig::default() })]

        /// No input panics, consumes more than it was given (asserted in `drive`) or depends on how it
        /// was split, beyond an error showing up as truncation when the erroneous bytes were still out
        /// of sight at EOF.
        #[test]
        fn any_bytes_any_split(
            input in any_stream(),
            cuts in prop::collection::vec(0usize..48, 0..24),
            heads in prop::collection::vec(any::<bool>(), 0..4),
        ) {
            let whole = drive(&input, &[], &heads);
            let split = drive(&input, &cuts, &heads);
            match whole.last() {
                Some(&Fail(e)) => {
                    let n = whole.len() - 1;
                    prop_assert_eq!(split.len(), whole.len(), "whole {:?} split {:?}", &whole, &split);
                    prop_assert_eq!(&split[..n], &whole[..n]);
                    prop_assert!(split[n] == Fail(e) || split[n] == Eof(Truncated), "{:?}", split[n]);
                }
                _ => prop_assert_eq!(&split, &whole),
            }
        }

        /// Valid pipelined streams give the same responses however they are split.
        #[test]
        fn valid_streams_any_split(
            pieces in prop::collection::vec(prop::sample::select(corpus()), 1..5),
            cuts in prop::collection::vec(0usize..32, 0..32),
        ) {
            let input = pieces.concat();
            let whole = drive(&input, &[], &[]);
            prop_assert!(whole.iter().all(|e| !matches!(e, Fail(_))), "{:?}", whole);
            prop_assert_eq!(drive(&input, &cuts, &[]), whole);
        }

        /// The head memo changes no answer: a stream driven with one memo throughout (heads recalled) and
        /// with a new memo per response (every head parsed by httparse) gives the same events.
        #[test]
        fn memo_changes_nothing(
            input in prop_oneof![any_stream(), repeated_stream()],
            cuts in prop::collection::vec(0usize..48, 0..24),
            heads in prop::collection::vec(any::<bool>(), 0..4),
        ) {
            prop_assert_eq!(drive_with(&input, &cuts, &heads, Memo::Shared), drive_with(&input, &cuts, &heads, Memo::Fresh));
        }
    }

    #[test]
    fn a_parser_keeping_the_body_gives_it_back_decoded_whatever_the_framing() {
        // each case: the response, split after every byte, and the body it carries
        for (input, want) in [
            (&b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[..], &b"hello"[..]),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", b"hello"),
            (b"HTTP/1.0 200 OK\r\n\r\nhello", b"hello"),
        ] {
            let mut parser = ResponseParser::keeping_body(false);
            let (mut pending, mut memo) = (Vec::new(), HeadMemo::default());
            for &byte in input {
                pending.push(byte);
                match parser.feed(&pending, &mut memo).unwrap() {
                    Feed::Incomplete { consumed } | Feed::Complete { consumed, .. } => drop(pending.drain(..consumed)),
                }
            }
            assert!(matches!(parser.eof(), EofOutcome::Complete(_)));
            assert_eq!(parser.take_body(), want, "{}", input.escape_ascii());
        }
        // an ordinary parser keeps nothing
        let mut parser = ResponseParser::new(false);
        let _ = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", &mut HeadMemo::default());
        assert!(parser.take_body().is_empty());
    }
}

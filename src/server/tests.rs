//! The socket-level tests: a raw client against a server from [`spawn_local`], checking bytes on the wire and
//! the server's counters.

use super::render::bodyless;
use super::*;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every test is bounded: a hang fails instead of blocking the suite.
async fn within<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), test).await.expect("test timed out")
}

async fn start(config: ServerConfig) -> ServerHandle {
    spawn_local(config).await.expect("server starts")
}

fn stats(connections: u64, requests: u64, responses: u64, closed_by_server: u64) -> StatsSnapshot {
    let counts = StatsSnapshot { connections, requests, responses, closed_by_server, ..StatsSnapshot::default() };
    StatsSnapshot { max_in_flight: 1, ..counts }
}

#[derive(Debug)]
struct Resp {
    version: u8,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A whole response at the start of `buf` and its length, or None if more bytes are needed.
fn parse_response(buf: &[u8], head_only: bool) -> Option<(usize, Resp)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut res = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(mut at) = res.parse(buf).expect("well-formed response head") else {
        return None;
    };
    let mut resp = Resp {
        version: res.version.unwrap(),
        status: res.code.unwrap(),
        headers: res
            .headers
            .iter()
            .map(|h| (h.name.to_string(), String::from_utf8(h.value.to_vec()).unwrap()))
            .collect(),
        body: Vec::new(),
    };
    if head_only || bodyless(resp.status) {
        return Some((at, resp));
    }
    if resp.header("transfer-encoding") == Some("chunked") {
        assert!(resp.header("content-length").is_none(), "chunked and Content-Length together");
        loop {
            let httparse::Status::Complete((used, size)) = httparse::parse_chunk_size(&buf[at..]).unwrap() else {
                return None;
            };
            at += used;
            let size = size as usize;
            if size == 0 {
                if buf.len() < at + 2 {
                    return None;
                }
                assert_eq!(&buf[at..at + 2], b"\r\n", "no trailers expected");
                return Some((at + 2, resp));
            }
            if buf.len() < at + size + 2 {
                return None;
            }
            resp.body.extend_from_slice(&buf[at..at + size]);
            assert_eq!(&buf[at + size..at + size + 2], b"\r\n");
            at += size + 2;
        }
    }
    let len: usize = resp.header("content-length").expect("Content-Length").parse().unwrap();
    if buf.len() < at + len {
        return None;
    }
    resp.body.extend_from_slice(&buf[at..at + len]);
    Some((at + len, resp))
}

/// A raw test client: writes bytes, reads responses.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Client { stream, buf: Vec::new() }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    async fn read_more(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    async fn response(&mut self, head_only: bool) -> Resp {
        loop {
            if let Some((len, resp)) = parse_response(&self.buf, head_only) {
                self.buf.drain(..len);
                return resp;
            }
            let n = self.read_more().await.expect("read");
            assert!(n > 0, "EOF before a whole response; have {:?}", String::from_utf8_lossy(&self.buf));
        }
    }

    /// Reads until end of stream; Ok(bytes left after the last response) or the error kind.
    async fn end(&mut self) -> Result<Vec<u8>, io::ErrorKind> {
        loop {
            match self.read_more().await {
                Ok(0) => return Ok(std::mem::take(&mut self.buf)),
                Ok(_) => {}
                Err(e) => return Err(e.kind()),
            }
        }
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

#[tokio::test]
async fn keep_alive_answers_three_requests_on_one_connection() {
    within(async {
        let server = start(ServerConfig::default()).await;
        let mut c = Client::connect(server.addr).await;
        for _ in 0..3 {
            c.send(GET).await;
            let r = c.response(false).await;
            assert_eq!((r.version, r.status, r.body.as_slice()), (1, 200, &b"hello world\n"[..]));
            assert_eq!(r.header("content-length"), Some("12"));
            assert_eq!(r.header("content-type"), Some("text/plain"));
            assert_eq!(r.header("connection"), None);
            assert_eq!(r.header("date"), None);
        }
        assert_eq!(server.stats.snapshot(), stats(1, 3, 3, 0));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    within(async {
        let server = start(ServerConfig::default()).await;
        let mut c = Client::connect(server.addr).await;
        // HEAD answers have no body, so answering out of order would misalign the byte stream.
        c.send(
            b"GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n\
              HEAD /4 HTTP/1.1\r\n\r\nGET /5 HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .await;
        for i in 1..=5 {
            let head_only = i % 2 == 0;
            let r = c.response(head_only).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.body.len(), if head_only { 0 } else { 12 }, "response {i}");
            assert_eq!(r.header("connection"), if i == 5 { Some("close") } else { None });
        }
        assert_eq!(c.end().await, Ok(Vec::new()));
        // One write of a few hundred bytes is one loopback segment, so the server reads all five at once.
        let want = StatsSnapshot { max_in_flight: 5, ..stats(1, 5, 5, 1) };
        assert_eq!(server.stats.snapshot(), want);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn connection_close_is_answered_then_closed() {
    within(async {
        let server = start(ServerConfig::default()).await;
        let mut c = Client::connect(server.addr).await;
        c.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
        let r = c.response(false).await;
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(c.end().await, Ok(Vec::new()));
        assert_eq!(server.stats.snapshot(), stats(1, 1, 1, 1));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn http10_request_closes_unless_keep_alive() {
    within(async {
        let server = start(ServerConfig::default()).await;
        // Without keep-alive: answered, then closed.
        let mut c = Client::connect(server.addr).await;
        c.send(b"GET / HTTP/1.0\r\n\r\n").await;
        let r = c.response(false).await;
        assert_eq!((r.version, r.header("connection")), (1, Some("close")));
        assert_eq!(r.header("content-length"), Some("12"));
        assert_eq!(c.end().await, Ok(Vec::new()));
        // With keep-alive: kept, and said so.
        let mut c = Client::connect(server.addr).await;
        for _ in 0..2 {
            c.send(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").await;
            let r = c.response(false).await;
            assert_eq!(r.header("connection"), Some("Keep-Alive"));
        }
        assert_eq!(server.stats.snapshot(), stats(2, 3, 3, 1));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn http10_mode_speaks_http10() {
    within(async {
        let server = start(ServerConfig { http10: true, ..Default::default() }).await;
        let mut c = Client::connect(server.addr).await;
        c.send(GET).await;
        let r = c.response(false).await;
        assert_eq!((r.version, r.header("connection")), (0, Some("close")));
        assert_eq!(c.end().await, Ok(Vec::new()));
        let mut c = Client::connect(server.addr).await;
        c.send(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").await;
        let r = c.response(false).await;
        assert_eq!((r.version, r.header("connection")), (0, Some("Keep-Alive")));
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await;
        assert_eq!(c.response(false).await.version, 0);
        assert_eq!(server.stats.snapshot(), stats(2, 3, 3, 1));
        server.shutdown().await;
        // Chunked does not exist in HTTP/1.0.
        let err = spawn_local(ServerConfig { http10: true, chunked: true, ..Default::default() }).await;
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    })
    .await;
}

#[tokio::test]
async fn keep_alive_max_counts_down_and_closes_after_m_plus_one_responses() {
    within(async {
        let config = ServerConfig {
            keep_alive_max: Some(3),
            keep_alive_timeout: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        let server = start(config).await;
        let mut c = Client::connect(server.addr).await;
        for max in [Some("timeout=5, max=3"), Some("timeout=5, max=2"), Some("timeout=5, max=1"), None] {
            c.send(GET).await;
            let r = c.response(false).await;
            assert_eq!(r.header("keep-alive"), max);
            let connection = if max.is_some() { "Keep-Alive" } else { "close" };
            assert_eq!(r.header("connection"), Some(connection));
        }
        assert_eq!(c.end().await, Ok(Vec::new()));
        assert_eq!(server.stats.snapshot(), stats(1, 4, 4, 1));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn keep_alive_if_asked_announces_only_to_requests_that_ask_as_apache_does() {
    within(async {
        let config = ServerConfig { keep_alive_max: Some(2), keep_alive_if_asked: true, ..Default::default() };
        let server = start(config).await;
        let mut c = Client::connect(server.addr).await;
        // asked on the first request only, as connbench does: the countdown starts and then goes unsaid
        c.send(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").await;
        let first = c.response(false).await;
        assert_eq!((first.header("keep-alive"), first.header("connection")), (Some("max=2"), Some("Keep-Alive")));
        c.send(GET).await;
        let second = c.response(false).await;
        assert_eq!((second.header("keep-alive"), second.header("connection")), (None, None));
        c.send(GET).await;
        assert_eq!(c.response(false).await.header("connection"), Some("close"), "the third ends it all the same");
        assert_eq!(c.end().await, Ok(Vec::new()));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn close_after_drops_pipelined_requests_silently() {
    within(async {
        let server = start(ServerConfig { close_after: Some(CloseAfter::exactly(2)), ..Default::default() }).await;
        let mut c = Client::connect(server.addr).await;
        c.send(&GET.repeat(5)).await;
        for _ in 0..2 {
            let r = c.response(false).await;
            assert_eq!(r.header("connection"), None);
        }
        assert_eq!(c.end().await, Ok(Vec::new()), "exactly two responses, then FIN");
        let want = StatsSnapshot { max_in_flight: 5, ..stats(1, 5, 2, 1) };
        assert_eq!(server.stats.snapshot(), want);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_lifted_close_after_holds_for_the_first_connections_only() {
    within(async {
        let config =
            ServerConfig { close_after: Some(CloseAfter::exactly(1)), lift_close_after: Some(2), ..Default::default() };
        let server = start(config).await;
        // the first two connections: one response, then FIN with the second request unanswered
        for _ in 0..2 {
            let mut c = Client::connect(server.addr).await;
            c.send(&GET.repeat(2)).await;
            c.response(false).await;
            assert_eq!(c.end().await, Ok(Vec::new()));
        }
        // the third: both answered, and the connection stays open
        let mut c = Client::connect(server.addr).await;
        c.send(&GET.repeat(2)).await;
        for _ in 0..2 {
            c.response(false).await;
        }
        assert_eq!(server.stats.snapshot().closed_by_server, 2);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_listen_queue_holds_a_burst_of_connects_the_server_has_not_accepted_yet() {
    within(async {
        // 300 connects at once to a listener nobody accepts from yet: a backlog of 128 would drop the SYNs
        // beyond 129, and those connects would wait a second for the retransmission.
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut connects = tokio::task::JoinSet::new();
        for _ in 0..300 {
            connects.spawn(tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)));
        }
        let connected = connects.join_all().await;
        assert_eq!(connected.iter().filter(|c| matches!(c, Ok(Ok(_)))).count(), 300);
        drop(listener);
    })
    .await;
}

#[tokio::test]
async fn close_reads_late_requests_away_instead_of_resetting() {
    within(async {
        let server = start(ServerConfig {
            close_after: Some(CloseAfter::exactly(1)),
            delay: Duration::from_millis(50),
            ..Default::default()
        })
        .await;
        let mut c = Client::connect(server.addr).await;
        c.send(GET).await;
        // Arrives during the delay, after the server's last read.
        tokio::time::sleep(Duration::from_millis(10)).await;
        c.send(&GET.repeat(3)).await;
        c.response(false).await;
        assert_eq!(c.end().await, Ok(Vec::new()));
        // On loopback the FIN precedes any RST, so EOF alone proves nothing: a write fails only if the
        // server reset the connection (RFC 9112 §9.6: that RST can destroy unread responses elsewhere).
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(c.stream.write_all(GET).await.is_ok(), "the server reset instead of reading late requests away");
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn chunked_responses_are_well_formed() {
    within(async {
        let server = start(ServerConfig { chunked: true, ..Default::default() }).await;
        let mut c = Client::connect(server.addr).await;
        c.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
        let raw = c.end().await.unwrap();
        let raw = String::from_utf8(raw).unwrap();
        assert!(raw.contains("\r\nTransfer-Encoding: chunked\r\n"), "{raw}");
        assert!(!raw.contains("Content-Length"), "{raw}");
        assert!(raw.ends_with("\r\n\r\nc\r\nhello world\n\r\n0\r\n\r\n"), "{raw}");
        // HTTP/1.0 clients cannot decode chunks: they get a length.
        let mut c = Client::connect(server.addr).await;
        c.send(b"GET / HTTP/1.0\r\n\r\n").await;
        let r = c.response(false).await;
        assert_eq!((r.header("content-length"), r.body.as_slice()), (Some("12"), &b"hello world\n"[..]));
        // And a larger body decodes whole.
        server.shutdown().await;
        let server = start(ServerConfig { chunked: true, body_size: 100_000, ..Default::default() }).await;
        let mut c = Client::connect(server.addr).await;
        c.send(&GET.repeat(2)).await;
        for _ in 0..2 {
            assert_eq!(c.response(false).await.body, vec![b'x'; 100_000]);
        }
        assert_eq!(server.stats.snapshot(), StatsSnapshot { max_in_flight: 2, ..stats(1, 2, 2, 0) });
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn truncate_sends_half_the_body_then_closes() {
    within(async {
        let server = start(ServerConfig { truncate: true, body_size: 100, ..Default::default() }).await;
        let mut c = Client::connect(server.addr).await;
        c.send(&GET.repeat(2)).await;
        let rest = c.end().await.unwrap();
        let text = String::from_utf8(rest).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Content-Length: 100"), "{head}");
        assert_eq!(body, "x".repeat(50));
        assert_eq!(server.stats.snapshot(), StatsSnapshot { max_in_flight: 2, ..stats(1, 2, 1, 1) });
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn reset_turns_every_server_close_into_rst() {
    within(async {
        let server =
            start(ServerConfig { reset: true, idle_timeout: Some(Duration::from_millis(50)), ..Default::default() })
                .await;
        // Idle: reset with nothing said.
        let mut c = Client::connect(server.addr).await;
        assert_eq!(c.end().await, Err(io::ErrorKind::ConnectionReset));
        // Connection: close: the response (typically readable first), then RST.
        let mut c = Client::connect(server.addr).await;
        c.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
        assert_eq!(c.end().await, Err(io::ErrorKind::ConnectionReset));
        assert_eq!(server.stats.snapshot(), stats(2, 1, 1, 2));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn idle_timeout_closes_an_idle_connection() {
    within(async {
        let server = start(ServerConfig { idle_timeout: Some(Duration::from_millis(100)), ..Default::default() }).await;
        let mut c = Client::connect(server.addr).await;
        c.send(GET).await;
        c.response(false).await;
        let idle_from = Instant::now();
        assert_eq!(c.end().await, Ok(Vec::new()));
        assert!(idle_from.elapsed() >= Duration::from_millis(90), "{:?}", idle_from.elapsed());
        assert_eq!(server.stats.snapshot(), stats(1, 1, 1, 1));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn keep_alive_timeout_is_advertised_and_enforced() {
    within(async {
        let server =
            start(ServerConfig { keep_alive_timeout: Some(Duration::from_secs(1)), ..Default::default() }).await;
        let mut c = Client::connect(server.addr).await;
        c.send(GET).await;
        let r = c.response(false).await;
        assert_eq!(r.header("keep-alive"), Some("timeout=1"));
        let idle_from = Instant::now();
        assert_eq!(c.end().await, Ok(Vec::new()));
        assert!(idle_from.elapsed() >= Duration::from_millis(900), "{:?}", idle_from.elapsed());
        assert_eq!(server.stats.snapshot(), stats(1, 1, 1, 1));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn delay_delays_each_response() {
    within(async {
        let server = start(ServerConfig { delay: Duration::from_millis(100), ..Default::default() }).await;
        let mut c = Client::connect(server.addr).await;
        let sent = Instant::now();
        c.send(&GET.repeat(2)).await;
        c.response(false).await;
        let first = sent.elapsed();
        c.response(false).await;
        let second = sent.elapsed();
        assert!(first >= Duration::from_millis(95), "{first:?}");
        assert!(second >= Duration::from_millis(195), "{second:?}");
        assert_eq!(server.stats.snapshot(), StatsSnapshot { max_in_flight: 2, ..stats(1, 2, 2, 0) });
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn head_gets_no_body() {
    within(async {
        let server = start(ServerConfig::default()).await;
        let mut c = Client::connect(server.addr).await;
        c.send(b"HEAD / HTTP/1.1\r\n\r\n").await;
        let r = c.response(true).await;
        assert_eq!((r.status, r.header("content-length")), (200, Some("12")));
        // A body would show up as the start of the next response.
        c.send(GET).await;
        let r = c.response(false).await;
        assert_eq!(r.body, b"hello world\n");
        assert!(c.buf.is_empty());
        assert_eq!(server.stats.snapshot(), stats(1, 2, 2, 0));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn request_bodies_are_read_away() {
    within(async {
        let server = start(ServerConfig::default()).await;
        let mut c = Client::connect(server.addr).await;
        // By Content-Length, pipelined with a GET.
        c.send(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n").await;
        c.response(false).await;
        c.response(false).await;
        // Chunked, with an extension and a trailer, pipelined with a GET.
        c.send(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.1\r\n\r\n")
            .await;
        c.response(false).await;
        c.response(false).await;
        // A body larger than the read buffer, arriving in pieces.
        let big = 300_000;
        c.send(format!("POST / HTTP/1.1\r\nContent-Length: {big}\r\n\r\n").as_bytes()).await;
        for _ in 0..3 {
            c.send(&vec![b'b'; big / 3]).await;
        }
        c.response(false).await;
        // A GET then a POST without waiting: the overlap the client must never cause.
        c.send(b"GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n!").await;
        c.response(false).await;
        c.response(false).await;
        let want = StatsSnapshot { max_in_flight: 2, methods_post_overlap: 1, ..stats(1, 7, 7, 0) };
        assert_eq!(server.stats.snapshot(), want);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn expect_100_continue_is_answered() {
    within(async {
        let server = start(ServerConfig::default()).await;
        let mut c = Client::connect(server.addr).await;
        c.send(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n").await;
        let interim = c.response(false).await;
        assert_eq!(interim.status, 100);
        c.send(b"abc").await;
        assert_eq!(c.response(false).await.status, 200);
        assert_eq!(server.stats.snapshot(), stats(1, 1, 1, 0));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn malformed_requests_get_400_and_close() {
    within(async {
        let server = start(ServerConfig::default()).await;
        // The request before the bad one is still answered.
        let mut c = Client::connect(server.addr).await;
        c.send(b"GET / HTTP/1.1\r\n\r\nBLAH\x01 / HTTP/1.1\r\n\r\n").await;
        assert_eq!(c.response(false).await.status, 200);
        let r = c.response(false).await;
        assert_eq!((r.status, r.header("connection")), (400, Some("close")));
        assert_eq!(c.end().await, Ok(Vec::new()));
        // Content-Length with Transfer-Encoding.
        let mut c = Client::connect(server.addr).await;
        c.send(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").await;
        assert_eq!(c.response(false).await.status, 400);
        // A head that never ends within 64 KiB.
        let mut c = Client::connect(server.addr).await;
        c.send(b"GET / HTTP/1.1\r\n").await;
        c.send(format!("X-Big: {}\r\n", "a".repeat(70_000)).as_bytes()).await;
        assert_eq!(c.response(false).await.status, 431);
        assert_eq!(c.end().await, Ok(Vec::new()));
        let want = StatsSnapshot { max_in_flight: 1, ..stats(3, 1, 4, 3) };
        assert_eq!(server.stats.snapshot(), want);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn status_and_body_size_knobs() {
    within(async {
        let server = start(ServerConfig { status: 404, body_size: 0, ..Default::default() }).await;
        let mut c = Client::connect(server.addr).await;
        c.send(GET).await;
        let r = c.response(false).await;
        assert_eq!((r.status, r.header("content-length"), r.body.len()), (404, Some("0"), 0));
        server.shutdown().await;
        // A bodyless status has no framing at all; the next response follows at once.
        let server = start(ServerConfig { status: 204, ..Default::default() }).await;
        let mut c = Client::connect(server.addr).await;
        c.send(&GET.repeat(2)).await;
        for _ in 0..2 {
            let r = c.response(false).await;
            assert_eq!((r.status, r.header("content-length")), (204, None));
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    within(async {
        let server = start(ServerConfig::default()).await;
        let addr = server.addr;
        server.shutdown().await;
        let refused = TcpStream::connect(addr).await;
        assert_eq!(refused.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
    })
    .await;
}

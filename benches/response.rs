//! The response parser on the client's hot path (`cargo bench --bench response`): it runs once per
//! response, so its cost per response is part of connbench's CPU per request.
//!
//! - `pipelined_16_same_head`: 16 small nginx-like responses arrive in one read, parsed one after another
//!   the way the engine does it (a new parser per request, each fed the rest of the buffer, one head memo
//!   per engine thread): the heads are identical, as nginx's are within a second, so the memo recalls
//!   them;
//! - `pipelined_16_distinct_heads`: the same with a request id in every head, so every head misses the
//!   memo and is parsed by httparse and remembered (the memo's worst case);
//! - `chunked_64k`: one chunked response, 64 × 1 KiB chunks, in one buffer;
//! - `content_length_1m`: one 1 MiB Content-Length body, fed in 16 KiB reads.
//!
//! Figures only: the tests assert behaviour, these report time (criterion compares with the last run).

use std::hint::black_box;

use connbench::http::response::{Feed, HeadMemo, ResponseParser};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// What nginx 1.22 sends for `return 200 "hello world\n"` (ab and the peer benchmarks answer the same).
const SMALL: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 14:00:00 GMT\r\n\
Content-Type: application/octet-stream\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n";

/// Parses every response in `buf` as the engine does; returns how many completed.
fn parse_all(buf: &[u8], memo: &mut HeadMemo) -> usize {
    let mut start = 0;
    let mut done = 0;
    while start < buf.len() {
        let mut parser = ResponseParser::new(false);
        match parser.feed(&buf[start..], memo) {
            Ok(Feed::Complete { consumed, meta }) => {
                black_box(meta);
                start += consumed;
                done += 1;
            }
            other => panic!("a whole response was fed: {other:?}"),
        }
    }
    done
}

fn pipelined(c: &mut Criterion) {
    let same = SMALL.repeat(16);
    let distinct: Vec<u8> = (0..16)
        .flat_map(|id| {
            let head_end = SMALL.len() - b"\r\nhello world\n".len();
            [&SMALL[..head_end], format!("X-Request-Id: {id:08}\r\n").as_bytes(), &SMALL[head_end..]].concat()
        })
        .collect();
    let mut group = c.benchmark_group("response");
    group.throughput(Throughput::Elements(16));
    for (name, batch) in [("pipelined_16_same_head", &same), ("pipelined_16_distinct_heads", &distinct)] {
        let mut memo = HeadMemo::default();
        group.bench_function(name, |b| b.iter(|| assert_eq!(parse_all(black_box(batch), &mut memo), 16)));
    }
    group.finish();
}

fn chunked(c: &mut Criterion) {
    let mut response = b"HTTP/1.1 200 OK\r\nServer: bench\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..64 {
        response.extend_from_slice(b"400\r\n");
        response.extend(std::iter::repeat_n(b'a', 1024));
        response.extend_from_slice(b"\r\n");
    }
    response.extend_from_slice(b"0\r\n\r\n");
    let mut group = c.benchmark_group("response");
    group.throughput(Throughput::Bytes(response.len() as u64));
    group.bench_function("chunked_64k", |b| {
        b.iter(|| {
            let mut parser = ResponseParser::new(false);
            match parser.feed(black_box(&response), &mut HeadMemo::default()) {
                Ok(Feed::Complete { meta, .. }) => assert_eq!(meta.body_bytes, 64 * 1024),
                other => panic!("a whole response was fed: {other:?}"),
            }
        })
    });
    group.finish();
}

fn content_length(c: &mut Criterion) {
    const BODY: usize = 1 << 20;
    const READ: usize = 16 << 10;
    let mut response = format!("HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Length: {BODY}\r\n\r\n").into_bytes();
    response.resize(response.len() + BODY, b'a');
    let mut group = c.benchmark_group("response");
    group.throughput(Throughput::Bytes(response.len() as u64));
    group.bench_function("content_length_1m_in_16k_reads", |b| {
        b.iter(|| {
            // As the engine: what a read brought, after what the parser left unconsumed.
            let mut parser = ResponseParser::new(false);
            let mut memo = HeadMemo::default();
            let (mut start, mut end) = (0, 0);
            loop {
                end = (end + READ).min(response.len());
                match parser.feed(black_box(&response[start..end]), &mut memo) {
                    Ok(Feed::Incomplete { consumed }) => start += consumed,
                    Ok(Feed::Complete { meta, .. }) => {
                        assert_eq!(meta.body_bytes, BODY as u64);
                        break;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, pipelined, chunked, content_length);
criterion_main!(benches);

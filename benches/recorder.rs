//! The per-thread recorder (`cargo bench --bench recorder`): `completed()` runs once per response on the
//! hot path; `merge()` and `finish()` run once per thread and once per mode, so they only need to stay
//! small next to a run.
//!
//! Figures only: the tests assert behaviour, these report time (criterion compares with the last run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use connbench::plan::Mode;
use connbench::record::{Exchange, Recorder, RunShape};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const SHAPE: RunShape = RunShape { mode: Mode::Keepalive, connections: 50, depth: 1, rate: None };

/// 4096 exchanges with latencies spread from tens of µs to tens of ms (a fixed pseudo-random sequence),
/// over a 10 s timeline, mostly on reused connections.
fn exchanges(t0: Instant) -> Vec<Exchange> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..4096u64)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = t0 + Duration::from_micros(i * 2_441);
            let ttfb = Duration::from_micros(20 + x % 2_000 + if x % 97 == 0 { 30_000 } else { 0 });
            let transfer = Duration::from_micros(x % 50);
            Exchange {
                start: at,
                began: at,
                sent: at,
                first_byte: at + ttfb,
                done: at + ttfb + transfer,
                opened_connection: i % 1000 == 0,
            }
        })
        .collect()
}

/// A recorder after `n` requests over a 10 s run.
fn filled(t0: Instant, n: usize) -> Recorder {
    let mut r = Recorder::new(t0, false);
    for e in exchanges(t0).iter().cycle().take(n) {
        r.completed(e, 200);
    }
    r
}

fn completed(c: &mut Criterion) {
    let t0 = Instant::now();
    let all = exchanges(t0);
    let mut group = c.benchmark_group("recorder");
    group.throughput(Throughput::Elements(1));
    group.bench_function("completed", |b| {
        let mut r = Recorder::new(t0, false);
        let mut i = 0;
        b.iter(|| {
            r.completed(black_box(&all[i & 4095]), 200);
            i += 1;
        });
        black_box(r.requests());
    });
    group.finish();
}

fn merge(c: &mut Criterion) {
    let t0 = Instant::now();
    let (a, b) = (filled(t0, 100_000), filled(t0, 100_000));
    c.bench_function("recorder/merge", |bench| {
        bench.iter_batched_ref(|| a.clone(), |mine| mine.merge(black_box(&b)), BatchSize::LargeInput)
    });
}

fn finish(c: &mut Criterion) {
    let t0 = Instant::now();
    let r = filled(t0, 100_000);
    c.bench_function("recorder/finish", |b| {
        b.iter_batched(|| r.clone(), |r| black_box(r.finish(SHAPE, Duration::from_secs(10))), BatchSize::LargeInput)
    });
}

criterion_group!(benches, completed, merge, finish);
criterion_main!(benches);

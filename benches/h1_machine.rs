//! The HTTP/1.x state machine alone (`cargo bench --bench h1_machine`): `engine::h1_bench` drives one
//! `h1::Connection` as a driver does, with a minimal host and no recorder, so the figure is the machine's own
//! cost per request (the response parser included: `benches/response.rs` has it alone). No socket, no
//! runtime: what the tokio and io_uring drivers add is theirs.
//!
//! - `keepalive`: one request written, its whole nginx response read, the next;
//! - `pipeline_16`: a batch of 16 requests written at once, the 16 responses in one read.
//!
//! Figures only (per request: criterion's throughput); scripts/callgrind-h1.sh counts instructions instead.

use std::hint::black_box;

use connbench::engine::h1_bench::Machine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn machine(c: &mut Criterion) {
    let mut group = c.benchmark_group("h1_machine");
    for (name, depth) in [("keepalive", 1), ("pipeline_16", 16)] {
        let mut machine = Machine::new(depth);
        group.throughput(Throughput::Elements(depth));
        group.bench_function(name, |b| b.iter(|| assert_eq!(black_box(machine.round()).0, depth)));
    }
    group.finish();
}

criterion_group!(benches, machine);
criterion_main!(benches);

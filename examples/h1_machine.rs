//! The HTTP/1.x state machine alone for a fixed number of rounds, for instruction counts under callgrind
//! (scripts/callgrind-h1.sh): `h1_machine keepalive|pipeline ROUNDS`. The same rounds as
//! `benches/h1_machine.rs`, without criterion's timing loop.

use connbench::engine::h1_bench::Machine;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (depth, rounds) = match (args.get(1).map(String::as_str), args.get(2).and_then(|n| n.parse::<u64>().ok())) {
        (Some("keepalive"), Some(rounds)) => (1, rounds),
        (Some("pipeline"), Some(rounds)) => (16, rounds),
        _ => {
            eprintln!("usage: h1_machine keepalive|pipeline ROUNDS");
            std::process::exit(2);
        }
    };
    let mut machine = Machine::new(depth);
    let answered: u64 = (0..rounds).map(|_| machine.round().0).sum();
    println!("{answered} requests answered in {rounds} rounds of {depth}");
}

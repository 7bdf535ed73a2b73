//! Memory at scale (docs/design.md §7), held by count rather than by RSS: the bytes the client keeps for each
//! keep-alive connection waiting for its response, the state 10,000 connections against a server spend most
//! of their time in. A binary of its own: the count comes from a global allocator that sees every allocation
//! of the process, so nothing else may run beside it.
//!
//! The server here accepts, reads each request and never answers, so every connection waits. Live bytes are
//! read once all of them wait, for two connection counts; their difference over the difference in
//! connections is the cost of one connection, whatever the run costs once (runtimes, histograms).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use connbench::cli::{Cli, Command};
use connbench::plan::Plan;

/// Requested bytes live in the process (the allocator's own overhead not counted).
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        block
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        moved
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        unsafe { System.dealloc(block, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// What one waiting connection may cost (a debug build's figure; release is smaller): with the run's fixed
/// cost, 10,000 connections in under 48 MiB (docs/performance.md, memory).
const BUDGET: isize = 3 << 10;

/// Accepts `connections`, reads one request on each and never answers; says when all requests are in,
/// then holds the connections until the client closes them.
fn silent_server(connections: usize) -> (SocketAddr, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    let (all_in, told) = mpsc::channel();
    std::thread::spawn(move || {
        // Every connection accepted first, then their requests read: the accept queue never overflows. (The
        // 4 bytes a connection of this vector are in the count too.)
        let mut held = Vec::with_capacity(connections);
        held.extend(listener.incoming().take(connections).map(|s| s.expect("accept")));
        for mut stream in &held {
            let mut request = [0u8; 1024];
            let mut len = 0;
            while !request[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut request[len..]) {
                    Ok(0) | Err(_) => panic!("the client closed before its request was whole"),
                    Ok(n) => len += n,
                }
            }
        }
        let _ = all_in.send(());
        for mut stream in held {
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        }
    });
    (addr, told)
}

/// Live bytes of the process while `connections` keep-alive connections wait for their responses, driven by
/// `engine`.
fn live_while_waiting(engine: &str, connections: usize) -> isize {
    let (addr, all_in) = silent_server(connections);
    let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let (url, count) = (format!("http://{addr}/"), connections.to_string());
    let args = [
        "connbench",
        "run",
        &url,
        "--no-progress",
        "--mode",
        "keepalive",
        "-c",
        &count,
        "-d",
        "60s",
        "--engine",
        engine,
    ];
    let Command::Run(run) = Cli::try_parse_from(args).expect("flags parse").command else { unreachable!() };
    let plan = Plan::from_args(&run, args.iter().map(|s| s.to_string()).collect()).expect("plan is valid");
    let client = std::thread::spawn(move || connbench::measure::measure(&plan, stop).expect("run succeeds"));
    all_in.recv_timeout(Duration::from_secs(50)).expect("every connection sent its request");
    // Every request is in; the last tasks may still be on their way from the write to the wait for a read.
    let mut live = LIVE.load(Ordering::Relaxed);
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(20));
        let now = LIVE.load(Ordering::Relaxed);
        if now == live {
            break;
        }
        live = now;
    }
    stop.store(true, Ordering::Relaxed);
    let result = client.join().expect("the run ends at the stop");
    let mode = &result.runs[0];
    assert_eq!(
        (mode.connections_opened, mode.requests, mode.in_flight_at_end),
        (connections as u64, 0, connections as u64),
        "every connection was waiting for its response"
    );
    live
}

#[test]
fn a_waiting_keep_alive_connection_costs_under_three_kib() {
    // Each engine in turn: tokio's tasks, and io_uring's workers where this kernel allows a ring.
    let mut engines = vec!["tokio"];
    match connbench::engine::uring_available() {
        Ok(()) => engines.push("uring"),
        Err(why) => eprintln!("skipped: the uring pass (io_uring is not available here: {why})"),
    }
    for engine in engines {
        let (few, many) = (100, 400);
        let per_connection =
            (live_while_waiting(engine, many) - live_while_waiting(engine, few)) / (many - few) as isize;
        eprintln!("{engine}: bytes per waiting keep-alive connection: {per_connection}");
        assert!(
            per_connection <= BUDGET,
            "{engine}: a waiting connection keeps {per_connection} bytes, over the budget of {BUDGET}: a large \
             await held in the worker's future, or a buffer held while waiting?"
        );
        // The capacity check's estimate, with its smallest read buffer, never claims less than this.
        let estimate = connbench::engine::memory_per_connection(u32::MAX, false, false) as isize;
        assert!(
            estimate >= per_connection,
            "{engine}: engine::memory_per_connection says {estimate} bytes, less than the {per_connection} measured"
        );
    }
}

//! One integration-test binary (ripgrep's layout): every test talks to an embedded server bound on
//! 127.0.0.1:0 by the test itself, so nothing outside the process is needed.

// Shared helpers: start a server, run a plan, run the binary.
#[path = "suite/util.rs"]
mod util;

// Each connection mode against the server's own counters.
#[path = "suite/modes.rs"]
mod modes;

// HTTP/2 multiplexing against the embedded server's h2c: counts, stream limits, GOAWAY, RST_STREAM.
#[path = "suite/multiplex.rs"]
mod multiplex;

// Exit codes and one-line errors of the binary; Ctrl-C still writes the result.
#[path = "suite/cli.rs"]
mod cli;

// Bad input and signals: range checks, -o before any load, SIGTERM and SIGHUP, gates behind a closed pipe.
#[path = "suite/errors.rs"]
mod errors;

// The JSON result carries exactly the names of docs/design.md §5.
#[path = "suite/schema.rs"]
mod schema;

// HTTP/1.x connection rules: Keep-Alive, retries, close and reset, timeouts, malformed responses.
#[path = "suite/semantics.rs"]
mod semantics;

// Scripts and CI: --check, compare, merge, profiles, csv and markdown.
#[path = "suite/gate.rs"]
mod gate;

// Open loop: --rate schedules, coordinated-omission correction, the progress bar's manners.
#[path = "suite/rate.rs"]
mod rate;

// `connbench ports`: the kernel's TIME_WAIT count per tuple and the capacity arithmetic.
#[path = "suite/ports.rs"]
mod ports;

// Port accounting in private network namespaces with a 10-port range.
#[path = "suite/netns.rs"]
mod netns;

// `connbench probe`: each finding both ways against the embedded server's knobs.
#[path = "suite/probe.rs"]
mod probe;

// `--shard I/N` and `--start-at`: shares of one plan merged into exactly the whole.
#[path = "suite/shards.rs"]
mod shards;

// HTTPS: every mode over TLS against the server's counts, resumption, verification before any load, TLS errors.
#[path = "suite/tls.rs"]
mod tls;

// HTTPS refused in words: certificates (dates, names, a pinned CA:TRUE certificate), servers that trickle their
// handshake, answer plain HTTP or old TLS, or require a client certificate.
#[path = "suite/tls_refusals.rs"]
mod tls_refusals;

// `connbench report`: the text run printed, again from the JSON; html, csv, markdown, hgrm; bad files.
#[path = "suite/report.rs"]
mod report;

// HTTP/3 over QUIC against the embedded server's HTTP/3: counts, stream credit, GOAWAY, resets, 0-RTT, signals.
#[path = "suite/http3.rs"]
mod http3;
// `connbench page`: each strategy's loads against the server's counts, POST never pipelined, discovery, gates.
#[path = "suite/page.rs"]
mod page;
// Habits of wrk, oha, hey, h2load and k6, walked from docs/options.md's table; `connbench URL`.
#[path = "suite/habits.rs"]
mod habits;

// The examples of README.md and docs/*.md, run again against the embedded server: their shape must hold.
#[path = "suite/docs.rs"]
mod docs;

// --targets and --stages: requests per path counted by the server, orders, ramps, per-target checks, bad files.
#[path = "suite/targets.rs"]
mod targets;

// --engine: where the kernel refuses io_uring (a seccomp filter the test installs), the run says so or stops.
#[path = "suite/engines.rs"]
mod engines;

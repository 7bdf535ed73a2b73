//! One integration-test binary (ripgrep's layout): every test talks to an embedded server bound on
//! 127.0.0.1:0 by the test itself, so nothing outside the process is needed.

// Shared helpers: start a server, run a plan, run the binary.
#[path = "suite/util.rs"]
mod util;

// Each connection mode against the server's own counters (issue #2's acceptance).
#[path = "suite/modes.rs"]
mod modes;

// Exit codes and one-line errors of the binary; Ctrl-C still writes the result.
#[path = "suite/cli.rs"]
mod cli;

// The JSON result carries exactly the names of DESIGN.md §5.
#[path = "suite/schema.rs"]
mod schema;

// HTTP/1.x connection rules (issue #3): Keep-Alive, retries, close and reset, timeouts, malformed responses.
#[path = "suite/semantics.rs"]
mod semantics;

// Scripts and CI (issue #5): --check, compare, merge, profiles, csv and markdown.
#[path = "suite/gate.rs"]
mod gate;

// Open loop (issue #6): --rate schedules, coordinated-omission correction, the progress bar's manners.
#[path = "suite/rate.rs"]
mod rate;

// `connbench ports`: the kernel's TIME_WAIT count per tuple and the capacity arithmetic (issue #4).
#[path = "suite/ports.rs"]
mod ports;

// Port accounting in private network namespaces with a 10-port range (issue #4's acceptance).
#[path = "suite/netns.rs"]
mod netns;

// HTTPS: every mode over TLS against the server's counts, resumption, verification before any load, TLS errors.
#[path = "suite/tls.rs"]
mod tls;

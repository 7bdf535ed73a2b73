/*!
connbench: an HTTP load generator whose subject is connection management (HTTP/1.x and HTTP/2, over TCP or TLS).

# Layout

Data flows one way (docs/design.md §6): `cli` -> `plan` -> `engine` -> `record` -> `report`.

- `cli`: clap definitions only; `habits`: other tools' flags (wrk, oha, hey, h2load, k6) in connbench's
  spelling, or refused naming it, before clap reads the command line.
- `shard`: `--shard I/N` arithmetic (shares that add up exactly), leaf vocabulary like `mode` and `check`;
  `stages`: the open-loop rate over time (`--rate`, `--stages`) and its integral, another such leaf.
- `targets`: `--targets FILE` read (vegeta's plain and JSON formats) and checked line by line, and the order
  requests take the targets in; pure but for the body files a target names.
- `mode`, `check`, `note`, `printable`: leaf vocabulary shared by the plan, the result and the reports (the `Mode`
  enum; the `--check` grammar; the notes a result keeps; text from outside made safe to show), so that no two
  modules import each other.
- `profile`: TOML profiles (`-p FILE`), every run option, checked with file and line; no tokio.
- `plan`: flags over a profile resolved into one validated `Plan`; request bytes rendered once per mode.
- `http`: request rendering, the incremental response parser, and the connection-reuse rules
  (`http::reuse`: Keep-Alive max/timeout, pipelining only once persistent); pure, no I/O.
- `net`: the only code that makes sockets and reads kernel TCP settings and sockets; the port
  ledger (`net::ports`, pure), `--source-ip auto|kernel|LIST` parsing (`net::source`, pure) and the
  client IPs it means toward a server (`net::clients`); the transport
  (`net::stream`: plain TCP or TLS, one enum under the engine's and the server's connection loops) and its
  TLS configuration (`net::tls`).
- `engine`: the one spawn/stop loop; modes differ only in per-connection policy. `engine::pace` is the
  pure `--rate` schedule, `engine::schedule` hands scheduled requests to connections, and
  `engine::governor` asks the port ledger before every new connection and adds client IPs under `auto`.
- `record`: per-thread recorders merged at the end; the serde result type; `merge` of saved results.
- `report`: text, json, csv and markdown writers over a finished result; `gate` (`--check`) and
  `compare` math apart from their printing.
- `progress`: the progress bar, hidden off a terminal.
- `server`: the embedded server, for `run` without a URL, `serve`, and the tests.
- `commands`: one file per command (`run`, `compare`, `merge`, `report`, `serve`, `ports`, `page`), the glue from
  parsed arguments to an outcome; `measure`: one run's measurement, mode by mode; `preflight`: the target
  checked before any load. `input`: the files read whole (body, PEM, profile, results), each kind with the
  most it may hold; `output`: the `-o` file, opened before any load and written after the report;
  `signals`: SIGINT, SIGTERM and SIGHUP stop a run, which still reports.
- `manual`: shell completions and the man page, generated from `cli`.
- `page`: `connbench page`, a page and its embedded objects loaded with each strategy side by side: discovery
  (scraper), one load per strategy at a time, the critical path read from what happened, the waterfalls.
- `probe`: `connbench probe`, a report card of a server's connection management: one driver that
  observes (blocking sockets, a few connections, no load), findings as pure functions of what it saw.

`http`, `record`, `report`, `profile` and `plan` never touch tokio; only `engine` (and the embedded server)
spawn tasks.
*/

// The port accounting reads the kernel's TCP sockets over netlink sock_diag and binds with
// IP_BIND_ADDRESS_NO_PORT; the open-files limit is raised with setrlimit: Linux interfaces, no fallback.
#[cfg(not(target_os = "linux"))]
compile_error!("connbench runs on Linux only (netlink sock_diag, IP_BIND_ADDRESS_NO_PORT, /proc/sys/net)");

pub mod check;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod habits;
pub mod http;
pub mod input;
pub mod manual;
pub mod measure;
pub mod mode;
pub mod net;
pub mod note;
pub mod output;
pub mod page;
pub mod plan;
pub mod preflight;
pub mod printable;
pub mod probe;
pub mod profile;
pub mod progress;
pub mod record;
pub mod report;
pub mod server;
pub mod shard;
pub mod signals;
pub mod stages;
pub mod targets;

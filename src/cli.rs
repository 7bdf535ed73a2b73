/*!
The command-line surface (docs/design.md §1), as clap definitions only.

Nothing here reaches the engine: `plan.rs` turns these structs into one validated `Plan`.
Names and defaults are a contract that scripts and CI depend on; change them only with docs/design.md.

`run` options that a profile (`-p FILE`) may also set are `Option`s here, with their defaults in
the doc comments: `plan.rs` resolves flag, then profile, then default, so a flag always wins.
*/

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::server::CloseAfter;
use crate::shard::Shard;

#[derive(Debug, Parser)]
#[command(
    name = "connbench",
    version,
    about = "HTTP load generator about connection management: serial, parallel, keep-alive, pipelined and HTTP/2 multiplexed connections side by side, latency split by phase, client ports accounted for"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Benchmark a URL (or, with no URL, the embedded server) in one or more connection modes.
    Run(Box<RunArgs>),
    /// Run the embedded HTTP server on its own, with knobs for tests and demos.
    Serve(ServeArgs),
    /// Compare two saved results side by side, each figure with its ratio B/A; a gate with --max-regression.
    Compare(CompareArgs),
    /// Merge results of the same plan from several load machines: histograms added, percentiles recomputed.
    Merge(MergeArgs),
    /// Render saved or merged results: the text `run` printed, markdown, csv, an HTML page with charts,
    /// or one latency histogram in HdrHistogram's .hgrm format.
    Report(ReportArgs),
    /// Port capacity now: ephemeral range, TIME_WAIT per (client IP, server) tuple, free ports, and the
    /// sustainable new-connection rate.
    Ports(PortsArgs),
    /// A report card of a server's connection management, in seconds and with no load: persistence,
    /// Keep-Alive, requests per connection, idle timeout, pipelining, closes, handshake share, Nagle.
    Probe(ProbeArgs),
    /// Load a page and its embedded objects with each connection strategy (serial, parallel, persistent,
    /// pipelined, multiplexed), side by side: page-load time, connections, round trips on the critical path.
    Page(Box<PageArgs>),
    /// Print shell completions for bash, zsh, fish, elvish or powershell (e.g. `connbench completions bash >
    /// /etc/bash_completion.d/connbench`).
    Completions { shell: clap_complete::Shell },
    /// Print the man page, in roff (e.g. `mkdir -p /usr/local/share/man/man1 && connbench man >
    /// /usr/local/share/man/man1/connbench.1`).
    Man,
}

/// The connection strategies of HTTP: The Definitive Guide, ch. 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// One connection at a time, one request on each, then closed.
    Serial,
    /// -c connections at once, one request on each, then closed (as a browser fetches in parallel).
    Parallel,
    /// -c persistent connections, the next request sent when the last is answered.
    #[value(alias = "keep-alive")]
    Keepalive,
    /// -c persistent connections with up to --depth requests in flight on each, answered in order.
    Pipeline,
    /// HTTP/2 (h2c, or h2 over https): -c connections with up to --depth streams in flight on each, answered in any order.
    #[value(alias = "h2", alias = "http2", alias = "h2c")]
    Multiplex,
    /// Each of the modes above in turn, side by side (multiplex where the target speaks HTTP/2).
    All,
}

/// `--http-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HttpVersionArg {
    #[value(name = "1.0")]
    Http10,
    #[value(name = "1.1")]
    Http11,
    /// Refused with a pointer to --mode multiplex: only that mode speaks HTTP/2.
    #[value(name = "2")]
    Http2,
    #[value(name = "3")]
    Http3,
}

/// `--tls-version`: one TLS version, both the least and the most allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsVersionArg {
    #[value(name = "1.2")]
    V1_2,
    #[value(name = "1.3")]
    V1_3,
}

/// `--targets-order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetsOrderArg {
    RoundRobin,
    Random,
}

/// `--engine`: what drives the HTTP/1.x connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    Tokio,
    Uring,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloseByArg {
    Client,
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PortPolicyArg {
    Wait,
    Fail,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
    Csv,
    Markdown,
    Html,
}

/// What `report` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormatArg {
    Text,
    Markdown,
    Csv,
    Html,
    Hgrm,
}

/// What `ports` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PortsFormatArg {
    Text,
    Json,
}

/// What `compare` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormatArg {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Target URL, http://host/path or http://host:port/path. Without one, the embedded server is started on 127.0.0.1:0.
    pub url: Option<String>,

    /// Connection mode(s): serial, parallel, keepalive, pipeline, multiplex (HTTP/2: h2c, or h2 over https), or all (multiplex
    /// only if the target speaks HTTP/2); a comma list runs each in turn. [default: keepalive]
    #[arg(long, value_enum, value_delimiter = ',')]
    pub mode: Vec<ModeArg>,

    /// Concurrent connections (serial always uses 1); --vus and -u as in k6. [default: 50]
    #[arg(
        short = 'c',
        long = "connections",
        visible_alias = "vus",
        short_alias = 'u',
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub connections: Option<u32>,

    /// Requests in flight per connection in pipeline mode, streams in multiplex mode (capped by the server's
    /// SETTINGS_MAX_CONCURRENT_STREAMS). [default: 16]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub depth: Option<u32>,

    /// How long each mode runs (10s, 2m, 500ms; a bare number is seconds). Default 10s unless -n is given.
    /// -z is the same, as in hey and oha.
    #[arg(short = 'd', long, short_alias = 'z', value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Requests per mode: exactly N are issued, each ending in a whole response or one counted error
    /// (k and M suffixes: 10k, 1M).
    #[arg(short = 'n', long = "requests", value_parser = parse_count)]
    pub requests: Option<u64>,

    /// Open loop: start requests at this fixed rate (requests/s over all connections, k and M suffixes:
    /// 5k); latency counts from each request's scheduled start, so a stalled server is not under-reported
    /// (no coordinated omission). -R as in wrk2, -q as in oha.
    #[arg(long, visible_short_aliases = ['R', 'q'], value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Engine threads, each driving its share of the connections, as wrk's and h2load's -t. [default: one per
    /// core this process may use, less one for the embedded server]
    #[arg(short = 't', long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<u32>,

    /// What drives the HTTP/1.x modes' connections: tokio (epoll) or uring (io_uring, Linux); multiplex and
    /// HTTP/3 always run on tokio. [default: the one measured leaner for the mode, docs/performance.md]
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,

    /// Open loop in stages, as k6's ramping arrival rate: each DURATION:RATE moves the rate linearly from the
    /// previous stage's (0 at the start, or --rate) to RATE over DURATION; the run lasts their sum. E.g.
    /// 10s:100,30s:2000,10s:0.
    #[arg(long, value_name = "DURATION:RATE,…")]
    pub stages: Option<String>,

    /// Client IPs new connections rotate over. auto: added as the new-connection rate needs them (127.0.0.2
    /// up toward loopback, else the addresses of the route's interface); kernel: no bind, the kernel's choice;
    /// or exactly a LIST of IPs, ranges (127.0.0.2-127.0.0.40) and CIDRs, comma-separated. [default: auto]
    #[arg(long, value_name = "auto|kernel|LIST")]
    pub source_ip: Option<String>,

    /// When no client IP has a free port: wait for one, fail (exit 2 up front, or stop the mode), or off
    /// (leave it to the kernel and count EADDRNOTAVAIL).
    /// [default: wait]
    #[arg(long, value_enum)]
    pub port_policy: Option<PortPolicyArg>,

    /// Request method; -m as in oha and hey. [default: GET]
    #[arg(short = 'X', long, visible_short_alias = 'm')]
    pub method: Option<String>,

    /// Extra request header 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,

    /// Request body.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,

    /// Request body read from a file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,

    /// Speak HTTP/1.0; keep-alive and pipeline modes ask for `Connection: Keep-Alive`.
    #[arg(long = "http1.0")]
    pub http1_0: bool,

    /// Speak HTTP/3 over QUIC (https:// only): serial and parallel open a QUIC connection per request,
    /// keepalive sends one request at a time on each connection, multiplex keeps up to --depth streams on
    /// each; pipeline has no meaning over HTTP/3, and --mode all runs the other four.
    #[arg(long)]
    pub http3: bool,

    /// The HTTP version: 1.1, 1.0 (as --http1.0) or 3 (as --http3); HTTP/2 is --mode multiplex. [default: 1.1]
    #[arg(long, value_enum, value_name = "VERSION")]
    pub http_version: Option<HttpVersionArg>,

    /// HTTP/3: send the first request of a resumed connection in 0-RTT, before the handshake ends (GET and
    /// HEAD only: early data can be replayed, RFC 8470).
    #[arg(long = "0rtt")]
    pub zero_rtt: bool,

    /// Requests to send, from a file in vegeta's format (`METHOD URL`, then `Name: value` headers and `@FILE`
    /// for a body, a blank line between requests; or a JSON object per line); `-` reads standard input. All
    /// share one origin; -X, -H and --body are defaults each target can override.
    #[arg(long, value_name = "FILE", help_heading = "Several requests")]
    pub targets: Option<PathBuf>,

    /// The order requests take the targets in: each in turn, or drawn at random (see --seed).
    /// [default: round-robin]
    #[arg(long, value_enum, help_heading = "Several requests")]
    pub targets_order: Option<TargetsOrderArg>,

    /// With --targets-order random: the seed of the draws, so that a run can be repeated (the report prints
    /// the one drawn when none is given).
    #[arg(long, help_heading = "Several requests")]
    pub seed: Option<u64>,

    /// Who closes first in serial and parallel modes: client (TIME_WAIT on the client) or server (the request says Connection: close). [default: client]
    #[arg(long, value_enum)]
    pub close_by: Option<CloseByArg>,

    /// Limit on opening a connection: the TCP handshake and, for https, the TLS handshake, together. [default: 5s]
    #[arg(long, value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,

    /// Limit on each request, from its write to its last byte. [default: 10s]
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Set TCP_NODELAY on client sockets (true or false). [default: true]
    #[arg(long, action = clap::ArgAction::Set)]
    pub nodelay: Option<bool>,

    /// Write the JSON result to this file; `-` writes it to stdout, and the report goes to stderr.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,

    /// Output format on stdout; with json, csv, markdown or html, everything for people goes to stderr. [default: text]
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Never show the progress bar (it shows only when stderr is a terminal and CI is not set); --no-tui as in oha.
    #[arg(long, visible_alias = "no-tui")]
    pub no_progress: bool,

    /// wrk's --latency, accepted: the latency percentiles always print.
    #[arg(long, hide = true)]
    pub latency: bool,

    /// oha's --latency-correction, accepted: with --rate, latency always counts from each scheduled start.
    #[arg(long, hide = true)]
    pub latency_correction: bool,

    /// Run share I (from 0) of a plan that N processes run at once: -c, -n and --rate split between them,
    /// adding up exactly, and a slice of the client IPs each; `connbench merge` puts the N results together.
    #[arg(long, value_name = "I/N", help_heading = "Several load machines")]
    pub shard: Option<Shard>,

    /// Wait until this moment before the load (Unix seconds or RFC 3339), so that shards started apart
    /// measure the same window.
    #[arg(long, value_name = "TIME", value_parser = parse_start_at, help_heading = "Several load machines")]
    pub start_at: Option<std::time::SystemTime>,

    /// Let --start-at be more than a day ahead (refused otherwise, as a likely typo of the date).
    #[arg(long, requires = "start_at", help_heading = "Several load machines")]
    pub start_at_far: bool,

    /// Leave the histogram of total latency out of the text report.
    #[arg(long)]
    pub no_histogram: bool,

    /// Read run options from a TOML profile; flags given here override it (-H and --check add to its lists).
    #[arg(short = 'p', long, value_name = "FILE")]
    pub profile: Option<PathBuf>,

    /// A gate on each mode's result, 'METRIC OP VALUE' (repeatable): e.g. 'p99.total<20ms', 'error_rate<0.1%', 'non_2xx<=0', 'rps>=5000'.
    #[arg(long = "check", value_name = "EXPR")]
    pub checks: Vec<String>,

    /// Compare the result with this saved result (JSON), as `connbench compare FILE NEW` would.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// With --baseline: exit 1 when requests/s falls, or p99 total latency rises, by more than PCT (10% or 10; 0 to 100).
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub max_regression: Option<f64>,

    /// With --max-regression: gate even when the baseline's plan differs from this run's (-c, --depth,
    /// --rate, method, body, headers, target, TLS, connbench version); refused otherwise (exit 2).
    #[arg(long)]
    pub allow_plan_change: bool,

    /// https: trust the CA certificates of this PEM file beside the platform's roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// https: do not verify the server's certificate (the report says so).
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// https: resume TLS sessions (session tickets, TLS 1.3 PSKs) on new connections, as browsers do (true or
    /// false). [default: true]
    #[arg(long, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_resume: Option<bool>,

    /// https: offer this TLS version alone (with --tls and no URL, the embedded server accepts it alone too).
    /// [default: 1.3 and 1.2]
    #[arg(long, value_enum, value_name = "VERSION")]
    pub tls_version: Option<TlsVersionArg>,

    #[command(flatten)]
    pub server: ServerKnobs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference result (JSON, from `run -o`).
    #[arg(value_name = "A.json")]
    pub a: PathBuf,
    /// The result compared with it.
    #[arg(value_name = "B.json")]
    pub b: PathBuf,
    /// Exit 1 when requests/s falls, or p99 total latency rises, by more than PCT (10% or 10).
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub max_regression: Option<f64>,
    /// With --max-regression: gate even when A and B were made with different plans (-c, --depth, --rate,
    /// method, body, headers, target, TLS, connbench version); refused otherwise (exit 2).
    #[arg(long)]
    pub allow_plan_change: bool,
    /// What goes to stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CompareFormatArg,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Results (JSON) of the same plan, one per load machine.
    #[arg(required = true, num_args = 2.., value_name = "RESULT.json")]
    pub files: Vec<PathBuf>,
    /// Write the merged result here (default: stdout).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results (JSON, from `run -o` or `merge`).
    #[arg(required = true, value_name = "RESULT.json")]
    pub files: Vec<PathBuf>,
    /// What goes to stdout: text is what `run` printed; html one page with charts; hgrm one histogram.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormatArg,
    /// With --format hgrm: the latency phase, as the JSON names it (connect, ttfb, transfer, total,
    /// total_first, total_reused, total_uncorrected).
    #[arg(long, default_value = "total")]
    pub phase: String,
    /// With --format hgrm: the mode whose histogram to print, when a result has several.
    #[arg(long)]
    pub mode: Option<String>,
    /// Leave the histogram of total latency out of the text.
    #[arg(long)]
    pub no_histogram: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// With --tls: the server's certificate chain (PEM) instead of a self-signed one made at start.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "key"])]
    pub cert: Option<PathBuf>,

    /// With --cert: the certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// With --tls: accept this TLS version alone. [default: 1.3 and 1.2]
    #[arg(long, value_enum, value_name = "VERSION", requires = "tls")]
    pub tls_version: Option<TlsVersionArg>,

    #[command(flatten)]
    pub knobs: ServerKnobs,
}

#[derive(Debug, Args)]
pub struct PortsArgs {
    /// The server whose tuples to count (http://host/ or http://host:port/). Without one: every tuple holding TIME_WAIT.
    pub url: Option<String>,

    /// Client IPs to count for, as `run` takes them: auto (the first one `run` would use, and how many more
    /// it may add), kernel (the address the kernel picks for the URL), or a LIST of IPs, ranges
    /// 127.0.0.2-127.0.0.40 and CIDRs, comma-separated. [default: auto]
    #[arg(long, requires = "url", value_name = "auto|kernel|LIST")]
    pub source_ip: Option<String>,

    /// New connections per second to plan for: prints the client IPs it needs.
    #[arg(long, requires = "url", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: PortsFormatArg,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The server to probe (http://host:port/path).
    pub url: String,

    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ProbeFormatArg,

    /// The whole probe ends within this time, each experiment within its own share of it: one that runs out
    /// of its share is "not measured", an idle timeout longer than the time is "longer than".
    #[arg(long, value_parser = parse_positive_duration, default_value = "30s")]
    pub max_time: Duration,

    /// Requests sent one after another on one connection to find how many the server answers on it.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=1_000_000))]
    pub max_requests: u64,

    /// https: trust the CA certificates of this PEM file beside the platform's roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// https: do not verify the server's certificate.
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// https: offer this TLS version alone. [default: 1.3 and 1.2]
    #[arg(long, value_enum, value_name = "VERSION")]
    pub tls_version: Option<TlsVersionArg>,
}

/// The page-load strategies of HTTP: The Definitive Guide, ch. 4, and HTTP/2's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// One connection per object, one after another.
    Serial,
    /// Up to --per-host connections at once, one request each (an HTTP/1.0 browser).
    Parallel,
    /// Up to --per-host keep-alive connections per origin, reused.
    Persistent,
    /// Persistent connections with up to --depth requests in flight (idempotent objects only).
    Pipelined,
    /// One HTTP/2 connection per origin, every object a stream.
    Multiplexed,
    /// Each of the above (multiplexed where the page's origin speaks HTTP/2).
    All,
}

#[derive(Debug, Args)]
pub struct PageArgs {
    /// The page, http(s)://host/path. Without one, the embedded server is started on 127.0.0.1:0 and its page
    /// /page?objects=N&size=B is loaded (--server-objects, --server-object-size).
    pub url: Option<String>,

    /// Strategies, a comma list, in the order they take turns. [default: all]
    #[arg(long, value_enum, value_delimiter = ',')]
    pub strategy: Vec<StrategyArg>,

    /// Loads of the page with each strategy, taking turns load by load.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub loads: u32,

    /// Connections at most per origin (parallel, persistent, pipelined), as browsers allow 6.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub per_host: u32,

    /// Requests in flight at most on a pipelined connection.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub depth: u32,

    /// The objects to load after the page, one a line (URL or METHOD URL, relative to the page's), instead of
    /// those its HTML embeds.
    #[arg(long, value_name = "FILE")]
    pub objects: Option<PathBuf>,

    /// Add a projection to the report: each strategy's median load plus this round-trip time for each round
    /// trip on its critical path (what loopback does not show).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub assume_rtt: Option<Duration>,

    /// Extra request header 'Name: value' on every request (repeatable).
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,

    /// Limit on opening a connection: the TCP and, for https, the TLS handshake, together.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Limit on each request, from its write to its last byte.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Output format on stdout; with json, csv, markdown or html, everything for people goes to stderr.
    #[arg(long, value_enum, default_value = "text")]
    pub format: FormatArg,

    /// Write the JSON result to this file; `-` writes it to stdout, and the report goes to stderr.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,

    /// A gate on each strategy, 'METRIC OP VALUE' (repeatable): 'p95.page_load<500ms', 'errors<=0', 'error_rate<1%'.
    #[arg(long = "check", value_name = "EXPR")]
    pub checks: Vec<String>,

    /// https: trust the CA certificates of this PEM file beside the platform's roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// https: do not verify the server's certificate (the report says so).
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// https: resume TLS sessions on the connections of later loads, as a browser's session cache does (true or
    /// false); false makes every handshake a full one.
    #[arg(long, action = clap::ArgAction::Set, value_name = "BOOL", default_value_t = true)]
    pub tls_resume: bool,

    /// https: offer this TLS version alone. [default: 1.3 and 1.2]
    #[arg(long, value_enum, value_name = "VERSION")]
    pub tls_version: Option<TlsVersionArg>,

    /// Embedded server: images on its page. [default: 30]
    #[arg(long, value_name = "N", help_heading = "Embedded server", conflicts_with = "url",
          value_parser = clap::value_parser!(u32).range(0..=i64::from(crate::server::page::MAX_OBJECTS)))]
    pub server_objects: Option<u32>,

    /// Embedded server: bytes per image on its page. [default: 10240]
    #[arg(long, value_name = "BYTES", help_heading = "Embedded server", conflicts_with = "url",
          value_parser = clap::value_parser!(u32).range(0..=i64::from(crate::server::page::MAX_SIZE)))]
    pub server_object_size: Option<u32>,

    #[command(flatten)]
    pub server: ServerKnobs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeFormatArg {
    Text,
    Json,
}

/// The embedded server's knobs: used by `serve`, and by `run` when no URL is given.
#[derive(Debug, Args, Clone)]
pub struct ServerKnobs {
    /// Embedded server: response body size in bytes (12 gives "hello world\n"). [default: 12]
    #[arg(long, value_parser = parse_body_size, help_heading = "Embedded server")]
    pub server_body_size: Option<usize>,

    /// Embedded server: delay before each response. [default: 0s]
    #[arg(long, value_parser = parse_duration, help_heading = "Embedded server")]
    pub server_delay: Option<Duration>,

    /// Embedded server: response status code. [default: 200]
    #[arg(long, value_parser = clap::value_parser!(u16).range(200..=599), help_heading = "Embedded server")]
    pub server_status: Option<u16>,

    /// Embedded server: send bodies chunked.
    #[arg(long, help_heading = "Embedded server")]
    pub server_chunked: bool,

    /// Embedded server: behave as an HTTP/1.0 server (keep-alive only when asked).
    #[arg(long, help_heading = "Embedded server")]
    pub server_http10: bool,

    /// Embedded server: advertise Keep-Alive max=M and close after M responses.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Embedded server")]
    pub server_keep_alive_max: Option<u32>,

    /// Embedded server: advertise Keep-Alive timeout=T and close connections idle longer.
    #[arg(long, value_parser = parse_duration, help_heading = "Embedded server")]
    pub server_keep_alive_timeout: Option<Duration>,

    /// Embedded server: send Keep-Alive timeout=, max= only to requests that ask for keep-alive, as Apache does.
    #[arg(long, help_heading = "Embedded server")]
    pub server_keep_alive_if_asked: bool,

    /// Embedded server: close after N responses without saying so, even with requests queued; N-M draws a
    /// number from N to M for each connection (a busy server closing connections early).
    #[arg(long, value_name = "N[-M]", help_heading = "Embedded server")]
    pub server_close_after: Option<CloseAfter>,

    /// Embedded server: apply --server-close-after to the first N connections only, then serve without it (a
    /// limit lifted mid-run, as by an nginx reload with a larger keepalive_requests).
    #[arg(long, value_name = "N", help_heading = "Embedded server")]
    pub server_lift_close_after: Option<u64>,

    /// Embedded server: silently close connections idle this long.
    #[arg(long, value_parser = parse_duration, help_heading = "Embedded server")]
    pub server_idle_timeout: Option<Duration>,

    /// Embedded server: reset (RST) instead of closing; over HTTP/2, reset each stream (RST_STREAM).
    #[arg(long, help_heading = "Embedded server")]
    pub server_reset: bool,

    /// Embedded server: send half of each body, then close.
    #[arg(long, help_heading = "Embedded server")]
    pub server_truncate: bool,

    /// Embedded server: speak https, with a self-signed certificate made at start (`run` trusts it without -k).
    #[arg(long, help_heading = "Embedded server")]
    pub tls: bool,

    /// Embedded server (HTTP/2): send GOAWAY after N streams on a connection, refusing any that still arrive.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Embedded server")]
    pub server_goaway_after: Option<u64>,

    /// Embedded server (HTTP/2): SETTINGS_MAX_CONCURRENT_STREAMS, the streams a client may have open at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Embedded server")]
    pub server_max_streams: Option<u32>,

    /// Embedded server: stall once, e.g. 100:1s answers the 101st request (over all connections) 1 s late.
    #[arg(long, value_parser = parse_stall, value_name = "AFTER:LENGTH", help_heading = "Embedded server")]
    pub server_stall: Option<crate::server::Stall>,
}

/// A clap error as one line: its message and tips, without the usage block and the pointer to --help
/// that follow, so a script's log shows the problem on the line where it failed.
pub fn one_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let mut blocks = text.split("\n\n").map(|block| block.split_whitespace().collect::<Vec<_>>().join(" "));
    let message = blocks.next().unwrap_or_default();
    let mut line = message.strip_prefix("error: ").unwrap_or(&message).to_string();
    // A missing argument is best explained by the usage line that shows where it goes.
    let usage = err.kind() == clap::error::ErrorKind::MissingRequiredArgument;
    for block in blocks {
        if block.starts_with("tip: ") || (usage && block.starts_with("Usage: ")) {
            line.push_str(&format!(" ({})", block.replacen("Usage: ", "usage: ", 1)));
        }
    }
    line
}

pub fn parse_stall(text: &str) -> Result<crate::server::Stall, String> {
    let (after, length) = text.split_once(':').ok_or_else(|| format!("'{text}' is not AFTER:LENGTH (try 100:1s)"))?;
    let after = after.trim().parse().map_err(|_| format!("'{after}' is not a request count (try 100:1s)"))?;
    Ok(crate::server::Stall { after, length: parse_duration(length)? })
}

/// The most engine threads `--threads` takes: far more than any machine has cores.
pub const MAX_THREADS: u32 = 1024;

/// `-t/--threads`: a whole number of threads. A time (`-t 10s`) is oha's and hey's request timeout, which is
/// `--timeout` here.
pub fn parse_threads(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ if text.trim().parse::<f64>().is_err() && parse_duration(text).is_ok() => Err(format!(
            "'{text}' is a time: -t counts engine threads here, as in wrk and h2load; the request timeout (oha's and \
             hey's -t) is --timeout {text}"
        )),
        _ => Err(format!("'{text}' is not a number of threads (1 to {MAX_THREADS})")),
    }
}

/// The longest duration any option takes. Deadlines are instants (`now + d`), which overflow and panic
/// somewhere past 10^19 s; a year is longer than any benchmark, timeout or server delay means.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Durations as people type them: `10s`, `2m`, `500ms`, `1h`; a bare number means seconds (as in wrk).
/// At most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::try_from_secs_f64(secs).map_err(|_| too_long(text))?,
        Ok(_) => return Err(format!("'{text}' is not a duration (try 10s, 2m, 500ms)")),
        Err(_) => humantime::parse_duration(text).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_long(text),
            e => format!("'{text}' is not a duration ({e}; try 10s, 2m, 500ms)"),
        })?,
    };
    if duration > MAX_DURATION {
        return Err(too_long(text));
    }
    Ok(duration)
}

fn too_long(text: &str) -> String {
    format!("'{text}' is too long (at most 365 days)")
}

/// A percentage of a figure that may fall by at most all of it: `10%`, `10`, `2.5%`, from 0 to 100.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(pct) if (0.0..=100.0).contains(&pct) => Ok(pct),
        Ok(pct) if pct > 100.0 => {
            Err(format!("'{text}' is more than 100% (requests/s cannot fall by more than all of it)"))
        }
        _ => Err(format!("'{text}' is not a percentage (try 10%)")),
    }
}

/// The rates `--rate` accepts, per second: one request every 1000 s up to a billion a second. Outside
/// them the schedule's arithmetic (intervals, counts due) leaves the range of a `Duration`.
pub const RATES: std::ops::RangeInclusive<f64> = 0.001..=1e9;

/// A rate in connections (or requests) per second, within [`RATES`].
/// A duration that must be longer than 0 (a bound on a whole task, which no time at all cannot meet).
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err(format!("'{text}' is no time at all: it must be longer than 0s")),
        duration => Ok(duration),
    }
}

/// `--start-at`: Unix seconds (`1767225600`, `1767225600.5`) or RFC 3339 (`2026-12-02T21:00:00Z`).
pub fn parse_start_at(text: &str) -> Result<std::time::SystemTime, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return match Duration::try_from_secs_f64(secs) {
            Ok(since_epoch) if secs < 1e11 => Ok(std::time::UNIX_EPOCH + since_epoch),
            _ => Err(format!("'{text}' is not a time (Unix seconds, or RFC 3339 as in 2026-12-02T21:00:00Z)")),
        };
    }
    humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("'{text}' is not a time ({e}; Unix seconds, or RFC 3339 as in 2026-12-02T21:00:00Z)"))
}

/// A number as people type it on a command line: `5000`, `5k`, `1.5M`, `1e6`.
fn with_suffix(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, scale) = match text.char_indices().last()? {
        (at, 'k' | 'K') => (&text[..at], 1e3),
        (at, 'M') => (&text[..at], 1e6),
        _ => (text, 1.0),
    };
    number.parse::<f64>().ok().filter(|n| n.is_finite()).map(|n| n * scale)
}

/// `-n`: a whole number of requests, at least 1, with an optional k or M.
pub fn parse_count(text: &str) -> Result<u64, String> {
    match with_suffix(text) {
        Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= u64::MAX as f64 => Ok(n as u64),
        _ => Err(format!("'{text}' is not a number of requests (a whole number from 1, e.g. 1000, 10k, 1M)")),
    }
}

pub fn parse_rate(text: &str) -> Result<f64, String> {
    match with_suffix(text).ok_or(()) {
        Ok(rate) if RATES.contains(&rate) => Ok(rate),
        Ok(rate) if rate > *RATES.end() => Err(format!("'{text}' is more than the largest rate, 1e9 per second")),
        Ok(rate) if rate > 0.0 => Err(format!("'{text}' is less than the smallest rate, 0.001 per second")),
        _ => Err(format!("'{text}' is not a rate (a positive number per second, e.g. 5000 or 5k)")),
    }
}

/// The largest body the embedded server sends. It renders each body once and keeps it (twice, for the
/// chunked variant): a size the memory cannot hold must be refused up front, not fail an allocation.
pub const MAX_BODY_SIZE: u64 = 1 << 30;

/// `--server-body-size`: bytes, from 0 to [`MAX_BODY_SIZE`].
pub fn parse_body_size(text: &str) -> Result<usize, String> {
    match text.trim().parse::<u64>() {
        Ok(size) if size <= MAX_BODY_SIZE => Ok(size as usize),
        Ok(_) => Err(format!("'{text}' is more than the largest body, {MAX_BODY_SIZE} bytes (1 GiB)")),
        Err(_) => Err(format!("'{text}' is not a size in bytes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse_as_people_type_them() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        // wrk accepts a bare number of seconds
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").unwrap_err().contains("ten"));
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn stalls_and_rates_parse() {
        let stall = parse_stall("100:1s").unwrap();
        assert_eq!((stall.after, stall.length), (100, Duration::from_secs(1)));
        assert!(parse_stall("100").unwrap_err().contains("AFTER:LENGTH"));
        assert!(parse_stall("x:1s").unwrap_err().contains("'x'"));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-3", "inf", "fast"] {
            assert!(parse_rate(bad).unwrap_err().contains(bad), "{bad}");
        }
    }

    #[test]
    fn ports_options_need_a_url() {
        assert!(Cli::try_parse_from(["connbench", "ports", "--rate", "10"]).is_err());
        let cli = Cli::try_parse_from(["connbench", "ports", "http://127.0.0.1/", "--source-ip", "127.0.0.2"]).unwrap();
        let Command::Ports(ports) = cli.command else { panic!("not ports") };
        assert_eq!(ports.source_ip.as_deref(), Some("127.0.0.2"));
        assert_eq!(ports.format, PortsFormatArg::Text);
    }

    #[test]
    fn flags_people_bring_from_other_tools() {
        let cli = Cli::try_parse_from(["connbench", "run", "-z", "3s", "-n", "10k", "--rate", "1.5k"]).unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        assert_eq!((run.duration, run.requests, run.rate), (Some(Duration::from_secs(3)), Some(10_000), Some(1500.0)));
        assert_eq!(parse_count("1M"), Ok(1_000_000));
        assert_eq!(parse_rate("2M"), Ok(2e6));
        for bad in ["0", "1.5", "-3", "k", "10x", "1e30"] {
            assert!(parse_count(bad).is_err(), "-n {bad}");
        }
        assert!(parse_rate("inf").is_err() && parse_rate("2G").is_err());
        let at = |text| parse_start_at(text).map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis());
        assert_eq!(at("1764709200.5"), Ok(1_764_709_200_500));
        assert_eq!(at("2025-12-02T21:00:00Z"), Ok(1_764_709_200_000));
        assert!(at("tomorrow").unwrap_err().contains("is not a time"));
    }

    #[test]
    fn modes_take_a_comma_list() {
        let cli = Cli::try_parse_from(["connbench", "run", "--mode", "serial,pipeline"]).unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        assert_eq!(run.mode, vec![ModeArg::Serial, ModeArg::Pipeline]);
        // defaults are resolved in plan.rs, after the profile
        assert_eq!((run.connections, run.depth, run.nodelay), (None, None, None));
    }

    #[test]
    fn percentages_take_an_optional_sign() {
        assert_eq!(parse_percent("10%"), Ok(10.0));
        assert_eq!(parse_percent("2.5"), Ok(2.5));
        assert_eq!(parse_percent("100%"), Ok(100.0));
        assert!(parse_percent("-1%").is_err());
        assert!(parse_percent("ten").unwrap_err().contains("ten"));
        assert!(parse_percent("150%").unwrap_err().contains("more than 100%"));
    }

    #[test]
    fn values_beyond_what_the_run_can_hold_are_refused() {
        // each case: the value, what the message must say
        for (text, needle) in [
            ("1e20", "too long"),
            ("1e19", "too long"),
            ("1e30", "too long"),
            ("366d", "too long"),
            ("99999999999999999999999h", "too long"),
            ("NaN", "not a duration"),
        ] {
            assert!(parse_duration(text).unwrap_err().contains(needle), "{text}");
        }
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION));
        assert!(parse_rate("1e10").unwrap_err().contains("largest rate"));
        assert!(parse_rate("1e-9").unwrap_err().contains("smallest rate"));
        assert_eq!(parse_body_size("1073741824"), Ok(1 << 30));
        assert!(parse_body_size("99999999999999").unwrap_err().contains("largest body"));
        assert!(parse_body_size("-1").unwrap_err().contains("not a size"));
    }

    #[test]
    fn clap_errors_are_one_line() {
        // each case: arguments, what the line must say
        for (args, needle) in [
            (&["connbench", "run", "-c", "0"][..], "invalid value '0' for '--connections <CONNECTIONS>'"),
            (&["connbench", "run", "--foo"], "unexpected argument '--foo' found (tip: "),
            (&["connbench", "merge", "a.json"], "2 values required"),
            (&["connbench", "ports", "--rate", "10"], "<URL> (usage: connbench ports --rate <RATE> <URL>)"),
            (&["connbench", "run", "-d", "1e20"], "'1e20' is too long"),
        ] {
            let line = one_line(&Cli::try_parse_from(args).unwrap_err());
            assert!(line.contains(needle), "{args:?}: {line}");
            assert!(!line.contains('\n') && !line.contains("Usage") && !line.starts_with("error"), "{line}");
        }
    }
}

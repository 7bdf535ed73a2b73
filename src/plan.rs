/*!
Flags resolved into one immutable, validated `Plan` before any work starts (docs/design.md §6).

Everything that can be wrong with the user's input is found here, so a bad flag costs no load and
exits 2 with a message naming it. Each option is the flag when given, else the profile's (`-p`), else
the default of docs/design.md §1; repeatable flags (`-H`, `--check`) add to the profile's lists. The plan does not resolve names or touch the network: `preflight.rs`
does that, because the embedded server's address is only known once it is bound.
*/

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::check::{Check, Metric, Phase as CheckPhase};
use crate::cli::{
    CloseByArg, EngineArg, FormatArg, HttpVersionArg, ModeArg, PortPolicyArg, RunArgs, TargetsOrderArg, TlsVersionArg,
};
use crate::http::request::{field_problem, is_token_byte, render, RequestSpec};
pub use crate::mode::{Http, Mode};
use crate::net::source::SourceIps;
use crate::note::{Note, NoteKind};
use crate::profile::Profile;
use crate::server::{CloseAfter, ServerConfig};
use crate::shard::{Shard, WholePlan};
use crate::stages::{Schedule, Stage};
use crate::targets::{Entry, Order, Place};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseBy {
    Client,
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
    Markdown,
    Html,
}

/// What a new connection does when no client IP has a free port (docs/design.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPolicy {
    /// Pace new connections to the rate at which ports free up.
    Wait,
    /// Refuse a plan that cannot fit, and stop a mode that runs out.
    Fail,
    /// Leave it to the kernel; count its EADDRNOTAVAIL.
    Off,
}

impl PortPolicy {
    pub fn name(self) -> &'static str {
        match self {
            PortPolicy::Wait => "wait",
            PortPolicy::Fail => "fail",
            PortPolicy::Off => "off",
        }
    }
}

/// What drives a mode's HTTP/1.x connections (`engine/conn.rs` over tokio, `engine/uring.rs` over io_uring),
/// as a result records it (`"engine": "uring"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Tokio,
    Uring,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Tokio => "tokio",
            Engine::Uring => "uring",
        }
    }

    /// The engine a mode runs on when none is asked: the one that measured leaner for it on Linux 6.18
    /// against nginx (docs/performance.md, the two engines: less client CPU per request in keep-alive,
    /// pipeline and a connection per request). Multiplex has only tokio's, as has HTTP/3 (`uring_drives`).
    pub fn default_for(mode: Mode) -> Engine {
        match mode {
            Mode::Serial | Mode::Parallel | Mode::Keepalive | Mode::Pipeline => Engine::Uring,
            Mode::Multiplex => Engine::Tokio,
        }
    }

    /// Can `mode` over `http` run on io_uring? Only the HTTP/1.x modes over TCP.
    pub fn uring_drives(mode: Mode, http: Http) -> bool {
        http != Http::Http3 && !mode.is_http2()
    }
}

/// When a mode's run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    After(Duration),
    Requests(u64),
}

/// What is benchmarked.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    Url(Url),
    /// The embedded server, started in-process on 127.0.0.1:0 with this configuration.
    Embedded(ServerConfig),
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub target: TargetSpec,
    pub modes: Vec<Mode>,
    /// Multiplex is in `modes` only by `--mode all`: it runs if the target speaks HTTP/2, and is dropped
    /// with a note otherwise (an explicit `--mode multiplex` to a server that does not is an error).
    pub multiplex_if_spoken: bool,
    /// Connections per mode (serial: 1), never more than `-n` requests.
    pub connections: u32,
    /// `-c` as given, when it asked for more connections than `-n` has requests.
    pub clamped_from: Option<u32>,
    pub depth: u32,
    pub stop: Stop,
    /// Open loop: requests started per second, on a fixed schedule; with `stages`, the rate they start from.
    pub rate: Option<f64>,
    /// `--stages`: open loop, the rate ramping from stage to stage; the run lasts their sum (`stop`).
    pub stages: Vec<Stage>,
    /// What is sent: the one request of `-X`, `-H` and `--body`, or the targets of `--targets`.
    pub requests: Vec<Request>,
    /// `--targets`: where the requests came from, and the order they are taken in.
    pub targets: Option<TargetsPlan>,
    pub http10: bool,
    /// `--http3`: every mode over HTTP/3 on QUIC (pipeline excluded).
    pub http3: bool,
    /// `--0rtt`: HTTP/3's first request on a resumed connection goes in 0-RTT (GET and HEAD only).
    pub zero_rtt: bool,
    /// `--source-ip auto|kernel|LIST` [auto].
    pub source_ips: crate::net::source::SourceIps,
    pub port_policy: PortPolicy,
    pub close_by: CloseBy,
    pub nodelay: bool,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub output: Option<PathBuf>,
    pub format: Format,
    pub progress: bool,
    /// The histogram of total latency in the text report.
    pub histogram: bool,
    /// The command line as given, for the result.
    pub command: Vec<String>,
    /// `--check` gates, evaluated on each mode after the run.
    pub checks: Vec<Check>,
    /// `--baseline FILE`: a saved result to compare with after the run.
    pub baseline: Option<PathBuf>,
    /// `--max-regression PCT` (with a baseline): the gate on requests/s and p99 total.
    pub max_regression: Option<f64>,
    /// `--allow-plan-change`: gate against a baseline made with another plan.
    pub allow_plan_change: bool,
    /// `-t/--threads`: engine threads; None for one per usable core.
    pub threads: Option<u32>,
    /// `--engine`: the engine asked for, if any (else each mode's default).
    pub engine: Option<Engine>,
    /// wrk's `--latency` and oha's `--latency-correction`, accepted and answered with a note.
    pub latency_asked: bool,
    pub latency_correction_asked: bool,
    /// `--shard I/N`: this process runs share I of the plan; `whole` is the plan all N run together.
    pub shard: Option<Shard>,
    pub whole: WholePlan,
    /// `--start-at`: when the load starts.
    pub start_at: Option<std::time::SystemTime>,
    /// https (a URL's, or the embedded server's with `--tls`): verification, trusted certificates, resumption.
    pub tls: crate::net::tls::Options,
}

/// How one mode behaves on each connection: the only thing that differs between modes (docs/design.md §2).
#[derive(Debug, Clone)]
pub struct ModePlan {
    pub mode: Mode,
    /// The HTTP version its connections speak: HTTP/3 runs over QUIC (`engine/h3.rs`), the rest over TCP.
    pub http: Http,
    pub connections: u32,
    /// Requests allowed in flight on one connection once it is known to be persistent.
    pub depth: u32,
    /// Requests sent on one connection before the client closes it (serial and parallel: 1).
    pub requests_per_connection: Option<u64>,
    /// Each request of the plan (one, or a target each), rendered once as this mode sends it.
    pub requests: Arc<[Prepared]>,
    /// The order requests take them in.
    pub order: Order,
    /// `--targets`: each target's figures are kept apart.
    pub per_target: bool,
    /// Open loop (`--rate`, `--stages`): when requests are due.
    pub schedule: Option<Schedule>,
    /// `--close-by server` in serial and parallel: after the response, wait for the server's FIN. Every other
    /// response that ends its connection ends it at once.
    pub await_server_close: bool,
    pub stop: Stop,
    pub nodelay: bool,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// https: how connections are secured (the target's).
    pub tls: Option<Arc<crate::net::tls::Client>>,
    /// HTTP/3: how QUIC connections are made (the target's), and whether the first request of a resumed one
    /// goes in 0-RTT (`--0rtt`, and a method safe to replay).
    pub quic: Option<Arc<crate::net::quic::Client>>,
    pub zero_rtt: bool,
    /// What drives its connections: io_uring only for the HTTP/1.x modes (`measure.rs` decides, by `--engine`,
    /// the mode's default and whether the kernel allows io_uring).
    pub engine: Engine,
}

/// One request of the run: the request `-X`, `-H` and `--body` describe, or a target of `--targets` over them.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    /// Origin-form (`/api/users?page=2`); None: the run's URL's own (the embedded server's `/`).
    pub path: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Arc<[u8]>,
}

impl Request {
    /// RFC 9110 §9.2.2 (`http::request::idempotent`): a request that is not is never retried over HTTP/1.x,
    /// and never pipelined with another (RFC 9112 §9.3.2).
    pub fn idempotent(&self) -> bool {
        crate::http::request::idempotent(&self.method)
    }
}

/// `--targets`: where the requests came from, and the order they are taken in.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetsPlan {
    /// The file as given (`-` for standard input).
    pub file: String,
    pub order: Order,
}

/// One request as a mode sends it, rendered once: the hot path only copies these bytes.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub bytes: Vec<u8>,
    /// What a connection's first request sends instead: HTTP/1.1 keep-alive and pipeline connections ask for
    /// keep-alive (`Connection: keep-alive`, as browsers do), so that a server that announces its limits only
    /// when asked (Apache's `Keep-Alive: timeout=, max=`) announces them instead of leaving them to be learned
    /// (docs/design.md §2). None in every other mode: `bytes`.
    pub first: Option<Vec<u8>>,
    /// The same request in parts, as HTTP/2 sends it (RFC 9113 §8.3: pseudo-headers and fields, no bytes).
    pub parts: RequestParts,
    /// HEAD: its response has no body, whatever its head says.
    pub head: bool,
    /// May it be sent again when unanswered, and pipelined (`Request::idempotent`)?
    pub idempotent: bool,
}

impl Prepared {
    /// The bytes of a connection's first request.
    pub fn first(&self) -> &[u8] {
        self.first.as_deref().unwrap_or(&self.bytes)
    }
}

/// A request's method, target, fields and body, for a protocol that does not send HTTP/1.x bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParts {
    pub method: String,
    /// The `:authority` (what HTTP/1.1 sends as Host).
    pub authority: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Arc<[u8]>,
}

/// Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2), beyond those no mode lets `-H` set.
const H2_FORBIDDEN_HEADERS: [&str; 4] = ["keep-alive", "proxy-connection", "upgrade", "te"];

/// Where to connect and what to call the host; known only after resolution or binding.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: std::net::SocketAddr,
    /// Host header value.
    pub host: String,
    /// Origin-form request target.
    pub path: String,
    /// For the result and the report, its password masked.
    pub display: String,
    /// https: the TLS every connection to it speaks.
    pub tls: Option<Arc<crate::net::tls::Client>>,
    /// `--http3`: the QUIC every connection to it speaks, on the same TLS.
    pub quic: Option<Arc<crate::net::quic::Client>>,
    /// The `Authorization` value of the URL's user and password, sent with every request unless `-H` sets one.
    pub authorization: Option<String>,
}

#[cfg(test)]
impl Plan {
    /// The plan of `connbench run ARGS`: what unit tests build plans from.
    pub(crate) fn of_args(args: &[&str]) -> Result<Plan, String> {
        use clap::Parser;
        let mut full = vec!["connbench", "run"];
        full.extend_from_slice(args);
        let crate::cli::Command::Run(run) = crate::cli::Cli::try_parse_from(full).unwrap().command else {
            unreachable!()
        };
        Plan::from_args(&run, vec![])
    }
}

#[cfg(test)]
impl Target {
    /// Plain HTTP to `addr`, path `/`: what unit tests aim at.
    pub(crate) fn plain(addr: std::net::SocketAddr) -> Target {
        Target {
            addr,
            host: "h".into(),
            path: "/".into(),
            display: "x".into(),
            tls: None,
            quic: None,
            authorization: None,
        }
    }
}

// NOTE: the defaults of docs/design.md §1, also written in the `[default: …]` of cli.rs's doc comments.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
pub const DEFAULT_CONNECTIONS: u32 = 50;
pub const DEFAULT_DEPTH: u32 = 16;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Plan {
    /// The plan of `connbench run`: the flags, over the profile they name (if any).
    pub fn from_args(args: &RunArgs, command: Vec<String>) -> Result<Plan, String> {
        let profile = match &args.profile {
            Some(path) => Profile::load(path)?,
            None => Profile::default(),
        };
        Plan::resolve(args, &profile, command)
    }

    /// Flag, else profile, else default; then validated. An error about a value the profile gave names
    /// the profile's file and line rather than a flag that was never given.
    pub fn resolve(args: &RunArgs, profile: &Profile, mut command: Vec<String>) -> Result<Plan, String> {
        // A URL's password and a credential header are sent, never written: the command line is kept with them
        // masked.
        for word in command.iter_mut().filter(|word| args.url.as_deref() == Some(word.as_str())) {
            *word = mask_password(word);
        }
        mask_credential_headers(&mut command);
        // The program as people type it, not the path of the binary that ran: a build directory says
        // nothing about the run, and a home directory is no reader's business.
        if let Some(program) = command.first_mut() {
            *program = env!("CARGO_PKG_NAME").into();
        }
        let blame = |by_flag: bool, key: &'static str, flag: &'static str| {
            move |error: String| if by_flag { error } else { profile.blame(key, flag, error) }
        };
        let mut tls = crate::net::tls::Options {
            insecure: args.insecure || profile.insecure == Some(true),
            resume: args.tls_resume.or(profile.tls_resume).unwrap_or(true),
            extra_roots: match (&args.cacert, &profile.cacert) {
                (Some(path), _) => crate::net::tls::read_certificates(path, "--cacert")?,
                (None, Some(path)) => {
                    crate::net::tls::read_certificates(path, "--cacert").map_err(blame(false, "cacert", "--cacert"))?
                }
                (None, None) => Vec::new(),
            },
            version: tls_version(args.tls_version.or(profile.tls_version)),
        };
        let serve_tls = args.server.tls || profile.server_tls == Some(true);
        let targets_file = match (&args.targets, &profile.targets) {
            (Some(path), _) => Some((path, true)),
            (None, Some(path)) => Some((path, false)),
            (None, None) => None,
        };
        let entries = match targets_file {
            Some((path, by_flag)) => Some(read_targets(path).map_err(blame(by_flag, "targets", "--targets"))?),
            None => None,
        };
        // Without a URL, the targets' own origin is the target, if they name one.
        let first_absolute = match (&entries, targets_file) {
            (Some(entries), Some((path, by_flag))) => {
                first_absolute_url(entries, path).map_err(blame(by_flag, "targets", "--targets"))?
            }
            _ => None,
        };
        let target = match (&args.url, &profile.url, first_absolute) {
            (Some(_), _, _) | (_, Some(_), _) if serve_tls => {
                return Err("--tls is for the embedded server (no URL); an https:// URL speaks TLS by itself".into())
            }
            (None, None, Some(_)) if serve_tls => {
                return Err("--tls is for the embedded server (targets with paths alone, /api/users); these name \
                            their URL, and an https:// URL speaks TLS by itself"
                    .into())
            }
            (Some(text), _, _) => TargetSpec::Url(parse_url(text)?),
            (None, Some(text), _) => TargetSpec::Url(parse_url(text).map_err(blame(false, "url", "URL"))?),
            (None, None, Some(url)) => TargetSpec::Url(origin_of(&url)),
            (None, None, None) => {
                let mut config = server_config(&args.server, profile);
                if serve_tls {
                    // Made now, trusted by this run only.
                    let identity = crate::net::tls::Identity::self_signed()?;
                    tls.extra_roots.extend(identity.chain.iter().cloned());
                    config.tls = Some(identity.server_config(tls.version)?);
                }
                TargetSpec::Embedded(config)
            }
        };
        let (http10, http3) = http_version(args, profile)?;
        if http3 && tls.version == Some(crate::net::tls::Version::Tls12) {
            return Err("--tls-version 1.2: QUIC carries TLS 1.3 alone (RFC 9001 §4.2); drop it or --http3".into());
        }
        let https = match &target {
            TargetSpec::Url(url) => url.scheme() == "https",
            TargetSpec::Embedded(config) => config.tls.is_some(),
        };
        if http3 && !https {
            return Err(
                "--http3: HTTP/3 runs over QUIC, which is always encrypted: use an https:// URL (or --tls for \
                        the embedded server)"
                    .into(),
            );
        }
        let mode_args = match (&args.mode[..], &profile.mode[..]) {
            ([], []) => &[ModeArg::Keepalive][..],
            ([], from_profile) => from_profile,
            (from_flags, _) => from_flags,
        };
        let mut modes = Vec::new();
        for arg in mode_args {
            let expanded: &[Mode] = match arg {
                ModeArg::Serial => &[Mode::Serial],
                ModeArg::Parallel => &[Mode::Parallel],
                ModeArg::Keepalive => &[Mode::Keepalive],
                ModeArg::Pipeline if http3 => {
                    return Err("--mode pipeline has no meaning over HTTP/3: each request has a QUIC stream of its \
                                own, answered in any order; --mode multiplex keeps up to --depth of them in flight on \
                                each connection"
                        .into())
                }
                ModeArg::Pipeline => &[Mode::Pipeline],
                ModeArg::Multiplex => &[Mode::Multiplex],
                // Over HTTP/3 each request has a stream of its own: nothing is pipelined.
                ModeArg::All if http3 => &[Mode::Serial, Mode::Parallel, Mode::Keepalive, Mode::Multiplex],
                ModeArg::All => &Mode::ALL,
            };
            for mode in expanded {
                if !modes.contains(mode) {
                    modes.push(*mode);
                }
            }
        }
        // `all` means every mode the target speaks: HTTP/2 only if a check finds it does (preflight.rs).
        let multiplex_if_spoken = !mode_args.contains(&ModeArg::Multiplex);
        let given_method = args.method.as_deref().or(profile.method.as_deref()).unwrap_or("GET");
        let method = given_method.to_ascii_uppercase();
        if method.is_empty() || !method.bytes().all(is_token_byte) {
            let error = format!("-X/--method: '{given_method}' is not an HTTP method");
            return Err(blame(args.method.is_some(), "method", "-X/--method")(error));
        }
        let mut headers = Vec::new();
        for (text, by_flag) in profile.headers.iter().map(|h| (h, false)).chain(args.headers.iter().map(|h| (h, true)))
        {
            headers.push(parse_header(text).map_err(blame(by_flag, "headers", "-H"))?);
        }
        if let (true, Some((text, by_flag))) = (
            modes.contains(&Mode::Multiplex) || http3,
            profile.headers.iter().map(|h| (h, false)).chain(args.headers.iter().map(|h| (h, true))).find(|(h, _)| {
                let name = h.split(':').next().unwrap_or_default().trim();
                H2_FORBIDDEN_HEADERS.iter().any(|f| name.eq_ignore_ascii_case(f))
            }),
        ) {
            let error = if http3 {
                format!("-H '{text}': a connection-specific header, which HTTP/3 forbids (RFC 9114 §4.2); drop it or --http3")
            } else {
                format!(
                    "-H '{text}': a connection-specific header, which HTTP/2 forbids (RFC 9113 §8.2.2); drop it or \
                     the multiplex mode"
                )
            };
            return Err(blame(by_flag, "headers", "-H")(error));
        }
        let by_flag = args.body.is_some() || args.body_file.is_some();
        let (body, body_file) = match (&args.body, &args.body_file) {
            (None, None) => (&profile.body, &profile.body_file),
            given => given,
        };
        let body = match (body, body_file) {
            // clap refuses --body with --body-file, so both came from the profile
            (Some(_), Some(_)) => {
                return Err(profile.blame("body_file", "--body", "body and body_file cannot be used together".into()))
            }
            (Some(body), None) => body.clone().into_bytes(),
            (None, Some(path)) => crate::input::read(path, crate::input::Kind::Body)
                .map_err(|e| format!("--body-file {}: {e}", path.display()))
                .map_err(blame(by_flag, "body_file", "--body-file"))?,
            (None, None) => Vec::new(),
        };
        let default = Request { method, path: None, headers, body: body.into() };
        let (requests, targets) = match (entries, targets_file) {
            (Some(entries), Some((path, by_flag))) => {
                let name = path.display().to_string();
                let given = match &target {
                    TargetSpec::Url(url) if args.url.is_some() || profile.url.is_some() => Some(url),
                    TargetSpec::Url(_) | TargetSpec::Embedded(_) => None,
                };
                // HTTP/2 and HTTP/3 forbid connection-specific fields (RFC 9113 §8.2.2, RFC 9114 §4.2).
                let forbidden = match (http3, modes.contains(&Mode::Multiplex)) {
                    (true, _) => Some("HTTP/3 forbids (RFC 9114 §4.2); drop it or --http3"),
                    (false, true) => Some("HTTP/2 forbids (RFC 9113 §8.2.2); drop it or the multiplex mode"),
                    (false, false) => None,
                };
                let requests = targets_requests(entries, &name, given, &default, forbidden).map_err(blame(
                    by_flag,
                    "targets",
                    "--targets",
                ))?;
                let order = match args.targets_order.or(profile.targets_order).unwrap_or(TargetsOrderArg::RoundRobin) {
                    TargetsOrderArg::RoundRobin => Order::RoundRobin,
                    TargetsOrderArg::Random => {
                        Order::Random { seed: args.seed.or(profile.seed).unwrap_or_else(crate::targets::fresh_seed) }
                    }
                };
                (requests, Some(TargetsPlan { file: name, order }))
            }
            _ => (vec![default], None),
        };
        if targets.is_none() && (args.targets_order.is_some() || args.seed.is_some()) {
            let flag = if args.seed.is_some() { "--seed" } else { "--targets-order" };
            return Err(format!("{flag} orders the targets of --targets FILE, and there is none"));
        }
        if args.seed.is_some() && args.targets_order.or(profile.targets_order) != Some(TargetsOrderArg::Random) {
            return Err("--seed is for --targets-order random: round-robin draws nothing".into());
        }
        let stages = match (&args.stages, &profile.stages) {
            (Some(text), _) => crate::stages::parse(text).map_err(|e| format!("--stages {e}"))?,
            (None, Some(stages)) => stages.clone(),
            (None, None) => Vec::new(),
        };
        let by_flag = args.requests.is_some() || args.duration.is_some();
        let (requests_asked, duration) = match (args.requests, args.duration) {
            (None, None) => (profile.requests, profile.duration),
            given => given,
        };
        if !stages.is_empty() {
            let (flag, key) = match (requests_asked, duration) {
                (Some(_), _) => ("-n", "requests"),
                (_, Some(_)) => ("-d", "duration"),
                (None, None) => ("", ""),
            };
            if !flag.is_empty() {
                let error = format!(
                    "{flag} cannot be used with --stages: the stages are the schedule, and the run lasts their sum \
                     ({})",
                    humantime::format_duration(crate::stages::total(&stages))
                );
                let by_flag = if flag == "-n" { args.requests.is_some() } else { args.duration.is_some() };
                return Err(blame(by_flag, key, flag)(error));
            }
        }
        let stop = match (requests_asked, duration) {
            _ if !stages.is_empty() => Stop::After(crate::stages::total(&stages)),
            (Some(_), Some(_)) if by_flag => {
                return Err("-n/--requests and -d/--duration cannot be used together".into())
            }
            (Some(_), Some(_)) => {
                return Err(profile.blame("duration", "-d", "requests and duration cannot be used together".into()))
            }
            (Some(n), None) => Stop::Requests(n),
            (None, Some(d)) if d.is_zero() => {
                let error = "-d/--duration must be longer than 0s".to_string();
                return Err(blame(by_flag, "duration", "-d/--duration")(error));
            }
            (None, Some(d)) => Stop::After(d),
            (None, None) => Stop::After(DEFAULT_DURATION),
        };
        let timeout = args.timeout.or(profile.timeout).unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            let error = "--timeout must be longer than 0s".to_string();
            return Err(blame(args.timeout.is_some(), "timeout", "--timeout")(error));
        }
        let connect_timeout = args.connect_timeout.or(profile.connect_timeout).unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        if connect_timeout.is_zero() {
            let error = "--connect-timeout must be longer than 0s".to_string();
            return Err(blame(args.connect_timeout.is_some(), "connect_timeout", "--connect-timeout")(error));
        }
        let mut checks = profile.checks.clone();
        for text in &args.checks {
            checks.push(Check::parse(text)?);
        }
        if let Some(check) = checks.iter().find(|c| matches!(c.metric, Metric::Latency(_, CheckPhase::PageLoad))) {
            return Err(format!("--check '{check}': page_load is measured by connbench page, not run"));
        }
        let baseline = args.baseline.clone().or_else(|| profile.baseline.clone());
        let max_regression = args.max_regression.or(profile.max_regression);
        if max_regression.is_some() && baseline.is_none() {
            let error = "--max-regression needs --baseline FILE (a saved result to compare with)".to_string();
            return Err(blame(args.max_regression.is_some(), "max_regression", "--max-regression")(error));
        }
        let source_ips = match (&args.source_ip, &profile.source_ip) {
            (Some(text), _) => SourceIps::parse(text)?,
            (None, Some(text)) => SourceIps::parse(text).map_err(blame(false, "source_ip", "--source-ip"))?,
            (None, None) => SourceIps::Auto,
        };
        let zero_rtt = args.zero_rtt || profile.zero_rtt == Some(true);
        if zero_rtt && !http3 {
            let error = "--0rtt is for HTTP/3 (--http3): TLS over TCP sends no early data here".to_string();
            return Err(blame(args.zero_rtt, "zero_rtt", "--0rtt")(error));
        }
        if http3 && args.close_by.or(profile.close_by) == Some(CloseByArg::Server) {
            return Err("--close-by server has no meaning over HTTP/3: a QUIC connection leaves no TIME_WAIT \
                        to place, and the client closes it after its response"
                .into());
        }
        let asked_connections = args.connections.or(profile.connections);
        let mut connections = asked_connections.unwrap_or(DEFAULT_CONNECTIONS);
        // More connections than requests would open connections that never carry one, and pay for their
        // buffers and handshakes: with -n, one connection per request at most.
        if let Stop::Requests(n) = stop {
            connections = connections.min(u32::try_from(n).unwrap_or(u32::MAX));
        }
        let clamped_from = asked_connections.filter(|&asked| asked > connections);
        let rate = args.rate.or(profile.rate);
        let whole = WholePlan {
            connections,
            rate,
            requests: match stop {
                Stop::Requests(n) => Some(n),
                Stop::After(_) => None,
            },
        };
        if let Some(at) = args.start_at {
            check_start_at(at, std::time::SystemTime::now(), args.start_at_far)?;
        }
        let (connections, stop, rate, source_ips) = match args.shard {
            Some(shard) => split(shard, connections, stop, rate, source_ips)?,
            None => (connections, stop, rate, source_ips),
        };
        // A shard runs its share of every stage's rate, as of --rate.
        let stages = match args.shard {
            Some(shard) => stages.iter().map(|s| Stage { rate: shard.rate(s.rate), ..*s }).collect(),
            None => stages,
        };
        Ok(Plan {
            target,
            modes,
            multiplex_if_spoken,
            connections,
            clamped_from,
            depth: args.depth.or(profile.depth).unwrap_or(DEFAULT_DEPTH),
            stop,
            rate,
            stages,
            requests,
            targets,
            http10,
            http3,
            zero_rtt,
            source_ips,
            port_policy: match args.port_policy.or(profile.port_policy).unwrap_or(PortPolicyArg::Wait) {
                PortPolicyArg::Wait => PortPolicy::Wait,
                PortPolicyArg::Fail => PortPolicy::Fail,
                PortPolicyArg::Off => PortPolicy::Off,
            },
            close_by: match args.close_by.or(profile.close_by).unwrap_or(CloseByArg::Client) {
                CloseByArg::Client => CloseBy::Client,
                CloseByArg::Server => CloseBy::Server,
            },
            nodelay: args.nodelay.or(profile.nodelay).unwrap_or(true),
            connect_timeout,
            timeout,
            output: args.output.clone().or_else(|| profile.output.clone()),
            format: match args.format.or(profile.format).unwrap_or(FormatArg::Text) {
                FormatArg::Text => Format::Text,
                FormatArg::Json => Format::Json,
                FormatArg::Csv => Format::Csv,
                FormatArg::Markdown => Format::Markdown,
                FormatArg::Html => Format::Html,
            },
            progress: !(args.no_progress || profile.no_progress == Some(true)),
            histogram: !(args.no_histogram || profile.no_histogram == Some(true)),
            command,
            checks,
            baseline,
            max_regression,
            allow_plan_change: args.allow_plan_change || profile.allow_plan_change == Some(true),
            threads: args.threads.or(profile.threads),
            engine: args.engine.or(profile.engine).map(|engine| match engine {
                EngineArg::Tokio => Engine::Tokio,
                EngineArg::Uring => Engine::Uring,
            }),
            latency_asked: args.latency,
            latency_correction_asked: args.latency_correction,
            shard: args.shard,
            whole,
            start_at: args.start_at,
            tls,
        })
    }

    /// The per-connection behaviour and request bytes of one mode against a resolved target.
    pub fn mode_plan(&self, mode: Mode, target: &Target) -> ModePlan {
        let one_shot = matches!(mode, Mode::Serial | Mode::Parallel);
        let await_server_close = one_shot && self.close_by == CloseBy::Server;
        let connection = if await_server_close {
            Some("close")
        } else if self.http10 && !one_shot {
            // HTTP/1.0 connections persist only when asked (the Keep-Alive extension of HTTP: The Definitive Guide, ch. 4).
            Some("Keep-Alive")
        } else {
            None
        };
        let asks_keep_alive = matches!(mode, Mode::Keepalive | Mode::Pipeline) && connection.is_none();
        let prepare = |request: &Request| {
            let mut headers = request.headers.clone();
            if let Some(credentials) = &target.authorization {
                if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("authorization")) {
                    headers.push(("Authorization".into(), credentials.clone()));
                }
            }
            let path = request.path.as_deref().unwrap_or(&target.path);
            let spec = RequestSpec {
                method: &request.method,
                target: path,
                host: &target.host,
                headers: &headers,
                body: &request.body,
                http10: self.http10,
                connection,
            };
            Prepared {
                bytes: render(&spec),
                first: asks_keep_alive.then(|| render(&RequestSpec { connection: Some("keep-alive"), ..spec.clone() })),
                parts: RequestParts {
                    method: request.method.clone(),
                    authority: target.host.clone(),
                    path: path.to_string(),
                    headers,
                    body: request.body.clone(),
                },
                head: request.method == "HEAD",
                idempotent: request.idempotent(),
            }
        };
        let (connections, depth) = self.shape(mode);
        let http = self.http(mode);
        ModePlan {
            mode,
            http,
            connections,
            depth,
            requests_per_connection: one_shot.then_some(1),
            requests: self.requests.iter().map(prepare).collect(),
            order: self.targets.as_ref().map_or(Order::RoundRobin, |t| t.order),
            per_target: self.targets.is_some(),
            schedule: self.schedule(),
            await_server_close,
            stop: self.stop,
            // A plain connection that carries one request writes once: Nagle never holds a first write back,
            // so TCP_NODELAY would be a syscall per connection that changes nothing. Over TLS the request follows
            // the client's last handshake flight (its Finished), which the server need not answer: Nagle holds
            // the request until the server's delayed ACK, 40 ms on Linux (RFC 1122 §4.2.3.2, §4.2.3.4).
            nodelay: self.nodelay && (!one_shot || target.tls.is_some()),
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            // HTTP/2 over TLS is chosen in the handshake: multiplex offers ALPN h2 alone.
            tls: match mode {
                Mode::Multiplex => target.tls.as_ref().map(|client| Arc::new(client.for_h2())),
                Mode::Serial | Mode::Parallel | Mode::Keepalive | Mode::Pipeline => target.tls.clone(),
            },
            quic: target.quic.clone().filter(|_| self.http3),
            // 0-RTT data can be replayed by an attacker (RFC 9001 §9.2): only methods safe to repeat go early.
            zero_rtt: self.zero_rtt && self.early_data_safe(),
            engine: Engine::Tokio,
        }
    }
}

impl Plan {
    /// Open loop: when requests are due (`--rate`, or `--stages` from `--rate` or 0); None for a closed loop.
    pub fn schedule(&self) -> Option<Schedule> {
        match (&self.stages[..], self.rate) {
            ([], rate) => rate.map(Schedule::constant),
            (stages, start) => Some(Schedule::ramps(start.unwrap_or(0.0), stages)),
        }
    }

    /// The HTTP version `mode` speaks.
    pub fn http(&self, mode: Mode) -> Http {
        match mode {
            _ if self.http3 => Http::Http3,
            Mode::Multiplex => Http::Http2,
            Mode::Serial | Mode::Parallel | Mode::Keepalive | Mode::Pipeline if self.http10 => Http::Http10,
            Mode::Serial | Mode::Parallel | Mode::Keepalive | Mode::Pipeline => Http::Http11,
        }
    }

    /// The connections and the requests in flight on each that `mode` runs with.
    pub fn shape(&self, mode: Mode) -> (u32, u32) {
        let connections = if mode == Mode::Serial { 1 } else { self.connections };
        // HTTP/2 streams are independent (RFC 9113 §5): a non-idempotent request may share the connection
        // with others, as no response can be taken for another's. Pipelining has no such guarantee: a request
        // that is not idempotent goes alone (conn.rs), and a plan of such requests alone pipelines nothing.
        let depth = match mode {
            Mode::Pipeline if self.requests.iter().any(Request::idempotent) => self.depth,
            Mode::Multiplex => self.depth,
            Mode::Serial | Mode::Parallel | Mode::Keepalive | Mode::Pipeline => 1,
        };
        (connections, depth)
    }

    /// The methods of the requests, each once, in the order they first appear.
    pub fn methods(&self) -> Vec<&str> {
        distinct(self.requests.iter().map(|r| r.method.as_str()))
    }

    /// RFC 8470 §4: what a server may see twice without harm, replayed 0-RTT data included. A connection's
    /// first request may be any target's, so 0-RTT is used only when every one is safe so.
    fn early_data_safe(&self) -> bool {
        self.requests.iter().all(|request| matches!(request.method.as_str(), "GET" | "HEAD"))
    }

    /// What people should know about the plan: where it differs from what was typed.
    pub fn notes(&self) -> Vec<Note> {
        let mut notes = Vec::new();
        if self.http3 && self.source_ips != SourceIps::Auto {
            let text = "--source-ip does not apply over HTTP/3: each engine thread's one UDP socket takes the \
                        address the kernel chooses";
            notes.push(Note::new(NoteKind::Plan, None, text));
        }
        if self.zero_rtt && !self.early_data_safe() {
            let unsafe_methods = distinct(
                self.requests.iter().map(|r| r.method.as_str()).filter(|method| !matches!(*method, "GET" | "HEAD")),
            );
            let text = match &self.requests[..] {
                [one] => format!(
                    "--0rtt: {} is not sent in 0-RTT (early data can be replayed; only GET and HEAD go early): every \
                     request waits for its connection's handshake",
                    one.method
                ),
                _ => format!(
                    "--0rtt: not every target is a GET or a HEAD ({}), and a connection's first request may be any \
                     of them: nothing is sent in 0-RTT (early data can be replayed), every request waits for its \
                     connection's handshake",
                    unsafe_methods.join(", ")
                ),
            };
            notes.push(Note::new(NoteKind::Plan, None, text));
        }
        if let Some(asked) = self.clamped_from {
            let text = format!(
                "-c {asked} is more than the {n} requests of -n: {n} connections, one per request",
                n = self.connections
            );
            notes.push(Note::new(NoteKind::Plan, None, text));
        }
        if self.latency_asked {
            let text = "--latency (wrk's): the latency percentiles always print, p50 to max";
            notes.push(Note::new(NoteKind::Plan, None, text));
        }
        if self.latency_correction_asked {
            let text = match self.schedule() {
                Some(_) => {
                    "--latency-correction (oha's): with --rate, total latency always counts from each \
                            request's scheduled start; the uncorrected figure is beside it"
                }
                None => {
                    "--latency-correction (oha's) corrects an open loop (--rate, oha's -q): a closed loop has no \
                         schedule to count from"
                }
            };
            notes.push(Note::new(NoteKind::Plan, None, text));
        }
        notes.extend(self.not_pipelined());
        if self.requests.len() > crate::record::TARGETS_APART {
            let text = format!(
                "{} targets: the figures of the first {} are kept apart, the others' together as \"other\"",
                self.requests.len(),
                crate::record::TARGETS_APART
            );
            notes.push(Note::new(NoteKind::Plan, None, text));
        }
        notes
    }

    /// Pipeline mode sends a request that is not idempotent alone, with nothing else in flight on its
    /// connection (RFC 9112 §9.3.2): what that does to the depth asked.
    fn not_pipelined(&self) -> Option<Note> {
        if !self.modes.contains(&Mode::Pipeline) || self.depth == 1 {
            return None;
        }
        let alone: Vec<&Request> = self.requests.iter().filter(|r| !r.idempotent()).collect();
        let methods = distinct(alone.iter().map(|r| r.method.as_str()));
        let text = match (alone.len(), self.requests.len()) {
            (0, _) => return None,
            (1, 1) => format!(
                "{} is not idempotent, so pipeline mode sends it one at a time on each connection (depth 1, not {})",
                methods[0], self.depth
            ),
            (some, all) if some == all => format!(
                "none of the {all} targets is idempotent ({}), so pipeline mode sends them one at a time on each \
                 connection (depth 1, not {})",
                methods.join(", "),
                self.depth
            ),
            (some, all) => format!(
                "{some} of the {all} targets {} not idempotent ({}): pipeline mode sends each such request alone \
                 on its connection, with nothing else in flight, and pipelines the others up to --depth {}",
                if some == 1 { "is" } else { "are" },
                methods.join(", "),
                self.depth
            ),
        };
        Some(Note::new(NoteKind::Plan, Some(Mode::Pipeline), text))
    }
}

/// Each method once, in the order they first appear.
fn distinct<'a>(methods: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for method in methods {
        if !seen.contains(&method) {
            seen.push(method);
        }
    }
    seen
}

/// The targets of `--targets PATH` (`-`: standard input), each checked, or the first problem, with its line.
fn read_targets(path: &std::path::Path) -> Result<Vec<Entry>, String> {
    let name = path.display();
    let text = if path.as_os_str() == "-" {
        crate::input::read_stdin_text(crate::input::Kind::Targets)
    } else {
        crate::input::read_text(path, crate::input::Kind::Targets)
    };
    let text = text.map_err(|e| format!("--targets {name}: {e}"))?;
    crate::targets::parse(&text).map_err(|problem| match problem.line {
        0 => format!("--targets {name}: {}", problem.why),
        line => format!("--targets {name}:{line}: {}", problem.why),
    })
}

/// The first target of `path` that names its URL, read as the run's URL is (the others are read by
/// `targets_requests`), or the first problem with it, by its line.
fn first_absolute_url(entries: &[Entry], path: &std::path::Path) -> Result<Option<Url>, String> {
    let Some((line, url)) = entries.iter().find_map(|entry| match &entry.url {
        Place::Absolute(url) => Some((entry.line, url)),
        Place::Path(_) => None,
    }) else {
        return Ok(None);
    };
    parse_url(url).map(Some).map_err(|e| format!("--targets {}:{line}: {e}", path.display()))
}

/// The origin of a URL, as a URL of its own: scheme, host and port, `/`, no credentials.
fn origin_of(url: &Url) -> Url {
    let mut origin = url.clone();
    origin.set_path("/");
    origin.set_query(None);
    origin.set_fragment(None);
    let _ = origin.set_username("");
    let _ = origin.set_password(None);
    origin
}

/// The requests of a targets file (`name`): each entry over the defaults of `-X`, `-H` and `--body`, all on
/// one origin, the `given` URL's if there is one. Connections are what a run measures, and they go to one
/// server: a second origin is an error naming both. A connection-specific header is refused where the run's
/// HTTP version `forbidden` names forbids it.
fn targets_requests(
    entries: Vec<Entry>,
    name: &str,
    given: Option<&Url>,
    default: &Request,
    forbidden: Option<&str>,
) -> Result<Vec<Request>, String> {
    let mut origin: Option<(url::Origin, String)> =
        given.map(|url| (url.origin(), format!("the URL's, {}", url.origin().ascii_serialization())));
    let mut requests = Vec::with_capacity(entries.len());
    for entry in entries {
        let place = format!("--targets {name}:{}", entry.line);
        let mut headers = entry.headers;
        let path = match entry.url {
            Place::Path(path) => path,
            Place::Absolute(url) => {
                let url = parse_url(&url).map_err(|e| format!("{place}: {e}"))?;
                match &origin {
                    Some((first, said)) if *first != url.origin() => {
                        return Err(format!(
                            "{place}: {} is a second origin beside {said}: the targets of a run share one origin \
                             (scheme, host and port), as its connections are what it measures",
                            url.origin().ascii_serialization()
                        ))
                    }
                    Some(_) => {}
                    None => {
                        let said = format!("{} (line {})", url.origin().ascii_serialization(), entry.line);
                        origin = Some((url.origin(), said));
                    }
                }
                // A target's own credentials, as its URL's (curl's Basic), unless it sets Authorization.
                if let Some(credentials) = basic_auth(&url) {
                    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("authorization")) {
                        headers.push(("Authorization".into(), credentials));
                    }
                }
                url_parts(&url).1
            }
        };
        if let Some(which) = forbidden {
            if let Some((field, value)) =
                headers.iter().find(|(field, _)| H2_FORBIDDEN_HEADERS.iter().any(|f| field.eq_ignore_ascii_case(f)))
            {
                return Err(format!("{place}: header '{field}: {value}': a connection-specific header, which {which}"));
            }
        }
        // -H gives the headers a target does not set itself.
        let mut merged: Vec<(String, String)> = default
            .headers
            .iter()
            .filter(|(field, _)| !headers.iter().any(|(own, _)| own.eq_ignore_ascii_case(field)))
            .cloned()
            .collect();
        merged.extend(headers);
        requests.push(Request {
            method: entry.method.unwrap_or_else(|| default.method.clone()),
            path: Some(path),
            headers: merged,
            body: entry.body.map_or_else(|| default.body.clone(), Into::into),
        });
    }
    Ok(requests)
}

/// `--http1.0`, `--http3` and `--http-version` (flags, else the profile's): whether the run speaks HTTP/1.0,
/// and whether HTTP/3. Two that ask for different versions are an error.
fn http_version(args: &RunArgs, profile: &Profile) -> Result<(bool, bool), String> {
    let asked = |http10: bool, http3: bool, version: Option<HttpVersionArg>| {
        let flags = [(http10, HttpVersionArg::Http10, "--http1.0"), (http3, HttpVersionArg::Http3, "--http3")];
        let mut named: Vec<(HttpVersionArg, &str)> = flags.iter().filter(|f| f.0).map(|f| (f.1, f.2)).collect();
        named.extend(version.map(|v| (v, "--http-version")));
        named
    };
    let mut named = asked(args.http1_0, args.http3, args.http_version);
    if named.is_empty() {
        named = asked(profile.http1_0 == Some(true), profile.http3 == Some(true), profile.http_version);
    }
    if let Some(&(_, flag)) = named.iter().find(|(version, _)| *version == HttpVersionArg::Http2) {
        return Err(format!(
            "{flag} 2: only --mode multiplex speaks HTTP/2 (h2c, or h2 over https); the other modes speak HTTP/1.x"
        ));
    }
    if let Some(&(_, second)) = named.iter().find(|(version, _)| *version != named[0].0) {
        return Err(format!("{} and {second} ask for different HTTP versions: give one", named[0].1));
    }
    let version = named.first().map(|(version, _)| *version);
    Ok((version == Some(HttpVersionArg::Http10), version == Some(HttpVersionArg::Http3)))
}

/// How far ahead `--start-at` may be without `--start-at-far`: shards start together within minutes, and a
/// wait of a year is a mistyped date more often than a plan.
pub const START_AT_NEAR: Duration = Duration::from_secs(24 * 3600);

fn check_start_at(at: std::time::SystemTime, now: std::time::SystemTime, far_allowed: bool) -> Result<(), String> {
    match at.duration_since(now) {
        Ok(ahead) if ahead > START_AT_NEAR && !far_allowed => Err(format!(
            "--start-at {}: more than a day ahead (in {:.1} days); add --start-at-far if that is meant",
            humantime::format_rfc3339_seconds(at),
            ahead.as_secs_f64() / 86_400.0,
        )),
        _ => Ok(()),
    }
}

/// A URL as curl takes it: without a scheme (`127.0.0.1:8080/`), http:// is meant. Errors quote it with its
/// password masked.
pub fn parse_url(given: &str) -> Result<Url, String> {
    let full = if given.contains("://") { given.to_string() } else { format!("http://{given}") };
    let text = mask_password(given);
    let url = Url::parse(&full).map_err(|e| format!("URL '{text}': {e}"))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(format!("URL '{text}': scheme '{other}' is not http or https")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("URL '{text}': no host"));
    }
    if url.port() == Some(0) {
        return Err(format!("URL '{text}': port 0 is not a port (a server listens on 1 to 65535)"));
    }
    Ok(url)
}

/// The password a URL carries (`http://user:password@host/`), as `***`: what the command line, the target,
/// the reports and the errors show of it. `text` is the URL as typed, so the rest of it is kept as it was.
pub fn mask_password(text: &str) -> String {
    let start = text.find("://").map_or(0, |i| i + 3);
    let end = text[start..].find(['/', '?', '#']).map_or(text.len(), |i| start + i);
    let Some(at) = text[start..end].rfind('@').map(|i| start + i) else { return text.to_string() };
    match text[start..at].find(':') {
        Some(colon) => format!("{}:***{}", &text[..start + colon], &text[at..]),
        None => text.to_string(),
    }
}

/// The values of credential headers among the `-H` of a command line, masked as the result shows them: `-H
/// 'Authorization: Bearer x'`, `-H'Cookie: a=b'`, `--header=…` and `--header …`.
fn mask_credential_headers(command: &mut [String]) {
    let mut header_next = false;
    for word in command.iter_mut() {
        let (flag, header) = if header_next {
            ("", word.as_str())
        } else if let Some(header) = word.strip_prefix("--header=") {
            ("--header=", header)
        } else if let Some(header) = word.strip_prefix("-H").filter(|rest| !rest.is_empty()) {
            ("-H", header)
        } else {
            header_next = word == "-H" || word == "--header";
            continue;
        };
        header_next = false;
        if let Some((name, value)) = header.split_once(':') {
            let masked = crate::http::request::masked_header(name.trim(), value.trim());
            if masked != format!("{}: {}", name.trim(), value.trim()) {
                *word = format!("{flag}{masked}");
            }
        }
    }
}

/// A URL as it may be shown: its password masked.
pub fn shown(url: &Url) -> String {
    let mut shown = url.clone();
    if url.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// The user and password of a URL as curl sends them: `Authorization: Basic` (RFC 7617), percent-decoded;
/// None when the URL names no user.
pub fn basic_auth(url: &Url) -> Option<String> {
    use base64::Engine as _;
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |part: &str| percent_encoding::percent_decode_str(part).collect::<Vec<u8>>();
    let mut pair = decode(url.username());
    pair.push(b':');
    pair.extend(decode(url.password().unwrap_or_default()));
    Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
}

/// The share of `--shard I/N`: connections and `-n` split so that the shares add up exactly, the rate split
/// evenly, and a `--source-ip` list sliced so that no two shards share a client IP (`auto` takes its own slice
/// of 127.0.0.0/8 on loopback; toward other servers each machine has its own addresses anyway).
///
/// The whole plan is checked, not this shard's share of it: a plan that leaves any shard nothing is refused
/// by every shard alike, so that no shard runs a part of a plan the others refused.
fn split(
    shard: Shard,
    connections: u32,
    stop: Stop,
    rate: Option<f64>,
    source_ips: SourceIps,
) -> Result<(u32, Stop, Option<f64>, SourceIps), String> {
    let n = shard.count;
    let too_few = |what: String| format!("--shard {}/{n}: {what} cannot be split over {n} shards", shard.index);
    // -n first: it also caps -c (one connection per request at most), and is what was typed short.
    let stop = match stop {
        Stop::Requests(requests) if requests < u64::from(n) => {
            return Err(too_few(format!("-n {requests} (one request each at least)")))
        }
        Stop::Requests(requests) => Stop::Requests(shard.share(requests)),
        window => window,
    };
    if connections < n {
        return Err(too_few(format!("-c {connections} (one connection each at least)")));
    }
    let source_ips = match source_ips {
        SourceIps::List(ips) if ips.len() < n as usize => {
            return Err(too_few(format!("--source-ip's {} addresses (one each at least)", ips.len())))
        }
        SourceIps::List(ips) => SourceIps::List(shard.slice(&ips).to_vec()),
        other => other,
    };
    let share = shard.share(u64::from(connections)) as u32;
    Ok((share, stop, rate.map(|rate| shard.rate(rate)), source_ips))
}

/// The Host header and request target of a URL (RFC 9112 §3.2: origin-form).
pub fn url_parts(url: &Url) -> (String, String) {
    let host = url.host_str().unwrap_or_default();
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let mut path = url.path().to_string();
    if let Some(query) = url.query() {
        path.push('?');
        path.push_str(query);
    }
    (host, path)
}

pub(crate) fn parse_header(given: &str) -> Result<(String, String), String> {
    // Echoed with its control characters shown, never sent to the terminal as they are.
    let text = crate::printable::printable(given);
    let Some((name, value)) = given.split_once(':') else {
        return Err(format!("-H '{text}': expected 'Name: value'"));
    };
    let (name, value) = (name.trim(), value.trim());
    match field_problem(name, value) {
        Some(why) => Err(format!("-H '{text}': {why}")),
        None => Ok((name.to_string(), value.to_string())),
    }
}

/// `--tls-version` as the TLS code knows it (for `run`, `probe` and `serve`).
pub fn tls_version(arg: Option<TlsVersionArg>) -> Option<crate::net::tls::Version> {
    arg.map(|version| match version {
        TlsVersionArg::V1_2 => crate::net::tls::Version::Tls12,
        TlsVersionArg::V1_3 => crate::net::tls::Version::Tls13,
    })
}

/// The embedded server's configuration: each knob's flag, else the profile's, else its default.
pub fn server_config(knobs: &crate::cli::ServerKnobs, profile: &Profile) -> ServerConfig {
    let defaults = ServerConfig::default();
    let p = profile;
    ServerConfig {
        body_size: knobs.server_body_size.or(p.server_body_size).unwrap_or(defaults.body_size),
        delay: knobs.server_delay.or(p.server_delay).unwrap_or(defaults.delay),
        status: knobs.server_status.or(p.server_status).unwrap_or(defaults.status),
        chunked: knobs.server_chunked || p.server_chunked == Some(true),
        http10: knobs.server_http10 || p.server_http10 == Some(true),
        keep_alive_max: knobs.server_keep_alive_max.or(p.server_keep_alive_max),
        keep_alive_timeout: knobs.server_keep_alive_timeout.or(p.server_keep_alive_timeout),
        keep_alive_if_asked: knobs.server_keep_alive_if_asked || p.server_keep_alive_if_asked == Some(true),
        close_after: knobs.server_close_after.or(p.server_close_after.map(CloseAfter::exactly)),
        lift_close_after: knobs.server_lift_close_after.or(p.server_lift_close_after),
        idle_timeout: knobs.server_idle_timeout.or(p.server_idle_timeout),
        reset: knobs.server_reset || p.server_reset == Some(true),
        truncate: knobs.server_truncate || p.server_truncate == Some(true),
        stall: knobs.server_stall.or(p.server_stall),
        tls: None,
        goaway_after: knobs.server_goaway_after.or(p.server_goaway_after),
        max_concurrent_streams: knobs.server_max_streams.or(p.server_max_streams),
        count_paths: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn plan(args: &[&str]) -> Result<Plan, String> {
        Plan::of_args(args)
    }

    fn target() -> Target {
        Target::plain("127.0.0.1:80".parse().unwrap())
    }

    #[test]
    fn the_command_is_kept_under_the_programs_name_not_its_path() {
        let Command::Run(run) = Cli::try_parse_from(["connbench", "run", "-n", "5"]).unwrap().command else {
            unreachable!()
        };
        let typed = ["/home/me/src/connbench/target/release/connbench", "run", "-n", "5"];
        let plan = Plan::from_args(&run, typed.iter().map(|w| w.to_string()).collect()).unwrap();
        assert_eq!(plan.command, ["connbench", "run", "-n", "5"]);
    }

    #[test]
    fn all_expands_to_the_five_modes_once() {
        let p = plan(&["--mode", "keepalive,all"]).unwrap();
        assert_eq!(p.modes, vec![Mode::Keepalive, Mode::Serial, Mode::Parallel, Mode::Pipeline, Mode::Multiplex]);
        assert!(p.multiplex_if_spoken, "all: multiplex only if the target speaks HTTP/2");
        assert!(!plan(&["--mode", "all,multiplex"]).unwrap().multiplex_if_spoken);
    }

    #[test]
    fn every_connection_over_tls_turns_nagle_off() {
        // A one-shot plain connection writes once, and Nagle never holds a first write: no setsockopt. Over
        // TLS the request follows the client's Finished, and Nagle would hold it for the server's delayed ACK.
        let p = plan(&["--tls"]).unwrap();
        let tls = Target { tls: crate::preflight::secure(true, "127.0.0.1", &p.tls).unwrap(), ..target() };
        for mode in Mode::ALL {
            assert!(p.mode_plan(mode, &tls).nodelay, "{mode:?} over TLS");
            let one_shot = matches!(mode, Mode::Serial | Mode::Parallel);
            assert_eq!(p.mode_plan(mode, &target()).nodelay, !one_shot, "{mode:?} in clear text");
        }
        // --nodelay false is obeyed everywhere
        let p = plan(&["--tls", "--nodelay", "false"]).unwrap();
        assert!(Mode::ALL.iter().all(|&mode| !p.mode_plan(mode, &tls).nodelay));
    }

    #[test]
    fn multiplex_takes_the_depth_for_every_method_and_refuses_connection_specific_headers() {
        let p = plan(&["--mode", "multiplex", "-X", "POST", "--depth", "8", "-H", "X-A: b"]).unwrap();
        let m = p.mode_plan(Mode::Multiplex, &target());
        assert_eq!((m.depth, m.requests[0].idempotent, m.requests_per_connection), (8, false, None));
        let parts = &m.requests[0].parts;
        assert_eq!((parts.method.as_str(), parts.authority.as_str()), ("POST", "h"));
        assert_eq!(parts.headers, vec![("X-A".to_string(), "b".to_string())]);
        let err = plan(&["--mode", "multiplex", "-H", "Upgrade: h2c"]).unwrap_err();
        assert!(err.starts_with("-H 'Upgrade: h2c': a connection-specific header"), "{err}");
        assert!(plan(&["--mode", "keepalive", "-H", "Upgrade: h2c"]).is_ok());
    }

    #[test]
    fn http3_runs_every_mode_but_pipeline_and_says_so_in_each_mode_plan() {
        let p = plan(&["--tls", "--http-version", "3", "--mode", "all"]).unwrap();
        assert!(p.http3 && !p.http10);
        assert_eq!(p.modes, vec![Mode::Serial, Mode::Parallel, Mode::Keepalive, Mode::Multiplex]);
        let m = p.mode_plan(Mode::Multiplex, &target());
        assert_eq!((m.http, m.depth, m.zero_rtt), (Http::Http3, 16, false));
        assert_eq!(p.mode_plan(Mode::Serial, &target()).requests_per_connection, Some(1));
        // without --http3 each mode speaks its own version
        let p = plan(&["--http1.0"]).unwrap();
        assert_eq!(p.mode_plan(Mode::Keepalive, &target()).http, Http::Http10);
        assert_eq!(p.mode_plan(Mode::Multiplex, &target()).http, Http::Http2);
        assert_eq!(plan(&["--http-version", "1.1"]).unwrap().mode_plan(Mode::Serial, &target()).http, Http::Http11);
        // 0-RTT only for methods safe to replay
        let get = plan(&["--tls", "--http3", "--0rtt"]).unwrap();
        assert!(get.mode_plan(Mode::Keepalive, &target()).zero_rtt && get.notes().is_empty());
        let post = plan(&["--tls", "--http3", "--0rtt", "-X", "POST"]).unwrap();
        assert!(!post.mode_plan(Mode::Keepalive, &target()).zero_rtt);
        assert!(post.notes()[0].text.starts_with("--0rtt: POST is not sent in 0-RTT"), "{:?}", post.notes());
        let listed = plan(&["--tls", "--http3", "--source-ip", "127.0.0.3"]).unwrap();
        assert!(listed.notes()[0].text.starts_with("--source-ip does not apply over HTTP/3"), "{:?}", listed.notes());
    }

    #[test]
    fn bad_input_is_named() {
        // each case: the flag or value the message must name
        for (args, needle) in [
            (vec!["ftp://x/"], "scheme 'ftp'"),
            (vec!["not a url"], "URL 'not a url'"),
            (vec!["--tls", "https://x/"], "--tls is for the embedded server"),
            (vec!["https://x/", "--cacert", "/nonexistent/ca.pem"], "--cacert /nonexistent/ca.pem"),
            (vec!["-H", "novalue"], "-H 'novalue'"),
            (vec!["-H", "Connection: close"], "set by the mode"),
            (vec!["-X", "GE T"], "-X/--method"),
            (vec!["-n", "5", "-d", "1s"], "cannot be used together"),
            (vec!["--body-file", "/nonexistent/x"], "--body-file /nonexistent/x"),
            (vec!["--http3"], "use an https:// URL"),
            (vec!["--tls", "--http3", "--mode", "pipeline"], "pipeline has no meaning over HTTP/3"),
            (vec!["--tls", "--http3", "--http-version", "1.1"], "--http3 and --http-version ask for different"),
            (vec!["--http-version", "2"], "--http-version 2: only --mode multiplex speaks HTTP/2"),
            (vec!["--tls", "--0rtt"], "--0rtt is for HTTP/3"),
            (vec!["--tls", "--http3", "--tls-version", "1.2"], "QUIC carries TLS 1.3 alone"),
            (vec!["-H", "X-A: a\x01b"], "-H 'X-A: a\\u{1}b': the value holds the control character 0x01"),
            (vec!["-H", "X-A: a\x7fb"], "control character 0x7f"),
            (vec!["--body-file", "/dev/zero"], "--body-file /dev/zero: larger than 64 MiB, the most"),
            (vec!["--shard", "0/1000", "-n", "100", "-c", "2"], "--shard 0/1000: -n 100 (one request each"),
        ] {
            let err = plan(&args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn no_more_connections_than_requests() {
        let p = plan(&["-c", "1000000", "-n", "100"]).unwrap();
        assert_eq!((p.connections, p.clamped_from), (100, Some(1_000_000)));
        assert_eq!(p.mode_plan(Mode::Keepalive, &target()).connections, 100);
        assert!(p.notes()[0].text.contains("-c 1000000 is more than the 100 requests"), "{:?}", p.notes());
        // the default of 50 is lowered without a note; a duration keeps every connection
        let p = plan(&["-n", "5"]).unwrap();
        assert_eq!((p.connections, p.notes().len()), (5, 0));
        assert_eq!(plan(&["-c", "1000", "-d", "1s"]).unwrap().connections, 1000);
    }

    #[test]
    fn a_shard_runs_its_share_of_connections_requests_rate_and_client_ips() {
        let p = plan(&["--shard", "0/3", "-c", "10", "-n", "1001", "--source-ip", "127.0.0.2-127.0.0.8"]).unwrap();
        assert_eq!((p.connections, p.stop), (4, Stop::Requests(334)));
        let ips = |p: &Plan| match &p.source_ips {
            SourceIps::List(ips) => ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(ips(&p), ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
        assert_eq!(p.whole, WholePlan { connections: 10, rate: None, requests: Some(1001) });
        let last = plan(&["--shard", "2/3", "-c", "10", "--rate", "3000", "--source-ip", "127.0.0.2-127.0.0.8"]);
        let last = last.unwrap();
        assert_eq!(
            (last.connections, last.rate, ips(&last)),
            (3, Some(1000.0), vec!["127.0.0.7".into(), "127.0.0.8".into()])
        );
        // a plan that leaves any shard nothing is refused by every shard, naming what cannot be split
        for (plan_args, needle) in [
            (&["-c", "2"][..], "-c 2 (one connection each at least) cannot be split over 3"),
            (&["-n", "2", "-c", "50"][..], "-n 2 (one request each at least)"),
            (&["-c", "5", "--source-ip", "127.0.0.2-127.0.0.3"][..], "--source-ip's 2 addresses"),
        ] {
            for index in 0..3 {
                let shard = format!("{index}/3");
                let mut args = vec!["--shard", shard.as_str()];
                args.extend_from_slice(plan_args);
                let err = plan(&args).unwrap_err();
                assert!(err.starts_with(&format!("--shard {shard}: ")) && err.contains(needle), "{args:?}: {err}");
            }
        }
    }

    #[test]
    fn targets_take_the_flags_as_defaults_each_can_override() {
        let dir = std::env::temp_dir().join(format!("connbench-plan-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("body"), b"own").unwrap();
        let file = dir.join("t.txt");
        let text =
            format!("GET /a\nX-A: mine\n\nPOST http://u:p@127.0.0.1:8080/b?c=1\n@{}\n", dir.join("body").display());
        std::fs::write(&file, text).unwrap();
        let args = ["--targets", file.to_str().unwrap(), "-H", "x-a: default", "-H", "X-B: b", "--body", "dflt"];
        let p = plan(&args).unwrap();
        let TargetSpec::Url(url) = &p.target else { panic!("the targets' origin is the target") };
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/", "without its credentials");
        let (a, b) = (&p.requests[0], &p.requests[1]);
        assert_eq!((a.method.as_str(), a.path.as_deref(), &a.body[..]), ("GET", Some("/a"), &b"dflt"[..]));
        assert_eq!(a.headers, vec![("X-B".into(), "b".into()), ("X-A".into(), "mine".into())], "-H fills in");
        assert_eq!((b.method.as_str(), b.path.as_deref(), &b.body[..]), ("POST", Some("/b?c=1"), &b"own"[..]));
        assert!(b.headers.contains(&("Authorization".into(), "Basic dTpw".into())), "its URL's credentials");
        assert_eq!(p.methods(), ["GET", "POST"]);
        assert_eq!(p.targets, Some(TargetsPlan { file: file.display().to_string(), order: Order::RoundRobin }));
        // pipeline: the POST goes alone, the GET is pipelined; said in a note
        let p = plan(&[&args[..], &["--mode", "pipeline"]].concat()).unwrap();
        let pipeline = p.mode_plan(Mode::Pipeline, &target());
        assert_eq!(
            (pipeline.depth, pipeline.requests[0].idempotent, pipeline.requests[1].idempotent),
            (16, true, false)
        );
        assert!(p.notes()[0].text.starts_with("1 of the 2 targets is not idempotent (POST)"), "{:?}", p.notes());
        // a URL is read as the run's is, and named by its line
        for (text, needle) in [
            ("GET /a\nGET ftp://h/\n", "t.txt:2: URL 'ftp://h/': scheme 'ftp' is not http or https"),
            ("GET http://h:0/\n", "t.txt:1: URL 'http://h:0/': port 0 is not a port"),
            ("GET http://h/\n\nGET http://u:secret@h:0/\n", "t.txt:3: URL 'http://u:***@h:0/'"),
        ] {
            std::fs::write(&file, text).unwrap();
            let err = plan(&["--targets", file.to_str().unwrap()]).unwrap_err();
            assert!(err.starts_with("--targets ") && err.contains(needle), "{text:?}: {err}");
        }
        // a header HTTP/2 forbids is named by its line, for multiplex alone
        std::fs::write(&file, "GET /a\n\nGET /b\nUpgrade: h2c\n").unwrap();
        let err = plan(&["--targets", file.to_str().unwrap(), "--mode", "multiplex"]).unwrap_err();
        assert!(err.ends_with("t.txt:3: header 'Upgrade: h2c': a connection-specific header, which HTTP/2 forbids (RFC 9113 §8.2.2); drop it or the multiplex mode"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn profiles_take_targets_orders_and_stages_and_shards_split_stages() {
        let dir = std::env::temp_dir().join(format!("connbench-plan-stages-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("t.txt"), "GET /a\nGET /b\n").unwrap();
        let profile = dir.join("p.toml");
        let text = format!(
            "targets = \"{}\"\ntargets_order = \"random\"\nseed = 5\nstages = \"1s:10,2s:20\"\n",
            dir.join("t.txt").display()
        );
        std::fs::write(&profile, text).unwrap();
        let p = plan(&["-p", profile.to_str().unwrap()]).unwrap();
        assert_eq!(p.targets.as_ref().unwrap().order, Order::Random { seed: 5 });
        assert_eq!((p.stages.len(), p.stop), (2, Stop::After(Duration::from_secs(3))));
        let schedule = p.schedule().unwrap();
        assert_eq!((schedule.due_by(3.0), schedule.stages().unwrap().0), (35.0, 0.0), "5 up to 10/s, 30 more to 20/s");
        // --rate is where the stages start from; a shard runs half of each
        let p = plan(&["--stages", "2s:100", "--rate", "50", "--shard", "1/2", "-c", "2"]).unwrap();
        assert_eq!((p.rate, p.stages[0].rate), (Some(25.0), 50.0));
        assert_eq!(p.schedule().unwrap().due_by(2.0), 75.0);
        std::fs::write(&profile, "mode = \"serial\"\nstages = \"1s\"\n").unwrap();
        let err = plan(&["-p", profile.to_str().unwrap()]).unwrap_err();
        assert!(err.contains(":2: stages: '1s': stage 1 '1s': not DURATION:RATE"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn urls_read_as_curl_reads_them() {
        let p = plan(&["127.0.0.1:8080/x"]).unwrap();
        let TargetSpec::Url(url) = p.target else { panic!("a URL") };
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/x");
        assert!(plan(&["http://127.0.0.1:0/"]).unwrap_err().contains("port 0 is not a port"));
    }

    #[test]
    fn https_and_report_options_come_from_a_profile_too() {
        let dir = std::env::temp_dir().join(format!("connbench-plan-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.toml");
        let text = "insecure = true\ntls_resume = false\nno_histogram = true\nserver_tls = true\ntls_version = 1.2\n";
        std::fs::write(&path, text).unwrap();
        let p = plan(&["-p", path.to_str().unwrap()]).unwrap();
        assert!(p.tls.insecure && !p.tls.resume && !p.histogram);
        assert_eq!(p.tls.version, Some(crate::net::tls::Version::Tls12));
        let TargetSpec::Embedded(config) = &p.target else { panic!("the embedded server") };
        assert!(config.tls.is_some(), "server_tls serves https");
        // the flag overrides the profile
        let p = plan(&["-p", path.to_str().unwrap(), "--tls-version", "1.3"]).unwrap();
        assert_eq!(p.tls.version, Some(crate::net::tls::Version::Tls13));
        std::fs::write(&path, "cacert = \"/nonexistent/ca.pem\"\n").unwrap();
        let err = plan(&["-p", path.to_str().unwrap()]).unwrap_err();
        assert!(err.contains(":1: cacert") && err.contains("/nonexistent/ca.pem"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn values_from_a_profile_are_blamed_on_its_file_and_line() {
        let dir = std::env::temp_dir().join(format!("connbench-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // each case: the profile, the flags beside it, what the message must say
        for (text, flags, needle) in [
            ("mode = \"serial\"\nheaders = [\"NoColon\"]\n", &[][..], ":2: headers 'NoColon': expected 'Name: value'"),
            ("method = \"GE T\"\n", &[], ":1: method: 'GE T' is not an HTTP method"),
            ("requests = 5\nduration = \"1s\"\n", &[], ":2: duration: requests and duration cannot be used together"),
            ("duration = 0\n", &[], ":1: duration must be longer than 0s"),
            ("url = \"ftp://x/\"\n", &[], ":1: url 'ftp://x/': scheme 'ftp' is not http"),
            ("source_ip = \"nope\"\n", &[], ":1: source_ip 'nope': not an IP"),
            ("max_regression = 5\n", &[], ":1: max_regression needs --baseline FILE"),
            ("body_file = \"/nonexistent/b\"\n", &[], ":1: body_file /nonexistent/b: "),
            ("body = \"x\"\nbody_file = \"b\"\n", &[], ":2: body_file: body and body_file cannot be used together"),
            // a flag's own value is still named by the flag
            ("mode = \"serial\"\n", &["-H", "NoColon"], "-H 'NoColon'"),
        ] {
            let path = dir.join("p.toml");
            std::fs::write(&path, text).unwrap();
            let mut args = vec!["-p", path.to_str().unwrap()];
            args.extend_from_slice(flags);
            let err = plan(&args).unwrap_err();
            let expected = if flags.is_empty() { format!("profile {}{needle}", path.display()) } else { needle.into() };
            assert!(err.starts_with(&expected), "{text:?}: {err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn modes_differ_only_in_connection_behaviour() {
        let p = plan(&["-c", "8", "--depth", "4"]).unwrap();
        let serial = p.mode_plan(Mode::Serial, &target());
        assert_eq!((serial.connections, serial.depth, serial.requests_per_connection), (1, 1, Some(1)));
        let parallel = p.mode_plan(Mode::Parallel, &target());
        assert_eq!((parallel.connections, parallel.requests_per_connection), (8, Some(1)));
        let pipeline = p.mode_plan(Mode::Pipeline, &target());
        assert_eq!((pipeline.connections, pipeline.depth, pipeline.requests_per_connection), (8, 4, None));
        assert_eq!(serial.requests[0].bytes, pipeline.requests[0].bytes);
        // pipeline's first request on a connection asks for keep-alive; serial's is its only one
        assert!(String::from_utf8_lossy(pipeline.requests[0].first()).contains("Connection: keep-alive\r\n"));
        assert_eq!(serial.requests[0].first(), &serial.requests[0].bytes[..]);
    }

    #[test]
    fn non_idempotent_methods_are_never_pipelined() {
        for (method, idempotent) in [("GET", true), ("put", true), ("DELETE", true), ("POST", false), ("PATCH", false)]
        {
            let p = plan(&["-X", method, "--mode", "pipeline"]).unwrap();
            assert_eq!(p.requests[0].idempotent(), idempotent, "{method}");
            let pipeline = p.mode_plan(Mode::Pipeline, &target());
            assert_eq!(
                (pipeline.depth, pipeline.requests[0].idempotent),
                (if idempotent { 16 } else { 1 }, idempotent)
            );
            assert_eq!(p.notes().len(), usize::from(!idempotent), "{method}");
        }
    }

    #[test]
    fn connection_header_follows_the_mode() {
        let close = plan(&["--close-by", "server"]).unwrap().mode_plan(Mode::Serial, &target());
        assert!(std::str::from_utf8(&close.requests[0].bytes).unwrap().contains("Connection: close\r\n"));
        let http10 = plan(&["--http1.0"]).unwrap().mode_plan(Mode::Keepalive, &target());
        assert!(std::str::from_utf8(&http10.requests[0].bytes).unwrap().contains("HTTP/1.0\r\n"));
        assert!(std::str::from_utf8(&http10.requests[0].bytes).unwrap().contains("Connection: Keep-Alive\r\n"));
    }

    #[test]
    fn a_urls_password_is_sent_as_basic_auth_and_shown_masked() {
        // each case: the URL as typed, as shown
        for (typed, masked) in [
            ("http://user:pass@127.0.0.1:8080/x?q=1", "http://user:***@127.0.0.1:8080/x?q=1"),
            ("user:p@ss@127.0.0.1/", "user:***@127.0.0.1/"),
            ("https://user@127.0.0.1/", "https://user@127.0.0.1/"),
            ("http://127.0.0.1/a:b@c", "http://127.0.0.1/a:b@c"),
            ("http://:secret@127.0.0.1", "http://:***@127.0.0.1"),
        ] {
            assert_eq!(mask_password(typed), masked, "{typed}");
        }
        let url = parse_url("http://us%65r:p%40ss@127.0.0.1/").unwrap();
        assert_eq!(shown(&url), "http://us%65r:***@127.0.0.1/");
        // "user:p@ss", percent-decoded as curl sends it
        assert_eq!(basic_auth(&url).as_deref(), Some("Basic dXNlcjpwQHNz"));
        assert_eq!(basic_auth(&parse_url("http://127.0.0.1/").unwrap()), None);
        let err = parse_url("http://user:secret@127.0.0.1:0/").unwrap_err();
        assert!(err.starts_with("URL 'http://user:***@127.0.0.1:0/'") && !err.contains("secret"), "{err}");
        // sent as typed unless -H says otherwise; the command keeps it masked
        let given = plan(&["http://user:secret@127.0.0.1:8080/"]).unwrap();
        let target = Target { authorization: basic_auth(&parse_url("http://user:secret@x/").unwrap()), ..target() };
        let request = String::from_utf8(given.mode_plan(Mode::Keepalive, &target).requests[0].bytes.clone()).unwrap();
        assert!(request.contains("\r\nAuthorization: Basic dXNlcjpzZWNyZXQ=\r\n"), "{request}");
        let mine = plan(&["http://u:p@127.0.0.1:8080/", "-H", "authorization: Bearer x"]).unwrap();
        let request = String::from_utf8(mine.mode_plan(Mode::Multiplex, &target).requests[0].bytes.clone()).unwrap();
        assert!(request.contains("authorization: Bearer x") && !request.contains("Basic"), "{request}");
    }

    #[test]
    fn credential_headers_are_kept_masked_in_the_command() {
        let words = |list: &[&str]| list.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let mut command = words(&[
            "connbench",
            "-H",
            "Authorization: Bearer s3cret",
            "-HCookie: id=s3cret",
            "--header=X-A: b",
            "--header",
            "proxy-authorization:Basic s3cret",
            "-X",
            "POST",
        ]);
        mask_credential_headers(&mut command);
        assert_eq!(
            command,
            words(&[
                "connbench",
                "-H",
                "Authorization: Bearer ***",
                "-HCookie: ***",
                "--header=X-A: b",
                "--header",
                "proxy-authorization: Basic ***",
                "-X",
                "POST",
            ])
        );
    }

    #[test]
    fn a_start_more_than_a_day_ahead_is_refused_unless_asked_for() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        assert!(check_start_at(now + Duration::from_secs(3600), now, false).is_ok());
        assert!(check_start_at(now - Duration::from_secs(3600), now, false).is_ok(), "a past moment starts at once");
        let err = check_start_at(now + Duration::from_secs(366 * 86_400 + 90), now, false).unwrap_err();
        assert_eq!(
            err,
            "--start-at 2027-01-02T00:01:30Z: more than a day ahead (in 366.0 days); add --start-at-far if that is \
             meant"
        );
        assert!(check_start_at(now + Duration::from_secs(366 * 86_400), now, true).is_ok());
    }

    #[test]
    fn url_parts_keep_port_and_query() {
        let url = Url::parse("http://example.test:8080/a/b?c=d").unwrap();
        assert_eq!(url_parts(&url), ("example.test:8080".into(), "/a/b?c=d".into()));
        let url = Url::parse("http://example.test").unwrap();
        assert_eq!(url_parts(&url), ("example.test".into(), "/".into()));
    }
}

/*!
Before any load (docs/design.md §6): the target's address, its TLS, one connection that proves it answers
(kept as the first mode's first connection, so the server counts no connection the run does not), and whether
it speaks HTTP/2; after a mode whose every response failed to parse, what the target speaks instead.
*/

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::commands::Failure;
use crate::engine;
use crate::engine::governor::{Governor, Grant};
use crate::net::socket;
use crate::plan::{basic_auth, shown, url_parts, Mode, Plan, Target, TargetSpec};
use crate::record::result::{Note, NoteKind};
use crate::record::{Closer, Recorder};
use crate::server::ServerThread;

pub(crate) fn resolve(url: &url::Url) -> Result<Target, Failure> {
    let (host, path) = url_parts(url);
    let name = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    // IPv6 literals come bracketed from the URL; the resolver wants them bare.
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    let addr = (bare, port)
        .to_socket_addrs()
        .map_err(|e| Failure::Usage(format!("cannot resolve host '{name}' of {}: {e}", shown(url))))?
        .next()
        .ok_or_else(|| Failure::Usage(format!("host '{name}' of {} has no address", shown(url))))?;
    Ok(Target { addr, host, path, display: shown(url), tls: None, quic: None, authorization: basic_auth(url) })
}

pub(crate) fn embedded_target(
    server: &ServerThread,
    https: bool,
    tls: &crate::net::tls::Options,
) -> Result<Target, Failure> {
    let addr = server.addr;
    let scheme = if https { "https" } else { "http" };
    let display = format!("{scheme}://{addr}/ (embedded server)");
    let tls = secure(https, &addr.ip().to_string(), tls)?;
    Ok(Target { addr, host: addr.to_string(), path: "/".into(), display, tls, quic: None, authorization: None })
}

/// The TLS every connection to `host` speaks, for https.
pub(crate) fn secure(
    https: bool,
    host: &str,
    options: &crate::net::tls::Options,
) -> Result<Option<Arc<crate::net::tls::Client>>, Failure> {
    if !https {
        return Ok(None);
    }
    Ok(Some(Arc::new(crate::net::tls::Client::new(host, options).map_err(Failure::Usage)?)))
}

/// Proves the target accepts connections before any load, so an unreachable target exits 2 at once.
/// The connection is not wasted: it becomes the first connection of the first mode, so the server's
/// own connection count still equals ours. It takes its client IP from the port governor like any other.
/// When the kernel has no free port (EADDRNOTAVAIL), reachability cannot be proven this way: the run goes
/// on without the preflight, and its connections count `addr_unavailable` as the port policy says.
/// Over QUIC the preflight's connection is closed at once instead (a QUIC connection is not handed between
/// runtimes) and counted with the first mode as `First::Spent`.
pub(crate) fn preflight(
    target: &Target,
    plan: &Plan,
    governor: &Governor,
    tls: Option<&crate::net::tls::Client>,
) -> Result<First, Failure> {
    if let Some(quic) = &target.quic {
        let handshake = quic_preflight(target, plan, quic)?;
        let spent = Spent { at: Instant::now(), handshake, tls: None, quic: true, closer: Closer::Client };
        return Ok(First::Spent(spent));
    }
    let opened = open_first(target, plan, governor, tls).map_err(|unopened| match unopened {
        Unopened::Failed(failure) => failure,
        Unopened::NoHttp2(alpn) => no_http2(no_http2_over_tls(target, alpn)),
    })?;
    Ok(opened.map_or(First::None, |opened| First::Opened(Box::new(opened))))
}

/// The preflight's connection: kept for the first mode, or closed and counted with it, or none when the kernel
/// had no free port.
pub(crate) enum First {
    /// Boxed: the TLS session makes it large, and it is made once a run.
    Opened(Box<engine::Opened>),
    Spent(Spent),
    None,
}

/// Why the preflight's connection was not opened.
enum Unopened {
    /// Over TLS the server refused HTTP/2 in the handshake (ALPN): an error for `--mode multiplex`, a note
    /// for `--mode all`.
    NoHttp2(crate::net::tls::Alpn),
    Failed(Failure),
}

/// The preflight's connection: TCP, then TLS over it when `tls` is given.
fn open_first(
    target: &Target,
    plan: &Plan,
    governor: &Governor,
    tls: Option<&crate::net::tls::Client>,
) -> Result<Option<engine::Opened>, Unopened> {
    let Some(mut opened) = connect(target, plan, governor).map_err(Unopened::Failed)? else { return Ok(None) };
    if let Some(client) = tls {
        opened.tls = Some(tls_preflight(target, plan, client, &mut opened)?);
    }
    Ok(Some(opened))
}

/// The TCP side of [`preflight`]: a connection from the IP the governor grants, none when the kernel has no
/// free port.
fn connect(target: &Target, plan: &Plan, governor: &Governor) -> Result<Option<engine::Opened>, Failure> {
    let client_ip = loop {
        match governor.acquire(Instant::now()) {
            Grant::From(ip) => break ip,
            Grant::WaitUntil(until) => std::thread::sleep(until.saturating_duration_since(Instant::now())),
            Grant::Exhausted => return Err(Failure::Usage("--port-policy fail: no free port (TIME_WAIT)".into())),
        }
    };
    let start = Instant::now();
    let err = match socket::connect_blocking_from(client_ip, target.addr, plan.nodelay, plan.connect_timeout) {
        Ok(stream) => {
            let handshake = start.elapsed();
            return Ok(Some(engine::Opened { stream, client_ip, handshake, tls: None, h2_preface_sent: false }));
        }
        Err(err) => err,
    };
    governor.connect_failed(client_ip, crate::record::ErrorKind::of_io(&err), Instant::now());
    let what = match err.kind() {
        std::io::ErrorKind::AddrNotAvailable => return Ok(None),
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            format!("no answer within {:?} (--connect-timeout)", plan.connect_timeout)
        }
        _ => err.to_string(),
    };
    Err(Failure::Usage(format!("cannot connect to {} ({}): {what}", target.display, target.addr)))
}

/// With https, the preflight's TLS handshake: a certificate that does not verify, or a server that cannot speak
/// TLS as asked, stops the run here, before any request, with the reason and the ways out.
fn tls_preflight(
    target: &Target,
    plan: &Plan,
    client: &crate::net::tls::Client,
    opened: &mut engine::Opened,
) -> Result<(rustls::ClientConnection, Duration), Unopened> {
    use crate::net::tls::{handshake_blocking, Refusal};
    // --connect-timeout bounds the TCP and TLS handshakes together, as in the engine.
    let deadline = Instant::now() + plan.connect_timeout.saturating_sub(opened.handshake);
    let refusal = match handshake_blocking(client, &mut opened.stream, deadline) {
        Ok(finished) => return Ok(finished),
        Err(refusal) => refusal,
    };
    let offered_h2 = client.config.alpn_protocols.iter().any(|p| p == crate::net::tls::ALPN_H2);
    let why = refusal.explain(client, &format!("{:?} (--connect-timeout)", plan.connect_timeout));
    Err(Unopened::Failed(Failure::Usage(match refusal {
        Refusal::Protocol(alpn) if offered_h2 => return Err(Unopened::NoHttp2(alpn)),
        Refusal::Certificate(_) => format!("the certificate of {} does not verify: {why}", target.host),
        _ => format!("TLS handshake with {} ({}) failed: {why}", target.display, target.addr),
    })))
}

/// What a server without HTTP/2 over TLS answered in its handshake, as one sentence.
fn no_http2_over_tls(target: &Target, alpn: crate::net::tls::Alpn) -> String {
    format!("{} does not speak HTTP/2 over TLS (offered h2 by ALPN, it answered {})", target.display, alpn.answer())
}

/// `--mode multiplex` against a target that does not speak HTTP/2: exit 2, with what to do.
fn no_http2(why: String) -> Failure {
    Failure::Usage(format!("--mode multiplex: {why}; use an HTTP/1.x mode, or a server with HTTP/2 enabled"))
}

/// What [`multiplex_if_spoken`] decided: the modes to run, the connection the multiplex mode starts with, and
/// a connection that asked and will carry no request.
pub(crate) struct Multiplex {
    pub modes: Vec<Mode>,
    pub connection: Option<engine::Opened>,
    pub spent: Option<Spent>,
}

/// The modes to run, and the connection the multiplex mode starts with. Multiplex needs a target that
/// speaks HTTP/2 with prior knowledge (h2c): the embedded server does; any other is asked before any load,
/// by the client's preface and the server's first frame. The connection asked is not wasted, so the server
/// counts no connection that the run does not: the preflight's when multiplex runs first, else one opened
/// for the check and kept (idle) for the multiplex mode, or, when the answer is no, closed and counted with
/// the first mode (its TLS handshake too). A target that does not speak h2c is an error (exit 2) when
/// multiplex was asked for by name, and is left out of `--mode all` with a note.
pub(crate) fn multiplex_if_spoken(
    plan: &Plan,
    target: &Target,
    governor: &Governor,
    first_connection: Option<&mut engine::Opened>,
    notes: &mut Vec<Note>,
) -> Result<Multiplex, Failure> {
    let modes = plan.modes.clone();
    // Over HTTP/3 multiplex is streams on QUIC, which the preflight's handshake has shown the target speaks.
    if !modes.contains(&Mode::Multiplex) || plan.http3 {
        return Ok(Multiplex { modes, connection: None, spent: None });
    }
    let multiplex = plan.mode_plan(Mode::Multiplex, target);
    if let Some(why) = multiplex.requests.iter().find_map(|request| engine::h2_request_error(&request.parts)) {
        return Err(Failure::Usage(why));
    }
    if matches!(plan.target, TargetSpec::Embedded(_)) {
        return Ok(Multiplex { modes, connection: None, spent: None });
    }
    let mut own = None;
    let asked = match first_connection.filter(|_| plan.modes[0] == Mode::Multiplex) {
        Some(first) => Some(first),
        None => {
            own = match connect(target, plan, governor) {
                Ok(opened) => opened,
                // The run's own preflight has shown the target answers: this one failed.
                Err(Failure::Usage(why)) if plan.multiplex_if_spoken => return Ok(skipped(modes, notes, why, None)),
                Err(failure) => return Err(failure),
            };
            let h2_tls = plan.mode_plan(Mode::Multiplex, target).tls;
            if let (Some(opened), Some(client)) = (own.as_mut(), h2_tls.as_deref()) {
                match tls_preflight(target, plan, client, opened) {
                    Ok(session) => opened.tls = Some(session),
                    Err(unopened) => {
                        let why = match unopened {
                            Unopened::NoHttp2(alpn) => no_http2_over_tls(target, alpn),
                            Unopened::Failed(Failure::Usage(why)) if plan.multiplex_if_spoken => why,
                            Unopened::Failed(failure) => return Err(failure),
                        };
                        if !plan.multiplex_if_spoken {
                            return Err(no_http2(why));
                        }
                        let spent = own.take().map(|opened| retire(opened, governor));
                        return Ok(skipped(modes, notes, why, spent));
                    }
                }
            }
            own.as_mut()
        }
    };
    // No free port to ask on (EADDRNOTAVAIL): the mode's own connections will tell.
    let Some(opened) = asked else { return Ok(Multiplex { modes, connection: own, spent: None }) };
    match speaks_h2(opened, plan, target) {
        Ok(()) => Ok(Multiplex { modes, connection: own, spent: None }),
        Err(why) if plan.multiplex_if_spoken => {
            let spent = own.map(|opened| retire(opened, governor));
            Ok(skipped(modes, notes, why, spent))
        }
        Err(why) => Err(no_http2(why)),
    }
}

/// Does the target speak HTTP/2 on this connection? Over TLS the handshake has answered already (ALPN); in
/// clear text, the preface asks. The error is one sentence saying it does not.
fn speaks_h2(opened: &mut engine::Opened, plan: &Plan, target: &Target) -> Result<(), String> {
    match &opened.tls {
        Some((session, _)) => match session.alpn_protocol() {
            Some(id) if id == crate::net::tls::ALPN_H2 => Ok(()),
            // The client offered h2 alone, so rustls has refused any other answer in the handshake.
            _ => Err(no_http2_over_tls(target, crate::net::tls::Alpn::None)),
        },
        None => {
            opened.h2_preface_sent = true;
            speaks_h2c(&mut opened.stream, plan.connect_timeout)
                .map_err(|said| format!("{} does not speak HTTP/2 (h2c, prior knowledge; {said})", target.display))
        }
    }
}

/// `--mode all` without multiplex, and the note that says why (and where the connection that asked, with its
/// TLS handshake if it finished one, is counted).
fn skipped(mut modes: Vec<Mode>, notes: &mut Vec<Note>, why: String, spent: Option<Spent>) -> Multiplex {
    modes.retain(|&mode| mode != Mode::Multiplex);
    let mut text = format!("{why}: --mode all runs the four HTTP/1.x modes");
    let mut figures = Vec::new();
    if let (Some(spent), Some(first)) = (&spent, modes.first()) {
        text += &format!("; the connection that asked is counted with {}", first.name());
        figures.push(("connections_opened", 1.0));
        match &spent.tls {
            Some(tls) if tls.resumed => figures.push(("tls_handshakes_resumed", 1.0)),
            Some(_) => figures.push(("tls_handshakes_full", 1.0)),
            None => {}
        }
    }
    notes.push(Note::new(NoteKind::ModeSkipped, Some(Mode::Multiplex), text).with(&figures));
    Multiplex { modes, connection: None, spent }
}

/// A connection opened before any load that carried no request (one that asked for HTTP/2 and heard no, or
/// the preflight's, closed rather than left idle until `--start-at`): the server counted it, so the first
/// mode's figures count it too.
pub(crate) struct Spent {
    at: Instant,
    handshake: Duration,
    tls: Option<crate::net::stream::Handshake>,
    /// A QUIC connection: its handshake was the transport's and TLS's at once (docs/http3.md).
    quic: bool,
    closer: Closer,
}

impl Spent {
    /// Adds the connection to a mode's recordings: opened (its TCP handshake), its TLS handshake if it
    /// finished one, and who closed it.
    pub(crate) fn count(&self, recorder: &mut Recorder) {
        recorder.connected(self.at, self.handshake);
        if let Some(tls) = &self.tls {
            recorder.tls_handshake(tls.took, tls.resumed, tls.negotiated);
        }
        if self.quic {
            recorder.quic_tls(false, engine::h3::NEGOTIATED);
        }
        // The connection carried no request: no response asked for its close.
        recorder.closed(self.closer, false);
    }
}

/// How long a connection being closed is read from, so that its close is a FIN and not a reset.
const LINGER: Duration = Duration::from_millis(100);

/// Closes a connection the run will not use, as the engine closes its own (RFC 9112 §9.6): what the server
/// still sends is read away for a moment, so the close is a FIN, and whose FIN came first is known. The port
/// governor is told, and the connection is returned as the figures count it.
pub(crate) fn retire(opened: engine::Opened, governor: &Governor) -> Spent {
    use std::io::Read;
    let engine::Opened { mut stream, client_ip, handshake, tls, .. } = opened;
    let tls = tls.map(|(session, took)| crate::net::stream::finished(&session, took));
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let closer = loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break Closer::Client;
        }
        match stream.read(&mut sink) {
            Ok(0) => break Closer::Server,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break Closer::Reset,
            Err(_) => break Closer::Client,
        }
    };
    drop(stream);
    let at = Instant::now();
    governor.closed(client_ip, closer, at);
    Spent { at, handshake, tls, quic: false, closer }
}

/// Writes the HTTP/2 client preface and looks (without reading it away) at what the server sends back:
/// an HTTP/2 server's first frame is SETTINGS (RFC 9113 §3.4); an HTTP/1.x server answers the preface's
/// `PRI * HTTP/2.0` line with an error status, or closes.
fn speaks_h2c(stream: &mut std::net::TcpStream, wait: Duration) -> Result<(), String> {
    use crate::http::preface::{server_answer, ServerAnswer, CLIENT_PREFACE};
    let deadline = Instant::now() + wait;
    let failed = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("no answer to its preface within {wait:?}")
        }
        _ => format!("the check failed: {e}"),
    };
    stream.write_all(CLIENT_PREFACE).map_err(failed)?;
    let mut first = [0u8; 64];
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left)).map_err(failed)?;
        let n = stream.peek(&mut first).map_err(failed)?;
        match server_answer(&first[..n]) {
            _ if n == 0 => return Err("it closed the connection at the HTTP/2 preface".into()),
            ServerAnswer::Http2 => return stream.set_read_timeout(None).map_err(failed),
            ServerAnswer::NotHttp2 => return Err(format!("it answers \"{}\"", first[..n].escape_ascii())),
            // The server closed before a whole frame header: no more will come.
            ServerAnswer::Incomplete if socket::peer_closed(stream).map_err(failed)? => {
                let sent = first[..n].escape_ascii();
                return Err(format!("it sent {n} bytes (\"{sent}\") and closed the connection at the HTTP/2 preface"));
            }
            // A frame header split over segments: a peek returns at once while bytes wait, so pause.
            ServerAnswer::Incomplete if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            ServerAnswer::Incomplete => return Err(format!("no answer to its preface within {wait:?}")),
        }
    }
}

/// What to say when no response could be parsed: most likely the target speaks another protocol (SSH,
/// TLS, Redis), and its first bytes say which. They are asked for again on a connection of its own, as
/// the engine keeps no bytes of the responses it could not parse.
pub(crate) fn not_http(addr: SocketAddr, request: &[u8]) -> String {
    use std::io::Read;
    let wait = Duration::from_secs(1);
    let mut first = [0u8; 64];
    let answer = std::net::TcpStream::connect_timeout(&addr, wait).and_then(|mut stream| {
        stream.set_read_timeout(Some(wait))?;
        stream.write_all(request)?;
        stream.read(&mut first)
    });
    let said = match answer {
        Ok(0) | Err(_) => "nothing it could read again".to_string(),
        Ok(n) => format!("it answers \"{}\"", first[..n].escape_ascii()),
    };
    format!("no response was HTTP (every one failed to parse): is {addr} an HTTP server? {said}")
}

/// `--http3`, before any load: the request must be one HTTP/3 can carry, and the target must answer a QUIC
/// handshake with ALPN h3 on the URL's port, over UDP; else exit 2 naming what was tried. The connection
/// carries no request and is closed at once; its handshake's duration is returned, so that the first mode
/// counts it as the server does.
fn quic_preflight(target: &Target, plan: &Plan, quic: &crate::net::quic::Client) -> Result<Duration, Failure> {
    use crate::net::quic::{handshake_blocking, Refusal};
    let first = plan.mode_plan(plan.modes[0], target);
    if let Some(why) = first.requests.iter().find_map(|request| engine::h2_request_error(&request.parts)) {
        return Err(Failure::Usage(why.replace("HTTP/2", "HTTP/3")));
    }
    let tried = format!("a QUIC handshake offering ALPN h3 to UDP {}", target.addr);
    match handshake_blocking(quic, target.addr, plan.connect_timeout) {
        Ok(took) => Ok(took),
        Err(refusal) => Err(Failure::Usage(match refusal {
            Refusal::NoAnswer => format!(
                "--http3: {} does not answer QUIC: no answer within {:?} (--connect-timeout) to {tried}; is HTTP/3 \
                 enabled on that port, and UDP let through?",
                target.display, plan.connect_timeout
            ),
            Refusal::NoListener => format!(
                "--http3: {} does not answer QUIC: nothing listens on UDP {} (port unreachable to a QUIC handshake \
                 offering ALPN h3); is HTTP/3 enabled on that port?",
                target.display, target.addr
            ),
            Refusal::Certificate(reason) => {
                let tls = target.tls.as_deref().expect("--http3 is https only (plan.rs)");
                let why = crate::net::tls::Refusal::Certificate(reason).explain(tls, "");
                format!("the certificate of {} does not verify: {why}", target.host)
            }
            Refusal::NoProtocol => {
                format!("--http3: {} speaks QUIC but not HTTP/3: it refused ALPN h3 ({tried})", target.display)
            }
            // A server that picks its certificate by SNI may fail a handshake that has none (RFC 6066 §3: an
            // IP address is not sent); Caddy does, over QUIC.
            Refusal::Handshake(why) if target.host.parse::<std::net::SocketAddr>().is_ok() => format!(
                "--http3: {tried} failed: {why}; no SNI is sent to an IP address, and some servers need one: try \
                 the URL with the server's name"
            ),
            Refusal::Handshake(why) => format!("--http3: {tried} failed: {why}"),
        })),
    }
}

/// The same for HTTP/2, from what the streams met: h2's reason and the bytes it could not read (`said`).
pub(crate) fn not_http2(addr: SocketAddr, said: &str) -> String {
    format!("no response was HTTP/2 (every stream failed): is {addr} an HTTP/2 server? h2 found {said}")
}

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
use crate::plan::{url_parts, Mode, Plan, Target, TargetSpec};
use crate::record::result::{Note, NoteKind};
use crate::server::ServerThread;

pub(crate) fn resolve(url: &url::Url) -> Result<Target, Failure> {
    let (host, path) = url_parts(url);
    let name = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    // IPv6 literals come bracketed from the URL; the resolver wants them bare.
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    let addr = (bare, port)
        .to_socket_addrs()
        .map_err(|e| Failure::Usage(format!("cannot resolve host '{name}' of {url}: {e}")))?
        .next()
        .ok_or_else(|| Failure::Usage(format!("host '{name}' of {url} has no address")))?;
    Ok(Target { addr, host, path, display: url.to_string(), tls: None, quic: None })
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
    Ok(Target { addr, host: addr.to_string(), path: "/".into(), display, tls, quic: None })
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
pub(crate) fn preflight(
    target: &Target,
    plan: &Plan,
    governor: &Governor,
    tls: Option<&crate::net::tls::Client>,
) -> Result<Option<engine::Opened>, Failure> {
    if let Some(quic) = &target.quic {
        quic_preflight(target, plan, quic)?;
        return Ok(None);
    }
    let client_ip = loop {
        match governor.acquire(Instant::now()) {
            Grant::From(ip) => break ip,
            Grant::WaitUntil(until) => std::thread::sleep(until.saturating_duration_since(Instant::now())),
            Grant::Exhausted => return Err(Failure::Usage("--port-policy fail: no free port (TIME_WAIT)".into())),
        }
    };
    let start = Instant::now();
    let err = match socket::connect_blocking_from(client_ip, target.addr, plan.nodelay, plan.connect_timeout) {
        Ok(mut stream) => {
            let handshake = start.elapsed();
            let tls = match tls {
                Some(client) => Some(tls_preflight(target, client, &mut stream, plan.connect_timeout)?),
                None => None,
            };
            return Ok(Some(engine::Opened { stream, client_ip, handshake, tls, h2_preface_sent: false }));
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

/// With https, the preflight's TLS handshake: a certificate that does not verify stops the run here, before
/// any request, with the reason and the two ways out.
fn tls_preflight(
    target: &Target,
    client: &crate::net::tls::Client,
    stream: &mut std::net::TcpStream,
    limit: Duration,
) -> Result<(rustls::ClientConnection, Duration), Failure> {
    use crate::net::tls::{handshake_blocking, Refusal};
    handshake_blocking(client, stream, limit).map_err(|refusal| {
        Failure::Usage(match refusal {
            Refusal::Certificate(reason) => format!(
                "the certificate of {} does not verify: {reason}; trust its CA with --cacert FILE, or skip \
                 verification with -k/--insecure",
                target.host
            ),
            Refusal::Handshake(err) => format!("TLS handshake with {} ({}) failed: {err}", target.display, target.addr),
            Refusal::NoProtocol => format!(
                "{} does not speak HTTP/2 (ALPN h2): its TLS handshake refused every protocol offered ({})",
                target.display,
                client.config.alpn_protocols.iter().map(|p| String::from_utf8_lossy(p)).collect::<Vec<_>>().join(", ")
            ),
        })
    })
}

/// The modes to run, and the connection the multiplex mode starts with. Multiplex needs a target that
/// speaks HTTP/2 with prior knowledge (h2c): the embedded server does; any other is asked before any load,
/// by the client's preface and the server's first frame. The connection asked is not wasted, so the server
/// counts no connection that the run does not: the preflight's when multiplex runs first, else one opened
/// for the check and kept (idle) for the multiplex mode. A target that does not speak h2c is an error
/// (exit 2) when multiplex was asked for by name, and is left out of `--mode all` with a note.
pub(crate) fn multiplex_if_spoken(
    plan: &Plan,
    target: &Target,
    governor: &Governor,
    first_connection: Option<&mut engine::Opened>,
    notes: &mut Vec<Note>,
) -> Result<(Vec<Mode>, Option<engine::Opened>), Failure> {
    let mut modes = plan.modes.clone();
    // Over HTTP/3 multiplex is streams on QUIC, which the preflight's handshake has shown the target speaks.
    if !modes.contains(&Mode::Multiplex) || plan.http3 {
        return Ok((modes, None));
    }
    if let Some(why) = engine::h2_request_error(&plan.mode_plan(Mode::Multiplex, target).parts) {
        return Err(Failure::Usage(why));
    }
    if matches!(plan.target, TargetSpec::Embedded(_)) {
        return Ok((modes, None));
    }
    let mut own = None;
    let asked = match first_connection.filter(|_| modes[0] == Mode::Multiplex) {
        Some(first) => Some(first),
        None => {
            let h2_tls = plan.mode_plan(Mode::Multiplex, target).tls;
            own = match preflight(target, plan, governor, h2_tls.as_deref()) {
                Ok(opened) => opened,
                // The run's own preflight has shown the target answers: this one failed over HTTP/2.
                Err(Failure::Usage(why)) if plan.multiplex_if_spoken => {
                    notes.push(multiplex_skipped(why));
                    modes.retain(|&mode| mode != Mode::Multiplex);
                    return Ok((modes, None));
                }
                Err(failure) => return Err(failure),
            };
            own.as_mut()
        }
    };
    // No free port to ask on (EADDRNOTAVAIL): the mode's own connections will tell.
    let Some(opened) = asked else { return Ok((modes, own)) };
    // Over TLS the handshake has answered already (ALPN); in clear text, the preface asks.
    let (how, checked) = match &opened.tls {
        Some((session, _)) => ("ALPN h2", chose_h2(session)),
        None => {
            opened.h2_preface_sent = true;
            ("h2c, prior knowledge", speaks_h2c(&mut opened.stream, plan.connect_timeout))
        }
    };
    match checked {
        Ok(()) => Ok((modes, own)),
        Err(said) if plan.multiplex_if_spoken => {
            notes.push(multiplex_skipped(format!("{} does not speak HTTP/2 ({how}; {said})", target.display)));
            modes.retain(|&mode| mode != Mode::Multiplex);
            Ok((modes, None))
        }
        Err(said) => Err(Failure::Usage(format!(
            "--mode multiplex: {} does not speak HTTP/2 ({how}): {said}; use an HTTP/1.x mode, or a server with \
             HTTP/2 enabled",
            target.display
        ))),
    }
}

fn multiplex_skipped(why: String) -> Note {
    Note::new(NoteKind::ModeSkipped, Some(Mode::Multiplex), format!("{why}: --mode all runs the four HTTP/1.x modes"))
}

/// Whether the TLS handshake chose HTTP/2: a server that cannot speak it picks no protocol (or refuses).
fn chose_h2(session: &rustls::ClientConnection) -> Result<(), String> {
    match session.alpn_protocol() {
        Some(id) if id == crate::net::tls::ALPN_H2 => Ok(()),
        Some(other) => Err(format!("its TLS handshake chose {}", String::from_utf8_lossy(other))),
        None => Err("its TLS handshake chose no protocol for h2".into()),
    }
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
/// carries no request and is closed at once, so the server sees one connection more than the run counts.
fn quic_preflight(target: &Target, plan: &Plan, quic: &crate::net::quic::Client) -> Result<(), Failure> {
    use crate::net::quic::{handshake_blocking, Refusal};
    if let Some(why) = engine::h2_request_error(&plan.mode_plan(plan.modes[0], target).parts) {
        return Err(Failure::Usage(why.replace("HTTP/2", "HTTP/3")));
    }
    let tried = format!("a QUIC handshake offering ALPN h3 to UDP {}", target.addr);
    match handshake_blocking(quic, target.addr, plan.connect_timeout) {
        Ok(_) => Ok(()),
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
            Refusal::Certificate(reason) => format!(
                "the certificate of {} does not verify: {}; trust its CA with --cacert FILE, or skip verification \
                 with -k/--insecure",
                target.host,
                crate::net::tls::describe_certificate(&reason)
            ),
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

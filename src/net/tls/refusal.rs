//! Why a blocking handshake (the preflight's, the probe's) failed, in words: the handshake itself, bounded as
//! a whole by one deadline, and each way it can fail said as people know it (a certificate's dates and
//! names, plain HTTP, an old TLS, an ALPN answer, a client certificate asked for), never in rustls' own names.

use std::io::{self, Read};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::UnixTime;
use rustls::{AlertDescription, CertificateError, ClientConnection, PeerIncompatible, PeerMisbehaved};

use super::{Client, Version};

/// Why a blocking handshake (the preflight's, the probe's) failed, classified so that it can be said in words.
#[derive(Debug)]
pub enum Refusal {
    /// The server's certificate does not verify.
    Certificate(CertificateError),
    /// ALPN (RFC 7301 §3.2): the server refused every protocol offered, or chose one that was not offered.
    Protocol(Alpn),
    /// No whole handshake within the limit.
    TimedOut,
    /// The server answered the ClientHello in plain HTTP.
    PlainHttp,
    /// The server's first bytes are not a TLS record.
    NotTls(Vec<u8>),
    /// The server speaks only TLS 1.1 or older.
    OldTls,
    /// The server does not accept the one version `--tls-version` allows.
    VersionRefused(Version),
    /// The server asked for a client certificate, then refused the handshake without one.
    ClientCertificate(AlertDescription),
    /// Anything else: a close, a reset, another alert.
    Other(io::Error),
}

/// What a server answered to the protocols offered by ALPN, when it was not one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// A `no_application_protocol` alert: none of those offered (nginx without h2, for h2).
    Refused,
    /// A protocol that was not offered (Apache without h2 answers h2 with http/1.1).
    Unoffered,
    /// No protocol at all: the handshake succeeded, so only the caller can tell (HAProxy without h2).
    None,
}

impl Alpn {
    /// The server's answer in words, after "it answered".
    pub fn answer(self) -> &'static str {
        match self {
            Alpn::Refused => "with a no_application_protocol alert",
            Alpn::Unoffered => "with a protocol that was not offered",
            Alpn::None => "with no protocol",
        }
    }
}

impl Refusal {
    /// The reason in words, with what to do where something can be done. `limit` says what bounded a
    /// handshake that timed out (`5s (--connect-timeout)`).
    pub fn explain(&self, client: &Client, limit: &str) -> String {
        let offered =
            || client.config.alpn_protocols.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>();
        match self {
            Refusal::Certificate(reason) => certificate_words(reason),
            Refusal::Protocol(answer) => format!(
                "offered {} by ALPN, it answered {}: it speaks none of them over TLS",
                offered().join(", "),
                answer.answer()
            ),
            Refusal::TimedOut => format!("it timed out: no whole TCP and TLS handshake within {limit}"),
            Refusal::PlainHttp => "it answered in plain HTTP, not TLS: use http:// for this server".into(),
            Refusal::NotTls(first) => {
                format!("it does not speak TLS (its first bytes: \"{}\")", first.escape_ascii())
            }
            Refusal::OldTls => {
                "it speaks only TLS 1.1 or older (deprecated, RFC 8996); connbench needs TLS 1.2 or later".into()
            }
            Refusal::VersionRefused(version) => {
                let name = version.name();
                format!("it does not accept TLS {name}, the only version --tls-version {name} offers")
            }
            Refusal::ClientCertificate(alert) => format!(
                "it asked for a client certificate, which connbench does not send, and refused the handshake \
                 without one (alert {})",
                alert_name(*alert)
            ),
            Refusal::Other(err) => other_words(err),
        }
    }
}

/// The preflight's (and the probe's) handshake, blocking, on an established connection: returns the session,
/// ready for data, and how long the handshake took. The handshake as a whole ends by `deadline`, however
/// slowly the server sends: each read and write may wait only for what is left of it.
pub fn handshake_blocking(
    client: &Client,
    tcp: &mut std::net::TcpStream,
    deadline: Instant,
) -> Result<(ClientConnection, Duration), Refusal> {
    let start = Instant::now();
    let mut session = ClientConnection::new(client.config.clone(), client.server_name.clone())
        .map_err(|e| Refusal::Other(io::Error::other(e)))?;
    let mut wire = Recorded { tcp, first: Vec::new() };
    let mut step = || -> io::Result<()> {
        loop {
            while session.wants_write() {
                wire.tcp.set_write_timeout(Some(left(deadline)?))?;
                session.write_tls(wire.tcp)?;
            }
            if !session.is_handshaking() {
                return Ok(());
            }
            wire.tcp.set_read_timeout(Some(left(deadline)?))?;
            if session.read_tls(&mut wire)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the handshake"));
            }
            if let Err(error) = session.process_new_packets() {
                // Tell the server why (the alert rustls queued), as any TLS client does.
                let _ = session.write_tls(wire.tcp);
                return Err(io::Error::new(io::ErrorKind::InvalidData, error));
            }
        }
    };
    let outcome = step();
    let first = std::mem::take(&mut wire.first);
    if let Err(err) = outcome {
        return Err(classify(err, &first, client));
    }
    let took = start.elapsed();
    tcp.set_read_timeout(None).and_then(|()| tcp.set_write_timeout(None)).map_err(Refusal::Other)?;
    Ok((session, took))
}

/// What is left until `deadline`, or a time-out error once nothing is.
fn left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    Ok(left)
}

/// The socket under a handshake, keeping the first bytes the server sent: they tell plain HTTP, or another
/// protocol, from TLS.
struct Recorded<'a> {
    tcp: &'a mut std::net::TcpStream,
    first: Vec<u8>,
}

impl Read for Recorded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        const KEPT: usize = 32;
        let n = self.tcp.read(buf)?;
        let room = KEPT.saturating_sub(self.first.len()).min(n);
        self.first.extend_from_slice(&buf[..room]);
        Ok(n)
    }
}

fn classify(err: io::Error, first: &[u8], client: &Client) -> Refusal {
    use rustls::Error as E;
    if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
        return Refusal::TimedOut;
    }
    if first.starts_with(b"HTTP/") {
        return Refusal::PlainHttp;
    }
    // A TLS record begins with its content type (20 to 24) and major version 3 (RFC 8446 §5.1).
    let tls_record = |first: &[u8]| matches!(first, [20..=24] | [20..=24, 3, ..]);
    if !first.is_empty() && !tls_record(first) {
        return Refusal::NotTls(first.to_vec());
    }
    let Some(rustls_error) = err.get_ref().and_then(|e| e.downcast_ref::<E>()) else { return Refusal::Other(err) };
    match rustls_error {
        E::InvalidCertificate(reason) => Refusal::Certificate(reason.clone()),
        E::AlertReceived(AlertDescription::NoApplicationProtocol) => Refusal::Protocol(Alpn::Refused),
        E::PeerMisbehaved(PeerMisbehaved::SelectedUnofferedApplicationProtocol) => Refusal::Protocol(Alpn::Unoffered),
        E::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13) => Refusal::OldTls,
        E::PeerIncompatible(PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig)
        | E::AlertReceived(AlertDescription::ProtocolVersion) => match client.version {
            Some(version) => Refusal::VersionRefused(version),
            None => Refusal::OldTls,
        },
        E::AlertReceived(alert) if client.certificate_was_requested() => Refusal::ClientCertificate(*alert),
        _ => Refusal::Other(err),
    }
}

/// A failure without a class of its own, in words: rustls' own names (`AlertReceived(HandshakeFailure)`) are
/// for its developers.
fn other_words(err: &io::Error) -> String {
    use rustls::Error as E;
    match err.get_ref().and_then(|e| e.downcast_ref::<E>()) {
        Some(E::AlertReceived(alert)) => format!("it refused the handshake (alert {})", alert_name(*alert)),
        Some(E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. }) => {
            "it sent a TLS message that makes no sense at this point of the handshake".into()
        }
        Some(E::PeerMisbehaved(_) | E::PeerIncompatible(_)) => {
            format!("its handshake breaks the TLS rules connbench follows ({err})")
        }
        Some(_) => err.to_string(),
        None if err.kind() == io::ErrorKind::UnexpectedEof => "it closed the connection during the handshake".into(),
        None if crate::record::ErrorKind::of_io(err) == crate::record::ErrorKind::Reset => {
            "it reset the connection during the handshake".into()
        }
        None => err.to_string(),
    }
}

/// An alert by its name in RFC 8446 §6 (`handshake_failure`), from rustls' (`HandshakeFailure`).
fn alert_name(alert: AlertDescription) -> String {
    let rust = format!("{alert:?}");
    let chars: Vec<char> = rust.chars().collect();
    let mut name = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev_lower = i > 0 && chars[i - 1].is_ascii_lowercase();
        let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
        if c.is_ascii_uppercase() && i > 0 && (prev_lower || (chars[i - 1].is_ascii_uppercase() && next_lower)) {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// A certificate error in words people know from browsers and curl, and the way out where there is one:
/// `--cacert` only where trusting another certificate would help (an unknown issuer), never for a certificate
/// that is expired or names another host.
fn certificate_words(reason: &CertificateError) -> String {
    use CertificateError as E;
    const SKIP: &str = "or skip verification with -k/--insecure";
    let date = |time: &UnixTime| {
        humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(time.as_secs())).to_string()
    };
    match reason {
        E::UnknownIssuer => {
            format!("signed by an unknown authority (self-signed, or a private CA); trust its CA with --cacert FILE, {SKIP}")
        }
        E::ExpiredContext { time, not_after } => {
            format!("it expired at {} (it is now {}); renew it, {SKIP}", date(not_after), date(time))
        }
        E::Expired => format!("it has expired; renew it, {SKIP}"),
        E::NotValidYetContext { time, not_before } => format!(
            "it is not valid until {} (it is now {}): check this host's clock, {SKIP}",
            date(not_before),
            date(time)
        ),
        E::NotValidYet => format!("it is not valid yet: check this host's clock, {SKIP}"),
        E::NotValidForNameContext { expected, presented } => {
            let names: Vec<String> = presented.iter().map(|name| presented_name(name)).collect();
            let expected = expected.to_str();
            if names.is_empty() {
                format!(
                    "it names no host (no subjectAltName; a Common Name alone is not checked, RFC 9525 §6.3), so \
                     not {expected}; {SKIP}"
                )
            } else {
                format!("it is for {}, not {expected}: use one of those in the URL, {SKIP}", names.join(", "))
            }
        }
        E::NotValidForName => format!("it is for another host name; {SKIP}"),
        E::Revoked => format!("it has been revoked; {SKIP}"),
        // A trusted certificate bears the issuer's name, but not the key that signed this one: an unknown
        // authority that happens to share a name with a known one.
        E::BadSignature | E::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => format!(
            "signed by an unknown authority (its issuer's name matches a trusted certificate, its signature does \
             not); trust its CA with --cacert FILE, {SKIP}"
        ),
        E::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => format!(
            "the server presents a CA certificate (CA:TRUE) as its own; give that very certificate with --cacert \
             FILE to trust it as this server, {SKIP}"
        ),
        E::BadEncoding => format!("it cannot be parsed (not DER X.509); {SKIP}"),
        other => format!("{other}; {SKIP}"),
    }
}

/// A name as webpki lists what a certificate covers (`DnsName("localhost")`, `IpAddress(127.0.0.1)`), bare.
fn presented_name(name: &str) -> String {
    let inner = |prefix: &str| name.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(')'));
    match (inner("DnsName("), inner("IpAddress(")) {
        (Some(dns), _) => dns.trim_matches('"').to_string(),
        (_, Some(ip)) => ip.to_string(),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_and_names_are_said_as_the_rfcs_write_them() {
        assert_eq!(alert_name(AlertDescription::HandshakeFailure), "handshake_failure");
        assert_eq!(alert_name(AlertDescription::UnknownCA), "unknown_ca");
        assert_eq!(alert_name(AlertDescription::UnknownPSKIdentity), "unknown_psk_identity");
        assert_eq!(alert_name(AlertDescription::CertificateRequired), "certificate_required");
        assert_eq!(presented_name("DnsName(\"localhost\")"), "localhost");
        assert_eq!(presented_name("IpAddress(127.0.0.1)"), "127.0.0.1");
    }
}

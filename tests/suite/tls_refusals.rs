use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use connbench::net::tls::{Identity, Version};
use connbench::server::{ServerConfig, ServerThread};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::PrivateKeyDer;

use crate::tls::{https, tls_config};
use crate::util::{binary, connbench, raw_server, run_url, server, settled, temp_pem, tls_server_with};

/// What a test certificate is: the names of its subjectAltName (none: only its Common Name names a host), the
/// years it is valid from and until, and whether it says CA:TRUE.
struct Spec<'a> {
    common_name: &'a str,
    names: &'a [&'a str],
    years: (i32, i32),
    ca: bool,
}

const NOW: Spec = Spec { common_name: "connbench test", names: &["127.0.0.1"], years: (2020, 2099), ca: false };

fn params(spec: &Spec) -> CertificateParams {
    let mut params = CertificateParams::new(spec.names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, spec.common_name);
    params.not_before = rcgen::date_time_ymd(spec.years.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(spec.years.1, 1, 1);
    if spec.ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    params
}

/// An embedded https server presenting a certificate of `spec`, signed by itself, or by a CA made for it with
/// `by_ca`; returns the server and a PEM file of what a client should trust (the CA, or the certificate).
fn serve(spec: &Spec, by_ca: bool) -> (ServerThread, std::path::PathBuf) {
    let key = KeyPair::generate().unwrap();
    let (cert, trusted) = if by_ca {
        let ca_key = KeyPair::generate().unwrap();
        let ca = rcgen::CertifiedIssuer::self_signed(
            params(&Spec { common_name: "connbench test CA", ca: true, ..NOW }),
            ca_key,
        )
        .unwrap();
        (params(spec).signed_by(&key, &ca).unwrap(), ca.pem())
    } else {
        let cert = params(spec).self_signed(&key).unwrap();
        let pem = cert.pem();
        (cert, pem)
    };
    let identity =
        Identity { chain: vec![cert.der().clone()], key: PrivateKeyDer::try_from(key.serialize_der()).unwrap() };
    let tls = Some(identity.server_config(None).unwrap());
    (server(ServerConfig { tls, ..ServerConfig::default() }), temp_pem(&trusted))
}

/// Runs the binary against `url` and returns its one line of stderr, which must come with exit 2.
fn refused(args: &[&str]) -> String {
    let (code, stdout, stderr) = connbench(args);
    assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn cacert_naming_the_servers_own_ca_certificate_trusts_it_as_that_server() {
    // What `openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1` makes: self-signed, CA:TRUE, a
    // Common Name and no subjectAltName. webpki refuses a CA certificate in a server's place; curl trusts it.
    let own = Spec { common_name: "127.0.0.1", names: &[], ca: true, ..NOW };
    let (target, pem) = serve(&own, false);
    let (url, pem) = (https(target.addr), pem.to_str().unwrap());
    let result = run_url(&url, &["--cacert", pem, "--mode", "serial", "-n", "3"]);
    assert_eq!((result.runs[0].requests, result.runs[0].errors.total()), (3, 0));
    assert!(!result.runs[0].tls.as_ref().unwrap().insecure);
    let out = binary().args(["probe", &url, "--cacert", pem, "--max-time", "2s"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // without --cacert: what it is and how to trust it, in words
    let said = refused(&["run", &url, "-n", "1"]);
    assert!(said.contains("presents a CA certificate (CA:TRUE) as its own") && said.contains("--cacert"), "{said}");
    assert!(!said.contains("CaUsedAsEndEntity"), "{said}");
    // its name is still checked: a certificate for localhost is not one for 127.0.0.1
    let (other, other_pem) = serve(&Spec { common_name: "localhost", ..own }, false);
    let said = refused(&["run", &https(other.addr), "--cacert", other_pem.to_str().unwrap(), "-n", "1"]);
    assert!(said.contains("it is for localhost, not 127.0.0.1"), "{said}");
    // and so are its dates
    let (old, old_pem) = serve(&Spec { years: (2019, 2020), ..own }, false);
    let said = refused(&["run", &https(old.addr), "--cacert", old_pem.to_str().unwrap(), "-n", "1"]);
    assert!(said.contains("it expired at 2020-01-01T00:00:00Z"), "{said}");
    assert_eq!((settled(&other).requests, settled(&old).requests), (0, 0));
}

#[test]
fn certificate_errors_say_which_and_suggest_cacert_only_where_it_helps() {
    // each case: the certificate, signed by a CA the client trusts, and what the message must say
    for (spec, said) in [
        (Spec { years: (2019, 2020), ..NOW }, "it expired at 2020-01-01T00:00:00Z (it is now "),
        (Spec { years: (2090, 2099), ..NOW }, "it is not valid until 2090-01-01T00:00:00Z (it is now "),
        (
            Spec { names: &["example.com", "www.example.com"], ..NOW },
            "it is for example.com, www.example.com, not 127.0.0.1",
        ),
    ] {
        let (target, ca) = serve(&spec, true);
        let line = refused(&["run", &https(target.addr), "--cacert", ca.to_str().unwrap(), "-n", "1"]);
        assert!(line.contains("does not verify") && line.contains(said), "{line}");
        assert!(
            !line.contains("--cacert") && line.contains("-k/--insecure"),
            "trusting another CA cannot help: {line}"
        );
        assert_eq!(settled(&target).requests, 0);
    }
    // an unknown issuer is what --cacert is for
    let (target, _) = serve(&NOW, true);
    let line = refused(&["run", &https(target.addr), "-n", "1"]);
    assert!(line.contains("unknown authority") && line.contains("--cacert FILE"), "{line}");
}

/// A listener that answers every connection by `answer` on a thread of its own, for as long as the test runs.
fn hostile(answer: fn(std::net::TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    addr
}

/// Reads the ClientHello, then sends a TLS record header and its body one byte every 200 ms: each read
/// gets a byte well within any timeout, the handshake never ends.
fn trickle(mut stream: std::net::TcpStream) {
    let mut hello = [0u8; 4096];
    let _ = stream.read(&mut hello);
    let _ = stream.write_all(&[22, 3, 3, 0, 200]);
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(200));
        if stream.write_all(&[2]).is_err() {
            return;
        }
    }
}

#[test]
fn a_handshake_trickled_out_a_byte_at_a_time_is_bounded_by_connect_timeout() {
    let slow = hostile(trickle);
    let began = Instant::now();
    let said = refused(&["run", &https(slow), "-k", "-n", "1", "--connect-timeout", "1s"]);
    assert!(said.contains("timed out") && said.contains("within 1s (--connect-timeout)"), "{said}");
    assert!(!said.contains("os error"), "{said}");
    // 1 s asked, 40 s to the end of the trickle: anything near 1 s is the bound at work
    assert!(began.elapsed() < Duration::from_secs(15), "{:?}", began.elapsed());
    // probe --max-time bounds its handshakes as well
    let began = Instant::now();
    let out = binary().args(["probe", &https(slow), "-k", "--max-time", "2s"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(began.elapsed() < Duration::from_secs(15), "{:?}", began.elapsed());
}

#[test]
fn servers_that_cannot_speak_tls_as_asked_are_named_in_words() {
    // a ServerHello for TLS 1.1 (0x0302): RSA with AES-128-CBC-SHA, no extensions
    let mut tls11_hello = vec![22, 3, 2, 0, 42, 2, 0, 0, 38, 3, 2];
    tls11_hello.extend_from_slice(&[7; 32]);
    tls11_hello.extend_from_slice(&[0, 0, 0x2f, 0]);
    // each case: what the server answers the ClientHello, and what the message must say
    for (answer, said) in [
        (
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec(),
            "it answered in plain HTTP, not TLS: use http://",
        ),
        (tls11_hello, "it speaks only TLS 1.1 or older (deprecated, RFC 8996); connbench needs TLS 1.2 or later"),
        // a protocol_version alert, as a server refusing TLS 1.2 and 1.3 sends
        (vec![21, 3, 1, 0, 2, 2, 70], "connbench needs TLS 1.2 or later"),
        (b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(), "it does not speak TLS (its first bytes: \"SSH-2.0-OpenSSH_9.6\\r\\n"),
    ] {
        let target = raw_server(answer);
        let line = refused(&["run", &https(target), "-k", "-n", "1"]);
        assert!(line.contains("TLS handshake with https://127.0.0.1:") && line.contains(said), "{line}");
        let out = binary().args(["probe", &https(target), "-k", "--max-time", "2s"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(said), "the probe says the same: {stderr}");
    }
    // a server that speaks TLS 1.2 alone, to a client that offers 1.3 alone
    let (target, ca) = tls_server_with(ServerConfig::default(), |identity| tls_config(identity, Some(Version::Tls12)));
    let line =
        refused(&["run", &https(target.addr), "--cacert", ca.to_str().unwrap(), "--tls-version", "1.3", "-n", "1"]);
    assert!(line.contains("it does not accept TLS 1.3, the only version --tls-version 1.3 offers"), "{line}");
}

/// A server that requires a client certificate (any, signed by a CA nobody has).
fn requiring_a_client_certificate(version: Version) -> (ServerThread, std::path::PathBuf) {
    tls_server_with(ServerConfig::default(), |identity| {
        let ca = rcgen::CertifiedIssuer::self_signed(params(&Spec { ca: true, ..NOW }), KeyPair::generate().unwrap())
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
        let versions: &[&rustls::SupportedProtocolVersion] = match version {
            Version::Tls12 => &[&rustls::version::TLS12],
            Version::Tls13 => &[&rustls::version::TLS13],
        };
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(identity.chain, identity.key)
            .unwrap();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        tls
    })
}

#[test]
fn a_server_requiring_a_client_certificate_fails_as_tls_and_says_so() {
    // TLS 1.3: the client's handshake ends before the server refuses (RFC 8446 §4.4.2.4), so the run goes on
    // and each request fails on the server's certificate_required alert
    let (target, ca) = requiring_a_client_certificate(Version::Tls13);
    let result = run_url(&https(target.addr), &["--cacert", ca.to_str().unwrap(), "--mode", "serial", "-n", "3"]);
    let m = &result.runs[0];
    assert_eq!((m.requests, m.errors.tls, m.errors.other), (0, 3, 0), "{:?}", m.errors);
    let note = result.notes.iter().find(|n| n.kind == connbench::note::NoteKind::ClientCertificate).expect("a note");
    assert!(note.text.contains("asked for a client certificate, which connbench does not send"), "{}", note.text);
    assert_eq!(note.figures["tls_errors"], 3.0);
    // TLS 1.2: the server refuses in the handshake, so the preflight does, saying why
    let (target, ca) = requiring_a_client_certificate(Version::Tls12);
    let line = refused(&["run", &https(target.addr), "--cacert", ca.to_str().unwrap(), "-n", "1"]);
    assert!(line.contains("it asked for a client certificate, which connbench does not send"), "{line}");
}

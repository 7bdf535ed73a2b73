//! Renders the request bytes once per plan, so the hot path only copies a prepared buffer.
//!
//! The request is as small as wrk's: the request line, `Host`, and what the mode needs. No `User-Agent`
//! by default: against nginx (pipeline depth 16) that one header cost 4-6 % of the server's requests/s
//! and 2.5 % of the client's CPU per request, and a benchmark should measure the server, not its
//! header parsing; `-H 'User-Agent: ...'` adds one. A `-H` Host replaces ours; `Connection` and
//! `Content-Length` are ours to set, because the mode decides them.

/// Everything that shapes one request's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec<'a> {
    pub method: &'a str,
    /// Origin-form target: path and query, e.g. `/index.html?x=1`.
    pub target: &'a str,
    /// The Host header value (host, with the port when it is not the scheme's default).
    pub host: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub http10: bool,
    /// The Connection header this mode needs (`close`, `Keep-Alive`), if any.
    pub connection: Option<&'a str>,
}

pub fn render(spec: &RequestSpec) -> Vec<u8> {
    let version = if spec.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    let mut out = Vec::with_capacity(128 + spec.body.len());
    push_line(&mut out, &format!("{} {} {version}", spec.method, spec.target));
    if !spec.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        push_line(&mut out, &format!("Host: {}", spec.host));
    }
    for (name, value) in spec.headers {
        push_line(&mut out, &format!("{name}: {value}"));
    }
    if let Some(connection) = spec.connection {
        push_line(&mut out, &format!("Connection: {connection}"));
    }
    if !spec.body.is_empty() || matches!(spec.method, "POST" | "PUT" | "PATCH") {
        push_line(&mut out, &format!("Content-Length: {}", spec.body.len()));
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(spec.body);
    out
}

fn push_line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// RFC 9110 §9.2.2: a method the server may see twice without harm, which alone may be sent again or pipelined.
/// Unknown methods are not.
pub fn idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE")
}

/// Headers the mode owns: a user value would contradict the connection strategy being measured.
pub const RESERVED_HEADERS: [&str; 3] = ["connection", "content-length", "transfer-encoding"];

/// What is wrong with a header a user gives (`-H`, a targets file), if anything: a name that is not a token,
/// one the mode owns, a value with a line break or a control character.
pub fn field_problem(name: &str, value: &str) -> Option<String> {
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Some(format!("'{}' is not a header name", crate::printable::printable(name)));
    }
    if RESERVED_HEADERS.iter().any(|r| name.eq_ignore_ascii_case(r)) {
        return Some(format!("{name} is set by the mode (use --mode, --close-by, --http1.0 or --body)"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Some("the value holds a line break".into());
    }
    // RFC 9110 §5.5: a field value is visible characters, spaces and tabs; a control byte is for the server
    // to reject or, worse, to read otherwise than a proxy in front of it does.
    let control = value.bytes().find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)?;
    Some(format!("the value holds the control character 0x{control:02x} (RFC 9110 §5.5)"))
}

/// RFC 9110 §5.6.2 token characters: what a method and a header name are made of.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Headers whose values are credentials: shown and written masked, never as sent.
const CREDENTIALS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// A header as it may be shown or written: a credential's value masked, keeping an Authorization scheme
/// (`Bearer ***`), which says how the request authenticated without saying with what.
pub fn masked_header(name: &str, value: &str) -> String {
    if !CREDENTIALS.iter().any(|c| name.eq_ignore_ascii_case(c)) {
        return format!("{name}: {value}");
    }
    match value.split_once(' ') {
        Some((scheme, _)) if !name.eq_ignore_ascii_case("cookie") => format!("{name}: {scheme} ***"),
        _ => format!("{name}: ***"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked_keeping_the_scheme() {
        // each case: name, value, as shown
        for (name, value, shown) in [
            ("Authorization", "Bearer eyJhbGci", "Authorization: Bearer ***"),
            ("authorization", "s3cret", "authorization: ***"),
            ("Proxy-Authorization", "Basic dXNlcjpw", "Proxy-Authorization: Basic ***"),
            ("Cookie", "session=abc; theme=dark", "Cookie: ***"),
            ("Content-Type", "application/json", "Content-Type: application/json"),
        ] {
            assert_eq!(masked_header(name, value), shown, "{name}");
        }
    }

    fn spec<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> RequestSpec<'a> {
        RequestSpec {
            method: "GET",
            target: "/a?b=1",
            host: "example.test:8080",
            headers,
            body,
            http10: false,
            connection: None,
        }
    }

    #[test]
    fn plain_get_is_the_request_line_and_host() {
        let bytes = render(&spec(&[], b""));
        assert_eq!(String::from_utf8(bytes).unwrap(), "GET /a?b=1 HTTP/1.1\r\nHost: example.test:8080\r\n\r\n");
    }

    #[test]
    fn user_headers_replace_defaults_and_body_gets_a_length() {
        let headers = vec![
            ("host".to_string(), "other".to_string()),
            ("User-Agent".to_string(), "me".to_string()),
            ("X-A".to_string(), "1".to_string()),
        ];
        let mut s = spec(&headers, b"hello");
        s.method = "POST";
        s.http10 = true;
        s.connection = Some("Keep-Alive");
        let text = String::from_utf8(render(&s)).unwrap();
        assert_eq!(
            text,
            "POST /a?b=1 HTTP/1.0\r\nhost: other\r\nUser-Agent: me\r\nX-A: 1\r\nConnection: Keep-Alive\r\n\
             Content-Length: 5\r\n\r\nhello"
        );
    }

    #[test]
    fn empty_post_says_its_length_is_zero() {
        let mut s = spec(&[], b"");
        s.method = "POST";
        assert!(String::from_utf8(render(&s)).unwrap().contains("Content-Length: 0\r\n"));
    }
}

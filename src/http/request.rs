//! Renders the request bytes once per plan, so the hot path only copies a prepared buffer.
//!
//! Headers the user gives with `-H` replace our defaults of the same name (Host, User-Agent);
//! `Connection` and `Content-Length` are ours to set, because the mode decides them.

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
    let user_sets = |name: &str| spec.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !user_sets("host") {
        push_line(&mut out, &format!("Host: {}", spec.host));
    }
    if !user_sets("user-agent") {
        push_line(&mut out, concat!("User-Agent: connbench/", env!("CARGO_PKG_VERSION")));
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

/// Headers the mode owns: a user value would contradict the connection strategy being measured.
pub const RESERVED_HEADERS: [&str; 3] = ["connection", "content-length", "transfer-encoding"];

#[cfg(test)]
mod tests {
    use super::*;

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
    fn plain_get_has_host_and_agent() {
        let bytes = render(&spec(&[], b""));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("GET /a?b=1 HTTP/1.1\r\nHost: example.test:8080\r\nUser-Agent: connbench/"));
        assert!(text.ends_with("\r\n\r\n"));
        assert!(!text.contains("Content-Length"));
    }

    #[test]
    fn user_headers_replace_defaults_and_body_gets_a_length() {
        let headers = vec![("host".to_string(), "other".to_string()), ("X-A".to_string(), "1".to_string())];
        let mut s = spec(&headers, b"hello");
        s.method = "POST";
        s.http10 = true;
        s.connection = Some("Keep-Alive");
        let text = String::from_utf8(render(&s)).unwrap();
        assert_eq!(
            text,
            format!(
                "POST /a?b=1 HTTP/1.0\r\nUser-Agent: connbench/{}\r\nhost: other\r\nX-A: 1\r\nConnection: Keep-Alive\r\nContent-Length: 5\r\n\r\nhello",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn empty_post_says_its_length_is_zero() {
        let mut s = spec(&[], b"");
        s.method = "POST";
        assert!(String::from_utf8(render(&s)).unwrap().contains("Content-Length: 0\r\n"));
    }
}

//! The pre-rendered responses: every byte the server sends is formatted once per [`ServerConfig`], so the hot
//! path only copies bytes.

use std::io::Write as _;

use super::ServerConfig;

/// How a response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Length = 0,
    Chunked = 1,
}

/// Which connection headers a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConnHeader {
    /// HTTP/1.1 persistence: nothing, or `Connection: Keep-Alive` + `Keep-Alive:` when its knobs are set.
    Keep11 = 0,
    /// HTTP/1.0 persistence: `Connection: Keep-Alive` (+ `Keep-Alive:` when its knobs are set).
    Keep10 = 1,
    /// `Connection: close`.
    Close = 2,
    /// HTTP/1.1 persistence with nothing said: with `keep_alive_if_asked`, the answer to a request that did not
    /// ask for keep-alive.
    Quiet11 = 3,
}

/// Every byte the server sends, rendered once per config.
#[derive(Debug)]
pub(super) struct Rendered {
    /// Response heads, by `[Framing][ConnHeader]`. With `keep_alive_max`, the persistent heads end in
    /// `max=` + the blank line, and [`Rendered::head`] writes the countdown's digits in between.
    pub(super) heads: [[Box<[u8]>; 4]; 2],
    /// The body as framed, by `[Framing]` (the raw bytes, or one chunk and the last chunk).
    pub(super) bodies: [Box<[u8]>; 2],
    /// How many bytes of `bodies[framing]` a truncated response sends.
    pub(super) truncated: [usize; 2],
    /// Complete 400 and 431 responses, with `Connection: close`.
    pub(super) bad_request: Box<[u8]>,
    pub(super) too_large: Box<[u8]>,
}

/// Reason phrases for the statuses people ask for; anything else is "Unknown".
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The body every response carries, whatever its framing or protocol: the greeting for the default size of
/// 12, else that many `x` (none for a status that cannot carry one).
pub(super) fn body(config: &ServerConfig) -> Vec<u8> {
    match config.body_size {
        _ if bodyless(config.status) => Vec::new(),
        12 => b"hello world\n".to_vec(),
        size => vec![b'x'; size],
    }
}

/// Statuses whose responses never have a body (RFC 9110 §6.4.1).
pub(super) fn bodyless(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// The blank line that ends a head.
const END_OF_HEAD: &[u8] = b"\r\n\r\n";

impl Rendered {
    /// Appends the head `[framing][conn]` to `out`; `max_left` is the `Keep-Alive: max` of this response when
    /// the config counts down (the persistent heads only).
    pub(super) fn head(&self, out: &mut Vec<u8>, framing: Framing, conn: ConnHeader, max_left: Option<u64>) {
        let head = &self.heads[framing as usize][conn as usize];
        match max_left {
            Some(left) if matches!(conn, ConnHeader::Keep11 | ConnHeader::Keep10) => {
                let digits_at = head.len() - END_OF_HEAD.len();
                out.extend_from_slice(&head[..digits_at]);
                // Writing into a Vec cannot fail.
                let _ = write!(out, "{left}");
                out.extend_from_slice(END_OF_HEAD);
            }
            _ => out.extend_from_slice(head),
        }
    }

    pub(super) fn new(config: &ServerConfig) -> Self {
        Rendered::with_body(config, body(config), "text/plain")
    }

    /// The responses of `config` with this body and media type instead of its own (the page's resources).
    pub(super) fn with_body(config: &ServerConfig, data: Vec<u8>, media_type: &str) -> Self {
        let version = if config.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let no_body = bodyless(config.status);
        let data = if no_body { Vec::new() } else { data };
        let size = data.len();

        let mut keep_alive = Vec::new();
        if let Some(t) = config.keep_alive_timeout {
            keep_alive.push(format!("timeout={}", t.as_secs()));
        }
        if config.keep_alive_max.is_some() {
            // Last on the line: the countdown's digits are written in at the end of the head, per response.
            keep_alive.push("max=".to_string());
        }
        let keep_alive_line = if keep_alive.is_empty() {
            String::new()
        } else {
            format!("Connection: Keep-Alive\r\nKeep-Alive: {}\r\n", keep_alive.join(", "))
        };
        let conn_lines = [
            keep_alive_line.clone(),
            if keep_alive_line.is_empty() { "Connection: Keep-Alive\r\n".to_string() } else { keep_alive_line },
            "Connection: close\r\n".to_string(),
            String::new(),
        ];
        let framing_lines = if no_body {
            [String::new(), String::new()]
        } else {
            [format!("Content-Length: {size}\r\n"), "Transfer-Encoding: chunked\r\n".to_string()]
        };
        let status_line =
            format!("{version} {} {}\r\nContent-Type: {media_type}\r\n", config.status, reason(config.status));
        let heads = framing_lines.map(|framing| {
            conn_lines.clone().map(|conn| format!("{status_line}{framing}{conn}\r\n").into_bytes().into_boxed_slice())
        });

        let mut chunked = Vec::with_capacity(size + 32);
        let mut chunk_prefix = 0;
        if size > 0 {
            chunked.extend_from_slice(format!("{size:x}\r\n").as_bytes());
            chunk_prefix = chunked.len();
            chunked.extend_from_slice(&data);
            chunked.extend_from_slice(b"\r\n");
        }
        if !no_body {
            chunked.extend_from_slice(b"0\r\n\r\n");
        }
        let half = size / 2;
        let truncated = [half, if size > 0 { chunk_prefix + half } else { 0 }];

        let error = |status: u16| {
            let body = format!("{}\n", reason(status).to_ascii_lowercase());
            format!(
                "{version} {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                reason(status),
                body.len()
            )
            .into_bytes()
            .into_boxed_slice()
        };
        Rendered {
            heads,
            bodies: [data.into_boxed_slice(), chunked.into_boxed_slice()],
            truncated,
            bad_request: error(400),
            too_large: error(431),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrases_and_rendering() {
        assert_eq!(reason(200), "OK");
        assert_eq!(reason(599), "Unknown");
        let r = Rendered::new(&ServerConfig { status: 599, keep_alive_max: Some(7), ..Default::default() });
        let head = |f: Framing, c: ConnHeader| {
            let mut out = Vec::new();
            r.head(&mut out, f, c, Some(6));
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            head(Framing::Length, ConnHeader::Keep11),
            "HTTP/1.1 599 Unknown\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\
             Connection: Keep-Alive\r\nKeep-Alive: max=6\r\n\r\n"
        );
        assert_eq!(
            head(Framing::Chunked, ConnHeader::Close),
            "HTTP/1.1 599 Unknown\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(&*r.bodies[1], b"c\r\nhello world\n\r\n0\r\n\r\n");
        assert_eq!(r.truncated, [6, 3 + 6]);
        assert_eq!(
            head(Framing::Length, ConnHeader::Quiet11),
            "HTTP/1.1 599 Unknown\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
        );
        let plain = Rendered::new(&ServerConfig::default());
        assert_eq!(
            &*plain.heads[0][ConnHeader::Keep10 as usize],
            &b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: Keep-Alive\r\n\r\n"[..]
        );
        let bad = ServerConfig { status: 42, ..Default::default() };
        assert!(bad.validate().is_err());
        assert!(ServerConfig { keep_alive_max: Some(0), ..Default::default() }.validate().is_err());
    }
}

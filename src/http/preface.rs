//! The HTTP/2 connection preface (RFC 9113 §3.4), as bytes: what a client sends first with prior knowledge
//! (h2c on `http://`), and how the first bytes of a server's answer tell whether it speaks HTTP/2. Pure.

/// The client's preface: this string, then a SETTINGS frame.
pub const CLIENT_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A frame header is 9 bytes: length (3), type (1), flags (1), stream id (4).
const FRAME_HEADER: usize = 9;
const SETTINGS: u8 = 0x4;

/// What the first bytes from a server say about HTTP/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerAnswer {
    /// A SETTINGS frame on stream 0: the server's own preface, so it speaks HTTP/2.
    Http2,
    /// Not yet a whole frame header.
    Incomplete,
    /// Anything else (an HTTP/1.x `400 Bad Request`, TLS, ...).
    NotHttp2,
}

/// Reads the first bytes a server sent after the client's preface: its preface must be a SETTINGS frame
/// (RFC 9113 §3.4), not an ACK, on stream 0.
pub fn server_answer(first: &[u8]) -> ServerAnswer {
    if first.len() < FRAME_HEADER {
        // An HTTP/1.x server answers with a status line, and no SETTINGS frame header starts with "HTTP/".
        let line = b"HTTP/";
        let shown = first.len().min(line.len());
        return if first.len() >= line.len() && first[..shown] == line[..shown] {
            ServerAnswer::NotHttp2
        } else {
            ServerAnswer::Incomplete
        };
    }
    let settings = first[3] == SETTINGS && first[4] & 0x1 == 0 && first[5..9] == [0, 0, 0, 0];
    if settings {
        ServerAnswer::Http2
    } else {
        ServerAnswer::NotHttp2
    }
}

/// Could a connection starting with these bytes be an HTTP/2 client's preface? (None yet: no telling.)
pub fn starts_like_preface(first: &[u8]) -> Option<bool> {
    let shown = first.len().min(CLIENT_PREFACE.len());
    if first[..shown] != CLIENT_PREFACE[..shown] {
        return Some(false);
    }
    // "PRI" is no method an HTTP/1.x client sends (RFC 9113 §3.4 reserves it): three bytes decide.
    (shown >= 3).then_some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_frame_is_http2_and_a_status_line_is_not() {
        // each case: the first bytes, what they say
        for (first, answer) in [
            (&[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3][..], ServerAnswer::Http2),
            (&[0, 0, 0, 4, 1, 0, 0, 0, 0][..], ServerAnswer::NotHttp2), // an ACK is no preface
            (&[0, 0, 0, 4, 0, 0, 0, 0, 1][..], ServerAnswer::NotHttp2), // not stream 0
            (&[0, 0, 6, 4][..], ServerAnswer::Incomplete),
            (&b"HTTP/1.1 400 Bad Request\r\n"[..], ServerAnswer::NotHttp2),
            (&b"HTTP/"[..], ServerAnswer::NotHttp2),
            (&b"HTT"[..], ServerAnswer::Incomplete),
            (&b"SSH-2.0-OpenSSH"[..], ServerAnswer::NotHttp2),
        ] {
            assert_eq!(server_answer(first), answer, "{first:?}");
        }
    }

    #[test]
    fn the_preface_is_told_from_an_http1_request_by_three_bytes() {
        assert_eq!(starts_like_preface(b"PRI * HTTP/2.0"), Some(true));
        assert_eq!(starts_like_preface(b"PR"), None);
        assert_eq!(starts_like_preface(b"POST / HTTP/1.1"), Some(false));
        assert_eq!(starts_like_preface(b"GET / HTTP/1.1\r\n"), Some(false));
        assert_eq!(starts_like_preface(CLIENT_PREFACE), Some(true));
    }
}

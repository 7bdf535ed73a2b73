//! The connection modes, a leaf of shared vocabulary: the plan resolves them, the result records them.

use serde::{Deserialize, Serialize};

/// The connection strategies of HTTP: The Definitive Guide, ch. 4, in the order `--mode all` runs them: the
/// four of HTTP/1.x, then multiplexing, the book's fourth technique, as HTTP/2 does it (RFC 9113).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Serial,
    Parallel,
    Keepalive,
    Pipeline,
    Multiplex,
}

impl Mode {
    pub const ALL: [Mode; 5] = [Mode::Serial, Mode::Parallel, Mode::Keepalive, Mode::Pipeline, Mode::Multiplex];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Serial => "serial",
            Mode::Parallel => "parallel",
            Mode::Keepalive => "keepalive",
            Mode::Pipeline => "pipeline",
            Mode::Multiplex => "multiplex",
        }
    }

    /// Does the mode speak HTTP/2 (RFC 9113) rather than HTTP/1.x?
    pub fn is_http2(self) -> bool {
        match self {
            Mode::Serial | Mode::Parallel | Mode::Keepalive | Mode::Pipeline => false,
            Mode::Multiplex => true,
        }
    }
}

/// The HTTP version a mode's run spoke, as its result records it (`"http": "1.1"`): HTTP/1.x for the four
/// TCP modes (1.0 with `--http1.0`), HTTP/2 for multiplex, HTTP/3 for every mode with `--http3` (RFC 9114,
/// over QUIC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Http {
    #[serde(rename = "1.0")]
    Http10,
    #[serde(rename = "1.1")]
    Http11,
    #[serde(rename = "2")]
    Http2,
    #[serde(rename = "3")]
    Http3,
}

impl Http {
    /// As the result writes it: `1.1`.
    pub fn version(self) -> &'static str {
        match self {
            Http::Http10 => "1.0",
            Http::Http11 => "1.1",
            Http::Http2 => "2",
            Http::Http3 => "3",
        }
    }

    /// As people write it: `HTTP/1.1`.
    pub fn name(self) -> &'static str {
        match self {
            Http::Http10 => "HTTP/1.0",
            Http::Http11 => "HTTP/1.1",
            Http::Http2 => "HTTP/2",
            Http::Http3 => "HTTP/3",
        }
    }
}

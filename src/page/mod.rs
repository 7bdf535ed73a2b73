/*!
`connbench page`: the page-load comparison of HTTP: The Definitive Guide, ch. 4 (figures 4-10 to 4-18), as one
command. A page and its embedded objects are loaded K times with each connection strategy, strategies taking
turns load by load so that drift hits all alike; each load starts from cold connections (TLS sessions resumed
or not, as `--tls-resume` says, as a browser's session cache would). The page is fetched first, on the
strategy's first connection, and the objects start once its HTML has arrived whole: a browser starts them as
the parser meets them, earlier, so the figures here are an upper bound on that overlap (docs/page.md).

# Layout

- `discover`: the page's objects from its HTML (scraper), or from `--objects FILE`; pure.
- `timeline`: what one load recorded (connections, requests, their causes) and what follows from it, the
  page-load time and the critical path in round trips; pure.
- `load`: one load with one strategy: HTTP/1.x connections over `net::stream` with `http::response`'s parser,
  HTTP/2 ones with the h2 crate; tokio, one thread.
- `result`: the serde result; loads folded into each strategy's figures, the median load kept whole.
- `report`: the text, csv and markdown writers and the `--check` rows; `waterfall`: the HTML page.

Data flows one way: command -> `load` (K × strategies) -> `timeline` -> `result` -> `report` / `waterfall`.
*/

pub mod discover;
pub mod load;
pub mod report;
pub mod result;
pub mod timeline;
pub mod waterfall;

use serde::{Deserialize, Serialize};

/// How a browser may fetch a page's objects: the book's four, then multiplexing (HTTP/2).
// NOTE: HTTP/3 (QUIC) would be one more variant here, with its connection a variant of `load::Conn`; the
// scheduling (one connection per origin, streams up to the server's limit) is multiplexed's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// One connection per object, one after another.
    Serial,
    /// Up to `--per-host` connections at once, one request each, as an HTTP/1.0 browser.
    Parallel,
    /// Up to `--per-host` keep-alive connections per origin, reused.
    Persistent,
    /// Persistent connections with up to `--depth` requests in flight, idempotent objects only.
    Pipelined,
    /// One HTTP/2 connection per origin, every object a stream (RFC 9113).
    Multiplexed,
}

impl Strategy {
    pub const ALL: [Strategy; 5] =
        [Strategy::Serial, Strategy::Parallel, Strategy::Persistent, Strategy::Pipelined, Strategy::Multiplexed];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Serial => "serial",
            Strategy::Parallel => "parallel",
            Strategy::Persistent => "persistent",
            Strategy::Pipelined => "pipelined",
            Strategy::Multiplexed => "multiplexed",
        }
    }

    /// One request per connection, then closed.
    fn one_shot(self) -> bool {
        matches!(self, Strategy::Serial | Strategy::Parallel)
    }

    fn is_http2(self) -> bool {
        matches!(self, Strategy::Multiplexed)
    }
}

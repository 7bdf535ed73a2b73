//! What one load of the page recorded, in microseconds from its first connect(), and what follows from it: the
//! page-load time and the critical path. Pure: the loader records, these functions read.
//!
//! Each connection and each request says what it waited for (`after`): a request the index of the request whose
//! response let it go (the previous one on its connection, the page, a slot's last request), or nothing when it
//! waited only for its connection's handshake; a connection the request whose end let it open (the page, the
//! object before it in serial, the request that freed its slot in parallel), or nothing for the load's first.
//! The loader writes down these causes as they happen; the critical path is read from them, not assumed from
//! the strategy: the chain of waits behind the object that finished last, counted in round trips (each TCP
//! handshake one, each TLS handshake one or two, each request-and-response one), as HTTP: The Definitive Guide,
//! ch. 4, counts them in its figures 4-10 to 4-18.

use serde::{Deserialize, Serialize};

/// One load, as it happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub connections: Vec<Connection>,
    pub requests: Vec<Request>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// `scheme://host:port`.
    pub origin: String,
    /// `http/1.1` or `h2`.
    pub protocol: String,
    /// The request whose end let it open; null for the load's first connection.
    pub after: Option<usize>,
    /// connect() called.
    pub start_us: u64,
    /// The TCP handshake over (null when it failed).
    pub connected_us: Option<u64>,
    /// https: the TLS handshake over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secured_us: Option<u64>,
    /// Round trips the handshakes took before a request could go: TCP's one, plus TLS's (one for TLS 1.3 and a
    /// resumed TLS 1.2 session, two for a full TLS 1.2 handshake).
    pub handshake_round_trips: u32,
    /// https: `TLSv1.3`, `TLSv1.2`, with `resumed` when a session was resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// The connection ended (either side closed it, or it failed).
    pub closed_us: Option<u64>,
    /// Bytes read on it: HTTP/1.x heads and bodies, HTTP/2 frames.
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// 0 for the page, i for the i-th object of the result's `objects` (from 1).
    pub object: usize,
    /// Index into `connections`.
    pub connection: usize,
    /// The request whose response let this one go; null: it waited only for its connection's handshake.
    pub after: Option<usize>,
    /// The request written.
    pub sent_us: u64,
    pub first_byte_us: Option<u64>,
    /// The response's last byte, or when the request failed.
    pub done_us: u64,
    /// The response's status (null when none came whole).
    pub status: Option<u16>,
    /// Response bytes, head and body (HTTP/2: the body).
    pub bytes: u64,
    /// Why it failed (an error kind of the result's `errors`); null when answered or sent again.
    pub error: Option<String>,
    /// Unanswered when its connection closed, and sent again on another.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retried: bool,
}

/// The chain of waits behind the object that finished last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriticalPath {
    /// Handshake round trips plus request round trips.
    pub round_trips: u32,
    pub handshakes: u32,
    /// Requests waited for one after another (waves), the last object's own included.
    pub requests: u32,
    /// The object that finished last (0: the page).
    pub object: usize,
}

impl Timeline {
    /// First connect to the last byte of the last object (or the last failure).
    pub fn page_load_us(&self) -> u64 {
        self.requests.iter().map(|r| r.done_us).max().unwrap_or(0)
    }

    /// The critical path: the waits behind the request that ended last, counted from the recorded causes.
    pub fn critical_path(&self) -> CriticalPath {
        let links = self.links();
        let Some(last) = self.last() else { return CriticalPath::default() };
        let Link { handshakes, requests, .. } = links[last];
        CriticalPath { round_trips: handshakes + requests, handshakes, requests, object: self.requests[last].object }
    }

    /// The requests on the critical path, the last first.
    pub fn critical_requests(&self) -> Vec<usize> {
        let links = self.links();
        std::iter::successors(self.last(), |&r| links[r].behind).collect()
    }

    /// The request that ended last.
    fn last(&self) -> Option<usize> {
        (0..self.requests.len()).max_by_key(|&i| (self.requests[i].done_us, i))
    }

    /// Each request's chain of waits: round trips of handshakes and of requests up to its end, and the request
    /// it waited behind. `after` always names an earlier request, so one pass in order does.
    fn links(&self) -> Vec<Link> {
        let mut links: Vec<Link> = Vec::with_capacity(self.requests.len());
        for (index, request) in self.requests.iter().enumerate() {
            let mut link = match request.after {
                Some(after) => Link { requests: links[after].requests + 1, behind: Some(after), ..links[after] },
                None => {
                    let connection = &self.connections[request.connection];
                    let opened = connection
                        .after
                        .map_or_else(Link::default, |after| Link { behind: Some(after), ..links[after] });
                    Link {
                        handshakes: opened.handshakes + connection.handshake_round_trips,
                        requests: opened.requests + 1,
                        ..opened
                    }
                }
            };
            // On one HTTP/1.x connection responses come in order: a pipelined response also waits for the one
            // before it, whose chain may be longer.
            let http1 = self.connections[request.connection].protocol != "h2";
            let before = self.requests[..index].iter().rposition(|r| r.connection == request.connection);
            if let Some(before) = before.filter(|_| http1) {
                if links[before].round_trips() > link.round_trips() {
                    link = Link { behind: Some(before), ..links[before] };
                }
            }
            links.push(link);
        }
        links
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Link {
    handshakes: u32,
    requests: u32,
    behind: Option<usize>,
}

impl Link {
    fn round_trips(&self) -> u32 {
        self.handshakes + self.requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(after: Option<usize>, start_us: u64, round_trips: u32) -> Connection {
        Connection {
            origin: "http://h".into(),
            protocol: "http/1.1".into(),
            after,
            start_us,
            connected_us: Some(start_us + 10),
            secured_us: None,
            handshake_round_trips: round_trips,
            tls: None,
            closed_us: None,
            bytes: 0,
        }
    }

    fn request(object: usize, connection: usize, after: Option<usize>, sent_us: u64, done_us: u64) -> Request {
        Request {
            object,
            connection,
            after,
            sent_us,
            first_byte_us: Some(done_us),
            done_us,
            status: Some(200),
            bytes: 100,
            error: None,
            retried: false,
        }
    }

    #[test]
    fn serial_is_a_handshake_and_a_request_per_object() {
        // the page, then two objects, each on a connection of its own opened after the one before
        let timeline = Timeline {
            connections: vec![connection(None, 0, 1), connection(Some(0), 30, 1), connection(Some(1), 60, 1)],
            requests: vec![request(0, 0, None, 10, 30), request(1, 1, None, 40, 60), request(2, 2, None, 70, 90)],
        };
        assert_eq!(timeline.page_load_us(), 90);
        assert_eq!(timeline.critical_path(), CriticalPath { round_trips: 6, handshakes: 3, requests: 3, object: 2 });
        assert_eq!(timeline.critical_requests(), [2, 1, 0]);
    }

    #[test]
    fn persistent_reuse_and_pipelining_save_handshakes_and_waves() {
        // the page on connection 0, then two objects on it one after the other, and one on a second connection
        let persistent = Timeline {
            connections: vec![connection(None, 0, 2), connection(Some(0), 30, 2)],
            requests: vec![
                request(0, 0, None, 10, 30),
                request(1, 0, Some(0), 31, 40),
                request(2, 1, None, 50, 60),
                request(3, 0, Some(1), 41, 70),
            ],
        };
        // TLS: two round trips of handshake (TCP, TLS 1.3), then page, object 1, object 3
        assert_eq!(persistent.critical_path(), CriticalPath { round_trips: 5, handshakes: 2, requests: 3, object: 3 });
        // pipelined: objects 1 and 3 written together after the page; 3 still waits for 1's response
        let mut pipelined = persistent.clone();
        pipelined.requests[3].after = Some(0);
        assert_eq!(pipelined.critical_path(), CriticalPath { round_trips: 4, handshakes: 2, requests: 2, object: 3 });
        assert_eq!(pipelined.critical_requests(), [3, 0], "one wave after the page");
        // over HTTP/2 a stream does not wait for the one before it
        let mut multiplexed = pipelined.clone();
        multiplexed.connections[0].protocol = "h2".into();
        multiplexed.requests[1].after = Some(0);
        multiplexed.requests[1].done_us = 80;
        assert_eq!(multiplexed.critical_path().round_trips, 4);
        assert_eq!(Timeline::default().critical_path(), CriticalPath::default());
    }
}

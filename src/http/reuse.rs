//! What the client may still send on one connection, from what the server has said about it (the rules for
//! persistent connections of HTTP: The Definitive Guide, ch. 4, and RFC 9112 §9). Pure: responses and
//! instants in, a number of requests out.
//!
//! - Until a response has shown the connection persists, one request at a time: pipelining starts only on a
//!   connection known to be persistent.
//! - A response that is not persistent (HTTP/1.1 `Connection: close`, HTTP/1.0 without `Connection:
//!   Keep-Alive`, a body delimited by the close) ends the connection: nothing more is sent.
//! - `Keep-Alive: max=M` means M *more* requests after the response that carries it (the book: "how many
//!   more transactions the server is willing to keep the connection alive for"). Apache counts down: max=100
//!   on the first response, 99 on the second, ... 1 on the 100th, then `Connection: close` on the 101st. Each
//!   announcement can only lower the cap, so a server that repeats a constant max costs at worst a retry.
//! - `Keep-Alive: timeout=T`: a connection idle for most of T is not reused, because the server may close it
//!   while the request is on the wire. The margin is a tenth of T.

use std::time::{Duration, Instant};

use super::response::ResponseMeta;

#[derive(Debug, Clone)]
pub struct Reuse {
    /// Requests this connection may carry in all (the mode's limit, lowered by `Keep-Alive: max`).
    cap: u64,
    answered: u64,
    /// None until the first response.
    persistent: Option<bool>,
    /// The `Keep-Alive: max` of the first response: the allowance the server announced for this connection.
    first_max: Option<u32>,
    /// A connection idle this long is not reused.
    idle_limit: Option<Duration>,
    last_response: Option<Instant>,
}

/// Why a connection carries nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retired {
    /// The server said it closes (or never said it persists).
    NotPersistent,
    /// The mode's own limit (serial and parallel: one request) or the announced `max`.
    Limit,
    /// Idle for most of the announced `timeout`.
    Idle,
}

impl Reuse {
    /// `limit`: requests the mode sends on one connection (None: as many as the server takes).
    pub fn new(limit: Option<u64>) -> Reuse {
        Reuse {
            cap: limit.unwrap_or(u64::MAX),
            answered: 0,
            persistent: None,
            first_max: None,
            idle_limit: None,
            last_response: None,
        }
    }

    pub fn on_response(&mut self, meta: &ResponseMeta, now: Instant) {
        self.answered += 1;
        if self.answered == 1 {
            self.first_max = meta.keep_alive_max;
        }
        self.persistent = Some(meta.persistent);
        self.last_response = Some(now);
        if let Some(max) = meta.keep_alive_max {
            self.cap = self.cap.min(self.answered + u64::from(max));
        }
        if let Some(secs) = meta.keep_alive_timeout_secs {
            let limit = Duration::from_secs(secs.into());
            let limit = limit - limit / 10;
            self.idle_limit = Some(self.idle_limit.map_or(limit, |old| old.min(limit)));
        }
    }

    /// Responses completed on this connection.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// The `Keep-Alive: max` announced on the first response, and whether the connection carried all of it
    /// (the first request plus `max` more).
    pub fn announced_max(&self) -> Option<(u32, bool)> {
        self.first_max.map(|max| (max, self.answered > u64::from(max)))
    }

    /// Did the first response show the connection persists? None before it.
    pub fn persistent(&self) -> Option<bool> {
        self.persistent
    }

    /// How many more requests may be written now, with `sent` written so far and `in_flight` of them
    /// unanswered; `depth` is the mode's pipeline depth.
    pub fn sendable(&self, sent: u64, in_flight: u64, depth: u64, now: Instant) -> u64 {
        if self.retired(sent, in_flight, now).is_some() {
            return 0;
        }
        let window = match self.persistent {
            Some(_) => depth.saturating_sub(in_flight),
            None => u64::from(sent == 0),
        };
        window.min(self.cap - sent)
    }

    /// Why nothing more may ever be sent on this connection, if so. Idleness counts only with nothing in
    /// flight: a connection waiting on a response is not idle.
    pub fn retired(&self, sent: u64, in_flight: u64, now: Instant) -> Option<Retired> {
        if self.persistent == Some(false) {
            Some(Retired::NotPersistent)
        } else if sent >= self.cap {
            Some(Retired::Limit)
        } else if in_flight == 0 && self.idle_too_long(now) {
            Some(Retired::Idle)
        } else {
            None
        }
    }

    /// When an idle connection stops being reusable, if the server announced a timeout.
    pub fn idle_deadline(&self) -> Option<Instant> {
        Some(self.last_response? + self.idle_limit?)
    }

    fn idle_too_long(&self, now: Instant) -> bool {
        match (self.idle_limit, self.last_response) {
            (Some(limit), Some(last)) => now.saturating_duration_since(last) >= limit,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(persistent: bool, max: Option<u32>, timeout: Option<u32>) -> ResponseMeta {
        ResponseMeta::with_keep_alive(persistent, max, timeout)
    }

    #[test]
    fn one_request_until_persistence_is_known_then_the_depth() {
        let now = Instant::now();
        let mut r = Reuse::new(None);
        assert_eq!(r.sendable(0, 0, 16, now), 1);
        assert_eq!(r.sendable(1, 1, 16, now), 0, "no pipelining before the first response");
        r.on_response(&meta(true, None, None), now);
        assert_eq!(r.sendable(1, 0, 16, now), 16);
        assert_eq!(r.sendable(10, 9, 16, now), 7);
    }

    #[test]
    fn a_close_ends_the_connection() {
        let now = Instant::now();
        let mut r = Reuse::new(None);
        r.on_response(&meta(false, None, None), now);
        assert_eq!(r.sendable(1, 0, 16, now), 0);
        assert_eq!(r.retired(1, 0, now), Some(Retired::NotPersistent));
    }

    #[test]
    fn one_shot_modes_stop_after_their_request() {
        let now = Instant::now();
        let mut r = Reuse::new(Some(1));
        assert_eq!(r.sendable(0, 0, 1, now), 1);
        r.on_response(&meta(true, None, None), now);
        assert_eq!(r.retired(1, 0, now), Some(Retired::Limit));
    }

    #[test]
    fn announced_max_is_that_many_more_requests() {
        let now = Instant::now();
        // Apache with MaxKeepAliveRequests 5: max=5, 4, 3, 2, 1, then Connection: close: six in all
        let mut apache = Reuse::new(None);
        for (answered, max) in (1..=5).zip((1..=5).rev()) {
            assert_eq!(apache.retired(answered - 1, 0, now), None, "request {answered} may go");
            apache.on_response(&meta(true, Some(max), None), now);
        }
        assert_eq!(apache.sendable(5, 0, 1, now), 1, "max=1 on the fifth: one more");
        assert_eq!(apache.announced_max(), Some((5, false)));
        apache.on_response(&meta(false, None, None), now);
        assert_eq!(apache.retired(6, 0, now), Some(Retired::NotPersistent));
        assert_eq!(apache.announced_max(), Some((5, true)), "six requests used the announced five more in full");
        // max=3 on the first response: three more, however deep the pipeline
        let mut r = Reuse::new(None);
        r.on_response(&meta(true, Some(3), None), now);
        assert_eq!(r.sendable(1, 0, 16, now), 3);
        // a server that repeats a constant max only lowers the cap to what it says each time
        r.on_response(&meta(true, Some(3), None), now);
        assert_eq!(r.sendable(2, 0, 16, now), 2);
        assert_eq!(r.retired(4, 0, now), Some(Retired::Limit));
        // max=0: nothing more
        let mut last = Reuse::new(None);
        last.on_response(&meta(true, Some(0), None), now);
        assert_eq!(last.sendable(1, 0, 16, now), 0);
    }

    #[test]
    fn a_connection_idle_for_most_of_the_timeout_is_not_reused() {
        let t0 = Instant::now();
        let mut r = Reuse::new(None);
        r.on_response(&meta(true, None, Some(10)), t0);
        assert_eq!(r.sendable(1, 0, 1, t0 + Duration::from_millis(8_900)), 1);
        assert_eq!(r.retired(1, 0, t0 + Duration::from_secs(9)), Some(Retired::Idle));
        assert_eq!(r.retired(2, 1, t0 + Duration::from_secs(30)), None, "waiting on a response is not idle");
        // timeout=0: never reuse after an idle moment
        let mut zero = Reuse::new(None);
        zero.on_response(&meta(true, None, Some(0)), t0);
        assert_eq!(zero.sendable(1, 0, 1, t0), 0);
    }
}

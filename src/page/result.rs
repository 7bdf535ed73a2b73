//! The result of `connbench page` (`schema_version` 1, `"kind": "page"`): what `--format json` prints and `-o`
//! writes. Each strategy's loads are folded into its figures (the page-load times into an HdrHistogram, as
//! `record` keeps latencies); the median load is kept whole, its timeline and critical path.
//!
// NOTE: field names are a published contract (docs/page.md lists them); add fields, never rename them.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::discover::{Discovery, Kind, Skipped};
use super::load::Loaded;
use super::timeline::{CriticalPath, Timeline};
use super::Strategy;
use crate::note::Note;
use crate::record::result::{ErrorCounts, Hist, StatusCounts, Tool};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageResult {
    pub schema_version: u32,
    /// `page`: a page load, not a `connbench run` result.
    pub kind: String,
    pub tool: Tool,
    /// False when a signal stopped the loads early.
    pub complete: bool,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// The page's URL.
    pub page: String,
    pub command: Vec<String>,
    /// Loads asked of each strategy.
    pub loads: u32,
    pub per_host: u32,
    pub depth: u32,
    /// `--assume-rtt`, for the projection.
    pub assume_rtt_ms: Option<f64>,
    /// The objects loaded after the page, in document order: object i of a timeline is `objects[i - 1]`.
    pub objects: Vec<ObjectEntry>,
    /// How many per origin and kind.
    pub found: Vec<Found>,
    /// References not fetched, and why.
    pub skipped: Vec<Skipped>,
    /// References to a URL already listed.
    pub duplicates: u64,
    pub strategies: Vec<StrategyResult>,
    pub notes: Vec<Note>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub url: String,
    pub kind: Kind,
    pub method: String,
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    pub origin: String,
    pub kind: Kind,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyResult {
    pub strategy: Strategy,
    /// Loads made.
    pub loads: u32,
    /// First connect to the last byte of the last object, one sample per load.
    pub page_load: Hist,
    pub connections_opened: u64,
    /// Requests answered whole (the page's included).
    pub requests: u64,
    /// Requests sent again after their connection closed unanswered.
    pub retries: u64,
    /// Bytes read on the connections (HTTP/1.x heads and bodies, HTTP/2 frames).
    pub bytes_received: u64,
    pub status: StatusCounts,
    pub errors: ErrorCounts,
    /// https: handshakes that began a session, and that resumed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsCounts>,
    /// The median load's critical path.
    pub critical_path: CriticalPath,
    /// The fewest and most round trips on any load's critical path.
    pub round_trips_min: u32,
    pub round_trips_max: u32,
    /// With `--assume-rtt`: a projection, not a measurement: the median load's time plus the RTT for each round
    /// trip of its critical path (loopback has none to speak of).
    pub projected_us: Option<u64>,
    pub median_load: MedianLoad,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsCounts {
    pub handshakes_full: u64,
    pub handshakes_resumed: u64,
}

/// The load whose page-load time is the median of the strategy's (the lower middle of an even count).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MedianLoad {
    /// Which load it was, from 0.
    pub load: u32,
    pub page_load_us: u64,
    pub timeline: Timeline,
}

impl PageResult {
    /// The objects and what was found and skipped, as the result lists them.
    pub fn describe(discovery: &Discovery) -> (Vec<ObjectEntry>, Vec<Found>) {
        let objects = discovery
            .objects
            .iter()
            .map(|o| ObjectEntry { url: o.url.to_string(), kind: o.kind, method: o.method.clone(), origin: o.origin() })
            .collect();
        let found = discovery.found().into_iter().map(|(origin, kind, count)| Found { origin, kind, count }).collect();
        (objects, found)
    }
}

/// A strategy's loads as they come, folded at the end.
pub struct Tally {
    strategy: Strategy,
    loads: Vec<Timeline>,
    errors: ErrorCounts,
}

impl Tally {
    pub fn new(strategy: Strategy) -> Tally {
        Tally { strategy, loads: Vec::new(), errors: ErrorCounts::default() }
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    pub fn add(&mut self, loaded: Loaded) {
        self.errors.add(&loaded.errors);
        self.loads.push(loaded.timeline);
    }

    /// The strategy's figures; `rtt` makes the projection. None when no load was made.
    pub fn finish(self, rtt: Option<Duration>) -> Option<StrategyResult> {
        let mut histogram =
            Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid");
        let mut result = StrategyResult {
            strategy: self.strategy,
            loads: self.loads.len() as u32,
            page_load: Hist::default(),
            connections_opened: 0,
            requests: 0,
            retries: 0,
            bytes_received: 0,
            status: StatusCounts::default(),
            errors: self.errors,
            tls: None,
            critical_path: CriticalPath::default(),
            round_trips_min: u32::MAX,
            round_trips_max: 0,
            projected_us: None,
            median_load: MedianLoad { load: 0, page_load_us: 0, timeline: Timeline::default() },
        };
        for timeline in &self.loads {
            histogram.saturating_record(timeline.page_load_us().max(1));
            result.connections_opened += timeline.connections.len() as u64;
            result.bytes_received += timeline.connections.iter().map(|c| c.bytes).sum::<u64>();
            for request in &timeline.requests {
                result.retries += u64::from(request.retried);
                if let Some(status) = request.status {
                    result.requests += 1;
                    result.status.count(status);
                }
            }
            for tls in timeline.connections.iter().filter_map(|c| c.tls.as_deref()) {
                let counts = result.tls.get_or_insert_with(TlsCounts::default);
                if tls.ends_with(" resumed") {
                    counts.handshakes_resumed += 1;
                } else {
                    counts.handshakes_full += 1;
                }
            }
            let round_trips = timeline.critical_path().round_trips;
            result.round_trips_min = result.round_trips_min.min(round_trips);
            result.round_trips_max = result.round_trips_max.max(round_trips);
        }
        let mut order: Vec<usize> = (0..self.loads.len()).collect();
        order.sort_by_key(|&i| (self.loads[i].page_load_us(), i));
        let median = *order.get(order.len().saturating_sub(1) / 2)?;
        let mut loads = self.loads;
        let timeline = loads.swap_remove(median);
        result.page_load = crate::record::summarize(&histogram);
        result.critical_path = timeline.critical_path();
        let page_load_us = timeline.page_load_us();
        result.projected_us =
            rtt.map(|rtt| page_load_us + rtt.as_micros() as u64 * u64::from(result.critical_path.round_trips));
        result.median_load = MedianLoad { load: median as u32, page_load_us, timeline };
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::timeline::{Connection, Request};

    fn load(page_load_us: u64, connections: usize) -> Loaded {
        let connection = Connection {
            origin: "http://h".into(),
            protocol: "http/1.1".into(),
            after: None,
            start_us: 0,
            connected_us: Some(5),
            secured_us: None,
            handshake_round_trips: 1,
            tls: None,
            closed_us: Some(page_load_us),
            bytes: 100,
        };
        let request = Request {
            object: 0,
            connection: 0,
            after: None,
            sent_us: 5,
            first_byte_us: Some(6),
            done_us: page_load_us,
            status: Some(200),
            bytes: 100,
            error: None,
            retried: false,
        };
        let timeline = Timeline { connections: vec![connection; connections], requests: vec![request] };
        Loaded { timeline, errors: ErrorCounts::default() }
    }

    #[test]
    fn loads_fold_into_figures_and_the_median_load_is_kept_with_its_projection() {
        let mut tally = Tally::new(Strategy::Persistent);
        for (us, connections) in [(900, 1), (300, 2), (500, 3), (700, 4)] {
            tally.add(load(us, connections));
        }
        let result = tally.finish(Some(Duration::from_millis(50))).unwrap();
        assert_eq!((result.loads, result.connections_opened, result.requests, result.bytes_received), (4, 10, 4, 1000));
        assert_eq!((result.page_load.count, result.page_load.min_us, result.page_load.max_us), (4, 300, 900));
        // 300, 500, 700, 900: the lower middle is 500, the third load
        assert_eq!((result.median_load.load, result.median_load.page_load_us), (2, 500));
        assert_eq!(result.critical_path.round_trips, 2);
        assert_eq!(result.projected_us, Some(500 + 2 * 50_000));
        assert_eq!((result.round_trips_min, result.round_trips_max), (2, 2));
        assert!(Tally::new(Strategy::Serial).finish(None).is_none());
    }
}

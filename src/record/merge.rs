/*!
`connbench merge` (docs/design.md §1, §8): results of one plan from several load machines made into one,
exactly. Counts are added; histograms are decoded from their serialized form, added, and summarized
again, so percentiles are recomputed and never averaged; requests/s is the summed requests over the
longest duration (the machines ran side by side).

Results of different plans are refused, naming the field that differs. Shards of one plan (`--shard I/N`)
merge into the whole: every shard exactly once (a shard given twice is refused, missing ones are named),
and the merged result describes the whole plan (its connections and rate are the sums of the shares).
Timelines are lined up by wall-clock second, so shards started together add second by second.

Pure: no I/O.
*/

use hdrhistogram::Histogram;

use super::result::{Hist, ModeResult, Note, Ports, RunResult, Tick};
use super::{decode, decode_hdr, set_second_latency, summarize};

/// Merges `inputs` (name, result); names only label the error messages. At least one input.
pub fn merge(inputs: &[(&str, &RunResult)]) -> Result<RunResult, String> {
    let Some(&(first_name, first)) = inputs.first() else {
        return Err("nothing to merge".into());
    };
    let sharded = every_shard_once(inputs)?;
    for &(name, other) in &inputs[1..] {
        same_plan(first_name, first, name, other, sharded)?;
    }
    let results: Vec<&RunResult> = inputs.iter().map(|(_, r)| *r).collect();
    let mut runs = Vec::new();
    for (index, run) in first.runs.iter().enumerate() {
        let same_mode: Vec<&ModeResult> = results.iter().map(|r| &r.runs[index]).collect();
        let mut merged = merge_mode(run, &same_mode).map_err(|e| format!("{} mode: {e}", run.mode.name()))?;
        if sharded {
            merged.connections = same_mode.iter().map(|r| r.connections).sum();
        }
        runs.push(merged);
    }
    Ok(RunResult {
        complete: results.iter().all(|r| r.complete),
        // RFC 3339 in UTC sorts as text: the earliest start.
        started_at: results.iter().map(|r| r.started_at.clone()).min().unwrap_or_default(),
        runs,
        shard: None,
        whole: None,
        notes: merged_notes(&results),
        ..first.clone()
    })
}

/// Every input's notes, each said once: shards of one plan often say the same thing.
fn merged_notes(results: &[&RunResult]) -> Vec<Note> {
    let mut notes: Vec<Note> = Vec::new();
    for note in results.iter().flat_map(|r| &r.notes) {
        if !notes.contains(note) {
            notes.push(note.clone());
        }
    }
    notes
}

/// Whether the inputs are shards of one plan, each given once and none missing; mixing shards with whole
/// runs, or shards of different plans, is refused.
fn every_shard_once(inputs: &[(&str, &RunResult)]) -> Result<bool, String> {
    let (first_name, first) = inputs[0];
    let Some(first_shard) = first.shard else {
        return match inputs.iter().find(|(_, r)| r.shard.is_some()) {
            Some((name, _)) => Err(format!("{name} is a shard (--shard) and {first_name} is not: merge shards alone")),
            None => Ok(false),
        };
    };
    let count = first_shard.count;
    let mut seen: Vec<Option<&str>> = vec![None; count as usize];
    for &(name, result) in inputs {
        let shard = result.shard.ok_or_else(|| format!("{first_name} is a shard (--shard) and {name} is not"))?;
        if shard.count != count || result.whole != first.whole {
            return Err(format!(
                "{name} is a shard of another plan than {first_name} (--shard {}/{}, whole plan {:?} vs {:?})",
                shard.index, shard.count, result.whole, first.whole
            ));
        }
        if let Some(earlier) = seen[shard.index as usize].replace(name) {
            return Err(format!("shard {}/{count} is given twice: {earlier} and {name}", shard.index));
        }
    }
    let missing: Vec<String> =
        seen.iter().enumerate().filter(|(_, name)| name.is_none()).map(|(i, _)| format!("{i}/{count}")).collect();
    if !missing.is_empty() {
        return Err(format!("shard {} missing: the merged result would not be the whole plan", missing.join(", ")));
    }
    Ok(true)
}

/// Refuses results that did not run the same plan, naming the first field that differs.
fn same_plan(a_name: &str, a: &RunResult, b_name: &str, b: &RunResult, sharded: bool) -> Result<(), String> {
    let differ =
        |field: &str, va: String, vb: String| Err(format!("{b_name} differs from {a_name} in {field}: {vb} vs {va}"));
    if a.schema_version != b.schema_version {
        return differ("schema_version", a.schema_version.to_string(), b.schema_version.to_string());
    }
    if !same_target(&a.target, &b.target) {
        return differ("target", a.target.clone(), b.target.clone());
    }
    if a.method.is_some() && b.method.is_some() && a.method != b.method {
        return differ("method", a.method.clone().unwrap_or_default(), b.method.clone().unwrap_or_default());
    }
    let modes = |r: &RunResult| r.runs.iter().map(|m| m.mode.name()).collect::<Vec<_>>().join(",");
    if modes(a) != modes(b) {
        return differ("modes", modes(a), modes(b));
    }
    for (ma, mb) in a.runs.iter().zip(&b.runs) {
        let mode = ma.mode.name();
        // Shards run shares of the connections, which differ by one at most.
        if ma.connections != mb.connections && !sharded {
            return differ(&format!("connections ({mode})"), ma.connections.to_string(), mb.connections.to_string());
        }
        // An older result says no version: HTTP/1.x, or HTTP/2 in multiplex, never HTTP/3.
        let http = |r: &ModeResult| r.http.map_or("unstated", |v| v.name());
        if ma.http.is_some() && mb.http.is_some() && ma.http != mb.http {
            return differ(&format!("http ({mode})"), http(ma).into(), http(mb).into());
        }
        if ma.depth != mb.depth {
            return differ(&format!("depth ({mode})"), ma.depth.to_string(), mb.depth.to_string());
        }
        // Open-loop latency counts from each request's scheduled time, closed-loop from its start: the
        // two cannot share a histogram. Open-loop rates may differ (each machine's share of the plan).
        let lp = |r: &ModeResult| r.rate.map_or("closed loop".to_string(), |rate| format!("open loop (--rate {rate})"));
        if ma.rate.is_some() != mb.rate.is_some() {
            return differ(&format!("loop ({mode})"), lp(ma), lp(mb));
        }
    }
    Ok(())
}

/// Each embedded-server run has its own port, but they all measured the same thing.
fn same_target(a: &str, b: &str) -> bool {
    const EMBEDDED: &str = "(embedded server)";
    a == b || (a.ends_with(EMBEDDED) && b.ends_with(EMBEDDED))
}

fn merge_mode(first: &ModeResult, runs: &[&ModeResult]) -> Result<ModeResult, String> {
    let mut merged = first.clone();
    for run in &runs[1..] {
        add_counts(&mut merged, run);
    }
    let duration_s = runs.iter().map(|r| r.duration_s).fold(0.0, f64::max);
    merged.duration_s = duration_s;
    merged.rps = if duration_s > 0.0 { merged.requests as f64 / duration_s } else { 0.0 };
    merged.rate = runs.iter().try_fold(0.0, |sum, r| r.rate.map(|rate| sum + rate));
    let l = &mut merged.latency;
    l.connect = add_hists(runs.iter().map(|r| &r.latency.connect)).map_err(|e| format!("connect: {e}"))?;
    l.ttfb = add_hists(runs.iter().map(|r| &r.latency.ttfb)).map_err(|e| format!("ttfb: {e}"))?;
    l.transfer = add_hists(runs.iter().map(|r| &r.latency.transfer)).map_err(|e| format!("transfer: {e}"))?;
    l.total = add_hists(runs.iter().map(|r| &r.latency.total)).map_err(|e| format!("total: {e}"))?;
    l.total_first = add_hists(runs.iter().map(|r| &r.latency.total_first)).map_err(|e| format!("total_first: {e}"))?;
    l.total_reused =
        add_hists(runs.iter().map(|r| &r.latency.total_reused)).map_err(|e| format!("total_reused: {e}"))?;
    l.total_uncorrected = match runs.iter().map(|r| r.latency.total_uncorrected.as_ref()).collect::<Option<Vec<_>>>() {
        Some(all) => Some(add_hists(all.into_iter()).map_err(|e| format!("total_uncorrected: {e}"))?),
        None => None,
    };
    l.tls = match runs.iter().map(|r| r.latency.tls.as_ref()).collect::<Option<Vec<_>>>() {
        Some(all) => Some(add_hists(all.into_iter()).map_err(|e| format!("tls: {e}"))?),
        None => None,
    };
    merged.pacing = runs.iter().filter_map(|r| r.pacing).reduce(|mut a, b| {
        a.merge(&b);
        a
    });
    merged.ports = merge_ports(runs);
    merged.timeline = merge_timelines(runs)?;
    merged.started_unix_ms = runs.iter().map(|r| r.started_unix_ms).min().flatten();
    Ok(merged)
}

fn add_counts(m: &mut ModeResult, o: &ModeResult) {
    if let Some(theirs) = &o.quic {
        m.quic.get_or_insert_with(Default::default).add(m.connections_opened, theirs, o.connections_opened);
    }
    m.requests += o.requests;
    m.status.add(&o.status);
    m.errors.add(&o.errors);
    m.retries += o.retries;
    m.in_flight_at_end += o.in_flight_at_end;
    m.bytes_received += o.bytes_received;
    m.connections_opened += o.connections_opened;
    m.closed_by_client += o.closed_by_client;
    m.closed_by_server += o.closed_by_server;
    m.closed_by_reset += o.closed_by_reset;
    m.keep_alive.merge(&o.keep_alive);
    if let Some(theirs) = &o.tls {
        m.tls.get_or_insert_with(Default::default).add(theirs);
    }
    m.max_concurrent_streams = [m.max_concurrent_streams, o.max_concurrent_streams].into_iter().flatten().min();
}

/// Decodes every serialized histogram, adds them, and summarizes the sum.
fn add_hists<'a>(mut hists: impl Iterator<Item = &'a Hist>) -> Result<Hist, String> {
    let Some(first) = hists.next() else {
        return Ok(Hist::default());
    };
    let mut sum: Histogram<u64> = decode(first)?;
    for hist in hists {
        sum.add(decode(hist)?).map_err(|e| format!("histograms cannot be added: {e:?}"))?;
    }
    Ok(summarize(&sum))
}

/// Each machine holds its own ports: peaks and per-IP counts add up, the wait and the occupancy of a
/// tuple are the largest.
fn merge_ports(runs: &[&ModeResult]) -> Option<Ports> {
    let mut merged: Option<Ports> = None;
    for ports in runs.iter().filter_map(|r| r.ports.as_ref()) {
        let Some(m) = merged.as_mut() else {
            merged = Some(ports.clone());
            continue;
        };
        m.time_wait_peak += ports.time_wait_peak;
        m.kernel_time_wait_peak += ports.kernel_time_wait_peak;
        m.waited_ms = m.waited_ms.max(ports.waited_ms);
        m.occupancy_peak = max_some(m.occupancy_peak, ports.occupancy_peak);
        for ip in &ports.client_ips {
            if !m.client_ips.contains(ip) {
                m.client_ips.push(ip.clone());
            }
        }
        for per in &ports.per_ip {
            match m.per_ip.iter_mut().find(|p| p.ip == per.ip) {
                Some(mine) => {
                    mine.opened += per.opened;
                    mine.held_peak = max_some(mine.held_peak, per.held_peak);
                }
                None => m.per_ip.push(per.clone()),
            }
        }
    }
    merged
}

/// Seconds are counted from each mode's start on each machine; where every run says when it started, they
/// are lined up by wall-clock second (the earliest start's seconds), so shards started together add second
/// by second. A second's latency histograms are added and its p50 and p99 recomputed from the sum. A result
/// written before seconds carried a histogram adds none: its seconds' percentiles cannot be recovered, and a
/// merged second says only what the histograms it has say.
fn merge_timelines(runs: &[&ModeResult]) -> Result<Vec<Tick>, String> {
    let starts: Option<Vec<u64>> = runs.iter().map(|r| r.started_unix_ms).collect();
    let earliest = starts.as_ref().and_then(|s| s.iter().min().copied());
    let mut merged: Vec<Tick> = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        let shift = match (&starts, earliest) {
            (Some(starts), Some(earliest)) => ((starts[index] - earliest) as f64 / 1000.0).round() as u64,
            _ => 0,
        };
        for tick in &run.timeline {
            add_tick(&mut merged, &Tick { t: tick.t + shift, ..tick.clone() })?;
        }
    }
    merged.sort_by_key(|t| t.t);
    Ok(merged)
}

fn add_tick(merged: &mut Vec<Tick>, tick: &Tick) -> Result<(), String> {
    let Some(m) = merged.iter_mut().find(|m| m.t == tick.t) else {
        merged.push(tick.clone());
        return Ok(());
    };
    m.requests += tick.requests;
    m.errors += tick.errors;
    m.opened += tick.opened;
    m.time_wait = add_some(m.time_wait, tick.time_wait);
    m.kernel_time_wait = add_some(m.kernel_time_wait, tick.kernel_time_wait);
    m.client_ips = add_some(m.client_ips, tick.client_ips);
    if let Some(theirs) = &tick.hdr {
        let second = |e| format!("timeline second {}: {e}", tick.t);
        let theirs = decode_hdr(theirs).map_err(second)?;
        let sum = match &m.hdr {
            Some(mine) => {
                let mut mine = decode_hdr(mine).map_err(second)?;
                mine.add(&theirs).map_err(|e| second(format!("histograms cannot be added: {e:?}")))?;
                mine
            }
            None => theirs,
        };
        set_second_latency(m, &sum);
    }
    Ok(())
}

fn max_some<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b > a { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn add_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        _ => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::record::result::fixture;
    use crate::record::{Exchange, Recorder, RunShape};
    use crate::shard::{Shard, WholePlan};
    use std::time::{Duration, Instant};

    /// A keep-alive run of `requests` requests of `us` µs each, over `secs` seconds.
    fn measured(requests: u64, us: u64, secs: f64) -> RunResult {
        let t0 = Instant::now();
        let mut rec = Recorder::new(t0, false);
        rec.connected(t0, Duration::from_micros(50));
        for i in 1..=requests {
            let at = |us| t0 + Duration::from_micros(us);
            rec.completed(
                &Exchange {
                    start: at(0),
                    began: at(0),
                    sent: at(0),
                    first_byte: at(us / 2),
                    done: at(us),
                    opened_connection: i == 1,
                },
                200,
            );
        }
        let shape = RunShape { mode: Mode::Keepalive, connections: 4, depth: 1, rate: None };
        fixture::run_result(vec![rec.finish(shape, Duration::from_secs_f64(secs))])
    }

    #[test]
    fn counts_and_histograms_add_exactly() {
        let (a, b) = (measured(1000, 100, 2.0), measured(1500, 1000, 3.0));
        let m = merge(&[("a.json", &a), ("b.json", &b)]).unwrap();
        let run = &m.runs[0];
        assert_eq!(run.requests, 2500);
        assert_eq!(run.status.s2xx, 2500);
        assert_eq!(run.connections_opened, 2);
        assert_eq!(run.latency.total.count, 2500);
        assert_eq!(run.latency.connect.count, 2);
        assert_eq!(run.latency.total_first.count + run.latency.total_reused.count, 2500);
        // 1000 samples of 100 µs and 1500 of 1000 µs: the median of the union is 1000 µs, where the
        // average of the two medians would say 550.
        assert_eq!(run.latency.total.p50_us, 1000);
        assert_eq!((run.latency.total.min_us, run.latency.total.max_us), (100, 1000));
        assert_eq!(run.latency.total.mean_us, 640.0);
        // the machines ran side by side: the longest duration
        assert_eq!(run.duration_s, 3.0);
        assert!((run.rps - 2500.0 / 3.0).abs() < 1e-9);
        assert_eq!(decode(&run.latency.total).unwrap().len(), 2500);
        assert_eq!(run.timeline.len(), 1);
        assert_eq!(run.timeline[0].requests, 2500);
        assert_eq!(run.pacing, None, "closed-loop runs have no pacing");
    }

    /// Shard `index` of `count` of a plan of 5 connections, `requests` requests, started at `start_ms`.
    fn shard(index: u32, count: u32, requests: u64, start_ms: u64) -> RunResult {
        let mut result = measured(requests, 100, 3.0);
        let shard = Shard { index, count };
        result.shard = Some(shard);
        result.whole = Some(WholePlan { connections: 5, rate: None, requests: Some(1001) });
        result.runs[0].connections = shard.share(5) as u32;
        result.runs[0].started_unix_ms = Some(start_ms);
        result
    }

    #[test]
    fn shards_merge_into_the_whole_plan_each_once() {
        let (a, b, c) = (shard(0, 3, 334, 1_000_000), shard(1, 3, 334, 1_000_400), shard(2, 3, 333, 1_001_900));
        let m = merge(&[("a", &a), ("b", &b), ("c", &c)]).unwrap();
        assert_eq!((m.runs[0].requests, m.runs[0].connections), (1001, 5), "2 + 2 + 1 connections");
        assert_eq!((m.shard, m.whole), (None, None), "the merged result is the whole plan");
        // b started 0.4 s after a: the same second; c 1.9 s after: two seconds later
        let ticks: Vec<_> = m.runs[0].timeline.iter().map(|t| (t.t, t.requests)).collect();
        assert_eq!(ticks, vec![(1, 668), (3, 333)]);
        // each shard once, and all of them
        let err = merge(&[("a", &a), ("b", &b), ("again", &b)]).unwrap_err();
        assert!(err.contains("shard 1/3 is given twice: b and again"), "{err}");
        let err = merge(&[("a", &a), ("c", &c)]).unwrap_err();
        assert!(err.contains("shard 1/3 missing"), "{err}");
        let err = merge(&[("a", &a), ("whole", &measured(10, 100, 1.0))]).unwrap_err();
        assert!(err.contains("whole is not"), "{err}");
        let mut other = shard(1, 3, 334, 0);
        other.whole = Some(WholePlan { connections: 5, rate: None, requests: Some(2000) });
        assert!(merge(&[("a", &a), ("other", &other), ("c", &c)]).unwrap_err().contains("another plan"));
    }

    #[test]
    fn different_plans_are_refused_naming_the_field() {
        let a = measured(10, 100, 1.0);
        // each case: a change to b, and what the message must name
        type Change = fn(&mut RunResult);
        let cases: [(Change, &str); 6] = [
            (|r| r.runs[0].connections = 8, "in connections (keepalive): 8 vs 4"),
            (|r| r.runs[0].depth = 16, "in depth (keepalive)"),
            (|r| r.runs[0].mode = Mode::Serial, "in modes: serial vs keepalive"),
            (|r| r.target = "http://10.0.0.1/".into(), "in target"),
            (|r| r.method = Some("POST".into()), "in method: POST vs GET"),
            (|r| r.runs[0].rate = Some(500.0), "in loop (keepalive): open loop (--rate 500) vs closed loop"),
        ];
        for (change, needle) in cases {
            let mut b = a.clone();
            change(&mut b);
            let err = merge(&[("a.json", &a), ("b.json", &b)]).unwrap_err();
            assert!(err.starts_with("b.json differs from a.json"), "{err}");
            assert!(err.contains(needle), "{needle}: {err}");
        }
        // different embedded-server ports are the same target
        let mut a = a;
        a.target = "http://127.0.0.1:1234/ (embedded server)".into();
        let mut b = a.clone();
        b.target = "http://127.0.0.1:5678/ (embedded server)".into();
        assert!(merge(&[("a", &a), ("b", &b)]).is_ok());
        // two open-loop shares of one plan merge, their rates added
        let (mut a, mut b) = (a, b);
        (a.runs[0].rate, b.runs[0].rate) = (Some(100.0), Some(200.0));
        assert_eq!(merge(&[("a", &a), ("b", &b)]).unwrap().runs[0].rate, Some(300.0));
    }

    #[test]
    fn statuses_add_up_other_included() {
        let (mut a, mut b) = (measured(10, 100, 1.0), measured(10, 100, 1.0));
        (a.runs[0].status.other, b.runs[0].status.s1xx, b.runs[0].status.s5xx) = (2, 1, 4);
        let status = merge(&[("a", &a), ("b", &b)]).unwrap().runs[0].status.clone();
        assert_eq!((status.s2xx, status.s1xx, status.s5xx, status.other, status.non_2xx()), (20, 1, 4, 2, 7));
    }

    #[test]
    fn tls_handshakes_add_up() {
        let tls = |full, resumed| crate::record::result::TlsSummary {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_128_GCM_SHA256".into(),
            alpn: Some("http/1.1".into()),
            handshakes_full: full,
            handshakes_resumed: resumed,
            insecure: false,
        };
        let (mut a, mut b) = (measured(10, 100, 1.0), measured(10, 100, 1.0));
        a.runs[0].tls = Some(tls(1, 9));
        b.runs[0].tls = Some(tls(2, 8));
        (a.runs[0].latency.tls, b.runs[0].latency.tls) =
            (Some(a.runs[0].latency.connect.clone()), Some(b.runs[0].latency.connect.clone()));
        let m = merge(&[("a", &a), ("b", &b)]).unwrap();
        assert_eq!(m.runs[0].tls, Some(tls(3, 17)));
        assert_eq!(m.runs[0].latency.tls.as_ref().map(|h| h.count), Some(2));
        // http results stay without
        let plain = measured(10, 100, 1.0);
        let m = merge(&[("a", &plain), ("b", &plain)]).unwrap();
        assert_eq!((m.runs[0].tls.as_ref(), m.runs[0].latency.tls.as_ref()), (None, None));
    }

    #[test]
    fn seconds_add_their_histograms_and_recompute_p50_and_p99() {
        // a: 1000 requests of 100 µs in second 1; b: 1500 of 1000 µs, also in second 1
        let (a, b) = (measured(1000, 100, 1.0), measured(1500, 1000, 1.0));
        let (ta, tb) = (&a.runs[0].timeline[0], &b.runs[0].timeline[0]);
        // 2 significant digits: 1000 µs reads as the top of its bucket, 1003
        assert_eq!((ta.p50_us, tb.p50_us), (Some(100), Some(1003)));
        let m = merge(&[("a", &a), ("b", &b)]).unwrap();
        let second = &m.runs[0].timeline[0];
        assert_eq!((second.requests, second.p50_us, second.p99_us), (2500, Some(1003), Some(1003)));
        assert_eq!(decode_hdr(second.hdr.as_deref().unwrap()).unwrap().len(), 2500);
        // a result written before seconds carried histograms adds its counts, not a guess of its latency
        let mut old = b.clone();
        (old.runs[0].timeline[0].p50_us, old.runs[0].timeline[0].hdr) = (None, None);
        let second = merge(&[("a", &a), ("old", &old)]).unwrap().runs[0].timeline[0].clone();
        assert_eq!((second.requests, second.p50_us), (2500, Some(100)));
        let mut damaged = b.clone();
        damaged.runs[0].timeline[0].hdr = Some("AAAA".into());
        let err = merge(&[("a", &a), ("b", &damaged)]).unwrap_err();
        assert!(err.contains("keepalive mode: timeline second 1: hdr is not an HdrHistogram"), "{err}");
    }

    #[test]
    fn a_damaged_histogram_is_an_error_not_a_guess() {
        let a = measured(10, 100, 1.0);
        let mut b = a.clone();
        b.runs[0].latency.ttfb.hdr = "not base64!".into();
        let err = merge(&[("a", &a), ("b", &b)]).unwrap_err();
        assert!(err.contains("keepalive mode: ttfb: hdr is not base64"), "{err}");
    }
}

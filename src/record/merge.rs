/*!
`connbench merge` (docs/design.md §1, §10): results of one plan from several load machines made into one,
exactly. Counts are added, and a sum that would pass `u64::MAX` is refused, naming the field; histograms
are decoded from their serialized form, added, and summarized again, so percentiles are recomputed and never
averaged. Requests/s is the summed requests over the wall-clock span the results cover, from the first
start to the last end: the machines ran side by side when they overlap, and a merge of runs made one after
another says so in a note rather than claim their sum was sustained at once.

Results of different plans are refused, naming the field that differs; so is one result given twice (the
same start, command and histograms), which would count its requests twice. Shards of one plan
(`--shard I/N`) merge into the whole: every shard exactly once (a shard given twice is refused, missing ones
are named), and the merged result describes the whole plan (its connections and rate are the sums of the
shares). Timelines are lined up by wall-clock second, so shards started together add second by second.

Pure: no I/O.
*/

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;

use super::result::{
    add_count, same_target, Hist, ModeResult, Note, NoteKind, OtherTargets, PlanSummary, Ports, RequestSummary,
    RunResult, Stages, TargetFigures, TargetTally, Tick,
};
use super::{decode, decode_hdr, new_target_histogram, set_second_latency, summarize, TARGETS_LISTED};
use crate::printable::printable;
use crate::shard::WholePlan;

/// Merges `inputs` (name, result); names only label the error messages. At least one input.
pub fn merge(inputs: &[(&str, &RunResult)]) -> Result<RunResult, String> {
    let Some(&(first_name, first)) = inputs.first() else {
        return Err("nothing to merge".into());
    };
    let sharded = every_shard_once(inputs)?;
    for &(name, other) in &inputs[1..] {
        same_plan(first_name, first, name, other, sharded)?;
    }
    no_result_twice(inputs)?;
    let results: Vec<&RunResult> = inputs.iter().map(|(_, r)| *r).collect();
    let mut runs = Vec::new();
    let mut notes = merged_notes(&results);
    for (index, run) in first.runs.iter().enumerate() {
        let same_mode: Vec<(&str, &ModeResult)> = inputs.iter().map(|(name, r)| (*name, &r.runs[index])).collect();
        let in_mode = |e: String| format!("{} mode: {e}", run.mode.name());
        let mut merged = merge_mode(&same_mode).map_err(in_mode)?;
        if sharded {
            let connections = same_mode.iter().try_fold(0u32, |sum, (_, r)| sum.checked_add(r.connections));
            merged.connections = connections.ok_or_else(|| in_mode("connections add up past 2^32".into()))?;
        }
        let span = Span::of(&same_mode);
        notes.extend(span.note(run, same_mode.len()));
        (merged.duration_s, merged.rps) = (span.seconds, rate(merged.requests, span.seconds));
        runs.push(merged);
    }
    Ok(RunResult {
        complete: results.iter().all(|r| r.complete),
        // RFC 3339 in UTC sorts as text: the earliest start.
        started_at: results.iter().map(|r| r.started_at.clone()).min().unwrap_or_default(),
        runs,
        // Shards ran shares of one plan: the merged result is the whole of it.
        plan: match (first.plan, first.whole) {
            (Some(plan), Some(whole)) if sharded => {
                Some(PlanSummary { connections: whole.connections, requests: whole.requests, rate: whole.rate, ..plan })
            }
            (plan, _) => plan,
        },
        shard: None,
        whole: None,
        notes,
        ..first.clone()
    })
}

fn rate(requests: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        requests as f64 / seconds
    } else {
        0.0
    }
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
        if shard.count != count {
            return Err(format!(
                "{name} is a shard of another plan than {first_name}: --shard {}/{} vs {}/{count} (the plans have \
                 {} and {count} shards)",
                shard.index, shard.count, first_shard.index, shard.count
            ));
        }
        if let Some(why) = whole_plans_differ(result.whole, first.whole) {
            return Err(format!("{name} is a shard of another plan than {first_name}: {why}"));
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

/// The first figure of the whole plan two shards disagree on, as `the whole plan's -c: 6 vs 5`.
fn whole_plans_differ(a: Option<WholePlan>, b: Option<WholePlan>) -> Option<String> {
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (None, None) => return None,
        _ => return Some("only one of them records the whole plan".into()),
    };
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    [
        ("-c", a.connections.to_string(), b.connections.to_string()),
        ("-n", or_none(a.requests.map(|n| n.to_string())), or_none(b.requests.map(|n| n.to_string()))),
        ("--rate", or_none(a.rate.map(|r| r.to_string())), or_none(b.rate.map(|r| r.to_string()))),
    ]
    .into_iter()
    .find(|(_, va, vb)| va != vb)
    .map(|(flag, va, vb)| format!("the whole plan's {flag}: {va} vs {vb}"))
}

/// Refuses a result given twice under any names: the same start, command and histograms are one run, and
/// adding it to itself would double its requests. (A shard given twice is found by its index first.)
fn no_result_twice(inputs: &[(&str, &RunResult)]) -> Result<(), String> {
    let mut seen: HashMap<(&str, &[String], Vec<&str>), &str> = HashMap::new();
    for &(name, result) in inputs {
        let histograms =
            result.runs.iter().flat_map(|r| r.latency.phases().map(|(_, h)| h.map_or("", |h| h.hdr.as_str())));
        let key = (result.started_at.as_str(), result.command.as_slice(), histograms.collect());
        if let Some(earlier) = seen.insert(key, name) {
            return Err(format!(
                "{name} is the same result as {earlier} (the same started_at, command and histograms): merging it \
                 would count its requests twice"
            ));
        }
    }
    Ok(())
}

/// Refuses results that did not run the same plan, naming the first field that differs.
fn same_plan(a_name: &str, a: &RunResult, b_name: &str, b: &RunResult, sharded: bool) -> Result<(), String> {
    let differ = |field: &str, va: &str, vb: &str| {
        Err(format!("{b_name} differs from {a_name} in {field}: {} vs {}", printable(vb), printable(va)))
    };
    if a.schema_version != b.schema_version {
        return differ("schema_version", &a.schema_version.to_string(), &b.schema_version.to_string());
    }
    if !same_target(&a.target, &b.target) {
        return differ("target", &a.target, &b.target);
    }
    if let (Some(ma), Some(mb)) = (&a.method, &b.method) {
        if ma != mb {
            return differ("method", ma, mb);
        }
    }
    let targets =
        |r: &RunResult| r.targets.as_ref().map_or("one request".to_string(), |t| format!("{} targets", t.count));
    if targets(a) != targets(b) {
        return differ("targets", &targets(a), &targets(b));
    }
    if let (Some(ra), Some(rb)) = (&a.request, &b.request) {
        if ra.body_bytes != rb.body_bytes {
            let bytes = |r: &RequestSummary| format!("{} bytes", r.body_bytes);
            return differ("body", &bytes(ra), &bytes(rb));
        }
    }
    let modes = |r: &RunResult| r.runs.iter().map(|m| m.mode.name()).collect::<Vec<_>>().join(",");
    if modes(a) != modes(b) {
        return differ("modes", &modes(a), &modes(b));
    }
    for (ma, mb) in a.runs.iter().zip(&b.runs) {
        let mode = ma.mode.name();
        // Shards run shares of the connections, which differ by one at most.
        if ma.connections != mb.connections && !sharded {
            return differ(&format!("connections ({mode})"), &ma.connections.to_string(), &mb.connections.to_string());
        }
        // An older result says no version (HTTP/1.x, or HTTP/2 in multiplex): only two that say differ.
        if let (Some(va), Some(vb)) = (ma.http, mb.http) {
            if va != vb {
                return differ(&format!("http ({mode})"), va.name(), vb.name());
            }
        }
        if ma.depth != mb.depth {
            return differ(&format!("depth ({mode})"), &ma.depth.to_string(), &mb.depth.to_string());
        }
        // Open-loop latency counts from each request's scheduled time, closed-loop from its start: the
        // two cannot share a histogram. Open-loop rates may differ (each machine's share of the plan).
        let lp = |r: &ModeResult| match (&r.stages, r.rate) {
            (Some(stages), _) => format!("open loop (--stages {})", stage_durations(stages)),
            (None, Some(rate)) => format!("open loop (--rate {rate})"),
            (None, None) => "closed loop".to_string(),
        };
        let stages = |r: &ModeResult| r.stages.as_ref().map(stage_durations);
        if ma.rate.is_some() != mb.rate.is_some() || stages(ma) != stages(mb) {
            return differ(&format!("loop ({mode})"), &lp(ma), &lp(mb));
        }
    }
    Ok(())
}

/// The stages' durations, which shards share (their rates are each shard's share).
fn stage_durations(stages: &Stages) -> String {
    stages.stages.iter().map(|s| format!("{}s", s.duration_s)).collect::<Vec<_>>().join(",")
}

/// Stages of shards: each ran its share of every rate, so the whole plan's are their sums.
fn merge_stages(runs: &[(&str, &ModeResult)]) -> Option<Stages> {
    let mut merged = runs[0].1.stages.clone()?;
    for (_, run) in &runs[1..] {
        let theirs = run.stages.as_ref()?;
        merged.from += theirs.from;
        for (mine, theirs) in merged.stages.iter_mut().zip(&theirs.stages) {
            mine.rate += theirs.rate;
        }
    }
    Some(merged)
}

/// Each target's figures added over the inputs, by its place among the targets. A target that one input
/// lists and another keeps among its others (it was not one of that input's busiest) cannot be told apart
/// from the rest there: it goes among the merged others too, so that every target listed has all of its
/// figures. The busiest `TARGETS_LISTED` are listed, as a run lists them.
fn merge_targets(runs: &[(&str, &ModeResult)]) -> Result<(Vec<TargetFigures>, Option<OtherTargets>), String> {
    let first = runs[0].1;
    let total = first.targets.len() as u64 + first.targets_other.as_ref().map_or(0, |o| o.targets);
    if total == 0 {
        return Ok((Vec::new(), None));
    }
    let in_targets = |e: String| format!("targets: {e}");
    // By index: the figures added, their latency, and how many inputs listed it.
    let mut listed: BTreeMap<u64, (TargetFigures, Histogram<u64>, usize)> = BTreeMap::new();
    let mut others = (TargetTally::default(), new_target_histogram());
    for (name, run) in runs {
        let too_large = |field| in_targets(too_large(name)(field));
        for target in &run.targets {
            let (mine, latency, seen) = listed.entry(target.index).or_insert_with(|| {
                let empty = TargetFigures { tally: TargetTally::default(), ..target.clone() };
                (empty, new_target_histogram(), 0)
            });
            mine.tally.checked_add_counts(&target.tally).map_err(too_large)?;
            add_into(latency, &target.tally.latency).map_err(in_targets)?;
            *seen += 1;
        }
        if let Some(other) = &run.targets_other {
            others.0.checked_add_counts(&other.tally).map_err(too_large)?;
            add_into(&mut others.1, &other.tally.latency).map_err(in_targets)?;
        }
    }
    let mut complete = Vec::new();
    for (_, (mut target, latency, seen)) in listed {
        if seen == runs.len() {
            target.tally.latency = summarize(&latency);
            complete.push((target, latency));
        } else {
            others.0.checked_add_counts(&target.tally).map_err(|f| in_targets(format!("{f} passes 2^64")))?;
            others.1.add(&latency).map_err(|e| in_targets(format!("histograms cannot be added: {e:?}")))?;
        }
    }
    // The busiest first; the file's order among equals.
    complete
        .sort_by_key(|(t, _)| (std::cmp::Reverse(t.tally.requests.saturating_add(t.tally.errors.total())), t.index));
    for (target, latency) in complete.drain(TARGETS_LISTED.min(complete.len())..) {
        others.0.checked_add_counts(&target.tally).map_err(|f| in_targets(format!("{f} passes 2^64")))?;
        others.1.add(&latency).map_err(|e| in_targets(format!("histograms cannot be added: {e:?}")))?;
    }
    let summed = total.saturating_sub(complete.len() as u64);
    let other = (summed > 0)
        .then(|| OtherTargets { targets: summed, tally: TargetTally { latency: summarize(&others.1), ..others.0 } });
    Ok((complete.into_iter().map(|(t, _)| t).collect(), other))
}

/// Adds a serialized histogram into `sum`, which grows as needed.
fn add_into(sum: &mut Histogram<u64>, hist: &Hist) -> Result<(), String> {
    sum.add(decode(hist)?).map_err(|e| format!("histograms cannot be added: {e:?}"))
}

/// A count that would pass `u64::MAX` when `name`'s is added, said with the field.
fn too_large(name: &str) -> impl Fn(&'static str) -> String + '_ {
    move |field| format!("{field}: adding {name}'s passes {}, the most a count can be", u64::MAX)
}

fn merge_mode(runs: &[(&str, &ModeResult)]) -> Result<ModeResult, String> {
    let mut merged = runs[0].1.clone();
    for &(name, run) in &runs[1..] {
        add_counts(&mut merged, run).map_err(too_large(name))?;
    }
    merged.rate = runs.iter().try_fold(0.0, |sum, (_, r)| r.rate.map(|rate| sum + rate));
    let l = &mut merged.latency;
    let phase = |pick: fn(&ModeResult) -> &Hist| add_hists(runs.iter().map(|(_, r)| pick(r)));
    l.connect = phase(|r| &r.latency.connect).map_err(|e| format!("connect: {e}"))?;
    l.ttfb = phase(|r| &r.latency.ttfb).map_err(|e| format!("ttfb: {e}"))?;
    l.transfer = phase(|r| &r.latency.transfer).map_err(|e| format!("transfer: {e}"))?;
    l.total = phase(|r| &r.latency.total).map_err(|e| format!("total: {e}"))?;
    l.total_first = phase(|r| &r.latency.total_first).map_err(|e| format!("total_first: {e}"))?;
    l.total_reused = phase(|r| &r.latency.total_reused).map_err(|e| format!("total_reused: {e}"))?;
    let optional = |pick: fn(&ModeResult) -> Option<&Hist>| match runs.iter().map(|(_, r)| pick(r)).collect() {
        Some(all) => add_hists(Vec::into_iter(all)).map(Some),
        None => Ok(None),
    };
    l.total_uncorrected =
        optional(|r| r.latency.total_uncorrected.as_ref()).map_err(|e| format!("total_uncorrected: {e}"))?;
    l.tls = optional(|r| r.latency.tls.as_ref()).map_err(|e| format!("tls: {e}"))?;
    merged.pacing = None;
    for (name, run) in runs {
        if let Some(theirs) = &run.pacing {
            match &mut merged.pacing {
                Some(mine) => mine.checked_merge(theirs).map_err(too_large(name))?,
                None => merged.pacing = Some(*theirs),
            }
        }
    }
    merged.ports = merge_ports(runs)?;
    merged.timeline = merge_timelines(runs)?;
    (merged.targets, merged.targets_other) = merge_targets(runs)?;
    merged.stages = merge_stages(runs);
    merged.started_unix_ms = runs.iter().map(|(_, r)| r.started_unix_ms).min().flatten();
    Ok(merged)
}

fn add_counts(m: &mut ModeResult, o: &ModeResult) -> Result<(), &'static str> {
    if let Some(theirs) = &o.quic {
        m.quic.get_or_insert_with(Default::default).add(m.connections_opened, theirs, o.connections_opened);
    }
    add_count("requests", &mut m.requests, o.requests)?;
    m.status.checked_add(&o.status)?;
    for (&code, &count) in &o.status_codes {
        add_count("status_codes", m.status_codes.entry(code).or_default(), count)?;
    }
    m.errors.checked_add(&o.errors)?;
    add_count("retries", &mut m.retries, o.retries)?;
    add_count("in_flight_at_end", &mut m.in_flight_at_end, o.in_flight_at_end)?;
    add_count("bytes_received", &mut m.bytes_received, o.bytes_received)?;
    add_count("connections_opened", &mut m.connections_opened, o.connections_opened)?;
    add_count("closed_by_client", &mut m.closed_by_client, o.closed_by_client)?;
    add_count("closed_by_server", &mut m.closed_by_server, o.closed_by_server)?;
    add_count("closed_by_reset", &mut m.closed_by_reset, o.closed_by_reset)?;
    add_count("closed_on_server_request", &mut m.closed_on_server_request, o.closed_on_server_request)?;
    add_count("closed_unanswered", &mut m.closed_unanswered, o.closed_unanswered)?;
    add_count("closed_unsolicited", &mut m.closed_unsolicited, o.closed_unsolicited)?;
    m.keep_alive.checked_merge(&o.keep_alive)?;
    if let Some(theirs) = &o.tls {
        m.tls.get_or_insert_with(Default::default).checked_add(theirs)?;
    }
    m.max_concurrent_streams = [m.max_concurrent_streams, o.max_concurrent_streams].into_iter().flatten().min();
    m.max_in_flight = [m.max_in_flight, o.max_in_flight].into_iter().flatten().max();
    Ok(())
}

/// The wall-clock span a mode's results cover, from the first start to the last end, and the time within it
/// in which none of them ran. Results written before modes recorded their start ran side by side, as far
/// as anyone can tell: their span is the longest duration.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    seconds: f64,
    idle: f64,
}

impl Span {
    fn of(runs: &[(&str, &ModeResult)]) -> Span {
        let longest = runs.iter().map(|(_, r)| r.duration_s).fold(0.0, f64::max);
        let Some(mut windows) = runs
            .iter()
            .map(|(_, r)| r.started_unix_ms.map(|start| (start as f64 / 1e3, start as f64 / 1e3 + r.duration_s)))
            .collect::<Option<Vec<(f64, f64)>>>()
        else {
            return Span { seconds: longest, idle: 0.0 };
        };
        windows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (first, mut end) = windows[0];
        let mut idle = 0.0;
        for &(start, stop) in &windows[1..] {
            idle += (start - end).max(0.0);
            end = end.max(stop);
        }
        Span { seconds: end - first, idle }
    }

    /// Said when the inputs did not all run at once: their sum was never sustained in any one second.
    fn note(self, run: &ModeResult, inputs: usize) -> Option<Note> {
        (self.idle > 0.0).then(|| {
            let text = format!(
                "the {inputs} merged results did not all run at the same time: they span {:.3} s from the first \
                 start to the last end, {:.3} s of it with none running, and requests/s is over the whole span",
                self.seconds, self.idle
            );
            Note::new(NoteKind::Merge, Some(run.mode), text).with(&[("span_s", self.seconds), ("idle_s", self.idle)])
        })
    }
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
fn merge_ports(runs: &[(&str, &ModeResult)]) -> Result<Option<Ports>, String> {
    let mut merged: Option<Ports> = None;
    for (name, ports) in runs.iter().filter_map(|(name, r)| Some((name, r.ports.as_ref()?))) {
        let Some(m) = merged.as_mut() else {
            merged = Some(ports.clone());
            continue;
        };
        let too_large = too_large(name);
        add_count("ports.time_wait_peak", &mut m.time_wait_peak, ports.time_wait_peak).map_err(&too_large)?;
        add_count("ports.kernel_time_wait_peak", &mut m.kernel_time_wait_peak, ports.kernel_time_wait_peak)
            .map_err(&too_large)?;
        for (name, mine, theirs) in [
            ("ports.time_wait_at_start", &mut m.time_wait_at_start, ports.time_wait_at_start),
            ("ports.time_wait_own_peak", &mut m.time_wait_own_peak, ports.time_wait_own_peak),
            ("ports.time_wait_own_end", &mut m.time_wait_own_end, ports.time_wait_own_end),
            ("ports.kernel_time_wait_at_start", &mut m.kernel_time_wait_at_start, ports.kernel_time_wait_at_start),
        ] {
            *mine = add_some(name, *mine, theirs).map_err(&too_large)?;
        }
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
                    add_count("ports.per_ip.opened", &mut mine.opened, per.opened).map_err(&too_large)?;
                    mine.held_peak = max_some(mine.held_peak, per.held_peak);
                }
                None => m.per_ip.push(per.clone()),
            }
        }
    }
    Ok(merged)
}

/// Seconds are counted from each mode's start on each machine; where every run says when it started, they
/// are lined up by wall-clock second (the earliest start's seconds), so shards started together add second
/// by second. A second's latency histograms are added and its p50 and p99 recomputed from the sum. A result
/// written before seconds carried a histogram adds none: its seconds' percentiles cannot be recovered, and a
/// merged second says only what the histograms it has say.
///
/// The ticks are grouped by second first (a sorted map: every tick is placed once, n log n for n ticks in
/// all), then each second is summed once, so no more than two of its histograms are decoded at a time.
fn merge_timelines(runs: &[(&str, &ModeResult)]) -> Result<Vec<Tick>, String> {
    let starts: Option<Vec<u64>> = runs.iter().map(|(_, r)| r.started_unix_ms).collect();
    let earliest = starts.as_ref().and_then(|s| s.iter().min().copied());
    let mut seconds: BTreeMap<u64, Vec<(&str, &Tick)>> = BTreeMap::new();
    for (index, (name, run)) in runs.iter().enumerate() {
        let shift = match (&starts, earliest) {
            (Some(starts), Some(earliest)) => ((starts[index] - earliest) as f64 / 1000.0).round() as u64,
            _ => 0,
        };
        for tick in &run.timeline {
            let t = tick
                .t
                .checked_add(shift)
                .ok_or_else(|| format!("{name}: timeline second {} is past any run", tick.t))?;
            seconds.entry(t).or_default().push((name, tick));
        }
    }
    seconds.into_iter().map(|(t, ticks)| add_second(t, &ticks)).collect()
}

/// One merged second: its ticks' counts added, their latency histograms added and summarized once.
fn add_second(t: u64, ticks: &[(&str, &Tick)]) -> Result<Tick, String> {
    let second = |e: String| format!("timeline second {t}: {e}");
    let mut merged = Tick { t, ..ticks[0].1.clone() };
    for (name, tick) in &ticks[1..] {
        let too_large = |field| second(too_large(name)(field));
        add_count("requests", &mut merged.requests, tick.requests).map_err(too_large)?;
        add_count("errors", &mut merged.errors, tick.errors).map_err(too_large)?;
        add_count("opened", &mut merged.opened, tick.opened).map_err(too_large)?;
        merged.time_wait = add_some("time_wait", merged.time_wait, tick.time_wait).map_err(too_large)?;
        merged.kernel_time_wait =
            add_some("kernel_time_wait", merged.kernel_time_wait, tick.kernel_time_wait).map_err(too_large)?;
        merged.time_wait_own =
            add_some("time_wait_own", merged.time_wait_own, tick.time_wait_own).map_err(too_large)?;
        merged.client_ips = add_some("client_ips", merged.client_ips, tick.client_ips).map_err(too_large)?;
        // As long as the longest of its parts: a whole second (None) if any was whole.
        merged.length_s = merged.length_s.zip(tick.length_s).map(|(a, b)| a.max(b));
        // Each shard's share of the schedule's: the whole's is their sum.
        merged.target_rate = match (merged.target_rate, tick.target_rate) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
    if ticks.len() > 1 {
        let mut sum: Option<Histogram<u64>> = None;
        for hdr in ticks.iter().filter_map(|(_, tick)| tick.hdr.as_deref()) {
            let theirs = decode_hdr(hdr).map_err(second)?;
            match &mut sum {
                Some(mine) => mine.add(&theirs).map_err(|e| second(format!("histograms cannot be added: {e:?}")))?,
                None => sum = Some(theirs),
            }
        }
        if let Some(sum) = sum {
            set_second_latency(&mut merged, &sum);
        }
    }
    Ok(merged)
}

fn max_some<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b > a { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn add_some(name: &'static str, a: Option<u64>, b: Option<u64>) -> Result<Option<u64>, &'static str> {
    match (a, b) {
        (Some(mut a), Some(b)) => add_count(name, &mut a, b).map(|()| Some(a)),
        _ => Ok(a.or(b)),
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
        let mut result = fixture::run_result(vec![rec.finish(shape, Duration::from_secs_f64(secs))]);
        // each its own run, as two runs are never started at the same moment
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        result.started_at = format!("run {}", RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        result
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
        // every second of the longer window has its entry, the ones in which nothing happened too
        assert_eq!(run.timeline.iter().map(|t| t.requests).collect::<Vec<_>>(), [2500, 0, 0]);
        assert_eq!(run.pacing, None, "closed-loop runs have no pacing");
    }

    /// A run of `--targets` whose targets (method, URL, requests of 100 µs) ran as `targets` says, through the
    /// recorder as the engine uses it.
    fn with_targets(targets: &[(&str, &str, u64)]) -> RunResult {
        let t0 = Instant::now();
        let mut rec = Recorder::new(t0, false).with_targets(targets.len());
        let at = |us| t0 + Duration::from_micros(us);
        let exchange = Exchange {
            start: at(0),
            began: at(0),
            sent: at(0),
            first_byte: at(50),
            done: at(100),
            opened_connection: false,
        };
        for (index, &(_, _, requests)) in targets.iter().enumerate() {
            (0..requests).for_each(|_| rec.completed_for(&exchange, 200, index));
        }
        rec.failed_for(at(10), crate::record::ErrorKind::Timeout, targets.len() - 1);
        let names: Vec<_> = targets.iter().map(|(m, u, _)| (m.to_string(), u.to_string())).collect();
        let listed = rec.targets(&names);
        let shape = RunShape { mode: Mode::Keepalive, connections: 4, depth: 1, rate: None };
        let mut run = rec.finish(shape, Duration::from_secs(1));
        (run.targets, run.targets_other) = listed;
        let mut result = fixture::run_result(vec![run]);
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        result.started_at = format!("targets {}", RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        result
    }

    #[test]
    fn targets_add_by_place_and_one_listed_apart_from_others_goes_among_them() {
        let a = with_targets(&[("GET", "/a", 5), ("POST", "/b", 3)]);
        let b = with_targets(&[("GET", "/a", 1), ("POST", "/b", 7)]);
        let m = merge(&[("a", &a), ("b", &b)]).unwrap();
        let listed: Vec<_> =
            m.runs[0].targets.iter().map(|t| (t.url.as_str(), t.tally.requests, t.tally.latency.count)).collect();
        assert_eq!(listed, [("/b", 10, 10), ("/a", 6, 6)], "the busiest first");
        assert_eq!((m.runs[0].targets[0].tally.errors.timeout, m.runs[0].targets_other.clone()), (2, None));
        // 150 targets: each input lists its 100 busiest; a target listed by one input and summed by the other
        // cannot be told apart there, so it is summed in the merged result too
        let many = |busy: u64| {
            let names: Vec<(String, String, u64)> = (0..150)
                .map(|i| ("GET".into(), format!("/{i}"), if i >= busy && i < busy + 100 { 2 } else { 1 }))
                .collect();
            let borrowed: Vec<(&str, &str, u64)> = names.iter().map(|(m, u, n)| (m.as_str(), u.as_str(), *n)).collect();
            with_targets(&borrowed)
        };
        let (a, b) = (many(0), many(50));
        let m = merge(&[("a", &a), ("b", &b)]).unwrap();
        let run = &m.runs[0];
        assert_eq!(run.targets.len(), 50, "/50 to /99 were listed by both");
        assert!(run.targets.iter().all(|t| (50..100).contains(&t.index) && t.tally.requests == 4));
        let other = run.targets_other.as_ref().unwrap();
        assert_eq!(other.targets, 100);
        let listed: u64 = run.targets.iter().map(|t| t.tally.requests).sum();
        assert_eq!(listed + other.tally.requests, run.requests, "every request is in one row or the others");
        assert_eq!(other.tally.latency.count, other.tally.requests);
    }

    /// Shard `index` of `count` of a plan of 5 connections, `requests` requests, started at `start_ms`.
    fn shard(index: u32, count: u32, requests: u64, start_ms: u64) -> RunResult {
        let mut result = measured(requests, 100, 3.0);
        let shard = Shard { index, count };
        result.shard = Some(shard);
        result.whole = Some(WholePlan { connections: 5, rate: None, requests: Some(1001) });
        result.runs[0].connections = shard.share(5) as u32;
        let (connections, requests) = (shard.share(5) as u32, Some(requests));
        result.plan = Some(PlanSummary { connections, depth: 1, requests, duration_s: None, rate: None });
        result.runs[0].started_unix_ms = Some(start_ms);
        result
    }

    #[test]
    fn shards_merge_into_the_whole_plan_each_once() {
        let (a, b, c) = (shard(0, 3, 334, 1_000_000), shard(1, 3, 334, 1_000_400), shard(2, 3, 333, 1_001_900));
        let m = merge(&[("a", &a), ("b", &b), ("c", &c)]).unwrap();
        assert_eq!((m.runs[0].requests, m.runs[0].connections), (1001, 5), "2 + 2 + 1 connections");
        assert_eq!((m.shard, m.whole), (None, None), "the merged result is the whole plan");
        let plan = m.plan.expect("the plan");
        assert_eq!((plan.connections, plan.requests), (5, Some(1001)), "and says so");
        // b started 0.4 s after a: the same second; c 1.9 s after: two seconds later (each window 3 s long)
        let ticks: Vec<_> = m.runs[0].timeline.iter().map(|t| (t.t, t.requests)).collect();
        assert_eq!(ticks, vec![(1, 668), (2, 0), (3, 333), (4, 0), (5, 0)]);
        // each shard once, and all of them
        let err = merge(&[("a", &a), ("b", &b), ("again", &b)]).unwrap_err();
        assert!(err.contains("shard 1/3 is given twice: b and again"), "{err}");
        let err = merge(&[("a", &a), ("c", &c)]).unwrap_err();
        assert!(err.contains("shard 1/3 missing"), "{err}");
        let err = merge(&[("a", &a), ("whole", &measured(10, 100, 1.0))]).unwrap_err();
        assert!(err.contains("whole is not"), "{err}");
        // another plan: the field that differs, in words
        let mut other = shard(1, 3, 334, 0);
        other.whole = Some(WholePlan { connections: 5, rate: None, requests: Some(2000) });
        let err = merge(&[("a", &a), ("other", &other), ("c", &c)]).unwrap_err();
        assert_eq!(err, "other is a shard of another plan than a: the whole plan's -n: 2000 vs 1001");
        other.whole = Some(WholePlan { connections: 6, rate: Some(100.0), requests: None });
        let err = merge(&[("a", &a), ("other", &other), ("c", &c)]).unwrap_err();
        assert_eq!(err, "other is a shard of another plan than a: the whole plan's -c: 6 vs 5");
        let four = shard(1, 4, 334, 0);
        let err = merge(&[("a", &a), ("four", &four), ("c", &c)]).unwrap_err();
        assert_eq!(err, "four is a shard of another plan than a: --shard 1/4 vs 0/3 (the plans have 4 and 3 shards)");
        assert!(!err.contains("Some(") && !err.contains("WholePlan"), "{err}");
    }

    #[test]
    fn one_result_given_twice_is_refused_not_counted_twice() {
        let a = measured(100, 100, 1.0);
        let err = merge(&[("r.json", &a), ("copy.json", &a)]).unwrap_err();
        assert_eq!(
            err,
            "copy.json is the same result as r.json (the same started_at, command and histograms): merging it would \
             count its requests twice"
        );
        // another run of the same command, started at another time, is another result
        let mut b = a.clone();
        b.started_at = "2026-01-01T00:00:05Z".into();
        assert_eq!(merge(&[("r.json", &a), ("b.json", &b)]).unwrap().runs[0].requests, 200);
    }

    #[test]
    fn requests_per_second_is_over_the_span_the_results_cover_and_a_gap_is_said() {
        // three runs of 100 requests over 1 s each, started 0 s, 0.5 s and 3 s after the first
        let at = |start_ms: u64| {
            let mut r = measured(100, 100, 1.0);
            (r.runs[0].started_unix_ms, r.started_at) = (Some(1_000_000 + start_ms), format!("{start_ms}"));
            r
        };
        let (a, b, c) = (at(0), at(500), at(3000));
        let m = merge(&[("a", &a), ("b", &b), ("c", &c)]).unwrap();
        let run = &m.runs[0];
        // from the first start to the last end: 4 s, 1.5 s of it with none running
        assert_eq!((run.duration_s, run.rps), (4.0, 75.0));
        assert_eq!(m.notes.len(), 1, "{:?}", m.notes);
        let note = &m.notes[0];
        assert_eq!((note.kind, note.mode), (NoteKind::Merge, Some(crate::mode::Mode::Keepalive)));
        assert!(note.text.starts_with("the 3 merged results did not all run at the same time: they span 4.000 s"));
        assert_eq!((note.figures["span_s"], note.figures["idle_s"]), (4.0, 1.5));
        // overlapping runs: the span, and nothing to say
        let m = merge(&[("a", &a), ("b", &b)]).unwrap();
        assert_eq!((m.runs[0].duration_s, m.runs[0].rps, m.notes.len()), (1.5, 200.0 / 1.5, 0));
    }

    #[test]
    fn counts_that_would_pass_u64_max_are_refused_naming_the_field() {
        let mut a = measured(10, 100, 1.0);
        (a.runs[0].errors.reset, a.runs[0].keep_alive.declined) = (1, 1);
        // each case: a change to b, the field named
        type Change = fn(&mut ModeResult);
        let cases: [(Change, &str); 4] = [
            (|r| r.requests = u64::MAX, "requests"),
            (|r| r.errors.reset = u64::MAX, "errors.reset"),
            (|r| r.keep_alive.declined = u64::MAX, "keep_alive.declined"),
            (|r| r.timeline[0].requests = u64::MAX, "timeline second 1: requests"),
        ];
        for (change, field) in cases {
            let mut b = a.clone();
            b.started_at = "another start".into();
            change(&mut b.runs[0]);
            let err = merge(&[("a.json", &a), ("b.json", &b)]).unwrap_err();
            assert_eq!(
                err,
                format!(
                    "keepalive mode: {field}: adding b.json's passes 18446744073709551615, the most a count can be"
                )
            );
        }
    }

    #[test]
    fn a_long_timeline_merges_in_one_pass() {
        // Each tick is placed in a sorted map once: 2 x 200,000 seconds, where a search of the merged ticks for
        // each new one would make 4 x 10^10 comparisons. The second run started 2 s after the first.
        const SECONDS: u64 = 200_000;
        let long = |start_ms: u64| {
            let mut r = fixture::run_result(vec![fixture::mode_result(crate::mode::Mode::Keepalive)]);
            r.runs[0].latency = measured(1, 100, 1.0).runs[0].latency.clone();
            r.runs[0].started_unix_ms = Some(start_ms);
            r.started_at = start_ms.to_string();
            r.runs[0].timeline =
                (1..=SECONDS).map(|t| Tick { t, requests: 1, errors: t % 2, ..Tick::default() }).collect();
            r
        };
        let (a, b) = (long(0), long(2000));
        let m = merge(&[("a", &a), ("b", &b)]).unwrap();
        let timeline = &m.runs[0].timeline;
        assert_eq!(timeline.len(), SECONDS as usize + 2);
        assert!(timeline.windows(2).all(|w| w[0].t + 1 == w[1].t), "every second once, in order");
        let requests: Vec<u64> =
            [0, 1, 2, SECONDS as usize, SECONDS as usize + 1].iter().map(|&i| timeline[i].requests).collect();
        assert_eq!(requests, [1, 1, 2, 1, 1], "b's second 1 is a's second 3");
        assert_eq!(timeline.iter().map(|t| t.errors).sum::<u64>(), SECONDS);
    }

    #[test]
    fn different_plans_are_refused_naming_the_field() {
        let a = measured(10, 100, 1.0);
        // each case: a change to b, and what the message must name
        type Change = fn(&mut RunResult);
        let cases: [(Change, &str); 8] = [
            (|r| r.runs[0].connections = 8, "in connections (keepalive): 8 vs 4"),
            (|r| r.runs[0].depth = 16, "in depth (keepalive)"),
            (|r| r.runs[0].mode = Mode::Serial, "in modes: serial vs keepalive"),
            (|r| r.target = "http://10.0.0.1/".into(), "in target"),
            (|r| r.method = Some("POST".into()), "in method: POST vs GET"),
            (
                |r| r.targets = Some(crate::record::result::TargetsInfo { count: 3, ..Default::default() }),
                "in targets: 3 targets vs one request",
            ),
            (|r| r.runs[0].rate = Some(500.0), "in loop (keepalive): open loop (--rate 500) vs closed loop"),
            (
                |r| {
                    let stage = crate::stages::Stage { duration_s: 5.0, rate: 100.0 };
                    r.runs[0].stages = Some(Stages { from: 0.0, stages: vec![stage] });
                },
                "in loop (keepalive): open loop (--stages 5s) vs closed loop",
            ),
        ];
        for (change, needle) in cases {
            let mut b = a.clone();
            change(&mut b);
            let err = merge(&[("a.json", &a), ("b.json", &b)]).unwrap_err();
            assert!(err.starts_with("b.json differs from a.json"), "{err}");
            assert!(err.contains(needle), "{needle}: {err}");
        }
        // bodies of different sizes, where both results say theirs
        let (mut with_body, mut other_body) = (a.clone(), a.clone());
        with_body.request = Some(RequestSummary { body_bytes: 13, headers: vec![] });
        other_body.request = Some(RequestSummary { body_bytes: 0, headers: vec![] });
        other_body.started_at = "another start".into();
        let err = merge(&[("a.json", &with_body), ("b.json", &other_body)]).unwrap_err();
        assert_eq!(err, "b.json differs from a.json in body: 0 bytes vs 13 bytes");
        // different embedded-server ports are the same target, over the same scheme
        let mut a = a;
        a.target = "http://127.0.0.1:1234/ (embedded server)".into();
        let mut b = measured(10, 100, 1.0);
        b.target = "http://127.0.0.1:5678/ (embedded server)".into();
        assert!(merge(&[("a", &a), ("b", &b)]).is_ok());
        let mut https = b.clone();
        https.target = "https://127.0.0.1:5678/ (embedded server)".into();
        assert!(merge(&[("a", &a), ("https", &https)]).unwrap_err().contains("in target"));
        // two open-loop shares of one plan merge, their rates added
        let (mut a, mut b) = (a, b);
        (a.runs[0].rate, b.runs[0].rate) = (Some(100.0), Some(200.0));
        assert_eq!(merge(&[("a", &a), ("b", &b)]).unwrap().runs[0].rate, Some(300.0));
        // and so do two shares of stages, each stage's rate and each second's target added
        let share = |rate: f64| Stages { from: rate, stages: vec![crate::stages::Stage { duration_s: 1.0, rate }] };
        (a.runs[0].rate, b.runs[0].rate) = (None, None);
        (a.runs[0].stages, b.runs[0].stages) = (Some(share(10.0)), Some(share(30.0)));
        (a.runs[0].timeline[0].target_rate, b.runs[0].timeline[0].target_rate) = (Some(10.0), Some(30.0));
        let merged = merge(&[("a", &a), ("b", &b)]).unwrap();
        assert_eq!(merged.runs[0].stages, Some(share(40.0)));
        assert_eq!(merged.runs[0].timeline[0].target_rate, Some(40.0));
    }

    #[test]
    fn statuses_add_up_other_included() {
        let (mut a, mut b) = (measured(10, 100, 1.0), measured(10, 100, 1.0));
        (a.runs[0].status.other, b.runs[0].status.s1xx, b.runs[0].status.s5xx) = (2, 1, 4);
        b.runs[0].status_codes.insert(503, 4);
        let merged = merge(&[("a", &a), ("b", &b)]).unwrap();
        assert_eq!(merged.runs[0].status_codes, [(200, 20), (503, 4)].into_iter().collect());
        let status = merged.runs[0].status.clone();
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
        let m = merge(&[("a", &measured(10, 100, 1.0)), ("b", &measured(10, 100, 1.0))]).unwrap();
        assert_eq!((m.runs[0].tls.as_ref(), m.runs[0].latency.tls.as_ref()), (None, None));
    }

    #[test]
    fn a_merged_second_is_as_long_as_the_longest_of_its_parts() {
        // side by side: one machine's window ended 0.5 s into its third second, the other's 0.8 s into it
        let (a, b) = (measured(10, 100, 2.5), measured(10, 100, 2.8));
        let lengths = |r: &RunResult| r.runs[0].timeline.iter().map(|t| t.length_s).collect::<Vec<_>>();
        assert_eq!(lengths(&a), [None, None, Some(0.5)]);
        let m = merge(&[("a", &a), ("b", &b)]).unwrap();
        assert_eq!(lengths(&m), [None, None, Some(0.8)]);
        // a whole second on any machine is a whole second
        let c = measured(10, 100, 3.0);
        assert_eq!(lengths(&merge(&[("a", &a), ("c", &c)]).unwrap()), [None, None, None]);
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

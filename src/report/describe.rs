/*!
What a result says of how it was made, for people: the request (method, body, headers) and the plan (`-c`,
`--depth`, `-n` or `-d`, `--rate`), one line each under every report's title, so that a POST never reads as
a GET; and what differs between the plans of two results, which `compare` says before any ratio (a gate
across different plans compares different things).

Pure: no I/O. Results written before the request and the plan were kept say less, never something false.
*/

use crate::mode::Mode;
use crate::printable::printable;
use crate::record::result::{same_target, ModeResult, RunResult};

/// `POST, body 13 bytes, -H 'Content-Type: application/json'`; None for a result that does not say its method.
pub fn request_line(result: &RunResult) -> Option<String> {
    let mut parts = vec![printable(result.method.as_deref()?).into_owned()];
    if let Some(request) = &result.request {
        parts.push(body(request.body_bytes));
        parts.extend(request.headers.iter().map(|header| format!("-H '{}'", printable(header))));
    }
    Some(parts.join(", "))
}

fn body(bytes: u64) -> String {
    match bytes {
        0 => "no body".into(),
        1 => "body 1 byte".into(),
        n => format!("body {n} bytes"),
    }
}

/// `-c 50, --depth 16, -n 20000, --rate 5000`, as the flags that asked for it; `--depth` only where a mode
/// keeps several requests in flight. None for a result written before the plan was kept.
pub fn plan_line(result: &RunResult) -> Option<String> {
    let plan = result.plan?;
    let mut parts = vec![format!("-c {}", plan.connections)];
    if result.runs.iter().any(|r| matches!(r.mode, Mode::Pipeline | Mode::Multiplex)) {
        parts.push(format!("--depth {}", plan.depth));
    }
    // Stages are the schedule, and last their sum: they say it, not a -d.
    match (plan.requests, plan.duration_s, stages(result)) {
        (_, _, Some(stages)) => parts.push(format!("--stages {stages}")),
        (Some(n), _, None) => parts.push(format!("-n {n}")),
        (None, Some(seconds), None) => parts.push(format!("-d {}", duration(seconds))),
        (None, None, None) => {}
    }
    if let Some(rate) = plan.rate {
        parts.push(format!("--rate {}", number(rate)));
    }
    if let Some(shard) = result.shard {
        parts.push(format!("--shard {}/{}", shard.index, shard.count));
    }
    Some(parts.join(", "))
}

/// `--stages` as typed (the whole plan's, or a shard's share of it), if the result ran them.
fn stages(result: &RunResult) -> Option<String> {
    result.runs.iter().find_map(|r| r.stages.as_ref()).map(|s| crate::stages::spelled(&s.stages))
}

/// Seconds as a duration is typed: `10s`, `500ms`, `2m`.
fn duration(seconds: f64) -> String {
    match std::time::Duration::try_from_secs_f64(seconds) {
        Ok(d) => humantime::format_duration(d).to_string().replace(' ', ""),
        Err(_) => format!("{seconds}s"),
    }
}

/// A rate as typed: `5000`, `0.5`.
fn number(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The runs of A and B that are compared with each other: by mode, or the one run of each whatever their
/// modes; and the modes found in only one of them.
pub struct Pairing<'a> {
    pub pairs: Vec<(&'a ModeResult, &'a ModeResult)>,
    pub only_in_a: Vec<&'static str>,
    pub only_in_b: Vec<&'static str>,
}

pub fn pairing<'a>(a: &'a RunResult, b: &'a RunResult) -> Pairing<'a> {
    if let ([one_a], [one_b]) = (a.runs.as_slice(), b.runs.as_slice()) {
        return Pairing { pairs: vec![(one_a, one_b)], only_in_a: vec![], only_in_b: vec![] };
    }
    let in_other = |run: &ModeResult, other: &RunResult| other.runs.iter().any(|r| r.mode == run.mode);
    Pairing {
        pairs: a.runs.iter().filter_map(|ra| Some((ra, b.runs.iter().find(|rb| rb.mode == ra.mode)?))).collect(),
        only_in_a: a.runs.iter().filter(|r| !in_other(r, b)).map(|r| r.mode.name()).collect(),
        only_in_b: b.runs.iter().filter(|r| !in_other(r, a)).map(|r| r.mode.name()).collect(),
    }
}

/// What differs between the plans of A and B, one line each, A's side first: `-c: 50 vs 8 (keepalive,
/// pipeline)`, `method: GET vs POST`, `HTTP: HTTP/1.1 vs HTTP/3 (keepalive)`. What a result does not say (an
/// older one) is not compared.
pub fn plan_changes(a: &RunResult, b: &RunResult) -> Vec<String> {
    let mut changes = Vec::new();
    let mut differ = |what: &str, va: String, vb: String| {
        if va != vb {
            changes.push(format!("{what}: {} vs {}", printable(&va), printable(&vb)));
        }
    };
    if !same_target(&a.target, &b.target) {
        differ("target", a.target.clone(), b.target.clone());
    }
    if let (Some(ma), Some(mb)) = (&a.method, &b.method) {
        differ("method", ma.clone(), mb.clone());
    }
    if let (Some(ra), Some(rb)) = (&a.request, &b.request) {
        differ("body", body(ra.body_bytes), body(rb.body_bytes));
        let headers = |h: &[String]| if h.is_empty() { "none".to_string() } else { h.join(", ") };
        differ("headers", headers(&ra.headers), headers(&rb.headers));
    }
    let targets =
        |r: &RunResult| r.targets.as_ref().map_or("none".to_string(), |t| format!("{} from {}", t.count, t.file));
    differ("--targets", targets(a), targets(b));
    let tls = |r: &RunResult| r.runs.iter().find_map(|run| run.tls.as_ref()).map(|tls| tls.version.clone());
    if let (Some(ta), Some(tb)) = (tls(a), tls(b)) {
        differ("TLS", ta, tb);
    }
    differ("connbench", a.tool.version.clone(), b.tool.version.clone());
    // Per pair of runs: the same difference in several pairs is said once, naming them.
    let mut per_mode: Vec<(String, Vec<String>)> = Vec::new();
    for (ra, rb) in pairing(a, b).pairs {
        let label = if ra.mode == rb.mode {
            ra.mode.name().to_string()
        } else {
            format!("{} -> {}", ra.mode.name(), rb.mode.name())
        };
        let rate = |r: &ModeResult| r.rate.map_or("none".to_string(), number);
        // Runs of two modes differ in their connections and depth by the modes' nature (serial: one): the
        // modes are the change.
        let mut fields = if ra.mode == rb.mode {
            vec![
                ("-c", ra.connections.to_string(), rb.connections.to_string()),
                ("--depth", ra.depth.to_string(), rb.depth.to_string()),
            ]
        } else {
            vec![("mode", ra.mode.name().to_string(), rb.mode.name().to_string())]
        };
        fields.push(("--rate", rate(ra), rate(rb)));
        let stages =
            |r: &ModeResult| r.stages.as_ref().map_or("none".to_string(), |s| crate::stages::spelled(&s.stages));
        fields.push(("--stages", stages(ra), stages(rb)));
        // HTTP/3 or not (the other versions follow from the mode); a result that does not say is not compared
        if let (true, Some(ha), Some(hb)) = (ra.mode == rb.mode, ra.http, rb.http) {
            fields.push(("HTTP", ha.name().to_string(), hb.name().to_string()));
        }
        if let (true, Some(ea), Some(eb)) = (ra.mode == rb.mode, ra.engine, rb.engine) {
            fields.push(("engine", ea.name().to_string(), eb.name().to_string()));
        }
        for (what, va, vb) in fields {
            if va == vb {
                continue;
            }
            let change = format!("{what}: {va} vs {vb}");
            match per_mode.iter_mut().find(|(said, _)| *said == change) {
                Some((_, labels)) => labels.push(label.clone()),
                None => per_mode.push((change, vec![label.clone()])),
            }
        }
    }
    changes.extend(per_mode.into_iter().map(|(change, labels)| {
        if change.starts_with("mode:") {
            change
        } else {
            format!("{change} ({})", labels.join(", "))
        }
    }));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::result::{fixture, PlanSummary, RequestSummary, TlsSummary};

    fn described(method: &str, body_bytes: u64, headers: &[&str], plan: PlanSummary) -> RunResult {
        let mut result = fixture::run_result(vec![fixture::mode_result(Mode::Keepalive)]);
        result.method = Some(method.into());
        result.request = Some(RequestSummary { body_bytes, headers: headers.iter().map(|h| h.to_string()).collect() });
        result.plan = Some(plan);
        result
    }

    const PLAN: PlanSummary =
        PlanSummary { connections: 50, depth: 16, requests: None, duration_s: Some(10.0), rate: None };

    #[test]
    fn the_request_and_the_plan_read_as_the_flags_that_made_them() {
        let get = described("GET", 0, &[], PLAN);
        assert_eq!(request_line(&get).as_deref(), Some("GET, no body"));
        assert_eq!(plan_line(&get).as_deref(), Some("-c 50, -d 10s"));
        let mut post = described(
            "POST",
            13,
            &["Content-Type: application/json", "Authorization: Bearer ***"],
            PlanSummary { requests: Some(20000), duration_s: None, rate: Some(5000.0), ..PLAN },
        );
        post.runs[0].mode = Mode::Pipeline;
        assert_eq!(
            request_line(&post).as_deref(),
            Some("POST, body 13 bytes, -H 'Content-Type: application/json', -H 'Authorization: Bearer ***'")
        );
        assert_eq!(plan_line(&post).as_deref(), Some("-c 50, --depth 16, -n 20000, --rate 5000"));
        let half = described("GET", 1, &[], PlanSummary { duration_s: Some(0.5), rate: Some(0.25), ..PLAN });
        assert_eq!(request_line(&half).as_deref(), Some("GET, body 1 byte"));
        assert_eq!(plan_line(&half).as_deref(), Some("-c 50, -d 500ms, --rate 0.25"));
        // a result written before they were kept says what it has
        let mut old = get.clone();
        (old.request, old.plan) = (None, None);
        assert_eq!((request_line(&old).as_deref(), plan_line(&old)), (Some("GET"), None));
    }

    #[test]
    fn plans_that_differ_are_named_field_by_field() {
        let a = described("GET", 0, &[], PLAN);
        assert!(plan_changes(&a, &a).is_empty());
        let mut b = described("POST", 13, &["Content-Type: text/plain"], PLAN);
        b.target = "http://10.0.0.1/".into();
        b.tool.version = "9.9.9".into();
        b.runs[0].connections = 8;
        b.runs[0].rate = Some(100.0);
        assert_eq!(
            plan_changes(&a, &b),
            [
                "target: http://127.0.0.1:8080/ vs http://10.0.0.1/",
                "method: GET vs POST",
                "body: no body vs body 13 bytes",
                "headers: none vs Content-Type: text/plain",
                format!("connbench: {} vs 9.9.9", a.tool.version).as_str(),
                "-c: 1 vs 8 (keepalive)",
                "--rate: none vs 100 (keepalive)",
            ]
        );
        // the embedded server's port is not the plan's; TLS versions are compared where both spoke TLS
        let (mut a, mut b) = (a.clone(), a);
        a.target = "http://127.0.0.1:1234/ (embedded server)".into();
        b.target = "http://127.0.0.1:5678/ (embedded server)".into();
        let tls = |version: &str| Some(TlsSummary { version: version.into(), ..TlsSummary::default() });
        (a.runs[0].tls, b.runs[0].tls) = (tls("TLSv1.2"), tls("TLSv1.3"));
        assert_eq!(plan_changes(&a, &b), ["TLS: TLSv1.2 vs TLSv1.3"]);
        // one run each, of different modes: the modes are the change, said once
        b.runs[0].tls = tls("TLSv1.2");
        b.runs[0].mode = Mode::Serial;
        assert_eq!(plan_changes(&a, &b), ["mode: keepalive vs serial"]);
    }

    #[test]
    fn stages_and_targets_are_said_and_compared() {
        use crate::record::result::{Stages, TargetsInfo};
        use crate::stages::Stage;
        let mut ramp = described("GET,POST", 0, &[], PLAN);
        let stages = |rate: f64| Stages { from: 0.0, stages: vec![Stage { duration_s: 10.0, rate }] };
        ramp.runs[0].stages = Some(stages(100.0));
        assert_eq!(plan_line(&ramp).as_deref(), Some("-c 50, --stages 10s:100"), "the stages, not their sum as -d");
        let mut steeper = ramp.clone();
        steeper.runs[0].stages = Some(stages(200.0));
        steeper.targets = Some(TargetsInfo { file: "t.txt".into(), count: 3, ..TargetsInfo::default() });
        assert_eq!(
            plan_changes(&ramp, &steeper),
            ["--targets: none vs 3 from t.txt", "--stages: 10s:100 vs 10s:200 (keepalive)"]
        );
    }

    #[test]
    fn the_same_change_in_several_modes_is_said_once() {
        let mut a = described("GET", 0, &[], PLAN);
        a.runs = [Mode::Serial, Mode::Keepalive, Mode::Pipeline].map(fixture::mode_result).to_vec();
        let mut b = a.clone();
        for run in &mut b.runs[1..] {
            run.connections = 8;
        }
        b.runs[2].depth = 4;
        assert_eq!(plan_changes(&a, &b), ["-c: 1 vs 8 (keepalive, pipeline)", "--depth: 1 vs 4 (pipeline)"]);
        // HTTP/3 against HTTP/1.1, where both results say which they spoke
        b.runs[1].http = Some(crate::mode::Http::Http3);
        assert_eq!(plan_changes(&a, &b).len(), 2, "a result that does not say is not compared");
        a.runs[1].http = Some(crate::mode::Http::Http11);
        assert!(plan_changes(&a, &b).contains(&"HTTP: HTTP/1.1 vs HTTP/3 (keepalive)".to_string()));
    }

    #[test]
    fn the_engine_is_compared_where_both_results_say_it() {
        use crate::plan::Engine;
        let mut a = described("GET", 0, &[], PLAN);
        a.runs[0].engine = Some(Engine::Uring);
        let mut b = a.clone();
        b.runs[0].engine = Some(Engine::Tokio);
        assert_eq!(plan_changes(&a, &b), ["engine: uring vs tokio (keepalive)"]);
        b.runs[0].engine = None;
        assert!(plan_changes(&a, &b).is_empty(), "a result that does not say is not compared");
    }
}

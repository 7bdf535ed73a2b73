//! The figures of each target of `--targets` (docs/targets.md), for every writer: the line that says what the
//! targets were, a table per mode (text and markdown show the busiest ten, html all the result lists), the
//! csv rows, and the selection `--check 'p99.total[/api/users]<20ms'` measures.
//!
//! Percentiles are read from each target's histogram (2 significant digits), p95 included.

use std::io::{self, Write};

use crate::printable::printable;
use crate::record::result::{Hist, Latency, ModeResult, RunResult, TargetFigures, TargetTally};
use crate::report::figures::micros;

/// Rows of a table for people: the busiest, as the result lists them first.
const SHOWN: usize = 10;

/// `targets: 3 from targets.txt (GET 2, POST 1), random, seed 42`: what the targets were, under the report's
/// first lines; None for a run of one request.
pub fn header(result: &RunResult) -> Option<String> {
    described(result).map(|said| format!("targets: {said}"))
}

/// `3 from targets.txt (GET 2, POST 1), random, seed 42`.
pub fn described(result: &RunResult) -> Option<String> {
    let targets = result.targets.as_ref()?;
    let methods: Vec<String> = targets.methods.iter().map(|(method, n)| format!("{} {n}", printable(method))).collect();
    let seed = targets.seed.map_or(String::new(), |seed| format!(", seed {seed} (--seed {seed} repeats it)"));
    Some(format!(
        "{} from {} ({}), {}{seed}",
        targets.count,
        printable(&targets.file),
        methods.join(", "),
        printable(&targets.order)
    ))
}

/// One row of a target table, as people read it.
struct Row {
    method: String,
    url: String,
    requests: u64,
    errors: u64,
    /// p50, p90, p95, p99 of total latency; None without a response.
    percentiles: Option<[u64; 4]>,
    statuses: String,
}

impl Row {
    fn of(method: &str, url: &str, tally: &TargetTally) -> Row {
        Row {
            method: printable(method).into_owned(),
            url: printable(url).into_owned(),
            requests: tally.requests,
            errors: tally.errors.total(),
            percentiles: percentiles(&tally.latency),
            statuses: statuses(tally),
        }
    }

    fn cells(&self) -> [String; 8] {
        let latency = |i: usize| self.percentiles.map_or("-".into(), |p| micros(p[i]));
        [
            self.method.clone(),
            self.url.clone(),
            self.requests.to_string(),
            self.errors.to_string(),
            latency(0),
            latency(1),
            latency(2),
            latency(3),
        ]
    }
}

const HEADINGS: [&str; 9] = ["method", "url", "requests", "errors", "p50", "p90", "p95", "p99", "status"];

/// p50, p90, p95 and p99 of a target's histogram; None when it has no sample (or does not decode).
fn percentiles(hist: &Hist) -> Option<[u64; 4]> {
    let histogram = crate::record::decode(hist).ok().filter(|h| !h.is_empty())?;
    Some([0.5, 0.9, 0.95, 0.99].map(|q| histogram.value_at_quantile(q)))
}

/// `200 998, 503 2`: the responses by status code.
fn statuses(tally: &TargetTally) -> String {
    let codes: Vec<String> = tally.status_codes.iter().map(|(code, n)| format!("{code} {n}")).collect();
    if codes.is_empty() {
        "-".into()
    } else {
        codes.join(", ")
    }
}

/// The rows of a mode's table: its busiest targets (all the result lists, or the first `most`), then the
/// others summed; and what the rows leave out, in words.
fn rows(run: &ModeResult, most: usize) -> (Vec<Row>, Option<String>) {
    let mut rows: Vec<Row> = run.targets.iter().take(most).map(|t| Row::of(&t.method, &t.url, &t.tally)).collect();
    let rest: Vec<&TargetFigures> = run.targets.iter().skip(most).collect();
    let summed = rest.len() as u64 + run.targets_other.as_ref().map_or(0, |other| other.targets);
    if summed == 0 {
        return (rows, None);
    }
    let tallies = rest.iter().map(|t| &t.tally).chain(run.targets_other.as_ref().map(|other| &other.tally));
    rows.push(Row::of("", &format!("({summed} others)"), &together(tallies)));
    let listed = rows.len() as u64 - 1;
    let said = format!("the {listed} busiest of {} targets, then the {summed} others together", listed + summed);
    (rows, Some(said))
}

/// The figures of several targets as one: counts and histograms added.
fn together<'a>(tallies: impl Iterator<Item = &'a TargetTally>) -> TargetTally {
    let mut sum = TargetTally::default();
    let mut latency = crate::record::new_target_histogram();
    for tally in tallies {
        // Counts of a result that loaded add up below 2^64 (validate.rs), and its histograms decode.
        let _ = sum.checked_add_counts(tally);
        if let Ok(histogram) = crate::record::decode(&tally.latency) {
            let _ = latency.add(&histogram);
        }
    }
    sum.latency = crate::record::summarize(&latency);
    sum
}

/// The text report's table of `run`'s targets, if it has any: the ten busiest, then the others summed.
pub fn write_text(run: &ModeResult, out: &mut impl Write) -> io::Result<()> {
    if run.targets.is_empty() {
        return Ok(());
    }
    let (rows, left_out) = rows(run, SHOWN);
    let cells: Vec<[String; 8]> = rows.iter().map(Row::cells).collect();
    let width = |i: usize| cells.iter().map(|c| c[i].chars().count()).chain([HEADINGS[i].len()]).max().unwrap_or(0);
    let widths: Vec<usize> = (0..8).map(width).collect();
    writeln!(out)?;
    writeln!(out, "targets, {}{}", run.mode.name(), left_out.map_or(String::new(), |said| format!(": {said}")))?;
    let line = |cells: &[String], statuses: &str| {
        let mut text = format!("  {:<w0$}  {:<w1$}", cells[0], cells[1], w0 = widths[0], w1 = widths[1]);
        for (i, cell) in cells.iter().enumerate().skip(2) {
            text += &format!("  {cell:>w$}", w = widths[i]);
        }
        format!("{text}  {statuses}").trim_end().to_string()
    };
    let headings: Vec<String> = HEADINGS[..8].iter().map(|h| h.to_string()).collect();
    writeln!(out, "{}", line(&headings, HEADINGS[8]))?;
    for (row, cells) in rows.iter().zip(&cells) {
        writeln!(out, "{}", line(cells, &row.statuses))?;
    }
    Ok(())
}

/// The markdown tables of the targets, a table per mode that has any.
pub fn write_markdown(result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    for run in result.runs.iter().filter(|r| !r.targets.is_empty()) {
        let (rows, left_out) = rows(run, SHOWN);
        writeln!(out)?;
        writeln!(
            out,
            "**Targets, {}**{}",
            run.mode.name(),
            left_out.map_or(String::new(), |said| format!(" ({said})"))
        )?;
        writeln!(out)?;
        writeln!(out, "| {} |", HEADINGS.join(" | "))?;
        writeln!(out, "| --- | --- |{} --- |", " ---: |".repeat(6))?;
        for row in &rows {
            let mut cells = row.cells().to_vec();
            cells[1] = format!("`{}`", cells[1].replace('|', "\\|"));
            cells.push(row.statuses.clone());
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
    }
    Ok(())
}

/// The html table of `run`'s targets, every one the result lists, then the others summed.
pub fn write_html(run: &ModeResult, out: &mut impl Write) -> io::Result<()> {
    use crate::report::chart::escape;
    if run.targets.is_empty() {
        return Ok(());
    }
    let (rows, left_out) = rows(run, usize::MAX);
    writeln!(out, "<h3>{}</h3>", escape(run.mode.name()))?;
    if let Some(said) = left_out {
        writeln!(out, "<p class=\"meta\">{}</p>", escape(&said))?;
    }
    write!(out, "<table><tr>")?;
    for heading in HEADINGS {
        write!(out, "<th>{heading}</th>")?;
    }
    writeln!(out, "</tr>")?;
    for row in &rows {
        write!(out, "<tr>")?;
        for cell in row.cells().iter().chain([&row.statuses]) {
            write!(out, "<td>{}</td>", escape(cell))?;
        }
        writeln!(out, "</tr>")?;
    }
    writeln!(out, "</table>")
}

/// The targets `selector` names in `run`, their figures together: a URL as the result shows it
/// (`/api/users`), which names it whatever its method, or `METHOD URL`. None when it names none.
pub fn select(run: &ModeResult, selector: &str) -> Option<TargetTally> {
    let mut chosen =
        run.targets.iter().filter(|t| t.url == selector || format!("{} {}", t.method, t.url) == selector).peekable();
    chosen.peek()?;
    Some(together(chosen.map(|t| &t.tally)))
}

/// Each target of `run` as the result lists it, then the others summed (method empty, URL `(N others)`), its
/// figures in a mode's shape (`as_mode`), for the writers' figure definitions (csv).
pub fn as_modes(run: &ModeResult) -> Vec<(String, String, ModeResult)> {
    if run.targets.is_empty() {
        return Vec::new();
    }
    let shape = shape_of(run);
    let (rows, _) = rows(run, usize::MAX);
    let tallies = run.targets.iter().map(|t| &t.tally).chain(run.targets_other.as_ref().map(|other| &other.tally));
    rows.into_iter().zip(tallies).map(|(row, tally)| (row.method, row.url, filled(&shape, tally))).collect()
}

/// A target's figures in the shape of `run`'s, for the figure definitions of the writers and `--check`: its
/// requests, requests/s over the mode's window, errors, statuses and total latency are its own; nothing else
/// is (its connections are the mode's, its other phases are not kept).
pub fn as_mode(run: &ModeResult, tally: &TargetTally) -> ModeResult {
    filled(&shape_of(run), tally)
}

/// A copy of `run` without what a target does not have (the timeline is the largest part).
fn shape_of(run: &ModeResult) -> ModeResult {
    let nothing = Hist::default;
    ModeResult {
        timeline: Vec::new(),
        targets: Vec::new(),
        targets_other: None,
        latency: Latency {
            connect: nothing(),
            ttfb: nothing(),
            transfer: nothing(),
            total: nothing(),
            total_first: nothing(),
            total_reused: nothing(),
            total_uncorrected: None,
            tls: None,
        },
        ..run.clone()
    }
}

fn filled(shape: &ModeResult, tally: &TargetTally) -> ModeResult {
    let mut shaped = shape.clone();
    shaped.requests = tally.requests;
    shaped.rps = if shape.duration_s > 0.0 { tally.requests as f64 / shape.duration_s } else { 0.0 };
    shaped.status = tally.status();
    // A code that is not a number, from a file, is outside 100-599 as any such.
    shaped.status_codes = tally.status_codes.iter().map(|(code, &n)| (code.parse().unwrap_or(0), n)).collect();
    shaped.errors = tally.errors.clone();
    shaped.latency.total = tally.latency.clone();
    shaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::record::result::{fixture, OtherTargets, TargetsInfo};
    use crate::record::{new_target_histogram, summarize};

    fn tally(requests: u64, errors: u64, latencies: &[u64], codes: &[(u16, u64)]) -> TargetTally {
        let mut histogram = new_target_histogram();
        latencies.iter().for_each(|&us| histogram.record(us).unwrap());
        let mut tally = TargetTally { requests, latency: summarize(&histogram), ..TargetTally::default() };
        tally.errors.timeout = errors;
        tally.status_codes = codes.iter().map(|(code, n)| (code.to_string(), *n)).collect();
        tally
    }

    fn target(index: u64, method: &str, url: &str, tally: TargetTally) -> TargetFigures {
        TargetFigures { index, method: method.into(), url: url.into(), tally }
    }

    fn run() -> ModeResult {
        let mut run = fixture::mode_result(Mode::Keepalive);
        run.duration_s = 2.0;
        run.targets = vec![
            target(0, "GET", "/api/users", tally(3, 0, &[100, 200, 300], &[(200, 3)])),
            target(1, "POST", "/api/orders", tally(2, 1, &[1000, 2000], &[(201, 1), (503, 1)])),
            target(2, "GET", "/api/orders", tally(1, 0, &[50], &[(200, 1)])),
        ];
        run
    }

    #[test]
    fn the_header_says_how_many_targets_with_which_methods_and_in_what_order() {
        let mut result = fixture::run_result(vec![]);
        assert_eq!(header(&result), None);
        result.targets = Some(TargetsInfo {
            file: "t.txt".into(),
            count: 3,
            methods: [("GET".to_string(), 2), ("POST".to_string(), 1)].into(),
            order: "random".into(),
            seed: Some(42),
        });
        assert_eq!(
            header(&result).unwrap(),
            "targets: 3 from t.txt (GET 2, POST 1), random, seed 42 (--seed 42 repeats it)"
        );
    }

    #[test]
    fn the_text_table_lists_the_busiest_with_their_percentiles_and_statuses() {
        let mut out = Vec::new();
        write_text(&run(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        // 2 significant digits: 300 µs reads as 301µs, 2 ms as 2.01ms
        assert_eq!(
            text,
            "
targets, keepalive
  method  url          requests  errors     p50     p90     p95     p99  status
  GET     /api/users          3       0   200µs   301µs   301µs   301µs  200 3
  POST    /api/orders         2       1  1.00ms  2.01ms  2.01ms  2.01ms  201 1, 503 1
  GET     /api/orders         1       0    50µs    50µs    50µs    50µs  200 1
"
        );
        // more than ten: the others summed, and said so
        let mut many = run();
        many.targets =
            (0..12).map(|i| target(i, "GET", &format!("/{i}"), tally(12 - i, 0, &[100], &[(200, 12 - i)]))).collect();
        many.targets_other = Some(OtherTargets { targets: 5, tally: tally(4, 2, &[900], &[(200, 4)]) });
        let mut out = Vec::new();
        write_text(&many, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("targets, keepalive: the 10 busiest of 17 targets, then the 7 others together\n"),
            "{text}"
        );
        let last = "\n  GET     /9                 3       0  100µs  100µs  100µs  100µs  200 3\n          (7 others)         7       2  \
                    100µs  903µs  903µs  903µs  200 7\n";
        assert!(text.ends_with(last), "{text}");
    }

    #[test]
    fn a_selector_names_a_url_whatever_its_method_or_a_method_and_url() {
        let run = run();
        assert_eq!(select(&run, "/api/users").unwrap().requests, 3);
        let orders = select(&run, "/api/orders").unwrap();
        assert_eq!((orders.requests, orders.errors.total(), orders.latency.count), (3, 1, 3));
        assert_eq!(select(&run, "POST /api/orders").unwrap().requests, 2);
        assert_eq!(select(&run, "/nowhere"), None);
        let shaped = as_modes(&run);
        let (method, url, orders) = &shaped[1];
        assert_eq!((method.as_str(), url.as_str()), ("POST", "/api/orders"));
        assert_eq!((orders.requests, orders.rps, orders.status.s2xx, orders.status.s5xx), (2, 1.0, 1, 1));
        assert_eq!((orders.errors.timeout, orders.latency.total.count, orders.latency.connect.count), (1, 2, 0));
    }

    #[test]
    fn markdown_and_html_tables_have_a_row_per_target() {
        let mut result = fixture::run_result(vec![run()]);
        result.runs[0].targets[0].url = "/a|b".into();
        let mut out = Vec::new();
        write_markdown(&result, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let table: Vec<_> = text.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(table.len(), 2 + 3, "{text}");
        assert!(table.iter().all(|l| l.matches(" | ").count() == 8), "{text}");
        assert!(table[2].starts_with("| GET | `/a\\|b` | 3 | 0 |"), "{text}");
        let mut out = Vec::new();
        write_html(&result.runs[0], &mut out).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert_eq!(html.matches("<tr>").count(), 4);
        assert!(html.contains("<td>201 1, 503 1</td>"));
    }
}

//! `connbench report`: a saved result prints the text `run` printed, byte for byte; the other formats
//! have their shape; `-o -` gives stdout to the JSON; damaged or foreign files are named.

use std::path::Path;

use crate::util::{connbench, scratch};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn report_prints_the_text_run_printed_and_so_does_a_result_taken_from_stdout() {
    let dir = scratch("round-trip");
    let saved = dir.join("run.json");
    let (code, printed, stderr) =
        connbench(&["run", "--mode", "serial,pipeline", "-n", "300", "-c", "3", "--rate", "2000", "-o", path(&saved)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(printed.contains("\ntotal latency, pipeline\n"), "the histogram is part of the text: {printed}");
    let (code, reported, stderr) = connbench(&["report", path(&saved)]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(reported, printed);
    let (_, without, _) = connbench(&["report", path(&saved), "--no-histogram"]);
    assert!(printed.starts_with(&without) && !without.contains("total latency,"), "{without}");

    // -o -: the JSON result alone on stdout, the text for people on stderr, and it reports the same
    let (code, json, people) = connbench(&["run", "-n", "200", "-c", "2", "-o", "-"]);
    assert_eq!(code, 0, "{people}");
    let from_stdout = dir.join("stdout.json");
    std::fs::write(&from_stdout, &json).unwrap();
    let (code, reported, stderr) = connbench(&["report", path(&from_stdout)]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(reported, people);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn report_renders_merged_results_in_every_format() {
    let dir = scratch("formats");
    let files: Vec<_> = ["a", "b"].iter().map(|n| dir.join(format!("{n}.json"))).collect();
    for file in &files {
        let (code, _, stderr) = connbench(&["run", "--mode", "keepalive", "-n", "500", "-c", "2", "-o", path(file)]);
        assert_eq!(code, 0, "{stderr}");
    }
    let merged = dir.join("all.json");
    assert_eq!(connbench(&["merge", path(&files[0]), path(&files[1]), "-o", path(&merged)]).0, 0);

    let (code, text, _) = connbench(&["report", path(&merged)]);
    assert_eq!(code, 0);
    let requests = text.lines().find(|l| l.starts_with("requests ")).unwrap();
    assert!(requests.ends_with(" 1000"), "{requests}");
    // the headline within the first 20 lines
    let head: Vec<_> = text.lines().take(20).collect();
    for label in ["requests/s", "total p50", "total p99.9", "errors", "status 2xx", "non-2xx"] {
        assert!(head.iter().any(|l| l.starts_with(label)), "{label} in the first 20 lines: {text}");
    }

    // several files: csv under one header and markdown in one table, each row naming its file, target and start
    let (code, csv, _) = connbench(&["report", path(&files[0]), path(&merged), "--format", "csv"]);
    assert_eq!(code, 0);
    let lines: Vec<_> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("mode,connections,requests,") && lines[2].starts_with("keepalive,2,1000,"), "{csv}");
    assert!(lines[0].ends_with(",method,target,started_at,file,target_method,target_url,engine"), "{csv}");
    for (line, file) in lines[1..].iter().zip([&files[0], &merged]) {
        assert!(line.contains(&format!("Z,{},,,", path(file))) && line.contains(",GET,http://127.0.0.1:"), "{line}");
    }
    let (_, markdown, _) = connbench(&["report", path(&files[0]), path(&merged), "--format", "markdown"]);
    let rows: Vec<_> = markdown.lines().filter(|l| l.contains(" | keepalive | ")).collect();
    assert_eq!(rows.len(), 2, "{markdown}");
    assert!(rows[0].starts_with(&format!("| {} | http://127.0.0.1:", path(&files[0]))), "{markdown}");
    assert!(rows[1].starts_with(&format!("| {} | http://127.0.0.1:", path(&merged))), "{markdown}");

    let (code, html, _) = connbench(&["report", path(&merged), "--format", "html"]);
    assert_eq!(code, 0);
    assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("<svg") && !html.contains("http://www.w3.org/1999/xlink\" href"), "inline SVG only");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing from the network");

    // hgrm: HdrHistogram's table of the merged total, 1000 requests in its last line and footer
    let (code, hgrm, stderr) = connbench(&["report", path(&merged), "--format", "hgrm", "--phase", "total"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"), "{hgrm}");
    let last = hgrm.lines().rfind(|l| !l.starts_with('#') && !l.is_empty()).unwrap();
    assert!(last.contains(" 1.000000000000       1000"), "{last}");
    assert!(hgrm.contains("Total count    =         1000]"), "{hgrm}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_report_inputs_name_the_file_or_flag_and_exit_2() {
    let dir = scratch("bad");
    let good = dir.join("good.json");
    let (code, _, stderr) = connbench(&["run", "--mode", "serial,keepalive", "-n", "50", "-c", "2", "-o", path(&good)]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&good).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["runs"][1]["latency"]["ttfb"]["hdr"] = "not base64!".into();
    let damaged = dir.join("damaged.json");
    std::fs::write(&damaged, json.to_string()).unwrap();
    let foreign = dir.join("foreign.json");
    std::fs::write(&foreign, r#"{"schema_version": 1, "hello": "world"}"#).unwrap();
    let good = path(&good);
    // each case: the arguments, what the one line must say
    for (args, needle) in [
        (vec!["report", path(&damaged)], "damaged.json: keepalive latency.ttfb: hdr is not base64"),
        (vec!["report", path(&foreign)], "foreign.json: not a connbench result"),
        (vec!["report", "/nonexistent/r.json"], "/nonexistent/r.json"),
        (vec!["report", good, "--format", "hgrm"], "several modes (serial, keepalive): choose one with --mode"),
        (vec!["report", good, "--format", "hgrm", "--mode", "pipeline"], "--mode pipeline: "),
        (vec!["report", good, "--format", "hgrm", "--mode", "serial", "--phase", "p99"], "--phase 'p99': not a phase"),
        (vec!["report", good, "--format", "hgrm", "--mode", "serial", "--phase", "total_uncorrected"], "closed loop"),
        (vec!["run", "-n", "10", "-o", "-", "--format", "json"], "-o - and --format json"),
    ] {
        let (code, stdout, stderr) = connbench(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A mode whose every request failed, and a result with no mode at all: every format renders them, saying
/// there was no completed request, and `--check` is still evaluated (the HTML page once looped forever here).
#[test]
fn a_mode_without_a_completed_request_renders_in_every_format() {
    let dir = scratch("empty-mode");
    let saved = dir.join("failed.json");
    let (code, html, stderr) = connbench(&[
        "run",
        "--server-truncate",
        "-n",
        "10",
        "-c",
        "1",
        "--format",
        "html",
        "-o",
        path(&saved),
        "--check",
        "errors<1",
    ]);
    assert_eq!(code, 1, "the gate is evaluated: {stderr}");
    assert!(stderr.contains("gate failed: keepalive errors < 1 (measured 10)"), "{stderr}");
    assert!(html.contains("no completed request") && html.ends_with("</body></html>\n"), "{html}");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(json["runs"][0]["requests"], 0);
    json["runs"] = serde_json::json!([]);
    let no_mode = dir.join("no-mode.json");
    std::fs::write(&no_mode, json.to_string()).unwrap();
    for file in [&saved, &no_mode] {
        for format in ["text", "markdown", "csv", "html"] {
            let (code, stdout, stderr) = connbench(&["report", path(file), "--format", format]);
            assert_eq!(code, 0, "{format}: {stderr}");
            // csv is data for scripts: the mode's row with its empty latency cells
            if format != "csv" {
                assert!(stdout.contains("no completed request"), "{format}: {stdout}");
            }
        }
    }
    // hgrm: the empty table, and why it is empty
    let (code, hgrm, stderr) = connbench(&["report", path(&saved), "--format", "hgrm", "--phase", "ttfb"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(hgrm.contains("Total count    =            0]"), "{hgrm}");
    assert!(stderr.contains("has no sample for keepalive: no completed request"), "{stderr}");
    let (code, _, stderr) = connbench(&["report", path(&no_mode), "--format", "hgrm"]);
    assert_eq!(
        (code, stderr.trim_end()),
        (2, &*format!("connbench: {} has no mode: no completed request", path(&no_mode)))
    );
    // a phase the run never had says why
    let (code, _, stderr) = connbench(&["report", path(&saved), "--format", "hgrm", "--phase", "tls"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("has no tls histogram for keepalive: the run had no TLS (an http:// target)"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Result files are anyone's JSON: what no run can write is refused by file and field, whichever command
/// reads it, and what it says is shown with its control characters escaped.
#[test]
fn crafted_result_files_are_refused_by_field_and_their_strings_escaped() {
    let dir = scratch("crafted");
    let good = dir.join("good.json");
    let (code, _, stderr) = connbench(&["run", "-n", "20", "-c", "1", "-o", path(&good)]);
    assert_eq!(code, 0, "{stderr}");
    let original: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    let craft = |name: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut json = original.clone();
        change(&mut json);
        let file = dir.join(name);
        std::fs::write(&file, json.to_string()).unwrap();
        file
    };
    // a V2 header claiming 4 GiB of counts in a few bytes: refused before anything is allocated
    let mut header = vec![0x1c, 0x84, 0x93, 0x13, 0xff, 0xff, 0xff, 0xff];
    header.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3]);
    header.extend_from_slice(&1u64.to_be_bytes());
    header.extend_from_slice(&3_600_000_000u64.to_be_bytes());
    header.extend_from_slice(&1f64.to_be_bytes());
    use base64::Engine as _;
    let huge = base64::engine::general_purpose::STANDARD.encode(&header);
    let bomb = craft("bomb.json", &|j| j["runs"][0]["latency"]["total"]["hdr"] = huge.clone().into());
    let not_base64 = craft("not-base64.json", &|j| j["runs"][0]["latency"]["total"]["hdr"] = "not base64".into());
    let negative = craft("negative.json", &|j| j["runs"][0]["duration_s"] = (-3.0).into());
    let wrapping = craft("wrapping.json", &|j| {
        j["runs"][0]["errors"]["reset"] = u64::MAX.into();
        j["runs"][0]["errors"]["timeout"] = 100.into();
    });
    let (bomb, not_base64, negative, wrapping, good) =
        (path(&bomb), path(&not_base64), path(&negative), path(&wrapping), path(&good));
    // each case: the arguments, what the one line must say
    for (args, needle) in [
        (
            vec!["report", bomb],
            "bomb.json: keepalive latency.total: hdr is not an HdrHistogram (its header claims 4294967295 bytes",
        ),
        (vec!["merge", good, bomb], "bomb.json: keepalive latency.total: hdr is not an HdrHistogram"),
        (vec!["compare", good, not_base64], "not-base64.json: keepalive latency.total: hdr is not base64"),
        (vec!["report", negative], "negative.json: keepalive duration_s: -3 is impossible"),
        (vec!["compare", negative, good], "negative.json: keepalive duration_s"),
        (vec!["report", wrapping], "wrapping.json: keepalive errors: the counts add up past 18446744073709551615"),
        (vec!["run", "-n", "5", "--baseline", wrapping], "--baseline"),
        (vec!["merge", good, good], "is the same result as"),
    ] {
        let (code, stdout, stderr) = connbench(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    // a target and a note that would drive the terminal are shown as escapes, in every format for people
    let hostile = craft("hostile.json", &|j| {
        j["target"] = "http://x/\u{1b}[2J\u{202e}".into();
        j["notes"] = serde_json::json!([{"kind": "plan", "text": "\u{1b}]0;owned\u{7}"}]);
    });
    for format in ["text", "markdown", "html"] {
        let (code, stdout, stderr) = connbench(&["report", path(&hostile), "--format", format]);
        assert_eq!(code, 0, "{stderr}");
        assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{202e}') && !stdout.contains('\u{7}'), "{format}");
        assert!(stdout.contains("http://x/\\u{1b}[2J\\u{202e}"), "{format}: {stdout}");
    }
    // a file too large for a result is refused by its size, without reading it
    let sparse = dir.join("sparse.json");
    std::fs::File::create(&sparse).unwrap().set_len(600 << 20).unwrap();
    let (code, _, stderr) = connbench(&["report", path(&sparse)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("sparse.json: larger than 512 MiB, the most connbench reads for a result"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

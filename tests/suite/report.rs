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

    // several files: csv under one header, markdown one table each
    let (code, csv, _) = connbench(&["report", path(&files[0]), path(&merged), "--format", "csv"]);
    assert_eq!(code, 0);
    let lines: Vec<_> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("mode,connections,requests,") && lines[2].starts_with("keepalive,2,1000,"), "{csv}");
    let (_, markdown, _) = connbench(&["report", path(&files[0]), path(&merged), "--format", "markdown"]);
    assert_eq!(markdown.lines().filter(|l| l.starts_with("| keepalive |")).count(), 2, "{markdown}");

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

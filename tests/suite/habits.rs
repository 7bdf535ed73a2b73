//! The habits of wrk, oha, hey, h2load and k6, walked from the table of docs/options.md ("Coming from wrk,
//! oha, hey, h2load, k6"): a row that does the same makes the same plan as its connbench spelling, a refusal
//! is one line naming that spelling. And through the binary: `connbench URL` runs, `-h2` is not the help.

use clap::Parser;
use connbench::cli::{one_line, Cli, Command};
use connbench::plan::Plan;

use crate::util::{connbench, scratch};

/// One row of the table: what is typed, connbench's spelling (code spans), what happens.
struct Row {
    typed: String,
    connbench: Vec<String>,
    happens: String,
}

fn rows() -> Vec<Row> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/options.md")).unwrap();
    let section = doc.split("\n## Coming from wrk, oha, hey, h2load, k6\n").nth(1).expect("the section");
    let table = section.lines().skip_while(|l| !l.starts_with("| --- ")).skip(1).take_while(|l| l.starts_with('|'));
    table
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "{line}");
            let typed = code_spans(cells[0]);
            assert_eq!(typed.len(), 1, "one thing typed: {line}");
            Row { typed: typed[0].clone(), connbench: code_spans(cells[2]), happens: cells[3].to_string() }
        })
        .collect()
}

/// The `code spans` of a cell.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// Words as a shell splits them: on spaces, outside single quotes.
fn words(text: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted) = (Vec::new(), String::new(), false);
    for c in text.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => words.extend((!word.is_empty()).then(|| std::mem::take(&mut word))),
            c => word.push(c),
        }
    }
    words.extend((!word.is_empty()).then_some(word));
    words
}

/// The plan `connbench run ARGS` makes (with no URL: the embedded server), or the one line that refuses it.
fn plan(args: &[String]) -> Result<Plan, String> {
    let mut full = vec!["connbench".to_string(), "run".to_string()];
    full.extend(args.iter().cloned());
    let translated = connbench::habits::translate(full)?;
    let cli = Cli::try_parse_from(&translated).map_err(|e| one_line(&e))?;
    let Command::Run(run) = cli.command else { panic!("{translated:?} is not a run") };
    Plan::from_args(&run, vec![])
}

#[test]
fn every_habit_does_the_same_or_is_refused_naming_the_connbench_spelling() {
    let dir = scratch("habits");
    let body = dir.join("body.json");
    std::fs::write(&body, "{\"a\":1}").unwrap();
    // the table's file names, made real
    let args = |text: &str| -> Vec<String> {
        words(text).into_iter().map(|w| if w == "body.json" { body.display().to_string() } else { w }).collect()
    };
    let rows = rows();
    assert!(rows.len() >= 30, "the whole table: {} rows", rows.len());
    for row in &rows {
        let typed = plan(&args(&row.typed));
        if row.happens.starts_with("refused") {
            let err = typed.err().unwrap_or_else(|| panic!("{}: not refused", row.typed));
            assert!(!err.contains('\n'), "{}: one line: {err}", row.typed);
            for spelling in &row.connbench {
                assert!(err.contains(spelling.as_str()), "{}: the message names {spelling}: {err}", row.typed);
            }
            continue;
        }
        let mut typed = typed.unwrap_or_else(|e| panic!("{}: {e}", row.typed));
        if row.happens.starts_with("accepted") {
            assert!(!typed.notes().is_empty(), "{}: accepted, with a note", row.typed);
            (typed.latency_asked, typed.latency_correction_asked) = (false, false);
        } else {
            assert!(row.happens.starts_with("the same"), "{}: {}", row.typed, row.happens);
        }
        let spelled = plan(&args(&row.connbench.join(" "))).unwrap_or_else(|e| panic!("{:?}: {e}", row.connbench));
        assert_eq!(format!("{typed:?}"), format!("{spelled:?}"), "{} is {:?}", row.typed, row.connbench);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_url_first_runs_and_hey_flags_are_never_the_help() {
    // a URL where wrk, oha and hey take it, flags before and after
    let target = crate::util::server(Default::default());
    let url = format!("http://{}/", target.addr);
    let (code, stdout, stderr) = connbench(&["-c", "2", &url, "-n", "20", "--no-histogram"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.lines().any(|l| l.starts_with("requests ") && l.ends_with(" 20")), "{stdout}");
    assert!(stdout.contains("\nplan: -c 2, -n 20\n"), "{stdout}");
    // hey's -h2 and -host, where clap would see -h and print the help
    let (code, stdout, stderr) = connbench(&["-h2", "-n", "20", "-c", "1", "--no-histogram"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.lines().next().is_some_and(|l| l.starts_with("connbench ")), "a report, not the help: {stdout}");
    assert!(stdout.contains("multiplex"), "{stdout}");
    // a bare word is no URL: the commands are listed
    let (code, stdout, stderr) = connbench(&["bench", "-n", "1"]);
    assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
    assert!(stderr.starts_with("connbench: unknown command 'bench': the commands are run, serve, compare, merge,"));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn threads_beyond_the_cores_are_said_and_counted_threads_run() {
    let (code, stdout, stderr) = connbench(&["-t", "1", "-n", "50", "-c", "4", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let result: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["runs"][0]["requests"], 50);
    let cores = std::thread::available_parallelism().unwrap().get();
    let many = (cores + 1).to_string();
    let (code, stdout, stderr) = connbench(&["--threads", &many, "-n", "50", "-c", "4", "--no-histogram"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("-t/--threads {many}: more engine threads than the {cores} cores")), "{stdout}");
}

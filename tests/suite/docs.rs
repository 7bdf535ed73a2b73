//! The examples of README.md and docs/*.md, run: every `text` block whose lines begin `$ ` is a shell session
//! whose commands are run again (with `connbench` this build, against the embedded server) and whose output
//! must have the same shape, so that a changed layout fails here until the docs follow.
//!
//! The shape of a line is the line with its figures made `#` (numbers with their units: `352µs` and `2.37ms`
//! are both `#`; digits in a word, as `p75` or `2xx`, stay), its spaces collapsed, ` (embedded server)`
//! left out and `localhost` read as 127.0.0.1; a line that is a whole number alone (an exit code, a count from jq) is kept as it is. Lines
//! whose presence depends on how a run went (in flight at the end, the client ports, histogram buckets,
//! pacing notes, compare's marks of a row, the gates failed after the first) are left out on both sides, and
//! so are blank lines. A line `…` in the docs stands for any lines, a line ending in `…` for any line that
//! begins so; between `…` lines, the docs' lines must follow each other in the output as they do in the docs.
//!
//! So that the suite stays short, a `connbench run` runs at most 300 ms per mode (`-d`, and no `-d` nor `-n`
//! is `-d 300ms`) and at most 2000 requests (`-n`).
//!
//! An HTML comment just before a block says what it needs (`<!-- doc-test KIND: ARGS -->`, several allowed):
//! - `setup: SHELL` runs first, in the block's directory (the files the example reads);
//! - `serve: KNOBS` starts the embedded server with those `--server-*` knobs (`--tls`: over https), and the
//!   block's `http://127.0.0.1:PORT/` URLs are its address: a stand-in for the server the docs name;
//! - `layout: COMMAND` is a block made against an outside server (nginx): COMMAND, against the embedded
//!   server, must print the same shape as its first command did;
//! - `full: WHY` runs as written, not shortened (a signal sent two seconds into a run);
//! - `skip: WHY` is not run; [`SKIPPED`] lists every such block, so that a new one is seen in review.
//!
//! The blocks of one file run in order in one directory, so a file made by one block is there for the next.
//! `sh` blocks (commands without output) are parsed, each `connbench` line, as the binary would.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use connbench::cli::Cli;

struct Block {
    /// `file:line` of its fence.
    place: String,
    info: String,
    markers: Vec<(String, String)>,
    lines: Vec<String>,
}

fn blocks(file: &str) -> Vec<Block> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut blocks = Vec::new();
    let mut markers = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (Some(_), Some("")) => blocks.push(open.take().unwrap()),
            (Some(block), _) => block.lines.push(line.to_string()),
            (None, Some(info)) => {
                let place = format!("{file}:{}", i + 1);
                open = Some(Block {
                    place,
                    info: info.trim().into(),
                    markers: std::mem::take(&mut markers),
                    lines: vec![],
                })
            }
            (None, None) => {
                if let Some(marker) = line.trim().strip_prefix("<!-- doc-test ").and_then(|m| m.strip_suffix(" -->")) {
                    let (kind, args) = marker.split_once(':').unwrap_or_else(|| panic!("{file}:{}: {line}", i + 1));
                    markers.push((kind.trim().to_string(), args.trim().to_string()));
                } else if !line.trim().is_empty() {
                    markers.clear();
                }
            }
        }
    }
    blocks
}

/// The shape of a line of output, as the module's header says.
fn shape(line: &str) -> String {
    // a stand-in answers on 127.0.0.1 where the docs' server had a name
    let line = line.replace(" (embedded server)", "").replace("//localhost:", "//127.0.0.1:").replace('■', "");
    let trimmed = line.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed.to_string();
    }
    const UNITS: [&str; 9] = ["kB/s", "MB/s", "GB/s", "B/s", "µs", "ms", "s", "%", "x"];
    let chars: Vec<char> = line.chars().collect();
    // the unit a figure at `i` ends with, if any: one not followed by a letter or digit
    let unit = |i: usize| {
        let rest: String = chars[i..].iter().take(5).collect();
        UNITS
            .iter()
            .find(|u| rest.starts_with(*u) && !chars.get(i + u.chars().count()).is_some_and(|c| c.is_alphanumeric()))
    };
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        // digits that belong to a word are words: p75, h2c, 2xx
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // (a letter between digits is no word: 07T15 of a time)
        let in_word = i > 0 && chars[i - 1].is_ascii_alphabetic() && !(i > 1 && chars[i - 2].is_ascii_digit());
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit() || chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            i += 1;
        }
        if in_word {
            out.extend(&chars[start..i]);
            continue;
        }
        match unit(i) {
            Some(unit) => i += unit.chars().count(),
            // digits that begin a word are a word (2xx), a lone letter after them is not (07T15, 13Z)
            None if chars.get(i).is_some_and(|c| c.is_ascii_alphabetic())
                && chars.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) =>
            {
                out.extend(&chars[start..i]);
                continue;
            }
            None => {}
        }
        out.push('#');
    }
    // compare's marks are how a run went (the verdict is the exit code, and the line that names it)
    let mut words: Vec<&str> = out.split_whitespace().collect();
    if words.len() > 1 && matches!(words.last(), Some(&"better" | &"worse" | &"REGRESSION")) {
        words.pop();
    }
    words.join(" ")
}

/// Lines whose presence depends on how the run went, not on the layout.
fn optional(shape: &str) -> bool {
    const ROWS: [&str; 10] = [
        "in flight at end",
        "client IPs used",
        "new conns, busiest IP",
        "ports in use, busiest IP",
        "waited for a free port",
        "TIME_WAIT held at start",
        "TIME_WAIT this mode",
        "kernel TIME_WAIT",
        "≤",
        "closed after the server's Connection: close",
    ];
    // what a TLS server negotiated is its own: nginx's RSA certificate, the embedded server's ECDSA one
    const NOTES: [&str; 4] = ["started more than", "of its ports", "per-connection limit learned", " tls: TLSv"];
    // `^C` is the terminal's echo of Ctrl-C, not output
    shape.is_empty()
        || shape == "^C"
        || ROWS.iter().any(|r| shape.starts_with(r))
        || NOTES.iter().any(|n| shape.contains(n))
}

/// A line as compared: its shape, and of a list of failed gates the first alone (which others fail with it is
/// how a run went).
fn compared(line: &str) -> String {
    let shaped = shape(line);
    match shaped.split_once("; ") {
        Some((first, _))
            if first.starts_with("connbench: regression:") || first.starts_with("connbench: gate failed:") =>
        {
            first.to_string()
        }
        _ => shaped,
    }
}

fn shapes(lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| if l.trim() == "…" { "…".to_string() } else { compared(l) }).filter(|s| !optional(s)).collect()
}

/// Whether `actual` has the shape of `documented` (both shapes, `…` as the module's header says); the first
/// documented line it could not place otherwise.
fn matches(documented: &[String], actual: &[String]) -> Result<(), String> {
    let segments: Vec<&[String]> = documented.split(|l| l == "…").collect();
    let same = |doc: &String, got: &String| match doc.strip_suffix('…') {
        Some(prefix) => got.starts_with(prefix.trim_end()),
        None => doc == got,
    };
    let mut at = 0;
    for (n, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            continue;
        }
        let anchored_start = n == 0;
        let anchored_end = n == segments.len() - 1;
        let fits = |start: usize| {
            start + segment.len() <= actual.len()
                && segment.iter().zip(&actual[start..]).all(|(d, g)| same(d, g))
                && (!anchored_end || start + segment.len() == actual.len())
        };
        let found = if anchored_start { fits(at).then_some(at) } else { (at..=actual.len()).find(|&s| fits(s)) };
        match found {
            Some(start) => at = start + segment.len(),
            None => {
                // the first line of the segment that does not follow, for the message
                let from = if anchored_start {
                    at
                } else {
                    (at..actual.len()).find(|&s| same(&segment[0], &actual[s])).unwrap_or(at)
                };
                let bad = segment.iter().enumerate().find(|(k, d)| actual.get(from + k).is_none_or(|g| !same(d, g)));
                let (k, doc) = bad.unwrap_or((segment.len() - 1, &segment[segment.len() - 1]));
                return Err(format!(
                    "the docs say {doc:?} where the output has {:?}",
                    actual.get(from + k).map_or("nothing", String::as_str)
                ));
            }
        }
    }
    Ok(())
}

/// How long a documented run runs here at most, per mode, and how many requests it makes.
const LONGEST: std::time::Duration = std::time::Duration::from_millis(300);
const MOST_REQUESTS: u64 = 2000;

/// A `connbench run` kept short: `-d` at most [`LONGEST`], `-n` at most [`MOST_REQUESTS`], and no `-d` nor
/// `-n` is `-d` [`LONGEST`]. A value the run refuses is left for it to refuse.
fn shortened(command: &str) -> String {
    let longest = format!("{}ms", LONGEST.as_millis());
    let words: Vec<&str> = command.split(' ').collect();
    let mut out: Vec<String> = Vec::new();
    let (mut in_run, mut stops) = (false, false);
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        if word == "connbench" {
            let next = words.get(i + 1).copied().unwrap_or_default();
            in_run = next == "run" || next.starts_with("http") || next.starts_with('-');
            stops = false;
        } else if ["|", "||", "&&", ";", "&", "#"].contains(&word) || word.starts_with('>') || word.starts_with("2>") {
            if in_run && !stops {
                out.extend(["-d".to_string(), longest.clone()]);
            }
            in_run = false;
        } else if in_run && ["-d", "-z", "--duration", "-n", "--requests"].contains(&word) && i + 1 < words.len() {
            stops = true;
            let value = words[i + 1];
            let capped = match word {
                "-n" | "--requests" => match connbench::cli::parse_count(value) {
                    Ok(n) if n > MOST_REQUESTS => MOST_REQUESTS.to_string(),
                    _ => value.to_string(),
                },
                _ => match connbench::cli::parse_duration(value) {
                    Ok(d) if d > LONGEST => longest.clone(),
                    _ => value.to_string(),
                },
            };
            out.extend([word.to_string(), capped]);
            i += 2;
            continue;
        }
        out.push(word.into());
        i += 1;
    }
    if in_run && !stops {
        out.extend(["-d".to_string(), longest]);
    }
    out.join(" ")
}

/// Where the output of one command of a session ends and the next begins.
const BETWEEN: &str = "\u{1e}next command\u{1e}";

/// Runs the commands of a session in one shell in `dir` (so that `$?`, variables and files carry over), with
/// this build's `connbench` first on the PATH; the output of each, stdout and stderr as one.
fn shell(dir: &Path, bin: &Path, commands: &[String]) -> Vec<String> {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut script = String::from("exec 2>&1\n");
    for command in commands {
        // the separator keeps `$?` for the command after it
        script.push_str(&format!("status=$?; printf '%s\\n' '{BETWEEN}'; (exit $status)\n{command}\n"));
    }
    let out = Command::new("timeout")
        .args(["120", "bash", "-c", &script])
        .current_dir(dir)
        .env("PATH", path)
        .env("CI", "true")
        .env_remove("NO_COLOR")
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split(&format!("{BETWEEN}\n")).skip(1).map(str::to_string).collect()
}

/// The `connbench` lines of a shell block parse as the binary parses them.
fn parses(block: &Block) -> Result<(), String> {
    for line in block.lines.iter().map(|l| l.trim()) {
        let Some(rest) = line.strip_prefix("connbench ") else { continue };
        let command = rest.split(['#', '|', '>', ';', '&']).next().unwrap_or_default();
        let mut args = vec!["connbench".to_string()];
        // a glob (`shard-*.json`) stands for the files it matches: two, say
        args.extend(shell_words(command).into_iter().flat_map(|w| {
            if w.contains('*') {
                vec![w.clone(), w]
            } else {
                vec![w]
            }
        }));
        let args = connbench::habits::translate(args).map_err(|e| format!("{line}: {e}"))?;
        if let Err(e) = Cli::try_parse_from(&args) {
            if e.use_stderr() {
                return Err(format!("{line}: {}", connbench::cli::one_line(&e)));
            }
        }
    }
    Ok(())
}

/// Words as a shell splits them: on spaces, outside single and double quotes.
fn shell_words(text: &str) -> Vec<String> {
    let (mut words, mut word, mut quote) = (Vec::new(), String::new(), None);
    for c in text.chars() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (' ', None) => words.extend((!word.is_empty()).then(|| std::mem::take(&mut word))),
            (c, _) => word.push(c),
        }
    }
    words.extend((!word.is_empty()).then_some(word));
    words
}

/// The session of a block: each command with the output the docs show for it.
fn session(lines: &[String]) -> Vec<(Option<String>, Vec<String>)> {
    let mut steps: Vec<(Option<String>, Vec<String>)> = Vec::new();
    for line in lines {
        match line.trim_start().strip_prefix("$ ") {
            Some(command) => steps.push((Some(command.to_string()), Vec::new())),
            None => match steps.last_mut() {
                Some((_, output)) => output.push(line.clone()),
                None => steps.push((None, vec![line.clone()])),
            },
        }
    }
    steps
}

/// Runs the examples of one file; panics naming every block whose output has another shape.
fn check(file: &str) {
    let dir = crate::util::scratch(&format!("docs-{}", file.replace(['/', '.'], "-")));
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_connbench"), bin.join("connbench")).unwrap();
    let mut failures = Vec::new();
    let mut ran = 0;
    for block in blocks(file) {
        let marker = |kind: &str| block.markers.iter().find(|(k, _)| k == kind).map(|(_, args)| args.clone());
        if block.info == "sh" {
            if let Err(e) = parses(&block) {
                failures.push(format!("{}: {e}", block.place));
            }
            continue;
        }
        let steps = session(&block.lines);
        let runs = steps.iter().any(|(command, _)| command.is_some()) || marker("layout").is_some();
        if !runs || !matches!(block.info.as_str(), "text" | "") {
            continue;
        }
        if let Some(why) = marker("skip") {
            eprintln!("docs: {} skipped: {why}", block.place);
            continue;
        }
        let server = marker("serve").map(|knobs| serve(&knobs));
        let url = |command: &str| match &server {
            Some((server, scheme)) => with_url(command, &format!("{scheme}://{}/", server.addr)),
            None => command.to_string(),
        };
        // the commands as run, with the output the docs show for each
        let mut commands: Vec<(String, &[String])> = Vec::new();
        for (n, (command, documented)) in steps.iter().enumerate() {
            match (marker("layout"), command) {
                (Some(layout), _) if n == 0 => commands.push((layout, documented)),
                (_, Some(command)) => commands.push((command.clone(), documented)),
                (_, None) => {}
            }
        }
        let mut script: Vec<String> = marker("setup").into_iter().collect();
        let full = marker("full").is_some();
        script.extend(commands.iter().map(|(command, _)| if full { url(command) } else { shortened(&url(command)) }));
        let mut outputs = shell(&dir, &bin, &script);
        if marker("setup").is_some() && !outputs.is_empty() {
            outputs.remove(0);
        }
        for ((command, documented), output) in
            commands.iter().zip(outputs.iter().chain(std::iter::repeat(&String::new())))
        {
            let actual: Vec<String> = output.lines().map(str::to_string).collect();
            ran += 1;
            if let Err(why) = matches(&shapes(documented), &shapes(&actual)) {
                failures.push(format!("{}: $ {command}\n  {why}\n  the output was:\n{output}", block.place));
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        failures.is_empty(),
        "{} of {ran} commands of {file} print otherwise than the docs say:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The command with every `http://127.0.0.1:PORT/` (`https://` for an https `url`) as `url`.
fn with_url(command: &str, url: &str) -> String {
    let documented = format!("{}://127.0.0.1:", url.split("://").next().unwrap_or("http"));
    let mut out = String::new();
    let mut rest = command;
    while let Some(at) = rest.find(&documented) {
        out.push_str(&rest[..at]);
        let after = &rest[at + documented.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(url.trim_end_matches('/'));
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The embedded server with `serve`'s knobs (`--tls`: over https, with a certificate made now that no client
/// trusts), and its scheme.
fn serve(knobs: &str) -> (connbench::server::ServerThread, &'static str) {
    let mut args = vec!["connbench".to_string(), "serve".to_string()];
    args.extend(shell_words(knobs));
    let connbench::cli::Command::Serve(serve) = Cli::try_parse_from(&args).expect("knobs parse").command else {
        unreachable!()
    };
    let config = connbench::plan::server_config(&serve.knobs, &Default::default());
    if serve.knobs.tls {
        (crate::util::tls_server(config).0, "https")
    } else {
        (crate::util::server(config), "http")
    }
}

#[test]
fn the_shape_of_a_line_is_its_words_with_figures_as_hashes() {
    // each case: a line, its shape
    for (line, shaped) in [
        ("total p50                         88µs      2.37ms", "total p50 # #"),
        ("status 2xx                        500", "status 2xx #"),
        ("started 2026-12-07T15:24:13Z, h2c", "started #-#-#T#:#:#Z, h2c"),
        ("total max                   5.22ms      8.89ms     1.704  worse", "total max # # #"),
        ("bytes received/s             643.9kB/s    1.44MB/s", "bytes received/s # #"),
        ("reqs/streams in flight          1 of 1    16 of 16", "reqs/streams in flight # of # # of #"),
        ("connbench 0.1.0  http://127.0.0.1:37347/ (embedded server)", "connbench # http://#:#/"),
        ("2", "2"),
        ("error rate                  0.000%      0.000%         -", "error rate # # -"),
    ] {
        assert_eq!(shape(line), shaped, "{line}");
    }
    let lines = |text: &str| text.lines().map(str::to_string).collect::<Vec<_>>();
    assert!(matches(&lines("a\nb\n…"), &lines("a\nb\nc")).is_ok());
    assert!(matches(&lines("a\nc"), &lines("a\nb\nc")).unwrap_err().contains("\"c\" where the output has \"b\""));
    assert!(matches(&lines("…\nb\n…\nd"), &lines("a\nb\nc\nd")).is_ok());
    assert!(matches(&lines("mode,a…\nx"), &lines("mode,a,b\nx")).is_ok());
    assert_eq!(
        shortened("connbench run --mode all -n 20000 -c 8 | jq ."),
        "connbench run --mode all -n 2000 -c 8 | jq ."
    );
    assert_eq!(shortened("connbench run -c 4 > x.txt"), "connbench run -c 4 -d 300ms > x.txt");
    assert_eq!(shortened("connbench report a.json"), "connbench report a.json");
}

// One test per long file, so that they run side by side; the short ones together.
#[test]
fn readme() {
    check("README.md");
}

#[test]
fn options() {
    check("docs/options.md");
}

#[test]
fn results() {
    check("docs/results.md");
}

#[test]
fn ci() {
    check("docs/ci.md");
}

#[test]
fn connections() {
    check("docs/connections.md");
}

#[test]
fn https() {
    check("docs/https.md");
}

/// The files with a test of their own above.
const ON_THEIR_OWN: [&str; 6] =
    ["README.md", "docs/options.md", "docs/results.md", "docs/ci.md", "docs/connections.md", "docs/https.md"];

#[test]
fn the_other_docs() {
    for file in DOCS.iter().filter(|file| !ON_THEIR_OWN.contains(file)) {
        check(file);
    }
}

/// Every file whose examples are checked.
const DOCS: [&str; 16] = [
    "README.md",
    "docs/ci.md",
    "docs/connections.md",
    "docs/design.md",
    "docs/http3.md",
    "docs/https.md",
    "docs/options.md",
    "docs/page.md",
    "docs/performance.md",
    "docs/ports.md",
    "docs/probe.md",
    "docs/results.md",
    "docs/scripts.md",
    "docs/serve.md",
    "docs/shards.md",
    "docs/targets.md",
];

#[test]
fn every_doc_is_checked() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for entry in std::fs::read_dir(&docs).unwrap() {
        let name: PathBuf = Path::new("docs").join(entry.unwrap().file_name());
        if name.extension().is_some_and(|e| e == "md") {
            assert!(DOCS.contains(&name.to_str().unwrap()), "{} is not in tests/suite/docs.rs's DOCS", name.display());
        }
    }
}

/// The blocks no test runs, each with its reason: a new one is added here too, where a review sees it.
const SKIPPED: [(&str, &str); 16] = [
    ("docs/ci.md", "scripts/ci-gate.sh"),
    ("docs/ci.md", "scripts/ci-gate.sh"),
    ("docs/connections.md", "nginx, reloaded"),
    ("docs/connections.md", "nginx, HTTP/1.1 only"),
    ("docs/connections.md", "nginx over TLS without HTTP/2"),
    ("docs/http3.md", "Caddy, and a connbench serve"),
    ("docs/http3.md", "Caddy's access log"),
    ("docs/http3.md", "aioquic"),
    ("docs/http3.md", "aioquic"),
    ("docs/http3.md", "Caddy, whose Alt-Svc"),
    ("docs/https.md", "wrk"),
    ("docs/options.md", "an SSH server"),
    ("docs/options.md", "nginx with crafted certificates"),
    ("docs/probe.md", "a server that writes a line every 10 ms"),
    ("docs/scripts.md", "scripts/compare-modes.sh"),
    ("docs/targets.md", "nginx's access log"),
];

#[test]
fn the_skipped_blocks_are_the_known_ones() {
    let mut skipped = Vec::new();
    for file in DOCS {
        for block in blocks(file) {
            skipped.extend(block.markers.iter().filter(|(kind, _)| kind == "skip").map(|(_, why)| (file, why.clone())));
        }
    }
    assert_eq!(skipped.len(), SKIPPED.len(), "{skipped:#?}");
    for ((file, why), (known_file, known)) in skipped.iter().zip(SKIPPED) {
        assert!(*file == known_file && why.starts_with(known), "{file}: {why}, where {known_file}: {known} was known");
    }
}

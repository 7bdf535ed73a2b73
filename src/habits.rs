/*!
Habits people bring from wrk, wrk2, oha, hey, h2load and k6 (docs/options.md, "Coming from wrk, oha, hey,
h2load, k6"), met before clap reads the command line: `connbench URL [flags]` (and `connbench -c 10 URL`) is
`connbench run`, and each habit flag either becomes its connbench spelling or is refused in one line that
names it. Nothing a habit means is guessed silently: where two tools mean different things by one flag, the
value tells them apart or the flag is refused naming both spellings.

What clap can say by itself is said there: `-t/--threads`, `-R` and `-q` for `--rate`, `-m` for `-X`,
`--vus`/`-u` for `-c`, `--no-tui`, the hidden `--latency` and `--latency-correction` (answered with a note),
and `--mode h2|http2|h2c|keep-alive`. What needs the word as typed is here: hey's single-dash flags (`-h2`
would be clap's `-h` and print the help), a value that says which tool's flag it is (`-D 10s` against `-D
body.json`, `-m 16` against `-m POST`), and flags whose connbench meaning differs (`-p`, `-o`, `-d`).

A leaf over strings: no I/O but for asking whether a path exists.
*/

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{parse_duration, Cli};

/// The command line as connbench reads it: `run` put in where it was left out, habit flags in connbench's
/// spelling. An error is one line naming the connbench spelling of what was typed.
pub fn translate(args: Vec<String>) -> Result<Vec<String>, String> {
    let Some(first) = args.get(1) else { return Ok(args) };
    let command = Cli::command();
    let is_command = |word: &str| word == "help" || command.get_subcommands().any(|c| c.get_name() == word);
    let (head, rest) = if first == "run" {
        (args[..2].to_vec(), &args[2..])
    } else if is_command(first) || ["-h", "--help", "-V", "--version"].contains(&first.as_str()) {
        return Ok(args);
    } else if first.starts_with('-') || looks_like_url(first) {
        // `connbench URL` and `connbench -c 10 URL`, as wrk, oha, hey and h2load are called.
        (vec![args[0].clone(), "run".to_string()], &args[1..])
    } else {
        let commands: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
        let url = if first.contains('.') { format!(" (a URL? say http://{first}/)") } else { String::new() };
        return Err(format!(
            "unknown command '{first}'{url}: the commands are {}; or give a URL to run: connbench http://host/",
            commands.join(", ")
        ));
    };
    let mut translated = head;
    translated.extend(run_args(rest)?);
    Ok(translated)
}

/// A URL as curl and `run` take one: with its scheme, or `host:port[/path]`.
fn looks_like_url(word: &str) -> bool {
    if word.contains("://") {
        return true;
    }
    let authority = word.split('/').next().unwrap_or_default();
    match authority.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// Methods whose requests carry a body (RFC 9110 §9.3): there, `-d 1` reads as hey's and oha's body.
const BODY_METHODS: [&str; 3] = ["POST", "PUT", "PATCH"];

/// Format names `-o` (hey's output type) is taken for.
const FORMATS: [&str; 7] = ["csv", "json", "md", "markdown", "html", "text", "txt"];

/// The flags of `run` that take a value, as typed (`-c`, `--connections`, their aliases): their values are
/// never read as flags.
fn valued_flags() -> Vec<String> {
    let command = Cli::command();
    let run = command.find_subcommand("run").expect("run is a command");
    let mut flags = Vec::new();
    for arg in run.get_arguments().filter(|arg| arg.get_action().takes_values() && !arg.is_positional()) {
        flags.extend(arg.get_short_and_visible_aliases().into_iter().flatten().map(|c| format!("-{c}")));
        flags.extend(arg.get_all_short_aliases().into_iter().flatten().map(|c| format!("-{c}")));
        flags.extend(arg.get_long_and_visible_aliases().into_iter().flatten().map(|l| format!("--{l}")));
        flags.extend(arg.get_all_aliases().into_iter().flatten().map(|l| format!("--{l}")));
    }
    flags
}

/// `run`'s arguments with every habit in connbench's spelling, or the first refused.
fn run_args(args: &[String]) -> Result<Vec<String>, String> {
    let method = method(args);
    let valued = valued_flags();
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        if word == "--" {
            out.extend(args[i - 1..].iter().cloned());
            break;
        }
        // Go's single-dash long flags (hey): whole words, never short flags run together.
        if let Some(becomes) = hey_flag(word, args.get(i))? {
            i += usize::from(becomes.took_value);
            out.extend(becomes.words);
            continue;
        }
        if let Some(becomes) = long_habit(word) {
            out.extend(becomes.iter().map(|w| w.to_string()));
            continue;
        }
        // A short flag: its value is the rest of the word (`-d1`) or the next word (`-d 1`).
        let short = match word.strip_prefix('-') {
            Some(rest) if !rest.starts_with('-') && !rest.is_empty() => rest,
            _ => {
                let takes_value = !word.contains('=') && valued.contains(word);
                out.push(word.clone());
                if takes_value && i < args.len() {
                    out.push(args[i].clone());
                    i += 1;
                }
                continue;
            }
        };
        let (flag, attached) = short.split_at(short.chars().next().map_or(0, char::len_utf8));
        let flag = format!("-{flag}");
        if !valued.contains(&flag) && !SHORT_HABITS.contains(&flag.as_str()) {
            out.push(word.clone());
            continue;
        }
        let value = if attached.is_empty() {
            let Some(next) = args.get(i) else {
                out.push(word.clone());
                continue;
            };
            i += 1;
            next.as_str()
        } else {
            attached
        };
        out.extend(short_habit(&flag, value, method.as_deref())?.unwrap_or_else(|| vec![flag, value.to_string()]));
    }
    Ok(out)
}

/// The method asked with `-X`, `--method` or `-m`, if any, in capitals.
fn method(args: &[String]) -> Option<String> {
    let mut found = None;
    for (i, word) in args.iter().enumerate() {
        let value = match word.as_str() {
            "-X" | "--method" | "-m" => args.get(i + 1).map(String::as_str),
            _ => word.strip_prefix("--method=").or(word.strip_prefix("-X").filter(|v| !v.is_empty())),
        };
        found = value.map(str::to_ascii_uppercase).or(found);
    }
    found
}

/// Short flags that are habits of other tools and no flag of connbench's.
const SHORT_HABITS: [&str; 6] = ["-s", "-r", "-A", "-T", "-D", "-a"];

/// What `-FLAG VALUE` becomes, or why it is refused; None: it is connbench's own, as typed.
fn short_habit(flag: &str, value: &str, method: Option<&str>) -> Result<Option<Vec<String>>, String> {
    let words = |list: &[&str]| Ok(Some(list.iter().map(|w| w.to_string()).collect()));
    let exists = Path::new(value).exists();
    match flag {
        // A duration starts with its number; anything else (`{"a":1}`, `name=x`) was meant as a body.
        "-d" if !value.trim_start().starts_with(|c: char| c.is_ascii_digit() || c == '.') => Err(format!(
            "-d '{value}' is not a duration: -d is how long each mode runs (10s, 2m); the request body (oha's and \
             hey's -d) is --body"
        )),
        "-d" if value.trim().parse::<f64>().is_ok() && method.is_some_and(|m| BODY_METHODS.contains(&m)) => {
            Err(format!(
                "-d {value} with {}: -d is how long each mode runs ({value} s here), and the request body (oha's and \
                 hey's -d) is --body '{value}'; write -d {value}s for a duration",
                method.unwrap_or_default()
            ))
        }
        "-D" if parse_duration(value).is_ok() && !exists => words(&["-d", value]),
        "-D" => words(&["--body-file", value]),
        "-o" if FORMATS.contains(&value.to_ascii_lowercase().as_str()) => Err(format!(
            "-o {value}: did you mean --format {}? -o writes the JSON result to a file (hey's -o {value} is an \
             output type); for a file of that name, write -o ./{value}",
            format_name(value)
        )),
        "-p" if !exists && value.bytes().all(|b| b.is_ascii_digit()) => Err(format!(
            "-p is --profile FILE here, and there is no file '{value}': oha's -p {value} (requests in flight per \
             HTTP/2 connection) is --mode multiplex --depth {value}"
        )),
        "-p" if !exists && ["h2c", "http/1.1"].contains(&value) => Err(format!(
            "-p is --profile FILE here, and there is no file '{value}': h2load's -p {value} is --mode {}",
            if value == "h2c" { "multiplex" } else { "keepalive" }
        )),
        "-m" if value.bytes().all(|b| b.is_ascii_digit()) => Err(format!(
            "-m {value}: -m is the method here (-X, as in oha and hey); h2load's -m {value} (streams per \
             connection) is --mode multiplex --depth {value}, or --mode pipeline --depth {value} for HTTP/1.1"
        )),
        "-s" => Err(format!(
            "-s {value}: connbench runs no Lua script (wrk's -s); the request is -X METHOD, -H 'Name: value' and \
             --body TEXT or --body-file FILE, or several requests from a file, --targets FILE"
        )),
        "-r" => Err(format!(
            "-r {value}: h2load's -r opens connections at a rate; connbench paces requests: --rate {value} with \
             --mode parallel opens a connection for each"
        )),
        "-a" => Err(format!(
            "-a {value}: give the user and password in the URL, http://{value}@host/ (sent as Authorization: Basic, \
             as oha's and hey's -a)"
        )),
        "-A" => words(&["-H", &format!("Accept: {value}")]),
        "-T" => words(&["-H", &format!("Content-Type: {value}")]),
        _ => Ok(None),
    }
}

/// `--format`'s name for what `-o` was given.
fn format_name(value: &str) -> &'static str {
    match value.to_ascii_lowercase().as_str() {
        "csv" => "csv",
        "json" => "json",
        "md" | "markdown" => "markdown",
        "html" => "html",
        _ => "text",
    }
}

/// What a long habit flag becomes; None: not a habit.
fn long_habit(word: &str) -> Option<&'static [&'static str]> {
    Some(match word {
        "--http2" => &["--mode", "multiplex"],
        "--h1" => &["--mode", "keepalive"],
        "--json" | "-j" => &["--format", "json"],
        "--disable-keepalive" => &["--mode", "parallel"],
        _ => return None,
    })
}

/// What a hey flag became, and whether it took the next word as its value.
struct Becomes {
    words: Vec<String>,
    took_value: bool,
}

/// hey's single-dash long flags (Go's flag package): `-h2`, `-host`, `-cpus`, `-disable-keepalive`,
/// `-disable-compression`, `-disable-redirects`. None: not one of them.
fn hey_flag(word: &str, next: Option<&String>) -> Result<Option<Becomes>, String> {
    let (name, attached) = match word.split_once('=') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (word, None),
    };
    let plain = |words: &[&str]| Becomes { words: words.iter().map(|w| w.to_string()).collect(), took_value: false };
    let valued = |flag: &str, make: &dyn Fn(&str) -> Vec<String>| match (&attached, next) {
        (Some(value), _) => Ok(Becomes { words: make(value), took_value: false }),
        (None, Some(value)) => Ok(Becomes { words: make(value), took_value: true }),
        (None, None) => Err(format!("{flag} needs a value")),
    };
    Ok(Some(match name {
        "-h2" => plain(&["--mode", "multiplex"]),
        "-disable-keepalive" => plain(&["--mode", "parallel"]),
        // connbench asks for no compression and follows no redirect: hey's defaults, switched off, are its own.
        "-disable-compression" | "-disable-redirects" => plain(&[]),
        "-cpus" => valued("-cpus", &|n| vec!["--threads".into(), n.into()])?,
        "-host" => valued("-host", &|host| vec!["-H".into(), format!("Host: {host}")])?,
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translated(args: &[&str]) -> Result<Vec<String>, String> {
        translate(args.iter().map(|a| a.to_string()).collect()).map(|mut words| words.split_off(1))
    }

    #[test]
    fn a_url_or_a_flag_first_is_a_run_and_a_bare_word_is_an_unknown_command() {
        // each case: the command line, what it becomes
        for (args, becomes) in [
            (&["connbench", "http://127.0.0.1:8080/"][..], &["run", "http://127.0.0.1:8080/"][..]),
            (&["connbench", "127.0.0.1:8080/x", "-c", "4"], &["run", "127.0.0.1:8080/x", "-c", "4"]),
            (&["connbench", "-c", "4", "-d", "1s", "http://h/"], &["run", "-c", "4", "-d", "1s", "http://h/"]),
            (&["connbench", "report", "a.json"], &["report", "a.json"]),
            (&["connbench", "--help"], &["--help"]),
            (&["connbench", "help", "run"], &["help", "run"]),
        ] {
            assert_eq!(translated(args).unwrap(), becomes, "{args:?}");
        }
        let err = translated(&["connbench", "bench"]).unwrap_err();
        assert!(err.starts_with("unknown command 'bench': the commands are run, serve, compare,"), "{err}");
        let err = translated(&["connbench", "example.com"]).unwrap_err();
        assert!(err.starts_with("unknown command 'example.com' (a URL? say http://example.com/)"), "{err}");
    }

    #[test]
    fn values_are_never_read_as_flags() {
        // a header that looks like hey's flag, a body that looks like a duration with POST: values of flags
        let args = ["connbench", "run", "-H", "-h2", "--body", "1", "-X", "POST", "-o", "out.json"];
        assert_eq!(translated(&args).unwrap(), &args[1..]);
        let args = ["connbench", "run", "--", "-h2"];
        assert_eq!(translated(&args).unwrap(), &args[1..]);
    }

    #[test]
    fn a_value_tells_two_tools_flags_apart() {
        // each case: the flags, what they become
        for (args, becomes) in [
            (&["-D", "10s"][..], &["-d", "10s"][..]),
            (&["-D", "/nonexistent/body.json"], &["--body-file", "/nonexistent/body.json"]),
            (&["-m", "POST"], &["-m", "POST"]),
            (&["-mPUT"], &["-m", "PUT"]),
            (&["-d", "1"], &["-d", "1"]),
            (&["-X", "POST", "-d", "1s"], &["-X", "POST", "-d", "1s"]),
            (&["-A", "text/html"], &["-H", "Accept: text/html"]),
            (&["-cpus", "2"], &["--threads", "2"]),
            (&["-cpus=2"], &["--threads", "2"]),
            (&["-host", "example.com"], &["-H", "Host: example.com"]),
            (&["-h2", "-disable-compression"], &["--mode", "multiplex"]),
        ] {
            let mut full = vec!["connbench", "run"];
            full.extend_from_slice(args);
            assert_eq!(translated(&full).unwrap()[1..], *becomes, "{args:?}");
        }
    }
}

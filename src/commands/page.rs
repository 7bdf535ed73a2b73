//! `connbench page`: the flags resolved, the page found (the embedded server's when no URL is given) and its
//! objects discovered, then K loads of each strategy taking turns, the report, the `-o` file and the gates, in
//! that order (as `run`: a failed write or gate never takes what was measured with it). Bad input is
//! `Failure::Usage` (exit 2) before any load; a failed `--check` is `Failure::Gate` (exit 1); a signal stops the
//! loads between two of them, and what was measured is still reported (`complete: false`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use url::Url;

use super::{print_to, Failure, Stream};
use crate::check::Check;
use crate::cli::{FormatArg, PageArgs, StrategyArg};
use crate::note::{Note, NoteKind};
use crate::output::OutputFile;
use crate::page::discover::{self, Discovery};
use crate::page::load::{self, Origin, Settings, Work};
use crate::page::result::{PageResult, Tally, SCHEMA_VERSION};
use crate::page::{report, waterfall, Strategy};
use crate::record::result::Tool;
use crate::server::{self, page::DEFAULT_OBJECTS, page::DEFAULT_SIZE};

/// `connbench page`: Ok(false) when a signal stopped the loads (after reporting what they measured).
pub fn page(args: &PageArgs, command: Vec<String>, stop: &'static AtomicBool) -> Result<bool, Failure> {
    let usage = Failure::Usage;
    let mut checks = Vec::new();
    for text in &args.checks {
        let check = Check::parse(text).map_err(usage)?;
        if let Some(why) = report::refuse(text, &check) {
            return Err(Failure::Usage(why));
        }
        checks.push(check);
    }
    let headers = args.headers.iter().map(|h| crate::plan::parse_header(h)).collect::<Result<Vec<_>, _>>();
    let headers = headers.map_err(usage)?;
    let (mut strategies, multiplexed_if_spoken) = strategies(&args.strategy);
    let mut tls = crate::net::tls::Options {
        insecure: args.insecure,
        resume: args.tls_resume,
        extra_roots: match &args.cacert {
            Some(path) => crate::net::tls::read_certificates(path, "--cacert").map_err(usage)?,
            None => Vec::new(),
        },
        version: crate::plan::tls_version(args.tls_version),
    };
    let output = args.output.as_deref().map(OutputFile::open).transpose().map_err(usage)?;
    let json_on_stdout = output.as_ref().is_some_and(OutputFile::is_stdout);
    if json_on_stdout && args.format == FormatArg::Json {
        return Err(Failure::Usage(
            "-o - and --format json would both write the JSON result to stdout: give one of them".into(),
        ));
    }
    // The embedded server lives as long as this binding.
    let (url, embedded) = match &args.url {
        Some(_) if args.server.tls => {
            return Err(Failure::Usage(
                "--tls is for the embedded server (no URL); an https:// URL speaks TLS by itself".into(),
            ))
        }
        Some(text) => (crate::plan::parse_url(text).map_err(usage)?, None),
        None => {
            let mut config = crate::plan::server_config(&args.server, &crate::profile::Profile::default());
            if args.server.tls {
                let identity = crate::net::tls::Identity::self_signed().map_err(usage)?;
                tls.extra_roots.extend(identity.chain.iter().cloned());
                config.tls = Some(identity.server_config(tls.version).map_err(usage)?);
            }
            let scheme = if args.server.tls { "https" } else { "http" };
            let server = server::spawn_thread(config)?;
            let path = server::page::path(
                args.server_objects.unwrap_or(DEFAULT_OBJECTS),
                args.server_object_size.unwrap_or(DEFAULT_SIZE),
            );
            let url = Url::parse(&format!("{scheme}://{}{path}", server.addr)).map_err(|e| usage(e.to_string()))?;
            (url, Some(server))
        }
    };
    let settings = Settings {
        per_host: args.per_host,
        depth: args.depth,
        timeout: nonzero(args.timeout, "--timeout")?,
        connect_timeout: nonzero(args.connect_timeout, "--connect-timeout")?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let page_origin = Origin::resolve(&url, &tls).map_err(usage)?;
    let mut notes = Vec::new();
    if page_origin.insecure() {
        let text = format!("-k/--insecure: the certificate of {} was not verified", page_origin.name);
        notes.push(Note::new(NoteKind::Insecure, None, text));
    }
    let discovery = match &args.objects {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| usage(format!("--objects {}: {e}", path.display())))?;
            discover::read_list(&text, &path.display().to_string(), &url).map_err(usage)?
        }
        None => runtime.block_on(find_objects(&page_origin, &url, &headers, &settings))?,
    };
    if discovery.objects.is_empty() {
        notes.push(Note::new(NoteKind::Plan, None, "the page embeds no object: each load is the page alone"));
    }
    let work = Work::new(&url, page_origin, &discovery.objects, headers, &tls).map_err(usage)?;
    if strategies.contains(&Strategy::Multiplexed) && embedded.is_none() {
        if let Err(why) = runtime.block_on(all_speak_h2(&work, &settings)) {
            if !multiplexed_if_spoken {
                return Err(Failure::Usage(format!("--strategy multiplexed: {why}")));
            }
            strategies.retain(|&s| s != Strategy::Multiplexed);
            notes.push(Note::new(NoteKind::ModeSkipped, None, format!("multiplexed left out: {why}")));
        }
    }

    let mut tallies: Vec<Tally> = strategies.iter().map(|&s| Tally::new(s)).collect();
    let mut complete = true;
    'loads: for _ in 0..args.loads {
        for tally in &mut tallies {
            if stop.load(Ordering::Relaxed) {
                complete = false;
                break 'loads;
            }
            tally.add(runtime.block_on(load::load(&work, &settings, tally.strategy())));
        }
    }
    let (objects, found) = PageResult::describe(&discovery);
    let display = match embedded {
        Some(_) => format!("{url} (embedded server)"),
        None => url.to_string(),
    };
    let result = PageResult {
        schema_version: SCHEMA_VERSION,
        kind: "page".into(),
        tool: Tool::this(),
        complete,
        started_at,
        page: display,
        command,
        loads: args.loads,
        per_host: args.per_host,
        depth: args.depth,
        assume_rtt_ms: args.assume_rtt.map(|rtt| rtt.as_secs_f64() * 1e3),
        objects,
        found,
        skipped: discovery.skipped,
        duplicates: discovery.duplicates,
        strategies: tallies.into_iter().filter_map(|tally| tally.finish(args.assume_rtt)).collect(),
        notes,
    };
    drop(embedded);

    let report_to = if json_on_stdout { Stream::Stderr } else { Stream::Stdout };
    let printed = print_to(report_to, |out| write(args.format, &result, out));
    if args.format != FormatArg::Text {
        for note in &result.notes {
            eprintln!("connbench: {}", note.line());
        }
    }
    if let Some(output) = output {
        output.write(&result).map_err(usage)?;
    }
    printed?;
    if !complete {
        if !checks.is_empty() {
            eprintln!("connbench: the loads were interrupted: checks not evaluated");
        }
        return Ok(false);
    }
    let rows = report::evaluate(&checks, &result.strategies);
    let people = if args.format == FormatArg::Text { report_to } else { Stream::Stderr };
    if !rows.is_empty() {
        print_to(people, |out| {
            writeln!(out)?;
            crate::report::gate::write_rows(&rows, out)
        })?;
    }
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{} {} (measured {})", r.mode, r.check, r.measured))
        .collect();
    if failed.is_empty() {
        Ok(true)
    } else {
        Err(Failure::Gate(format!("gate failed: {}", failed.join("; "))))
    }
}

/// The strategies asked for, in order, each once; and whether multiplexed runs only if the target speaks
/// HTTP/2 (asked for by `all`, or by default, rather than by name).
fn strategies(asked: &[StrategyArg]) -> (Vec<Strategy>, bool) {
    let asked = if asked.is_empty() { &[StrategyArg::All][..] } else { asked };
    let mut strategies = Vec::new();
    for arg in asked {
        let expanded: &[Strategy] = match arg {
            StrategyArg::Serial => &[Strategy::Serial],
            StrategyArg::Parallel => &[Strategy::Parallel],
            StrategyArg::Persistent => &[Strategy::Persistent],
            StrategyArg::Pipelined => &[Strategy::Pipelined],
            StrategyArg::Multiplexed => &[Strategy::Multiplexed],
            StrategyArg::All => &Strategy::ALL,
        };
        for strategy in expanded {
            if !strategies.contains(strategy) {
                strategies.push(*strategy);
            }
        }
    }
    (strategies, !asked.contains(&StrategyArg::Multiplexed))
}

fn nonzero(limit: Duration, flag: &str) -> Result<Duration, Failure> {
    match limit.is_zero() {
        true => Err(Failure::Usage(format!("{flag} must be longer than 0s"))),
        false => Ok(limit),
    }
}

/// The page's objects, from its HTML (fetched once, not measured).
async fn find_objects(
    origin: &Origin,
    url: &Url,
    headers: &[(String, String)],
    settings: &Settings,
) -> Result<Discovery, Failure> {
    let (status, body) = load::fetch(origin, url, headers, settings).await.map_err(Failure::Usage)?;
    if !(200..300).contains(&status) {
        return Err(Failure::Usage(format!(
            "GET {url} answered {status}, not a page: give the page's own URL (connbench page follows no redirect), \
             or list its objects with --objects FILE"
        )));
    }
    Ok(discover::discover(&String::from_utf8_lossy(&body), url))
}

/// Multiplexed needs every origin to speak HTTP/2: one connection each asks, before any load.
async fn all_speak_h2(work: &Work, settings: &Settings) -> Result<(), String> {
    for origin in &work.origins {
        load::speaks_h2(origin, settings).await?;
    }
    Ok(())
}

fn write(format: FormatArg, result: &PageResult, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut out = out;
    match format {
        FormatArg::Text => report::write_text(result, &mut out),
        FormatArg::Json => {
            serde_json::to_writer_pretty(&mut out, result)?;
            writeln!(out)
        }
        FormatArg::Csv => report::write_csv(result, &mut out),
        FormatArg::Markdown => report::write_markdown(result, &mut out),
        FormatArg::Html => waterfall::write(result, &mut out),
    }
}

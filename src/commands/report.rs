//! `connbench report`: saved or merged results rendered again, in any format `run` writes, or one
//! histogram as HdrHistogram's `.hgrm`.

use super::{load_result, print, Failure, Stream};
use crate::cli::{ReportArgs, ReportFormatArg};
use crate::plan::Format;
use crate::progress;
use crate::record::result::RunResult;
use crate::report::figures::{why_no_samples, Phase};
use crate::report::{self, hgrm, Look};

/// `connbench report FILE…`: saved or merged results rendered again; the text is what `run` printed.
pub fn report(args: &ReportArgs) -> Result<(), Failure> {
    let mut loaded = Vec::new();
    for path in &args.files {
        loaded.push((path.display().to_string(), load_result(path, "report")?));
    }
    let format = match args.format {
        ReportFormatArg::Hgrm => {
            let histogram = hgrm_histogram(args, &loaded)?;
            return print(|mut out| hgrm::write(&histogram, &mut out));
        }
        ReportFormatArg::Text => Format::Text,
        ReportFormatArg::Markdown => Format::Markdown,
        ReportFormatArg::Csv => Format::Csv,
        ReportFormatArg::Html => Format::Html,
    };
    let look = Look { histogram: !args.no_histogram, colour: progress::colour(Stream::Stdout.is_terminal()) };
    let results: Vec<(&str, &RunResult)> = loaded.iter().map(|(name, r)| (name.as_str(), r)).collect();
    print(|mut out| report::write_all(format, &results, look, &mut out))
}

/// The one histogram `--format hgrm` prints: `--phase` of the `--mode` (needed when there are several).
fn hgrm_histogram(args: &ReportArgs, loaded: &[(String, RunResult)]) -> Result<hdrhistogram::Histogram<u64>, Failure> {
    let names = || Phase::ALL.map(Phase::name).join(", ");
    let phase = Phase::parse(&args.phase)
        .ok_or_else(|| Failure::Usage(format!("--phase '{}': not a phase (one of {})", args.phase, names())))?;
    if loaded.len() > 1 {
        return Err(Failure::Usage(
            "--format hgrm prints one histogram: give one result (merge several first with connbench merge)".into(),
        ));
    }
    let (name, result) = &loaded[0];
    let runs: Vec<_> = match &args.mode {
        Some(mode) => result.runs.iter().filter(|r| r.mode.name() == mode).collect(),
        None => result.runs.iter().collect(),
    };
    let modes = || result.runs.iter().map(|r| r.mode.name()).collect::<Vec<_>>().join(", ");
    let run = match (&runs[..], &args.mode) {
        ([run], _) => *run,
        ([], None) => return Err(Failure::Usage(format!("{name} has no mode: no completed request"))),
        ([], Some(mode)) => {
            return Err(Failure::Usage(format!("--mode {mode}: {name} has no such mode (it has {})", modes())))
        }
        _ => return Err(Failure::Usage(format!("{name} has several modes ({}): choose one with --mode", modes()))),
    };
    let (mode, phase_name) = (run.mode.name(), phase.name());
    let why = why_no_samples(phase, run);
    let Some(hist) = phase.of(run) else {
        let why = why.unwrap_or_default();
        return Err(Failure::Usage(format!(
            "--phase {phase_name}: {name} has no {phase_name} histogram for {mode}: {why}"
        )));
    };
    // An empty histogram is still one: its table has no line, and people are told why.
    if let Some(why) = why {
        eprintln!("connbench: --phase {phase_name}: {name} has no sample for {mode}: {why}");
    }
    Ok(crate::record::decode(hist).expect("checked when loaded"))
}

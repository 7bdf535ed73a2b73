//! `connbench run`: the plan from the flags, `measure`, then the report, the `-o` file and the gates, in
//! that order, so that a failed write or a failed gate never takes what was measured with it. Input problems
//! surface as `Failure::Usage` (exit 2) before any load; a failed `--check` or regression is `Failure::Gate`
//! (exit 1), returned after everything was written and printed.

use std::io::Write;
use std::sync::atomic::AtomicBool;

use super::{load_result, print_to, verdict, Failure, Stream};
use crate::cli::RunArgs;
use crate::measure::measure;
use crate::output::OutputFile;
use crate::plan::{Format, Mode, Plan};
use crate::progress;
use crate::record::result::RunResult;
use crate::report::{self, compare, describe, gate, Look};

/// `connbench run`: measure, print the report, write the result where `-o` says, then hold it to the gates.
pub fn run(args: &RunArgs, command: Vec<String>, stop: &'static AtomicBool) -> Result<RunResult, Failure> {
    let plan = Plan::from_args(args, command).map_err(Failure::Usage)?;
    // Read and opened before any load, so a missing baseline or an unwritable -o costs nothing.
    let baseline = match &plan.baseline {
        Some(path) => Some(load_result(path, "--baseline")?),
        None => None,
    };
    if let (Some(baseline), Some(path)) = (&baseline, &plan.baseline) {
        hold_plan_to_baseline(&plan, baseline, &baseline_name(path))?;
    }
    let output = plan.output.as_deref().map(OutputFile::open).transpose().map_err(Failure::Usage)?;
    let json_on_stdout = output.as_ref().is_some_and(OutputFile::is_stdout);
    if json_on_stdout && plan.format == Format::Json {
        return Err(Failure::Usage(
            "-o - and --format json would both write the JSON result to stdout: give one of them".into(),
        ));
    }
    let result = measure(&plan, stop)?;
    let stopped_short = !result.complete && !stop.load(std::sync::atomic::Ordering::Relaxed);
    // The report first: a result file that cannot be written must not take the report with it. With
    // `-o -` the result owns stdout and the report goes to stderr.
    let report_to = if json_on_stdout { Stream::Stderr } else { Stream::Stdout };
    let look = Look { histogram: plan.histogram, colour: progress::colour(report_to.is_terminal()) };
    let printed = print_to(report_to, |mut out| report::write(plan.format, &result, look, &mut out));
    if plan.format != Format::Text {
        // The text report carries the notes under its headline; the other formats go to files and scripts.
        for note in &result.notes {
            eprintln!("connbench: {}", note.line());
        }
    }
    let written = match output {
        Some(output) => output.write(&result).map_err(Failure::Usage),
        None => Ok(()),
    };
    if stopped_short {
        // What was measured is printed and written; that the plan could not be kept is the verdict.
        verdict(None, vec![printed, written])?;
        return Err(Failure::Usage("the run stopped early: --port-policy fail found no free port".into()));
    }
    if !result.complete {
        if !plan.checks.is_empty() || baseline.is_some() {
            eprintln!("connbench: the run was interrupted: checks and baseline not evaluated");
        }
        return verdict(None, vec![printed, written]).map(|()| result);
    }
    // People read stdout when it carries the text report, stderr when it carries anything else.
    let people = if plan.format == Format::Text { report_to } else { Stream::Stderr };
    let (failed, refused, verdicts_printed) = hold_to_gates(&plan, baseline.as_ref(), &result, people);
    if let Some(refused) = refused {
        verdict(None, vec![printed, written, verdicts_printed])?;
        return Err(Failure::Usage(refused));
    }
    let gate = (!failed.is_empty()).then(|| format!("gate failed: {}", failed.join("; ")));
    verdict(gate, vec![printed, written, verdicts_printed]).map(|()| result)
}

/// How the baseline is named in messages and in the comparison.
fn baseline_name(path: &std::path::Path) -> String {
    format!("--baseline {}", path.display())
}

/// Refuses, before any load, a run its baseline cannot judge: a mode the baseline has no run of (the comparison
/// would hold one mode's figures against another's), or, with `--max-regression`, a plan that differs from the
/// baseline's (unless `--allow-plan-change`).
fn hold_plan_to_baseline(plan: &Plan, baseline: &RunResult, name: &str) -> Result<(), Failure> {
    let in_baseline = |mode: &Mode| baseline.runs.iter().any(|r| r.mode == *mode);
    // `all` runs multiplex only where the target speaks HTTP/2: a baseline without it may be of such a target.
    let missing: Vec<&str> = (plan.modes.iter())
        .filter(|&mode| !(in_baseline(mode) || *mode == Mode::Multiplex && plan.multiplex_if_spoken))
        .map(|mode| mode.name())
        .collect();
    if !missing.is_empty() {
        let has = baseline.runs.iter().map(|r| r.mode.name()).collect::<Vec<_>>().join(", ");
        return Err(Failure::Usage(format!(
            "{name} has no {} run (it has {has}): its figures would be held against another mode's; run its modes, \
             or compare two results with connbench compare",
            missing.join(" or ")
        )));
    }
    if plan.max_regression.is_some() && !plan.allow_plan_change {
        let changes = describe::plan_changes(baseline, &crate::measure::as_planned(plan));
        if !changes.is_empty() {
            return Err(Failure::Usage(compare::gate_refused(name, "this run", &changes)));
        }
    }
    Ok(())
}

/// Evaluates `--check` and `--baseline` and prints the verdicts for people where they read; returns what
/// failed, why the regression gate was refused (the plans turned out to differ: a TLS version, say), and
/// whether the printing failed.
fn hold_to_gates(
    plan: &Plan,
    baseline: Option<&RunResult>,
    result: &RunResult,
    people: Stream,
) -> (Vec<String>, Option<String>, Result<(), Failure>) {
    let rows = gate::evaluate(&plan.checks, &result.runs);
    let mut failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.passed)
        .map(|row| format!("{} {} (measured {})", row.mode, row.check, row.measured))
        .collect();
    let mut refused = None;
    let comparison = match (baseline, &plan.baseline) {
        (Some(baseline), Some(path)) => {
            let name = path.display().to_string();
            let mut comparison = compare::compare(&name, baseline, "this run", result, plan.max_regression);
            if plan.max_regression.is_some() && !comparison.plan_changes.is_empty() && !plan.allow_plan_change {
                refused = Some(compare::gate_refused(&baseline_name(path), "this run", &comparison.plan_changes));
                comparison = compare::compare(&name, baseline, "this run", result, None);
            }
            Some(comparison)
        }
        _ => None,
    };
    failed.extend(comparison.iter().flat_map(compare::Comparison::regressions));
    let verdicts = |people: &mut dyn Write| {
        if !rows.is_empty() {
            writeln!(people)?;
            gate::write_rows(&rows, people)?;
        }
        if let Some(comparison) = &comparison {
            writeln!(people)?;
            compare::write_text(comparison, people)?;
        }
        people.flush()
    };
    (failed, refused, print_to(people, verdicts))
}

//! `connbench compare A B`: two saved results side by side (`report::compare` does the math).

use super::{load_result, print, verdict, Failure};
use crate::cli::{CompareArgs, CompareFormatArg};
use crate::record::result::RunResult;
use crate::report::compare;

/// `connbench compare A B`: every figure side by side; exit 1 on a regression beyond `--max-regression`.
pub fn compare(args: &CompareArgs) -> Result<(), Failure> {
    let (a, b) = (load_result(&args.a, "A")?, load_result(&args.b, "B")?);
    let (a_name, b_name) = (args.a.display().to_string(), args.b.display().to_string());
    let modes = |r: &RunResult| r.runs.iter().map(|m| m.mode).collect::<Vec<_>>();
    if let Some(why) = compare::nothing_in_common(&a_name, &modes(&a), &b_name, &modes(&b)) {
        return Err(Failure::Usage(why));
    }
    let comparison = compare::compare(&a_name, &a, &b_name, &b, args.max_regression);
    if args.max_regression.is_some() && !comparison.plan_changes.is_empty() && !args.allow_plan_change {
        return Err(Failure::Usage(compare::gate_refused(&a_name, &b_name, &comparison.plan_changes)));
    }
    let printed = print(|out| match args.format {
        CompareFormatArg::Text => compare::write_text(&comparison, out),
        CompareFormatArg::Markdown => compare::write_markdown(&comparison, out),
        CompareFormatArg::Json => compare::write_json(&comparison, out),
    });
    let regressions = comparison.regressions();
    let gate = (!regressions.is_empty()).then(|| format!("regression: {}", regressions.join("; ")));
    verdict(gate, vec![printed])
}

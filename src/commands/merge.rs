//! `connbench merge`: shards' or machines' results of one plan as one (`record::merge` does the adding).

use super::{deliver, load_result, Failure};
use crate::cli::MergeArgs;
use crate::output::OutputFile;
use crate::plan::Format;
use crate::record::result::RunResult;
use crate::report::{self, Look};

/// `connbench merge A B … [-o OUT]`: one result from several machines' results of the same plan.
pub fn merge(args: &MergeArgs) -> Result<(), Failure> {
    let output = args.output.as_deref().map(OutputFile::open).transpose().map_err(Failure::Usage)?;
    let mut loaded = Vec::new();
    for path in &args.files {
        loaded.push((path.display().to_string(), load_result(path, "merge")?));
    }
    let inputs: Vec<(&str, &RunResult)> = loaded.iter().map(|(name, r)| (name.as_str(), r)).collect();
    let merged = crate::record::merge::merge(&inputs).map_err(|e| Failure::Usage(format!("cannot merge: {e}")))?;
    match (output, &args.output) {
        (Some(output), Some(path)) => {
            output.write(&merged).map_err(Failure::Usage)?;
            let requests: u64 = merged.runs.iter().map(|r| r.requests).sum();
            eprintln!("connbench: merged {} results ({requests} requests) into {}", inputs.len(), path.display());
        }
        _ => deliver("the merged result", |mut out| report::write(Format::Json, &merged, Look::PLAIN, &mut out))?,
    }
    Ok(())
}

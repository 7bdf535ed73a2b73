/*!
One file per command (docs/design.md §1): each turns its parsed arguments into work and its outcome into
`Failure` or success; `main` maps that to the exit code. What they share lives here: the failure kinds, where
output for people goes, and reading a saved result.

- `run`: profile -> plan -> `measure` -> report -> `-o` -> gates;
- `compare`, `merge`, `report`: saved results read, combined or rendered again;
- `serve`: the embedded server on its own; `ports`: port capacity now;
- `page`: a page and its objects loaded with each strategy (`crate::page`).
*/

pub mod compare;
pub mod merge;
pub mod page;
pub mod ports;
pub mod report;
pub mod run;
pub mod serve;

use std::io::Write;

use crate::record::result::{RunResult, SCHEMA_VERSION};

/// Why a command produced no result.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The run could not be made: bad input or an unreachable target (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The run was made and printed, but a `--check` or the regression gate failed (exit 1).
    #[error("{0}")]
    Gate(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where a report goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub(crate) fn is_terminal(self) -> bool {
        use std::io::IsTerminal;
        match self {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Writes a report to stdout. A reader that has gone (`connbench run | head`) made its choice: what it did
/// not read is not a failure, and what follows (the `-o` file, the gates and their exit code) still happens.
/// Any other failure (`> /dev/full`) names stdout.
pub(crate) fn print(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), Failure> {
    print_to(Stream::Stdout, write)
}

pub(crate) fn print_to(
    stream: Stream,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Failure> {
    match write_to(stream, write) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written.map_err(|e| Failure::Usage(format!("{}: {e}", stream.name()))),
    }
}

/// Writes what is a command's only output (`merge`'s result) to stdout: a reader that has gone took the
/// result with it, which is a failure like any other, named.
pub(crate) fn deliver(what: &str, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), Failure> {
    write_to(Stream::Stdout, write).map_err(|e| Failure::Usage(format!("stdout: {e}: {what} was not written")))
}

fn write_to(stream: Stream, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    match stream {
        Stream::Stdout => {
            let mut stdout = std::io::stdout().lock();
            write(&mut stdout).and_then(|()| stdout.flush())
        }
        Stream::Stderr => {
            let mut stderr = std::io::stderr().lock();
            write(&mut stderr).and_then(|()| stderr.flush())
        }
    }
}

/// How a command that printed, wrote and judged ends: a failed gate (`gate`, exit 1) is the verdict even when
/// a write failed, as CI must not read a regression as a full disk; each failed write is still said. A failed
/// write alone is exit 2.
pub(crate) fn verdict(gate: Option<String>, writes: Vec<Result<(), Failure>>) -> Result<(), Failure> {
    // The report and the verdicts after it fail alike on a full stdout: said once.
    let mut failures: Vec<Failure> = Vec::new();
    for failure in writes.into_iter().filter_map(Result::err) {
        if !failures.iter().any(|said| said.to_string() == failure.to_string()) {
            failures.push(failure);
        }
    }
    let mut failed = failures.into_iter();
    match (gate, failed.next()) {
        (None, None) => Ok(()),
        (None, Some(first)) => {
            failed.for_each(|later| eprintln!("connbench: {later}"));
            Err(first)
        }
        (Some(gate), first) => {
            first.into_iter().chain(failed).for_each(|write| eprintln!("connbench: {write}"));
            Err(Failure::Gate(gate))
        }
    }
}

/// Reads a saved result, whole and checked (`record::validate`), so that no command adds, compares or prints a
/// figure no run can produce; `what` says which argument it came from.
pub(crate) fn load_result(path: &std::path::Path, what: &str) -> Result<RunResult, Failure> {
    use crate::printable::printable;
    let name = path.display();
    let fail = |why: String| Failure::Usage(format!("{what} {name}: {why}"));
    let bytes = crate::input::read(path, crate::input::Kind::Result).map_err(fail)?;
    // The version first, from a parse that keeps nothing else: a result of another schema may not parse as
    // this one, and should say so rather than name a field.
    #[derive(serde::Deserialize)]
    struct Version {
        schema_version: Option<serde_json::Value>,
    }
    let version = match serde_json::from_slice::<Version>(&bytes) {
        Ok(version) => version.schema_version,
        Err(e) if matches!(e.classify(), serde_json::error::Category::Data) => None,
        Err(e) => return Err(fail(format!("not JSON: {e}"))),
    };
    if version.as_ref().and_then(|v| v.as_u64()) != Some(u64::from(SCHEMA_VERSION)) {
        return Err(fail(format!("not a connbench result of schema_version {SCHEMA_VERSION}")));
    }
    let mut result: RunResult = serde_json::from_slice(&bytes)
        .map_err(|e| fail(format!("not a connbench result: {}", printable(&e.to_string()))))?;
    crate::record::validate::validate(&result).map_err(fail)?;
    crate::record::fill_in_percentiles(&mut result);
    Ok(result)
}

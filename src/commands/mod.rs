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
}

/// Writes to stdout. A reader that has gone (`connbench run | head`) made its choice: what it did not
/// read is not a failure, and what follows (the `-o` file, the gates and their exit code) still happens.
pub(crate) fn print(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    print_to(Stream::Stdout, write)
}

pub(crate) fn print_to(
    stream: Stream,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let written = match stream {
        Stream::Stdout => {
            let mut stdout = std::io::stdout().lock();
            write(&mut stdout).and_then(|()| stdout.flush())
        }
        Stream::Stderr => {
            let mut stderr = std::io::stderr().lock();
            write(&mut stderr).and_then(|()| stderr.flush())
        }
    };
    unless_reader_gone(written)
}

fn unless_reader_gone(written: std::io::Result<()>) -> std::io::Result<()> {
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Reads a saved result; `what` says which argument it came from.
pub(crate) fn load_result(path: &std::path::Path, what: &str) -> Result<RunResult, Failure> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("{what} {name}: {e}")))?;
    let version: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Failure::Usage(format!("{what} {name}: not JSON: {e}")))?;
    if version.get("schema_version").and_then(|v| v.as_u64()) != Some(u64::from(SCHEMA_VERSION)) {
        return Err(Failure::Usage(format!(
            "{what} {name}: not a connbench result of schema_version {SCHEMA_VERSION}"
        )));
    }
    serde_json::from_value(version).map_err(|e| Failure::Usage(format!("{what} {name}: not a connbench result: {e}")))
}

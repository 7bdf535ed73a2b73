/*!
The JSON result file of `-o` (`run`, `merge` and `page`). It is opened before any work, so a path that cannot
be written costs no load and exits 2 at once; it is written last, after the report was printed, so a
full disk loses the file but never the report. Every error names the file. `-o -` is stdout: the result's
only copy, so a reader that has gone is a failure there, not a choice.

A file is written beside its path under a temporary name and renamed over it once whole: a run killed
mid-way (SIGKILL, a second Ctrl-C) leaves the earlier result, or nothing, never an empty or half-written
file at the path. A device (`/dev/stdout`, `/dev/full`) is written in place.
*/

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// An `-o` file opened for the result to come.
#[derive(Debug)]
pub struct OutputFile {
    /// As given, for messages.
    path: PathBuf,
    target: Target,
}

#[derive(Debug)]
enum Target {
    Stdout,
    /// A device or a pipe, opened at its path.
    InPlace(Option<File>),
    /// A regular file (or none yet): the temporary file beside it, renamed over `path` once written; None
    /// once written.
    Replace {
        temporary: Option<(PathBuf, File)>,
        path: PathBuf,
    },
}

/// The path that means stdout.
const STDOUT: &str = "-";

impl OutputFile {
    /// Checks that the file can be written, without touching it: an earlier result stays until this one
    /// replaces it.
    pub fn open(path: &Path) -> Result<OutputFile, String> {
        let named = |e| name(path, e);
        let target = if path == Path::new(STDOUT) {
            Target::Stdout
        } else if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            Target::InPlace(Some(OpenOptions::new().write(true).open(path).map_err(named)?))
        } else {
            // Writing an existing file is asked of the file, as `>` would; a symlink is followed, so the
            // rename replaces what it points to rather than the link.
            let (real, permissions) = match std::fs::canonicalize(path) {
                Ok(real) => {
                    let file = OpenOptions::new().write(true).open(&real).map_err(named)?;
                    (real, file.metadata().ok().map(|m| m.permissions()))
                }
                Err(_) => (path.to_path_buf(), None),
            };
            let file_name =
                real.file_name().ok_or_else(|| format!("-o/--output {}: not a file name", path.display()))?;
            let temporary =
                real.with_file_name(format!(".{}.connbench-{}.tmp", file_name.to_string_lossy(), std::process::id()));
            let file = OpenOptions::new().write(true).create_new(true).open(&temporary).map_err(named)?;
            // The file that replaces an earlier one keeps its mode.
            if let Some(Err(e)) = permissions.map(|p| file.set_permissions(p)) {
                let _ = std::fs::remove_file(&temporary);
                return Err(named(e));
            }
            Target::Replace { temporary: Some((temporary, file)), path: real }
        };
        Ok(OutputFile { path: path.to_path_buf(), target })
    }

    /// `-o -`: the result takes stdout, and the report goes to stderr.
    pub fn is_stdout(&self) -> bool {
        matches!(self.target, Target::Stdout)
    }

    /// Writes `result` as `--format json` prints it: pretty, then a newline.
    pub fn write(mut self, result: &impl serde::Serialize) -> Result<(), String> {
        let json = |out: &mut dyn Write| {
            serde_json::to_writer_pretty(&mut *out, result)?;
            writeln!(out)
        };
        let written = match &mut self.target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                json(&mut out).and_then(|()| out.flush())
            }
            Target::InPlace(file) => {
                let mut out = BufWriter::new(file.take().expect("an OutputFile is written once"));
                json(&mut out).and_then(|()| out.flush())
            }
            Target::Replace { temporary, path } => {
                let (temporary_path, file) = temporary.take().expect("an OutputFile is written once");
                let mut out = BufWriter::new(file);
                let written =
                    json(&mut out).and_then(|()| out.flush()).and_then(|()| std::fs::rename(&temporary_path, &*path));
                if written.is_err() {
                    let _ = std::fs::remove_file(&temporary_path);
                }
                written
            }
        };
        written.map_err(|e| name(&self.path, e))
    }
}

impl Drop for OutputFile {
    /// A result never written leaves no temporary file behind.
    fn drop(&mut self) {
        if let Target::Replace { temporary: Some((temporary, _)), .. } = &self.target {
            let _ = std::fs::remove_file(temporary);
        }
    }
}

fn name(path: &Path, error: std::io::Error) -> String {
    if path == Path::new(STDOUT) {
        format!("-o/--output - (stdout): {error}: the result was not written")
    } else {
        format!("-o/--output {}: {error}", path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::result::{fixture, RunResult};

    #[test]
    fn a_file_that_cannot_be_created_is_named_before_anything_is_written() {
        let err = OutputFile::open(Path::new("/nonexistent/dir/out.json")).unwrap_err();
        assert!(err.starts_with("-o/--output /nonexistent/dir/out.json: "), "{err}");
    }

    #[test]
    fn a_full_device_is_named_when_written() {
        let output = OutputFile::open(Path::new("/dev/full")).unwrap();
        let err = output.write(&fixture::run_result(vec![])).unwrap_err();
        assert!(err.starts_with("-o/--output /dev/full: ") && err.contains("No space left"), "{err}");
    }

    #[test]
    fn an_unwritten_new_file_is_removed_and_a_written_one_replaces_the_old() {
        let dir = std::env::temp_dir().join(format!("connbench-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.json");
        drop(OutputFile::open(&path).unwrap());
        assert!(!path.exists(), "a run that never wrote leaves no empty file behind");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "and no temporary file");
        std::fs::write(&path, "x".repeat(100_000)).unwrap();
        OutputFile::open(&path).unwrap().write(&fixture::run_result(vec![])).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(serde_json::from_str::<RunResult>(&text).is_ok(), "the old bytes are gone: {}", &text[..50]);
        // while a run is measuring, the earlier result is whole at the path; the new one keeps its mode
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let output = OutputFile::open(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        output.write(&fixture::run_result(vec![])).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "the temporary file became the result");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

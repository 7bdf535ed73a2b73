/*!
The JSON result file of `-o` (`run`, `merge` and `page`). It is opened before any work, so a path that cannot
be written costs no load and exits 2 at once; it is written last, after the report was printed, so a
full disk loses the file but never the report. Every error names the file. `-o -` is stdout.
*/

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// An `-o` file opened for the result to come.
#[derive(Debug)]
pub struct OutputFile {
    path: PathBuf,
    /// None once written.
    file: Option<File>,
    /// The file did not exist before: if nothing is ever written to it, it is removed again.
    created: bool,
}

/// The path that means stdout.
const STDOUT: &str = "-";

impl OutputFile {
    /// Opens (or creates) the file without emptying it: an earlier result stays until this one replaces it.
    pub fn open(path: &Path) -> Result<OutputFile, String> {
        if path == Path::new(STDOUT) {
            return Ok(OutputFile { path: path.to_path_buf(), file: None, created: false });
        }
        let created = !path.exists();
        let file = OpenOptions::new().write(true).create(true).truncate(false).open(path).map_err(|e| name(path, e))?;
        Ok(OutputFile { path: path.to_path_buf(), file: Some(file), created })
    }

    /// `-o -`: the result takes stdout, and the report goes to stderr.
    pub fn is_stdout(&self) -> bool {
        self.path == Path::new(STDOUT)
    }

    pub fn write(mut self, result: &impl serde::Serialize) -> Result<(), String> {
        if self.is_stdout() {
            let mut out = std::io::stdout().lock();
            let written = json(result, &mut out).and_then(|()| out.flush());
            // A reader that has gone (`| head`) made its choice.
            return match written {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(name(&self.path, e)),
                _ => Ok(()),
            };
        }
        let file = self.file.take().expect("an OutputFile is written once");
        let path = self.path.clone();
        let written = (|| {
            // A regular file loses what it held; a device (`/dev/stdout`, `/dev/full`) cannot be truncated.
            if file.metadata()?.is_file() {
                file.set_len(0)?;
            }
            let mut out = BufWriter::new(file);
            json(result, &mut out)?;
            out.flush()
        })();
        written.map_err(|e| name(&path, e))
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if self.file.take().is_some() && self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The result as `--format json` prints it: pretty, then a newline.
fn json(result: &impl serde::Serialize, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, result)?;
    writeln!(out)
}

fn name(path: &Path, error: std::io::Error) -> String {
    format!("-o/--output {}: {error}", path.display())
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
        std::fs::write(&path, "x".repeat(100_000)).unwrap();
        OutputFile::open(&path).unwrap().write(&fixture::run_result(vec![])).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(serde_json::from_str::<RunResult>(&text).is_ok(), "the old bytes are gone: {}", &text[..50]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

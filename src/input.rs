//! Files connbench reads whole (a request body, PEM certificates and keys, a profile, saved results, a targets
//! file, standard input for `--targets -`), each kind with the most it will read, so that `--body-file
//! /dev/zero` or a runaway file is refused with its name instead of filling the memory. Errors are the reason alone: the caller names the flag and the file.

use std::io::Read;
use std::path::Path;

/// What a file is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--body-file`: sent whole with every request.
    Body,
    /// `--cacert`, `serve --cert` and `--key`: a CA bundle is a few hundred kilobytes.
    Pem,
    /// `-p`: a TOML profile of a few dozen lines.
    Profile,
    /// A saved result (`--baseline`, `report`, `compare`, `merge`): about 2 MB per mode and hour of
    /// timeline, so a week of one mode fits.
    Result,
    /// `--targets`: requests, a JSON line with its base64 body each at most.
    Targets,
}

const MIB: u64 = 1 << 20;

impl Kind {
    /// The most bytes of such a file connbench reads.
    pub fn cap(self) -> u64 {
        match self {
            Kind::Body => 64 * MIB,
            Kind::Pem => 4 * MIB,
            Kind::Profile => MIB,
            Kind::Result => 512 * MIB,
            Kind::Targets => 64 * MIB,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Body => "a request body",
            Kind::Pem => "a PEM file",
            Kind::Profile => "a profile",
            Kind::Result => "a result",
            Kind::Targets => "a targets file",
        }
    }
}

/// The whole file, or why not: it cannot be read, or it holds more than `kind` allows.
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>, String> {
    read_at_most(path, kind.cap(), kind.what())
}

/// The whole file as UTF-8 text.
pub fn read_text(path: &Path, kind: Kind) -> Result<String, String> {
    String::from_utf8(read(path, kind)?).map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

/// Standard input whole as UTF-8 text (`--targets -`), up to what `kind` allows.
pub fn read_stdin_text(kind: Kind) -> Result<String, String> {
    let bytes = read_up_to(std::io::stdin().lock(), kind.cap(), kind.what())?;
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

fn read_at_most(path: &Path, cap: u64, what: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    // A regular file says its size; a device or a pipe (`/dev/zero`, `<(yes)`) is read up to the cap.
    if file.metadata().is_ok_and(|m| m.is_file() && m.len() > cap) {
        return Err(too_large(cap, what));
    }
    read_up_to(file, cap, what)
}

fn read_up_to(source: impl Read, cap: u64, what: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    source.take(cap + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(too_large(cap, what));
    }
    Ok(bytes)
}

fn too_large(cap: u64, what: &str) -> String {
    format!("larger than {} MiB, the most connbench reads for {what}", cap / MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_past_its_cap_is_refused_whether_or_not_it_says_its_size() {
        let dir = std::env::temp_dir().join(format!("connbench-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("two-mib");
        std::fs::write(&path, vec![b'x'; 2 * MIB as usize]).unwrap();
        assert_eq!(read_at_most(&path, 2 * MIB, "it").unwrap().len(), 2 * MIB as usize, "the cap itself is allowed");
        let err = read_at_most(&path, MIB, "a profile").unwrap_err();
        assert_eq!(err, "larger than 1 MiB, the most connbench reads for a profile");
        // a sparse file of 1 GiB is refused by its size, without reading it
        let sparse = dir.join("sparse");
        std::fs::File::create(&sparse).unwrap().set_len(1 << 30).unwrap();
        assert!(read(&sparse, Kind::Profile).unwrap_err().starts_with("larger than 1 MiB"));
        // a device has no size: read up to the cap, and refused past it
        assert!(read(Path::new("/dev/zero"), Kind::Profile).unwrap_err().starts_with("larger than 1 MiB"));
        assert!(read(Path::new("/nonexistent/x"), Kind::Pem).unwrap_err().contains("No such file"));
        std::fs::write(&path, b"\xff\xfe").unwrap();
        assert_eq!(read_text(&path, Kind::Profile).unwrap_err(), "not UTF-8 text (byte 0)");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

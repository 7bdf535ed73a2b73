//! Leaf vocabulary, like `mode` and `check`: the notes a run keeps beside its figures (docs/design.md §5).
//! The plan makes some and the measurement others, and every writer prints them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::mode::Mode;

/// A warning or a note about a run, kept as data so that `report`, `merge`, the HTML page and CI logs carry
/// it (docs/design.md §5), not printed once to stderr and lost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Note {
    pub kind: NoteKind,
    /// The mode it is about; absent when it is about the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// One sentence for people: what happened, and what to do about it where something can be done.
    pub text: String,
    /// The figures the text states, by name, for scripts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub figures: BTreeMap<String, f64>,
}

/// What a note is about, so that a script can look for one kind without reading the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// The plan differs from what was typed (-c above -n; a non-idempotent method not pipelined).
    Plan,
    /// `-k/--insecure`: certificates were not verified.
    Insecure,
    /// `--mode all` left multiplex out: the target does not speak HTTP/2.
    ModeSkipped,
    /// `--start-at` was already past.
    StartAt,
    /// A tuple passed a share of its ports, or `--port-policy fail` stopped the mode.
    Ports,
    /// Connections failed for want of file descriptors.
    FdLimit,
    /// No response parsed: the target is probably not an HTTP server.
    NotHttp,
    /// The HTTP/2 server allowed fewer concurrent streams than `--depth`.
    StreamsCapped,
    /// `--rate`: requests started late or were never sent.
    Pacing,
    /// The server asked for a client certificate, which connbench does not send.
    ClientCertificate,
    /// A per-connection limit learned from the server's early closes: what it capped, whether it held.
    KeepAlive,
    /// The server closed or reset connections without answering any request written on them.
    Unanswered,
    /// The server sent bytes no request asked for (a second response to one request).
    Unsolicited,
    /// A mode ran on another engine than `--engine` or its default asked: io_uring drives the HTTP/1.x modes
    /// only, and only where the kernel allows it.
    Engine,
    /// `merge`: the inputs ran at different times, so the merged rate is over a span that none of them filled.
    Merge,
    /// A kind written by a newer connbench: its text is still shown.
    #[serde(other)]
    Other,
}

impl Note {
    pub fn new(kind: NoteKind, mode: Option<Mode>, text: impl Into<String>) -> Note {
        Note { kind, mode, text: text.into(), figures: BTreeMap::new() }
    }

    /// With the figures the text states, by name.
    pub fn with(mut self, figures: &[(&str, f64)]) -> Note {
        self.figures.extend(figures.iter().map(|&(name, value)| (name.to_string(), value)));
        self
    }

    /// The note as one line for people: the mode it is about first. A note read from a file may say anything:
    /// its control characters and bidirectional overrides are shown as escapes.
    pub fn line(&self) -> String {
        let text = crate::printable::printable(&self.text);
        match self.mode {
            Some(mode) => format!("{}: {text}", mode.name()),
            None => text.into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_keeps_its_kind_mode_and_figures_and_a_newer_kind_still_loads() {
        let note = Note::new(NoteKind::Pacing, Some(Mode::Keepalive), "3 of 10 requests started late")
            .with(&[("late_starts", 3.0)]);
        let json = serde_json::to_string(&note).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"pacing","mode":"keepalive","text":"3 of 10 requests started late","figures":{"late_starts":3.0}}"#
        );
        assert_eq!(serde_json::from_str::<Note>(&json).unwrap(), note);
        assert_eq!(note.line(), "keepalive: 3 of 10 requests started late");
        let newer: Note = serde_json::from_str(r#"{"kind":"from_the_future","text":"still shown"}"#).unwrap();
        assert_eq!((newer.kind, newer.line().as_str()), (NoteKind::Other, "still shown"));
        let hostile = Note::new(NoteKind::Other, None, "\x1b[2Jgone");
        assert_eq!(hostile.line(), "\\u{1b}[2Jgone", "a file's note cannot drive the terminal");
    }
}

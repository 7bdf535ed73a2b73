/*!
Writers over a finished `RunResult`: pure functions into any `io::Write`, chosen by `Format`; and the
gate and compare math, apart from their printing (docs/design.md §6). `figures` defines every figure once
for the text, markdown, csv and html writers; `describe` says how a result was made (its request and
plan) under every report's title, and what differs between two plans; `hgrm` prints one histogram as HdrHistogram's tools read
it. `ports` is the report of `connbench ports`, over its own serde type.
*/

pub(crate) mod chart;
pub mod compare;
mod csv;
pub mod describe;
pub mod figures;
pub mod gate;
pub mod hgrm;
mod histogram;
mod html;
mod markdown;
pub mod ports;
mod targets;
mod text;

pub use figures::micros;

use std::io::{self, Write};

use crate::plan::Format;
use crate::record::result::RunResult;

/// How the text for people is dressed. The caller decides from where it goes: colour only on a
/// terminal and without `NO_COLOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    /// The histogram of total latency per mode (`--no-histogram` hides it).
    pub histogram: bool,
    pub colour: bool,
}

impl Look {
    /// For formats that are not for people's eyes on a terminal.
    pub const PLAIN: Look = Look { histogram: false, colour: false };
}

pub fn write(format: Format, result: &RunResult, look: Look, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Text => text::write(result, look, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, result)?;
            writeln!(out)
        }
        Format::Csv => csv::write(result, out),
        Format::Markdown => markdown::write(result, out),
        Format::Html => html::write(&[result], out),
    }
}

/// Several saved results, (file name, result) each (`connbench report A.json B.json`): csv under one header
/// and markdown in one table, each row naming its file, html on one page, text one after another.
pub fn write_all(format: Format, results: &[(&str, &RunResult)], look: Look, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Csv => {
            csv::write_header(out)?;
            results.iter().try_for_each(|(file, result)| csv::write_rows(result, file, out))
        }
        Format::Markdown => markdown::write_all(results, out),
        Format::Html => html::write(&results.iter().map(|(_, result)| *result).collect::<Vec<_>>(), out),
        Format::Text | Format::Json => {
            for (i, (_, result)) in results.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                write(format, result, look, out)?;
            }
            Ok(())
        }
    }
}

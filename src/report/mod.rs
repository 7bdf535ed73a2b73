/*!
Writers over a finished `RunResult`: pure functions into any `io::Write`, chosen by `Format`; and the
gate and compare math, apart from their printing (docs/design.md §6). `figures` defines every figure once
for the text, markdown, csv and html writers; `hgrm` prints one histogram as HdrHistogram's tools read
it. `ports` is the report of `connbench ports`, over its own serde type.
*/

pub(crate) mod chart;
pub mod compare;
mod csv;
pub mod figures;
pub mod gate;
pub mod hgrm;
mod histogram;
mod html;
mod markdown;
pub mod ports;
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

/// Several saved results, one after another (`connbench report A.json B.json`): csv under one header,
/// html on one page, text and markdown separated by a blank line.
pub fn write_all(format: Format, results: &[&RunResult], look: Look, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Csv => {
            csv::write_header(out)?;
            results.iter().try_for_each(|result| csv::write_rows(result, out))
        }
        Format::Html => html::write(results, out),
        _ => {
            for (i, result) in results.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                write(format, result, look, out)?;
            }
            Ok(())
        }
    }
}

/*!
Writers over a finished `RunResult`: pure functions into any `io::Write`, chosen by `Format`; and the
gate and compare math, apart from their printing (DESIGN.md §6). `ports` is the report of
`connbench ports`, over its own serde type.
*/

pub mod compare;
mod csv;
pub mod gate;
mod markdown;
pub mod ports;
mod text;

pub use text::micros;

use std::io::{self, Write};

use crate::plan::Format;
use crate::record::result::RunResult;

pub fn write(format: Format, result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Text => text::write(result, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, result)?;
            writeln!(out)
        }
        Format::Csv => csv::write(result, out),
        Format::Markdown => markdown::write(result, out),
    }
}

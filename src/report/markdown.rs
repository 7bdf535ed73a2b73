//! `--format markdown`: one table, a row per mode, that a pull-request comment or a GitHub job
//! summary can carry as it is.

use std::io::{self, Write};

use crate::record::result::{Hist, ModeResult, RunResult};
use crate::report::text::micros;

pub fn write(result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    let status = if result.complete { "" } else { " (interrupted: partial results)" };
    writeln!(out, "**connbench {}** `{}`{status}", result.tool.version, result.target)?;
    writeln!(out)?;
    // https adds the TLS handshake beside connect, and the handshakes that resumed.
    let tls = result.runs.iter().any(|r| r.tls.is_some());
    let (tls_head, tls_rule) = if tls { (" tls p50 | tls resumed |", " ---: | ---: |") } else { ("", "") };
    writeln!(
        out,
        "| mode | connections | requests | requests/s | errors | non-2xx | connections opened | connect p50 |{tls_head} \
         ttfb p50 | total p50 | total p99 | total max |"
    )?;
    writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |{tls_rule} ---: | ---: | ---: | ---: |")?;
    for run in &result.runs {
        let l = &run.latency;
        let tls_cells = match (tls, &l.tls, &run.tls) {
            (false, ..) => String::new(),
            (true, Some(h), Some(t)) => {
                format!(" {} | {}/{} |", stat(h, h.p50_us), t.handshakes_resumed, run.connections_opened)
            }
            (true, ..) => " - | - |".into(),
        };
        writeln!(
            out,
            "| {} | {} | {} | {:.1} | {} | {} | {} | {} |{tls_cells} {} | {} | {} | {} |",
            run.mode.name(),
            run.connections,
            run.requests,
            run.rps,
            run.errors.total(),
            non_2xx(run),
            run.connections_opened,
            stat(&l.connect, l.connect.p50_us),
            stat(&l.ttfb, l.ttfb.p50_us),
            stat(&l.total, l.total.p50_us),
            stat(&l.total, l.total.p99_us),
            stat(&l.total, l.total.max_us),
        )?;
    }
    Ok(())
}

/// Bold when there are any: a table of fast, error-free 503s must not read as a success.
fn non_2xx(run: &ModeResult) -> String {
    match run.status.non_2xx() {
        0 => "0".into(),
        n => format!("**{n}**"),
    }
}

fn stat(h: &Hist, us: u64) -> String {
    if h.count == 0 {
        "-".into()
    } else {
        micros(us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::record::result::fixture;

    #[test]
    fn a_table_with_a_row_per_mode() {
        let mut pipeline = fixture::mode_result(Mode::Pipeline);
        (pipeline.requests, pipeline.rps) = (20000, 71279.66);
        pipeline.status.s5xx = 3;
        pipeline.latency.total = Hist { count: 20000, p50_us: 4490, p99_us: 7760, max_us: 9490, ..Hist::default() };
        let result = fixture::run_result(vec![fixture::mode_result(Mode::Serial), pipeline]);
        let mut out = Vec::new();
        write(&result, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let table: Vec<_> = text.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(table.len(), 4, "{text}");
        let columns = table[0].matches('|').count();
        assert!(table.iter().all(|l| l.matches('|').count() == columns), "{text}");
        assert_eq!(table[3], "| pipeline | 1 | 20000 | 71279.7 | 0 | **3** | 0 | - | - | 4.49ms | 7.76ms | 9.49ms |");
    }
}

//! `--format csv`: one header line and one row per mode, latencies in whole microseconds, for
//! spreadsheets and `cut`/`awk`. Every cell is a number or a mode name, so nothing needs quoting.

use std::io::{self, Write};

use crate::record::result::{Hist, ModeResult, RunResult};

type PhasePick = fn(&ModeResult) -> &Hist;

// NOTE: the column names are a contract for scripts; add columns at the end, never rename.
const PHASES: [(&str, PhasePick); 4] = [
    ("connect", |r| &r.latency.connect),
    ("ttfb", |r| &r.latency.ttfb),
    ("transfer", |r| &r.latency.transfer),
    ("total", |r| &r.latency.total),
];

pub fn write(result: &RunResult, out: &mut impl Write) -> io::Result<()> {
    write!(out, "mode,connections,requests,rps,errors,connections_opened")?;
    for (phase, _) in PHASES {
        write!(out, ",{phase}_p50_us,{phase}_p90_us,{phase}_p99_us,{phase}_max_us")?;
    }
    // https only; the cells are empty for http.
    write!(out, ",tls_p50_us,tls_p90_us,tls_p99_us,tls_max_us,tls_handshakes_full,tls_handshakes_resumed")?;
    writeln!(out)?;
    for run in &result.runs {
        write!(
            out,
            "{},{},{},{:.1},{},{}",
            run.mode.name(),
            run.connections,
            run.requests,
            run.rps,
            run.errors.total(),
            run.connections_opened
        )?;
        for (_, pick) in PHASES {
            let h = pick(run);
            write!(out, ",{},{},{},{}", h.p50_us, h.p90_us, h.p99_us, h.max_us)?;
        }
        match (&run.latency.tls, &run.tls) {
            (Some(h), Some(tls)) => write!(
                out,
                ",{},{},{},{},{},{}",
                h.p50_us, h.p90_us, h.p99_us, h.max_us, tls.handshakes_full, tls.handshakes_resumed
            )?,
            _ => write!(out, ",,,,,,")?,
        }
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::record::result::fixture;

    #[test]
    fn a_header_and_one_row_per_mode() {
        let mut keepalive = fixture::mode_result(Mode::Keepalive);
        (keepalive.requests, keepalive.rps, keepalive.connections_opened) = (1000, 60599.64, 4);
        keepalive.latency.total = Hist { p50_us: 40, p90_us: 60, p99_us: 90, max_us: 400, ..Hist::default() };
        let result = fixture::run_result(vec![fixture::mode_result(Mode::Serial), keepalive]);
        let mut out = Vec::new();
        write(&result, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let header: Vec<_> = lines[0].split(',').collect();
        assert_eq!(header.len(), 6 + 16 + 6);
        assert_eq!(header[..6], ["mode", "connections", "requests", "rps", "errors", "connections_opened"]);
        assert_eq!(header[18..22], ["total_p50_us", "total_p90_us", "total_p99_us", "total_max_us"]);
        assert_eq!(header[22..24], ["tls_p50_us", "tls_p90_us"]);
        assert!(lines[2].starts_with("keepalive,1,1000,60599.6,0,4,"), "{}", lines[2]);
        assert!(lines[2].ends_with(",40,60,90,400,,,,,,"), "{}", lines[2]);
        assert!(lines.iter().all(|l| l.split(',').count() == header.len()));
    }
}

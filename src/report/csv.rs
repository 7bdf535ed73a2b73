//! `--format csv`: one header line and one row per mode, latencies in whole microseconds, for
//! spreadsheets and `cut`/`awk`. Every cell is a number or a mode name, so nothing needs quoting; a
//! phase without samples (no reused connection in serial mode) has empty cells, never a 0 that reads as
//! a measured latency.

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
    write!(out, ",status_1xx,status_2xx,status_3xx,status_4xx,status_5xx,status_other,non_2xx")?;
    // https only; the cells are empty for http.
    writeln!(out, ",tls_p50_us,tls_p90_us,tls_p99_us,tls_max_us,tls_handshakes_full,tls_handshakes_resumed")?;
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
            match pick(run) {
                h if h.count == 0 => write!(out, ",,,,")?,
                h => write!(out, ",{},{},{},{}", h.p50_us, h.p90_us, h.p99_us, h.max_us)?,
            }
        }
        let s = &run.status;
        write!(out, ",{},{},{},{},{},{},{}", s.s1xx, s.s2xx, s.s3xx, s.s4xx, s.s5xx, s.other, s.non_2xx())?;
        match (&run.latency.tls, &run.tls) {
            (Some(h), Some(tls)) => writeln!(
                out,
                ",{},{},{},{},{},{}",
                h.p50_us, h.p90_us, h.p99_us, h.max_us, tls.handshakes_full, tls.handshakes_resumed
            )?,
            _ => writeln!(out, ",,,,,,")?,
        }
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
        keepalive.latency.total =
            Hist { count: 1000, p50_us: 40, p90_us: 60, p99_us: 90, max_us: 400, ..Hist::default() };
        keepalive.status.s2xx = 999;
        keepalive.status.other = 1;
        let result = fixture::run_result(vec![fixture::mode_result(Mode::Serial), keepalive]);
        let mut out = Vec::new();
        write(&result, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let header: Vec<_> = lines[0].split(',').collect();
        assert_eq!(header.len(), 6 + 16 + 7 + 6);
        assert_eq!(header[..6], ["mode", "connections", "requests", "rps", "errors", "connections_opened"]);
        assert_eq!(header[18..22], ["total_p50_us", "total_p90_us", "total_p99_us", "total_max_us"]);
        assert_eq!(
            header[22..29],
            ["status_1xx", "status_2xx", "status_3xx", "status_4xx", "status_5xx", "status_other", "non_2xx"]
        );
        assert!(lines[2].starts_with("keepalive,1,1000,60599.6,0,4,"), "{}", lines[2]);
        assert!(lines[2].ends_with(",40,60,90,400,0,999,0,0,0,1,1,,,,,,"), "{}", lines[2]);
        // https columns come last, empty for http
        assert_eq!(header[29..31], ["tls_p50_us", "tls_p90_us"]);
        // phases without samples are empty cells, not 0 µs
        assert!(lines[2].starts_with("keepalive,1,1000,60599.6,0,4,,,,,,,,,,,,,40,"), "{}", lines[2]);
        assert!(lines.iter().all(|l| l.split(',').count() == header.len()));
    }
}

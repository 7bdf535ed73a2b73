//! The report of `connbench ports` (docs/design.md §1, §4): the serde type that `--format json` prints,
//! and the text writer and occupancy warnings over it. Pure: the figures come from `commands/ports.rs`.
//!
// NOTE: the JSON names are a contract (scripts read them); add fields, never rename them.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use crate::net::ports::{occupancy_warning, Tuple, TIME_WAIT_SECS};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortsReport {
    pub ip_local_port_range: [u16; 2],
    /// The range less `ip_local_reserved_ports` inside it.
    pub ports_per_tuple: u32,
    /// How long a client-first close holds its port for these tuples (1 where tw_reuse applies).
    pub time_wait_secs: u32,
    pub tcp_tw_reuse: u8,
    pub tuples: Vec<TupleRow>,
    /// New connections/s the tuples sustain with client-first closes; null without a URL.
    pub sustainable_conn_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// ⌈rate × time_wait_secs / ports_per_tuple⌉, with `--rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ips_needed: Option<u64>,
    /// With a URL: `auto`, `kernel` or `list`, as `--source-ip` chose the tuples (added field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// `auto`: how many more client IPs `run` may add beyond the tuples listed, each probe-bound first
    /// (added field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_client_ips: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TupleRow {
    pub client_ip: String,
    /// `ip:port` (`[v6]:port`).
    pub server: String,
    /// The kernel's TIME_WAIT sockets: a fact, each kept 60 s, which withhold their ports from connect()
    /// only where tw_reuse does not apply.
    pub time_wait: u64,
    pub established: u64,
    /// Ports a new connection could take now. Where tw_reuse applies (time_wait_secs 1) only open
    /// connections count against it: connect() takes over a TIME_WAIT port after a second.
    pub free: u64,
}

pub fn write_json(report: &PortsReport, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

pub fn write_text(report: &PortsReport, out: &mut impl Write) -> io::Result<()> {
    let [low, high] = report.ip_local_port_range;
    let range = if low <= high { u32::from(high - low) + 1 } else { 0 };
    let reserved = range.saturating_sub(report.ports_per_tuple);
    writeln!(out, "port range       {low}-{high}: {} ports per tuple ({reserved} reserved)", report.ports_per_tuple)?;
    let reuse = match report.tcp_tw_reuse {
        0 => "off",
        1 => "on",
        2 => "loopback only",
        _ => "unknown value",
    };
    writeln!(out, "tcp_tw_reuse     {} ({reuse})", report.tcp_tw_reuse)?;
    if report.time_wait_secs < TIME_WAIT_SECS {
        writeln!(
            out,
            "TIME_WAIT        {TIME_WAIT_SECS} s, but tcp_tw_reuse lets connect() take the port after {} s here",
            report.time_wait_secs
        )?;
    } else {
        writeln!(out, "TIME_WAIT        {} s", report.time_wait_secs)?;
    }
    writeln!(out)?;
    if report.tuples.is_empty() {
        writeln!(out, "no tuple holds a TIME_WAIT port")?;
    } else {
        table(&report.tuples, out)?;
    }
    if let Some(rate) = report.sustainable_conn_rate {
        writeln!(out)?;
        writeln!(
            out,
            "sustainable new connections/s: {rate:.1} ({} ports / {} s x {} client IP{})",
            report.ports_per_tuple,
            report.time_wait_secs,
            report.tuples.len(),
            if report.tuples.len() == 1 { "" } else { "s" }
        )?;
    }
    if let (Some(rate), Some(needed)) = (report.rate, report.client_ips_needed) {
        writeln!(out, "--rate {rate}/s needs {needed} client IP{}", if needed == 1 { "" } else { "s" })?;
    }
    match report.more_client_ips {
        Some(0) => writeln!(
            out,
            "--source-ip auto: no other address toward this server on the route's interface; each one added \
             there would carry {:.1} more",
            per_ip_rate(report)
        )?,
        Some(more) => writeln!(
            out,
            "--source-ip auto: run adds up to {more} more client IPs as the rate needs them, {:.1} each",
            per_ip_rate(report)
        )?,
        None => {}
    }
    Ok(())
}

/// New connections/s one more client IP carries.
fn per_ip_rate(report: &PortsReport) -> f64 {
    f64::from(report.ports_per_tuple) / f64::from(report.time_wait_secs.max(1))
}

/// Columns as wide as their widest cell; addresses left-aligned, counts right-aligned.
fn table(rows: &[TupleRow], out: &mut impl Write) -> io::Result<()> {
    let header = ["client IP", "server", "kernel TIME_WAIT", "established", "free"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.client_ip.clone(),
                r.server.clone(),
                r.time_wait.to_string(),
                r.established.to_string(),
                r.free.to_string(),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &cells {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let [a, b, c, d, e] = width;
    let [h0, h1, h2, h3, h4] = header;
    writeln!(out, "{h0:<a$}  {h1:<b$}  {h2:>c$}  {h3:>d$}  {h4:>e$}")?;
    for [c0, c1, c2, c3, c4] in &cells {
        writeln!(out, "{c0:<a$}  {c1:<b$}  {c2:>c$}  {c3:>d$}  {c4:>e$}")?;
    }
    Ok(())
}

/// One line per tuple past half its ports, for stderr.
pub fn warnings(report: &PortsReport) -> Vec<String> {
    let capacity = u64::from(report.ports_per_tuple);
    report
        .tuples
        .iter()
        .filter_map(|row| {
            let tuple = Tuple { client: row.client_ip.parse().ok()?, server: row.server.parse().ok()? };
            occupancy_warning(tuple, capacity.saturating_sub(row.free), capacity)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> PortsReport {
        PortsReport {
            ip_local_port_range: [32768, 60999],
            ports_per_tuple: 28_222,
            time_wait_secs: 60,
            tcp_tw_reuse: 2,
            tuples: vec![
                TupleRow {
                    client_ip: "192.0.2.1".into(),
                    server: "192.0.2.10:80".into(),
                    time_wait: 15_000,
                    established: 12,
                    free: 13_210,
                },
                TupleRow {
                    client_ip: "192.0.2.100".into(),
                    server: "192.0.2.10:80".into(),
                    time_wait: 3,
                    established: 0,
                    free: 28_219,
                },
            ],
            sustainable_conn_rate: Some(940.7),
            rate: Some(5000.0),
            client_ips_needed: Some(11),
            source_ip: Some("list".into()),
            more_client_ips: None,
        }
    }

    #[test]
    fn text_aligns_columns_and_says_the_arithmetic() {
        let mut out = Vec::new();
        write_text(&report(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = "\
port range       32768-60999: 28222 ports per tuple (10 reserved)
tcp_tw_reuse     2 (loopback only)
TIME_WAIT        60 s

client IP    server         kernel TIME_WAIT  established   free
192.0.2.1    192.0.2.10:80             15000           12  13210
192.0.2.100  192.0.2.10:80                 3            0  28219

sustainable new connections/s: 940.7 (28222 ports / 60 s x 2 client IPs)
--rate 5000/s needs 11 client IPs
";
        assert_eq!(text, expected);
    }

    #[test]
    fn without_a_url_the_text_says_when_nothing_is_held() {
        let empty = PortsReport {
            tuples: vec![],
            sustainable_conn_rate: None,
            rate: None,
            client_ips_needed: None,
            ..report()
        };
        let mut out = Vec::new();
        write_text(&empty, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("no tuple holds a TIME_WAIT port\n"), "{text}");
        // where tw_reuse applies, both lengths are said
        let loopback = PortsReport { time_wait_secs: 1, ..report() };
        let mut out = Vec::new();
        write_text(&loopback, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("TIME_WAIT        60 s, but tcp_tw_reuse lets connect() take the port after 1 s"),
            "{text}"
        );
    }

    /// The names themselves are checked on real output in tests/suite/ports.rs.
    #[test]
    fn json_reads_back_and_leaves_out_what_was_not_asked() {
        let mut out = Vec::new();
        write_json(&report(), &mut out).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        // round trip: the report is also what a script reads back
        assert_eq!(serde_json::from_value::<PortsReport>(json).unwrap(), report());
        // without --rate the two rate fields are absent, not null
        let plain = PortsReport { rate: None, client_ips_needed: None, ..report() };
        let text = serde_json::to_string(&plain).unwrap();
        assert!(!text.contains("\"rate\"") && !text.contains("client_ips_needed"), "{text}");
    }

    #[test]
    fn a_tuple_past_half_its_ports_is_warned_about() {
        let warnings = warnings(&report());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("192.0.2.1 -> 192.0.2.10:80 holds 15012 of its 28222 ports (53%)"),
            "{}",
            warnings[0]
        );
    }
}

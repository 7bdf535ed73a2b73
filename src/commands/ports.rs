/*!
The glue of `connbench ports` (docs/design.md §1, §4): URL and `--source-ip` -> the client IPs `run` would
start from (`net/clients.rs`, probe-bound) -> kernel settings and census -> `report::ports::PortsReport`
-> stdout, with occupancy warnings on stderr.

`run` resolves its own URL rather than through `plan`: any http or https URL names a server whose
ports can be counted, and no request is ever sent.
*/

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};

use super::Failure;
use crate::cli::{PortsArgs, PortsFormatArg};
use crate::net::census::{self, Census};
use crate::net::ports::{Settings, Tuple, TIME_WAIT_SECS};
use crate::net::source::SourceIps;
use crate::net::{clients, socket};
use crate::report::ports::{self as report, PortsReport, TupleRow};

/// How many tuples the census without a URL lists.
const TOP: usize = 20;

pub fn run(args: &PortsArgs) -> Result<(), Failure> {
    let settings = socket::port_settings();
    let report = match &args.url {
        Some(url) => for_server(args, url, &settings)?,
        None => time_wait_holders(&settings, &census::take()?),
    };
    for warning in report::warnings(&report) {
        eprintln!("connbench: {warning}");
    }
    let mut stdout = std::io::stdout().lock();
    match args.format {
        PortsFormatArg::Text => report::write_text(&report, &mut stdout)?,
        PortsFormatArg::Json => report::write_json(&report, &mut stdout)?,
    }
    stdout.flush()?;
    Ok(())
}

/// Each client IP with the URL's server: the capacity a run against it would have.
fn for_server(args: &PortsArgs, url: &str, settings: &Settings) -> Result<PortsReport, Failure> {
    let server = server_addr(url).map_err(Failure::Usage)?;
    let source_ips = match &args.source_ip {
        Some(text) => SourceIps::parse(text).map_err(Failure::Usage)?,
        None => SourceIps::Auto,
    };
    let clients = clients::resolve(&source_ips, server, None).map_err(Failure::Usage)?;
    // Taken after the checks, so a bad flag costs no dump.
    let census = census::take_toward(server)?;
    let tuples: Vec<Tuple> = clients.first.iter().map(|&client| Tuple { client, server }).collect();
    // Tuples of one server share a hold time unless loopback and real client IPs are mixed; the
    // longest one is the one to plan with.
    let hold = tuples.iter().map(|&t| settings.hold_secs(t)).max().unwrap_or(TIME_WAIT_SECS);
    let worst = tuples.iter().copied().find(|&t| settings.hold_secs(t) == hold);
    let rate = args.rate;
    Ok(PortsReport {
        ip_local_port_range: settings.port_range,
        ports_per_tuple: settings.ports_per_tuple(),
        time_wait_secs: hold,
        tcp_tw_reuse: settings.tw_reuse,
        tuples: tuples.iter().map(|&t| row(t, &census, settings)).collect(),
        sustainable_conn_rate: Some(settings.sustainable_rate(&tuples)),
        rate,
        client_ips_needed: rate.zip(worst).and_then(|(rate, t)| settings.ips_needed(rate, t)),
        source_ip: Some(clients.source.to_string()),
        more_client_ips: (source_ips == SourceIps::Auto).then_some(clients.reserve_len as u64),
    })
}

/// Without a URL: the tuples holding the most TIME_WAIT sockets now.
fn time_wait_holders(settings: &Settings, census: &Census) -> PortsReport {
    let mut holders: Vec<Tuple> = census.tuples.iter().filter(|(_, c)| c.time_wait > 0).map(|(&t, _)| t).collect();
    holders.sort_by_key(|&t| std::cmp::Reverse(census.get(t).time_wait));
    holders.truncate(TOP);
    PortsReport {
        ip_local_port_range: settings.port_range,
        ports_per_tuple: settings.ports_per_tuple(),
        time_wait_secs: TIME_WAIT_SECS,
        tcp_tw_reuse: settings.tw_reuse,
        tuples: holders.iter().map(|&t| row(t, census, settings)).collect(),
        sustainable_conn_rate: None,
        rate: None,
        client_ips_needed: None,
        source_ip: None,
        more_client_ips: None,
    }
}

fn row(tuple: Tuple, census: &Census, settings: &Settings) -> TupleRow {
    let counts = census.get(tuple);
    let held_by_time_wait = settings.time_wait_held(tuple, counts.time_wait);
    TupleRow {
        client_ip: tuple.client.to_string(),
        server: tuple.server.to_string(),
        time_wait: counts.time_wait,
        established: counts.established,
        free: u64::from(settings.ports_per_tuple()).saturating_sub(counts.established + held_by_time_wait),
    }
}

/// The server address of an http(s) URL, resolved; a URL `run` would refuse is refused alike.
fn server_addr(text: &str) -> Result<SocketAddr, String> {
    let url = crate::plan::parse_url(text)?;
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    // IPv6 literals come bracketed from the URL; the resolver wants them bare.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    (bare, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host '{host}' of {}: {e}", crate::plan::shown(&url)))?
        .next()
        .ok_or_else(|| format!("host '{host}' of {} has no address", crate::plan::shown(&url)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::census::{Counts, Via};

    #[test]
    fn urls_name_a_server() {
        assert_eq!(server_addr("http://127.0.0.1:8080/x").unwrap(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(server_addr("https://[::1]/").unwrap(), "[::1]:443".parse().unwrap());
        assert!(server_addr("ftp://127.0.0.1/").unwrap_err().contains("scheme 'ftp'"));
        assert!(server_addr("http://").unwrap_err().contains("URL 'http://'"));
        assert!(server_addr("http://127.0.0.1:0/").unwrap_err().contains("port 0 is not a port"));
    }

    #[test]
    fn free_counts_time_wait_only_where_it_holds_the_port() {
        let settings = Settings::new([1, 100], &[], 2, 1000);
        let real = Tuple { client: "192.0.2.1".parse().unwrap(), server: "192.0.2.10:80".parse().unwrap() };
        let lo = Tuple { client: "127.0.0.1".parse().unwrap(), server: "127.0.0.1:80".parse().unwrap() };
        let counts = Counts { time_wait: 30, established: 5 };
        let census = Census { via: Via::Proc, tuples: [(real, counts), (lo, counts)].into_iter().collect() };
        assert_eq!(row(real, &census, &settings).free, 65);
        assert_eq!(row(lo, &census, &settings).free, 95);
        assert_eq!(row(lo, &census, &settings).time_wait, 30);
    }

    #[test]
    fn the_census_without_a_url_lists_the_biggest_holders_first() {
        let settings = Settings::new([1, 100], &[], 0, 1000);
        let tuples = (0..30u8)
            .map(|i| {
                let t = Tuple {
                    client: format!("192.0.2.{i}").parse().unwrap(),
                    server: "192.0.2.200:80".parse().unwrap(),
                };
                (t, Counts { time_wait: u64::from(i), established: 1 })
            })
            .collect();
        let report = time_wait_holders(&settings, &Census { via: Via::Netlink, tuples });
        // 29 holders (the one with 0 left out), the top 20 kept
        assert_eq!(report.tuples.len(), TOP);
        assert_eq!(report.tuples[0].time_wait, 29);
        assert_eq!(report.tuples[19].time_wait, 10);
        assert_eq!(report.sustainable_conn_rate, None);
    }
}

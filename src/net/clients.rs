/*!
The client IPs a run (or `connbench ports`) uses toward one server, from `--source-ip auto|kernel|LIST`
(docs/design.md §4): the ones to start with and, for `auto`, the reserve the port governor adds from as the
new-connection rate needs them. Every address is probe-bound before it carries load: a LIST here, at
once (an address this host lacks is an error before any load); the reserve as it is drawn (an address
that cannot be bound is skipped).

The reserve toward a loopback server is 127.0.0.2 up: Linux makes all of 127.0.0.0/8 local. Toward any
other server it is what the host already has: the other addresses of the route's interface.
*/

use std::net::{IpAddr, SocketAddr};

use crate::net::socket;
use crate::net::source::{self, SourceIps};
use crate::shard::Shard;

/// The client IPs toward one server.
pub struct ClientIps {
    /// What `--source-ip` asked for: `auto`, `kernel` or `list`.
    pub source: &'static str,
    /// The client IPs to start with, probe-bound.
    pub first: Vec<IpAddr>,
    /// `auto`: more client IPs in the order the governor adds them, each probe-bound as it is drawn.
    pub reserve: Box<dyn Iterator<Item = IpAddr> + Send>,
    /// How many addresses the reserve holds, before probing.
    pub reserve_len: usize,
    /// The source address the kernel picks for the route: a connection from it needs no bind, since
    /// connect() then chooses the port for the whole 4-tuple itself.
    pub kernel_choice: Option<IpAddr>,
}

/// Resolves `--source-ip` toward `server`. Errors are one line for exit 2.
pub fn resolve(source_ips: &SourceIps, server: SocketAddr, shard: Option<Shard>) -> Result<ClientIps, String> {
    let kernel_choice =
        socket::default_source_ip(server).map_err(|e| format!("no source address reaches {server}: {e}"));
    let fixed = |first: Vec<IpAddr>, kernel_choice: Option<IpAddr>| ClientIps {
        source: source_ips.name(),
        first,
        reserve: Box::new(std::iter::empty()),
        reserve_len: 0,
        kernel_choice,
    };
    match source_ips {
        SourceIps::Kernel => {
            let ip = kernel_choice?;
            Ok(fixed(vec![ip], Some(ip)))
        }
        SourceIps::List(ips) => {
            socket::check_source_ips(ips, server)?;
            Ok(fixed(ips.clone(), kernel_choice.ok()))
        }
        SourceIps::Auto => {
            let kernel_choice = kernel_choice?;
            let (candidates, len): (Box<dyn Iterator<Item = IpAddr> + Send>, usize) = if is_v4_loopback(server.ip()) {
                (Box::new(source::loopback_pool(shard)), source::MAX_SOURCE_IPS as usize)
            } else {
                let addrs = socket::route_interface_addrs(server).unwrap_or_else(|_| vec![kernel_choice]);
                let len = addrs.len();
                (Box::new(addrs.into_iter()), len)
            };
            let mut usable = candidates.filter(|&ip| socket::probe_bind(ip).is_ok());
            // Nothing bindable (a sandbox whose `lo` has 127.0.0.1 alone): the kernel's own choice, as
            // `kernel` would have it.
            let first = usable.next().unwrap_or(kernel_choice);
            Ok(ClientIps {
                source: source_ips.name(),
                first: vec![first],
                reserve: Box::new(usable),
                reserve_len: len.saturating_sub(1),
                kernel_choice: Some(kernel_choice),
            })
        }
    }
}

fn is_v4_loopback(ip: IpAddr) -> bool {
    matches!(ip.to_canonical(), IpAddr::V4(v4) if v4.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &str) -> Vec<IpAddr> {
        source::parse_source_ips(list).unwrap()
    }

    #[test]
    fn auto_toward_loopback_starts_at_127_0_0_2_and_draws_the_next_ones() {
        let mut clients = resolve(&SourceIps::Auto, "127.0.0.1:80".parse().unwrap(), None).unwrap();
        assert_eq!((clients.source, clients.first.clone()), ("auto", ips("127.0.0.2")));
        assert_eq!(clients.reserve.by_ref().take(3).collect::<Vec<_>>(), ips("127.0.0.3-127.0.0.5"));
        assert_eq!(clients.reserve_len, 65_535);
        assert_eq!(clients.kernel_choice, Some("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn auto_toward_ipv6_loopback_has_the_one_address_of_lo() {
        let mut clients = resolve(&SourceIps::Auto, "[::1]:80".parse().unwrap(), None).unwrap();
        assert_eq!(clients.first, ips("::1"));
        assert_eq!(clients.reserve.next(), None);
    }

    #[test]
    fn kernel_and_lists_mean_exactly_what_they_say() {
        let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let mut kernel = resolve(&SourceIps::Kernel, server, None).unwrap();
        assert_eq!((kernel.source, kernel.first.clone()), ("kernel", ips("127.0.0.1")));
        assert_eq!(kernel.reserve.next(), None);
        let mut list = resolve(&SourceIps::List(ips("127.0.0.7-127.0.0.8")), server, None).unwrap();
        assert_eq!((list.source, list.first.clone()), ("list", ips("127.0.0.7-127.0.0.8")));
        assert_eq!((list.reserve.next(), list.reserve_len), (None, 0));
        // TEST-NET-3 (RFC 5737): not on this host
        let err = resolve(&SourceIps::List(ips("203.0.113.7")), server, None).err().unwrap();
        assert!(err.contains("203.0.113.7"), "{err}");
    }
}

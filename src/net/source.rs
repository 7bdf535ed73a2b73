/*!
`--source-ip auto|kernel|LIST` (docs/design.md §1, §4): `auto` (the default) lets the port governor add
client IPs as the new-connection rate needs them; `kernel` binds nothing and lets the kernel choose;
a LIST is client IPs as single addresses, ranges `127.0.0.2-127.0.0.40` and CIDRs `127.0.0.0/30`,
IPv4 or IPv6, comma-separated. Pure parsing; `net/clients.rs` resolves the choice toward a server and
probe-binds every address before it carries load.
*/

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::shard::Shard;

/// More client IPs than this is a typo (a /8 instead of a /24), not a plan: each IP is probe-bound
/// at start and has its own ledger entry.
pub const MAX_SOURCE_IPS: u128 = 65_536;

/// What `--source-ip` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SourceIps {
    /// Start from one client IP and add more before any tuple's ports run short.
    #[default]
    Auto,
    /// No bind: every connection leaves from the address the kernel picks for the route.
    Kernel,
    /// Exactly these client IPs, in rotation.
    List(Vec<IpAddr>),
}

impl SourceIps {
    /// `auto`, `kernel`, or a LIST as [`parse_source_ips`] reads it.
    pub fn parse(text: &str) -> Result<SourceIps, String> {
        match text.trim() {
            "auto" => Ok(SourceIps::Auto),
            "kernel" => Ok(SourceIps::Kernel),
            list => parse_source_ips(list).map(SourceIps::List),
        }
    }

    /// The word the reports use for the choice.
    pub fn name(&self) -> &'static str {
        match self {
            SourceIps::Auto => "auto",
            SourceIps::Kernel => "kernel",
            SourceIps::List(_) => "list",
        }
    }
}

/// The client IPs `auto` rotates over toward a loopback server: 127.0.0.2 up, as many as a list may
/// name. Linux routes all of 127.0.0.0/8 to `lo` as local addresses, so nothing needs configuring;
/// 127.0.0.1 is left to other programs, whose ports a heavy run would otherwise hold. A shard (`--shard`)
/// takes its own slice of 127.0.0.2-127.255.255.254, so shards on one host never share a client IP.
pub fn loopback_pool(shard: Option<Shard>) -> impl Iterator<Item = IpAddr> + Send {
    let first = u32::from(Ipv4Addr::new(127, 0, 0, 2));
    let whole = u32::from(Ipv4Addr::new(127, 255, 255, 254)) - first + 1;
    let (first, len) = shard.map_or((first, whole), |shard| shard.range(first, whole));
    (first..first + len.min(MAX_SOURCE_IPS as u32)).map(|n| IpAddr::V4(Ipv4Addr::from(n)))
}

/// The addresses of a `--source-ip` list, in the order given, each once.
/// Errors name the item at fault and say what would be accepted.
pub fn parse_source_ips(list: &str) -> Result<Vec<IpAddr>, String> {
    let mut blocks = Vec::new();
    let mut total: u128 = 0;
    for item in list.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("--source-ip '{list}': empty item (expected IP, FIRST-LAST or IP/PREFIX)"));
        }
        let (first, count) = parse_item(item)?;
        total += count;
        if total > MAX_SOURCE_IPS {
            return Err(format!(
                "--source-ip '{item}': the list expands to more than {MAX_SOURCE_IPS} addresses; use a smaller range"
            ));
        }
        blocks.push((first, count));
    }
    let mut seen = std::collections::HashSet::new();
    let mut ips = Vec::new();
    for (first, count) in blocks {
        for offset in 0..count {
            let ip = add(first, offset);
            if seen.insert(ip) {
                ips.push(ip);
            }
        }
    }
    Ok(ips)
}

/// One item as (first address, how many), without expanding it.
fn parse_item(item: &str) -> Result<(IpAddr, u128), String> {
    let bad = |why: &str| format!("--source-ip '{item}': {why}");
    if let Some((a, b)) = item.split_once('-') {
        let first = parse_ip(a.trim()).ok_or_else(|| bad("the range's first address is not an IP"))?;
        let last = parse_ip(b.trim()).ok_or_else(|| bad("the range's last address is not an IP"))?;
        if first.is_ipv4() != last.is_ipv4() {
            return Err(bad("a range must not mix IPv4 and IPv6"));
        }
        let (lo, hi) = (to_u128(first), to_u128(last));
        if lo > hi {
            return Err(bad("the range ends before it starts"));
        }
        return Ok((first, hi - lo + 1));
    }
    if let Some((a, b)) = item.split_once('/') {
        let ip = parse_ip(a.trim()).ok_or_else(|| bad("not an IP before '/'"))?;
        let bits: u32 = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = b
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&p| p <= bits)
            .ok_or_else(|| bad(&format!("the prefix length must be 0 to {bits}")))?;
        let host_bits = bits - prefix;
        if host_bits >= 64 {
            // 2^64 addresses or more: far past the cap, and 1 << 128 would overflow.
            return Err(bad(&format!("expands to more than {MAX_SOURCE_IPS} addresses; use a smaller range")));
        }
        let size = 1u128 << host_bits;
        let network = to_u128(ip) & !(size - 1);
        // An IPv4 network's first and last addresses (network and broadcast) cannot be a client's
        // source on a real subnet; /31 and /32 have no such pair (RFC 3021).
        let (first, count) = if ip.is_ipv4() && host_bits >= 2 { (network + 1, size - 2) } else { (network, size) };
        return Ok((from_u128(first, ip.is_ipv4()), count));
    }
    let ip = parse_ip(item).ok_or_else(|| bad("not an IP, a range FIRST-LAST, a CIDR IP/PREFIX, auto or kernel"))?;
    Ok((ip, 1))
}

/// IPv6 literals may come bracketed, as in URLs.
fn parse_ip(text: &str) -> Option<IpAddr> {
    text.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(n: u128, v4: bool) -> IpAddr {
    if v4 {
        // Callers stay inside the 32-bit space: every IPv4 block is checked against its own bounds.
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

fn add(ip: IpAddr, offset: u128) -> IpAddr {
    from_u128(to_u128(ip) + offset, ip.is_ipv4())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &str) -> Vec<String> {
        parse_source_ips(list).unwrap().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_form_expands() {
        // each case: the list, and the addresses it means
        for (list, expected) in [
            ("127.0.0.2", vec!["127.0.0.2"]),
            ("127.0.0.2-127.0.0.4", vec!["127.0.0.2", "127.0.0.3", "127.0.0.4"]),
            // network and broadcast addresses left out of an IPv4 CIDR
            ("127.0.0.0/30", vec!["127.0.0.1", "127.0.0.2"]),
            // host bits are ignored, as `ip` does
            ("127.0.0.3/30", vec!["127.0.0.1", "127.0.0.2"]),
            ("10.0.0.0/31", vec!["10.0.0.0", "10.0.0.1"]),
            ("10.0.0.7/32", vec!["10.0.0.7"]),
            ("::1", vec!["::1"]),
            ("[::1]", vec!["::1"]),
            ("fd00::1-fd00::3", vec!["fd00::1", "fd00::2", "fd00::3"]),
            ("fd00::/127", vec!["fd00::", "fd00::1"]),
            // comma lists keep their order, with spaces allowed and duplicates once
            ("127.0.0.3, 127.0.0.1-127.0.0.3", vec!["127.0.0.3", "127.0.0.1", "127.0.0.2"]),
            ("127.0.0.1,::1", vec!["127.0.0.1", "::1"]),
            // a range crossing an octet boundary
            ("10.0.0.255-10.0.1.0", vec!["10.0.0.255", "10.0.1.0"]),
        ] {
            assert_eq!(ips(list), expected, "{list}");
        }
    }

    #[test]
    fn errors_name_the_bad_item() {
        // each case: the list, and what the error must contain
        for (list, needle) in [
            ("bogus", "'bogus': not an IP"),
            ("127.0.0.1,bogus", "'bogus'"),
            ("127.0.0.1,", "empty item"),
            ("127.0.0.9-127.0.0.1", "ends before it starts"),
            ("127.0.0.1-::1", "mix IPv4 and IPv6"),
            ("127.0.0.1-x", "last address"),
            ("10.0.0.0/33", "0 to 32"),
            ("10.0.0.0/x", "0 to 32"),
            ("fd00::/129", "0 to 128"),
            ("x/24", "not an IP before '/'"),
            ("10.0.0.0/8", "more than 65536"),
            ("fd00::/0", "more than 65536"),
            ("fd00::/64", "more than 65536"),
            ("0.0.0.0-255.255.255.255", "more than 65536"),
            // the cap counts the whole list
            ("10.0.0.0/16,10.1.0.0/16", "'10.1.0.0/16'"),
        ] {
            let err = parse_source_ips(list).unwrap_err();
            assert!(err.contains(needle), "{list}: {err}");
            assert!(err.starts_with("--source-ip"), "{list}: {err}");
        }
    }

    #[test]
    fn auto_and_kernel_are_words_and_anything_else_a_list() {
        assert_eq!(SourceIps::parse("auto"), Ok(SourceIps::Auto));
        assert_eq!(SourceIps::parse("kernel"), Ok(SourceIps::Kernel));
        assert_eq!(SourceIps::parse("127.0.0.2"), Ok(SourceIps::List(vec!["127.0.0.2".parse().unwrap()])));
        assert!(SourceIps::parse("automatic").unwrap_err().starts_with("--source-ip 'automatic'"));
        assert_eq!(SourceIps::default(), SourceIps::Auto);
    }

    #[test]
    fn the_loopback_pool_starts_at_127_0_0_2_and_stops_at_the_cap() {
        let pool: Vec<IpAddr> = loopback_pool(None).collect();
        assert_eq!(pool[0].to_string(), "127.0.0.2");
        assert_eq!(pool[254].to_string(), "127.0.1.0");
        assert_eq!(pool.len() as u128, MAX_SOURCE_IPS);
        assert!(pool.iter().all(|ip| ip.is_loopback()));
        // shards take disjoint slices of 127/8, each still as large as the cap
        let first = |index| loopback_pool(Some(Shard { index, count: 3 })).next().unwrap().to_string();
        assert_eq!([first(0), first(1), first(2)], ["127.0.0.2", "127.85.85.86", "127.170.170.170"]);
        assert_eq!(loopback_pool(Some(Shard { index: 2, count: 3 })).count() as u128, MAX_SOURCE_IPS);
    }

    #[test]
    fn the_cap_is_inclusive() {
        assert_eq!(parse_source_ips("10.0.0.0-10.0.255.255").unwrap().len(), 65_536);
        assert!(parse_source_ips("10.0.0.0-10.1.0.0").is_err());
    }
}

//! The only module that makes client sockets (socket2, nix) and reads the kernel's TCP settings.
//!
//! The socket recipe of docs/design.md §4: IP_BIND_ADDRESS_NO_PORT, then bind(client_ip, 0),
//! then a non-blocking connect, so the kernel picks the local port by the whole 4-tuple; never a
//! plain bind(ip, 0), which would reserve the port for every destination, and no SO_REUSEADDR.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::net::TcpStream;

pub use crate::net::ports::TIME_WAIT_SECS;
use crate::net::ports::{parse_reserved_ports, Settings};

/// `IP_LOCAL_PORT_RANGE` from linux/in.h (Linux 6.3+); the libc crate does not define it yet.
const IP_LOCAL_PORT_RANGE: nix::libc::c_int = 51;

/// Opens one connection from the kernel's choice of source address; `nodelay` turns off Nagle so a
/// small request leaves at once.
pub async fn connect(addr: SocketAddr, nodelay: bool, limit: Duration) -> io::Result<TcpStream> {
    connect_from(None, addr, nodelay, limit).await
}

/// Opens one connection from `client_ip` (or the kernel's choice) with the recipe of docs/design.md §4. None
/// is for the address the kernel would pick anyway: connect() then chooses the port for the whole 4-tuple
/// itself, as it does after IP_BIND_ADDRESS_NO_PORT, and the bind and its option are two calls saved.
/// EADDRNOTAVAIL from here means the tuple has no free port: the ledger marks the IP saturated.
pub async fn connect_from(
    client_ip: Option<IpAddr>,
    addr: SocketAddr,
    nodelay: bool,
    limit: Duration,
) -> io::Result<TcpStream> {
    let socket = client_socket(client_ip, addr, nodelay)?;
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    // The handshake is over when the socket turns writable. A failed one also hangs the socket up
    // (EPOLLHUP), and only then is SO_ERROR worth a getsockopt: one syscall fewer per connection.
    let ready = match tokio::time::timeout(limit, stream.ready(Interest::WRITABLE)).await {
        Ok(ready) => ready?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect to {addr} took longer than {limit:?}"),
            ))
        }
    };
    if ready.is_write_closed() {
        if let Some(err) = stream.take_error()? {
            return Err(err);
        }
    }
    Ok(stream)
}

/// A non-blocking client socket for `addr`, made by the recipe of docs/design.md §4 up to the connect: bound to
/// `client_ip` without a port (if given), walking its ports one by one, and with `nodelay`. The tokio engine
/// connects it here; the io_uring engine (`engine/uring.rs`) through its ring.
pub fn client_socket(client_ip: Option<IpAddr>, addr: SocketAddr, nodelay: bool) -> io::Result<Socket> {
    // Non-blocking from socket() on: two fcntl calls fewer per connection.
    made(Type::STREAM.nonblocking(), client_ip, addr, nodelay)
}

/// The recipe, for a socket of `kind`.
fn made(kind: Type, client_ip: Option<IpAddr>, addr: SocketAddr, nodelay: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, Some(Protocol::TCP))?;
    if let Some(ip) = client_ip {
        bind_without_port(&socket, ip)?;
    }
    walk_ports_one_by_one(&socket);
    if nodelay {
        // Off is the default: only turning it on costs a call.
        socket.set_tcp_nodelay(true)?;
    }
    Ok(socket)
}

/// The same recipe, blocking: the connection that proves the target reachable before any load (and then
/// serves as the first mode's first connection, so the server's counts still equal ours).
pub fn connect_blocking_from(
    client_ip: IpAddr,
    addr: SocketAddr,
    nodelay: bool,
    limit: Duration,
) -> io::Result<std::net::TcpStream> {
    let socket = made(Type::STREAM, Some(client_ip), addr, nodelay)?;
    socket.connect_timeout(&SockAddr::from(addr), limit)?;
    Ok(socket.into())
}

/// Probe-binds each of `ips` (from `--source-ip`), which must be of the server's family, to prove this host
/// has it. Errors are one line naming the address.
pub fn check_source_ips(ips: &[IpAddr], server: SocketAddr) -> Result<(), String> {
    let local = local_addresses().map_err(|e| format!("--source-ip: cannot list this host's addresses: {e}"))?;
    for &ip in ips {
        if ip.is_ipv4() != server.is_ipv4() {
            return Err(format!("--source-ip {ip}: not the address family of the server {server}"));
        }
        if ip.is_unspecified() {
            return Err(format!(
                "--source-ip {ip}: the unspecified address names no client IP; --source-ip kernel lets the kernel choose"
            ));
        }
        if !local.iter().any(|(net, prefix)| same_prefix(ip, *net, *prefix)) {
            return Err(format!("--source-ip {ip}: not an address of this host (`ip address` lists those it has)"));
        }
        probe_bind(ip)
            .map_err(|e| format!("--source-ip {ip}: cannot bind it ({e}); is it configured on this host?"))?;
    }
    Ok(())
}

/// This host's own addresses, as (address, prefix length that is local): an interface's address alone (its
/// subnet's other addresses are neighbours), or the whole prefix of a loopback interface's, as Linux routes
/// all of 127.0.0.0/8 to `lo`. bind(2) cannot tell: it takes 0.0.0.0, multicast and broadcast addresses too,
/// and any address with ip_nonlocal_bind set.
fn local_addresses() -> io::Result<Vec<(IpAddr, u32)>> {
    use nix::net::if_::InterfaceFlags;
    let ip = |storage: Option<&nix::sys::socket::SockaddrStorage>| -> Option<IpAddr> {
        let storage = storage?;
        storage
            .as_sockaddr_in()
            .map(|v4| IpAddr::V4(v4.ip()))
            .or_else(|| storage.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
    };
    let mut local = Vec::new();
    for interface in nix::ifaddrs::getifaddrs()? {
        let Some(address) = ip(interface.address.as_ref()) else { continue };
        let full = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match ip(interface.netmask.as_ref()) {
            Some(mask) if interface.flags.contains(InterfaceFlags::IFF_LOOPBACK) => prefix_len(mask),
            _ => full,
        };
        local.push((address, prefix));
    }
    Ok(local)
}

/// The length of a netmask's prefix of ones.
fn prefix_len(mask: IpAddr) -> u32 {
    match mask {
        IpAddr::V4(v4) => u32::from(v4).leading_ones(),
        IpAddr::V6(v6) => u128::from(v6).leading_ones(),
    }
}

/// Do `a` and `b` share their first `prefix` bits (and their family)?
fn same_prefix(a: IpAddr, b: IpAddr, prefix: u32) -> bool {
    let bits = |ip: IpAddr| match ip.to_canonical() {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    let ((a, family_a), (b, family_b)) = (bits(a), bits(b));
    let shift = 128 - prefix.min(family_a);
    family_a == family_b && (shift == 128 || a >> shift == b >> shift)
}

/// The addresses of `server`'s family assigned to the interface of the route toward it, the route's own
/// source address first: the client IPs a host already has for that destination. The interface is the
/// one holding the source address the kernel picks for the route (`default_source_ip`), found with
/// getifaddrs(3): that is the route's interface unless a route names a `src` on another interface, a setup
/// rare enough not to justify a netlink route dump; every address is probe-bound before use anyway.
/// IPv6 link-local addresses are left out unless the server is link-local too: they reach only the link.
pub fn route_interface_addrs(server: SocketAddr) -> io::Result<Vec<IpAddr>> {
    let source = default_source_ip(server)?;
    let interfaces: Vec<_> = nix::ifaddrs::getifaddrs()?.collect();
    let address = |a: &nix::ifaddrs::InterfaceAddress| -> Option<IpAddr> {
        let storage = a.address.as_ref()?;
        storage
            .as_sockaddr_in()
            .map(|v4| IpAddr::V4(v4.ip()))
            .or_else(|| storage.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
    };
    let Some(name) = interfaces.iter().find(|a| address(a) == Some(source)).map(|a| &a.interface_name) else {
        return Ok(vec![source]);
    };
    let link_local = |ip: IpAddr| matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local());
    let mut addrs = vec![source];
    for ip in interfaces.iter().filter(|a| &a.interface_name == name).filter_map(address) {
        if ip.is_ipv4() == server.is_ipv4() && (!link_local(ip) || link_local(server.ip())) && !addrs.contains(&ip) {
            addrs.push(ip);
        }
    }
    Ok(addrs)
}

/// Proves `ip` can be a client's source address (it is configured on this host), so a run can
/// refuse an unusable `--source-ip` before any load. Takes no port.
pub fn probe_bind(ip: IpAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(SocketAddr::new(ip, 0)), Type::STREAM, Some(Protocol::TCP))?;
    bind_without_port(&socket, ip)
}

/// Whether the peer has closed its side (its FIN is in), even with bytes still unread, which a peek cannot
/// tell: poll(2)'s POLLRDHUP, at once.
pub fn peer_closed(stream: &std::net::TcpStream) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut fd = nix::libc::pollfd { fd: stream.as_raw_fd(), events: nix::libc::POLLRDHUP, revents: 0 };
    // SAFETY: one pollfd, valid for the call's duration; a timeout of 0 returns at once.
    if unsafe { nix::libc::poll(&mut fd, 1, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd.revents & (nix::libc::POLLRDHUP | nix::libc::POLLHUP) != 0)
}

/// The source address the kernel would choose for `server`: a UDP socket's connect() runs the
/// route lookup without sending anything.
pub fn default_source_ip(server: SocketAddr) -> io::Result<IpAddr> {
    let any = if server.is_ipv4() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::V6(Ipv6Addr::UNSPECIFIED) };
    let probe = std::net::UdpSocket::bind(SocketAddr::new(any, 0))?;
    probe.connect(server)?;
    Ok(probe.local_addr()?.ip())
}

/// IP_BIND_ADDRESS_NO_PORT then bind(ip, 0): the address is fixed now, the port only at connect(),
/// where it need only be unique for the 4-tuple.
fn bind_without_port(socket: &Socket, ip: IpAddr) -> io::Result<()> {
    setsockopt(socket, sockopt::IpBindAddressNoPort, &true)?;
    socket.bind(&SockAddr::from(SocketAddr::new(ip, 0)))
}

/// Gives the socket a port range of its own (IP_LOCAL_PORT_RANGE, Linux 6.3+) so that connect()
/// walks the ports one by one from a random offset. With only the system range, the kernel
/// (`__inet_hash_connect`: `step = local_ports ? 1 : 2`) tries the even ports first and the odd
/// ones after, so once about half the ports are held each connect() walks the whole even half in
/// vain: the slow-down to ~200 connects/s of docs/design.md §4. Bounds outside the system range (1 and
/// 65535 here) leave its bounds as they are; any non-zero value marks the range as the socket's.
/// Older kernels answer ENOPROTOOPT and keep their behaviour: nothing to do about it.
fn walk_ports_one_by_one(socket: &Socket) {
    use std::os::fd::AsRawFd;
    let range: u32 = (65535 << 16) | 1;
    // SAFETY: the fd is open for the call's duration, and the option value is a u32 of the length
    // given, as linux/in.h defines IP_LOCAL_PORT_RANGE.
    let _ = unsafe {
        nix::libc::setsockopt(
            socket.as_raw_fd(),
            nix::libc::IPPROTO_IP,
            IP_LOCAL_PORT_RANGE,
            (&raw const range).cast(),
            std::mem::size_of::<u32>() as nix::libc::socklen_t,
        )
    };
}

/// `net.ipv4.ip_local_port_range`: the ports one (client IP, server IP, server port) tuple can use.
pub fn ip_local_port_range() -> Option<[u16; 2]> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut parts = text.split_whitespace().map(str::parse::<u16>);
    Some([parts.next()?.ok()?, parts.next()?.ok()?])
}

/// `net.ipv4.tcp_tw_reuse`: 0 off, 1 on, 2 loopback only (the default).
pub fn tcp_tw_reuse() -> Option<u8> {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_tw_reuse").ok()?.trim().parse().ok()
}

/// `net.ipv4.ip_local_reserved_ports` as inclusive ranges (empty where the kernel has none).
pub fn ip_local_reserved_ports() -> Vec<[u16; 2]> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_reserved_ports")
        .map(|text| parse_reserved_ports(&text))
        .unwrap_or_default()
}

/// `net.ipv4.tcp_tw_reuse_delay` in ms (Linux 6.13+); before it, reuse came after one second.
pub fn tcp_tw_reuse_delay_ms() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_tw_reuse_delay")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(1000)
}

/// The port ledger's settings as this kernel has them; Linux's defaults where a sysctl is missing.
pub fn port_settings() -> Settings {
    Settings::new(
        ip_local_port_range().unwrap_or([32768, 60999]),
        &ip_local_reserved_ports(),
        tcp_tw_reuse().unwrap_or(2),
        tcp_tw_reuse_delay_ms(),
    )
}

/// Raises the soft limit on open files to the hard one (as nginx's `worker_rlimit_nofile` or wrk's users'
/// `ulimit -n` would) and returns the limit now in force: every connection costs a descriptor, and the soft
/// default of 1024 would otherwise cap `-c` long before the machine does.
pub fn raise_open_files_limit() -> io::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Ok(hard);
    }
    Ok(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_ip_is_this_hosts_when_an_interface_has_it_or_a_loopback_prefix_holds_it() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(prefix_len(ip("255.0.0.0")), 8);
        assert_eq!(prefix_len(ip("ffff:ffff::")), 32);
        // each case: address, interface address, local prefix, same
        for (a, b, prefix, same) in [
            ("127.3.2.1", "127.0.0.1", 8, true),
            ("128.0.0.1", "127.0.0.1", 8, false),
            ("192.0.2.2", "192.0.2.2", 32, true),
            ("192.0.2.3", "192.0.2.2", 32, false),
            ("::1", "::1", 128, true),
            ("::1", "0.0.0.1", 128, false),
        ] {
            assert_eq!(same_prefix(ip(a), ip(b), prefix), same, "{a} in {b}/{prefix}");
        }
        let local = local_addresses().unwrap();
        assert!(local.iter().any(|&(net, prefix)| same_prefix(ip("127.0.0.2"), net, prefix)), "{local:?}");
        assert!(!local.iter().any(|&(net, prefix)| same_prefix(ip("224.0.0.1"), net, prefix)), "{local:?}");
    }

    #[test]
    fn kernel_settings_read_on_linux() {
        if cfg!(target_os = "linux") {
            let [low, high] = ip_local_port_range().expect("Linux has the sysctl");
            assert!(low <= high);
            assert!(tcp_tw_reuse().expect("Linux has the sysctl") <= 2);
            let settings = port_settings();
            assert_eq!(settings.port_range, [low, high]);
            assert!(settings.ports_per_tuple() <= u32::from(high - low) + 1);
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        // bind then drop: the port is free and nothing listens on it
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let err = connect(port, true, Duration::from_secs(2)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let from = Some("127.0.0.2".parse().unwrap());
        let err = connect_from(from, port, true, Duration::from_secs(2)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn connect_from_uses_the_chosen_source_ip() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let from: IpAddr = "127.0.0.2".parse().unwrap();
        let stream = connect_from(Some(from), server, true, Duration::from_secs(2)).await.unwrap();
        assert_eq!(stream.local_addr().unwrap().ip(), from);
        assert!(stream.nodelay().unwrap());
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), from);
        assert_eq!(peer, stream.local_addr().unwrap());
        // without a source IP the kernel picks loopback's own
        let plain = connect(server, false, Duration::from_secs(2)).await.unwrap();
        assert_eq!(plain.local_addr().unwrap().ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(!plain.nodelay().unwrap());
    }

    #[test]
    fn probe_bind_refuses_an_address_this_host_does_not_have() {
        probe_bind("127.0.0.2".parse().unwrap()).unwrap();
        probe_bind("::1".parse().unwrap()).unwrap();
        // TEST-NET-3 (RFC 5737): never configured on a test machine
        let err = probe_bind("203.0.113.7".parse().unwrap()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::EADDRNOTAVAIL), "{err}");
    }

    #[test]
    fn the_route_to_loopback_is_lo_and_its_own_address_comes_first() {
        let addrs = route_interface_addrs("127.0.0.1:80".parse().unwrap()).unwrap();
        assert_eq!(addrs[0], "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(addrs.iter().all(|ip| ip.is_ipv4() && ip.is_loopback()), "{addrs:?}");
        assert_eq!(route_interface_addrs("[::1]:80".parse().unwrap()).unwrap(), ["::1".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn a_source_ip_of_the_other_family_or_not_on_this_host_is_refused() {
        let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
        check_source_ips(&["127.0.0.2".parse().unwrap()], server).unwrap();
        let err = check_source_ips(&["::1".parse().unwrap()], server).unwrap_err();
        assert!(err.starts_with("--source-ip ::1: not the address family"), "{err}");
        let err = check_source_ips(&["203.0.113.7".parse().unwrap()], server).unwrap_err();
        assert!(err.starts_with("--source-ip 203.0.113.7: not an address of this host"), "{err}");
    }

    #[test]
    fn the_default_source_of_loopback_is_loopback() {
        let ip = default_source_ip("127.0.0.1:80".parse().unwrap()).unwrap();
        assert_eq!(ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        let ip = default_source_ip("[::1]:80".parse().unwrap()).unwrap();
        assert_eq!(ip, "::1".parse::<IpAddr>().unwrap());
    }
}

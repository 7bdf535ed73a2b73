/*!
The kernel's own count of TCP sockets per (local IP, remote IP:port) tuple, by state (docs/design.md §4):
what `connbench ports` prints, what seeds the port ledger, and the cross-check beside it.

Asked by a netlink sock_diag dump (what `ss` uses), which returns only the states asked for; when
netlink is refused (a sandbox, a kernel without inet_diag) `/proc/net/tcp{,6}` gives the same
sockets as text. Both read the calling process's network namespace.
*/

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, TCP_ESTABLISHED, TCP_TIME_WAIT};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};

use crate::net::ports::Tuple;

/// Sockets of one tuple in the states that hold a local port for a client.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub time_wait: u64,
    pub established: u64,
}

/// Which way the census was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Netlink,
    Proc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Census {
    pub via: Via,
    /// Keyed by (local IP, remote address); v4-mapped IPv6 addresses are folded into IPv4, so a
    /// dual-stack socket counts where an IPv4 one would.
    pub tuples: BTreeMap<Tuple, Counts>,
}

impl Census {
    /// Counts for one tuple (zero when the kernel has no socket of it).
    pub fn get(&self, tuple: Tuple) -> Counts {
        self.tuples.get(&tuple).copied().unwrap_or_default()
    }
}

/// Takes the census by netlink, or by /proc when netlink fails.
pub fn take() -> io::Result<Census> {
    match via_netlink(None) {
        Ok(tuples) => Ok(Census { via: Via::Netlink, tuples }),
        Err(_) => Ok(Census { via: Via::Proc, tuples: via_proc()? }),
    }
}

/// The census of the sockets connected to `server`'s port only, which is all a run needs. The kernel
/// filters a sock_diag dump by destination port itself, so a run against a server that leaves hundreds of
/// thousands of TIME_WAIT sockets on its own side (`--close-by server`) does not pay to read them every
/// second (28,000 of them cost 25 ms a dump). The /proc fallback reads everything and keeps the port.
pub fn take_toward(server: SocketAddr) -> io::Result<Census> {
    match via_netlink(Some(server)) {
        Ok(tuples) => Ok(Census { via: Via::Netlink, tuples }),
        Err(_) => {
            let mut tuples = via_proc()?;
            tuples.retain(|tuple, _| tuple.server.port() == server.port());
            Ok(Census { via: Via::Proc, tuples })
        }
    }
}

/// By sock_diag: both families, or only `toward`'s family and destination port. The states bitmask must
/// name TIME_WAIT: the kernel reports a TIME_WAIT (or any) socket only when its state's bit is set.
pub fn via_netlink(toward: Option<SocketAddr>) -> io::Result<BTreeMap<Tuple, Counts>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
    let mut tuples = BTreeMap::new();
    let families: &[u8] = match toward {
        Some(server) if server.is_ipv4() => &[AF_INET],
        Some(_) => &[AF_INET6],
        None => &[AF_INET, AF_INET6],
    };
    for &family in families {
        dump(&socket, family, toward.map(|s| s.port()), &mut |local, remote, state| {
            count(&mut tuples, Tuple { client: local.ip(), server: remote }, state)
        })?;
    }
    Ok(tuples)
}

/// Calls `each(local, remote, state)` for every socket of the dump.
fn dump(
    socket: &Socket,
    family: u8,
    port: Option<u16>,
    each: &mut dyn FnMut(SocketAddr, SocketAddr, u8),
) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut socket_id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
    // inet_diag_dump_icsk skips sockets whose destination port differs, when one is given.
    socket_id.destination_port = port.unwrap_or(0);
    let request = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::ESTABLISHED | StateFlags::TIME_WAIT,
        socket_id,
    });
    let mut packet = NetlinkMessage::new(header, request.into());
    packet.finalize();
    let mut bytes = vec![0; packet.buffer_len()];
    packet.serialize(&mut bytes);
    socket.send(&bytes, 0)?;

    // A dump arrives as datagrams of several messages each, up to a few pages; a datagram larger
    // than the buffer would be cut, so the buffer is larger than any the kernel sends.
    let mut buffer = Vec::with_capacity(1 << 20);
    loop {
        buffer.clear();
        let size = socket.recv(&mut buffer, 0)?;
        if size > buffer.len() {
            return Err(io::Error::other("sock_diag reply larger than the receive buffer"));
        }
        let mut offset = 0;
        while offset < size {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&buffer[offset..size])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag reply: {e}")))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(error) => {
                    return Err(error.to_io());
                }
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                    let id = &response.header.socket_id;
                    let local = SocketAddr::new(id.source_address.to_canonical(), id.source_port);
                    let remote = SocketAddr::new(id.destination_address.to_canonical(), id.destination_port);
                    each(local, remote, response.header.state);
                }
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

fn count(tuples: &mut BTreeMap<Tuple, Counts>, tuple: Tuple, state: u8) {
    match state {
        TCP_TIME_WAIT => tuples.entry(tuple).or_default().time_wait += 1,
        TCP_ESTABLISHED => tuples.entry(tuple).or_default().established += 1,
        _ => {}
    }
}

/// Both families from /proc/net/tcp and /proc/net/tcp6 (either may be missing: IPv6 disabled).
pub fn via_proc() -> io::Result<BTreeMap<Tuple, Counts>> {
    let mut tuples = BTreeMap::new();
    let mut read_any = false;
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(path) {
            read_any = true;
            parse_proc_net_tcp(&text, &mut tuples);
        }
    }
    if read_any {
        Ok(tuples)
    } else {
        Err(io::Error::new(io::ErrorKind::NotFound, "neither netlink sock_diag nor /proc/net/tcp is available"))
    }
}

/// Adds the sockets of one /proc/net/tcp{,6} text to `tuples`. Lines that do not parse (the header)
/// are skipped.
pub fn parse_proc_net_tcp(text: &str, tuples: &mut BTreeMap<Tuple, Counts>) {
    for line in text.lines() {
        if let Some((local, remote, state)) = parse_proc_line(line) {
            count(tuples, Tuple { client: local.ip(), server: remote }, state);
        }
    }
}

/// `sl local_address rem_address st ...`, addresses as `HEX:PORT`: (local, remote, state).
fn parse_proc_line(line: &str) -> Option<(SocketAddr, SocketAddr, u8)> {
    let mut fields = line.split_whitespace().skip(1);
    let local = parse_proc_addr(fields.next()?)?;
    let remote = parse_proc_addr(fields.next()?)?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    Some((local, remote, state))
}

/// The kernel prints an address as its 32-bit words in the machine's byte order (`%08X` of each
/// `__be32` read as a u32), and the port in host order.
fn parse_proc_addr(text: &str) -> Option<SocketAddr> {
    let (hex, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| hex.get(i * 8..i * 8 + 8).and_then(|w| u32::from_str_radix(w, 16).ok());
    let ip = match hex.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?.to_ne_bytes())),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip.to_canonical(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    fn tuple(client: &str, server: &str) -> Tuple {
        Tuple { client: client.parse().unwrap(), server: server.parse().unwrap() }
    }

    /// Lines as a little-endian kernel writes them.
    #[cfg(target_endian = "little")]
    #[test]
    fn proc_net_tcp_parses() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1678 1 0000000000000000 100 0 0 10 0
   1: 0200007F:9C40 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   2: 0200007F:9C41 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   3: 0200007F:9C42 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 20 4 30 10 -1
   4: 0A00A8C0:D431 0A02000A:0050 01 00000000:00000000 00:00000000 00000000  1000        0 2002 1 0000000000000000 20 4 30 10 -1
   5: 0A00A8C0:D432 0A02000A:0050 08 00000000:00000000 00:00000000 00000000  1000        0 2003 1 0000000000000000 20 4 30 10 -1
";
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:C350 00000000000000000000000001000000:0050 06 00000000:00000000 03:00000BB8 00000000     0        0 0 3 0000000000000000
   1: 0000000000000000FFFF00000200007F:C351 0000000000000000FFFF00000100007F:1F90 06 00000000:00000000 03:00000BB8 00000000     0        0 0 3 0000000000000000
";
        let mut tuples = BTreeMap::new();
        parse_proc_net_tcp(tcp, &mut tuples);
        parse_proc_net_tcp(tcp6, &mut tuples);
        // the listener (0A) and CLOSE_WAIT (08) are not counted
        assert_eq!(tuples.len(), 3, "{tuples:?}");
        // two TIME_WAIT from 127.0.0.2 plus the v4-mapped one from tcp6, and one ESTABLISHED
        assert_eq!(tuples[&tuple("127.0.0.2", "127.0.0.1:8080")], Counts { time_wait: 3, established: 1 });
        assert_eq!(tuples[&tuple("192.168.0.10", "10.0.2.10:80")], Counts { time_wait: 0, established: 1 });
        assert_eq!(tuples[&tuple("::1", "[::1]:80")], Counts { time_wait: 1, established: 0 });
    }

    #[test]
    fn proc_lines_that_do_not_parse_are_skipped() {
        let mut tuples = BTreeMap::new();
        parse_proc_net_tcp("garbage\n 0: XYZ:1 0:0 06\n 1: 0100007F:1F90\n 2: 0100:1 0100007F:1 06\n", &mut tuples);
        assert!(tuples.is_empty());
    }

    /// A blocking client connection from `from`, made with the socket recipe of `net/socket.rs`.
    fn connect_from(from: IpAddr, server: SocketAddr) -> TcpStream {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let stream = runtime
            .block_on(crate::net::socket::connect_from(Some(from), server, true, Duration::from_secs(5)))
            .unwrap()
            .into_std()
            .unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    }

    /// Closes `n` connections to a new listener client-first from `from`, so their ports sit in
    /// TIME_WAIT on our side. Returns the listener and its tuple as the census keys it.
    fn client_first_closes(from: IpAddr, n: usize) -> (TcpListener, Tuple) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        for _ in 0..n {
            let client = connect_from(from, server);
            let (mut accepted, _) = listener.accept().unwrap();
            // Our FIN first, and seen by the server before it sends its own, so the client side
            // reaches TIME_WAIT. shutdown() rather than drop: a forked child that still holds the
            // fd (another test's Command, before its exec) would keep a plain close from sending it.
            client.shutdown(std::net::Shutdown::Write).unwrap();
            assert_eq!(accepted.read(&mut [0; 1]).unwrap(), 0);
            drop(accepted);
            drop(client);
        }
        (listener, Tuple { client: from, server })
    }

    /// TIME_WAIT is reached once the server's FIN is acknowledged; on loopback that is at once,
    /// but the test polls briefly rather than assuming so (no timing is asserted).
    fn time_wait_seen(read: impl Fn() -> io::Result<BTreeMap<Tuple, Counts>>, tuple: Tuple, n: u64) -> u64 {
        let mut seen = 0;
        for _ in 0..100 {
            seen = read().unwrap().get(&tuple).map_or(0, |c| c.time_wait);
            if seen >= n {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        seen
    }

    #[test]
    fn netlink_and_proc_both_see_client_first_closes_in_time_wait() {
        // a client IP of its own keeps this tuple apart from every other test's sockets
        let (_listener, tuple) = client_first_closes("127.0.0.3".parse().unwrap(), 3);
        let by_netlink = time_wait_seen(|| via_netlink(None), tuple, 3);
        let by_proc = time_wait_seen(via_proc, tuple, 3);
        assert!(by_netlink >= 3, "netlink saw {by_netlink} TIME_WAIT for {tuple:?}");
        assert!(by_proc >= 3, "/proc saw {by_proc} TIME_WAIT for {tuple:?}");
        let census = take().unwrap();
        assert_eq!(census.via, Via::Netlink, "netlink works unprivileged on Linux");
        assert!(census.get(tuple).time_wait >= 3);
        // filtered by the kernel to the server's port: the same count, and nothing toward another port
        let toward = take_toward(tuple.server).unwrap();
        assert_eq!(toward.get(tuple).time_wait, census.get(tuple).time_wait);
        assert!(toward.tuples.keys().all(|t| t.server.port() == tuple.server.port()), "{:?}", toward.tuples);
    }

    /// ESTABLISHED sockets from exactly `client` (IP and port) to `server`, as netlink (the whole dump, and
    /// the dump the kernel filters by destination port) and /proc list them. Other processes on the host
    /// may hold sockets of the same (client IP, server) tuple: a listener's port is reused as soon as the
    /// listener closes, while connections it accepted live on. None holds our client's port toward it.
    fn own_established(client: SocketAddr, server: SocketAddr) -> [u64; 3] {
        let own = |local, remote, state| local == client && remote == server && state == TCP_ESTABLISHED;
        let by_netlink = |port| {
            let socket = Socket::new(NETLINK_SOCK_DIAG).unwrap();
            socket.connect(&netlink_sys::SocketAddr::new(0, 0)).unwrap();
            let mut seen = 0;
            dump(&socket, AF_INET, port, &mut |local, remote, state| seen += u64::from(own(local, remote, state)))
                .unwrap();
            seen
        };
        let proc = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let by_proc = proc.lines().filter_map(parse_proc_line).filter(|&(l, r, s)| own(l, r, s)).count() as u64;
        [by_netlink(None), by_netlink(Some(server.port())), by_proc]
    }

    #[test]
    fn established_connections_are_counted_both_ways() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = connect_from("127.0.0.4".parse().unwrap(), server);
        let _accepted = listener.accept().unwrap();
        assert_eq!(own_established(client.local_addr().unwrap(), server), [1, 1, 1], "{client:?}");
    }
}

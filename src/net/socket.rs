//! The only module that makes client sockets and reads the kernel's TCP settings.
//!
//! Issue #4 brings the full recipe of DESIGN.md §4 (IP_BIND_ADDRESS_NO_PORT, bind to a chosen client
//! IP, IP_LOCAL_PORT_RANGE); today a connection is a plain non-blocking connect from the kernel's
//! choice of address.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

/// Linux's TCP_TIMEWAIT_LEN: fixed at 60 s, whatever `tcp_fin_timeout` says.
pub const TIME_WAIT_SECS: u32 = 60;

/// Opens one connection; `nodelay` turns off Nagle so a small request leaves at once.
pub async fn connect(addr: SocketAddr, nodelay: bool, limit: Duration) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if nodelay {
        socket.set_nodelay(true)?;
    }
    match tokio::time::timeout(limit, socket.connect(addr)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr} took longer than {limit:?}"))),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_settings_read_on_linux() {
        if cfg!(target_os = "linux") {
            let [low, high] = ip_local_port_range().expect("Linux has the sysctl");
            assert!(low <= high);
            assert!(tcp_tw_reuse().expect("Linux has the sysctl") <= 2);
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        // bind then drop: the port is free and nothing listens on it
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let err = connect(port, true, Duration::from_secs(2)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }
}

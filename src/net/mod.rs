//! Sockets, the kernel's TCP settings and sockets, the client IPs, and the port accounting built on them.

pub mod census;
pub mod clients;
pub mod ports;
pub mod quic;
pub mod socket;
pub mod source;
pub mod stream;
pub mod tls;

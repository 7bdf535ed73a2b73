//! Sockets, the kernel's TCP settings and sockets, and the port accounting built on them (issue #4).

pub mod census;
pub mod ports;
pub mod socket;
pub mod source;
pub mod stream;
pub mod tls;

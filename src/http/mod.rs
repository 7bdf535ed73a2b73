//! HTTP/1.x on the wire, as pure functions over bytes: the request rendered once, the response
//! parsed incrementally; and the HTTP/2 connection preface, by which a client and a server agree on HTTP/2
//! with prior knowledge. No I/O and no tokio here; the engine feeds the bytes.

pub mod preface;
pub mod request;
pub mod response;
pub mod reuse;

//! HTTP/1.x on the wire, as pure functions over bytes: the request rendered once, the response
//! parsed incrementally. No I/O and no tokio here; the engine feeds the bytes.

pub mod request;
pub mod response;
pub mod reuse;

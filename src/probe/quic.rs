//! The probe's HTTP/3 experiment, over https only: one QUIC connection with its handshake timed apart from
//! one GET on it, then a second connection that resumes the first one's session and sends its GET in 0-RTT,
//! to see whether the server takes early data (RFC 9001 §4.6). QUIC has no blocking sockets: the experiment
//! runs on a current-thread runtime of its own, one step after another, like the rest of the probe.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;

use crate::net::quic;

/// What the HTTP/3 experiment saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The first connection: (its handshake, handshake plus one GET to its last byte), or why it failed.
    pub first: Result<(Duration, Duration), String>,
    /// The second connection's GET in 0-RTT: None when no early data could be sent (the server's session
    /// allows none), else whether the server accepted it.
    pub zero_rtt: Option<bool>,
}

/// Runs the experiment against `addr` (the URL's port, over UDP) for `url`, within `limit` per step.
pub fn observe(client: &quic::Client, addr: SocketAddr, url: &str, limit: Duration) -> Seen {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return Seen { first: Err(e.to_string()), zero_rtt: None },
    };
    runtime.block_on(async {
        let endpoint = match quic::endpoint(addr) {
            Ok(endpoint) => endpoint,
            Err(e) => return Seen { first: Err(e.to_string()), zero_rtt: None },
        };
        let first = tokio::time::timeout(limit, first(&endpoint, client, addr, url))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {limit:?}")));
        let zero_rtt = match &first {
            Ok(_) => tokio::time::timeout(limit, early(&endpoint, client, addr, url)).await.unwrap_or(Some(false)),
            Err(_) => None,
        };
        endpoint.close(quinn::VarInt::from_u32(0x100), b"");
        let _ = tokio::time::timeout(Duration::from_millis(100), endpoint.wait_idle()).await;
        Seen { first, zero_rtt }
    })
}

type Driver = h3::client::Connection<h3_quinn::Connection, Bytes>;
type Sender = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

/// A full handshake, then one GET: how long each took.
async fn first(
    endpoint: &quinn::Endpoint,
    client: &quic::Client,
    addr: SocketAddr,
    url: &str,
) -> Result<(Duration, Duration), String> {
    let began = Instant::now();
    let connecting = endpoint.connect_with(client.config(), addr, &client.server_name).map_err(|e| e.to_string())?;
    let conn = connecting.await.map_err(|e| format!("QUIC handshake failed: {e}"))?;
    let handshake = began.elapsed();
    let (mut driver, mut sender) = start(&conn).await?;
    get(&mut driver, &mut sender, url).await?;
    let whole = began.elapsed();
    // The session tickets come after the handshake: a moment for them before the close.
    let _ = tokio::time::timeout(Duration::from_millis(50), std::future::poll_fn(|cx| driver.poll_close(cx))).await;
    conn.close(quinn::VarInt::from_u32(0x100), b"");
    Ok((handshake, whole))
}

/// A resumed connection with its GET in 0-RTT: None when early data could not be sent at all.
async fn early(endpoint: &quinn::Endpoint, client: &quic::Client, addr: SocketAddr, url: &str) -> Option<bool> {
    let connecting = endpoint.connect_with(client.config(), addr, &client.server_name).ok()?;
    let (conn, accepted) = connecting.into_0rtt().ok()?;
    let Ok((mut driver, mut sender)) = start(&conn).await else { return Some(false) };
    let _ = get(&mut driver, &mut sender, url).await;
    // HTTP/3 stays up until the handshake's end says what became of the early data.
    let accepted = accepted.await;
    conn.close(quinn::VarInt::from_u32(0x100), b"");
    Some(accepted)
}

/// HTTP/3 on a QUIC connection.
async fn start(conn: &quinn::Connection) -> Result<(Driver, Sender), String> {
    h3::client::builder()
        .build(h3_quinn::Connection::new(conn.clone()))
        .await
        .map_err(|e| format!("HTTP/3 did not start: {e}"))
}

/// One GET over HTTP/3, read to its end.
async fn get(driver: &mut Driver, sender: &mut Sender, url: &str) -> Result<(), String> {
    let exchange = async {
        let request = Request::get(url).body(()).map_err(|e| e.to_string())?;
        let mut stream = sender.send_request(request).await.map_err(|e| e.to_string())?;
        stream.finish().await.map_err(|e| e.to_string())?;
        stream.recv_response().await.map_err(|e| e.to_string())?;
        while stream.recv_data().await.map_err(|e| e.to_string())?.is_some() {}
        Ok(())
    };
    tokio::select! {
        done = exchange => done,
        closed = std::future::poll_fn(|cx| driver.poll_close(cx)) => Err(format!("the connection closed: {closed}")),
    }
}

//! `--mode multiplex`: HTTP/2 with prior knowledge against the embedded server's h2c, counted against its
//! own figures; the server's limits (SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY, RST_STREAM) each provoked.

use std::time::{Duration, Instant};

use connbench::plan::Mode;
use connbench::server::{ServerConfig, Stall};

use crate::util::{assert_consistent, binary, only, raw_server, run, server, settled};

#[test]
fn streams_share_exactly_c_connections_and_every_one_reaches_the_server_once() {
    let target = server(ServerConfig::default());
    let m = only(&run(&target, &["--mode", "multiplex", "-c", "4", "--depth", "8", "-n", "2003"])).clone();
    assert_consistent(&m);
    assert_eq!((m.mode, m.depth, m.requests, m.errors.total(), m.retries), (Mode::Multiplex, 8, 2003, 0, 0));
    assert_eq!((m.connections_opened, m.latency.total_first.count), (4, 4));
    assert_eq!(m.max_concurrent_streams, None, "the server set no limit");
    assert!(m.bytes_received > 2003 * 12, "frames and bodies counted: {}", m.bytes_received);
    let s = settled(&target);
    assert_eq!((s.requests, s.responses, s.connections), (2003, 2003, 4));
    assert!(s.max_in_flight > 1 && s.max_in_flight <= 8, "server saw {} streams at once", s.max_in_flight);
}

#[test]
fn depth_is_capped_by_the_servers_max_concurrent_streams_and_reported() {
    let target = server(ServerConfig { max_concurrent_streams: Some(3), ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "multiplex", "-c", "2", "--depth", "16", "-n", "500"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total(), m.retries), (500, 0, 0), "{:?}", m.errors);
    assert_eq!((m.max_concurrent_streams, m.max_in_flight), (Some(3), Some(3)));
    let s = settled(&target);
    assert_eq!(s.requests, 500);
    assert!((2..=3).contains(&s.max_in_flight), "server saw {} streams at once", s.max_in_flight);
}

#[test]
fn the_report_shows_the_streams_in_flight_and_the_servers_limit_not_the_depth_asked() {
    let args = ["run", "--mode", "multiplex", "-c", "2", "--depth", "16", "-n", "300", "--server-max-streams", "8"];
    let (code, stdout, stderr) = crate::util::connbench(&args);
    assert_eq!(code, 0, "{stderr}");
    let row = stdout.lines().find(|l| l.starts_with("streams in flight, most")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.ends_with(" 8 of 16"), "{row}");
    let limit = stdout.lines().find(|l| l.starts_with("server's stream limit")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(limit.ends_with(" 8"), "{limit}");
    let (_, csv, _) = crate::util::connbench(&[&args[..], &["--format", "csv"]].concat());
    let (header, row) = csv.split_once('\n').unwrap();
    let cells: std::collections::HashMap<_, _> = header.split(',').zip(row.trim_end().split(',')).collect();
    assert_eq!((cells["max_in_flight"], cells["max_concurrent_streams"], cells["http"]), ("8", "8", "2"), "{csv}");
}

#[test]
fn streams_refused_after_a_goaway_are_sent_again_on_a_new_connection() {
    let target = server(ServerConfig { goaway_after: Some(40), ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "multiplex", "-c", "2", "--depth", "16", "-n", "1000"])).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total()), (1000, 0), "{:?}", m.errors);
    assert!(m.retries > 0, "streams past the 40th were refused and re-sent");
    assert!(m.connections_opened >= 1000 / 40, "{} connections", m.connections_opened);
    let s = settled(&target);
    assert_eq!(s.requests, 1000, "every request processed once, none twice");
    assert_eq!(s.connections, m.connections_opened);
}

#[test]
fn a_post_refused_by_a_goaway_was_not_processed_and_is_sent_again() {
    // RFC 9113 §8.7: a stream above GOAWAY's last-stream-id was not processed, whatever its method.
    let target = server(ServerConfig { goaway_after: Some(40), ..ServerConfig::default() });
    let args = ["--mode", "multiplex", "-c", "2", "--depth", "8", "-n", "500", "-X", "POST", "--body", "x=1"];
    let m = only(&run(&target, &args)).clone();
    assert_consistent(&m);
    assert_eq!((m.requests, m.errors.total()), (500, 0), "{:?}", m.errors);
    assert!(m.retries > 0, "streams past the 40th were refused and sent again");
    let s = settled(&target);
    assert_eq!(s.requests, 500, "every POST processed once, none twice");
}

#[test]
fn a_stream_reset_by_the_server_is_an_h2_reset_error() {
    let target = server(ServerConfig { reset: true, ..ServerConfig::default() });
    let m = only(&run(&target, &["--mode", "multiplex", "-c", "1", "--depth", "4", "-n", "20"])).clone();
    assert_eq!((m.requests, m.errors.h2_reset, m.errors.total(), m.retries), (0, 20, 20, 0), "{:?}", m.errors);
    assert_eq!(m.connections_opened, 1, "a reset stream leaves its connection open");
}

#[test]
fn a_server_without_http2_is_refused_before_any_load() {
    let http1 = raw_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec());
    let url = format!("http://{http1}/");
    let out = binary().args(["run", &url, "--mode", "multiplex", "-n", "10"]).env("CI", "true").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not speak HTTP/2") && stderr.contains("HTTP/1.1 400"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn the_window_cancels_streams_in_flight_and_counts_them() {
    // The 21st request waits 4 s: the 1 s window ends on time, that stream in flight, the others go on.
    let target = server(ServerConfig {
        stall: Some(Stall { after: 20, length: Duration::from_secs(4) }),
        ..ServerConfig::default()
    });
    let began = Instant::now();
    let m = only(&run(&target, &["--mode", "multiplex", "-c", "2", "--depth", "4", "-d", "1s"])).clone();
    assert!(began.elapsed() < Duration::from_millis(2500), "took {:?}", began.elapsed());
    assert_eq!(m.duration_s, 1.0);
    assert!((1..=8).contains(&m.in_flight_at_end), "{} in flight", m.in_flight_at_end);
    assert!(m.requests > 100, "the stalled stream held up no other: {}", m.requests);
    assert_eq!(m.errors.total(), 0);
}

#[test]
fn every_request_due_at_a_rate_is_completed_failed_in_flight_or_missed() {
    let target = server(ServerConfig::default());
    let m = only(&run(&target, &["--mode", "multiplex", "--rate", "300", "-d", "2s", "-c", "2"])).clone();
    assert_consistent(&m);
    let missed = m.pacing.expect("reported with --rate").missed;
    assert_eq!(m.requests + m.errors.total() + m.in_flight_at_end + missed, 600, "{m:?}");
    assert!(m.requests >= 570 && m.errors.total() == 0, "{} requests", m.requests);
    assert!(m.connections_opened <= 2);
}

#[test]
fn all_runs_five_modes_on_an_h2c_server_and_the_four_http1_modes_elsewhere() {
    let target = server(ServerConfig::default());
    let five = run(&target, &["--mode", "all", "-c", "2", "-n", "20"]);
    assert_eq!(five.runs.iter().map(|m| m.mode).collect::<Vec<_>>(), Mode::ALL);
    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_vec();
    let (http1, accepted) = crate::util::raw_server_counting(reply);
    let four = crate::util::run_at(http1, &["--mode", "all", "-c", "1", "-n", "3"]);
    assert_eq!(four.runs.iter().map(|m| m.mode).collect::<Vec<_>>(), &Mode::ALL[..4]);
    // The connection that asked for HTTP/2 is counted, with the first mode: the server's count is ours.
    let opened: u64 = four.runs.iter().map(|m| m.connections_opened).sum();
    assert_eq!(opened, accepted.load(std::sync::atomic::Ordering::Relaxed));
    assert_eq!(four.runs[0].connections_opened, 4, "serial's 3, and the one that asked");
    let note = four.notes.iter().find(|n| n.mode == Some(Mode::Multiplex)).expect("a note on the skipped mode");
    assert!(note.text.contains("counted with serial"), "{}", note.text);
}

/// One HTTP/2 frame: length, type, flags, stream id, payload (RFC 9113 §4.1).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut bytes = vec![len[1], len[2], len[3], kind, flags];
    bytes.extend_from_slice(&stream.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// A SETTINGS frame with SETTINGS_MAX_CONCURRENT_STREAMS (§6.5.2).
fn max_streams(limit: u32) -> Vec<u8> {
    let mut payload = vec![0, 3];
    payload.extend_from_slice(&limit.to_be_bytes());
    frame(4, 0, 0, &payload)
}

/// A hand-made h2c server, frame by frame: its SETTINGS allow no stream at first, and a second SETTINGS raises
/// the limit to 100 after `raise_after` (never, when None). A stream that arrives while the limit is 0 is
/// refused (RST_STREAM REFUSED_STREAM); the others are answered `:status 200` with no body (HPACK index 8).
fn zero_streams_server(raise_after: Option<Duration>) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let accepted = Instant::now();
                let mut preface = [0u8; 24];
                if stream.read_exact(&mut preface).is_err() || stream.write_all(&max_streams(0)).is_err() {
                    return;
                }
                stream.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
                let (mut raised, mut buf) = (false, Vec::new());
                loop {
                    if !raised && raise_after.is_some_and(|after| accepted.elapsed() >= after) {
                        raised = true;
                        let _ = stream.write_all(&max_streams(100));
                    }
                    let mut chunk = [0u8; 4096];
                    match stream.read(&mut chunk) {
                        Ok(0) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        Err(_) => return,
                    }
                    while buf.len() >= 9 {
                        let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
                        if buf.len() < 9 + len {
                            break;
                        }
                        let (kind, flags) = (buf[3], buf[4]);
                        let id = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
                        let reply = match kind {
                            4 if flags & 1 == 0 => frame(4, 1, 0, &[]),
                            1 if raised => frame(1, 0x5, id, &[0x88]),
                            1 => frame(3, 0, id, &7u32.to_be_bytes()),
                            _ => Vec::new(),
                        };
                        buf.drain(..9 + len);
                        if stream.write_all(&reply).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_server_that_allows_no_stream_is_waited_for_then_counted_as_refusing() {
    // SETTINGS_MAX_CONCURRENT_STREAMS 0 and never more: each request waits --timeout for a SETTINGS update,
    // then is the server's refusal; the first, sent before the SETTINGS were known and refused, went again.
    let never = zero_streams_server(None);
    let args = ["--mode", "multiplex", "-c", "1", "-n", "2", "--timeout", "300ms"];
    let result = crate::util::run_at(never, &args);
    let m = only(&result);
    assert_eq!((m.requests, m.errors.refused, m.errors.total()), (0, 2, 2), "{:?}", m.errors);
    assert_eq!(m.max_concurrent_streams, Some(0));
    let note = result.notes.iter().find(|n| n.text.contains("SETTINGS_MAX_CONCURRENT_STREAMS")).expect("a note");
    assert!(note.text.contains("no stream") && note.text.contains("refused"), "{}", note.text);
    // Raised after 300 ms: every request waits for it and is answered.
    let later = zero_streams_server(Some(Duration::from_millis(300)));
    let args = ["--mode", "multiplex", "-c", "1", "--depth", "4", "-n", "6", "--timeout", "5s"];
    let result = crate::util::run_at(later, &args);
    let m = only(&result);
    assert_eq!((m.requests, m.errors.total()), (6, 0), "{:?}", m.errors);
    assert!(result.notes.iter().any(|n| n.text.contains("waited for a SETTINGS frame")), "{:?}", result.notes);
}

#[test]
fn a_server_whose_frames_cannot_be_read_is_quoted_from_its_http2_connection() {
    // Its preface passes (a SETTINGS frame), then it sends a status line where frames belong; an HTTP/1.1
    // request on another connection would get another answer, which is not what the streams met.
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut first = [0u8; 64];
            let Ok(n) = stream.read(&mut first) else { continue };
            let reply: Vec<u8> = if first[..n].starts_with(b"PRI") {
                [&frame(4, 0, 0, &[])[..], b"HTTP/1.1 500 said on the h2 connection\r\n\r\n"].concat()
            } else {
                b"HTTP/1.1 200 said to an HTTP/1.1 request\r\n\r\n".to_vec()
            };
            let _ = stream.write_all(&reply);
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        }
    });
    let result = crate::util::run_at(addr, &["--mode", "multiplex", "-c", "1", "-n", "3"]);
    assert_eq!(only(&result).errors.parse, 3, "{:?}", only(&result).errors);
    let note = result.notes.iter().find(|n| n.text.starts_with("no response was HTTP")).expect("a not-HTTP note");
    assert!(note.text.contains("said on the h2 connection"), "{}", note.text);
    assert!(!note.text.contains("HTTP/1.1 request"), "{}", note.text);
}

#[test]
fn a_server_that_sends_part_of_a_frame_and_closes_is_told_at_once() {
    let partial = raw_server(vec![0, 0, 6, 4, 0]);
    let url = format!("http://{partial}/");
    let began = Instant::now();
    let (code, _, stderr) = crate::util::connbench(&["run", &url, "--mode", "multiplex", "-n", "1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("sent 5 bytes") && stderr.contains("closed the connection"), "{stderr}");
    assert!(began.elapsed() < Duration::from_secs(3), "waited {:?} for a closed connection", began.elapsed());
}

//! `connbench page` against the embedded server's page, checked against the server's own counters: each
//! strategy sends the page and each object once per load on the connections it allows, POST is never pipelined,
//! the fault knobs apply, and discovery reads every kind of embedded object.

use connbench::page::result::PageResult;
use connbench::server::{ServerConfig, ServerThread};

use crate::util::{connbench, raw_server, scratch, server, settled, tls_server};

const LOADS: u64 = 3;
const OBJECTS: u64 = 8;

/// Runs `connbench page ARGS… --format json` and returns its result; the run must succeed.
fn page(args: &[&str]) -> PageResult {
    let mut full = vec!["page", "--format", "json"];
    full.extend_from_slice(args);
    let (code, stdout, stderr) = connbench(&full);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not a page result ({e}): {stdout}"))
}

fn url(target: &ServerThread) -> String {
    format!("http://{}/page?objects={OBJECTS}&size=2000", target.addr)
}

#[test]
fn each_strategy_sends_the_page_and_every_object_once_per_load_on_the_connections_it_allows() {
    let loads = LOADS.to_string();
    // each case: the strategy, the connections one load may open (the page's included)
    for (strategy, connections) in
        [("serial", 1 + OBJECTS), ("parallel", 1 + OBJECTS), ("persistent", 6), ("pipelined", 6), ("multiplexed", 1)]
    {
        let target = server(ServerConfig::default());
        let result = page(&[&url(&target), "--strategy", strategy, "--loads", &loads]);
        let stats = settled(&target);
        let s = &result.strategies[0];
        assert_eq!(result.objects.len() as u64, OBJECTS, "{strategy}: the page's images found");
        // the server saw the discovery's GET, then every load's page and objects
        assert_eq!(stats.requests, 1 + LOADS * (1 + OBJECTS), "{strategy}");
        assert_eq!(s.requests, LOADS * (1 + OBJECTS), "{strategy}");
        assert_eq!((s.errors.total(), s.retries), (0, 0), "{strategy}");
        // the discovery's connection, multiplexed's check that the server speaks HTTP/2, then the loads'
        let check = u64::from(strategy == "multiplexed");
        assert_eq!(stats.connections, 1 + check + s.connections_opened, "{strategy}");
        let timeline = &s.median_load.timeline;
        match strategy {
            "serial" | "parallel" => {
                assert_eq!(s.connections_opened, LOADS * connections, "{strategy}: one connection per request");
                for c in 0..timeline.connections.len() {
                    assert_eq!(timeline.requests.iter().filter(|r| r.connection == c).count(), 1, "{strategy}");
                }
            }
            _ => {
                assert!(
                    s.connections_opened <= LOADS * connections,
                    "{strategy}: {} connections",
                    s.connections_opened
                );
                assert!(timeline.connections.len() as u64 <= connections, "{strategy}");
            }
        }
        assert_eq!(timeline.requests.len() as u64, 1 + OBJECTS, "{strategy}: the median load whole");
        assert!(timeline.requests.iter().all(|r| r.status == Some(200)), "{strategy}");
    }
}

#[test]
fn the_critical_path_is_read_from_what_each_strategy_did() {
    let target = server(ServerConfig::default());
    let result = page(&[&url(&target), "--loads", "2", "--assume-rtt", "50ms"]);
    let names: Vec<_> = result.strategies.iter().map(|s| s.strategy.name()).collect();
    assert_eq!(names, ["serial", "parallel", "persistent", "pipelined", "multiplexed"]);
    let trips = |i: usize| result.strategies[i].critical_path;
    // serial: a handshake and a request for the page and for each object, one after another
    assert_eq!((trips(0).handshakes, trips(0).requests), (1 + OBJECTS as u32, 1 + OBJECTS as u32));
    // parallel: every object on a connection of its own, opened after the page at the earliest
    assert!(trips(1).handshakes >= 2 && trips(1).handshakes == trips(1).requests, "{:?}", trips(1));
    // persistent: the page's connection, or one opened after the page; how many requests each carried is
    // the machine's timing
    assert!(trips(2).handshakes <= 2, "{:?}", trips(2));
    // pipelined: the page, then one wave on the page's connection (3) or on one opened after it (4)
    assert!((3..=4).contains(&trips(3).round_trips), "{:?}", trips(3));
    // multiplexed: one handshake, the page, then every object at once
    assert_eq!((trips(4).handshakes, trips(4).requests), (1, 2));
    for s in &result.strategies {
        let projected = s.median_load.page_load_us + 50_000 * u64::from(s.critical_path.round_trips);
        assert_eq!(s.projected_us, Some(projected), "{:?}", s.strategy);
    }
}

#[test]
fn post_is_never_pipelined_and_get_is() {
    let target = server(ServerConfig::default());
    let dir = scratch("page-post");
    let list = dir.join("objects.txt");
    let mut lines = String::from("# three GETs, a POST, three GETs\n");
    for i in 1..=7 {
        let method = if i == 4 { "POST " } else { "" };
        lines.push_str(&format!("{method}/page/object/{i}?size=100\n"));
    }
    std::fs::write(&list, lines).unwrap();
    let page_url = url(&target);
    let list = list.to_str().unwrap();
    let result = page(&[&page_url, "--objects", list, "--strategy", "pipelined", "--per-host", "1", "--loads", "2"]);
    let stats = settled(&target);
    assert_eq!(stats.methods_post_overlap, 0, "a POST never arrived beside another request");
    assert!(stats.max_in_flight >= 3, "the GETs were pipelined: {}", stats.max_in_flight);
    // and as connbench recorded it: the three GETs sent together after the page, the POST alone after them
    let requests = &result.strategies[0].median_load.timeline.requests;
    let sent_with_page_answered: Vec<_> = requests.iter().filter(|r| r.after == Some(0)).map(|r| r.object).collect();
    assert_eq!(sent_with_page_answered, [1, 2, 3]);
    let post = requests.iter().position(|r| r.object == 4).unwrap();
    let (answered_before, sent_after) = (requests[..post].iter().map(|r| r.done_us).max(), requests[post + 1].sent_us);
    assert!(answered_before <= Some(requests[post].sent_us) && sent_after >= requests[post].done_us);
    assert_eq!(stats.requests, 2 * 8, "no discovery: the list was given");
    assert_eq!(result.strategies[0].requests, 2 * 8);
    assert_eq!(result.objects[3].method, "POST");
}

#[test]
fn the_servers_fault_knobs_apply_and_unanswered_requests_are_sent_again() {
    // the server closes after 2 responses: pipelined requests beyond are unanswered, and sent again
    let result = page(&[
        "--server-keep-alive-max",
        "1",
        "--server-objects",
        "12",
        "--loads",
        "2",
        "--strategy",
        "persistent,pipelined",
    ]);
    for s in &result.strategies {
        assert_eq!((s.requests, s.errors.total()), (2 * 13, 0), "{:?}", s.strategy);
        assert!(s.connections_opened > 2 * 6, "{:?}: connections the server closed were replaced", s.strategy);
    }
    assert!(result.strategies[1].retries > 0, "pipelined requests past the server's limit went again");
    assert!(result.page.ends_with("(embedded server)") && result.page.contains("/page?objects=12&size=10240"));
}

#[test]
fn every_kind_of_embedded_object_is_found_relative_to_base_and_the_skipped_are_named() {
    let html = r#"<!doctype html><html><head><base href="/assets/">
<link rel="stylesheet" href="a.css"><link rel="icon" href="/favicon.ico"><link rel="preload" href="f.woff2">
<script src="app.js"></script></head><body>
<img src="one.png"><img src="one.png"><img srcset="small.png 1x, big.png 2x" src="fallback.png">
<video src="v.mp4"></video><audio src="a.ogg"></audio><picture><source src="p.webp"></picture>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><img src="mailto:someone@example.test">
</body></html>"#;
    let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}", html.len());
    let addr = raw_server(reply.into_bytes());
    let result = page(&[&format!("http://{addr}/dir/index.html"), "--strategy", "serial", "--loads", "1"]);
    let urls: Vec<_> = result.objects.iter().map(|o| o.url.trim_start_matches(&format!("http://{addr}"))).collect();
    assert_eq!(
        urls,
        [
            "/assets/a.css",
            "/favicon.ico",
            "/assets/f.woff2",
            "/assets/app.js",
            "/assets/one.png",
            "/assets/small.png",
            "/assets/v.mp4",
            "/assets/a.ogg",
            "/assets/p.webp"
        ]
    );
    assert_eq!(result.duplicates, 1);
    let why: Vec<_> = result.skipped.iter().map(|s| s.why.as_str()).collect();
    assert_eq!(why, ["a data: URL, inside the page", "scheme mailto: not http or https"]);
    assert_eq!(result.strategies[0].requests, 10, "the page and 9 objects, each answered");
    // the text report says what was found and skipped
    let (code, stdout, stderr) =
        connbench(&["page", &format!("http://{addr}/dir/index.html"), "--strategy", "serial", "--loads", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("found 9 objects on 1 origin: 1 img"), "{stdout}");
    assert!(stdout.contains("  skipped img mailto:someone@example.test: scheme mailto: not http or https"), "{stdout}");
}

#[test]
fn checks_gate_on_page_load_and_refuse_what_page_does_not_measure() {
    let (code, _, stderr) =
        connbench(&["page", "--loads", "2", "--strategy", "persistent", "--check", "p95.page_load<60s"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) =
        connbench(&["page", "--loads", "2", "--strategy", "persistent", "--check", "p95.page_load<1us"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("check persistent p95.page_load < 1µs"), "{stdout}");
    assert!(stderr.contains("gate failed: persistent p95.page_load < 1µs"), "{stderr}");
    for (check, needle) in [("rps>5", "gates on STAT.page_load"), ("p99.total<1s", "gates on STAT.page_load")] {
        let (code, _, stderr) = connbench(&["page", "--check", check]);
        assert_eq!(code, 2, "{check}: {stderr}");
        assert!(stderr.contains(needle), "{check}: {stderr}");
    }
    let (code, _, stderr) = connbench(&["run", "-n", "1", "--check", "p50.page_load<1s"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("page_load is measured by connbench page"), "{stderr}");
}

#[test]
fn a_server_without_http2_leaves_multiplexed_out_unless_it_was_asked_for() {
    let html = "<img src=a.png>";
    let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}", html.len());
    let addr = raw_server(reply.into_bytes());
    let url = format!("http://{addr}/");
    let result = page(&[&url, "--loads", "1"]);
    assert_eq!(result.strategies.len(), 4, "the four HTTP/1.x strategies");
    assert!(result.notes.iter().any(|n| n.text.starts_with("multiplexed left out:")), "{:?}", result.notes);
    let (code, _, stderr) = connbench(&["page", &url, "--strategy", "multiplexed"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--strategy multiplexed:") && stderr.contains("does not speak HTTP/2"), "{stderr}");
}

#[test]
fn over_https_later_loads_resume_their_sessions() {
    let (target, pem) = tls_server(ServerConfig::default());
    let url = format!("https://127.0.0.1:{}/page?objects=4&size=100", target.addr.port());
    let result =
        page(&[&url, "--cacert", pem.to_str().unwrap(), "--loads", "2", "--strategy", "persistent,multiplexed"]);
    for s in &result.strategies {
        let tls = s.tls.expect("https connections");
        assert_eq!(s.requests, 2 * 5, "{:?}", s.strategy);
        assert!(tls.handshakes_resumed > 0, "{:?}: {tls:?}", s.strategy);
        // TLS 1.3: one round trip of TCP, one of TLS, on the critical path
        assert!(s.critical_path.handshakes >= 2, "{:?}", s.strategy);
    }
    assert_eq!(result.strategies[1].median_load.timeline.connections[0].protocol, "h2");
}

#[test]
fn formats_for_people_and_scripts() {
    let (code, stdout, stderr) = connbench(&["page", "--loads", "1", "--server-objects", "3", "--format", "html"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("<!doctype html>") && stdout.ends_with("</body></html>\n"));
    // the medians, then one waterfall per strategy
    assert_eq!(stdout.matches("<svg ").count(), 1 + 5);
    assert_eq!(stdout.matches("<h3>").count(), 5);
    assert!(!stdout.contains("src=") && !stdout.contains("<link"), "self-contained");
    let (code, stdout, stderr) = connbench(&["page", "--loads", "1", "--server-objects", "3", "--format", "csv"]);
    assert_eq!(code, 0, "{stderr}");
    let mut lines = stdout.lines();
    assert!(lines.next().unwrap().starts_with("strategy,page_load_p50_us,"));
    assert_eq!(
        lines.map(|l| l.split(',').next().unwrap()).collect::<Vec<_>>(),
        ["serial", "parallel", "persistent", "pipelined", "multiplexed"]
    );
    let (code, stdout, stderr) = connbench(&["page", "--loads", "1", "--server-objects", "3", "--format", "markdown"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("| | serial | parallel | persistent | pipelined | multiplexed |"), "{stdout}");
}

#[test]
fn a_signal_stops_the_loads_between_two_and_what_they_measured_is_still_written() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let dir = scratch("page-signal");
    let saved = dir.join("page.json");
    let mut child = crate::util::binary()
        .args(["page", "--loads", "10000", "--server-delay", "2ms", "--strategy", "persistent", "-o"])
        .arg(&saved)
        .env("CI", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the loads did not stop");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(143));
    let result: PageResult = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let loads = result.strategies[0].loads;
    assert!(!result.complete && loads > 0 && loads < 10_000, "{loads} loads");
    std::fs::remove_dir_all(&dir).unwrap();
}

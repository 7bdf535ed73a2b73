/*!
`--targets FILE`: the requests of a run, read in vegeta's two formats and told apart by the first byte that is
not white space (`{` is JSON). Pure but for the body files a plain target names; no tokio, no network.

The plain format, a request per block, blocks apart by blank lines, `#` starting a comment line:

```text
GET http://127.0.0.1:8080/api/users
X-Api-Key: secret

POST http://127.0.0.1:8080/api/orders
Content-Type: application/json
@body.json
```

A request line is `METHOD URL`; the lines under it are `Name: value` headers and, at most once, `@PATH` for a
file whose bytes are the body (relative to the working directory, as vegeta reads it). A URL is absolute, or
a path (`/api/users`) on the run's URL. The JSON format is a JSON object per line, as vegeta's `-format=json`:
`{"method": "GET", "url": "…", "header": {"Name": ["value"]}, "body": "<base64>"}`; only `url` is required.

Every entry is checked here, each error naming its line; what needs the rest of the plan (its URL read as the
run's is, one origin for all, the headers HTTP/2 forbids) is checked by `plan.rs` with the same line.
*/

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use crate::http::request::{field_problem, is_token_byte};

/// The most targets one file may hold: each is rendered for every mode and its figures kept apart.
pub const MAX_TARGETS: usize = 100_000;

/// One request of the file, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The line it starts on, from 1.
    pub line: usize,
    /// None in a JSON entry without one: `-X`, else GET.
    pub method: Option<String>,
    pub url: Place,
    pub headers: Vec<(String, String)>,
    /// None without one: `--body`, else nothing.
    pub body: Option<Vec<u8>>,
}

/// Where a target points.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// A URL with its scheme, as written: `plan.rs` reads it as it reads the run's URL.
    Absolute(String),
    /// Origin-form, on the run's URL: `/api/users?page=2`.
    Path(String),
}

/// Why a file cannot be used: the line (0 for the file as a whole) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub why: String,
}

fn at(line: usize, why: impl Into<String>) -> Problem {
    Problem { line, why: why.into() }
}

/// Every entry of a targets file's text, in order, or the first problem.
pub fn parse(text: &str) -> Result<Vec<Entry>, Problem> {
    let entries = if text.trim_start().starts_with('{') { json_lines(text)? } else { plain(text)? };
    if entries.is_empty() {
        return Err(at(0, "holds no target (a request line 'GET http://host/path', or a JSON object per line)"));
    }
    if entries.len() > MAX_TARGETS {
        return Err(at(entries[MAX_TARGETS].line, format!("more than {MAX_TARGETS} targets, the most a run takes")));
    }
    Ok(entries)
}

fn plain(text: &str) -> Result<Vec<Entry>, Problem> {
    let mut entries: Vec<Entry> = Vec::new();
    // The entry whose headers may still follow: none after a blank line.
    let mut open = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            open = false;
            continue;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        match entries.last_mut().filter(|_| open) {
            Some(entry) if !is_request_line(trimmed) => under(entry, line, trimmed)?,
            Some(_) => entries.push(request_line(line, trimmed).map_err(|_| {
                at(line, format!("'{}': expected 'Name: value', '@FILE', a blank line or 'METHOD URL'", shown(trimmed)))
            })?),
            None => {
                entries.push(request_line(line, trimmed)?);
                open = true;
            }
        }
    }
    Ok(entries)
}

/// A request line starts with a method, then white space: a header's name ends at its colon, before any space,
/// and a body's line starts with `@`.
fn is_request_line(line: &str) -> bool {
    !line.starts_with('@') && line.split_whitespace().next().is_some_and(|first| !first.contains(':'))
}

fn request_line(line: usize, text: &str) -> Result<Entry, Problem> {
    let mut words = text.split_whitespace();
    let (Some(method), Some(url), None) = (words.next(), words.next(), words.next()) else {
        return Err(at(line, format!("'{}': expected 'METHOD URL' (as in GET http://host/path)", shown(text))));
    };
    Ok(Entry { line, method: Some(checked_method(line, method)?), url: place(line, url)?, headers: vec![], body: None })
}

/// A line under a request line: a header, or `@PATH`, the body's file.
fn under(entry: &mut Entry, line: usize, text: &str) -> Result<(), Problem> {
    if let Some(path) = text.strip_prefix('@') {
        if entry.body.is_some() {
            return Err(at(line, format!("'{}': a second body for the request of line {}", shown(text), entry.line)));
        }
        let body = crate::input::read(std::path::Path::new(path.trim()), crate::input::Kind::Body)
            .map_err(|e| at(line, format!("body file {}: {e}", shown(path.trim()))))?;
        entry.body = Some(body);
        return Ok(());
    }
    // Not a request line: its first word holds the colon.
    let (name, value) = text.split_once(':').unwrap_or((text, ""));
    entry.headers.push(checked_header(line, name.trim(), value.trim())?);
    Ok(())
}

/// A JSON line as vegeta writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonTarget {
    method: Option<String>,
    url: String,
    #[serde(default)]
    header: BTreeMap<String, Vec<String>>,
    body: Option<String>,
}

fn json_lines(text: &str) -> Result<Vec<Entry>, Problem> {
    let mut entries = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let target: JsonTarget = serde_json::from_str(raw).map_err(|e| at(line, format!("not a JSON target: {e}")))?;
        let method = target.method.map(|m| checked_method(line, &m)).transpose()?;
        let mut headers = Vec::new();
        for (name, values) in &target.header {
            for value in values {
                headers.push(checked_header(line, name.trim(), value.trim())?);
            }
        }
        let body = target
            .body
            .map(|b| base64::engine::general_purpose::STANDARD.decode(b.as_bytes()))
            .transpose()
            .map_err(|e| at(line, format!("body is not base64: {e}")))?;
        entries.push(Entry { line, method, url: place(line, &target.url)?, headers, body });
    }
    Ok(entries)
}

fn checked_method(line: usize, method: &str) -> Result<String, Problem> {
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(at(line, format!("'{}' is not an HTTP method", shown(method))));
    }
    Ok(method.to_ascii_uppercase())
}

fn checked_header(line: usize, name: &str, value: &str) -> Result<(String, String), Problem> {
    match field_problem(name, value) {
        Some(why) => Err(at(line, format!("header '{}: {}': {why}", shown(name), shown(value)))),
        None => Ok((name.to_string(), value.to_string())),
    }
}

/// A URL with its scheme (`http://host/path`), or a path (`/path`): a word without either, under a request
/// line, is more likely a header without its colon than a host.
fn place(line: usize, url: &str) -> Result<Place, Problem> {
    if url.starts_with('/') {
        if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(at(line, format!("'{}': a path holds no space or control character", shown(url))));
        }
        return Ok(Place::Path(url.to_string()));
    }
    if !url.contains("://") {
        return Err(at(line, format!("'{}' is neither a URL (http://host/path) nor a path (/path)", shown(url))));
    }
    Ok(Place::Absolute(url.to_string()))
}

/// Text from the file as it may be shown: its control characters escaped.
fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    crate::printable::printable(text)
}

/// The order in which a run's requests take the targets (`--targets-order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Each in turn: a run's request n goes to target n mod count.
    RoundRobin,
    /// Drawn at random, the draw of each request a function of the seed and the request's number, so a run
    /// with the same seed and `-n` sends each target exactly as many requests.
    Random { seed: u64 },
}

impl Order {
    /// The target of request `position` of the sequence `stream` (0: the run's own numbering of `-n` and
    /// `--rate`; a worker's, from 1, with `-d`), among `count`.
    pub fn pick(self, count: usize, stream: u64, position: u64) -> usize {
        if count <= 1 {
            return 0;
        }
        match self {
            Order::RoundRobin => ((stream + position) % count as u64) as usize,
            Order::Random { seed } => {
                let draw = mix(mix(seed ^ mix(stream)) ^ position);
                // Lemire's multiply-shift: a draw below `count` without the bias of a modulo.
                ((u128::from(draw) * count as u128) >> 64) as usize
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Order::RoundRobin => "round-robin",
            Order::Random { .. } => "random",
        }
    }
}

/// splitmix64's finalizer: every bit of the input moves every bit of the output.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for `--targets-order random` without `--seed`: the process's own random hash key.
pub fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Place {
        Place::Path(p.into())
    }

    #[test]
    fn the_plain_format_reads_as_vegeta_writes_it() {
        let dir = std::env::temp_dir().join(format!("connbench-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let body = dir.join("order.json");
        std::fs::write(&body, b"{\"id\":1}").unwrap();
        let text = format!(
            "# the API\nGET http://127.0.0.1:8080/api/users?page=2\nX-Api-Key: secret\n\n\
             POST /api/orders\r\nContent-Type: application/json\r\n@{}\r\n\n# last\nHEAD /\nput /x\n",
            body.display()
        );
        let entries = parse(&text).unwrap();
        assert_eq!(entries.len(), 4);
        let users = &entries[0];
        assert_eq!((users.line, users.method.as_deref()), (2, Some("GET")));
        assert_eq!(users.url, Place::Absolute("http://127.0.0.1:8080/api/users?page=2".into()));
        assert_eq!(users.headers, vec![("X-Api-Key".to_string(), "secret".to_string())]);
        let orders = &entries[1];
        assert_eq!(
            (orders.line, orders.url.clone(), orders.body.as_deref()),
            (5, path("/api/orders"), Some(&b"{\"id\":1}"[..]))
        );
        assert_eq!(orders.headers[0].0, "Content-Type");
        // a request line may follow another directly, and a method is read in capitals
        assert_eq!((entries[2].line, entries[3].method.as_deref()), (10, Some("PUT")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn json_lines_read_as_vegeta_writes_them() {
        let text =
            "{\"method\":\"POST\",\"url\":\"http://h/a\",\"header\":{\"X-A\":[\"1\",\"2\"]},\"body\":\"aGk=\"}\n\n\
                    {\"url\":\"/b\"}\n";
        let entries = parse(text).unwrap();
        assert_eq!(entries[0].headers, vec![("X-A".into(), "1".into()), ("X-A".into(), "2".into())]);
        assert_eq!((entries[0].method.as_deref(), entries[0].body.as_deref()), (Some("POST"), Some(&b"hi"[..])));
        assert_eq!((entries[1].line, entries[1].method.clone(), entries[1].url.clone()), (3, None, path("/b")));
    }

    #[test]
    fn every_problem_names_its_line() {
        // each case: the file, the line, what the message must say
        for (text, line, needle) in [
            ("", 0, "holds no target"),
            ("# nothing but a comment\n\n", 0, "holds no target"),
            ("GET\n", 1, "'GET': expected 'METHOD URL'"),
            ("GET /a extra\n", 1, "expected 'METHOD URL'"),
            ("G@T /a\n", 1, "'G@T' is not an HTTP method"),
            ("GET /a b\n", 1, "expected 'METHOD URL'"),
            ("GET host/a\n", 1, "'host/a' is neither a URL (http://host/path) nor a path (/path)"),
            ("GET /\nNoColon\n", 2, "'NoColon': expected 'Name: value', '@FILE', a blank line or 'METHOD URL'"),
            ("GET /\nConnection: close\n", 2, "header 'Connection: close': Connection is set by the mode"),
            ("GET /\nX-A: a\u{1}b\n", 2, "header 'X-A: a\\u{1}b': the value holds the control character 0x01"),
            ("POST /\n@/nonexistent/body\n", 2, "body file /nonexistent/body: "),
            ("{\"url\":\"/a\"}\n{\"url\":\"/b\",\"headers\":{}}\n", 2, "not a JSON target: unknown field `headers`"),
            ("{\"url\":\"/a\",\"body\":\"!!\"}\n", 1, "body is not base64"),
            ("{\"method\":\"GE T\",\"url\":\"/a\"}\n", 1, "'GE T' is not an HTTP method"),
            ("{\"url\":\"/a\"}\nGET /b\n", 2, "not a JSON target"),
        ] {
            let problem = parse(text).unwrap_err();
            assert_eq!(problem.line, line, "{text:?}: {problem:?}");
            assert!(problem.why.contains(needle), "{text:?}: {}", problem.why);
        }
    }

    #[test]
    fn round_robin_takes_each_in_turn_and_random_repeats_with_its_seed() {
        let rr: Vec<_> = (0..6).map(|n| Order::RoundRobin.pick(3, 0, n)).collect();
        assert_eq!(rr, [0, 1, 2, 0, 1, 2]);
        assert_eq!(Order::RoundRobin.pick(3, 2, 0), 2, "a worker's sequence starts at its own offset");
        assert_eq!(Order::RoundRobin.pick(1, 7, 9), 0);
        let draws = |seed| (0..30_000).map(|n| Order::Random { seed }.pick(3, 0, n)).collect::<Vec<_>>();
        assert_eq!(draws(42), draws(42), "the same seed draws the same targets");
        assert_ne!(draws(42), draws(43));
        let mut counts = [0; 3];
        draws(7).iter().for_each(|&t| counts[t] += 1);
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "about a third each: {counts:?}");
        // the workers' sequences are not shifted copies of one another
        let worker = |stream| (0..20).map(|n| Order::Random { seed: 1 }.pick(1000, stream, n)).collect::<Vec<_>>();
        assert_ne!(worker(1)[1..], worker(2)[..19]);
    }
}

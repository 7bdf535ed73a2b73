/*!
TOML profiles (`run -p FILE`, docs/design.md §6): every `run` option, named like its long flag with `_`
for `-` (`connections = 6`, `close_by = "server"`, `server_body_size = 1024`), parsed with the same
parsers as the flags. Flags on the command line override a profile; `plan.rs` does the layering.

A profile is checked whole before anything runs: an unknown key or a bad value is an error naming the
file and the line (from toml's error span). What only the plan can find (a header without a colon,
`requests` and `duration` together) names the file and the key's line too, through [`Profile::blame`].
No tokio, no network.
*/

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;
use serde::{Deserialize, Deserializer};

use crate::check::Check;
use crate::cli::{
    parse_body_size, parse_duration, parse_percent, parse_rate, parse_stall, CloseByArg, EngineArg, FormatArg,
    HttpVersionArg, ModeArg, PortPolicyArg, TargetsOrderArg, TlsVersionArg,
};

/// Every `run` option; `None` (or an empty list) where the profile is silent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub url: Option<String>,
    /// `"keepalive"`, `"serial,pipeline"`, `"all"` or `["serial", "pipeline"]`.
    #[serde(default, deserialize_with = "modes")]
    pub mode: Vec<ModeArg>,
    #[serde(default, deserialize_with = "connections")]
    pub connections: Option<u32>,
    #[serde(default, deserialize_with = "depth")]
    pub depth: Option<u32>,
    /// `"10s"`, `"2m"`, or a number of seconds.
    #[serde(default, deserialize_with = "duration")]
    pub duration: Option<Duration>,
    #[serde(default, deserialize_with = "requests")]
    pub requests: Option<u64>,
    /// Open loop: requests/s over all connections.
    #[serde(default, deserialize_with = "rate")]
    pub rate: Option<f64>,
    /// `"127.0.0.2-127.0.0.40,10.0.0.0/30"`, as `--source-ip`.
    pub source_ip: Option<String>,
    #[serde(default, deserialize_with = "value_enum")]
    pub port_policy: Option<PortPolicyArg>,
    pub method: Option<String>,
    #[serde(default, alias = "header")]
    pub headers: Vec<String>,
    pub body: Option<String>,
    pub body_file: Option<PathBuf>,
    #[serde(alias = "http10", alias = "http1.0")]
    pub http1_0: Option<bool>,
    /// `--http3`, `--http-version` (`"3"`), `--0rtt`.
    pub http3: Option<bool>,
    #[serde(default, deserialize_with = "http_version")]
    pub http_version: Option<HttpVersionArg>,
    #[serde(alias = "0rtt")]
    pub zero_rtt: Option<bool>,
    /// `--targets`: a targets file, `--targets-order` and `--seed`.
    pub targets: Option<PathBuf>,
    #[serde(default, deserialize_with = "value_enum")]
    pub targets_order: Option<TargetsOrderArg>,
    pub seed: Option<u64>,
    /// `"10s:100,30s:2000,10s:0"`, as `--stages`.
    #[serde(default, deserialize_with = "stages")]
    pub stages: Option<Vec<crate::stages::Stage>>,
    #[serde(default, deserialize_with = "value_enum")]
    pub close_by: Option<CloseByArg>,
    #[serde(default, deserialize_with = "duration")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    pub nodelay: Option<bool>,
    pub output: Option<PathBuf>,
    #[serde(default, deserialize_with = "value_enum")]
    pub format: Option<FormatArg>,
    pub no_progress: Option<bool>,
    pub no_histogram: Option<bool>,
    /// https: `--cacert`, `-k/--insecure`, `--tls-resume`, `--tls-version` (`"1.2"` or `1.2`).
    pub cacert: Option<PathBuf>,
    pub insecure: Option<bool>,
    pub tls_resume: Option<bool>,
    #[serde(default, deserialize_with = "tls_version")]
    pub tls_version: Option<TlsVersionArg>,
    /// `--check` expressions, checked against the grammar as the profile is read.
    #[serde(default, alias = "check", deserialize_with = "checks")]
    pub checks: Vec<Check>,
    pub baseline: Option<PathBuf>,
    /// `"10%"` or `10`.
    #[serde(default, deserialize_with = "percent")]
    pub max_regression: Option<f64>,
    pub allow_plan_change: Option<bool>,
    /// `--threads`: engine threads.
    #[serde(default, deserialize_with = "threads")]
    pub threads: Option<u32>,
    /// `--engine`.
    #[serde(default, deserialize_with = "value_enum")]
    pub engine: Option<EngineArg>,

    // The embedded server's knobs, used when no URL is given.
    #[serde(default, deserialize_with = "body_size")]
    pub server_body_size: Option<usize>,
    #[serde(default, deserialize_with = "duration")]
    pub server_delay: Option<Duration>,
    #[serde(default, deserialize_with = "status")]
    pub server_status: Option<u16>,
    pub server_chunked: Option<bool>,
    pub server_http10: Option<bool>,
    #[serde(default, deserialize_with = "keep_alive_max")]
    pub server_keep_alive_max: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    pub server_keep_alive_timeout: Option<Duration>,
    pub server_keep_alive_if_asked: Option<bool>,
    pub server_close_after: Option<u64>,
    pub server_lift_close_after: Option<u64>,
    #[serde(default, deserialize_with = "duration")]
    pub server_idle_timeout: Option<Duration>,
    pub server_reset: Option<bool>,
    pub server_truncate: Option<bool>,
    /// `--tls`: the embedded server speaks https.
    pub server_tls: Option<bool>,
    pub server_goaway_after: Option<u64>,
    pub server_max_streams: Option<u32>,
    /// `"100:1s"`, as `--server-stall`.
    #[serde(default, deserialize_with = "stall")]
    pub server_stall: Option<crate::server::Stall>,

    /// The file it was read from, for errors found after parsing; None for no profile.
    #[serde(skip)]
    pub origin: Option<Origin>,
}

/// A profile's file and the line of each key in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: PathBuf,
    key_lines: Vec<(String, usize)>,
}

// NOTE: the serde aliases above, so that an error about `header = [...]` finds its line.
const ALIASES: [(&str, &str); 5] =
    [("header", "headers"), ("check", "checks"), ("http10", "http1_0"), ("http1.0", "http1_0"), ("0rtt", "zero_rtt")];

impl Profile {
    /// Reads and checks a profile; the error is one line naming the file (and the line, when it is
    /// about a key or a value).
    pub fn load(path: &Path) -> Result<Profile, String> {
        let text = crate::input::read_text(path, crate::input::Kind::Profile)
            .map_err(|e| format!("profile {}: {e}", path.display()))?;
        let mut profile = Profile::parse(&text).map_err(|e| format!("profile {}{e}", path.display()))?;
        profile.origin = Some(Origin { path: path.to_path_buf(), key_lines: key_lines(&text) });
        Ok(profile)
    }

    /// An error about the value of `key`, which the plan found in terms of its `flag` (`-H 'x': ...`):
    /// from a profile, it names the file, line and key instead (`profile p.toml:3: headers 'x': ...`),
    /// because the flag was never given.
    pub fn blame(&self, key: &str, flag: &str, error: String) -> String {
        let Some(origin) = &self.origin else { return error };
        let line = origin.key_lines.iter().find(|(k, _)| k == key).map(|(_, line)| line);
        let place = match line {
            Some(line) => format!("profile {}:{line}: {key}", origin.path.display()),
            None => format!("profile {}: {key}", origin.path.display()),
        };
        match error.strip_prefix(flag) {
            Some(rest) => format!("{place}{rest}"),
            None => format!("{place}: {error}"),
        }
    }

    /// Parses a profile's text; the error starts with `:LINE: ` when toml knows where it is, and says what the
    /// key takes in words, never serde's names for types.
    pub fn parse(text: &str) -> Result<Profile, String> {
        toml::from_str(text).map_err(|e| {
            let mut message = e.message().trim().replace('\n', "; ");
            // serde lists every key after an unknown one: too long for one line.
            if let (true, Some(cut)) = (message.starts_with("unknown field"), message.find(", expected")) {
                message.truncate(cut);
                message.push_str(" (keys are the long flags with _ for -: see profiles/README.md)");
            }
            let Some(span) = e.span() else { return format!(": {}", shorten(&message)) };
            let start = span.start.min(text.len());
            let line = text[..start].matches('\n').count() + 1;
            // The key whose value is wrong: on this line, or the line a multi-line list began on.
            let key = key_lines(text).into_iter().rfind(|(_, at)| *at <= line);
            match key {
                Some((key, _)) if in_serde_words(&message) => {
                    let given = text.get(span).unwrap_or_default().trim();
                    message = format!("{key} must be {}, not {}", takes(&key), clip(&shorten(given)));
                }
                // A value's own parser says what is wrong with it; the key says where.
                Some((key, at)) if at == line && !about_keys(&message) && !message.starts_with(key.as_str()) => {
                    message = format!("{key}: {message}");
                }
                _ => {}
            }
            let source = text.lines().nth(line - 1).unwrap_or_default().trim();
            format!(":{line}: {} (in `{}`)", shorten(&message), clip(&shorten(source)))
        })
    }
}

/// serde's and toml's messages about a value of the wrong type or size, which name Rust's types
/// (`i128`, `untagged enum Modes`) rather than what the key takes.
fn in_serde_words(message: &str) -> bool {
    ["invalid type", "invalid value", "invalid length", "data did not match any variant", "number overflowed"]
        .iter()
        .any(|words| message.contains(words))
}

fn about_keys(message: &str) -> bool {
    message.starts_with("unknown field") || message.starts_with("duplicate key")
}

/// What a key takes, as the flag's help says it.
fn takes(key: &str) -> String {
    let said = match key {
        "mode" => "a mode or a list of them: \"keepalive\", \"serial,pipeline\" or [\"serial\", \"pipeline\"]",
        "connections" => "a whole number from 1 to 1000000",
        "depth" | "threads" => "a whole number from 1 to 1024",
        "requests" => "a whole number from 1 to 9223372036854775807",
        "server_status" => "a whole number from 200 to 599",
        "server_keep_alive_max" | "server_max_streams" => "a whole number from 1 to 4294967295",
        "server_close_after" | "server_goaway_after" => "a whole number from 0 to 18446744073709551615",
        "duration"
        | "connect_timeout"
        | "timeout"
        | "server_delay"
        | "server_keep_alive_timeout"
        | "server_idle_timeout" => "a duration: \"10s\", \"500ms\" or a number of seconds",
        "rate" => "requests per second above 0: 5000 or \"5k\"",
        "max_regression" => "a share from 0 to 100: \"10%\" or 10",
        "server_body_size" => "a size in bytes from 0 to 1073741824",
        "server_stall" => "AFTER:LENGTH in quotes, as \"100:1s\"",
        "headers" => "a list of \"Name: value\" strings",
        "checks" => "a list of --check expressions, as [\"p99.total<20ms\"]",
        "seed" => "a whole number from 0 to 18446744073709551615",
        "stages" => "DURATION:RATE stages in quotes, as \"10s:100,30s:2000\"",
        "port_policy" => return names::<PortPolicyArg>(),
        "engine" => return names::<EngineArg>(),
        "targets_order" => return names::<TargetsOrderArg>(),
        "close_by" => return names::<CloseByArg>(),
        "format" => return names::<FormatArg>(),
        "http1_0" | "nodelay" | "no_progress" | "no_histogram" | "insecure" | "tls_resume" | "server_chunked"
        | "server_http10" | "server_reset" | "server_truncate" | "server_tls" | "allow_plan_change" => "true or false",
        "body_file" | "output" | "cacert" | "baseline" | "targets" => "a path in quotes",
        _ => "a string in quotes",
    };
    said.to_string()
}

/// A value as it was written, cut to what fits in one line of an error.
fn clip(text: &str) -> String {
    const MOST: usize = 60;
    match text.char_indices().nth(MOST) {
        Some((at, _)) => format!("{}… ({} characters)", &text[..at], text.chars().count()),
        None => text.to_string(),
    }
}

/// A message with every run of more than 20 digits cut to its ends and its length: a 301-digit number
/// helps nobody, `1000…000 (301 digits)` says what was given.
fn shorten(message: &str) -> String {
    let mut shown = String::with_capacity(message.len().min(200));
    let mut rest = message;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let digits = rest[start..].find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len() - start);
        let run = &rest[start..start + digits];
        shown.push_str(&rest[..start]);
        if digits > 20 {
            shown.push_str(&format!("{}…{} ({digits} digits)", &run[..4], &run[digits - 3..]));
        } else {
            shown.push_str(run);
        }
        rest = &rest[start + digits..];
    }
    shown.push_str(rest);
    shown
}

/// The line (from 1) of each top-level `key = value` of a profile, aliases under their field's name.
/// Profiles are flat (no tables), so the first `=` of a line that starts with a bare or quoted key is it.
fn key_lines(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some((key, _)) = line.split_once('=') else { continue };
        let key = key.trim().trim_matches('"');
        let bare = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if bare {
            let field = ALIASES.iter().find(|(alias, _)| *alias == key).map_or(key, |(_, field)| field);
            found.push((field.to_string(), index + 1));
        }
    }
    found
}

/// A string, or a number where the flag would take a bare number (durations, percentages).
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    Str(String),
    Int(i64),
    Float(f64),
}

impl Text {
    fn into_string(self) -> String {
        match self {
            Text::Str(s) => s,
            Text::Int(n) => n.to_string(),
            Text::Float(x) => x.to_string(),
        }
    }
}

fn parsed<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, D::Error> {
    let text = Text::deserialize(d)?.into_string();
    parse(&text).map(Some).map_err(serde::de::Error::custom)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    parsed(d, parse_duration)
}

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    parsed(d, parse_rate)
}

fn stages<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<crate::stages::Stage>>, D::Error> {
    parsed(d, crate::stages::parse)
}

fn stall<'de, D: Deserializer<'de>>(d: D) -> Result<Option<crate::server::Stall>, D::Error> {
    parsed(d, parse_stall)
}

fn body_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    parsed(d, parse_body_size)
}

fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    parsed(d, parse_percent)
}

fn value_enum<'de, D: Deserializer<'de>, T: ValueEnum>(d: D) -> Result<Option<T>, D::Error> {
    let text = String::deserialize(d)?;
    T::from_str(&text, true)
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("'{text}' is not {}", names::<T>())))
}

/// `"1.2"`, or the bare number TOML reads as a float.
fn tls_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TlsVersionArg>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Number(f64),
    }
    let text = match Written::deserialize(d)? {
        Written::Text(text) => text,
        Written::Number(number) => number.to_string(),
    };
    TlsVersionArg::from_str(&text, true)
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("'{text}' is not {}", names::<TlsVersionArg>())))
}

fn names<T: ValueEnum>() -> String {
    let names: Vec<_> =
        T::value_variants().iter().filter_map(|v| v.to_possible_value()).map(|p| p.get_name().to_string()).collect();
    format!("one of {}", names.join(", "))
}

/// `"3"` or `3`, as `--http-version` takes it.
fn http_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<HttpVersionArg>, D::Error> {
    let text = Text::deserialize(d)?.into_string();
    HttpVersionArg::from_str(&text, true)
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("'{text}' is not {}", names::<HttpVersionArg>())))
}

fn modes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ModeArg>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Modes {
        One(String),
        Many(Vec<String>),
    }
    let list = match Modes::deserialize(d)? {
        Modes::One(text) => text.split(',').map(str::to_string).collect(),
        Modes::Many(list) => list,
    };
    if list.is_empty() {
        let error = format!("mode = [] names no mode: give one or more, {}", names::<ModeArg>());
        return Err(serde::de::Error::custom(error));
    }
    list.iter()
        .map(|m| {
            ModeArg::from_str(m.trim(), true)
                .map_err(|_| serde::de::Error::custom(format!("mode '{m}' is not {}", names::<ModeArg>())))
        })
        .collect()
}

fn ranged<'de, D: Deserializer<'de>, T>(d: D, what: &str, low: u64, high: u64) -> Result<Option<T>, D::Error>
where
    T: TryFrom<u64>,
{
    let n = match Text::deserialize(d)? {
        Text::Int(n) => u64::try_from(n).ok().filter(|n| (low..=high).contains(n)).ok_or_else(|| n.to_string()),
        Text::Float(x) => Err(x.to_string()),
        Text::Str(s) => Err(format!("\"{s}\"")),
    };
    n.and_then(|n| T::try_from(n).map_err(|_| n.to_string())).map(Some).map_err(|given| {
        serde::de::Error::custom(format!("{what} must be a whole number from {low} to {high}, not {given}"))
    })
}

fn connections<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "connections", 1, 1_000_000)
}

fn depth<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "depth", 1, 1024)
}

fn threads<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "threads", 1, u64::from(crate::cli::MAX_THREADS))
}

fn requests<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, "requests", 1, i64::MAX as u64)
}

fn status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    ranged(d, "server_status", 200, 599)
}

fn keep_alive_max<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "server_keep_alive_max", 1, u64::from(u32::MAX))
}

fn checks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Check>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts.iter().map(|t| Check::parse(t).map_err(serde::de::Error::custom)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_value_reads_as_the_flag_would() {
        let p = Profile::parse(
            r#"
            mode = "serial,pipeline"
            connections = 6
            duration = "1m"
            connect_timeout = 2        # a bare number is seconds, as on the command line
            headers = ["Accept: */*"]
            http10 = true
            close_by = "server"
            format = "csv"
            checks = ["p99.total<20ms", "error_rate<0.1%"]
            max_regression = "10%"
            server_status = 404
            rate = 5000
            source_ip = "127.0.0.2-127.0.0.4"
            port_policy = "fail"
            server_stall = "100:1s"
            threads = 4
            allow_plan_change = true
            "#,
        )
        .unwrap();
        assert_eq!(p.mode, vec![ModeArg::Serial, ModeArg::Pipeline]);
        assert_eq!((p.connections, p.duration), (Some(6), Some(Duration::from_secs(60))));
        assert_eq!(p.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!((p.http1_0, p.close_by, p.format), (Some(true), Some(CloseByArg::Server), Some(FormatArg::Csv)));
        assert_eq!((p.checks.len(), p.max_regression, p.server_status), (2, Some(10.0), Some(404)));
        assert_eq!(
            (p.rate, p.source_ip.as_deref(), p.port_policy),
            (Some(5000.0), Some("127.0.0.2-127.0.0.4"), Some(PortPolicyArg::Fail))
        );
        assert_eq!(p.server_stall, Some(crate::server::Stall { after: 100, length: Duration::from_secs(1) }));
        assert_eq!(Profile::parse("mode = [\"all\"]").unwrap().mode, vec![ModeArg::All]);
        assert_eq!((p.threads, p.allow_plan_change), (Some(4), Some(true)));
        // the names other tools use for a mode
        let aliases = Profile::parse("mode = \"h2,http2,h2c,keep-alive\"").unwrap().mode;
        assert_eq!(aliases, [ModeArg::Multiplex, ModeArg::Multiplex, ModeArg::Multiplex, ModeArg::Keepalive]);
        assert!(Profile::parse("threads = 0").unwrap_err().contains("threads must be a whole number from 1 to 1024"));
    }

    #[test]
    fn later_errors_name_the_file_and_the_line_of_the_key() {
        let text = "# a comment\nmode = \"serial\"\n\nheader = [\n  \"A: b=c\",\n]\n\"http1.0\" = true\n";
        let origin = Origin { path: "p.toml".into(), key_lines: key_lines(text) };
        assert_eq!(origin.key_lines, vec![("mode".into(), 2), ("headers".into(), 4), ("http1_0".into(), 7)]);
        let profile = Profile { origin: Some(origin), ..Profile::default() };
        // the flag the message was written for becomes the profile's place
        let err = profile.blame("headers", "-H", "-H 'x': expected 'Name: value'".into());
        assert_eq!(err, "profile p.toml:4: headers 'x': expected 'Name: value'");
        let err = profile.blame("mode", "--mode", "no flag named".into());
        assert_eq!(err, "profile p.toml:2: mode: no flag named");
        // with no profile, the flag's own message
        assert_eq!(Profile::default().blame("headers", "-H", "-H 'x'".into()), "-H 'x'");
    }

    #[test]
    fn bad_keys_and_values_name_the_line() {
        // each case: the profile, the line, and what the message must say
        for (text, line, needle) in [
            ("connections = 6\nconection = 5\n", 2, "unknown field `conection`"),
            (
                "mode = \"serial\"\n\nconnections = 0\n",
                3,
                "connections must be a whole number from 1 to 1000000, not 0",
            ),
            ("duration = \"soon\"\n", 1, "'soon' is not a duration"),
            ("mode = \"keepalive,bogus\"\n", 1, "mode 'bogus' is not one of serial"),
            ("close_by = \"nobody\"\n", 1, "'nobody' is not one of client, server"),
            ("checks = [\"p99.total<20\"]\n", 1, "needs a unit"),
            ("depth = \"deep\"\n", 1, "depth must be a whole number from 1 to 1024, not \"deep\""),
            ("connections = 6\nconnections = 7\n", 2, "duplicate key"),
            ("[server]\nbody_size = 1\n", 1, "unknown field `server`"),
            ("nodelay = yes\n", 1, ""),
            ("port_policy = \"maybe\"\n", 1, "'maybe' is not one of wait, fail, off"),
            ("rate = 0\n", 1, "'0' is not a rate"),
            ("server_keep_alive_max = 0\n", 1, "server_keep_alive_max must be a whole number from 1"),
            ("server_body_size = 99999999999999\n", 1, "largest body"),
            ("duration = 1e30\n", 1, "too long"),
            ("tls_version = 1.1\n", 1, "'1.1' is not one of 1.2, 1.3"),
            ("tls_version = \"1.0\"\n", 1, "'1.0' is not one of 1.2, 1.3"),
            // serde's words for types never reach the user: the key, and what it takes
            ("mode = 5\n", 1, "mode must be a mode or a list of them: \"keepalive\""),
            ("mode = []\n", 1, "mode = [] names no mode: give one or more, one of serial"),
            (
                "connections = 99999999999999999999999\n",
                1,
                "connections must be a whole number from 1 to 1000000, not 9999…999 (23 digits)",
            ),
            ("connections = true\n", 1, "connections must be a whole number from 1 to 1000000, not true"),
            ("\nheaders = [\n  5,\n]\n", 3, "headers must be a list of \"Name: value\" strings, not 5"),
            ("server_max_streams = 99999999999\n", 1, "server_max_streams must be a whole number from 1 to"),
            ("nodelay = 5\n", 1, "nodelay must be true or false, not 5"),
            ("close_by = 5\n", 1, "close_by must be one of client, server, not 5"),
            ("rate = 1e400\n", 1, "rate must be requests per second above 0"),
        ] {
            let err = Profile::parse(text).unwrap_err();
            assert!(err.starts_with(&format!(":{line}: ")), "{text:?}: {err}");
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
            for serde_words in ["invalid type", "untagged enum", "i128", "u32", "expected any value"] {
                assert!(!err.contains(serde_words), "{text:?}: {err}");
            }
        }
        // a number of 301 digits is said by its length, in the message and in the line quoted
        let err = Profile::parse(&format!("connections = 1{}\n", "0".repeat(300))).unwrap_err();
        assert!(err.len() < 200, "{err}");
        assert!(err.contains("not 1000…000 (301 digits)"), "{err}");
        let err = Profile::parse("connections = 1e300\n").unwrap_err();
        assert!(err.contains("not 1000…000 (301 digits)") && err.len() < 200, "{err}");
    }
}

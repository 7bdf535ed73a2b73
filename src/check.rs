/*!
The `--check` grammar (docs/design.md §1): `METRIC OP VALUE`, parsed into a `Check`. A leaf of shared
vocabulary: the plan and profiles parse checks here, `report::gate` measures them against a result.

METRIC is `rps`, `errors`, `error_rate`, `non_2xx`, `non_2xx_rate`, `missed` (open loop), or `STAT.PHASE` with STAT in
`p50 p75 p90 p95 p99 p99.9 p99.99 max mean` (`p999` and `p9999` name p99.9 and p99.99 too) and PHASE in
`connect tls ttfb transfer total` (`tls`: https only), or `page_load` for `connbench page`. With `--targets`,
`METRIC[TARGET]` gates one target's figures: TARGET is its URL as the result shows it
(`p99.total[/api/users]`, every method of it together) or `METHOD URL` (`errors[POST /api/orders]`); per
target, `total` is the one phase kept, and `missed` is not kept. OP is `< <= > >=`. VALUE is a number
(`5000`, `2.5`, `1e9`); latencies
need a unit (`us`, `ms`, `s`), rates need `%` (a bare `error_rate<5` would be read as 500 % by one
person and 5 % by another, a gate that may never fail), counts and `rps` are bare numbers.

k6's threshold spelling is read too: `p(95)<500`, `avg<200`, `med<100`, `max<1000`. As in k6, whose
`http_req_duration` these gate, the phase is the whole request (`total`) and a bare number is milliseconds.
*/

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    Rps,
    Errors,
    /// Failed requests over all requests, as a fraction.
    ErrorRate,
    /// Responses whose status was not 2xx (1xx, 3xx, 4xx, 5xx, other).
    Non2xx,
    /// Non-2xx responses over all responses, as a fraction.
    Non2xxRate,
    /// Open loop: requests due in the window and never sent.
    Missed,
    Latency(Stat, Phase),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    P50,
    P75,
    P90,
    P95,
    P99,
    P999,
    P9999,
    Max,
    Mean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    Ttfb,
    Transfer,
    Total,
    /// https: the TLS handshake, apart from `connect`.
    Tls,
    /// `connbench page`: the first connect to the last byte of the page's last object.
    PageLoad,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

/// One parsed `--check`; `value` is in the metric's own unit (µs for latencies, a fraction for error_rate).
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub metric: Metric,
    pub op: Op,
    pub value: f64,
    /// `METRIC[TARGET]`: one target's figure (`--targets`), by its URL or `METHOD URL`.
    pub target: Option<String>,
}

/// Each statistic's name; the first of a statistic is the one it is shown with, the others are accepted
/// (`p999`, as in the JSON's `p999_us`).
const STATS: [(&str, Stat); 11] = [
    ("p50", Stat::P50),
    ("p75", Stat::P75),
    ("p90", Stat::P90),
    ("p95", Stat::P95),
    ("p99", Stat::P99),
    ("p99.9", Stat::P999),
    ("p999", Stat::P999),
    ("p99.99", Stat::P9999),
    ("p9999", Stat::P9999),
    ("max", Stat::Max),
    ("mean", Stat::Mean),
];
impl Stat {
    /// The name it is shown with: `p50`, `p99.9`, `max`.
    pub fn name(self) -> &'static str {
        STATS.iter().find(|(_, s)| *s == self).map_or("?", |(name, _)| name)
    }

    /// The quantile it names (0.5 for p50), or None for the mean; 1.0 for the max.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Stat::P50 => Some(0.5),
            Stat::P75 => Some(0.75),
            Stat::P90 => Some(0.9),
            Stat::P95 => Some(0.95),
            Stat::P99 => Some(0.99),
            Stat::P999 => Some(0.999),
            Stat::P9999 => Some(0.9999),
            Stat::Max => Some(1.0),
            Stat::Mean => None,
        }
    }
}

const PHASES: [(&str, Phase); 6] = [
    ("connect", Phase::Connect),
    ("ttfb", Phase::Ttfb),
    ("transfer", Phase::Transfer),
    ("total", Phase::Total),
    ("tls", Phase::Tls),
    ("page_load", Phase::PageLoad),
];

impl Check {
    /// Parses `METRIC OP VALUE`; the error names the expression and what is wrong with it.
    pub fn parse(text: &str) -> Result<Check, String> {
        let fail = |why: String| format!("--check '{text}': {why}");
        let Some(at) = text.find(['<', '>']) else {
            return Err(fail("no comparison (use < <= > >=, as in 'p99.total<20ms')".into()));
        };
        let (metric, rest) = text.split_at(at);
        let (op, value) = match rest.as_bytes() {
            [b'<', b'=', ..] => (Op::Le, &rest[2..]),
            [b'>', b'=', ..] => (Op::Ge, &rest[2..]),
            [b'<', ..] => (Op::Lt, &rest[1..]),
            _ => (Op::Gt, &rest[1..]),
        };
        let (metric, target) = split_target(metric.trim()).map_err(fail)?;
        let (metric, k6) = match k6_metric(metric) {
            Some(metric) => (metric, true),
            None => (parse_metric(metric).map_err(fail)?, false),
        };
        if let Some(why) = target.as_ref().and_then(|_| not_per_target(metric)) {
            return Err(fail(why));
        }
        let value = parse_value(metric, value.trim(), k6).map_err(fail)?;
        let check = Check { metric, op, value, target };
        match check.decided() {
            Some(why) => Err(fail(why)),
            None => Ok(check),
        }
    }

    /// Why the gate's verdict is known before any run, if it is: every figure is 0 or more and a rate is at
    /// most 100 %, so `errors>=0` or `error_rate<=100%` can never fail (a gate that guards nothing), and
    /// `rps<0` can never pass.
    fn decided(&self) -> Option<String> {
        let rate = matches!(self.metric, Metric::ErrorRate | Metric::Non2xxRate);
        if rate && self.value > 1.0 {
            return Some("a rate is from 0% to 100%".into());
        }
        let figure = if rate { "a rate" } else { "a figure" };
        match self.op {
            Op::Ge if self.value <= 0.0 => Some(format!("cannot fail: {figure} is never below 0")),
            Op::Lt if self.value <= 0.0 => Some(format!("cannot pass: {figure} is never below 0")),
            Op::Le if rate && self.value >= 1.0 => Some("cannot fail: a rate is never above 100%".into()),
            Op::Gt if rate && self.value >= 1.0 => Some("cannot pass: a rate is never above 100%".into()),
            _ => None,
        }
    }

    pub fn holds(&self, measured: f64) -> bool {
        match self.op {
            Op::Lt => measured < self.value,
            Op::Le => measured <= self.value,
            Op::Gt => measured > self.value,
            Op::Ge => measured >= self.value,
        }
    }
}

/// `p99.total[/api/users]`: the metric, and the target in brackets if any.
fn split_target(text: &str) -> Result<(&str, Option<String>), String> {
    let Some(open) = text.find('[') else { return Ok((text, None)) };
    match text[open + 1..].strip_suffix(']').map(str::trim) {
        Some("") => Err("no target in [] (its URL, as in 'p99.total[/api/users]<20ms')".into()),
        Some(target) => Ok((text[..open].trim(), Some(target.to_string()))),
        None => Err(format!("'{text}': a target in brackets ends the metric, as in 'p99.total[/api/users]<20ms'")),
    }
}

/// Why a metric cannot be had of one target, if it cannot: a target keeps its total latency, counts and
/// statuses, nothing about connections or the schedule.
fn not_per_target(metric: Metric) -> Option<String> {
    match metric {
        Metric::Missed => Some("missed is not kept per target (a request missed was never sent to one)".into()),
        Metric::Latency(stat, phase) if phase != Phase::Total => {
            Some(format!("per target, total is the one latency kept (as in '{}.total[...]')", stat.name()))
        }
        Metric::Rps
        | Metric::Errors
        | Metric::ErrorRate
        | Metric::Non2xx
        | Metric::Non2xxRate
        | Metric::Latency(..) => None,
    }
}

fn parse_metric(text: &str) -> Result<Metric, String> {
    match text {
        "rps" => return Ok(Metric::Rps),
        "errors" => return Ok(Metric::Errors),
        "error_rate" => return Ok(Metric::ErrorRate),
        "non_2xx" => return Ok(Metric::Non2xx),
        "non_2xx_rate" => return Ok(Metric::Non2xxRate),
        "missed" => return Ok(Metric::Missed),
        _ => {}
    }
    let unknown = || {
        format!(
            "unknown metric '{text}' (rps, errors, error_rate, non_2xx, non_2xx_rate, missed, or STAT.PHASE with STAT \
             in p50 p75 p90 p95 p99 p99.9 p99.99 max mean and PHASE in connect tls ttfb transfer total, or \
             page_load for connbench page)"
        )
    };
    // The phase follows the last dot: `p99.9.total` is p99.9 of total.
    let (stat, phase) = text.rsplit_once('.').ok_or_else(unknown)?;
    let stat = STATS.iter().find(|(name, _)| *name == stat).ok_or_else(unknown)?.1;
    let phase = PHASES.iter().find(|(name, _)| *name == phase).ok_or_else(unknown)?.1;
    Ok(Metric::Latency(stat, phase))
}

/// k6's spelling of a threshold on `http_req_duration`: `p(95)`, `avg`, `med`, `max`, of the whole request.
fn k6_metric(text: &str) -> Option<Metric> {
    let stat = match text {
        "avg" => Stat::Mean,
        "med" => Stat::P50,
        "max" => Stat::Max,
        _ => {
            let percentile = text.strip_prefix("p(")?.strip_suffix(')')?;
            STATS.iter().find(|(name, _)| name.strip_prefix('p') == Some(percentile))?.1
        }
    };
    Some(Metric::Latency(stat, Phase::Total))
}

/// `k6`: the metric was spelled as k6 spells it, where a bare latency is in milliseconds.
fn parse_value(metric: Metric, text: &str, k6: bool) -> Result<f64, String> {
    let (number, unit) = text.split_at(number_len(text));
    let number: f64 = match number.parse() {
        Ok(n) if f64::is_finite(n) => n,
        _ => return Err(format!("'{text}' is not a number")),
    };
    let unit = unit.trim();
    match (metric, unit) {
        (Metric::Latency(..), "us" | "µs") => Ok(number),
        (Metric::Latency(..), "ms") => Ok(number * 1e3),
        (Metric::Latency(..), "s") => Ok(number * 1e6),
        (Metric::Latency(..), "") if k6 => Ok(number * 1e3),
        (Metric::Latency(..), _) => Err(format!("'{text}': a latency needs a unit: us, ms or s")),
        (Metric::ErrorRate | Metric::Non2xxRate, "%") => Ok(number / 100.0),
        (Metric::ErrorRate | Metric::Non2xxRate, "") => Err(format!("'{text}': a rate needs %, as in '{text}%'")),
        (Metric::ErrorRate | Metric::Non2xxRate, _) => Err(format!("'{text}': a rate takes %")),
        (Metric::Rps | Metric::Errors | Metric::Non2xx | Metric::Missed, "") => Ok(number),
        (Metric::Rps | Metric::Errors | Metric::Non2xx | Metric::Missed, _) => {
            Err(format!("'{text}': rps and counts take a bare number"))
        }
    }
}

/// The length of the unsigned decimal number `text` starts with: digits, a point, an exponent (`1e9`,
/// `2.5E-3`). What follows is the unit.
fn number_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let digits = |from: usize| bytes[from..].iter().take_while(|b| b.is_ascii_digit() || **b == b'.').count();
    let mantissa = digits(0);
    let Some(b'e' | b'E') = bytes.get(mantissa) else { return mantissa };
    let sign = usize::from(matches!(bytes.get(mantissa + 1), Some(b'+' | b'-')));
    match bytes[mantissa + 1 + sign..].iter().take_while(|b| b.is_ascii_digit()).count() {
        0 => mantissa,
        exponent => mantissa + 1 + sign + exponent,
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Rps => f.write_str("rps"),
            Metric::Errors => f.write_str("errors"),
            Metric::ErrorRate => f.write_str("error_rate"),
            Metric::Non2xx => f.write_str("non_2xx"),
            Metric::Non2xxRate => f.write_str("non_2xx_rate"),
            Metric::Missed => f.write_str("missed"),
            Metric::Latency(stat, phase) => {
                let stat = stat.name();
                let phase = PHASES.iter().find(|(_, p)| p == phase).map_or("?", |(name, _)| name);
                write!(f, "{stat}.{phase}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_reads_metric_op_value_with_units() {
        let lat = |s, p| Metric::Latency(s, p);
        // each case: expression, metric, op, value in the metric's unit
        for (text, metric, op, value) in [
            ("p99.total<20ms", lat(Stat::P99, Phase::Total), Op::Lt, 20_000.0),
            ("p50.connect <= 300us", lat(Stat::P50, Phase::Connect), Op::Le, 300.0),
            ("max.ttfb>1.5s", lat(Stat::Max, Phase::Ttfb), Op::Gt, 1_500_000.0),
            ("p99.9.transfer<1ms", lat(Stat::P999, Phase::Transfer), Op::Lt, 1000.0),
            ("p99.99.total<2ms", lat(Stat::P9999, Phase::Total), Op::Lt, 2000.0),
            ("p99.tls<5ms", lat(Stat::P99, Phase::Tls), Op::Lt, 5000.0),
            ("p95.page_load<500ms", lat(Stat::P95, Phase::PageLoad), Op::Lt, 500_000.0),
            ("mean.total<1µs", lat(Stat::Mean, Phase::Total), Op::Lt, 1.0),
            ("error_rate<0.1%", Metric::ErrorRate, Op::Lt, 0.001),
            ("rps>=5000", Metric::Rps, Op::Ge, 5000.0),
            ("rps>1e9", Metric::Rps, Op::Gt, 1e9),
            ("p999.total<2.5E-1s", lat(Stat::P999, Phase::Total), Op::Lt, 250_000.0),
            ("p9999.connect<1ms", lat(Stat::P9999, Phase::Connect), Op::Lt, 1000.0),
            ("non_2xx<=0", Metric::Non2xx, Op::Le, 0.0),
            ("missed<1", Metric::Missed, Op::Lt, 1.0),
            ("non_2xx_rate<0.5%", Metric::Non2xxRate, Op::Lt, 0.005),
            (" errors <= 0 ", Metric::Errors, Op::Le, 0.0),
            ("p95.total<20ms", lat(Stat::P95, Phase::Total), Op::Lt, 20_000.0),
            ("p75.ttfb<=2ms", lat(Stat::P75, Phase::Ttfb), Op::Le, 2000.0),
            // k6's spelling: the whole request, a bare number in milliseconds
            ("p(95)<500", lat(Stat::P95, Phase::Total), Op::Lt, 500_000.0),
            ("p(99.9) < 1.5", lat(Stat::P999, Phase::Total), Op::Lt, 1500.0),
            ("p(90)<2s", lat(Stat::P90, Phase::Total), Op::Lt, 2_000_000.0),
            ("avg<200", lat(Stat::Mean, Phase::Total), Op::Lt, 200_000.0),
            ("med<=100", lat(Stat::P50, Phase::Total), Op::Le, 100_000.0),
            ("max<1000", lat(Stat::Max, Phase::Total), Op::Lt, 1_000_000.0),
            // one target's figure: its URL, or its method and URL, in brackets
            ("p99.total[/api/users]<20ms", lat(Stat::P99, Phase::Total), Op::Lt, 20_000.0),
            ("errors[POST /api/orders?x=1] <= 0", Metric::Errors, Op::Le, 0.0),
        ] {
            let check = Check::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((check.metric, check.op), (metric, op), "{text}");
            assert!((check.value - value).abs() < 1e-9, "{text}: {}", check.value);
        }
        let target = |text| Check::parse(text).unwrap().target;
        assert_eq!(target("p99.total[ /api/users ]<20ms").as_deref(), Some("/api/users"));
        assert_eq!(target("errors[POST /api/orders?x=1] <= 0").as_deref(), Some("POST /api/orders?x=1"));
        assert_eq!(target("p99.total<20ms"), None);
    }

    #[test]
    fn malformed_expressions_say_what_is_wrong() {
        // each case: expression, what the message must say
        for (text, needle) in [
            ("p99.total", "no comparison"),
            ("p99.total=20ms", "no comparison"),
            ("p98.total<1ms", "unknown metric 'p98.total'"),
            ("p(97)<500", "unknown metric 'p(97)'"),
            ("p(95).total<500", "unknown metric 'p(95).total'"),
            ("p95<20ms", "unknown metric 'p95'"),
            ("p99.body<1ms", "unknown metric"),
            ("latency<1ms", "unknown metric"),
            ("p99.total<20", "needs a unit"),
            ("p99.total<20kg", "needs a unit"),
            ("rps>5k", "bare number"),
            ("non_2xx<1%", "bare number"),
            ("error_rate<1ms", "takes %"),
            // a bare number for a rate: 5 % or 500 %? say which
            ("error_rate<5", "needs %, as in '5%'"),
            ("error_rate<0.02", "needs %"),
            ("non_2xx_rate<1", "needs %"),
            ("rps>1e", "bare number"),
            ("rps>", "not a number"),
            ("rps>=-1", "not a number"),
            ("rps<<1", "not a number"),
            // a gate whose verdict is known before the run
            ("error_rate<200%", "'error_rate<200%': a rate is from 0% to 100%"),
            ("non_2xx_rate>=100.5%", "a rate is from 0% to 100%"),
            ("error_rate<=100%", "cannot fail: a rate is never above 100%"),
            ("error_rate>100%", "cannot pass: a rate is never above 100%"),
            ("errors>=0", "cannot fail: a figure is never below 0"),
            ("non_2xx_rate>=0%", "cannot fail: a rate is never below 0"),
            ("p99.total>=0ms", "cannot fail"),
            ("rps<0", "cannot pass: a figure is never below 0"),
            // per target: total latency and counts alone
            ("p99.connect[/a]<1ms", "per target, total is the one latency kept (as in 'p99.total[...]')"),
            ("missed[/a]<1", "missed is not kept per target"),
            ("p99.total[]<1ms", "no target in []"),
            ("p99.total[/a<1ms", "a target in brackets ends the metric"),
        ] {
            let err = Check::parse(text).unwrap_err();
            assert!(err.contains(&format!("'{text}'")), "{text}: {err}");
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}

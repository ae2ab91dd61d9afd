//! The result of one run and its JSON line (hand-written: flat numbers, strings and booleans).

use std::fmt::Write as _;
use std::time::Duration;

use super::config::Params;
use super::verify::Histogram;

/// A run is "tool-bound" when the tool used more than this fraction of one core.
pub const TOOL_BOUND_FRACTION: f64 = 0.9;

/// Latency percentiles in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Number of samples.
    pub samples: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest sample.
    pub max_ns: u64,
}

impl Latency {
    /// Summarises a histogram; `None` if it is empty.
    pub fn from_histogram(h: &Histogram) -> Option<Self> {
        Some(Self {
            samples: h.len(),
            p50_ns: h.quantile(0.5)?,
            p99_ns: h.quantile(0.99)?,
            p999_ns: h.quantile(0.999)?,
            max_ns: h.max(),
        })
    }
}

/// What the `connections` scenario measured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ConnStats {
    /// Connections that got a CONNACK.
    pub opened: u64,
    /// Connections that answered PINGREQ with PINGRESP after the hold.
    pub alive: u64,
    /// Seconds taken to open them all.
    pub open_s: f64,
    /// Broker RSS before opening (bytes), if `--broker-pid` was given.
    pub rss_before: Option<u64>,
    /// Broker RSS after the hold, with all connections open (bytes).
    pub rss_after: Option<u64>,
}

impl ConnStats {
    /// Broker RSS growth divided by the connections opened.
    pub fn bytes_per_connection(&self) -> Option<f64> {
        let (b, a) = (self.rss_before?, self.rss_after?);
        (self.opened > 0).then(|| (a as f64 - b as f64) / self.opened as f64)
    }
}

/// Everything one run measured and verified.
#[derive(Debug, Clone)]
pub struct Report {
    /// The parameters of the run.
    pub params: Params,
    /// Messages published (or PINGREQs sent, for `connections`).
    pub sent: u64,
    /// Deliveries expected: messages × subscribers per topic.
    pub expected: u64,
    /// Deliveries received, duplicates included (PINGRESPs for `connections`).
    pub received: u64,
    /// Deliveries of a message already delivered to that subscriber.
    pub duplicates: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// From the start signal to the last delivery.
    pub elapsed: Duration,
    /// From the start signal to the end of the run: the window CPU times are measured over.
    pub window: Duration,
    /// CPU time the tool used over `window`.
    pub tool_cpu: Duration,
    /// CPU time the broker used over `window`, if its pid is known.
    pub broker_cpu: Option<Duration>,
    /// Latency from the payload timestamps (send → receive).
    pub latency: Option<Latency>,
    /// `connections` only.
    pub conns: Option<ConnStats>,
    /// Why the run failed; `None` if it passed.
    pub error: Option<String>,
}

impl Report {
    /// An empty report for `params`, to be filled in.
    pub fn new(params: Params) -> Self {
        Self {
            params,
            sent: 0,
            expected: 0,
            received: 0,
            duplicates: 0,
            lost: 0,
            elapsed: Duration::ZERO,
            window: Duration::ZERO,
            tool_cpu: Duration::ZERO,
            broker_cpu: None,
            latency: None,
            conns: None,
            error: None,
        }
    }

    /// True if the run completed and every guarantee held.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// Deliveries per second of `elapsed`.
    pub fn msgs_per_s(&self) -> f64 {
        per_s(self.received as f64, self.elapsed)
    }

    /// The tool's CPU time as a fraction of one core over `window`.
    pub fn tool_cpu_fraction(&self) -> f64 {
        per_s(self.tool_cpu.as_secs_f64(), self.window)
    }

    /// True if the tool used more than [`TOOL_BOUND_FRACTION`] of a core: the numbers may
    /// measure the tool rather than the broker.
    pub fn tool_bound(&self) -> bool {
        self.tool_cpu_fraction() > TOOL_BOUND_FRACTION
    }

    /// The report as one line of JSON (no trailing newline).
    pub fn to_json(&self) -> String {
        let p = &self.params;
        let mut o = Json::default();
        o.str("scenario", p.scenario.name());
        o.str("label", &p.label);
        o.uint("version", u64::from(p.version.level()));
        o.uint("qos", u64::from(p.qos));
        o.raw("params", &{
            let mut q = Json::default();
            q.uint("publishers", p.publisher_count() as u64);
            q.uint("subscribers", p.subscriber_count() as u64);
            q.uint("messages", u64::from(p.messages));
            q.uint("payload", p.payload as u64);
            q.uint("window", p.window as u64);
            q.num("rate", Some(p.rate));
            q.uint("connections", p.connections as u64);
            q.num("hold_s", Some(p.hold.as_secs_f64()));
            q.num("time_limit_s", Some(p.time_limit.as_secs_f64()));
            q.str("host", &p.host);
            q.uint("port", u64::from(p.port));
            q.finish()
        });
        o.uint("sent", self.sent);
        o.uint("expected", self.expected);
        o.uint("received", self.received);
        o.uint("duplicates", self.duplicates);
        o.uint("lost", self.lost);
        o.num("elapsed_s", Some(self.elapsed.as_secs_f64()));
        o.num("msgs_per_s", Some(self.msgs_per_s()));
        let broker = self.broker_cpu.map(|d| d.as_secs_f64());
        o.num("broker_cpu_s", broker);
        o.num("broker_cpu_fraction", broker.map(|b| per_s(b, self.window)));
        o.num(
            "deliveries_per_broker_cpu_s",
            broker
                .filter(|&b| b > 0.0)
                .map(|b| self.received as f64 / b),
        );
        o.num("tool_cpu_s", Some(self.tool_cpu.as_secs_f64()));
        o.num("tool_cpu_fraction", Some(self.tool_cpu_fraction()));
        o.bool("tool_bound", self.tool_bound());
        let us = |ns: u64| Some(ns as f64 / 1000.0);
        if let Some(l) = self.latency {
            o.uint("latency_samples", l.samples);
            o.num("p50_us", us(l.p50_ns));
            o.num("p99_us", us(l.p99_ns));
            o.num("p999_us", us(l.p999_ns));
            o.num("max_us", us(l.max_ns));
        }
        if let Some(c) = self.conns {
            o.uint("opened", c.opened);
            o.uint("alive", c.alive);
            o.num("open_s", Some(c.open_s));
            o.num("rss_before", c.rss_before.map(|v| v as f64));
            o.num("rss_after", c.rss_after.map(|v| v as f64));
            o.num("rss_bytes_per_connection", c.bytes_per_connection());
        }
        o.bool("ok", self.ok());
        match &self.error {
            Some(e) => o.str("error", e),
            None => o.null("error"),
        }
        o.finish()
    }
}

fn per_s(v: f64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { v / s } else { 0.0 }
}

/// A minimal writer for one flat JSON object.
#[derive(Debug, Default)]
struct Json {
    buf: String,
}

impl Json {
    fn key(&mut self, k: &str) {
        self.buf.push(if self.buf.is_empty() { '{' } else { ',' });
        quote(&mut self.buf, k);
        self.buf.push(':');
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        quote(&mut self.buf, v);
    }

    fn uint(&mut self, k: &str, v: u64) {
        self.key(k);
        let _ = write!(self.buf, "{v}");
    }

    /// A number rounded to 3 decimals; `null` for `None` or non-finite values.
    fn num(&mut self, k: &str, v: Option<f64>) {
        self.key(k);
        match v {
            Some(x) if x.is_finite() => {
                let _ = write!(self.buf, "{}", (x * 1000.0).round() / 1000.0);
            }
            _ => self.buf.push_str("null"),
        }
    }

    fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.buf.push_str(if v { "true" } else { "false" });
    }

    fn null(&mut self, k: &str) {
        self.key(k);
        self.buf.push_str("null");
    }

    fn raw(&mut self, k: &str, json: &str) {
        self.key(k);
        self.buf.push_str(json);
    }

    fn finish(mut self) -> String {
        if self.buf.is_empty() {
            self.buf.push('{');
        }
        self.buf.push('}');
        self.buf
    }
}

fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::config::Scenario;

    #[test]
    fn json_line_has_the_fields() {
        let mut r = Report::new(Params::defaults(Scenario::Latency));
        r.params.label = "mos\"quitto".into();
        r.received = 1000;
        r.elapsed = Duration::from_millis(500);
        r.window = Duration::from_secs(1);
        r.tool_cpu = Duration::from_millis(950);
        r.broker_cpu = Some(Duration::from_millis(250));
        r.latency = Some(Latency {
            samples: 1000,
            p50_ns: 1500,
            p99_ns: 9000,
            p999_ns: 20_000,
            max_ns: 30_000,
        });
        r.error = Some("violation: x".into());
        let j = r.to_json();
        for want in [
            r#""scenario":"latency""#,
            r#""label":"mos\"quitto""#,
            r#""msgs_per_s":2000"#,
            r#""deliveries_per_broker_cpu_s":4000"#,
            r#""tool_cpu_fraction":0.95"#,
            r#""tool_bound":true"#,
            r#""p50_us":1.5"#,
            r#""ok":false"#,
            r#""error":"violation: x""#,
        ] {
            assert!(j.contains(want), "{want} not in {j}");
        }
        assert!(j.starts_with('{') && j.ends_with('}'));
    }

    #[test]
    fn bytes_per_connection() {
        let c = ConnStats {
            opened: 100,
            rss_before: Some(1000),
            rss_after: Some(501_000),
            ..Default::default()
        };
        assert_eq!(c.bytes_per_connection(), Some(5000.0));
    }
}

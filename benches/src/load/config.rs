//! Scenarios and their parameters, and the command-line parser (no argument-parsing crate).

use std::time::Duration;

use super::BenchError;
use super::wire::Version;

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `publishers` publishers, each on its own topic, to one subscriber on a `+` wildcard.
    FanIn,
    /// One publisher to `subscribers` subscribers of its topic.
    FanOut,
    /// `pairs` publisher/subscriber pairs, one topic per pair.
    Pairs,
    /// One publisher at a fixed `rate` (msg/s) to one subscriber; latency percentiles.
    Latency,
    /// `connections` idle connections opened at `rate` (conn/s), held, pinged; broker RSS.
    Connections,
}

impl Scenario {
    /// All scenarios, in the order `--smoke` runs them.
    pub const ALL: [Scenario; 5] = [
        Scenario::FanIn,
        Scenario::FanOut,
        Scenario::Pairs,
        Scenario::Latency,
        Scenario::Connections,
    ];

    /// The name used on the command line and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::FanIn => "fan-in",
            Scenario::FanOut => "fan-out",
            Scenario::Pairs => "pairs",
            Scenario::Latency => "latency",
            Scenario::Connections => "connections",
        }
    }

    /// Parses a scenario name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sc| sc.name() == s)
    }
}

/// Everything that defines one run.
#[derive(Debug, Clone)]
pub struct Params {
    /// The scenario.
    pub scenario: Scenario,
    /// Broker host (name or address).
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT version of every client.
    pub version: Version,
    /// QoS of publications and subscriptions (0, 1, 2).
    pub qos: u8,
    /// Publishers in `fan-in`.
    pub publishers: usize,
    /// Subscribers in `fan-out`.
    pub subscribers: usize,
    /// Publisher/subscriber pairs in `pairs`.
    pub pairs: usize,
    /// Messages per publisher.
    pub messages: u32,
    /// Payload size in bytes (at least 16).
    pub payload: usize,
    /// Maximum unacknowledged messages per publisher at QoS 1/2.
    pub window: usize,
    /// `latency`: messages per second; `connections`: new connections per second.
    pub rate: f64,
    /// Connections in `connections`.
    pub connections: usize,
    /// How long `connections` holds its connections idle before pinging them.
    pub hold: Duration,
    /// Hard limit on the whole run, setup included.
    pub time_limit: Duration,
    /// Broker process id, for its CPU time and RSS.
    pub broker_pid: Option<u32>,
    /// Free-form label copied into the JSON (e.g. `tern` or `mosquitto`).
    pub label: String,
}

impl Params {
    /// The defaults for `scenario` (the targets: 8→1, 1→50, 50 pairs, 1000 msg/s,
    /// 10,000 connections, 64-byte payloads, window 32).
    pub fn defaults(scenario: Scenario) -> Self {
        Self {
            scenario,
            host: "127.0.0.1".into(),
            port: 1883,
            version: Version::V4,
            qos: if scenario == Scenario::Latency { 1 } else { 0 },
            publishers: 8,
            subscribers: 50,
            pairs: 50,
            messages: if scenario == Scenario::Latency {
                5_000
            } else {
                100_000
            },
            payload: 64,
            window: 32,
            rate: if scenario == Scenario::Connections {
                2_000.0
            } else {
                1_000.0
            },
            connections: 10_000,
            hold: Duration::from_secs(2),
            time_limit: Duration::from_secs(120),
            broker_pid: None,
            label: String::new(),
        }
    }

    /// Number of publishers this run starts.
    pub fn publisher_count(&self) -> usize {
        match self.scenario {
            Scenario::FanIn => self.publishers,
            Scenario::FanOut | Scenario::Latency => 1,
            Scenario::Pairs => self.pairs,
            Scenario::Connections => 0,
        }
    }

    /// Number of subscribers this run starts.
    pub fn subscriber_count(&self) -> usize {
        match self.scenario {
            Scenario::FanIn | Scenario::Latency => 1,
            Scenario::FanOut => self.subscribers,
            Scenario::Pairs => self.pairs,
            Scenario::Connections => 0,
        }
    }

    /// Checks the parameters make a bounded, meaningful run.
    pub fn validate(&self) -> Result<(), BenchError> {
        let bad = |m: &str| Err(BenchError::Usage(m.into()));
        if self.qos > 2 {
            return bad("--qos must be 0, 1 or 2");
        }
        if self.payload < super::wire::PayloadHeader::LEN {
            return bad("--payload must be at least 16 bytes");
        }
        if self.window == 0 || self.window > 65_535 {
            return bad("--window must be 1..=65535");
        }
        if self.messages == 0 && self.scenario != Scenario::Connections {
            return bad("--messages must be at least 1");
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return bad("--rate must be positive");
        }
        if self.time_limit.is_zero() {
            return bad("--time-limit must be positive");
        }
        if self.scenario != Scenario::Connections
            && self.publisher_count() * self.subscriber_count() == 0
        {
            return bad("need at least one publisher and one subscriber");
        }
        Ok(())
    }
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Command {
    /// One run.
    Run(Params),
    /// Every scenario with tiny counts (`--smoke`); the params carry host, port, version, pid.
    Smoke(Params),
    /// `--help`.
    Help,
}

/// The `--help` text.
pub const USAGE: &str = "\
tern-bench: end-to-end MQTT load tool (verifies while it measures; one JSON line per run)

USAGE:
    tern-bench SCENARIO [OPTIONS]
    tern-bench --smoke [--host H] [--port P] [--version 4|5] [--broker-pid PID]

SCENARIOS:
    fan-in       P publishers -> 1 wildcard subscriber       (--publishers, default 8)
    fan-out      1 publisher -> S subscribers                  (--subscribers, default 50)
    pairs        N publisher/subscriber pairs                  (--pairs, default 50)
    latency      1 publisher at --rate msg/s -> 1 subscriber   (p50/p99/p999 in us)
    connections  C idle connections opened at --rate conn/s, held --hold s, pinged; broker RSS

OPTIONS:
    --host H            broker host (127.0.0.1)
    --port P            broker port (1883)
    --version 4|5       MQTT 3.1.1 or 5.0 (4)
    --qos 0|1|2         QoS of publications and subscriptions (0; latency: 1)
    --publishers P      fan-in publishers (8)
    --subscribers S     fan-out subscribers (50)
    --pairs N           pairs (50)
    --messages M        messages per publisher (100000; latency: 5000)
    --payload B         payload bytes, >= 16 (64)
    --window W          in-flight messages per publisher at QoS 1/2 (32)
    --rate R            latency: msg/s (1000); connections: conn/s (2000)
    --connections C     connections (10000)
    --hold S            seconds to hold idle connections (2)
    --time-limit S      hard limit per run in seconds, setup included (120)
    --broker-pid PID    broker process, for CPU time and RSS from /proc
    --label L           copied into the JSON
    --smoke             run every scenario with tiny counts; exit non-zero on any failure
";

fn value<'a>(args: &mut impl Iterator<Item = &'a str>, flag: &str) -> Result<&'a str, BenchError> {
    args.next()
        .ok_or_else(|| BenchError::Usage(format!("{flag} needs a value")))
}

fn num<T: std::str::FromStr>(v: &str, flag: &str) -> Result<T, BenchError> {
    v.parse()
        .map_err(|_| BenchError::Usage(format!("{flag}: cannot parse {v:?}")))
}

fn secs(v: &str, flag: &str) -> Result<Duration, BenchError> {
    let s: f64 = num(v, flag)?;
    Duration::try_from_secs_f64(s)
        .map_err(|_| BenchError::Usage(format!("{flag}: bad duration {v:?}")))
}

/// Parses the arguments after the program name.
pub fn parse_args<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Command, BenchError> {
    let mut args = args.into_iter();
    let mut scenario = None;
    let mut smoke = false;
    let mut opts: Vec<(&str, &str)> = Vec::new();
    while let Some(a) = args.next() {
        match a {
            "-h" | "--help" => return Ok(Command::Help),
            "--smoke" => smoke = true,
            "--scenario" => scenario = Some(value(&mut args, a)?),
            flag if flag.starts_with("--") => {
                let (f, v) = match flag.split_once('=') {
                    Some((f, v)) => (f, v),
                    None => (flag, value(&mut args, flag)?),
                };
                opts.push((f, v));
            }
            name if scenario.is_none() => scenario = Some(name),
            other => return Err(BenchError::Usage(format!("unexpected argument {other:?}"))),
        }
    }
    let sc = match (scenario, smoke) {
        (Some(name), false) => Scenario::from_name(name)
            .ok_or_else(|| BenchError::Usage(format!("unknown scenario {name:?} (see --help)")))?,
        (None, true) => Scenario::FanIn,
        (Some(_), true) => return Err(BenchError::Usage("--smoke takes no scenario".into())),
        (None, false) => return Err(BenchError::Usage("no scenario given (see --help)".into())),
    };
    let mut p = Params::defaults(sc);
    for (f, v) in opts {
        match f {
            "--host" => p.host = v.to_string(),
            "--port" => p.port = num(v, f)?,
            "--version" => {
                p.version = match v {
                    "4" | "3.1.1" => Version::V4,
                    "5" | "5.0" => Version::V5,
                    _ => {
                        return Err(BenchError::Usage(format!(
                            "--version must be 4 or 5, not {v:?}"
                        )));
                    }
                }
            }
            "--qos" => p.qos = num(v, f)?,
            "--publishers" => p.publishers = num(v, f)?,
            "--subscribers" => p.subscribers = num(v, f)?,
            "--pairs" => p.pairs = num(v, f)?,
            "--messages" => p.messages = num(v, f)?,
            "--payload" => p.payload = num(v, f)?,
            "--window" => p.window = num(v, f)?,
            "--rate" => p.rate = num(v, f)?,
            "--connections" => p.connections = num(v, f)?,
            "--hold" => p.hold = secs(v, f)?,
            "--time-limit" => p.time_limit = secs(v, f)?,
            "--broker-pid" => p.broker_pid = Some(num(v, f)?),
            "--label" => p.label = v.to_string(),
            _ => {
                return Err(BenchError::Usage(format!(
                    "unknown option {f} (see --help)"
                )));
            }
        }
    }
    if smoke {
        return Ok(Command::Smoke(p));
    }
    p.validate()?;
    Ok(Command::Run(p))
}

/// The runs of `--smoke`: every scenario, QoS 0/1/2, tiny counts, a 15 s limit each.
pub fn smoke_runs(base: &Params) -> Vec<Params> {
    let mk = |sc: Scenario, qos: u8| {
        let mut p = Params::defaults(sc);
        p.host.clone_from(&base.host);
        p.port = base.port;
        p.version = base.version;
        p.broker_pid = base.broker_pid;
        p.label = if base.label.is_empty() {
            "smoke".into()
        } else {
            base.label.clone()
        };
        p.qos = qos;
        p.publishers = 3;
        p.subscribers = 4;
        p.pairs = 4;
        p.messages = 300;
        p.window = 8;
        p.connections = 40;
        p.hold = Duration::from_millis(200);
        p.time_limit = Duration::from_secs(15);
        if sc == Scenario::Latency {
            p.rate = 2_000.0;
            p.messages = 200;
        }
        p
    };
    vec![
        mk(Scenario::FanIn, 0),
        mk(Scenario::FanIn, 1),
        mk(Scenario::FanIn, 2),
        mk(Scenario::FanOut, 1),
        mk(Scenario::Pairs, 2),
        mk(Scenario::Latency, 1),
        mk(Scenario::Connections, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_run() {
        let cmd = parse_args(
            "fan-in --port 1999 --version 5 --qos 2 --publishers=4 --messages 10 --time-limit 1.5"
                .split(' '),
        )
        .unwrap();
        let Command::Run(p) = cmd else {
            panic!("{cmd:?}")
        };
        assert_eq!(p.scenario, Scenario::FanIn);
        assert_eq!(
            (p.port, p.version, p.qos, p.publishers, p.messages),
            (1999, Version::V5, 2, 4, 10)
        );
        assert_eq!(p.time_limit, Duration::from_millis(1500));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(parse_args(["fan-in", "--qos", "3"]).is_err());
        assert!(parse_args(["nope"]).is_err());
        assert!(parse_args(["pairs", "--bogus", "1"]).is_err());
        assert!(parse_args(["latency", "--payload", "8"]).is_err());
        assert!(matches!(
            parse_args(["--smoke", "--port", "5"]),
            Ok(Command::Smoke(_))
        ));
    }

    #[test]
    fn smoke_covers_every_scenario_and_qos() {
        let runs = smoke_runs(&Params::defaults(Scenario::FanIn));
        for sc in Scenario::ALL {
            assert!(runs.iter().any(|p| p.scenario == sc));
        }
        for q in 0..=2 {
            assert!(runs.iter().any(|p| p.qos == q));
        }
        assert!(runs.iter().all(|p| p.validate().is_ok()));
    }
}

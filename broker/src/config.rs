//! Broker configuration: the TOML file format, its defaults and its validation.
//!
//! [`Config::default`] is the embedded default the broker runs with when no file is given:
//! anonymous access on one plain-TCP listener at `127.0.0.1:1883`, state in memory.
//! [`Config::from_toml`] / [`Config::load`] read a TOML document; every key is optional and
//! takes the default documented on its field (and in `broker/tern.example.toml`).
//!
//! Unknown keys and bad values are rejected at start-up with a [`ConfigError`] that names the
//! file, the line and the key, for example
//! `tern.toml:12: listener[0].bind: invalid socket address "x"`. Type errors come from serde
//! (with the path tracked by `serde_path_to_error` and the position from `toml`'s spans);
//! range and cross-field checks run afterwards on the typed value, and look the offending key
//! up in the parsed document to find its line.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::de::{DeTable, DeValue};

/// The largest MQTT packet: 1 byte of fixed header, 4 of Remaining Length and 268,435,455
/// of body.
pub const MQTT_MAX_PACKET_SIZE: u32 = 268_435_460;

/// The whole broker configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where clients connect: `[[listener]]` tables. Default: one plain-TCP listener on
    /// `127.0.0.1:1883`.
    pub listener: Vec<ListenerConfig>,
    /// Number of shards (one `current_thread` runtime on its own OS thread each), or
    /// `"auto"` (the default) for one per available core.
    pub shards: Shards,
    /// The default log filter (`tracing` `EnvFilter` syntax, e.g. `"info"` or
    /// `"tern_broker=debug,info"`); `RUST_LOG` overrides it. Default `"info"`.
    pub log_level: String,
    /// Accept clients that send no user name. Default `true`. `false` needs an authentication
    /// backend (password file), which is not implemented yet, so it is rejected at start-up.
    pub allow_anonymous: bool,
    /// Whether retained messages are supported (5.0 CONNACK Retain Available). Default `true`.
    pub retain_available: bool,
    /// Whether `$share/...` subscriptions are supported (5.0 CONNACK Shared Subscription
    /// Available). Default `true`.
    pub shared_subscriptions_available: bool,
    /// Seconds between two `$SYS/broker/...` updates; `0` disables `$SYS`. Default `10`.
    pub sys_interval_secs: u32,
    /// Move a connection to the shard its deliveries come from when (9 in 10 of) them come
    /// from one other shard: at a light rate (at most 5,000 per second) always, at a higher
    /// rate only to a shard with no more connections. Saves a thread wake-up per message,
    /// most of the latency on a small machine. Default `true`.
    pub colocate: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Session behaviour.
    pub sessions: Sessions,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listener: vec![ListenerConfig::default()],
            shards: Shards::Auto,
            log_level: "info".to_owned(),
            allow_anonymous: true,
            retain_available: true,
            shared_subscriptions_available: true,
            sys_interval_secs: 10,
            colocate: true,
            limits: Limits::default(),
            sessions: Sessions::default(),
        }
    }
}

/// One `[[listener]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Socket address to bind, e.g. `"0.0.0.0:1883"` or `"[::]:1883"`. Port 0 picks a free
    /// port. Required.
    pub bind: Bind,
    /// Transport: `"tcp"` (the default). `"tls"`, `"ws"` and `"wss"` are reserved for
    /// later releases and rejected for now.
    #[serde(default)]
    pub kind: ListenerKind,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            bind: Bind(SocketAddr::from(([127, 0, 0, 1], 1883))),
            kind: ListenerKind::Tcp,
        }
    }
}

/// A listener's socket address, parsed from a string so that a bad one is reported with the
/// text that was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bind(pub SocketAddr);

impl<'de> Deserialize<'de> for Bind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a socket address such as \"127.0.0.1:1883\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Bind, E> {
                s.parse()
                    .map(Bind)
                    .map_err(|_| E::custom(format_args!("invalid socket address {s:?}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// A listener's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ListenerKind {
    /// Plain TCP.
    #[default]
    Tcp,
}

impl<'de> Deserialize<'de> for ListenerKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ListenerKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a listener kind (\"tcp\")")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ListenerKind, E> {
                match s {
                    "tcp" => Ok(ListenerKind::Tcp),
                    "tls" | "ws" | "wss" => Err(E::custom(format_args!(
                        "listener kind {s:?} is reserved and not supported yet (use \"tcp\")"
                    ))),
                    _ => Err(E::custom(format_args!(
                        "unknown listener kind {s:?}, expected \"tcp\""
                    ))),
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// How many shards to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shards {
    /// One per available core (`std::thread::available_parallelism`).
    #[default]
    Auto,
    /// Exactly this many (1 to 1024).
    Count(u32),
}

impl Shards {
    /// The number of shards to start.
    pub fn resolve(self) -> usize {
        match self {
            Self::Auto => std::thread::available_parallelism().map_or(1, |n| n.get()),
            // u32 -> usize never truncates on the platforms we build for (>= 32-bit).
            Self::Count(n) => usize::try_from(n).unwrap_or(1).max(1),
        }
    }
}

impl<'de> Deserialize<'de> for Shards {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Shards;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"auto\" or a number of shards")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Shards, E> {
                if s == "auto" {
                    Ok(Shards::Auto)
                } else {
                    Err(E::custom(format_args!(
                        "invalid shard count {s:?}, expected \"auto\" or a number"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Shards, E> {
                u32::try_from(n)
                    .map(Shards::Count)
                    .map_err(|_| E::custom(format_args!("invalid shard count {n}")))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Shards, E> {
                u32::try_from(n)
                    .map(Shards::Count)
                    .map_err(|_| E::custom(format_args!("invalid shard count {n}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size in bytes: an integer, or a string with a binary unit (`"64KiB"`, `"1MiB"`,
/// `"2GiB"`, `"512B"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `"<n>"`, `"<n>B"`, `"<n>KiB"`, `"<n>MiB"` or `"<n>GiB"` (spaces allowed
    /// between number and unit).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num.parse().ok()?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return None,
        };
        n.checked_mul(mult).map(Self)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size in bytes (an integer, or a string such as \"64KiB\")")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                ByteSize::parse(s).ok_or_else(|| {
                    E::custom(format_args!(
                        "invalid size {s:?}, expected bytes or a number with B, KiB, MiB or GiB"
                    ))
                })
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format_args!("invalid size {n}")))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[limits]`: what one client, and the broker as a whole, may use. What exceeds a limit is
/// refused or dropped with a reason code and a counter, never allocated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Simultaneous client connections, all listeners and shards together; a connection
    /// over the limit is accepted and closed at once. Default `10000`.
    pub max_connections: u32,
    /// Largest packet accepted from a client, fixed header included (5.0 CONNACK Maximum
    /// Packet Size), 128 bytes to 268,435,460. Default `"1MiB"`.
    pub max_packet_size: ByteSize,
    /// Outgoing QoS 1/2 messages in flight per session, awaiting acknowledgement
    /// (1 to 65535). Default `32`.
    pub max_inflight: u16,
    /// Messages queued per session beyond the in-flight window (offline, or window full).
    /// Default `1000`.
    pub max_queued_messages: u32,
    /// Bytes queued per session. Default `"16MiB"`.
    pub max_queued_bytes: ByteSize,
    /// Bytes queued across all sessions; the broker-wide cap. Must be at least
    /// `max_queued_bytes`. Default `"256MiB"`.
    pub max_queued_bytes_total: ByteSize,
    /// Retained messages stored. Default `100000`.
    pub max_retained_messages: u32,
    /// Bytes of retained messages (topic and payload) stored. Default `"64MiB"`.
    pub max_retained_bytes: ByteSize,
    /// Longest Keep Alive, in seconds, granted to a client (1 to 65535); a 5.0 client that
    /// asks for more (or for 0) is told this value as Server Keep Alive. Default `65535`.
    pub max_keep_alive_secs: u16,
    /// Topic Alias Maximum announced to 5.0 clients (0 disables client-to-server aliases).
    /// Default `10`.
    pub topic_alias_maximum: u16,
    /// Receive Maximum announced to 5.0 clients: QoS 1/2 publishes a client may have
    /// unacknowledged towards the broker (1 to 65535). Default `1024`.
    pub receive_maximum: u16,
    /// Seconds a new connection may take to send its CONNECT before it is closed
    /// (1 to 3600). Default `10`.
    pub connect_timeout_secs: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_packet_size: ByteSize(1 << 20),
            max_inflight: 32,
            max_queued_messages: 1000,
            max_queued_bytes: ByteSize(16 << 20),
            max_queued_bytes_total: ByteSize(256 << 20),
            max_retained_messages: 100_000,
            max_retained_bytes: ByteSize(64 << 20),
            max_keep_alive_secs: 65535,
            topic_alias_maximum: 10,
            receive_maximum: 1024,
            connect_timeout_secs: 10,
        }
    }
}

/// `[sessions]`: persistent-session behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sessions {
    /// Longest Session Expiry Interval granted, in seconds; larger requests are capped
    /// (5.0 CONNACK Session Expiry Interval). `4294967295` means "never expires" as in the
    /// specification. 3.1.1 persistent sessions use this value. Default `4294967295`.
    pub max_session_expiry_secs: u32,
    /// Queue QoS 0 messages for offline persistent sessions too. Default `false`.
    pub queue_qos0_offline: bool,
    /// What happens to a QoS 0 message when a session's queue is full: `"drop-oldest"` (the
    /// default) or `"drop-newest"`. QoS 1/2 messages are never dropped to make room: the
    /// new one is refused and counted.
    pub qos0_overflow: OverflowPolicy,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            max_session_expiry_secs: u32::MAX,
            queue_qos0_offline: false,
            qos0_overflow: OverflowPolicy::DropOldest,
        }
    }
}

/// The QoS 0 queue overflow policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverflowPolicy {
    /// Drop the oldest queued QoS 0 message to make room for the new one.
    #[default]
    DropOldest,
    /// Drop the new message.
    DropNewest,
}

/// Why a configuration could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    Invalid {
        /// The file, as given.
        file: PathBuf,
        /// 1-based line of the offending key or value, when known.
        line: Option<usize>,
        /// The offending key as a path (`listener[0].bind`), when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// The 1-based line of the error, if it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Invalid { line, .. } => *line,
            Self::Io { .. } => None,
        }
    }

    /// The key path of the error, if it has one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } => key.as_deref(),
            Self::Io { .. } => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { file, error } => write!(f, "{}: {error}", file.display()),
            Self::Invalid {
                file,
                line,
                key,
                message,
            } => {
                write!(f, "{}", file.display())?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
                if let Some(key) = key {
                    write!(f, ": {key}")?;
                }
                write!(f, ": {message}")
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { error, .. } => Some(error),
            Self::Invalid { .. } => None,
        }
    }
}

impl Config {
    /// Reads and validates the TOML file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            file: path.to_owned(),
            error,
        })?;
        Self::from_toml(path, &text)
    }

    /// Parses and validates a TOML document; `file` names it in errors.
    pub fn from_toml(file: &Path, text: &str) -> Result<Self, ConfigError> {
        let invalid = |span: Option<std::ops::Range<usize>>, key: Option<String>, message| {
            ConfigError::Invalid {
                file: file.to_owned(),
                line: span.map(|s| line_of(text, s.start)),
                key,
                message,
            }
        };
        let doc =
            DeTable::parse(text).map_err(|e| invalid(e.span(), None, e.message().to_owned()))?;
        let de = toml::de::Deserializer::from(doc.clone());
        let config: Self = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let key = (path != ".").then_some(path);
            let inner = e.into_inner();
            let span = inner
                .span()
                .or_else(|| key.as_deref().and_then(|k| span_of(doc.get_ref(), k)));
            invalid(span, key, inner.message().to_owned())
        })?;
        config.validate().map_err(|(key, message)| {
            let span = span_of(doc.get_ref(), &key);
            invalid(span, Some(key), message)
        })?;
        Ok(config)
    }

    /// Replaces the listeners with plain-TCP listeners on `addrs` (the `--listen` flag).
    /// An empty `addrs` leaves the configuration unchanged.
    pub fn override_listeners(&mut self, addrs: &[SocketAddr]) {
        if !addrs.is_empty() {
            self.listener = addrs
                .iter()
                .map(|&a| ListenerConfig {
                    bind: Bind(a),
                    kind: ListenerKind::Tcp,
                })
                .collect();
        }
    }

    /// Range and cross-field checks; the error names the key path.
    pub fn validate(&self) -> Result<(), (String, String)> {
        fn range<T: PartialOrd + fmt::Display>(
            key: &str,
            v: T,
            lo: T,
            hi: T,
        ) -> Result<(), (String, String)> {
            if v < lo || v > hi {
                Err((key.to_owned(), format!("{v} is out of range {lo} to {hi}")))
            } else {
                Ok(())
            }
        }
        if self.listener.is_empty() {
            return Err((
                "listener".into(),
                "at least one listener is required".into(),
            ));
        }
        let mut seen = HashSet::new();
        for (i, l) in self.listener.iter().enumerate() {
            if !seen.insert(l.bind) {
                return Err((
                    format!("listener[{i}].bind"),
                    format!("{} is bound twice", l.bind.0),
                ));
            }
        }
        if let Shards::Count(n) = self.shards {
            range("shards", n, 1, 1024)?;
        }
        if !self.allow_anonymous {
            return Err((
                "allow_anonymous".into(),
                "false requires an authentication backend (password file), which is not \
                 supported yet"
                    .into(),
            ));
        }
        let l = &self.limits;
        range("limits.max_connections", l.max_connections, 1, u32::MAX)?;
        range(
            "limits.max_packet_size",
            l.max_packet_size.0,
            128,
            u64::from(MQTT_MAX_PACKET_SIZE),
        )?;
        range("limits.max_inflight", l.max_inflight, 1, u16::MAX)?;
        range(
            "limits.max_keep_alive_secs",
            l.max_keep_alive_secs,
            1,
            u16::MAX,
        )?;
        range("limits.receive_maximum", l.receive_maximum, 1, u16::MAX)?;
        range(
            "limits.connect_timeout_secs",
            l.connect_timeout_secs,
            1,
            3600,
        )?;
        if l.max_queued_bytes > l.max_queued_bytes_total {
            return Err((
                "limits.max_queued_bytes".into(),
                format!(
                    "{} per session exceeds limits.max_queued_bytes_total ({})",
                    l.max_queued_bytes, l.max_queued_bytes_total
                ),
            ));
        }
        Ok(())
    }
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

/// The span of the value at `path` (`a.b[2].c`, as `serde_path_to_error` prints it) in the
/// parsed document, or `None` when the path does not resolve (the key came from a default).
fn span_of(doc: &DeTable<'_>, path: &str) -> Option<std::ops::Range<usize>> {
    let mut span = None;
    // `None` while at the document root.
    let mut value: Option<&DeValue<'_>> = None;
    for seg in path.split('.') {
        let (name, indices) = match seg.find('[') {
            Some(i) => seg.split_at(i),
            None => (seg, ""),
        };
        if !name.is_empty() {
            let table = match value {
                None => doc,
                Some(v) => v.as_table()?,
            };
            let (k, v) = table.get_key_value(name)?;
            span = Some(k.span().start..v.span().end);
            value = Some(v.get_ref());
        }
        for idx in indices.split('[').filter(|s| !s.is_empty()) {
            let i: usize = idx.trim_end_matches(']').parse().ok()?;
            let v = value?.as_array()?.get(i)?;
            span = Some(v.span());
            value = Some(v.get_ref());
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(Path::new("tern.toml"), text)
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(
            Config::default().listener[0].bind.0,
            "127.0.0.1:1883".parse().unwrap()
        );
    }

    #[test]
    fn bad_bind_names_line_and_key() {
        let text =
            "shards = 1\n\n[[listener]]\nbind = \"127.0.0.1:1\"\n\n[[listener]]\nbind = \"x\"\n";
        assert_eq!(
            err(text),
            "tern.toml:7: listener[1].bind: invalid socket address \"x\""
        );
    }

    #[test]
    fn unknown_key_top_and_nested() {
        let e = err("log_level = \"info\"\nfoo = 1\n");
        assert!(
            e.starts_with("tern.toml:2: foo: unknown field `foo`"),
            "{e}"
        );
        let e = err("[limits]\nmax_connections = 5\nmax_conections = 5\n");
        assert!(
            e.starts_with("tern.toml:3: limits.max_conections: unknown field"),
            "{e}"
        );
    }

    #[test]
    fn type_and_range_errors() {
        let e = err("[limits]\n\nmax_inflight = \"many\"\n");
        assert!(
            e.starts_with("tern.toml:3: limits.max_inflight: invalid type"),
            "{e}"
        );
        assert_eq!(
            err("[limits]\nmax_inflight = 0\n"),
            "tern.toml:2: limits.max_inflight: 0 is out of range 1 to 65535"
        );
        let e = err("[limits]\nmax_packet_size = \"3 parsecs\"\n");
        assert!(
            e.starts_with("tern.toml:2: limits.max_packet_size: invalid size"),
            "{e}"
        );
        assert_eq!(
            err("[sessions]\nqos0_overflow = \"drop-all\"\n")
                .split(',')
                .next()
                .unwrap(),
            "tern.toml:2: sessions.qos0_overflow: unknown variant `drop-all`"
        );
    }

    #[test]
    fn reserved_kind_and_duplicates() {
        let e = err("[[listener]]\nbind = \"0.0.0.0:8883\"\nkind = \"tls\"\n");
        assert!(
            e.starts_with("tern.toml:3: listener[0].kind: listener kind \"tls\" is reserved"),
            "{e}"
        );
        let e = err("[[listener]]\nbind = \"0.0.0.0:1\"\n[[listener]]\nbind = \"0.0.0.0:1\"\n");
        assert_eq!(e, "tern.toml:4: listener[1].bind: 0.0.0.0:1 is bound twice");
        assert_eq!(
            err("listener = []\n"),
            "tern.toml:1: listener: at least one listener is required"
        );
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = err("shards = 2\n[limits\n");
        assert!(e.starts_with("tern.toml:2: "), "{e}");
    }

    #[test]
    fn sizes_and_shards() {
        let c =
            parse("shards = 3\n[limits]\nmax_packet_size = \"64KiB\"\nmax_queued_bytes = 1024\n")
                .unwrap();
        assert_eq!(c.shards, Shards::Count(3));
        assert_eq!(c.limits.max_packet_size, ByteSize(65536));
        assert_eq!(c.limits.max_queued_bytes, ByteSize(1024));
        assert_eq!(parse("shards = \"auto\"").unwrap().shards, Shards::Auto);
        assert_eq!(
            err("shards = 0\n"),
            "tern.toml:1: shards: 0 is out of range 1 to 1024"
        );
        assert_eq!(
            err("\n\n[limits]\nmax_queued_bytes = \"1GiB\"\n"),
            "tern.toml:4: limits.max_queued_bytes: 1073741824 bytes per session exceeds \
             limits.max_queued_bytes_total (268435456 bytes)"
        );
    }

    #[test]
    fn example_file_is_valid_and_default() {
        let text = include_str!("../tern.example.toml");
        let c = parse(text).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn listen_override() {
        let mut c = Config::default();
        c.override_listeners(&[]);
        assert_eq!(c, Config::default());
        let a: SocketAddr = "127.0.0.1:0".parse().unwrap();
        c.override_listeners(&[a]);
        assert_eq!(c.listener.len(), 1);
        assert_eq!(c.listener[0].bind.0, a);
    }
}

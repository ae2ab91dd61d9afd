//! Host test support: a private Mosquitto per test, a std TCP transport with `ReadReady`
//! (dev-dependency only: the MCU build never sees std), and a driven client.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant as StdInstant};

use tern_client::codec::{Connect, ProtocolVersion, QoS, Subscription, SubscriptionOptions};
use tern_client::{Client, Event, Fixed, Instant};

/// A private Mosquitto on 127.0.0.1 and a free port; killed on drop.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Mosquitto {
    pub fn start() -> Self {
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "mosquitto is not installed: run `./ci.sh install` (apt-get install mosquitto)"
                )
            });
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("tern-client-mosq-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto");
        let deadline = StdInstant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                StdInstant::now() < deadline,
                "mosquitto did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, dir }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `std::net::TcpStream` as an `embedded-io` transport with `ReadReady`.
pub struct Tcp(pub TcpStream, pub Option<usize>);

impl Tcp {
    pub fn connect(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        Self(s, None)
    }

    /// Cuts the link (both directions), as a dropped radio link would.
    pub fn cut(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

impl embedded_io::ErrorType for Tcp {
    type Error = std::io::Error;
}

impl embedded_io::Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
        // A read budget lets a test stop reading at an exact point of a flow.
        let n = self.1.map_or(buf.len(), |b| b.min(buf.len()));
        let n = self.0.read(&mut buf[..n])?;
        if let Some(b) = &mut self.1 {
            *b -= n;
        }
        Ok(n)
    }
}

impl embedded_io::Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> Result<(), std::io::Error> {
        self.0.flush()
    }
}

impl embedded_io::ReadReady for Tcp {
    fn read_ready(&mut self) -> Result<bool, std::io::Error> {
        if self.1 == Some(0) {
            return Ok(false);
        }
        self.0.set_nonblocking(true)?;
        let mut b = [0u8; 1];
        let r = match self.0.peek(&mut b) {
            Ok(_) => Ok(true), // data, or end of file (read returns 0)
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        };
        self.0.set_nonblocking(false)?;
        r
    }
}

pub type S = Fixed<4, 0, 0, 0, 0>;
/// Outbox bytes per test client: room for several queued messages.
pub const OUTBOX: usize = 2048;

/// What a test saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Connected(bool),
    Message {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        dup: bool,
    },
    Published,
    Subscribed(Vec<u8>),
    Unsubscribed,
    Oversize {
        topic: String,
        size: usize,
    },
    Dropped,
    Disconnected,
}

pub fn own(e: Event<'_>) -> Seen {
    match e {
        Event::Connected { session_present } => Seen::Connected(session_present),
        Event::Message(p) => Seen::Message {
            topic: p.topic.to_string(),
            payload: p.payload.to_vec(),
            qos: p.qos_pid.qos(),
            dup: p.dup,
        },
        Event::Published { .. } => Seen::Published,
        Event::Subscribed { reason_codes, .. } => {
            Seen::Subscribed(reason_codes.iter().map(|r| r.code()).collect())
        }
        Event::Unsubscribed { .. } => Seen::Unsubscribed,
        Event::Oversize { topic, size, .. } => Seen::Oversize {
            topic: topic.to_string(),
            size,
        },
        Event::Dropped { .. } => Seen::Dropped,
        Event::Disconnected(_) => Seen::Disconnected,
    }
}

static EPOCH: std::sync::OnceLock<StdInstant> = std::sync::OnceLock::new();

/// The caller's clock (milliseconds since the first call in this process).
pub fn now() -> Instant {
    let e = *EPOCH.get_or_init(StdInstant::now);
    Instant::from_millis(u64::try_from(e.elapsed().as_millis()).unwrap())
}

/// A client, its transport and everything it saw.
pub struct Dev {
    pub client: Client<'static, S>,
    pub io: Tcp,
    pub seen: Vec<Seen>,
    pub port: u16,
}

pub fn leak_buf(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

pub fn connect_opts(v: ProtocolVersion, id: &str, clean: bool) -> Connect<'_> {
    let mut c = Connect::new(v, id);
    c.clean_start = clean;
    c.keep_alive = 30;
    #[cfg(feature = "v5")]
    if v.is_v5() && !clean {
        c.properties.session_expiry_interval = Some(600);
    }
    c
}

impl Dev {
    pub fn new(port: u16, rx: usize, tx: usize) -> Self {
        Self {
            client: Client::new(leak_buf(rx), leak_buf(tx), leak_buf(OUTBOX)),
            io: Tcp::connect(port),
            seen: Vec::new(),
            port,
        }
    }

    /// Connects and waits for CONNACK; returns Session Present.
    pub fn connect(&mut self, connect: &Connect<'_>) -> bool {
        self.client.connect(&mut self.io, now(), connect).unwrap();
        match self.wait(|s| matches!(s, Seen::Connected(_))) {
            Seen::Connected(p) => p,
            _ => unreachable!(),
        }
    }

    /// A fresh TCP connection and CONNECT (the session is resumed unless `clean`).
    pub fn reconnect(&mut self, connect: &Connect<'_>) -> bool {
        self.io = Tcp::connect(self.port);
        self.connect(connect)
    }

    /// Polls once; records and returns any event.
    pub fn poll(&mut self) -> Option<Seen> {
        let e = self.client.poll(&mut self.io, now()).unwrap().map(own);
        if let Some(e) = &e {
            self.seen.push(e.clone());
        }
        e
    }

    /// Polls until an event satisfying `f` (10 s at most).
    pub fn wait(&mut self, f: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = StdInstant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.poll() {
                if f(&e) {
                    return e;
                }
            } else {
                std::thread::sleep(Duration::from_millis(2));
            }
            assert!(
                StdInstant::now() < deadline,
                "timed out; seen: {:?}",
                self.seen
            );
        }
    }

    /// Polls for `d`, recording events.
    pub fn run_for(&mut self, d: Duration) {
        let end = StdInstant::now() + d;
        while StdInstant::now() < end {
            if self.poll().is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    pub fn subscribe(&mut self, filter: &str, qos: QoS) {
        let sub = Subscription {
            filter,
            options: SubscriptionOptions::new(qos),
        };
        self.client.subscribe(&mut self.io, now(), &[sub]).unwrap();
        let s = self.wait(|s| matches!(s, Seen::Subscribed(_)));
        assert_eq!(s, Seen::Subscribed(vec![qos as u8]));
    }

    pub fn messages(&self) -> Vec<(String, Vec<u8>, QoS)> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Message {
                    topic,
                    payload,
                    qos,
                    ..
                } => Some((topic.clone(), payload.clone(), *qos)),
                _ => None,
            })
            .collect()
    }
}

#[allow(clippy::vec_init_then_push)]
pub fn versions() -> Vec<ProtocolVersion> {
    let mut v = Vec::new();
    #[cfg(feature = "v3")]
    v.push(ProtocolVersion::V3_1_1);
    #[cfg(feature = "v5")]
    v.push(ProtocolVersion::V5);
    v
}

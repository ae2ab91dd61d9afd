//! Listeners, shards and the server's lifetime.
//!
//! [`Server::start`] binds every configured listener (so a bad address fails start-up, and
//! port 0 is resolved before anyone asks), starts one OS thread per shard, each running a
//! `current_thread` tokio runtime with a `LocalSet`, and returns a [`ServerHandle`] that
//! reports the bound addresses and stops the server.
//!
//! On Linux every shard binds its own socket to each listener address with `SO_REUSEPORT`,
//! and the kernel spreads incoming connections over the shards; a connection then lives on
//! the shard that accepted it, never crossing threads. Elsewhere shard 0 owns the only
//! socket (a hand-off to the other shards is future work). See `ARCHITECTURE.md`.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use crate::auth::{AllowAll, Authenticator, Authorizer};
use crate::config::Config;
use crate::connection::{self, SCRATCH_LEN};
use crate::router::Router;
use crate::shard::{Counters, ShardCtx, housekeeping_task, inbox_task, timer_task};
use crate::shutdown::{Shutdown, ShutdownTrigger};
use crate::store::{MemoryStore, Store};
use crate::transport::Tcp;
use tern_core::retain::RetainLimits;

/// Why the server could not start, or stopped with an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener address could not be bound.
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The cause.
        error: io::Error,
    },
    /// A shard's runtime or thread could not be created.
    Shard {
        /// The shard.
        shard: usize,
        /// The cause.
        error: io::Error,
    },
    /// A shard's thread panicked.
    ShardPanicked {
        /// The shard.
        shard: usize,
    },
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
            Self::Shard { shard, error } => write!(f, "cannot start shard {shard}: {error}"),
            Self::ShardPanicked { shard } => write!(f, "shard {shard} panicked"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Bind { error, .. } | Self::Shard { error, .. } => Some(error),
            Self::ShardPanicked { .. } => None,
        }
    }
}

/// Broker-wide counters (the seed of `$SYS/broker/...`). Atomics touched once per
/// connection, never per message: per-message counters will live per shard and be summed by
/// the `$SYS` publisher.
#[derive(Debug, Default)]
pub struct Stats {
    connected: AtomicU32,
    accepted: AtomicU64,
    refused: AtomicU64,
}

impl Stats {
    /// Open client connections (all shards), whatever their state.
    pub fn connections(&self) -> u32 {
        self.connected.load(Ordering::Relaxed)
    }

    /// Connections accepted since start (within the connection limit).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections closed at once because `limits.max_connections` was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// What every shard shares: read-only configuration, the pluggable services, the router
/// and counters.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) authorizer: Arc<dyn Authorizer>,
    // Not written yet: sessions and retained messages are in memory only (the durable
    // store is a later issue); the trait is in place so the write path can await it.
    #[allow(dead_code)]
    pub(crate) store: Arc<dyn Store>,
    pub(crate) stats: Stats,
    pub(crate) router: Router,
    /// Per-shard message counters (`$SYS`).
    pub(crate) counters: Box<[Counters]>,
    pub(crate) started: std::time::Instant,
}

/// One slot of `limits.max_connections`, released when the connection ends.
pub(crate) struct ConnectionPermit(Arc<Shared>);

impl ConnectionPermit {
    fn try_acquire(shared: &Arc<Shared>) -> Option<Self> {
        let max = shared.config.limits.max_connections;
        shared
            .stats
            .connected
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(shared)))
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.0.stats.connected.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A broker to start: configuration plus the services it runs with.
pub struct Server {
    config: Config,
    authenticator: Arc<dyn Authenticator>,
    authorizer: Arc<dyn Authorizer>,
    store: Arc<dyn Store>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server with `config`, anonymous access ([`AllowAll`]) and an in-memory store.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            authenticator: Arc::new(AllowAll),
            authorizer: Arc::new(AllowAll),
            store: Arc::new(MemoryStore::new()),
        }
    }

    /// Replaces the authenticator.
    pub fn authenticator(mut self, a: Arc<dyn Authenticator>) -> Self {
        self.authenticator = a;
        self
    }

    /// Replaces the authorizer.
    pub fn authorizer(mut self, a: Arc<dyn Authorizer>) -> Self {
        self.authorizer = a;
        self
    }

    /// Replaces the store.
    pub fn store(mut self, s: Arc<dyn Store>) -> Self {
        self.store = s;
        self
    }

    /// Binds the listeners and starts the shards. Returns once every listener is bound and
    /// accepting (connections queue in the kernel until a shard's loop picks them up).
    pub fn start(self) -> Result<ServerHandle, ServerError> {
        let n = self.config.shards.resolve();
        let mut per_shard: Vec<Vec<std::net::TcpListener>> = (0..n).map(|_| Vec::new()).collect();
        let mut local_addrs = Vec::new();
        for l in &self.config.listener {
            let (addr, sockets) = bind(l.bind.0, n)?;
            for (shard, s) in sockets.into_iter().enumerate() {
                if let Some(v) = per_shard.get_mut(shard) {
                    v.push(s);
                }
            }
            local_addrs.push(addr);
        }
        let retain = RetainLimits {
            max_messages: self.config.limits.max_retained_messages as usize,
            max_bytes: usize::try_from(self.config.limits.max_retained_bytes.0)
                .unwrap_or(usize::MAX),
        };
        let shared = Arc::new(Shared {
            router: Router::new(n, retain),
            counters: (0..n).map(|_| Counters::default()).collect(),
            started: std::time::Instant::now(),
            config: self.config,
            authenticator: self.authenticator,
            authorizer: self.authorizer,
            store: self.store,
            stats: Stats::default(),
        });
        let trigger = ShutdownTrigger::new();
        let running = Arc::new(watch::Sender::new(n));
        let mut shards = Vec::with_capacity(n);
        for (id, listeners) in per_shard.into_iter().enumerate() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| ServerError::Shard { shard: id, error })?;
            let shared = Arc::clone(&shared);
            let shutdown = trigger.subscribe();
            let guard = RunningGuard(Arc::clone(&running));
            let spawned = thread::Builder::new()
                .name(format!("tern-shard-{id}"))
                .spawn(move || {
                    let _guard = guard;
                    run_shard(id, rt, listeners, shared, shutdown)
                });
            match spawned {
                Ok(h) => shards.push(h),
                Err(error) => {
                    trigger.fire();
                    return Err(ServerError::Shard { shard: id, error });
                }
            }
        }
        for a in &local_addrs {
            info!(shards = n, "listening on {a}");
        }
        Ok(ServerHandle {
            local_addrs,
            trigger,
            shards,
            total: n,
            running: running.subscribe(),
            shared,
        })
    }
}

/// Decrements the running-shard count when a shard thread ends, however it ends.
struct RunningGuard(Arc<watch::Sender<usize>>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A running server. Dropping it stops the server and waits for it.
#[derive(Debug)]
pub struct ServerHandle {
    local_addrs: Vec<SocketAddr>,
    trigger: ShutdownTrigger,
    shards: Vec<thread::JoinHandle<Result<(), ServerError>>>,
    total: usize,
    running: watch::Receiver<usize>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The bound address of each listener, in configuration order (port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The broker-wide counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// The shard the session of `client_id` lives on (connections move between shards,
    /// see `colocate` in [`Config`]), or `None` if there is no such session.
    pub fn client_shard(&self, client_id: &str) -> Option<usize> {
        let r = self.shared.router.state();
        let id = r.clients.get(client_id)?;
        r.homes.get(id).map(|h| h.shard)
    }

    /// A trigger that stops the server, for another thread or task.
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        self.trigger.clone()
    }

    /// Starts a graceful shutdown: listeners close, every connection finishes, shards exit.
    /// Returns at once; [`join`](Self::join) waits for the end.
    pub fn shutdown(&self) {
        self.trigger.fire();
    }

    /// Completes when any shard has stopped: after a shutdown, or because a shard failed.
    pub async fn stopped(&self) {
        let total = self.total;
        let mut rx = self.running.clone();
        let _ = rx.wait_for(|&n| n < total).await;
    }

    /// Waits until every shard has stopped; the first shard error, if any.
    pub fn join(mut self) -> Result<(), ServerError> {
        self.join_shards()
    }

    fn join_shards(&mut self) -> Result<(), ServerError> {
        let mut result = Ok(());
        for (shard, h) in self.shards.drain(..).enumerate() {
            let r = h
                .join()
                .unwrap_or(Err(ServerError::ShardPanicked { shard }));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.trigger.fire();
        if let Err(e) = self.join_shards() {
            error!("{e}");
        }
    }
}

/// Binds `addr` once per shard with `SO_REUSEPORT` (Linux), or once for shard 0 elsewhere.
/// Returns the resolved address and the sockets, listening and non-blocking.
fn bind(
    addr: SocketAddr,
    shards: usize,
) -> Result<(SocketAddr, Vec<std::net::TcpListener>), ServerError> {
    let err = |error| ServerError::Bind { addr, error };
    // Probe without SO_REUSEPORT first: if another process (say, a second tern) already
    // listens here, binding fails as it should, instead of silently sharing the port.
    // The probe also resolves port 0 to the port every shard then binds.
    let probe = socket(addr, false).map_err(err)?;
    probe.bind(&addr.into()).map_err(err)?;
    let resolved = probe
        .local_addr()
        .map_err(err)?
        .as_socket()
        .ok_or_else(|| err(io::Error::other("not an IP socket")))?;
    drop(probe);
    let count = if cfg!(any(target_os = "linux", target_os = "android")) {
        shards
    } else {
        1
    };
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let s = socket(resolved, count > 1).map_err(err)?;
        s.bind(&resolved.into()).map_err(err)?;
        s.listen(1024).map_err(err)?;
        out.push(s.into());
    }
    Ok((resolved, out))
}

fn socket(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Restart right after a stop despite connections in TIME_WAIT.
    s.set_reuse_address(true)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = reuse_port;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// A shard: one thread, one `current_thread` runtime, the connections it accepted.
fn run_shard(
    id: usize,
    rt: tokio::runtime::Runtime,
    listeners: Vec<std::net::TcpListener>,
    shared: Arc<Shared>,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let ctx = Rc::new(ShardCtx::new(id, shared, SCRATCH_LEN));
        // Every task holds a clone of `done`; `recv` returns `None` once all have finished.
        let (done, mut all_done) = mpsc::channel::<()>(1);
        // The shard's inbox (deliveries and takeovers from other shards) and housekeeping
        // (offline sessions, retained expiry, `$SYS`) run until shutdown.
        for task in [
            Box::pin(inbox_task(Rc::clone(&ctx), shutdown.clone(), done.clone()))
                as std::pin::Pin<Box<dyn Future<Output = ()>>>,
            Box::pin(housekeeping_task(Rc::clone(&ctx), shutdown.clone())),
            Box::pin(timer_task(Rc::clone(&ctx), shutdown.clone())),
        ] {
            let done = done.clone();
            tokio::task::spawn_local(async move {
                task.await;
                drop(done);
            });
        }
        for l in listeners {
            let l = TcpListener::from_std(l)
                .map_err(|error| ServerError::Shard { shard: id, error })?;
            tokio::task::spawn_local(accept_loop(
                l,
                Rc::clone(&ctx),
                shutdown.clone(),
                done.clone(),
            ));
        }
        drop(done);
        let _ = all_done.recv().await;
        debug!(shard = id, "shard stopped");
        Ok(())
    })
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Rc<ShardCtx>,
    mut shutdown: Shutdown,
    done: mpsc::Sender<()>,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.recv() => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning; the error
                // clears when connections close.
                warn!(shard = ctx.id, "accept failed: {e}");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    () = shutdown.recv() => break,
                }
            }
        };
        let Some(permit) = ConnectionPermit::try_acquire(&ctx.shared) else {
            ctx.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            debug!(%peer, "connection limit reached, closing");
            drop(stream);
            continue;
        };
        ctx.shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        // Latency is the broker's job: it coalesces output itself (one write per wake-up).
        if let Err(e) = stream.set_nodelay(true) {
            debug!(%peer, "TCP_NODELAY: {e}");
        }
        let conn = connection::Connection::new(Tcp::new(stream), Rc::clone(&ctx), permit);
        // The task is the connection's own future (which holds the `done` guard): a
        // wrapping block would keep a second copy of what it moves into `run` (the task
        // allocation is ~640 bytes, rounded up to 128).
        tokio::task::spawn_local(conn.run(shutdown.clone(), done.clone()));
    }
    drop(done);
}

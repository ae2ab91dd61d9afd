//! Graceful shutdown, in the shape of mini-redis `src/shutdown.rs`.
//!
//! One [`ShutdownTrigger`] (held by the [`ServerHandle`](crate::ServerHandle)) fires a
//! `tokio::sync::watch` channel; every task that must stop holds a [`Shutdown`] and selects
//! on [`Shutdown::recv`] next to its real work. A `watch` channel rather than `broadcast`:
//! it works across the shards' separate runtimes, a task that subscribes after the signal
//! still sees it, and it never lags.
//!
//! Draining: each shard also hands every task a clone of an `mpsc::Sender<()>` it never
//! sends on; the shard waits for `recv()` to return `None`, which happens once every task
//! (accept loops and connections) has dropped its clone, that is, has finished.

use tokio::sync::watch;

/// Fires the shutdown signal. Cloneable; firing twice is harmless.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    /// A new, unfired trigger.
    pub fn new() -> Self {
        Self(watch::Sender::new(false))
    }

    /// Tells every task to finish.
    pub fn fire(&self) {
        self.0.send_replace(true);
    }

    /// Whether [`fire`](Self::fire) was called.
    pub fn is_fired(&self) -> bool {
        *self.0.borrow()
    }

    /// A listener for this trigger.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            is_shutdown: self.is_fired(),
            notify: self.0.subscribe(),
        }
    }
}

impl Default for ShutdownTrigger {
    fn default() -> Self {
        Self::new()
    }
}

/// Listens for the shutdown signal; each task owns one.
#[derive(Debug, Clone)]
pub struct Shutdown {
    is_shutdown: bool,
    notify: watch::Receiver<bool>,
}

impl Shutdown {
    /// Whether the signal has been received.
    pub fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Waits for the signal; returns at once if it was already received.
    pub async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // An error means the trigger was dropped: treat it as a shutdown too.
        let _ = self.notify.wait_for(|fired| *fired).await;
        self.is_shutdown = true;
    }
}

/// The process's termination signals: SIGINT (Ctrl-C) and, on Unix, SIGTERM.
///
/// Create it before the server starts listening (inside a tokio runtime context), so that a
/// signal arriving right after start-up is caught rather than killing the process.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers. Must be called within a tokio runtime context.
    pub fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for the next signal and names it.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                // No handler could be installed: never resolve rather than stop at once.
                Err(_) => std::future::pending().await,
            }
        }
    }
}

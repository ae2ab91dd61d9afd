//! Persistence behind one trait: sessions, retained messages and queued messages.
//!
//! The broker keeps its live state in memory on the shards; the [`Store`] is the durable
//! copy it can be rebuilt from at start-up. A write returns a [`Commit`], a future that
//! completes when the write is durable, so the broker can hold back an acknowledgement
//! (PUBACK, PUBREC, SUBACK, CONNACK with Session Present) until then. A disk store will
//! group-commit: collect the batches written during one interval into one log append and
//! one `fsync`, then complete all their `Commit`s; a shard therefore never blocks on disk,
//! and the cost of an `fsync` is shared by every acknowledgement it covers.
//!
//! [`Commit`] is a concrete future, not a boxed one: an in-memory store returns
//! [`Commit::ready`] (no allocation, no wake-up), a disk store returns the receiving half of
//! [`Commit::pending`] and completes it from its writer thread. [`Store`] is object-safe
//! (`Arc<dyn Store>`), so choosing a store is a start-up decision, not a type parameter.
//!
//! Records are opaque bytes: the session engine's state is serialised with the core's
//! `serde` feature (postcard), retained messages and queued messages with their own
//! encodings. The store only orders and persists them.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::oneshot;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Persistent sessions, keyed by client identifier.
    Sessions,
    /// Retained messages, keyed by topic name.
    Retained,
    /// Messages queued for offline sessions, keyed by client identifier and sequence.
    Messages,
}

/// One change in a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Inserts or replaces a record.
    Put {
        /// Its table.
        table: Table,
        /// Its key.
        key: Bytes,
        /// Its value.
        value: Bytes,
    },
    /// Removes a record (absent is fine).
    Delete {
        /// Its table.
        table: Table,
        /// Its key.
        key: Bytes,
    },
}

/// Changes applied atomically and in order: after a crash either all or none are visible.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch(pub Vec<Op>);

/// Why the store failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O error from the backing file.
    Io(std::io::Error),
    /// The store has shut down; the write was not performed.
    Closed,
    /// The stored data could not be read back.
    Corrupt(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "store I/O error: {e}"),
            Self::Closed => f.write_str("store closed"),
            Self::Corrupt(what) => write!(f, "store corrupt: {what}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Durable storage for broker state. See the [module documentation](self).
pub trait Store: Send + Sync + 'static {
    /// Applies `batch`; the returned [`Commit`] completes once it is durable.
    fn write(&self, batch: Batch) -> Commit;

    /// Every record of `table`, in key order (start-up recovery).
    fn load(&self, table: Table) -> Result<Vec<(Bytes, Bytes)>, StoreError>;

    /// `true` when records survive a restart. The broker skips encoding records for a
    /// non-durable store whose contents nobody will read back.
    fn is_durable(&self) -> bool;
}

/// Completes when a write is durable. See [`Store::write`].
#[derive(Debug)]
#[must_use = "a Commit does nothing unless awaited (or dropped to not wait)"]
pub struct Commit(CommitInner);

#[derive(Debug)]
enum CommitInner {
    Ready(Option<Result<(), StoreError>>),
    Pending(oneshot::Receiver<Result<(), StoreError>>),
}

/// The sending half of [`Commit::pending`]: the store completes it after its `fsync`.
#[derive(Debug)]
pub struct CommitSender(oneshot::Sender<Result<(), StoreError>>);

impl CommitSender {
    /// Completes the commit. If nobody waits any more, this is a no-op.
    pub fn complete(self, result: Result<(), StoreError>) {
        let _ = self.0.send(result);
    }
}

impl Commit {
    /// An already completed commit.
    pub fn ready(result: Result<(), StoreError>) -> Self {
        Self(CommitInner::Ready(Some(result)))
    }

    /// A commit completed later through the returned [`CommitSender`]; dropping the sender
    /// completes it with [`StoreError::Closed`].
    pub fn pending() -> (Self, CommitSender) {
        let (tx, rx) = oneshot::channel();
        (Self(CommitInner::Pending(rx)), CommitSender(tx))
    }
}

impl Future for Commit {
    type Output = Result<(), StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            // Polling again after completion reports Closed rather than panicking.
            CommitInner::Ready(r) => Poll::Ready(r.take().unwrap_or(Err(StoreError::Closed))),
            CommitInner::Pending(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(StoreError::Closed))),
        }
    }
}

/// Keeps records in memory: the default, "persistence off". Nothing survives a restart;
/// commits complete at once.
#[derive(Debug, Default)]
pub struct MemoryStore {
    // A std Mutex: sections are short and never held across an await (mini-redis `db.rs`).
    tables: Mutex<BTreeMap<(Table, Bytes), Bytes>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn write(&self, batch: Batch) -> Commit {
        // A poisoned lock only means another thread panicked mid-write; the map is
        // still a valid map, so keep going.
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        for op in batch.0 {
            match op {
                Op::Put { table, key, value } => {
                    tables.insert((table, key), value);
                }
                Op::Delete { table, key } => {
                    tables.remove(&(table, key));
                }
            }
        }
        Commit::ready(Ok(()))
    }

    fn load(&self, table: Table) -> Result<Vec<(Bytes, Bytes)>, StoreError> {
        let tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        Ok(tables
            .iter()
            .filter(|((t, _), _)| *t == table)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn is_durable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn memory_store_roundtrip() {
        let s = MemoryStore::new();
        let put = |k: &'static str, v: &'static str| Op::Put {
            table: Table::Retained,
            key: Bytes::from_static(k.as_bytes()),
            value: Bytes::from_static(v.as_bytes()),
        };
        block_on(s.write(Batch(vec![put("b", "2"), put("a", "1")]))).unwrap();
        block_on(s.write(Batch(vec![Op::Delete {
            table: Table::Retained,
            key: Bytes::from_static(b"b"),
        }])))
        .unwrap();
        let rows = s.load(Table::Retained).unwrap();
        assert_eq!(
            rows,
            vec![(Bytes::from_static(b"a"), Bytes::from_static(b"1"))]
        );
        assert!(s.load(Table::Sessions).unwrap().is_empty());
        assert!(!s.is_durable());
    }

    #[test]
    fn pending_commit_completes_or_reports_closed() {
        let (c, tx) = Commit::pending();
        tx.complete(Ok(()));
        assert!(block_on(c).is_ok());
        let (c, tx) = Commit::pending();
        drop(tx);
        assert!(matches!(block_on(c), Err(StoreError::Closed)));
    }
}

//! The retained-message store: the last retained message per topic, in a trie over topic levels.
//!
//! [`RetainedStore<M>`] is generic over the stored message `M` (the broker stores payload,
//! QoS, properties and an expiry deadline; the store never looks inside). When a client
//! subscribes, [`RetainedStore::for_each_matching`] walks the trie along the subscription's
//! filter: a literal level follows one child, `+` every child of that level, `#` the whole
//! subtree including the parent level. It never scans the retained messages that cannot match.
//!
//! Deleting a retained message by publishing an empty retained payload
//! (3.1.1 `[MQTT-3.3.1-10]`, 5.0 `[MQTT-3.3.1-6]`) is the broker's decision: it calls
//! [`RetainedStore::remove`]. Expiry likewise: the broker calls [`RetainedStore::retain`] with
//! a predicate that checks each message's deadline against its clock.
//!
//! # Limits
//!
//! [`RetainLimits`] bounds the number of messages and their total cost in bytes (the topic
//! length plus a caller-supplied cost per message, see [`RetainedStore::set_with_cost`]).
//! Storing a message under a *new* topic beyond a limit hands the message back as `Err(msg)`,
//! as heapless collections do; replacing the message of an existing topic always succeeds, even
//! if the new message is larger (refusing it would leave a stale message retained).
//!
//! # Memory
//!
//! On a 64-bit target a node is 48 bytes (level `Box<str>` 16, children 24, entry 8) stored
//! inline in its parent's child list (an exactly-sized `Vec` up to 8 children, a hash table
//! above), plus its level string on the heap; each message is boxed with its full topic name
//! and cost (`size_of::<M>() + 24` bytes, plus the topic string). Intermediate nodes are shared
//! by topics with a common prefix; empty nodes are freed on removal. The bench
//! `benches/benches/index.rs` measures 192 requested heap bytes per message for 100k topics of
//! depth 3-6 with `M = u64`. All walks are iterative, so a topic of 32,768 levels cannot
//! overflow the stack.
//!
//! ```
//! use tern_core::retain::RetainedStore;
//! use tern_core::topic::{TopicFilter, TopicName};
//!
//! let mut store = RetainedStore::new();
//! store.set(TopicName::new("sport/tennis").unwrap(), "6-4").unwrap();
//! store.set(TopicName::new("sport").unwrap(), "top").unwrap();
//! store.set(TopicName::new("$SYS/uptime").unwrap(), "42").unwrap();
//! let mut got = Vec::new();
//! store.for_each_matching(&TopicFilter::new("sport/#").unwrap(), |topic, msg| {
//!     got.push((topic.to_owned(), *msg))
//! });
//! got.sort();
//! assert_eq!(got, [("sport".to_owned(), "top"), ("sport/tennis".to_owned(), "6-4")]);
//! ```

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use hashbrown::DefaultHashBuilder;

use crate::index::children::{Children, Keyed};
use crate::topic::{TopicFilter, TopicName};

#[cfg(test)]
mod tests;

/// Bounds on a [`RetainedStore`]. The default is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RetainLimits {
    /// Maximum number of retained messages.
    pub max_messages: usize,
    /// Maximum total cost in bytes: for each message, its topic length plus the cost passed to
    /// [`RetainedStore::set_with_cost`] (0 for [`RetainedStore::set`]).
    pub max_bytes: usize,
}

impl RetainLimits {
    /// No limits.
    pub const UNLIMITED: Self = Self {
        max_messages: usize::MAX,
        max_bytes: usize::MAX,
    };
}

impl Default for RetainLimits {
    fn default() -> Self {
        Self::UNLIMITED
    }
}

/// The retained messages, one per topic, in a trie over topic levels.
///
/// Call protocol: [`set`](Self::set) on a retained PUBLISH with a payload,
/// [`remove`](Self::remove) on a retained PUBLISH with an empty payload,
/// [`for_each_matching`](Self::for_each_matching) on SUBSCRIBE, [`retain`](Self::retain)
/// periodically (or on access) to drop expired messages.
pub struct RetainedStore<M> {
    root: Node<M>,
    hasher: DefaultHashBuilder,
    limits: RetainLimits,
    len: usize,
    bytes: usize,
    /// Number of nodes below the root.
    nodes: usize,
}

struct Node<M> {
    /// The topic level this node stands for (empty for the root).
    level: Box<str>,
    children: Children<Node<M>>,
    entry: Option<Box<Entry<M>>>,
}

struct Entry<M> {
    /// The full topic name, handed to visitors.
    topic: Box<str>,
    /// This entry's share of [`RetainedStore::bytes`].
    cost: usize,
    msg: M,
}

impl<M> Node<M> {
    fn new(level: &str) -> Self {
        Self {
            level: level.into(),
            children: Children::new(),
            entry: None,
        }
    }

    fn child(&self, hasher: &DefaultHashBuilder, level: &str) -> Option<&Self> {
        self.children.get(hasher, level)
    }

    fn child_mut(&mut self, hasher: &DefaultHashBuilder, level: &str) -> Option<&mut Self> {
        self.children.get_mut(hasher, level)
    }
}

impl<M> Keyed for Node<M> {
    fn key(&self) -> &str {
        &self.level
    }
}

/// Drops a subtree iteratively: the derived recursive drop could overflow the stack on a
/// 32,768-level topic.
impl<M> Drop for Node<M> {
    fn drop(&mut self) {
        if self.children.is_empty() {
            return;
        }
        let mut stack: Vec<Node<M>> = Vec::new();
        self.children.drain_into(&mut stack);
        while let Some(mut node) = stack.pop() {
            node.children.drain_into(&mut stack);
        }
    }
}

impl<M> RetainedStore<M> {
    /// An empty, unlimited store. Does not allocate.
    pub fn new() -> Self {
        Self::with_limits(RetainLimits::UNLIMITED)
    }

    /// An empty store with `limits`. Does not allocate.
    pub fn with_limits(limits: RetainLimits) -> Self {
        Self {
            root: Node::new(""),
            hasher: DefaultHashBuilder::default(),
            limits,
            len: 0,
            bytes: 0,
            nodes: 0,
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> RetainLimits {
        self.limits
    }

    /// Changes the limits. Messages already stored are kept even if they exceed the new limits;
    /// only new topics are refused until the store is back under them.
    pub fn set_limits(&mut self, limits: RetainLimits) {
        self.limits = limits;
    }

    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no message is retained.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total cost of the retained messages: topic lengths plus the costs given to
    /// [`set_with_cost`](Self::set_with_cost).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of trie nodes below the root; 0 when the store is empty. For tests and metrics.
    #[doc(hidden)]
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// Removes every message and frees all nodes.
    pub fn clear(&mut self) {
        self.root = Node::new("");
        self.len = 0;
        self.bytes = 0;
        self.nodes = 0;
    }

    /// Retains `msg` under `topic` with no cost beyond the topic length. See
    /// [`set_with_cost`](Self::set_with_cost).
    pub fn set(&mut self, topic: TopicName<'_>, msg: M) -> Result<Option<M>, M> {
        self.set_with_cost(topic, msg, 0)
    }

    /// Retains `msg` under `topic`, counting `topic.len() + cost` bytes against
    /// [`RetainLimits::max_bytes`] (e.g. `cost` = payload plus properties length).
    ///
    /// Returns `Ok(Some(old))` when it replaced the message of an existing topic (always
    /// allowed), `Ok(None)` when it stored a new topic, and `Err(msg)` when a new topic would
    /// exceed the limits; the store is then unchanged.
    pub fn set_with_cost(
        &mut self,
        topic: TopicName<'_>,
        msg: M,
        cost: usize,
    ) -> Result<Option<M>, M> {
        let name = topic.as_str();
        let cost = name.len().saturating_add(cost);
        if let Some(entry) = self.entry_mut(topic) {
            let old_cost = core::mem::replace(&mut entry.cost, cost);
            let old = core::mem::replace(&mut entry.msg, msg);
            self.bytes = self.bytes.saturating_sub(old_cost).saturating_add(cost);
            return Ok(Some(old));
        }
        if self.len >= self.limits.max_messages
            || self.bytes.saturating_add(cost) > self.limits.max_bytes
        {
            return Err(msg);
        }
        let Self {
            root,
            hasher,
            nodes,
            ..
        } = self;
        let mut node = root;
        for level in topic.levels() {
            node = node.children.get_or_insert_with(hasher, level, || {
                *nodes += 1;
                Node::new(level)
            });
        }
        debug_assert!(node.entry.is_none());
        node.entry = Some(Box::new(Entry {
            topic: name.into(),
            cost,
            msg,
        }));
        self.len += 1;
        self.bytes = self.bytes.saturating_add(cost);
        Ok(None)
    }

    /// The message retained under `topic`.
    pub fn get(&self, topic: &TopicName<'_>) -> Option<&M> {
        let mut node = &self.root;
        for level in topic.levels() {
            node = node.child(&self.hasher, level)?;
        }
        node.entry.as_ref().map(|e| &e.msg)
    }

    /// The message retained under `topic`, mutably (e.g. to update bookkeeping in place).
    pub fn get_mut(&mut self, topic: &TopicName<'_>) -> Option<&mut M> {
        self.entry_mut(*topic).map(|e| &mut e.msg)
    }

    /// Removes and returns the message retained under `topic`, freeing nodes left empty.
    pub fn remove(&mut self, topic: &TopicName<'_>) -> Option<M> {
        let mut node = &mut self.root;
        for level in topic.levels() {
            node = node.child_mut(&self.hasher, level)?;
        }
        let entry = node.entry.take()?;
        self.len -= 1;
        self.bytes = self.bytes.saturating_sub(entry.cost);
        if node.children.is_empty() {
            self.prune(topic.as_str());
        }
        Some(entry.msg)
    }

    /// Calls `f(topic, msg)` for every retained message whose topic matches `filter`, walking
    /// only the matching branches. Filters starting with `+` or `#` do not match topics
    /// starting with `$` (3.1.1 and 5.0 `[MQTT-4.7.2-1]`). The order is unspecified.
    ///
    /// Allocates a small work stack.
    pub fn for_each_matching<F>(&self, filter: &TopicFilter<'_>, mut f: F)
    where
        F: FnMut(&str, &M),
    {
        // (node, filter levels still to apply below it; None once the filter is consumed)
        let mut stack: Vec<(&Node<M>, Option<&str>)> = Vec::new();
        // Nodes whose whole subtree matches (reached by `#`).
        let mut all: Vec<&Node<M>> = Vec::new();
        let root = &self.root;
        let (level, rest) = split_level(filter.as_str());
        // 3.1.1/5.0 [MQTT-4.7.2-1]: a leading wildcard skips the `$` children of the root.
        let visible = |n: &&Node<M>| !n.level.starts_with('$');
        match level {
            "#" => all.extend(root.children.iter().filter(visible)),
            "+" => stack.extend(root.children.iter().filter(visible).map(|c| (c, rest))),
            literal => stack.extend(root.child(&self.hasher, literal).map(|c| (c, rest))),
        }
        while let Some((node, rest)) = stack.pop() {
            let Some(rest) = rest else {
                if let Some(entry) = &node.entry {
                    f(&entry.topic, &entry.msg);
                }
                continue;
            };
            let (level, rest) = split_level(rest);
            match level {
                // `#` also matches the parent level: `sport/#` matches `sport`.
                "#" => all.push(node),
                "+" => stack.extend(node.children.iter().map(|c| (c, rest))),
                literal => stack.extend(node.child(&self.hasher, literal).map(|c| (c, rest))),
            }
        }
        while let Some(node) = all.pop() {
            if let Some(entry) = &node.entry {
                f(&entry.topic, &entry.msg);
            }
            all.extend(node.children.iter());
        }
    }

    /// Calls `f(topic, msg)` for every retained message (including `$` topics), e.g. to
    /// persist the store. The order is unspecified.
    pub fn for_each<F>(&self, mut f: F)
    where
        F: FnMut(&str, &M),
    {
        let mut stack: Vec<&Node<M>> = self.root.children.iter().collect();
        while let Some(node) = stack.pop() {
            if let Some(entry) = &node.entry {
                f(&entry.topic, &entry.msg);
            }
            stack.extend(node.children.iter());
        }
    }

    /// Keeps only the messages for which `keep(topic, msg)` returns `true`; removes the others
    /// and frees the nodes left empty. Returns the number of messages removed.
    ///
    /// The broker uses this to drop expired retained messages (5.0 §3.3.2.3.3): `keep` compares
    /// the message's deadline with the current time. Visits every message once; allocates a
    /// work stack and a list of the removed topics.
    pub fn retain<F>(&mut self, mut keep: F) -> usize
    where
        F: FnMut(&str, &mut M) -> bool,
    {
        let mut removed: Vec<Box<str>> = Vec::new();
        let mut stack: Vec<&mut Node<M>> = self.root.children.iter_mut().collect();
        while let Some(node) = stack.pop() {
            let Node {
                children, entry, ..
            } = node;
            if let Some(e) = entry
                && !keep(&e.topic, &mut e.msg)
                && let Some(e) = entry.take()
            {
                self.len -= 1;
                self.bytes = self.bytes.saturating_sub(e.cost);
                removed.push(e.topic);
            }
            stack.extend(children.iter_mut());
        }
        // Pruning path by path costs O(depth) per removed topic and needs no recursion.
        for topic in &removed {
            self.prune(topic);
        }
        removed.len()
    }

    fn entry_mut(&mut self, topic: TopicName<'_>) -> Option<&mut Entry<M>> {
        let mut node = &mut self.root;
        for level in topic.levels() {
            node = node.child_mut(&self.hasher, level)?;
        }
        node.entry.as_deref_mut()
    }

    /// Frees the nodes on `topic`'s path that hold no message and no other child.
    fn prune(&mut self, topic: &str) {
        // Walk 1: the shallowest depth from which every node down the path is dead.
        let mut levels = topic.split('/').peekable();
        let mut node = &self.root;
        let mut depth = 0;
        let mut cut = None;
        while let Some(level) = levels.next() {
            // A path may already be gone when `retain` prunes several topics.
            let Some(child) = node.child(&self.hasher, level) else {
                return;
            };
            depth += 1;
            let path_children = usize::from(levels.peek().is_some());
            if child.entry.is_none() && child.children.len() == path_children {
                cut = cut.or(Some(depth));
            } else {
                cut = None;
            }
            node = child;
        }
        let Some(cut) = cut else { return };
        // Walk 2: descend to the parent of the first dead node, then cut.
        let mut levels = topic.split('/');
        let mut node = &mut self.root;
        for _ in 1..cut {
            let Some(child) = levels.next().and_then(|l| node.child_mut(&self.hasher, l)) else {
                return;
            };
            node = child;
        }
        let Some(level) = levels.next() else { return };
        if node.children.remove(&self.hasher, level).is_some() {
            self.nodes -= depth - cut + 1;
        }
    }
}

/// Splits off the first level: `("a", Some("b/c"))` for `a/b/c`, `("c", None)` for `c`.
fn split_level(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (s, None),
    }
}

impl<M> Default for RetainedStore<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> fmt::Debug for RetainedStore<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetainedStore")
            .field("len", &self.len)
            .field("bytes", &self.bytes)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

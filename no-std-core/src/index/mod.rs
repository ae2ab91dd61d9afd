//! The subscription index: the broker's routing table, a trie over topic levels.
//!
//! [`SubscriptionIndex<C, O>`] maps topic filters to subscribers. `C` is the subscriber key
//! (a client id or session handle: `Clone + Eq + Hash`), `O` the per-subscription value
//! (options, subscription identifier; opaque here). A PUBLISH is routed with
//! [`SubscriptionIndex::for_each_match`], which reports every matching ordinary subscription
//! and every matching shared-subscription group once.
//!
//! # Shape
//!
//! Each trie node stands for one filter level and holds:
//! - literal children keyed by the level string: up to 8 in an exactly-sized `Vec` searched
//!   linearly, more in a [`hashbrown::HashTable`] (see `children.rs`: most nodes have one
//!   child, and a hash table never allocates fewer than 4 buckets);
//! - an optional `+` child;
//! - the subscriptions whose filter ends at this node (`a/b`), and separately those whose filter
//!   is this node followed by `#` (`a/b/#`). A `#` level has no children (it is always last), so
//!   it needs no node of its own.
//!
//! Matching a topic of depth `d` visits at most the nodes on the paths the topic can take
//! through literal and `+` children: per visited node one child lookup, one `+` check and one
//! `#` check. The cost is proportional to `d` times the wildcard branching of the
//! subscriptions (plus the number of matches reported), never to the number of subscriptions.
//!
//! Every operation walks the trie with an explicit stack or a loop, never recursion: a filter may
//! legally have 32,768 levels, and a recursive walk (or a recursive `Drop`) over such a chain
//! could overflow a task's stack.
//!
//! Subscriber lists are unordered `Vec<(C, O)>` searched linearly; past 16 subscribers a slot
//! adds a client → position hash index, so one filter with a million subscribers still
//! (un)subscribes in O(1). Shared-group member lists stay ordered (for round-robin) and are
//! searched linearly.
//!
//! # Memory
//!
//! Nodes are pruned as soon as they hold nothing, so subscribing then unsubscribing any set of
//! filters returns the index to an empty root (no heap memory held). Child lists and tables
//! shrink as children are removed.
//!
//! On a 64-bit target a node is 64 bytes (level `Box<str>` 16, children 24, `+` child,
//! exact and `#` subscriber lists 8 each), stored inline in its parent's child list, plus its
//! level string on the heap. A filter's subscriber list is a 32-byte box plus the `(C, O)`
//! pairs (exactly one for the first subscriber). A subscription to a filter nobody else uses
//! thus costs its leaf node (~64-80 bytes), the level string, 32 bytes and one `(C, O)`;
//! intermediate nodes are shared by every filter with the same prefix. Further subscribers of
//! an existing filter cost one `(C, O)` pair (amortised `Vec` growth; +16 bytes each past 16
//! subscribers for the position index). The bench `benches/benches/index.rs` measures requested
//! heap bytes with a counting allocator, for filters of depth 3-6 (1/3 exact, 1/3 `+`, 1/3 `#`)
//! with `C = u32`, `O = u8`: 212 B/subscription at 10k subscriptions, 202 at 100k, 179 at 1M
//! (allocator overhead comes on top).
//!
//! # What the index does not keep
//!
//! There is no reverse map from client to filters: the broker already keeps each session's
//! filter list (it needs it for persistence and for `$SYS` statistics), and passes it to
//! [`SubscriptionIndex::remove_client`] when a session ends. Keeping a second copy here would
//! double the memory per subscription.
//!
//! # Example
//!
//! ```
//! use tern_core::index::{Match, SubscriptionIndex};
//! use tern_core::topic::{SharedFilter, TopicFilter, TopicName};
//!
//! let mut index = SubscriptionIndex::new();
//! index.subscribe(TopicFilter::new("sport/#").unwrap(), "alice", 1u8);
//! index.subscribe(TopicFilter::new("sport/+/score").unwrap(), "alice", 2u8);
//! index.subscribe(TopicFilter::new("news").unwrap(), "bob", 0u8);
//! let shared = SharedFilter::parse("$share/workers/sport/#").unwrap().unwrap();
//! index.subscribe_shared(shared, "w1", 0u8);
//! index.subscribe_shared(shared, "w2", 0u8);
//!
//! let mut got = Vec::new();
//! index.for_each_match(&TopicName::new("sport/tennis/score").unwrap(), |m| match m {
//!     Match::Subscription { client, value, filter } => got.push((*client, *value, filter.to_owned())),
//!     Match::Shared { group, filter, members } => {
//!         assert_eq!((group, filter, members.len()), ("workers", "sport/#", 2));
//!     }
//! });
//! got.sort();
//! assert_eq!(got, [("alice", 1, "sport/#".to_owned()), ("alice", 2, "sport/+/score".to_owned())]);
//! ```

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::hash::{BuildHasher, Hash};

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::topic::{SharedFilter, TopicFilter, TopicName};

pub(crate) mod children;
mod inline;
#[cfg(test)]
mod tests;

use children::{Children, Keyed};

/// Subscriber lists longer than this get a hash index from client to position, so that
/// (un)subscribing to a filter with a million subscribers stays O(1).
const LINEAR_MAX: usize = 16;

/// One subscription reported by [`SubscriptionIndex::for_each_match`].
///
/// All borrows are valid for the duration of the callback only.
pub enum Match<'a, C, O> {
    /// An ordinary (non-shared) subscription of `client` through `filter`.
    ///
    /// A client whose filters overlap is reported once per matching filter: MQTT 3.1.1 delivers
    /// one copy at the highest granted QoS, 5.0 may deliver one per subscription; the broker
    /// merges as its protocol version requires.
    Subscription {
        /// The subscriber.
        client: &'a C,
        /// The value stored with the subscription.
        value: &'a O,
        /// The filter that matched, e.g. `sport/+/score`.
        filter: &'a str,
    },
    /// A shared-subscription group (`$share/{group}/{filter}`) that matched. Reported once per
    /// group and filter; the broker picks one member (e.g. round-robin with its own cursor).
    Shared {
        /// The ShareName.
        group: &'a str,
        /// The filter after the ShareName, e.g. `sport/#`.
        filter: &'a str,
        /// The members, in subscription order (a re-subscription keeps its place); never empty.
        members: &'a [(C, O)],
    },
}

impl<C, O> Clone for Match<'_, C, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C, O> Copy for Match<'_, C, O> {}

impl<C: fmt::Debug, O: fmt::Debug> fmt::Debug for Match<'_, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subscription {
                client,
                value,
                filter,
            } => f
                .debug_struct("Subscription")
                .field("client", client)
                .field("value", value)
                .field("filter", filter)
                .finish(),
            Self::Shared {
                group,
                filter,
                members,
            } => f
                .debug_struct("Shared")
                .field("group", group)
                .field("filter", filter)
                .field("members", members)
                .finish(),
        }
    }
}

/// The subscription index: topic filter → subscribers, as a trie over topic levels.
///
/// # Call protocol
///
/// - SUBSCRIBE: [`subscribe`](Self::subscribe) / [`subscribe_shared`](Self::subscribe_shared)
///   per filter; a repeated subscription by the same client to the same filter replaces the
///   stored value and returns the old one (3.1.1 `[MQTT-3.8.4-3]`, 5.0 `[MQTT-3.8.4-3]`).
/// - UNSUBSCRIBE: [`unsubscribe`](Self::unsubscribe) /
///   [`unsubscribe_shared`](Self::unsubscribe_shared); `None` means "no subscription existed"
///   (5.0 reason code 0x11).
/// - Session end: [`remove_client`](Self::remove_client) with the session's filter list.
/// - PUBLISH: [`for_each_match`](Self::for_each_match).
///
/// The index stores each filter's levels once in the trie; it does not keep the filter strings
/// per subscription (the broker's session does).
pub struct SubscriptionIndex<C, O> {
    root: Node<C, O>,
    hasher: DefaultHashBuilder,
    /// Number of subscriptions (ordinary ones plus shared-group memberships).
    len: usize,
    /// Number of nodes below the root.
    nodes: usize,
}

/// One trie level.
struct Node<C, O> {
    /// The level this node stands for (empty for the root and for `+` children).
    level: Box<str>,
    /// Literal children, keyed by [`Node::level`].
    children: Children<Node<C, O>>,
    /// The `+` child.
    plus: Option<Box<Node<C, O>>>,
    /// Subscriptions whose filter ends at this node.
    exact: Option<Box<Slot<C, O>>>,
    /// Subscriptions whose filter is this node followed by `#`.
    multi: Option<Box<Slot<C, O>>>,
}

/// The subscribers of one filter.
struct Slot<C, O> {
    /// Ordinary subscribers. Unordered (removal swaps the last one into the hole).
    subs: Vec<(C, O)>,
    /// Rarely needed parts, boxed so that the common single-subscriber slot stays small.
    extra: Option<Box<SlotExtra<C, O>>>,
}

struct SlotExtra<C, O> {
    /// Client → index into [`Slot::subs`]; non-empty (and then complete) only while
    /// `subs.len() > LINEAR_MAX / 2` after having exceeded `LINEAR_MAX`.
    positions: HashTable<usize>,
    /// Shared groups subscribed to this filter.
    groups: Vec<Group<C, O>>,
}

struct Group<C, O> {
    name: Box<str>,
    /// Members in subscription order.
    members: Vec<(C, O)>,
}

/// Which subscriber list of a node a filter ends in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// The filter ends at the node (`a/b`).
    Exact,
    /// The filter is the node followed by `#` (`a/b/#`).
    Multi,
}

impl<C, O> Node<C, O> {
    fn new(level: &str) -> Self {
        Self {
            level: level.into(),
            children: Children::new(),
            plus: None,
            exact: None,
            multi: None,
        }
    }

    /// Whether the node holds nothing at all and can be removed.
    fn holds_nothing_but(&self, path_children: usize) -> bool {
        self.exact.is_none()
            && self.multi.is_none()
            && self.children.len() + usize::from(self.plus.is_some()) == path_children
    }

    fn end(&self, end: End) -> Option<&Slot<C, O>> {
        match end {
            End::Exact => self.exact.as_deref(),
            End::Multi => self.multi.as_deref(),
        }
    }

    fn end_mut(&mut self, end: End) -> &mut Option<Box<Slot<C, O>>> {
        match end {
            End::Exact => &mut self.exact,
            End::Multi => &mut self.multi,
        }
    }

    fn child(&self, hasher: &DefaultHashBuilder, level: &str) -> Option<&Self> {
        if level == "+" {
            self.plus.as_deref()
        } else {
            self.children.get(hasher, level)
        }
    }

    fn child_mut(&mut self, hasher: &DefaultHashBuilder, level: &str) -> Option<&mut Self> {
        if level == "+" {
            self.plus.as_deref_mut()
        } else {
            self.children.get_mut(hasher, level)
        }
    }

    /// Removes the child for `level` (and its whole subtree).
    fn remove_child(&mut self, hasher: &DefaultHashBuilder, level: &str) {
        if level == "+" {
            self.plus = None;
        } else {
            self.children.remove(hasher, level);
        }
    }
}

impl<C, O> Keyed for Node<C, O> {
    fn key(&self) -> &str {
        &self.level
    }
}

/// Drops a subtree iteratively: the derived recursive drop could overflow the stack on a
/// 32,768-level chain.
impl<C, O> Drop for Node<C, O> {
    fn drop(&mut self) {
        if self.children.is_empty() && self.plus.is_none() {
            return;
        }
        let mut stack: Vec<Node<C, O>> = Vec::new();
        self.children.drain_into(&mut stack);
        stack.extend(self.plus.take().map(|b| *b));
        while let Some(mut node) = stack.pop() {
            node.children.drain_into(&mut stack);
            stack.extend(node.plus.take().map(|b| *b));
            // `node` now has no children: its own `drop` returns at once.
        }
    }
}

impl<C: Eq + Hash, O> Slot<C, O> {
    fn new() -> Self {
        Self {
            subs: Vec::new(),
            extra: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.subs.is_empty() && self.extra.as_ref().is_none_or(|e| e.groups.is_empty())
    }

    fn positions(&self) -> Option<&HashTable<usize>> {
        self.extra
            .as_ref()
            .map(|e| &e.positions)
            .filter(|p| !p.is_empty())
    }

    fn position(&self, hasher: &DefaultHashBuilder, client: &C) -> Option<usize> {
        match self.positions() {
            Some(positions) => positions
                .find(hasher.hash_one(client), |&i| {
                    self.subs.get(i).is_some_and(|(c, _)| c == client)
                })
                .copied(),
            None => self.subs.iter().position(|(c, _)| c == client),
        }
    }

    fn get(&self, hasher: &DefaultHashBuilder, client: &C) -> Option<&O> {
        let i = self.position(hasher, client)?;
        self.subs.get(i).map(|(_, o)| o)
    }

    fn insert(&mut self, hasher: &DefaultHashBuilder, client: C, value: O) -> Option<O> {
        if let Some(i) = self.position(hasher, &client) {
            let (_, old) = self.subs.get_mut(i)?;
            return Some(core::mem::replace(old, value));
        }
        if self.subs.is_empty() {
            // Most filters have exactly one subscriber: do not let `Vec` round up to 4.
            self.subs.reserve_exact(1);
        }
        let hash = hasher.hash_one(&client);
        self.subs.push((client, value));
        let len = self.subs.len();
        let subs = &self.subs;
        let rehash = |&i: &usize| subs.get(i).map_or(0, |(c, _)| hasher.hash_one(c));
        if let Some(extra) = self.extra.as_mut().filter(|e| !e.positions.is_empty()) {
            extra.positions.insert_unique(hash, len - 1, rehash);
        } else if len > LINEAR_MAX {
            let extra = self.extra.get_or_insert_with(|| Box::new(SlotExtra::new()));
            extra.positions.reserve(len, rehash);
            for (i, (c, _)) in subs.iter().enumerate() {
                extra.positions.insert_unique(hasher.hash_one(c), i, rehash);
            }
        }
        None
    }

    fn remove(&mut self, hasher: &DefaultHashBuilder, client: &C) -> Option<O> {
        let i = self.position(hasher, client)?;
        let last = self.subs.len() - 1;
        if let Some(extra) = self.extra.as_mut().filter(|e| !e.positions.is_empty()) {
            if let Ok(entry) = extra
                .positions
                .find_entry(hasher.hash_one(client), |&p| p == i)
            {
                entry.remove();
            }
            if i != last {
                // `swap_remove` below moves the last subscriber to `i`.
                let moved = self.subs.get(last).map(|(c, _)| hasher.hash_one(c));
                if let Some(p) = moved.and_then(|h| extra.positions.find_mut(h, |&p| p == last)) {
                    *p = i;
                }
            }
            if last <= LINEAR_MAX / 2 {
                extra.positions = HashTable::new();
            }
        }
        let (_, value) = self.subs.swap_remove(i);
        shrink_vec(&mut self.subs);
        self.drop_extra_if_unused();
        Some(value)
    }

    fn insert_shared(&mut self, group: &str, client: C, value: O) -> Option<O> {
        let extra = self.extra.get_or_insert_with(|| Box::new(SlotExtra::new()));
        let group = match extra.groups.iter_mut().position(|g| &*g.name == group) {
            Some(i) => extra.groups.get_mut(i)?,
            None => {
                extra.groups.push(Group {
                    name: group.into(),
                    members: Vec::new(),
                });
                extra.groups.last_mut()?
            }
        };
        if let Some((_, old)) = group.members.iter_mut().find(|(c, _)| *c == client) {
            return Some(core::mem::replace(old, value));
        }
        group.members.push((client, value));
        None
    }

    fn remove_shared(&mut self, group: &str, client: &C) -> Option<O> {
        let extra = self.extra.as_mut()?;
        let gi = extra.groups.iter().position(|g| &*g.name == group)?;
        let members = &mut extra.groups.get_mut(gi)?.members;
        let mi = members.iter().position(|(c, _)| c == client)?;
        // Ordered removal: members stay in subscription order for the broker's round-robin.
        let (_, value) = members.remove(mi);
        shrink_vec(members);
        if members.is_empty() {
            extra.groups.swap_remove(gi);
        }
        self.drop_extra_if_unused();
        Some(value)
    }

    fn drop_extra_if_unused(&mut self) {
        if self
            .extra
            .as_ref()
            .is_some_and(|e| e.groups.is_empty() && e.positions.is_empty())
        {
            self.extra = None;
        }
    }

    /// Whether reporting this slot needs its filter: shared groups always do, ordinary
    /// subscriptions when `filters` asks for them.
    fn needs_filter(&self, filters: bool) -> bool {
        (filters && !self.subs.is_empty())
            || self.extra.as_ref().is_some_and(|e| !e.groups.is_empty())
    }

    fn report<'s, F>(&'s self, filter: &'s str, f: &mut F)
    where
        F: FnMut(Match<'s, C, O>),
    {
        for (client, value) in &self.subs {
            f(Match::Subscription {
                client,
                value,
                filter,
            });
        }
        if let Some(extra) = &self.extra {
            for group in &extra.groups {
                f(Match::Shared {
                    group: &group.name,
                    filter,
                    members: &group.members,
                });
            }
        }
    }
}

impl<C, O> SlotExtra<C, O> {
    fn new() -> Self {
        Self {
            positions: HashTable::new(),
            groups: Vec::new(),
        }
    }
}

/// Gives memory back once a list is down to a quarter of its capacity.
fn shrink_vec<T>(v: &mut Vec<T>) {
    if v.len() * 4 < v.capacity() {
        v.shrink_to(v.len() * 2);
    }
}

/// Splits off the first level of a (non-empty) topic: `("a", Some("b/c"))` for `a/b/c`,
/// `("c", None)` for `c`.
///
/// A byte loop rather than `split_once`: levels are short, and the `memchr` behind
/// `split_once` costs more in its setup than it saves (measured with callgrind on a broker).
#[inline]
fn split_level(topic: &str) -> (&str, Option<&str>) {
    // A `/` is one byte and never inside a multi-byte character: both halves are on
    // character boundaries.
    match topic.bytes().position(|b| b == b'/') {
        Some(i) => (topic.get(..i).unwrap_or(topic), topic.get(i + 1..)),
        None => (topic, None),
    }
}

/// A node waiting to be visited by [`SubscriptionIndex::for_each_match`].
struct Frame<'n, 't, C, O> {
    node: &'n Node<C, O>,
    /// The filter level this node stands for (`+` for a plus child).
    level: &'n str,
    /// The topic levels still to match below this node; `None` once the topic is consumed.
    rest: Option<&'t str>,
    /// The parent's entry in the walk's trail ([`ROOT`] for a child of the root).
    parent: u32,
}

/// The parent of the root's children in a match walk's trail.
const ROOT: u32 = u32::MAX;

/// The filter a match walk has reached: the levels from the root to entry `at` of `trail`
/// (each entry a level and its parent's entry) joined with `/`, then `suffix`. Put
/// together only for a node with subscribers to report, not on every step of the walk.
fn filter_at<'p, const N: usize>(
    trail: &inline::SpillVec<(&str, u32), N>,
    at: u32,
    suffix: &str,
    path: &'p mut inline::SpillString<256>,
) -> &'p str {
    // The levels leaf first, then written root first.
    let mut levels: inline::SpillVec<&str, 32> = inline::SpillVec::new();
    let mut i = at;
    while let Some(&(level, parent)) = trail.get(i as usize) {
        levels.push(level);
        i = parent;
    }
    path.truncate(0);
    if let Some(first) = levels.pop() {
        path.push_str(first);
    }
    while let Some(level) = levels.pop() {
        path.push_str("/");
        path.push_str(level);
    }
    path.push_str(suffix);
    path.as_str()
}

impl<C, O> SubscriptionIndex<C, O> {
    /// An empty index. Does not allocate.
    pub fn new() -> Self {
        Self {
            root: Node::new(""),
            hasher: DefaultHashBuilder::default(),
            len: 0,
            nodes: 0,
        }
    }

    /// Number of subscriptions: ordinary subscriptions plus shared-group memberships.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every subscription and frees all nodes.
    pub fn clear(&mut self) {
        self.root = Node::new("");
        self.len = 0;
        self.nodes = 0;
    }

    /// Number of trie nodes below the root; 0 when the index is empty. For tests and metrics.
    #[doc(hidden)]
    pub fn node_count(&self) -> usize {
        self.nodes
    }
}

impl<C: Eq + Hash, O> SubscriptionIndex<C, O> {
    /// Subscribes `client` to `filter` with `value`.
    ///
    /// If `client` already had a subscription to exactly this filter, its value is replaced
    /// and the old value returned (3.1.1 and 5.0 `[MQTT-3.8.4-3]`: a repeated SUBSCRIBE
    /// replaces the existing subscription). `$share/...` strings are stored as ordinary filters
    /// here; use [`subscribe_shared`](Self::subscribe_shared) for shared subscriptions.
    pub fn subscribe(&mut self, filter: TopicFilter<'_>, client: C, value: O) -> Option<O> {
        let (slot, hasher) = self.slot_or_insert(filter);
        let old = slot.insert(hasher, client, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Adds `client` to the shared group `shared.group()` on `shared.filter()`.
    ///
    /// A client already in the group on that filter keeps its place in the member order and
    /// gets its value replaced; the old value is returned.
    pub fn subscribe_shared(&mut self, shared: SharedFilter<'_>, client: C, value: O) -> Option<O> {
        let (slot, _) = self.slot_or_insert(shared.filter());
        let old = slot.insert_shared(shared.group(), client, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `client`'s subscription to `filter` and returns its value, or `None` if there
    /// was none. Nodes left empty are freed.
    pub fn unsubscribe(&mut self, filter: TopicFilter<'_>, client: &C) -> Option<O> {
        self.remove_with(filter, |slot, hasher| slot.remove(hasher, client))
    }

    /// Removes `client` from the shared group `shared.group()` on `shared.filter()` and returns
    /// its value, or `None` if it was not a member.
    pub fn unsubscribe_shared(&mut self, shared: SharedFilter<'_>, client: &C) -> Option<O> {
        self.remove_with(shared.filter(), |slot, _| {
            slot.remove_shared(shared.group(), client)
        })
    }

    /// Removes all of `client`'s subscriptions, given the filters it subscribed to (the
    /// session's filter list: the index keeps no reverse map). Each string is interpreted as
    /// [`SharedFilter::parse`] does: `$share/{group}/{filter}` is a shared subscription,
    /// anything else an ordinary filter. Strings that are not valid filters are skipped.
    ///
    /// Returns the number of subscriptions removed.
    pub fn remove_client<I>(&mut self, client: &C, filters: I) -> usize
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut removed = 0;
        for filter in filters {
            let filter = filter.as_ref();
            let value = match SharedFilter::parse(filter) {
                Ok(Some(shared)) => self.unsubscribe_shared(shared, client),
                Ok(None) => TopicFilter::new(filter)
                    .ok()
                    .and_then(|f| self.unsubscribe(f, client)),
                Err(_) => None,
            };
            removed += usize::from(value.is_some());
        }
        removed
    }

    /// The value of `client`'s ordinary subscription to `filter`, if any.
    pub fn get(&self, filter: TopicFilter<'_>, client: &C) -> Option<&O> {
        let (node, end) = self.find(filter)?;
        node.end(end)?.get(&self.hasher, client)
    }

    /// Calls `f` for every subscription matching `topic`: each matching ordinary subscription
    /// (one call per client and filter) and each matching shared group (one call per group and
    /// filter, with all its members).
    ///
    /// Filters starting with `+` or `#` do not match topics starting with `$`
    /// (3.1.1 and 5.0 `[MQTT-4.7.2-1]`). The order of the calls is unspecified.
    ///
    /// Only the branches the topic can follow are visited: per topic level one hash lookup for
    /// the literal child, plus the `+` child and the `#` subscribers of each visited node.
    /// Allocates nothing for topics of up to 32 levels (the walk's stack and trail, and the
    /// buffer that `Match`'s `filter` borrows from, are inline up to that).
    pub fn for_each_match<F>(&self, topic: &TopicName<'_>, f: F)
    where
        F: FnMut(Match<'_, C, O>),
    {
        self.walk::<true, F>(topic, f);
    }

    /// [`for_each_match`](Self::for_each_match) for a caller that does not need the filter of
    /// an ordinary subscription: in [`Match::Subscription`] it may be empty (shared groups
    /// still get theirs). Saves putting each matching filter together, which is most of the
    /// walk for a deep topic with few branches (a broker routing a PUBLISH).
    pub fn for_each_subscriber<F>(&self, topic: &TopicName<'_>, f: F)
    where
        F: FnMut(Match<'_, C, O>),
    {
        self.walk::<false, F>(topic, f);
    }

    fn walk<const FILTERS: bool, F>(&self, topic: &TopicName<'_>, mut f: F)
    where
        F: FnMut(Match<'_, C, O>),
    {
        let system = topic.is_system();
        let root = &self.root;
        // 3.1.1/5.0 [MQTT-4.7.2-1]: `#` and `+/...` at the root never match `$` topics.
        if !system && let Some(slot) = &root.multi {
            slot.report("#", &mut f);
        }
        // Inline up to 32 pending nodes, 32 visited ones and 256 bytes of filter (the stack
        // grows by at most one node per topic level); deeper or longer topics spill to the
        // heap.
        let mut stack: inline::SpillVec<Frame<'_, '_, C, O>, 32> = inline::SpillVec::new();
        // Every node visited, with its parent's position: a filter is put together from it
        // only for a node that has subscribers to report.
        let mut trail: inline::SpillVec<(&str, u32), 32> = inline::SpillVec::new();
        let mut path: inline::SpillString<256> = inline::SpillString::new();
        let (level, rest) = split_level(topic.as_str());
        self.push_children(&mut stack, root, level, rest, ROOT, !system);

        while let Some(frame) = stack.pop() {
            let at = u32::try_from(trail.len()).unwrap_or(ROOT);
            trail.push((frame.level, frame.parent));
            let node = frame.node;
            if let Some(slot) = &node.multi {
                let filter = if slot.needs_filter(FILTERS) {
                    filter_at(&trail, at, "/#", &mut path)
                } else {
                    ""
                };
                slot.report(filter, &mut f);
            }
            match frame.rest {
                None => {
                    if let Some(slot) = &node.exact {
                        let filter = if slot.needs_filter(FILTERS) {
                            filter_at(&trail, at, "", &mut path)
                        } else {
                            ""
                        };
                        slot.report(filter, &mut f);
                    }
                }
                Some(rest) => {
                    let (level, rest) = split_level(rest);
                    self.push_children(&mut stack, node, level, rest, at, true);
                }
            }
        }
    }

    fn push_children<'n, 't>(
        &'n self,
        stack: &mut inline::SpillVec<Frame<'n, 't, C, O>, 32>,
        node: &'n Node<C, O>,
        level: &'t str,
        rest: Option<&'t str>,
        parent: u32,
        with_plus: bool,
    ) {
        if let Some(child) = node.children.get(&self.hasher, level) {
            stack.push(Frame {
                node: child,
                level: &child.level,
                rest,
                parent,
            });
        }
        if with_plus && let Some(plus) = &node.plus {
            stack.push(Frame {
                node: plus,
                level: "+",
                rest,
                parent,
            });
        }
    }

    /// Finds the node `filter` ends at, without creating anything.
    fn find(&self, filter: TopicFilter<'_>) -> Option<(&Node<C, O>, End)> {
        let mut node = &self.root;
        for level in filter.levels() {
            if level == "#" {
                return Some((node, End::Multi));
            }
            node = node.child(&self.hasher, level)?;
        }
        Some((node, End::Exact))
    }

    /// Finds or creates the subscriber list for `filter`; also hands out the hasher, which the
    /// list needs and which `&mut self` would otherwise keep borrowed.
    fn slot_or_insert(
        &mut self,
        filter: TopicFilter<'_>,
    ) -> (&mut Slot<C, O>, &DefaultHashBuilder) {
        let Self {
            root,
            hasher,
            nodes,
            ..
        } = self;
        let mut node = root;
        let mut end = End::Exact;
        for level in filter.levels() {
            node = match level {
                "#" => {
                    end = End::Multi;
                    break;
                }
                "+" => node.plus.get_or_insert_with(|| {
                    *nodes += 1;
                    Box::new(Node::new(""))
                }),
                literal => node.children.get_or_insert_with(hasher, literal, || {
                    *nodes += 1;
                    Node::new(literal)
                }),
            };
        }
        let slot = node
            .end_mut(end)
            .get_or_insert_with(|| Box::new(Slot::new()));
        (slot, hasher)
    }

    /// Removes one subscription from `filter`'s subscriber list with `remove`, then frees the
    /// list and any nodes left empty.
    fn remove_with<R>(&mut self, filter: TopicFilter<'_>, remove: R) -> Option<O>
    where
        R: FnOnce(&mut Slot<C, O>, &DefaultHashBuilder) -> Option<O>,
    {
        let mut node = &mut self.root;
        let mut end = End::Exact;
        for level in filter.levels() {
            if level == "#" {
                end = End::Multi;
                break;
            }
            node = node.child_mut(&self.hasher, level)?;
        }
        let slot_ref = node.end_mut(end);
        let slot = slot_ref.as_mut()?;
        let value = remove(slot, &self.hasher)?;
        self.len -= 1;
        if slot.is_empty() {
            *slot_ref = None;
            self.prune(filter);
        }
        Some(value)
    }

    /// Frees the nodes on `filter`'s path that hold nothing but the path itself.
    ///
    /// Three walks of the path (find the cut, descend to it, remove) keep this iterative and
    /// O(depth) without holding several mutable borrows.
    fn prune(&mut self, filter: TopicFilter<'_>) {
        // Walk 1: the shallowest depth from which every node down the path is dead.
        let mut levels = filter.levels().filter(|l| *l != "#").peekable();
        let mut node = &self.root;
        let mut depth = 0;
        let mut cut = None;
        while let Some(level) = levels.next() {
            let Some(child) = node.child(&self.hasher, level) else {
                debug_assert!(false, "pruning a path that does not exist");
                return;
            };
            depth += 1;
            if child.holds_nothing_but(usize::from(levels.peek().is_some())) {
                cut = cut.or(Some(depth));
            } else {
                cut = None;
            }
            node = child;
        }
        let Some(cut) = cut else { return };
        // Walk 2: descend to the parent of the first dead node, then cut.
        let mut levels = filter.levels();
        let mut node = &mut self.root;
        for _ in 1..cut {
            let Some(child) = levels.next().and_then(|l| node.child_mut(&self.hasher, l)) else {
                return;
            };
            node = child;
        }
        if let Some(level) = levels.next() {
            node.remove_child(&self.hasher, level);
            self.nodes -= depth - cut + 1;
        }
    }
}

impl<C, O> Default for SubscriptionIndex<C, O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C, O> fmt::Debug for SubscriptionIndex<C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionIndex")
            .field("len", &self.len)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

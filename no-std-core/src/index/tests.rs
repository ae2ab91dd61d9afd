use super::*;
use proptest::prelude::*;
use std::borrow::ToOwned;
use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

type Index = SubscriptionIndex<u32, u32>;

fn tf(s: &str) -> TopicFilter<'_> {
    TopicFilter::new(s).unwrap()
}

fn sf(s: &str) -> SharedFilter<'_> {
    SharedFilter::parse(s).unwrap().unwrap()
}

/// Ordinary matches as sorted `(client, value, filter)`, shared ones as sorted
/// `(group, filter, members)` (members keep their order).
type Ordinary = Vec<(u32, u32, String)>;
type Shared = Vec<(String, String, Vec<(u32, u32)>)>;

/// [`SubscriptionIndex::for_each_match`]'s matches; checks on the way that
/// [`SubscriptionIndex::for_each_subscriber`] reports the same ones (ordinary filters aside).
fn matches(index: &Index, topic: &str) -> (Ordinary, Shared) {
    let full = walk(index, topic, true);
    let mut lean = walk(index, topic, false);
    let mut expected = full.clone();
    for (_, _, f) in expected.0.iter_mut().chain(lean.0.iter_mut()) {
        f.clear();
    }
    expected.0.sort();
    lean.0.sort();
    assert_eq!(lean, expected, "for_each_subscriber({topic:?})");
    full
}

fn walk(index: &Index, topic: &str, filters: bool) -> (Ordinary, Shared) {
    let mut ordinary = Vec::new();
    let mut shared = Vec::new();
    let report = |m: Match<'_, u32, u32>| match m {
        Match::Subscription {
            client,
            value,
            filter,
        } => ordinary.push((*client, *value, filter.to_owned())),
        Match::Shared {
            group,
            filter,
            members,
        } => {
            assert!(!members.is_empty());
            shared.push((group.to_owned(), filter.to_owned(), members.to_vec()));
        }
    };
    let topic = TopicName::new(topic).unwrap();
    if filters {
        index.for_each_match(&topic, report);
    } else {
        index.for_each_subscriber(&topic, report);
    }
    ordinary.sort();
    shared.sort();
    (ordinary, shared)
}

fn ordinary(index: &Index, topic: &str) -> Ordinary {
    matches(index, topic).0
}

fn o(client: u32, value: u32, filter: &str) -> (u32, u32, String) {
    (client, value, filter.to_owned())
}

#[test]
fn overlapping_filters_report_each_filter() {
    let mut index = Index::new();
    for (i, f) in ["a/b/c", "a/+/c", "a/#", "+/b/+", "#", "a/b", "a/b/c/#"]
        .into_iter()
        .enumerate()
    {
        assert_eq!(index.subscribe(tf(f), 1, i as u32), None);
    }
    index.subscribe(tf("a/b/c"), 2, 100);
    assert_eq!(index.len(), 8);
    assert_eq!(
        ordinary(&index, "a/b/c"),
        [
            o(1, 0, "a/b/c"),
            o(1, 1, "a/+/c"),
            o(1, 2, "a/#"),
            o(1, 3, "+/b/+"),
            o(1, 4, "#"),
            o(1, 6, "a/b/c/#"),
            o(2, 100, "a/b/c"),
        ]
    );
    assert_eq!(
        ordinary(&index, "a/b"),
        [o(1, 2, "a/#"), o(1, 4, "#"), o(1, 5, "a/b")]
    );
    assert_eq!(ordinary(&index, "x"), [o(1, 4, "#")]);
}

#[test]
fn plus_matches_empty_levels() {
    let mut index = Index::new();
    index.subscribe(tf("a/+"), 1, 0);
    index.subscribe(tf("+/+"), 2, 0);
    index.subscribe(tf("/+"), 3, 0);
    index.subscribe(tf("+"), 4, 0);
    index.subscribe(tf("a//b"), 5, 0);
    index.subscribe(tf("a/+/b"), 6, 0);
    assert_eq!(
        ordinary(&index, "a/"),
        [o(1, 0, "a/+"), o(2, 0, "+/+")],
        "+ matches the empty last level"
    );
    assert_eq!(
        ordinary(&index, "/"),
        [o(2, 0, "+/+"), o(3, 0, "/+")],
        "+ matches both empty levels"
    );
    assert_eq!(ordinary(&index, "a"), [o(4, 0, "+")]);
    assert_eq!(
        ordinary(&index, "a//b"),
        [o(5, 0, "a//b"), o(6, 0, "a/+/b")]
    );
    assert_eq!(ordinary(&index, "a/b/c"), []);
}

#[test]
fn hash_matches_parent_level() {
    // 3.1.1 §4.7.1.2 / 5.0 §4.7.1.2: "sport/#" also matches "sport".
    let mut index = Index::new();
    index.subscribe(tf("sport/#"), 1, 0);
    index.subscribe(tf("sport/tennis/#"), 2, 0);
    assert_eq!(ordinary(&index, "sport"), [o(1, 0, "sport/#")]);
    assert_eq!(ordinary(&index, "sport/"), [o(1, 0, "sport/#")]);
    assert_eq!(
        ordinary(&index, "sport/tennis"),
        [o(1, 0, "sport/#"), o(2, 0, "sport/tennis/#")]
    );
    assert_eq!(
        ordinary(&index, "sport/tennis/player1/ranking"),
        [o(1, 0, "sport/#"), o(2, 0, "sport/tennis/#")]
    );
    assert_eq!(ordinary(&index, "sports"), []);
}

#[test]
fn dollar_topics_not_matched_by_leading_wildcards_mqtt_4_7_2_1() {
    // 3.1.1 [MQTT-4.7.2-1] and 5.0 [MQTT-4.7.2-1]: the Server MUST NOT match Topic Filters
    // starting with a wildcard character (# or +) with Topic Names beginning with a $.
    let mut index = Index::new();
    index.subscribe(tf("#"), 1, 0);
    index.subscribe(tf("+/uptime"), 2, 0);
    index.subscribe(tf("+/#"), 3, 0);
    index.subscribe(tf("$SYS/#"), 4, 0);
    index.subscribe(tf("$SYS/+"), 5, 0);
    index.subscribe(tf("a/#"), 6, 0);
    index.subscribe_shared(sf("$share/g/#"), 7, 0);
    assert_eq!(
        ordinary(&index, "$SYS/uptime"),
        [o(4, 0, "$SYS/#"), o(5, 0, "$SYS/+")]
    );
    assert_eq!(matches(&index, "$SYS/uptime").1, []);
    assert_eq!(ordinary(&index, "$SYS"), [o(4, 0, "$SYS/#")]);
    assert_eq!(
        ordinary(&index, "a/$b"),
        [o(1, 0, "#"), o(3, 0, "+/#"), o(6, 0, "a/#")],
        "the rule applies to the first level only"
    );
    assert_eq!(
        matches(&index, "x/uptime").1,
        [("g".to_string(), "#".to_string(), vec![(7, 0)])]
    );
}

#[test]
fn shared_groups_reported_once_with_members_in_order() {
    let mut index = Index::new();
    assert_eq!(index.subscribe_shared(sf("$share/g/a/+"), 3, 30), None);
    assert_eq!(index.subscribe_shared(sf("$share/g/a/+"), 1, 10), None);
    assert_eq!(index.subscribe_shared(sf("$share/g/a/+"), 2, 20), None);
    assert_eq!(index.subscribe_shared(sf("$share/h/a/+"), 1, 11), None);
    assert_eq!(index.subscribe_shared(sf("$share/g/a/#"), 1, 12), None);
    index.subscribe(tf("a/+"), 1, 99);
    // Re-subscribing keeps the member's place and replaces its value.
    assert_eq!(index.subscribe_shared(sf("$share/g/a/+"), 1, 15), Some(10));
    assert_eq!(index.len(), 6);
    let (ord, shared) = matches(&index, "a/b");
    assert_eq!(ord, [o(1, 99, "a/+")]);
    assert_eq!(
        shared,
        [
            ("g".to_string(), "a/#".to_string(), vec![(1, 12)]),
            (
                "g".to_string(),
                "a/+".to_string(),
                vec![(3, 30), (1, 15), (2, 20)]
            ),
            ("h".to_string(), "a/+".to_string(), vec![(1, 11)]),
        ]
    );
    // Removal keeps the order of the others.
    assert_eq!(index.unsubscribe_shared(sf("$share/g/a/+"), &3), Some(30));
    assert_eq!(index.unsubscribe_shared(sf("$share/g/a/+"), &3), None);
    assert_eq!(index.unsubscribe_shared(sf("$share/x/a/+"), &1), None);
    let shared = matches(&index, "a/b").1;
    assert_eq!(shared[1].2, [(1, 15), (2, 20)]);
    // The ordinary subscription and the shared ones are independent.
    assert_eq!(index.unsubscribe(tf("a/+"), &1), Some(99));
    assert_eq!(matches(&index, "a/b").1.len(), 3);
}

#[test]
fn resubscribe_replaces_value_mqtt_3_8_4_3() {
    // 3.1.1 and 5.0 [MQTT-3.8.4-3]: a SUBSCRIBE with a filter identical to an existing
    // subscription's replaces it.
    let mut index = Index::new();
    assert_eq!(index.subscribe(tf("a/+/c"), 7, 1), None);
    assert_eq!(index.subscribe(tf("a/+/c"), 7, 2), Some(1));
    assert_eq!(index.len(), 1);
    assert_eq!(index.get(tf("a/+/c"), &7), Some(&2));
    assert_eq!(index.get(tf("a/+/c"), &8), None);
    assert_eq!(index.get(tf("a/+"), &7), None);
    assert_eq!(ordinary(&index, "a/b/c"), [o(7, 2, "a/+/c")]);
}

#[test]
fn unsubscribe_prunes_nodes() {
    let mut index = Index::new();
    index.subscribe(tf("a/b/c/d"), 1, 0);
    index.subscribe(tf("a/b"), 1, 0);
    index.subscribe(tf("a/+/#"), 2, 0);
    assert_eq!(index.node_count(), 5); // a, a/b, a/b/c, a/b/c/d, a/+
    assert_eq!(index.unsubscribe(tf("a/b/c/d"), &2), None, "other client");
    assert_eq!(index.unsubscribe(tf("a/b/c"), &1), None, "prefix only");
    assert_eq!(index.unsubscribe(tf("a/b/c/d/e"), &1), None, "missing path");
    assert_eq!(index.node_count(), 5);
    assert_eq!(index.unsubscribe(tf("a/b/c/d"), &1), Some(0));
    assert_eq!(
        index.node_count(),
        3,
        "a/b/c/d and a/b/c freed, a/b still used"
    );
    assert_eq!(index.unsubscribe(tf("a/+/#"), &2), Some(0));
    assert_eq!(index.node_count(), 2);
    assert_eq!(index.unsubscribe(tf("a/b"), &1), Some(0));
    assert_eq!(index.node_count(), 0);
    assert!(index.is_empty());
    assert_eq!(index.root.children.capacity(), 0, "root table shrunk");
}

#[test]
fn remove_client_uses_the_session_filter_list() {
    let mut index = Index::new();
    let filters = ["a/#", "$share/g/a/+", "b", "$share/g/b"];
    for f in filters {
        match SharedFilter::parse(f).unwrap() {
            Some(s) => index.subscribe_shared(s, 1, 0),
            None => index.subscribe(tf(f), 1, 0),
        };
    }
    index.subscribe(tf("b"), 2, 0);
    index.subscribe_shared(sf("$share/g/a/+"), 2, 0);
    assert_eq!(index.len(), 6);
    let removed = index.remove_client(
        &1,
        filters.iter().chain(["nope/#", "a/#/x", "$share/"].iter()),
    );
    assert_eq!(removed, 4);
    assert_eq!(index.len(), 2);
    assert_eq!(index.remove_client(&2, ["b", "$share/g/a/+"]), 2);
    assert!(index.is_empty());
    assert_eq!(index.node_count(), 0);
}

#[test]
fn large_subscriber_lists_use_the_position_index() {
    let mut index = Index::new();
    let n = 200u32;
    for c in 0..n {
        index.subscribe(tf("all/#"), c, c);
    }
    assert_eq!(index.subscribe(tf("all/#"), 5, 55), Some(5));
    assert_eq!(index.get(tf("all/#"), &5), Some(&55));
    // Remove in a scrambled order, checking lookups as the list shrinks back to linear.
    let mut order: Vec<u32> = (0..n).collect();
    order.sort_by_key(|c| (c * 7919) % n);
    for (k, c) in order.iter().enumerate() {
        assert!(index.unsubscribe(tf("all/#"), c).is_some(), "client {c}");
        assert_eq!(index.unsubscribe(tf("all/#"), c), None);
        if k % 17 == 0 {
            for d in &order[k + 1..] {
                assert!(index.get(tf("all/#"), d).is_some(), "client {d} after {k}");
            }
            assert_eq!(ordinary(&index, "all/x").len(), order.len() - k - 1);
        }
    }
    assert!(index.is_empty());
    assert_eq!(index.node_count(), 0);
}

#[test]
fn deep_filters_do_not_overflow_the_stack() {
    // 32,767 levels: a legal filter of 65,533 bytes. Every walk (subscribe, match,
    // unsubscribe, drop) must be iterative.
    let depth = 32_767;
    let plus = vec!["+"; depth].join("/");
    let lit = vec!["a"; depth].join("/");
    let mut index = Index::new();
    index.subscribe(tf(&plus), 1, 0);
    index.subscribe(tf(&lit), 2, 0);
    assert_eq!(index.node_count(), 2 * depth);
    assert_eq!(ordinary(&index, &lit), [o(1, 0, &plus), o(2, 0, &lit)]);
    assert_eq!(index.unsubscribe(tf(&plus), &1), Some(0));
    assert_eq!(index.node_count(), depth);
    drop(index); // the literal chain is dropped without recursion
}

#[test]
fn many_distinct_filters_return_to_an_empty_root() {
    // A million in release mode, fewer in debug mode to keep `cargo test` quick.
    let n: u32 = if cfg!(debug_assertions) {
        50_000
    } else {
        1_000_000
    };
    let filter = |i: u32| match i % 3 {
        0 => format!("dev/{}/{}/state", i % 1000, i),
        1 => format!("dev/+/{}/cmd/#", i),
        _ => format!("site/{}/+/{}", i % 97, i),
    };
    let mut index = Index::new();
    for i in 0..n {
        index.subscribe(tf(&filter(i)), i, i);
    }
    assert_eq!(index.len(), n as usize);
    assert_eq!(
        ordinary(&index, "dev/9/9/state"),
        [o(9, 9, "dev/9/9/state")]
    );
    assert_eq!(ordinary(&index, "dev/x/4/cmd"), [o(4, 4, "dev/+/4/cmd/#")]);
    for i in 0..n {
        assert_eq!(index.unsubscribe(tf(&filter(i)), &i), Some(i));
    }
    assert!(index.is_empty());
    assert_eq!(index.node_count(), 0);
    assert_eq!(index.root.children.capacity(), 0);
    assert!(index.root.plus.is_none());
}

#[test]
fn clear_and_debug() {
    let mut index = Index::new();
    index.subscribe(tf("a/b"), 1, 0);
    assert_eq!(
        format!("{index:?}"),
        "SubscriptionIndex { len: 1, nodes: 2, .. }"
    );
    index.clear();
    assert!(index.is_empty());
    assert_eq!(index.node_count(), 0);
    assert_eq!(ordinary(&index, "a/b"), []);
}

// ---- Property tests: the index agrees with a naive list filtered by `TopicFilter::matches`.

#[derive(Debug, Clone)]
enum Op {
    Sub(String, u32, u32),
    Unsub(String, u32),
    SubShared(&'static str, String, u32, u32),
    UnsubShared(&'static str, String, u32),
    RemoveClient(u32),
}

/// The naive model: one entry per subscription, in subscription order.
#[derive(Default)]
struct Model {
    /// (group or None, filter, client, value)
    subs: Vec<(Option<&'static str>, String, u32, u32)>,
}

impl Model {
    fn sub(
        &mut self,
        group: Option<&'static str>,
        filter: &str,
        client: u32,
        value: u32,
    ) -> Option<u32> {
        match self
            .subs
            .iter_mut()
            .find(|(g, f, c, _)| *g == group && f == filter && *c == client)
        {
            Some(entry) => Some(core::mem::replace(&mut entry.3, value)),
            None => {
                self.subs.push((group, filter.to_owned(), client, value));
                None
            }
        }
    }

    fn unsub(&mut self, group: Option<&'static str>, filter: &str, client: u32) -> Option<u32> {
        let i = self
            .subs
            .iter()
            .position(|(g, f, c, _)| *g == group && f == filter && *c == client)?;
        Some(self.subs.remove(i).3)
    }

    fn filters_of(&self, client: u32) -> Vec<String> {
        self.subs
            .iter()
            .filter(|s| s.2 == client)
            .map(|(g, f, _, _)| match g {
                Some(g) => format!("$share/{g}/{f}"),
                None => f.clone(),
            })
            .collect()
    }

    fn matches(&self, topic: &str) -> (Ordinary, Shared) {
        let name = TopicName::new(topic).unwrap();
        let mut ordinary = Vec::new();
        let mut shared: Shared = Vec::new();
        for (g, f, c, v) in &self.subs {
            if !tf(f).matches(&name) {
                continue;
            }
            match g {
                None => ordinary.push((*c, *v, f.clone())),
                Some(g) => match shared.iter_mut().find(|(sg, sf, _)| sg == g && sf == f) {
                    Some(entry) => entry.2.push((*c, *v)),
                    None => shared.push((g.to_string(), f.clone(), vec![(*c, *v)])),
                },
            }
        }
        ordinary.sort();
        shared.sort();
        (ordinary, shared)
    }
}

fn topic_strategy() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(prop::sample::select(vec!["", "a", "b", "$SYS", "c"]), 1..5)
        .prop_map(|v| v.join("/"))
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn filter_strategy() -> impl Strategy<Value = String> + Clone {
    (
        prop::collection::vec(prop::sample::select(vec!["", "a", "b", "$SYS", "+"]), 0..4),
        any::<bool>(),
    )
        .prop_filter_map("non-empty", |(mut v, hash)| {
            if hash {
                v.push("#");
            }
            let s = v.join("/");
            (!s.is_empty()).then_some(s)
        })
}

fn op_strategy(
    filters: impl Strategy<Value = String> + Clone,
    clients: u32,
) -> impl Strategy<Value = Op> {
    let group = prop::sample::select(vec!["g1", "g2"]);
    prop_oneof![
        4 => (filters.clone(), 0..clients, 0..100u32).prop_map(|(f, c, v)| Op::Sub(f, c, v)),
        2 => (filters.clone(), 0..clients).prop_map(|(f, c)| Op::Unsub(f, c)),
        2 => (group.clone(), filters.clone(), 0..clients, 0..100u32)
            .prop_map(|(g, f, c, v)| Op::SubShared(g, f, c, v)),
        1 => (group, filters, 0..clients).prop_map(|(g, f, c)| Op::UnsubShared(g, f, c)),
        1 => (0..clients).prop_map(Op::RemoveClient),
    ]
}

fn run_ops(ops: &[Op], topics: &[String]) -> Result<(), TestCaseError> {
    let mut index = Index::new();
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Sub(f, c, v) => {
                prop_assert_eq!(index.subscribe(tf(f), *c, *v), model.sub(None, f, *c, *v));
            }
            Op::Unsub(f, c) => {
                prop_assert_eq!(index.unsubscribe(tf(f), c), model.unsub(None, f, *c));
            }
            Op::SubShared(g, f, c, v) => {
                let s = format!("$share/{g}/{f}");
                prop_assert_eq!(
                    index.subscribe_shared(sf(&s), *c, *v),
                    model.sub(Some(g), f, *c, *v)
                );
            }
            Op::UnsubShared(g, f, c) => {
                let s = format!("$share/{g}/{f}");
                prop_assert_eq!(
                    index.unsubscribe_shared(sf(&s), c),
                    model.unsub(Some(g), f, *c)
                );
            }
            Op::RemoveClient(c) => {
                let filters = model.filters_of(*c);
                prop_assert_eq!(index.remove_client(c, &filters), filters.len());
                model.subs.retain(|s| s.2 != *c);
            }
        }
        prop_assert_eq!(index.len(), model.subs.len());
    }
    for topic in topics {
        prop_assert_eq!(
            matches(&index, topic),
            model.matches(topic),
            "topic {:?}",
            topic
        );
    }
    // Removing everything leaves no node behind.
    for (g, f, c, v) in model.subs.drain(..) {
        let removed = match g {
            Some(g) => index.unsubscribe_shared(sf(&format!("$share/{g}/{f}")), &c),
            None => index.unsubscribe(tf(&f), &c),
        };
        prop_assert_eq!(removed, Some(v));
    }
    prop_assert!(index.is_empty());
    prop_assert_eq!(index.node_count(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn index_agrees_with_naive_matching(
        ops in prop::collection::vec(op_strategy(filter_strategy(), 4), 0..40),
        topics in prop::collection::vec(topic_strategy(), 1..8),
    ) {
        run_ops(&ops, &topics)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Few filters and many clients: exercises long subscriber lists and their position index.
    #[test]
    fn index_agrees_with_naive_matching_many_clients(
        ops in prop::collection::vec(
            op_strategy(prop::sample::select(vec!["a".to_owned(), "a/#".to_owned(), "+".to_owned()]), 40),
            0..150,
        ),
    ) {
        run_ops(&ops, &["a".to_owned(), "a/b".to_owned()])?;
    }
}

#[test]
#[cfg(target_pointer_width = "64")]
fn node_sizes_match_the_documented_memory_figures() {
    assert_eq!(size_of::<Node<u32, u8>>(), 64);
    assert_eq!(size_of::<Slot<u32, u8>>(), 32);
    assert_eq!(size_of::<Children<Node<u32, u8>>>(), 24);
}

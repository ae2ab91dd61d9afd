use super::*;
use proptest::prelude::*;
use std::borrow::ToOwned;
use std::collections::BTreeMap;
use std::string::String;
use std::vec;
use std::vec::Vec;

type Store = RetainedStore<u32>;

fn tn(s: &str) -> TopicName<'_> {
    TopicName::new(s).unwrap()
}

fn matching(store: &Store, filter: &str) -> Vec<(String, u32)> {
    let mut got = Vec::new();
    store.for_each_matching(&TopicFilter::new(filter).unwrap(), |t, m| {
        got.push((t.to_owned(), *m))
    });
    got.sort();
    got
}

fn topics(store: &Store, filter: &str) -> Vec<String> {
    matching(store, filter)
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

fn store_with(topics: &[&str]) -> Store {
    let mut store = Store::new();
    for (i, t) in topics.iter().enumerate() {
        assert_eq!(store.set(tn(t), i as u32), Ok(None));
    }
    store
}

#[test]
fn set_replaces_and_returns_the_old_message() {
    let mut store = Store::new();
    assert_eq!(store.set(tn("a/b"), 1), Ok(None));
    assert_eq!(store.set(tn("a/b"), 2), Ok(Some(1)));
    assert_eq!(store.len(), 1);
    assert_eq!(store.get(&tn("a/b")), Some(&2));
    assert_eq!(store.get(&tn("a")), None);
    assert_eq!(store.get(&tn("a/b/c")), None);
    *store.get_mut(&tn("a/b")).unwrap() = 3;
    assert_eq!(matching(&store, "a/b"), [("a/b".to_owned(), 3)]);
}

#[test]
fn hash_walks_the_subtree_and_the_parent_level() {
    let store = store_with(&[
        "sport",
        "sport/",
        "sport/tennis",
        "sport/tennis/p1",
        "sports",
        "x",
    ]);
    // 3.1.1 §4.7.1.2 / 5.0 §4.7.1.2: "sport/#" also matches "sport".
    assert_eq!(
        topics(&store, "sport/#"),
        ["sport", "sport/", "sport/tennis", "sport/tennis/p1"]
    );
    assert_eq!(
        topics(&store, "sport/tennis/#"),
        ["sport/tennis", "sport/tennis/p1"]
    );
    assert_eq!(topics(&store, "#").len(), 6);
    assert_eq!(topics(&store, "nothing/#"), Vec::<String>::new());
}

#[test]
fn plus_visits_every_child_including_empty_levels() {
    let store = store_with(&["a/b", "a/", "a/c/d", "a", "/b", "b/b"]);
    assert_eq!(topics(&store, "a/+"), ["a/", "a/b"]);
    assert_eq!(topics(&store, "+/b"), ["/b", "a/b", "b/b"]);
    assert_eq!(topics(&store, "+"), ["a"]);
    assert_eq!(topics(&store, "+/+/+"), ["a/c/d"]);
    assert_eq!(topics(&store, "a/+/#"), ["a/", "a/b", "a/c/d"]);
}

#[test]
fn dollar_topics_not_matched_by_leading_wildcards_mqtt_4_7_2_1() {
    // 3.1.1 [MQTT-4.7.2-1] and 5.0 [MQTT-4.7.2-1].
    let store = store_with(&["$SYS/uptime", "$SYS", "a/$b", "x/uptime"]);
    assert_eq!(topics(&store, "#"), ["a/$b", "x/uptime"]);
    assert_eq!(topics(&store, "+/uptime"), ["x/uptime"]);
    assert_eq!(topics(&store, "+"), Vec::<String>::new());
    assert_eq!(topics(&store, "$SYS/#"), ["$SYS", "$SYS/uptime"]);
    assert_eq!(topics(&store, "$SYS/+"), ["$SYS/uptime"]);
    assert_eq!(topics(&store, "a/+"), ["a/$b"], "first level only");
    let mut all = Vec::new();
    store.for_each(|t, _| all.push(t.to_owned()));
    assert_eq!(all.len(), 4, "for_each visits $ topics too");
}

#[test]
fn remove_prunes_empty_nodes() {
    let mut store = store_with(&["a/b/c/d", "a/b"]);
    assert_eq!(store.node_count(), 4);
    assert_eq!(store.remove(&tn("a/b/c")), None);
    assert_eq!(store.remove(&tn("a/b/c/d/e")), None);
    assert_eq!(store.remove(&tn("a/b/c/d")), Some(0));
    assert_eq!(store.node_count(), 2);
    assert_eq!(store.remove(&tn("a/b")), Some(1));
    assert_eq!(store.node_count(), 0);
    assert!(store.is_empty());
    assert_eq!(store.bytes(), 0);
    assert_eq!(store.root.children.capacity(), 0);
}

#[test]
fn interior_entry_is_kept_when_child_removed() {
    let mut store = store_with(&["a", "a/b"]);
    assert_eq!(store.remove(&tn("a")), Some(0));
    assert_eq!(store.node_count(), 2, "a still leads to a/b");
    assert_eq!(topics(&store, "#"), ["a/b"]);
    assert_eq!(store.remove(&tn("a/b")), Some(1));
    assert_eq!(store.node_count(), 0);
}

#[test]
fn limits_refuse_new_topics_but_allow_replacement() {
    let mut store = Store::with_limits(RetainLimits {
        max_messages: 2,
        max_bytes: usize::MAX,
    });
    assert_eq!(store.set(tn("a"), 1), Ok(None));
    assert_eq!(store.set(tn("b"), 2), Ok(None));
    assert_eq!(store.set(tn("c"), 3), Err(3), "message handed back");
    assert_eq!(
        store.node_count(),
        2,
        "nothing created for the refused topic"
    );
    assert_eq!(
        store.set(tn("a"), 4),
        Ok(Some(1)),
        "replacement always works"
    );
    assert_eq!(store.remove(&tn("b")), Some(2));
    assert_eq!(store.set(tn("c"), 3), Ok(None));

    // Cost: topic length plus the caller's cost.
    let mut store = Store::with_limits(RetainLimits {
        max_messages: usize::MAX,
        max_bytes: 20,
    });
    assert_eq!(store.set_with_cost(tn("ab"), 1, 8), Ok(None));
    assert_eq!(store.bytes(), 10);
    assert_eq!(store.set_with_cost(tn("cd"), 2, 9), Err(2));
    assert_eq!(store.set_with_cost(tn("cd"), 2, 8), Ok(None));
    assert_eq!(store.bytes(), 20);
    assert_eq!(
        store.set_with_cost(tn("ab"), 3, 100),
        Ok(Some(1)),
        "replacement may exceed the byte limit"
    );
    assert_eq!(store.bytes(), 112);
    assert_eq!(store.set(tn("e"), 5), Err(5));
    assert_eq!(store.remove(&tn("ab")), Some(3));
    assert_eq!(store.bytes(), 10);
    store.set_limits(RetainLimits::UNLIMITED);
    assert_eq!(store.limits(), RetainLimits::default());
}

#[test]
fn retain_removes_expired_messages_and_prunes() {
    let mut store = store_with(&["a/b/c", "a/b", "a/x", "$SYS/t", "z"]);
    // Drop even values (a/b/c, a/x, z).
    let removed = store.retain(|_, m| *m % 2 == 1);
    assert_eq!(removed, 3);
    assert_eq!(store.len(), 2);
    let mut all = Vec::new();
    store.for_each(|t, m| all.push((t.to_owned(), *m)));
    all.sort();
    assert_eq!(all, [("$SYS/t".to_owned(), 3), ("a/b".to_owned(), 1)]);
    assert_eq!(store.node_count(), 4); // a, a/b, $SYS, $SYS/t
    // The predicate may update messages in place.
    assert_eq!(
        store.retain(|_, m| {
            *m += 10;
            true
        }),
        0
    );
    assert_eq!(store.get(&tn("a/b")), Some(&11));
    assert_eq!(store.retain(|_, _| false), 2);
    assert_eq!(store.node_count(), 0);
    assert_eq!(store.bytes(), 0);
}

#[test]
fn deep_topics_do_not_overflow_the_stack() {
    let depth = 32_767;
    let topic = vec!["a"; depth].join("/");
    let mut store = Store::new();
    store.set(tn(&topic), 1).unwrap();
    store.set(tn("a"), 2).unwrap();
    assert_eq!(store.node_count(), depth);
    assert_eq!(matching(&store, "a/#").len(), 2);
    let plus = vec!["+"; depth].join("/");
    assert_eq!(matching(&store, &plus).len(), 1);
    assert_eq!(store.retain(|t, _| t.len() < 10), 1);
    assert_eq!(store.node_count(), 1);
    store.set(tn(&topic), 1).unwrap();
    drop(store); // iterative drop of the 32,767-node chain
}

#[test]
fn clear_and_debug() {
    let mut store = store_with(&["a/b"]);
    assert!(std::format!("{store:?}").starts_with("RetainedStore { len: 1, bytes: 3, limits: "));
    store.clear();
    assert!(store.is_empty());
    assert_eq!(store.node_count(), 0);
    assert_eq!(store.bytes(), 0);
}

// ---- Property test: the store agrees with a BTreeMap filtered by `TopicFilter::matches`.

#[derive(Debug, Clone)]
enum Op {
    Set(String, u32),
    Remove(String),
    /// Keep messages whose value is not a multiple of the divisor.
    Retain(u32),
}

fn topic_strategy() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(prop::sample::select(vec!["", "a", "b", "$SYS", "c"]), 1..5)
        .prop_map(|v| v.join("/"))
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn filter_strategy() -> impl Strategy<Value = String> {
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

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (topic_strategy(), 0..100u32).prop_map(|(t, v)| Op::Set(t, v)),
        3 => topic_strategy().prop_map(Op::Remove),
        1 => (2..5u32).prop_map(Op::Retain),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn store_agrees_with_naive_filtering(
        ops in prop::collection::vec(op_strategy(), 0..40),
        filters in prop::collection::vec(filter_strategy(), 1..8),
    ) {
        let mut store = Store::new();
        let mut model: BTreeMap<String, u32> = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Set(t, v) => {
                    prop_assert_eq!(store.set(tn(t), *v), Ok(model.insert(t.clone(), *v)));
                }
                Op::Remove(t) => prop_assert_eq!(store.remove(&tn(t)), model.remove(t)),
                Op::Retain(d) => {
                    let before = model.len();
                    model.retain(|_, v| *v % d != 0);
                    prop_assert_eq!(store.retain(|_, v| *v % d != 0), before - model.len());
                }
            }
            prop_assert_eq!(store.len(), model.len());
            prop_assert_eq!(store.bytes(), model.keys().map(String::len).sum::<usize>());
        }
        for filter in &filters {
            let f = TopicFilter::new(filter).unwrap();
            let expected: Vec<(String, u32)> = model
                .iter()
                .filter(|(t, _)| f.matches(&tn(t)))
                .map(|(t, v)| (t.clone(), *v))
                .collect();
            prop_assert_eq!(matching(&store, filter), expected, "filter {:?}", filter);
        }
        for (t, v) in &model {
            prop_assert_eq!(store.get(&tn(t)), Some(v));
        }
        // Removing everything leaves no node behind.
        for t in model.keys() {
            prop_assert!(store.remove(&tn(t)).is_some());
        }
        prop_assert!(store.is_empty());
        prop_assert_eq!(store.node_count(), 0);
        prop_assert_eq!(store.bytes(), 0);
    }
}

#[test]
#[cfg(target_pointer_width = "64")]
fn node_sizes_match_the_documented_memory_figures() {
    assert_eq!(size_of::<Node<u64>>(), 48);
    assert_eq!(size_of::<Entry<u64>>(), 8 + 24);
}

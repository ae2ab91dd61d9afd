//! Differential tests: our topic validation and matching against `mqttbytes` 0.6, used only as
//! an independent oracle. mqttbytes has known spec bugs; each place we knowingly disagree is in
//! the allowlist below with its reason, and every other disagreement fails the test.

use proptest::prelude::*;
use tern_core::topic::{TopicFilter, TopicName};

/// Known mqttbytes 0.6 deviations from the specs, each with the reason we differ.
#[derive(Debug, PartialEq)]
enum Allowed {
    /// mqttbytes' `matches` never matches a topic that starts with `$`, not even `$SYS/x`
    /// against `$SYS/#`. The spec only forbids *wildcard-led* filters from matching `$` topics
    /// (3.1.1 and 5.0 `[MQTT-4.7.2-1]`).
    DollarTopicNeverMatched,
    /// mqttbytes' `valid_filter` accepts `+` that does not occupy a whole level (`a/+b`);
    /// 3.1.1 `[MQTT-4.7.1-3]` / 5.0 `[MQTT-4.7.1-2]` require it to.
    PlusNotWholeLevelAccepted,
    /// mqttbytes' `valid_topic` accepts the empty topic; 3.1.1/5.0 `[MQTT-4.7.3-1]` forbid it.
    EmptyTopicAccepted,
    /// mqttbytes does not check for U+0000 (3.1.1 `[MQTT-4.7.3-2]`, 5.0 `[MQTT-4.7.3-2]`).
    NullNotChecked,
}

fn classify_match(topic: &str) -> Option<Allowed> {
    topic
        .starts_with('$')
        .then_some(Allowed::DollarTopicNeverMatched)
}

fn classify_filter(filter: &str) -> Option<Allowed> {
    if filter.contains('\0') {
        return Some(Allowed::NullNotChecked);
    }
    filter
        .split('/')
        .any(|l| l.contains('+') && l != "+")
        .then_some(Allowed::PlusNotWholeLevelAccepted)
}

fn classify_topic(topic: &str) -> Option<Allowed> {
    if topic.is_empty() {
        return Some(Allowed::EmptyTopicAccepted);
    }
    topic.contains('\0').then_some(Allowed::NullNotChecked)
}

fn level() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "", "a", "b", "$SYS", "$x", "ab", "+", "#", "a+", "#b", "\0",
    ])
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(level(), 0..5).prop_map(|v| v.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn filter_validation_agrees(f in path()) {
        let ours = TopicFilter::new(&f).is_ok();
        let theirs = mqttbytes::valid_filter(&f);
        if ours != theirs {
            prop_assert!(classify_filter(&f).is_some(), "unexplained disagreement on filter {:?}: ours {} mqttbytes {}", f, ours, theirs);
        }
    }

    #[test]
    fn topic_validation_agrees(t in path()) {
        let ours = TopicName::new(&t).is_ok();
        let theirs = mqttbytes::valid_topic(&t);
        if ours != theirs {
            prop_assert!(classify_topic(&t).is_some(), "unexplained disagreement on topic {:?}: ours {} mqttbytes {}", t, ours, theirs);
        }
    }

    #[test]
    fn matching_agrees(f in path(), t in path()) {
        let (Ok(filter), Ok(topic)) = (TopicFilter::new(&f), TopicName::new(&t)) else {
            return Ok(());
        };
        let ours = filter.matches(&topic);
        let theirs = mqttbytes::matches(&t, &f);
        if ours != theirs {
            prop_assert_eq!(classify_match(&t), Some(Allowed::DollarTopicNeverMatched),
                "unexplained disagreement: filter {:?} topic {:?}: ours {} mqttbytes {}", f, t, ours, theirs);
        }
    }
}

#[test]
fn allowlist_entries_are_real() {
    // Each allowlist entry documents a real mqttbytes behaviour; if mqttbytes changes, revisit.
    assert!(
        !mqttbytes::matches("$SYS/x", "$SYS/#"),
        "DollarTopicNeverMatched"
    );
    assert!(
        TopicFilter::new("$SYS/#")
            .unwrap()
            .matches(&TopicName::new("$SYS/x").unwrap())
    );
    assert!(mqttbytes::valid_filter("a/+b"), "PlusNotWholeLevelAccepted");
    assert!(TopicFilter::new("a/+b").is_err());
    assert!(mqttbytes::valid_topic(""), "EmptyTopicAccepted");
    assert!(TopicName::new("").is_err());
    assert!(mqttbytes::valid_topic("a\0b"), "NullNotChecked");
    assert!(TopicName::new("a\0b").is_err());
}

//! Topic names, topic filters and shared-subscription filters.
//!
//! All three are validated, borrowed newtypes: once you hold a [`TopicName`] it is a legal
//! MQTT topic name, and a [`TopicFilter`] is a legal filter, so the rest of the core never
//! re-checks them ("make illegal states unrepresentable", as smoltcp's wire types do).
//!
//! Rules (MQTT 3.1.1 §4.7 and 5.0 §4.7, the same in both versions):
//! - Topics are UTF-8 strings of 1 to 65,535 bytes without U+0000; levels are separated by `/`
//!   and a level may be empty (`a//b`, `/a`, `a/` are all legal and distinct).
//! - `+` matches exactly one level, and must occupy a whole level.
//! - `#` matches the parent level and any number of child levels, and must be the whole last
//!   level: `sport/#` matches `sport`, `sport/` and `sport/tennis/player1`.
//! - A topic name contains no wildcard.
//! - A filter starting with a wildcard does not match a topic starting with `$`
//!   (3.1.1 `[MQTT-4.7.2-1]`, 5.0 `[MQTT-4.7.2-1]`): `#` does not match `$SYS/uptime`,
//!   but `$SYS/#` does.
//!
//! Shared subscriptions (`$share/{ShareName}/{filter}`, MQTT 5.0 §4.8.2) are parsed by
//! [`SharedFilter::parse`]. They are a 5.0 feature; the Tern broker also honours them for
//! 3.1.1 clients, as Mosquitto does.
//!
//! ```
//! use tern_core::topic::{TopicFilter, TopicName};
//! let filter = TopicFilter::new("sensors/+/temp").unwrap();
//! assert!(filter.matches(&TopicName::new("sensors/kitchen/temp").unwrap()));
//! assert!(!filter.matches(&TopicName::new("sensors/kitchen/humidity").unwrap()));
//! assert!(!TopicFilter::new("#").unwrap().matches(&TopicName::new("$SYS/uptime").unwrap()));
//! ```

use core::fmt;

/// Longest topic name or filter, in bytes: the length prefix of an MQTT string is 16 bits.
pub const MAX_TOPIC_LEN: usize = 65_535;

/// The prefix that marks a shared subscription filter.
pub const SHARE_PREFIX: &str = "$share/";

/// Why a string is not a valid topic name, topic filter or shared filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TopicError {
    /// The topic is empty: names and filters must be at least one byte long
    /// (3.1.1 `[MQTT-4.7.3-1]`, 5.0 `[MQTT-4.7.3-1]`).
    Empty,
    /// Longer than 65,535 bytes.
    TooLong,
    /// Contains U+0000 (3.1.1 `[MQTT-4.7.3-2]`, 5.0 `[MQTT-4.7.3-2]`).
    NullCharacter,
    /// A topic name contains `+` or `#` (3.1.1 `[MQTT-3.3.2-2]`, 5.0 `[MQTT-3.3.2-2]`).
    WildcardInName,
    /// A filter uses `+` or `#` other than as a whole level, or `#` not as the last level
    /// (3.1.1 `[MQTT-4.7.1-2]`, `[MQTT-4.7.1-3]`; 5.0 `[MQTT-4.7.1-1]`, `[MQTT-4.7.1-2]`).
    InvalidWildcard,
    /// A `$share/` filter whose ShareName is empty or contains `/`, `+` or `#`
    /// (5.0 `[MQTT-4.8.2-1]`, `[MQTT-4.8.2-2]`).
    InvalidShareName,
    /// A `$share/{ShareName}` filter with no topic filter after the ShareName
    /// (5.0 `[MQTT-4.8.2-2]`).
    MissingSharedFilter,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            Self::Empty => "topic is empty",
            Self::TooLong => "topic is longer than 65535 bytes",
            Self::NullCharacter => "topic contains U+0000",
            Self::WildcardInName => "topic name contains a wildcard ('+' or '#')",
            Self::InvalidWildcard => {
                "wildcard not occupying a whole level, or '#' not the last level"
            }
            Self::InvalidShareName => {
                "shared subscription ShareName is empty or contains '/', '+' or '#'"
            }
            Self::MissingSharedFilter => {
                "shared subscription has no topic filter after the ShareName"
            }
        };
        f.write_str(msg)
    }
}

impl core::error::Error for TopicError {}

/// Checks the length and U+0000 rules shared by names and filters, and reports whether `s`
/// contains a wildcard character, in one pass.
///
/// This runs for every PUBLISH decoded or encoded, so it is a single pass.
fn check_common(s: &str) -> Result<bool, TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    let (null, wildcard) = scan(s.as_bytes());
    if null {
        return Err(TopicError::NullCharacter);
    }
    Ok(wildcard)
}

/// Reports whether `bytes` contains U+0000 and whether it contains `+` or `#`, in one pass
/// with no early exit. (Measured with callgrind: about 3 instructions per byte; chunked
/// "SIMD-friendly" variants came out slower for topic-sized strings.)
fn scan(bytes: &[u8]) -> (bool, bool) {
    let (mut null, mut wildcard) = (false, false);
    for &b in bytes {
        null |= b == 0;
        wildcard |= (b == b'+') | (b == b'#');
    }
    (null, wildcard)
}

/// A validated topic name, as carried by PUBLISH: no wildcards, 1..=65,535 bytes, no U+0000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TopicName<'a>(&'a str);

impl<'a> TopicName<'a> {
    /// Validates `s` as a topic name.
    pub fn new(s: &'a str) -> Result<Self, TopicError> {
        if check_common(s)? {
            return Err(TopicError::WildcardInName);
        }
        Ok(Self(s))
    }

    /// The topic as a string slice.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// The topic's levels, split on `/` (empty levels included).
    pub fn levels(&self) -> core::str::Split<'a, char> {
        self.0.split('/')
    }

    /// Whether the topic starts with `$` (e.g. `$SYS/...`): such topics are not matched by
    /// filters that start with a wildcard.
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }
}

impl fmt::Display for TopicName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl AsRef<str> for TopicName<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// A validated topic filter, as carried by SUBSCRIBE and UNSUBSCRIBE.
///
/// A `$share/...` string is a valid filter too (it is one, syntactically, in 3.1.1); use
/// [`SharedFilter::parse`] to interpret it as a shared subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TopicFilter<'a>(&'a str);

impl<'a> TopicFilter<'a> {
    /// Validates `s` as a topic filter.
    pub fn new(s: &'a str) -> Result<Self, TopicError> {
        if !check_common(s)? {
            return Ok(Self(s));
        }
        // A wildcard must be a whole level, `#` the last one. One pass over the bytes (a
        // `split('/')` iterator would link `memchr` and the pattern searcher into firmware).
        let bytes = s.as_bytes();
        let mut prev = b'/';
        for (i, &c) in bytes.iter().enumerate() {
            let next = bytes.get(i + 1).copied();
            let whole_level = prev == b'/' && matches!(next, None | Some(b'/'));
            match c {
                b'+' if whole_level => {}
                b'#' if whole_level && next.is_none() => {}
                b'+' | b'#' => return Err(TopicError::InvalidWildcard),
                _ => {}
            }
            prev = c;
        }
        Ok(Self(s))
    }

    /// The filter as a string slice.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// The filter's levels, split on `/` (empty levels included).
    pub fn levels(&self) -> core::str::Split<'a, char> {
        self.0.split('/')
    }

    /// Whether the filter contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.0.bytes().any(|b| b == b'+' || b == b'#')
    }

    /// Whether this filter matches `topic`, applying the `$` rule
    /// (3.1.1 and 5.0 `[MQTT-4.7.2-1]`).
    pub fn matches(&self, topic: &TopicName<'_>) -> bool {
        if topic.is_system() && self.0.starts_with(['+', '#']) {
            return false;
        }
        let mut filter = self.levels();
        let mut name = topic.levels();
        loop {
            match (filter.next(), name.next()) {
                // `#` matches the parent level and everything below it.
                (Some("#"), _) => return true,
                (Some("+"), Some(_)) => {}
                (Some(f), Some(n)) if f == n => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl fmt::Display for TopicFilter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl AsRef<str> for TopicFilter<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// A shared subscription filter `$share/{ShareName}/{filter}` (MQTT 5.0 §4.8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SharedFilter<'a> {
    raw: &'a str,
    group: &'a str,
    filter: TopicFilter<'a>,
}

impl<'a> SharedFilter<'a> {
    /// Parses `s` as a shared subscription.
    ///
    /// Returns `Ok(None)` when `s` does not start with `$share/` (it is then an ordinary
    /// filter), `Ok(Some(_))` for a well-formed shared subscription, and an error when it starts
    /// with `$share/` but the ShareName or the filter after it is malformed
    /// (5.0 `[MQTT-4.8.2-1]`, `[MQTT-4.8.2-2]`).
    pub fn parse(s: &'a str) -> Result<Option<Self>, TopicError> {
        // A byte loop: `strip_prefix` compares slices with `memcmp`, which firmware links
        // for this one call (116 bytes on a Cortex-M).
        if s.len() < SHARE_PREFIX.len() || !SHARE_PREFIX.bytes().zip(s.bytes()).all(|(a, b)| a == b)
        {
            return Ok(None);
        }
        let rest = s.get(SHARE_PREFIX.len()..).unwrap_or_default();
        // Byte searches rather than `split_once` / `contains`, which would link the pattern
        // searcher and `memchr` into firmware.
        let wildcard = |s: &str| s.bytes().any(|b| b == b'+' || b == b'#');
        let slash = rest.bytes().position(|b| b == b'/');
        let Some((group, filter)) = slash.and_then(|i| Some((rest.get(..i)?, rest.get(i + 1..)?)))
        else {
            // `$share/group` with no `/` after the ShareName.
            return Err(if rest.is_empty() || wildcard(rest) {
                TopicError::InvalidShareName
            } else {
                TopicError::MissingSharedFilter
            });
        };
        if group.is_empty() || wildcard(group) {
            return Err(TopicError::InvalidShareName);
        }
        if s.len() > MAX_TOPIC_LEN {
            return Err(TopicError::TooLong);
        }
        let filter = TopicFilter::new(filter).map_err(|e| match e {
            TopicError::Empty => TopicError::MissingSharedFilter,
            other => other,
        })?;
        Ok(Some(Self {
            raw: s,
            group,
            filter,
        }))
    }

    /// The whole filter string, `$share/` prefix included.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The ShareName.
    pub fn group(&self) -> &'a str {
        self.group
    }

    /// The topic filter the group subscribes to.
    pub fn filter(&self) -> TopicFilter<'a> {
        self.filter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    fn m(filter: &str, topic: &str) -> bool {
        TopicFilter::new(filter)
            .unwrap()
            .matches(&TopicName::new(topic).unwrap())
    }

    #[test]
    fn names_reject_wildcards_mqtt_3_3_2_2() {
        // 3.1.1 [MQTT-3.3.2-2] and 5.0 [MQTT-3.3.2-2]: no wildcard characters in topic names.
        assert_eq!(TopicName::new("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::new("a/#"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::new("a+b"), Err(TopicError::WildcardInName));
        assert!(TopicName::new("a/b c/ü").is_ok());
    }

    #[test]
    fn empty_and_null_rejected_mqtt_4_7_3_1_and_2() {
        // 3.1.1 and 5.0 [MQTT-4.7.3-1]: at least one character; [MQTT-4.7.3-2]: no U+0000.
        assert_eq!(TopicName::new(""), Err(TopicError::Empty));
        assert_eq!(TopicFilter::new(""), Err(TopicError::Empty));
        assert_eq!(TopicName::new("a\0b"), Err(TopicError::NullCharacter));
        assert_eq!(TopicFilter::new("a/\0"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn too_long_rejected() {
        let s: String = core::iter::repeat_n('a', MAX_TOPIC_LEN + 1).collect();
        assert_eq!(TopicName::new(&s), Err(TopicError::TooLong));
        assert!(TopicName::new(&s[..MAX_TOPIC_LEN]).is_ok());
    }

    #[test]
    fn filter_wildcard_placement() {
        // 3.1.1 [MQTT-4.7.1-2] / 5.0 [MQTT-4.7.1-1]: '#' alone and last.
        // 3.1.1 [MQTT-4.7.1-3] / 5.0 [MQTT-4.7.1-2]: '+' occupies an entire level.
        for ok in [
            "#", "+", "a/#", "+/+", "/+", "+/", "a/+/b/#", "$SYS/#", "//", "a//#",
        ] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a#", "a/#/b", "#/a", "a+", "a/+b", "+a/b", "a/b#", "##", "++",
        ] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::InvalidWildcard),
                "{bad}"
            );
        }
    }

    #[test]
    fn matching_basics() {
        assert!(m("a/b", "a/b"));
        assert!(!m("a/b", "a/b/c"));
        assert!(!m("a/b/c", "a/b"));
        assert!(m("a/+", "a/b"));
        assert!(m("a/+", "a/"), "+ matches an empty level");
        assert!(!m("a/+", "a"));
        assert!(m("+/+", "/a"));
        assert!(m("+", "a"));
        assert!(!m("+", "/a"));
        assert!(m("/+", "/a"));
        assert!(m("#", "a/b/c"));
        assert!(m("#", "/"));
        assert!(m("a/b/#", "a/b/c/d"));
        assert!(!m("a/b/#", "a/c"));
        assert!(m("+/b/#", "x/b"));
        assert!(!m("a/b", "A/b"), "case sensitive");
    }

    #[test]
    fn hash_matches_parent_level() {
        // 3.1.1 §4.7.1.2 / 5.0 §4.7.1.2: "sport/#" also matches "sport".
        assert!(m("sport/#", "sport"));
        assert!(m("sport/#", "sport/"));
        assert!(m("sport/tennis/#", "sport/tennis/player1/ranking"));
        assert!(!m("sport/#", "sports"));
    }

    #[test]
    fn dollar_topics_not_matched_by_leading_wildcards_mqtt_4_7_2_1() {
        // 3.1.1 [MQTT-4.7.2-1] and 5.0 [MQTT-4.7.2-1].
        assert!(!m("#", "$SYS/uptime"));
        assert!(!m("+/uptime", "$SYS/uptime"));
        assert!(!m("+", "$x"));
        assert!(m("$SYS/#", "$SYS/uptime"));
        assert!(m("$SYS/+", "$SYS/uptime"));
        assert!(m("$SYS/#", "$SYS"));
        assert!(m("a/#", "a/$b"), "the rule applies to the first level only");
    }

    #[test]
    fn shared_filters_mqtt_4_8_2() {
        assert_eq!(SharedFilter::parse("a/b"), Ok(None));
        assert_eq!(SharedFilter::parse("$shared/g/a"), Ok(None));
        let s = SharedFilter::parse("$share/g1/a/+/#").unwrap().unwrap();
        assert_eq!(s.group(), "g1");
        assert_eq!(s.filter().as_str(), "a/+/#");
        assert_eq!(s.as_str(), "$share/g1/a/+/#");
        // 5.0 [MQTT-4.8.2-1]: ShareName at least one character.
        assert_eq!(
            SharedFilter::parse("$share//a"),
            Err(TopicError::InvalidShareName)
        );
        // 5.0 [MQTT-4.8.2-2]: no '/', '+', '#' in ShareName; followed by '/' and a filter.
        assert_eq!(
            SharedFilter::parse("$share/+/a"),
            Err(TopicError::InvalidShareName)
        );
        assert_eq!(
            SharedFilter::parse("$share/g#/a"),
            Err(TopicError::InvalidShareName)
        );
        assert_eq!(
            SharedFilter::parse("$share/g"),
            Err(TopicError::MissingSharedFilter)
        );
        assert_eq!(
            SharedFilter::parse("$share/g/"),
            Err(TopicError::MissingSharedFilter)
        );
        assert_eq!(
            SharedFilter::parse("$share/"),
            Err(TopicError::InvalidShareName)
        );
        assert_eq!(
            SharedFilter::parse("$share/g/a#"),
            Err(TopicError::InvalidWildcard)
        );
        // A shared filter is an ordinary filter syntactically (3.1.1 view).
        assert!(TopicFilter::new("$share/g/a/#").is_ok());
    }

    /// Reference matcher: recursive over level vectors, written independently of `matches`.
    fn reference(filter: &str, topic: &str) -> bool {
        fn rec(f: &[&str], t: &[&str]) -> bool {
            match (f.first(), t.first()) {
                (Some(&"#"), _) => f.len() == 1,
                (Some(&"+"), Some(_)) => rec(&f[1..], &t[1..]),
                (Some(a), Some(b)) => a == b && rec(&f[1..], &t[1..]),
                (None, None) => true,
                _ => false,
            }
        }
        if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
            return false;
        }
        let f: Vec<&str> = filter.split('/').collect();
        let t: Vec<&str> = topic.split('/').collect();
        rec(&f, &t)
    }

    fn level() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "a", "b", "$SYS", "$x", "ab"])
    }

    fn topic() -> impl Strategy<Value = String> {
        prop::collection::vec(level(), 1..5).prop_map(|v| v.join("/"))
    }

    fn filter() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(
                prop::sample::select(vec!["", "a", "b", "$SYS", "+", "ab"]),
                0..5,
            ),
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn matches_agrees_with_reference(f in filter(), t in topic()) {
            prop_assume!(!t.is_empty());
            let tf = TopicFilter::new(&f).unwrap();
            let tn = TopicName::new(&t).unwrap();
            prop_assert_eq!(tf.matches(&tn), reference(&f, &t), "filter {:?} topic {:?}", f, t);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,40}") {
            let _ = TopicName::new(&s);
            if let (Ok(f), Ok(n)) = (TopicFilter::new(&s), TopicName::new(&s)) {
                // A literal filter always matches the same topic.
                prop_assert!(f.matches(&n));
            }
            let _ = SharedFilter::parse(&s);
        }
    }
}

//! The child map of a trie node, shared by the subscription index and the retained store.
//!
//! Most trie nodes have one child or a handful (a device id under a site, a metric under a
//! device). A `HashTable` allocates at least 4 buckets, so a single-child node would cost 4
//! nodes' worth of memory; [`Children`] keeps up to [`FEW_MAX`] children in an exactly-sized
//! `Vec` searched linearly (a length check and a short `memcmp` per child, as cheap as hashing
//! the level) and switches to a boxed `HashTable` above that, back to a `Vec` when it shrinks
//! to [`FEW_MAX`] / 2.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Children beyond this many go into a hash table.
pub(crate) const FEW_MAX: usize = 8;

/// A trie node keyed by its level string.
pub(crate) trait Keyed {
    /// The topic level this node stands for.
    fn key(&self) -> &str;
}

/// Children of a trie node, by level. 24 bytes.
pub(crate) enum Children<N> {
    /// Up to [`FEW_MAX`] children, capacity equal to length.
    Few(Vec<N>),
    /// More than [`FEW_MAX`] / 2 children (after having exceeded [`FEW_MAX`]).
    Many(Box<HashTable<N>>),
}

impl<N: Keyed> Children<N> {
    pub(crate) const fn new() -> Self {
        Self::Few(Vec::new())
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Few(v) => v.len(),
            Self::Many(t) => t.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Allocated child slots; 0 when nothing is allocated. For tests.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        match self {
            Self::Few(v) => v.capacity(),
            Self::Many(t) => t.capacity(),
        }
    }

    pub(crate) fn get(&self, hasher: &DefaultHashBuilder, key: &str) -> Option<&N> {
        match self {
            Self::Few(v) => v.iter().find(|n| n.key() == key),
            Self::Many(t) => t.find(hasher.hash_one(key), |n| n.key() == key),
        }
    }

    pub(crate) fn get_mut(&mut self, hasher: &DefaultHashBuilder, key: &str) -> Option<&mut N> {
        match self {
            Self::Few(v) => v.iter_mut().find(|n| n.key() == key),
            Self::Many(t) => t.find_mut(hasher.hash_one(key), |n| n.key() == key),
        }
    }

    /// The child for `key`, created with `make` if absent.
    pub(crate) fn get_or_insert_with(
        &mut self,
        hasher: &DefaultHashBuilder,
        key: &str,
        make: impl FnOnce() -> N,
    ) -> &mut N {
        if let Self::Few(v) = self
            && v.len() == FEW_MAX
            && !v.iter().any(|n| n.key() == key)
        {
            let mut table = HashTable::with_capacity(FEW_MAX * 2);
            for n in v.drain(..) {
                table.insert_unique(hasher.hash_one(n.key()), n, |n: &N| {
                    hasher.hash_one(n.key())
                });
            }
            *self = Self::Many(Box::new(table));
        }
        match self {
            Self::Few(v) => {
                let i = match v.iter().position(|n| n.key() == key) {
                    Some(i) => i,
                    None => {
                        v.reserve_exact(1);
                        v.push(make());
                        v.len() - 1
                    }
                };
                #[allow(clippy::indexing_slicing)] // `i < v.len()`: found or just pushed.
                &mut v[i]
            }
            Self::Many(t) => t
                .entry(
                    hasher.hash_one(key),
                    |n| n.key() == key,
                    |n| hasher.hash_one(n.key()),
                )
                .or_insert_with(make)
                .into_mut(),
        }
    }

    /// Removes and returns the child for `key`, giving memory back as the map shrinks.
    pub(crate) fn remove(&mut self, hasher: &DefaultHashBuilder, key: &str) -> Option<N> {
        match self {
            Self::Few(v) => {
                let i = v.iter().position(|n| n.key() == key)?;
                let node = v.swap_remove(i);
                v.shrink_to_fit();
                Some(node)
            }
            Self::Many(t) => {
                let (node, _) = t
                    .find_entry(hasher.hash_one(key), |n| n.key() == key)
                    .ok()?
                    .remove();
                if t.len() <= FEW_MAX / 2 {
                    let mut v = Vec::with_capacity(t.len());
                    v.extend(t.drain());
                    *self = Self::Few(v);
                } else if t.len() * 4 < t.capacity() {
                    t.shrink_to(t.len() * 2, |n| hasher.hash_one(n.key()));
                }
                Some(node)
            }
        }
    }

    /// Moves every child into `out`.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<N>) {
        match self {
            Self::Few(v) => out.append(v),
            Self::Many(t) => out.extend(t.drain()),
        }
    }

    pub(crate) fn iter(&self) -> Iter<'_, N> {
        match self {
            Self::Few(v) => Iter::Few(v.iter()),
            Self::Many(t) => Iter::Many(t.iter()),
        }
    }

    pub(crate) fn iter_mut(&mut self) -> IterMut<'_, N> {
        match self {
            Self::Few(v) => IterMut::Few(v.iter_mut()),
            Self::Many(t) => IterMut::Many(t.iter_mut()),
        }
    }
}

/// Iterator over [`Children`].
pub(crate) enum Iter<'a, N> {
    Few(core::slice::Iter<'a, N>),
    Many(hashbrown::hash_table::Iter<'a, N>),
}

impl<'a, N> Iterator for Iter<'a, N> {
    type Item = &'a N;

    fn next(&mut self) -> Option<&'a N> {
        match self {
            Self::Few(i) => i.next(),
            Self::Many(i) => i.next(),
        }
    }
}

/// Mutable iterator over [`Children`].
pub(crate) enum IterMut<'a, N> {
    Few(core::slice::IterMut<'a, N>),
    Many(hashbrown::hash_table::IterMut<'a, N>),
}

impl<'a, N> Iterator for IterMut<'a, N> {
    type Item = &'a mut N;

    fn next(&mut self) -> Option<&'a mut N> {
        match self {
            Self::Few(i) => i.next(),
            Self::Many(i) => i.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::string::{String, ToString};
    use std::vec::Vec;

    struct N(String, u32);

    impl Keyed for N {
        fn key(&self) -> &str {
            &self.0
        }
    }

    fn keys(c: &Children<N>) -> Vec<(String, u32)> {
        let mut v: Vec<_> = c.iter().map(|n| (n.0.clone(), n.1)).collect();
        v.sort();
        v
    }

    #[test]
    fn promotes_to_a_table_and_back() {
        let h = DefaultHashBuilder::default();
        let mut c: Children<N> = Children::new();
        assert_eq!(c.capacity(), 0);
        for i in 0..FEW_MAX as u32 {
            c.get_or_insert_with(&h, &i.to_string(), || N(i.to_string(), i));
            assert_eq!(c.capacity(), c.len(), "few: exactly sized");
        }
        assert!(matches!(c, Children::Few(_)));
        // Existing key at the threshold: no promotion.
        c.get_or_insert_with(&h, "0", || unreachable!()).1 = 100;
        assert!(matches!(c, Children::Few(_)));
        c.get_or_insert_with(&h, "x", || N("x".to_string(), 7));
        assert!(matches!(c, Children::Many(_)));
        assert_eq!(c.len(), FEW_MAX + 1);
        assert_eq!(c.get(&h, "0").map(|n| n.1), Some(100));
        for i in 0..FEW_MAX as u32 {
            assert!(c.remove(&h, &i.to_string()).is_some());
        }
        assert!(matches!(c, Children::Few(_)));
        assert_eq!(keys(&c), [("x".to_string(), 7)]);
        assert!(c.remove(&h, "x").is_some());
        assert!(c.remove(&h, "x").is_none());
        assert!(c.is_empty());
        assert_eq!(c.capacity(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn children_agree_with_a_btreemap(
            ops in prop::collection::vec((any::<bool>(), 0..24u32), 0..200),
        ) {
            let h = DefaultHashBuilder::default();
            let mut c: Children<N> = Children::new();
            let mut model: BTreeMap<String, u32> = BTreeMap::new();
            for (insert, k) in ops {
                let key = k.to_string();
                if insert {
                    let n = c.get_or_insert_with(&h, &key, || N(key.clone(), 0));
                    n.1 += 1;
                    *model.entry(key.clone()).or_default() += 1;
                } else {
                    prop_assert_eq!(c.remove(&h, &key).map(|n| n.1), model.remove(&key));
                }
                prop_assert_eq!(c.len(), model.len());
                prop_assert_eq!(c.get(&h, &key).map(|n| n.1), model.get(&key).copied());
                let mut muts = 0;
                for n in c.iter_mut() {
                    prop_assert_eq!(model.get(&n.0).copied(), Some(n.1));
                    muts += 1;
                }
                prop_assert_eq!(muts, model.len());
            }
            prop_assert_eq!(keys(&c), model.into_iter().collect::<Vec<_>>());
            let mut out = Vec::new();
            c.drain_into(&mut out);
            prop_assert!(c.is_empty());
        }
    }
}

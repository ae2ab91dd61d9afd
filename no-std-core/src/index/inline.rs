//! Scratch containers for one match walk that live on the stack up to a fixed size and move
//! to the heap only beyond it: routing a PUBLISH should not allocate for a walk's stack and
//! filter path (it did twice or more per message, measured at ~10% of a fan-in broker's CPU).

use alloc::string::String;
use alloc::vec::Vec;

/// A stack of up to `N` entries inline; a deeper walk moves it to a `Vec`.
pub(super) enum SpillVec<T, const N: usize> {
    Inline(heapless::Vec<T, N>),
    Heap(Vec<T>),
}

impl<T, const N: usize> SpillVec<T, N> {
    pub(super) fn new() -> Self {
        Self::Inline(heapless::Vec::new())
    }

    #[inline]
    pub(super) fn push(&mut self, x: T) {
        match self {
            Self::Inline(v) => {
                if let Err(x) = v.push(x) {
                    self.spill(x);
                }
            }
            Self::Heap(v) => v.push(x),
        }
    }

    /// Moves a full inline stack to the heap, then pushes `x`.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, x: T) {
        if let Self::Inline(v) = self {
            let mut heap = Vec::with_capacity(N.saturating_mul(2).max(1));
            heap.extend(core::mem::take(v));
            heap.push(x);
            *self = Self::Heap(heap);
        }
    }

    #[inline]
    pub(super) fn pop(&mut self) -> Option<T> {
        match self {
            Self::Inline(v) => v.pop(),
            Self::Heap(v) => v.pop(),
        }
    }

    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<&T> {
        match self {
            Self::Inline(v) => v.get(i),
            Self::Heap(v) => v.get(i),
        }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Inline(v) => v.len(),
            Self::Heap(v) => v.len(),
        }
    }
}

/// A string of up to `N` bytes inline; a longer one moves to a `String`.
pub(super) enum SpillString<const N: usize> {
    Inline(heapless::String<N>),
    Heap(String),
}

impl<const N: usize> SpillString<N> {
    pub(super) fn new() -> Self {
        Self::Inline(heapless::String::new())
    }

    pub(super) fn push_str(&mut self, s: &str) {
        match self {
            Self::Inline(p) => {
                if p.push_str(s).is_err() {
                    let mut heap =
                        String::with_capacity(N.saturating_mul(2).saturating_add(s.len()));
                    heap.push_str(p);
                    heap.push_str(s);
                    *self = Self::Heap(heap);
                }
            }
            Self::Heap(p) => p.push_str(s),
        }
    }

    pub(super) fn truncate(&mut self, len: usize) {
        match self {
            Self::Inline(p) => p.truncate(len),
            Self::Heap(p) => p.truncate(len),
        }
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            Self::Inline(p) => p.as_str(),
            Self::Heap(p) => p.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_vec_keeps_order_across_the_move() {
        let mut v: SpillVec<u32, 2> = SpillVec::new();
        for i in 0..5 {
            v.push(i);
        }
        assert!(matches!(v, SpillVec::Heap(_)));
        assert_eq!((v.len(), v.get(3), v.get(5)), (5, Some(&3), None));
        let popped: Vec<u32> = core::iter::from_fn(|| v.pop()).collect();
        assert_eq!(popped, [4, 3, 2, 1, 0]);
    }

    #[test]
    fn spill_string_keeps_content_across_the_move() {
        let mut s: SpillString<4> = SpillString::new();
        s.push_str("ab/");
        assert!(matches!(s, SpillString::Inline(_)));
        s.push_str("cd/");
        assert!(matches!(s, SpillString::Heap(_)));
        assert_eq!(s.as_str(), "ab/cd/");
        s.truncate(3);
        s.push_str("#");
        assert_eq!(s.as_str(), "ab/#");
    }
}

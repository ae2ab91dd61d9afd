//! Borrowed lists without allocation.
//!
//! Every list type has two representations: `Encoded(&'a [u8])`, the wire bytes as found
//! by the decoder (which validated every item before handing them out), and
//! `Slice(&'a [T])`, items built by the application for encoding. Iteration yields items
//! in both cases, and equality compares items, so a decoded packet equals the one it was
//! encoded from.
//!
//! Iterating an `Encoded` list built by hand from bytes that the decoder did not validate
//! never panics: iteration stops at the first item that does not parse.

use super::SubscriptionOptions;
use super::reason::ReasonCode;
use super::subscribe::Subscription;
use super::wire::check_utf8;

macro_rules! borrowed_list {
    (
        $(#[$meta:meta])*
        $name:ident, $iter:ident, $lt:lifetime, $item:ty, $parse:path
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy)]
        pub enum $name<$lt> {
            /// The validated wire bytes, as decoded.
            Encoded(&$lt [u8]),
            /// Items supplied by the application, for encoding.
            Slice(&$lt [$item]),
        }

        impl<$lt> $name<$lt> {
            /// Iterates over the items.
            pub fn iter(&self) -> $iter<$lt> {
                match *self {
                    Self::Encoded(bytes) => $iter { inner: $crate::codec::list::IterInner::Encoded(bytes) },
                    Self::Slice(items) => $iter { inner: $crate::codec::list::IterInner::Slice(items.iter()) },
                }
            }

            /// Number of items (counts the encoded items, O(n)).
            pub fn len(&self) -> usize {
                match self {
                    Self::Encoded(_) => self.iter().count(),
                    Self::Slice(items) => items.len(),
                }
            }

            /// `true` if the list has no items.
            pub fn is_empty(&self) -> bool {
                self.iter().next().is_none()
            }
        }

        impl Default for $name<'_> {
            fn default() -> Self {
                Self::Slice(&[])
            }
        }

        impl PartialEq for $name<'_> {
            fn eq(&self, other: &Self) -> bool {
                self.iter().eq(other.iter())
            }
        }

        impl Eq for $name<'_> {}

        impl ::core::fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_list().entries(self.iter()).finish()
            }
        }

        impl<$lt> IntoIterator for &$name<$lt> {
            type Item = $item;
            type IntoIter = $iter<$lt>;
            fn into_iter(self) -> $iter<$lt> {
                self.iter()
            }
        }

        impl<$lt> IntoIterator for $name<$lt> {
            type Item = $item;
            type IntoIter = $iter<$lt>;
            fn into_iter(self) -> $iter<$lt> {
                self.iter()
            }
        }

        impl<$lt> From<&$lt [$item]> for $name<$lt> {
            fn from(items: &$lt [$item]) -> Self {
                Self::Slice(items)
            }
        }

        impl<$lt, const N: usize> From<&$lt [$item; N]> for $name<$lt> {
            fn from(items: &$lt [$item; N]) -> Self {
                Self::Slice(items)
            }
        }

        #[doc = concat!("Iterator over the items of a [`", stringify!($name), "`].")]
        #[derive(Debug, Clone)]
        pub struct $iter<$lt> {
            inner: $crate::codec::list::IterInner<$lt, $item>,
        }

        impl<$lt> Iterator for $iter<$lt> {
            type Item = $item;
            fn next(&mut self) -> Option<$item> {
                match &mut self.inner {
                    $crate::codec::list::IterInner::Encoded(bytes) => {
                        let item = $parse(bytes);
                        if item.is_none() {
                            *bytes = &[];
                        }
                        item
                    }
                    $crate::codec::list::IterInner::Slice(items) => items.next().copied(),
                }
            }
        }
    };
}
#[cfg_attr(not(feature = "v5"), allow(unused_imports))]
pub(crate) use borrowed_list;

/// Shared iterator state of the list types.
#[derive(Debug, Clone)]
pub(crate) enum IterInner<'a, T> {
    Encoded(&'a [u8]),
    Slice(core::slice::Iter<'a, T>),
}

/// Takes a two-byte length-prefixed string from the front of `bytes`.
pub(crate) fn take_str<'a>(bytes: &mut &'a [u8]) -> Option<&'a str> {
    let (len, rest) = bytes.split_at_checked(2)?;
    let len = usize::from(u16::from_be_bytes(len.try_into().ok()?));
    let (s, rest) = rest.split_at_checked(len)?;
    let s = check_utf8(s).ok()?;
    *bytes = rest;
    Some(s)
}

fn parse_subscription<'a>(bytes: &mut &'a [u8]) -> Option<Subscription<'a>> {
    let mut cursor = *bytes;
    let filter = take_str(&mut cursor)?;
    let (&options, rest) = cursor.split_first()?;
    let options = SubscriptionOptions::from_byte_lenient(options)?;
    *bytes = rest;
    Some(Subscription { filter, options })
}

fn parse_filter<'a>(bytes: &mut &'a [u8]) -> Option<&'a str> {
    take_str(bytes)
}

fn parse_reason(bytes: &mut &[u8]) -> Option<ReasonCode> {
    let (&b, rest) = bytes.split_first()?;
    let code = ReasonCode::try_from(b).ok()?;
    *bytes = rest;
    Some(code)
}

borrowed_list! {
    /// The topic filters and options of a SUBSCRIBE (at least one when encoded or decoded).
    Subscriptions, SubscriptionsIter, 'a, Subscription<'a>, parse_subscription
}

borrowed_list! {
    /// The topic filters of an UNSUBSCRIBE (at least one when encoded or decoded).
    Filters, FiltersIter, 'a, &'a str, parse_filter
}

borrowed_list! {
    /// Reason codes of a SUBACK or (5.0) UNSUBACK, one per topic filter. 3.1.1 SUBACK
    /// return codes decode to [`ReasonCode::Success`] (Granted QoS 0),
    /// [`ReasonCode::GrantedQoS1`], [`ReasonCode::GrantedQoS2`] and
    /// [`ReasonCode::UnspecifiedError`] (0x80 Failure).
    ReasonCodes, ReasonCodesIter, 'a, ReasonCode, parse_reason
}

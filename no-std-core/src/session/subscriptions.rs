//! Subscriptions kept in a [`Session`](super::Session), so that they survive reconnects and
//! are persisted with it (3.1.1 / 5.0 4.1: the subscriptions are part of the session
//! state). The broker's routing index is built from them; the engine only stores them.

use core::num::NonZeroU32;

use super::storage::{OwnedBytes, Slots};
use crate::codec::{QoS, RetainHandling, SubscriptionOptions};
use crate::topic::TopicFilter;

/// One stored subscription: the filter (a shared one keeps its `$share/{group}/` prefix),
/// its options and 5.0 Subscription Identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StoredSubscription<B> {
    filter: B,
    /// Options as their wire byte (5.0 layout), so the codec type needs no serde.
    options: u8,
    identifier: Option<NonZeroU32>,
}

/// Why a subscription could not be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SubscribeError {
    /// Not a valid topic filter.
    InvalidFilter,
    /// The filter does not fit the byte buffers, or the subscription table is full.
    Full,
}

fn options_byte(o: SubscriptionOptions) -> u8 {
    (o.qos as u8)
        | (u8::from(o.no_local) << 2)
        | (u8::from(o.retain_as_published) << 3)
        | ((o.retain_handling as u8) << 4)
}

fn options_from(b: u8) -> SubscriptionOptions {
    SubscriptionOptions {
        qos: QoS::try_from(b & 0b11).unwrap_or(QoS::AtMostOnce),
        no_local: b & 0b0100 != 0,
        retain_as_published: b & 0b1000 != 0,
        retain_handling: match (b >> 4) & 0b11 {
            1 => RetainHandling::SendAtSubscribeIfNew,
            2 => RetainHandling::DoNotSend,
            _ => RetainHandling::SendAtSubscribe,
        },
    }
}

impl<B: OwnedBytes> StoredSubscription<B> {
    /// The topic filter.
    pub fn filter(&self) -> &str {
        core::str::from_utf8(self.filter.as_ref()).unwrap_or_default()
    }

    /// The subscription options.
    pub fn options(&self) -> SubscriptionOptions {
        options_from(self.options)
    }

    /// The 5.0 Subscription Identifier.
    pub fn identifier(&self) -> Option<NonZeroU32> {
        self.identifier
    }
}

/// Adds or replaces (same filter: 3.1.1 [MQTT-3.8.4-3], 5.0 [MQTT-3.8.4-3]) a subscription.
/// Returns `true` if it replaced an existing one.
pub(crate) fn subscribe<B: OwnedBytes, T: Slots<StoredSubscription<B>>>(
    table: &mut T,
    filter: &str,
    options: SubscriptionOptions,
    identifier: Option<NonZeroU32>,
) -> Result<bool, SubscribeError> {
    TopicFilter::new(filter).map_err(|_| SubscribeError::InvalidFilter)?;
    let options = options_byte(options);
    if let Some(i) = table.position(|s| s.filter.as_ref() == filter.as_bytes())
        && let Some(s) = table.get_mut(i)
    {
        s.options = options;
        s.identifier = identifier;
        return Ok(true);
    }
    let filter = B::from_slice(filter.as_bytes()).ok_or(SubscribeError::Full)?;
    table
        .push_back(StoredSubscription {
            filter,
            options,
            identifier,
        })
        .map_err(|_| SubscribeError::Full)?;
    Ok(false)
}

/// Removes a subscription; `true` if it existed.
pub(crate) fn unsubscribe<B: OwnedBytes, T: Slots<StoredSubscription<B>>>(
    table: &mut T,
    filter: &str,
) -> bool {
    table
        .position(|s| s.filter.as_ref() == filter.as_bytes())
        .and_then(|i| table.remove(i))
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = heapless::Vec<u8, 16>;

    #[test]
    fn add_replace_remove_mqtt_3_8_4_3() {
        let mut t: heapless::Vec<StoredSubscription<B>, 2> = heapless::Vec::new();
        let mut o = SubscriptionOptions::new(QoS::AtLeastOnce);
        assert_eq!(subscribe(&mut t, "a/+", o, None), Ok(false));
        o.no_local = true;
        o.retain_handling = RetainHandling::DoNotSend;
        let id = NonZeroU32::new(7);
        assert_eq!(subscribe(&mut t, "a/+", o, id), Ok(true));
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].options(), o);
        assert_eq!(t[0].identifier(), id);
        assert_eq!(
            subscribe(&mut t, "a/#/b", o, None),
            Err(SubscribeError::InvalidFilter)
        );
        assert_eq!(subscribe(&mut t, "$share/g/x", o, None), Ok(false));
        assert_eq!(subscribe(&mut t, "c", o, None), Err(SubscribeError::Full));
        assert!(unsubscribe(&mut t, "a/+"));
        assert!(!unsubscribe(&mut t, "a/+"));
        assert_eq!(t[0].filter(), "$share/g/x");
    }
}

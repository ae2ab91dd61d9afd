//! One-pass encoders for the packets a 3.1 / 3.1.1 client sends with a body: CONNECT,
//! SUBSCRIBE and UNSUBSCRIBE, used by [`Connect::encode`], [`Subscribe::encode`] and
//! [`Unsubscribe::encode`] in builds without feature `v5`.
//!
//! Without 5.0 there are no property blocks, so a body is a few fixed bytes and
//! length-prefixed fields: its length is a sum, checked field by field, and the packet is
//! then written straight into the caller's slice. Firmware that only speaks 3.1.1 links
//! neither the two-pass [`Writer`](super::wire::Writer) nor the per-type body writers
//! (about 500 bytes of flash). The bytes and errors are those of [`Packet::encode`]
//! (`tests::v3` compares them), checked in the same order: the value checks of each
//! field in field order, then [`EncodeError::PacketTooLarge`], then
//! [`EncodeError::InsufficientSize`].

#[cfg(doc)]
use super::Packet;
use super::SliceWriter as Cursor;
use super::subscribe::check_filter;
use super::{
    Connect, EncodeError, Filters, PacketId, PacketType, Subscribe, Subscription, Subscriptions,
    Unsubscribe,
};

/// Adds the length of a Two Byte length-prefixed field (a UTF-8 Encoded String when
/// `string`: U+0000 is refused) to `len`.
fn add_field(len: &mut usize, bytes: &[u8], string: bool) -> Result<(), EncodeError> {
    // A byte loop: `contains` links a word-at-a-time search (about 150 bytes of flash).
    if string && !bytes.iter().all(|&b| b != 0) {
        return Err(EncodeError::InvalidString);
    }
    if u16::try_from(bytes.len()).is_err() {
        return Err(EncodeError::FieldTooLong { len: bytes.len() });
    }
    *len = len.saturating_add(2 + bytes.len());
    Ok(())
}

/// CONNECT (3.1 / 3.1.1).
pub(crate) fn connect(c: &Connect<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    let flags = c.flags_v3()?;
    let v = c.protocol;
    let name = v.protocol_name().as_bytes();
    let will = c
        .will
        .as_ref()
        .map(|w| (w.topic.as_str().as_bytes(), w.payload));
    // Field by field in wire order; the Protocol Level, Connect Flags and Keep Alive
    // (4 bytes) follow the Protocol Name.
    let mut len = 4;
    add_field(&mut len, name, true)?;
    add_field(&mut len, c.client_id.as_bytes(), true)?;
    if let Some((topic, payload)) = will {
        add_field(&mut len, topic, true)?;
        add_field(&mut len, payload, false)?;
    }
    if let Some(u) = c.username {
        add_field(&mut len, u.as_bytes(), true)?;
    }
    if let Some(p) = c.password {
        add_field(&mut len, p, false)?;
    }
    let mut w = Cursor::packet(out, (PacketType::Connect as u8) << 4, len)?;
    let [k0, k1] = c.keep_alive.to_be_bytes();
    w.field(name);
    w.put(&[v.level(), flags, k0, k1]);
    w.field(c.client_id.as_bytes());
    if let Some((topic, payload)) = will {
        w.field(topic);
        w.field(payload);
    }
    if let Some(u) = c.username {
        w.field(u.as_bytes());
    }
    if let Some(p) = c.password {
        w.field(p);
    }
    Ok(w.position())
}

/// SUBSCRIBE / UNSUBSCRIBE (3.1 / 3.1.1): the packet identifier, then each filter, with its
/// options byte for SUBSCRIBE. `filters` yields the same items each time it is cloned.
fn filter_list<'a>(
    packet_type: PacketType,
    packet_id: PacketId,
    filters: impl Iterator<Item = (&'a str, Option<u8>)> + Clone,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let (len, count) = walk(filters.clone(), None)?;
    if count == 0 {
        return Err(EncodeError::EmptyList);
    }
    let flags = packet_type.required_flags().unwrap_or(0);
    let mut w = Cursor::packet(
        out,
        ((packet_type as u8) << 4) | flags,
        len.saturating_add(2),
    )?;
    w.put(&packet_id.get().to_be_bytes());
    walk(filters, Some(&mut w))?;
    Ok(w.position())
}

/// One loop for both passes over the filters (the list iterator is inlined once): without
/// `w`, checks each filter and returns the summed length and the count; with `w`, writes
/// them.
#[inline(never)]
fn walk<'a>(
    filters: impl Iterator<Item = (&'a str, Option<u8>)>,
    mut w: Option<&mut Cursor<'_>>,
) -> Result<(usize, usize), EncodeError> {
    let mut len = 0usize;
    let mut count = 0usize;
    for (filter, options) in filters {
        if let Some(w) = w.as_deref_mut() {
            w.field(filter.as_bytes());
            if let Some(o) = options {
                w.put(&[o]);
            }
        } else {
            check_filter(false, filter).ok_or(EncodeError::InvalidTopicFilter)?;
            add_field(&mut len, filter.as_bytes(), true)?;
            len = len.saturating_add(usize::from(options.is_some()));
        }
        count += 1;
    }
    Ok((len, count))
}

/// SUBSCRIBE (3.1 / 3.1.1: the options byte carries the QoS only).
///
/// A list of the application's slice is walked as a slice: a client builds its SUBSCRIBE
/// from one, so the decoded-list path is left out of its firmware where the call inlines.
#[inline]
pub(crate) fn subscribe(s: &Subscribe<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    fn item<'a>(sub: &Subscription<'a>) -> (&'a str, Option<u8>) {
        (sub.filter, Some(sub.options.to_byte(false)))
    }
    match s.filters {
        Subscriptions::Slice(list) => filter_list(
            PacketType::Subscribe,
            s.packet_id,
            list.iter().map(item),
            out,
        ),
        Subscriptions::Encoded(_) => {
            let filters = s.filters.iter().map(|sub| item(&sub));
            filter_list(PacketType::Subscribe, s.packet_id, filters, out)
        }
    }
}

/// UNSUBSCRIBE (3.1 / 3.1.1); a slice walked as a slice, as for [`subscribe`].
#[inline]
pub(crate) fn unsubscribe(u: &Unsubscribe<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    match u.filters {
        Filters::Slice(list) => {
            let filters = list.iter().map(|&f| (f, None));
            filter_list(PacketType::Unsubscribe, u.packet_id, filters, out)
        }
        Filters::Encoded(_) => {
            let filters = u.filters.iter().map(|f| (f, None));
            filter_list(PacketType::Unsubscribe, u.packet_id, filters, out)
        }
    }
}

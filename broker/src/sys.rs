//! `$SYS/broker/...`: broker statistics published as retained messages every
//! `sys_interval_secs`, under Mosquitto's topic names where Mosquitto has one.
//!
//! Counters are per shard (single-writer, no read-modify-write on the hot path) and summed
//! here; connection counts come from the broker-wide [`Stats`](crate::server::Stats).

use std::sync::atomic::{AtomicU64, Ordering};

use tern_core::codec::QoS;
use tern_core::session::{Instant, Message};

use crate::session::Payload;
use crate::shard::{Counters, ShardCtx};

/// The counters of every shard, summed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) msgs_received: u64,
    pub(crate) msgs_sent: u64,
    pub(crate) pub_received: u64,
    pub(crate) pub_sent: u64,
    pub(crate) pub_dropped: u64,
    pub(crate) bytes_received: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) protocol_errors: u64,
}

pub(crate) fn totals(counters: &[Counters]) -> Totals {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    counters.iter().fold(Totals::default(), |t, c| Totals {
        msgs_received: t.msgs_received + get(&c.msgs_received),
        msgs_sent: t.msgs_sent + get(&c.msgs_sent),
        pub_received: t.pub_received + get(&c.pub_received),
        pub_sent: t.pub_sent + get(&c.pub_sent),
        pub_dropped: t.pub_dropped + get(&c.pub_dropped),
        bytes_received: t.bytes_received + get(&c.bytes_received),
        bytes_sent: t.bytes_sent + get(&c.bytes_sent),
        protocol_errors: t.protocol_errors + get(&c.protocol_errors),
    })
}

/// Publishes the current values (retained, QoS 0) through the normal routing path.
pub(crate) fn publish(ctx: &ShardCtx, now: Instant) {
    let shared = &ctx.shared;
    let t = totals(&shared.counters);
    let (subscriptions, retained) = {
        let r = shared.router.state();
        (r.index().len(), r.retained.len())
    };
    let uptime = shared.started.elapsed().as_secs();
    let stats = &shared.stats;
    let values: [(&str, String); 16] = [
        ("$SYS/broker/version", crate::VERSION.to_owned()),
        ("$SYS/broker/uptime", format!("{uptime} seconds")),
        (
            "$SYS/broker/clients/connected",
            stats.connections().to_string(),
        ),
        ("$SYS/broker/clients/total", stats.accepted().to_string()),
        ("$SYS/broker/clients/refused", stats.refused().to_string()),
        ("$SYS/broker/messages/received", t.msgs_received.to_string()),
        ("$SYS/broker/messages/sent", t.msgs_sent.to_string()),
        (
            "$SYS/broker/publish/messages/received",
            t.pub_received.to_string(),
        ),
        ("$SYS/broker/publish/messages/sent", t.pub_sent.to_string()),
        (
            "$SYS/broker/publish/messages/dropped",
            t.pub_dropped.to_string(),
        ),
        (
            "$SYS/broker/load/bytes/received",
            t.bytes_received.to_string(),
        ),
        ("$SYS/broker/load/bytes/sent", t.bytes_sent.to_string()),
        ("$SYS/broker/subscriptions/count", subscriptions.to_string()),
        ("$SYS/broker/retained messages/count", retained.to_string()),
        ("$SYS/broker/protocol/errors", t.protocol_errors.to_string()),
        (
            "$SYS/broker/shards",
            shared.router.inboxes.len().to_string(),
        ),
    ];
    for (topic, value) in values {
        if let Ok(m) = Message::<Payload>::new(topic, value.as_bytes(), QoS::AtMostOnce, true) {
            ctx.publish(None, &m, now);
        }
    }
}

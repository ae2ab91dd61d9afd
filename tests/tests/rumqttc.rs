//! Interop with rumqttc (bytebeamio/rumqtt), both its 3.1.1 client (`rumqttc::Client`) and
//! its 5.0 client (`rumqttc::v5::Client`), through their blocking front ends. Each client's
//! event loop runs on its own thread and forwards events to the test over a channel; the
//! loop stops at the first connection error (no automatic reconnect), so a test sees
//! exactly what the broker did.

use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tern_tests::{Broker, Proxy, QUIET, RawClient, TIMEOUT, mosquitto_deviates};

/// The 3.1.1 client.
mod v4 {
    use super::*;
    pub(crate) use rumqttc::{
        Client, ConnAck, ConnectReturnCode, ConnectionError, Event, LastWill, MqttOptions,
        Outgoing, Packet, Publish, QoS,
    };

    /// A connected rumqttc 3.1.1 client and its events.
    pub(crate) struct C {
        pub(crate) client: Client,
        events: Receiver<Result<Event, ConnectionError>>,
        pub(crate) seen: Vec<String>,
    }

    pub(crate) fn options(broker: &Broker, id: &str) -> MqttOptions {
        options_at(broker.port(), id)
    }

    /// Options for a client connecting through port `port` (e.g. a [`Proxy`]).
    pub(crate) fn options_at(port: u16, id: &str) -> MqttOptions {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    /// Connects with `o` and waits for the CONNACK.
    pub(crate) fn connect(o: MqttOptions) -> (C, ConnAck) {
        let (client, mut conn) = Client::new(o, 64);
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                let stop = ev.is_err();
                if tx.send(ev).is_err() || stop {
                    break;
                }
            }
        });
        let mut c = C {
            client,
            events,
            seen: Vec::new(),
        };
        let ack = match c.wait(|p| matches!(p, Packet::ConnAck(_)), "CONNACK") {
            Packet::ConnAck(a) => a,
            _ => unreachable!(),
        };
        assert_eq!(ack.code, ConnectReturnCode::Success, "{ack:?}");
        (c, ack)
    }

    pub(crate) fn client(broker: &Broker, id: &str) -> C {
        connect(options(broker, id)).0
    }

    impl C {
        /// The next event within `timeout`: `None` on timeout.
        pub(crate) fn next(&mut self, timeout: Duration) -> Option<Result<Event, ConnectionError>> {
            let ev = self.events.recv_timeout(timeout).ok()?;
            self.seen.push(format!("{ev:?}"));
            Some(ev)
        }

        /// Waits for an incoming packet satisfying `f`.
        pub(crate) fn wait(&mut self, f: impl Fn(&Packet) -> bool, what: &str) -> Packet {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.next(left) {
                    Some(Ok(Event::Incoming(p))) if f(&p) => return p,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("waiting for {what}: connection error {e:?}"),
                    None => panic!("timed out waiting for {what}; seen {:#?}", self.seen),
                }
            }
        }

        pub(crate) fn subscribe(&mut self, filter: &str, qos: QoS) {
            self.client.subscribe(filter, qos).unwrap();
            self.wait(|p| matches!(p, Packet::SubAck(_)), "SUBACK");
        }

        /// Publishes and, for QoS 1/2, waits for the flow to complete.
        pub(crate) fn publish(&mut self, topic: &str, qos: QoS, retain: bool, payload: &[u8]) {
            self.client
                .publish(topic, qos, retain, payload.to_vec())
                .unwrap();
            match qos {
                QoS::AtMostOnce => {
                    self.wait_outgoing(|o| matches!(o, Outgoing::Publish(_)), "PUBLISH out")
                }
                QoS::AtLeastOnce => {
                    self.wait(|p| matches!(p, Packet::PubAck(_)), "PUBACK");
                }
                QoS::ExactlyOnce => {
                    self.wait(|p| matches!(p, Packet::PubComp(_)), "PUBCOMP");
                }
            }
        }

        fn wait_outgoing(&mut self, f: impl Fn(&Outgoing) -> bool, what: &str) {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.next(left) {
                    Some(Ok(Event::Outgoing(o))) if f(&o) => return,
                    Some(Ok(_)) => {}
                    other => panic!("waiting for {what}: {other:?}; seen {:#?}", self.seen),
                }
            }
        }

        /// The next incoming PUBLISH.
        pub(crate) fn recv(&mut self) -> Publish {
            match self.wait(|p| matches!(p, Packet::Publish(_)), "PUBLISH") {
                Packet::Publish(p) => p,
                _ => unreachable!(),
            }
        }

        /// Asserts that no PUBLISH arrives for [`QUIET`].
        pub(crate) fn no_publish(&mut self) {
            let extra = self.publishes_until_quiet();
            assert!(extra.is_empty(), "unexpected PUBLISH {extra:?}");
        }

        /// Every PUBLISH that arrives until none has for [`QUIET`].
        pub(crate) fn publishes_until_quiet(&mut self) -> Vec<Publish> {
            let mut got = Vec::new();
            let mut deadline = Instant::now() + QUIET;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.next(left) {
                    None => return got,
                    Some(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        got.push(p);
                        deadline = Instant::now() + QUIET;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("connection error {e:?}"),
                }
            }
        }

        /// Waits until the connection ends; returns the error that ended it.
        pub(crate) fn closed(&mut self) -> ConnectionError {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.next(left) {
                    Some(Err(e)) => return e,
                    Some(Ok(_)) => {}
                    None => panic!("connection not closed; seen {:#?}", self.seen),
                }
            }
        }

        /// Sends DISCONNECT and waits until it has been written.
        pub(crate) fn disconnect(mut self) {
            self.client.disconnect().unwrap();
            self.wait_outgoing(|o| matches!(o, Outgoing::Disconnect), "DISCONNECT out");
            // The event loop then ends; give the socket close a moment to be seen.
            let _ = self.next(Duration::from_millis(200));
        }
    }
}

/// The 5.0 client.
mod v5 {
    use super::*;
    pub(crate) use rumqttc::Outgoing;
    pub(crate) use rumqttc::v5::mqttbytes::QoS;
    pub(crate) use rumqttc::v5::mqttbytes::v5::{
        ConnAck, ConnectReturnCode, DisconnectReasonCode, Filter, LastWill, Packet, Publish,
        PublishProperties, RetainForwardRule, SubscribeProperties, SubscribeReasonCode,
    };
    pub(crate) use rumqttc::v5::{Client, ConnectionError, Event, MqttOptions, StateError};

    /// A connected rumqttc 5.0 client and its events.
    pub(crate) struct C {
        pub(crate) client: Client,
        events: Receiver<Result<Event, ConnectionError>>,
        pub(crate) seen: Vec<String>,
    }

    pub(crate) fn options(broker: &Broker, id: &str) -> MqttOptions {
        options_at(broker.port(), id)
    }

    /// Options for a client connecting through port `port` (e.g. a [`Proxy`]).
    pub(crate) fn options_at(port: u16, id: &str) -> MqttOptions {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    pub(crate) fn connect(o: MqttOptions) -> (C, ConnAck) {
        let (client, mut conn) = Client::new(o, 64);
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                let stop = ev.is_err();
                if tx.send(ev).is_err() || stop {
                    break;
                }
            }
        });
        let mut c = C {
            client,
            events,
            seen: Vec::new(),
        };
        let ack = match c.wait(|p| matches!(p, Packet::ConnAck(_)), "CONNACK") {
            Packet::ConnAck(a) => a,
            _ => unreachable!(),
        };
        assert_eq!(ack.code, ConnectReturnCode::Success, "{ack:?}");
        (c, ack)
    }

    pub(crate) fn client(broker: &Broker, id: &str) -> C {
        connect(options(broker, id)).0
    }

    impl C {
        pub(crate) fn next(&mut self, timeout: Duration) -> Option<Result<Event, ConnectionError>> {
            let ev = self.events.recv_timeout(timeout).ok()?;
            self.seen.push(format!("{ev:?}"));
            Some(ev)
        }

        pub(crate) fn wait(&mut self, f: impl Fn(&Packet) -> bool, what: &str) -> Packet {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.next(left) {
                    Some(Ok(Event::Incoming(p))) if f(&p) => return p,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("waiting for {what}: connection error {e:?}"),
                    None => panic!("timed out waiting for {what}; seen {:#?}", self.seen),
                }
            }
        }

        /// Subscribes (one filter) and returns the SUBACK reason codes.
        pub(crate) fn subscribe_filters(
            &mut self,
            filters: Vec<Filter>,
            props: Option<SubscribeProperties>,
        ) -> Vec<SubscribeReasonCode> {
            match props {
                Some(p) => self.client.subscribe_many_with_properties(filters, p),
                None => self.client.subscribe_many(filters),
            }
            .unwrap();
            match self.wait(|p| matches!(p, Packet::SubAck(_)), "SUBACK") {
                Packet::SubAck(a) => a.return_codes,
                _ => unreachable!(),
            }
        }

        pub(crate) fn subscribe(&mut self, filter: &str, qos: QoS) {
            let codes = self.subscribe_filters(vec![Filter::new(filter, qos)], None);
            assert_eq!(codes, [SubscribeReasonCode::Success(qos)], "{filter}");
        }

        pub(crate) fn publish_with(
            &mut self,
            topic: &str,
            qos: QoS,
            retain: bool,
            payload: &[u8],
            props: Option<PublishProperties>,
        ) {
            match props {
                Some(p) => {
                    self.client
                        .publish_with_properties(topic, qos, retain, payload.to_vec(), p)
                }
                None => self.client.publish(topic, qos, retain, payload.to_vec()),
            }
            .unwrap();
            match qos {
                QoS::AtMostOnce => {
                    self.wait_outgoing(|o| matches!(o, Outgoing::Publish(_)), "PUBLISH out")
                }
                QoS::AtLeastOnce => {
                    self.wait(|p| matches!(p, Packet::PubAck(_)), "PUBACK");
                }
                QoS::ExactlyOnce => {
                    self.wait(|p| matches!(p, Packet::PubComp(_)), "PUBCOMP");
                }
            }
        }

        pub(crate) fn publish(&mut self, topic: &str, qos: QoS, retain: bool, payload: &[u8]) {
            self.publish_with(topic, qos, retain, payload, None)
        }

        fn wait_outgoing(&mut self, f: impl Fn(&Outgoing) -> bool, what: &str) {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.next(left) {
                    Some(Ok(Event::Outgoing(o))) if f(&o) => return,
                    Some(Ok(_)) => {}
                    other => panic!("waiting for {what}: {other:?}; seen {:#?}", self.seen),
                }
            }
        }

        pub(crate) fn recv(&mut self) -> Publish {
            match self.wait(|p| matches!(p, Packet::Publish(_)), "PUBLISH") {
                Packet::Publish(p) => p,
                _ => unreachable!(),
            }
        }

        pub(crate) fn no_publish(&mut self) {
            let deadline = Instant::now() + QUIET;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.next(left) {
                    None => return,
                    Some(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        panic!("unexpected PUBLISH {p:?}")
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("connection error {e:?}"),
                }
            }
        }

        pub(crate) fn closed(&mut self) -> ConnectionError {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.next(left) {
                    Some(Err(e)) => return e,
                    Some(Ok(_)) => {}
                    None => panic!("connection not closed; seen {:#?}", self.seen),
                }
            }
        }

        pub(crate) fn disconnect(mut self) {
            self.client.disconnect().unwrap();
            self.wait_outgoing(|o| matches!(o, Outgoing::Disconnect), "DISCONNECT out");
            let _ = self.next(Duration::from_millis(200));
        }
    }

    /// The topic of a received 5.0 PUBLISH.
    pub(crate) fn topic(p: &Publish) -> &str {
        std::str::from_utf8(&p.topic).unwrap()
    }

    /// The properties of a received PUBLISH (empty if none).
    pub(crate) fn props(p: &Publish) -> PublishProperties {
        p.properties.clone().unwrap_or_default()
    }
}

fn q4(n: u8) -> v4::QoS {
    [
        v4::QoS::AtMostOnce,
        v4::QoS::AtLeastOnce,
        v4::QoS::ExactlyOnce,
    ][usize::from(n)]
}

fn q5(n: u8) -> v5::QoS {
    [
        v5::QoS::AtMostOnce,
        v5::QoS::AtLeastOnce,
        v5::QoS::ExactlyOnce,
    ][usize::from(n)]
}

/// Topics received within [`QUIET`] after the first, sorted (3.1.1 client).
fn drain4(c: &mut v4::C) -> Vec<String> {
    let mut got = Vec::new();
    while let Some(ev) = c.next(QUIET) {
        if let Ok(v4::Event::Incoming(v4::Packet::Publish(p))) = ev {
            got.push(p.topic);
        }
    }
    got.sort();
    got
}

// --- wildcards -------------------------------------------------------------------------

/// Wildcards (3.1.1 4.7.1, 5.0 4.7.1): `+` matches one level, `#` any number including
/// the parent level (4.7.1.2: "sport/#" matches "sport"); topics starting with `$` are
/// not matched by filters starting with a wildcard [MQTT-4.7.2-1].
#[test]
fn v4_wildcards_and_dollar_topics_mqtt_4_7_2_1() {
    let broker = Broker::start();
    let mut plus = v4::client(&broker, "w-plus");
    plus.subscribe("a/+/c", q4(0));
    let mut hash = v4::client(&broker, "w-hash");
    hash.subscribe("a/#", q4(0));
    let mut all = v4::client(&broker, "w-all");
    all.subscribe("#", q4(0));
    let mut first_plus = v4::client(&broker, "w-first");
    first_plus.subscribe("+/x", q4(0));
    let mut dollar = v4::client(&broker, "w-dollar");
    dollar.subscribe("$app/#", q4(0));

    let mut p = v4::client(&broker, "w-pub");
    for t in ["a/b/c", "a/b", "a", "a/b/c/d", "b/c", "$app/x", "x"] {
        p.publish(t, q4(1), false, b"m");
    }
    // Drain the publisher's own copy of nothing: it has no subscription.
    assert_eq!(drain4(&mut plus), ["a/b/c"]);
    assert_eq!(drain4(&mut hash), ["a", "a/b", "a/b/c", "a/b/c/d"]);
    assert_eq!(
        drain4(&mut all),
        ["a", "a/b", "a/b/c", "a/b/c/d", "b/c", "x"]
    );
    assert_eq!(
        drain4(&mut first_plus),
        Vec::<String>::new(),
        "`+/x` must not match `$app/x`"
    );
    assert_eq!(drain4(&mut dollar), ["$app/x"]);
}

/// The same matching rules for the 5.0 client, plus `+` at several levels and an empty
/// level (`a//c`).
#[test]
fn v5_wildcards_and_dollar_topics_mqtt_4_7_2_1() {
    let broker = Broker::start();
    let mut s = v5::client(&broker, "w5");
    s.subscribe("+/+/c", q5(1));
    let mut dollar = v5::client(&broker, "w5-dollar");
    dollar.subscribe("$app/+", q5(1));
    let mut p = v5::client(&broker, "w5-pub");
    for t in ["a/b/c", "a//c", "/b/c", "a/b/c/d", "$app/b/c", "$app/x"] {
        p.publish(t, q5(1), false, b"m");
    }
    let mut got = Vec::new();
    while let Some(ev) = s.next(QUIET) {
        if let Ok(v5::Event::Incoming(v5::Packet::Publish(p))) = ev {
            got.push(v5::topic(&p).to_owned());
        }
    }
    got.sort();
    assert_eq!(got, ["/b/c", "a//c", "a/b/c"]);
    assert_eq!(v5::topic(&dollar.recv()), "$app/x");
    dollar.no_publish();
}

// --- QoS -------------------------------------------------------------------------------

/// QoS 0/1/2 end to end, each delivered at min(published QoS, granted QoS)
/// (3.1.1 [MQTT-3.8.4-6] / 4.3, 5.0 [MQTT-3.8.4-8]): a QoS 1 subscription receives QoS 2
/// messages at QoS 1.
#[test]
fn v4_qos_end_to_end_with_downgrade() {
    let broker = Broker::start();
    for granted in 0..=2 {
        let mut s = v4::client(&broker, &format!("q-sub-{granted}"));
        s.subscribe("q/t", q4(granted));
        let mut p = v4::client(&broker, &format!("q-pub-{granted}"));
        for qos in 0..=2 {
            p.publish("q/t", q4(qos), false, format!("{qos}").as_bytes());
            let m = s.recv();
            assert_eq!(m.payload, format!("{qos}").as_bytes());
            assert_eq!(
                m.qos,
                q4(qos.min(granted)),
                "published {qos}, granted {granted}"
            );
            assert!(!m.retain && !m.dup);
        }
        s.no_publish();
    }
}

/// The same for the 5.0 client, with the subscriber and publisher on different protocol
/// versions in both directions.
#[test]
fn v5_qos_end_to_end_with_downgrade_and_mixed_versions() {
    let broker = Broker::start();
    for granted in 0..=2 {
        let mut s = v5::client(&broker, &format!("q5-sub-{granted}"));
        s.subscribe("q5/t", q5(granted));
        let mut s4 = v4::client(&broker, &format!("q4-sub-{granted}"));
        s4.subscribe("q5/t", q4(granted));
        let mut p = v5::client(&broker, &format!("q5-pub-{granted}"));
        for qos in 0..=2 {
            p.publish("q5/t", q5(qos), false, format!("{qos}").as_bytes());
            let m = s.recv();
            assert_eq!(
                (m.payload.as_ref(), m.qos),
                (format!("{qos}").as_bytes(), q5(qos.min(granted)))
            );
            let m = s4.recv();
            assert_eq!(
                (m.payload.as_ref(), m.qos),
                (format!("{qos}").as_bytes(), q4(qos.min(granted)))
            );
        }
        s.no_publish();
    }
}

// --- retained --------------------------------------------------------------------------

/// Retained messages (3.1.1 3.3.1.3): stored and sent to new subscribers with RETAIN 1
/// [MQTT-3.3.1-5] / [MQTT-3.3.1-8]; replaced by the next retained message on the topic;
/// cleared by an empty retained message [MQTT-3.3.1-10]; live deliveries to existing
/// subscriptions carry RETAIN 0 [MQTT-3.3.1-9].
#[test]
fn v4_retained_set_replace_clear_mqtt_3_3_1_5() {
    let broker = Broker::start();
    let mut p = v4::client(&broker, "r-pub");
    let mut live = v4::client(&broker, "r-live");
    live.subscribe("r/#", q4(1));

    p.publish("r/a", q4(1), true, b"one");
    let m = live.recv();
    assert_eq!((m.payload.as_ref(), m.retain), (&b"one"[..], false));
    let mut s = v4::client(&broker, "r-sub1");
    s.subscribe("r/+", q4(1));
    let m = s.recv();
    assert_eq!(
        (m.topic.as_str(), m.payload.as_ref(), m.retain),
        ("r/a", &b"one"[..], true)
    );
    s.no_publish();

    p.publish("r/a", q4(2), true, b"two");
    assert_eq!(live.recv().payload.as_ref(), b"two");
    let mut s = v4::client(&broker, "r-sub2");
    s.subscribe("r/a", q4(2));
    let m = s.recv();
    assert_eq!(
        (m.payload.as_ref(), m.retain, m.qos),
        (&b"two"[..], true, q4(2))
    );
    s.no_publish();

    p.publish("r/a", q4(0), true, b"");
    assert_eq!(live.recv().payload.as_ref(), b"");
    let mut s = v4::client(&broker, "r-sub3");
    s.subscribe("r/#", q4(1));
    s.no_publish();
}

/// 5.0 retained messages: delivered on subscribe with RETAIN 1, with the QoS downgraded to
/// the subscription's, and their properties kept.
#[test]
fn v5_retained_delivery_on_subscribe() {
    let broker = Broker::start();
    let mut p = v5::client(&broker, "r5-pub");
    let props = v5::PublishProperties {
        user_properties: vec![("k".into(), "v".into())],
        content_type: Some("text/plain".into()),
        ..Default::default()
    };
    p.publish_with("r5/a", q5(2), true, b"kept", Some(props.clone()));
    p.publish("r5/b", q5(1), true, b"also");
    let mut s = v5::client(&broker, "r5-sub");
    s.subscribe("r5/#", q5(1));
    let mut got = [s.recv(), s.recv()];
    got.sort_by(|a, b| a.topic.cmp(&b.topic));
    assert_eq!(v5::topic(&got[0]), "r5/a");
    assert!(got[0].retain && got[1].retain);
    assert_eq!(got[0].qos, q5(1));
    let gp = v5::props(&got[0]);
    assert_eq!(gp.user_properties, props.user_properties);
    assert_eq!(gp.content_type, props.content_type);
    assert_eq!(got[1].payload.as_ref(), b"also");
    s.no_publish();
}

// --- wills -----------------------------------------------------------------------------

/// Will messages (3.1.1 3.1.2.5): published when the connection ends without DISCONNECT
/// [MQTT-3.1.2-8]; not published after a normal DISCONNECT [MQTT-3.1.2-10].
#[test]
fn v4_will_on_abnormal_close_only_mqtt_3_1_2_8() {
    let broker = Broker::start();
    let mut w = v4::client(&broker, "will-watch");
    w.subscribe("will/#", q4(1));

    let proxy = Proxy::start(&broker);
    let mut o = v4::options_at(proxy.port(), "will-dies");
    o.set_last_will(v4::LastWill::new("will/dies", "dead", q4(1), false));
    let (_dies, _) = v4::connect(o);
    proxy.cut();
    let m = w.recv();
    assert_eq!(
        (m.topic.as_str(), m.payload.as_ref(), m.qos),
        ("will/dies", &b"dead"[..], q4(1))
    );

    let mut o = v4::options(&broker, "will-polite");
    o.set_last_will(v4::LastWill::new("will/polite", "dead", q4(1), false));
    let (polite, _) = v4::connect(o);
    polite.disconnect();
    w.no_publish();
}

/// 5.0 wills: abnormal close publishes it with its properties; DISCONNECT 0x00 does not
/// [MQTT-3.1.2-10]; a retained will is retained.
#[test]
fn v5_will_on_abnormal_close_only_mqtt_3_1_2_8() {
    let broker = Broker::start();
    let mut w = v5::client(&broker, "will5-watch");
    w.subscribe("will5/#", q5(1));

    let proxy = Proxy::start(&broker);
    let mut o = v5::options_at(proxy.port(), "will5-dies");
    let props = rumqttc::v5::mqttbytes::v5::LastWillProperties {
        delay_interval: None,
        payload_format_indicator: Some(1),
        message_expiry_interval: None,
        content_type: Some("text/plain".into()),
        response_topic: None,
        correlation_data: None,
        user_properties: vec![("why".into(), "crash".into())],
    };
    o.set_last_will(v5::LastWill::new(
        "will5/dies",
        "dead",
        q5(1),
        true,
        Some(props),
    ));
    let (_dies, _) = v5::connect(o);
    proxy.cut();
    let m = w.recv();
    assert_eq!(v5::topic(&m), "will5/dies");
    assert_eq!(m.payload.as_ref(), b"dead");
    let p = v5::props(&m);
    assert_eq!(p.user_properties, [("why".to_owned(), "crash".to_owned())]);
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
    assert_eq!(p.payload_format_indicator, Some(1));
    // Retained.
    let mut late = v5::client(&broker, "will5-late");
    late.subscribe("will5/dies", q5(1));
    let m = late.recv();
    assert!(m.retain && m.payload.as_ref() == b"dead");

    let mut o = v5::options(&broker, "will5-polite");
    o.set_last_will(v5::LastWill::new(
        "will5/polite",
        "dead",
        q5(1),
        false,
        None,
    ));
    let (polite, _) = v5::connect(o);
    polite.disconnect();
    w.no_publish();
}

// --- persistent sessions ---------------------------------------------------------------

/// 3.1.1 persistent session (CleanSession 0): subscriptions and QoS 1/2 messages published
/// while the client is offline survive [MQTT-3.1.2-4] / [MQTT-3.1.2-5]; the CONNACK says
/// Session Present [MQTT-3.2.2-2]; a clean session then discards it [MQTT-3.1.2-6].
#[test]
fn v4_persistent_session_across_reconnect_mqtt_3_1_2_4() {
    let broker = Broker::start();
    let mut o = v4::options(&broker, "persist");
    o.set_clean_session(false);
    let (mut c, ack) = v4::connect(o.clone());
    assert!(!ack.session_present, "new session [MQTT-3.2.2-3]");
    c.subscribe("p/#", q4(2));
    c.disconnect();

    let mut p = v4::client(&broker, "persist-pub");
    p.publish("p/1", q4(1), false, b"one");
    p.publish("p/2", q4(2), false, b"two");
    p.publish("p/0", q4(0), false, b"zero"); // QoS 0 need not be kept

    let (mut c, ack) = v4::connect(o);
    assert!(ack.session_present, "Session Present [MQTT-3.2.2-2]");
    // QoS 1 and 2 must be there [MQTT-3.1.2-5]; the QoS 0 one may be, once (the server
    // MAY keep it, e.g. when it was routed just before the broker saw the DISCONNECT); no
    // order is promised across topics.
    let mut got = Vec::new();
    while got.iter().filter(|(_, q)| *q != q4(0)).count() < 2 {
        let m = c.recv();
        got.push((m.topic, m.qos));
    }
    got.extend(
        c.publishes_until_quiet()
            .into_iter()
            .map(|m| (m.topic, m.qos)),
    );
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let zeros = got.iter().filter(|(t, _)| t == "p/0").count();
    assert!(zeros <= 1, "the QoS 0 message came {zeros} times: {got:?}");
    got.retain(|(t, _)| t != "p/0");
    assert_eq!(got, [("p/1".into(), q4(1)), ("p/2".into(), q4(2))]);
    // The subscription itself survived too.
    p.publish("p/3", q4(1), false, b"three");
    assert_eq!(c.recv().topic, "p/3");
    c.disconnect();

    let mut o = v4::options(&broker, "persist");
    o.set_clean_session(true);
    let (mut c, ack) = v4::connect(o);
    assert!(!ack.session_present, "[MQTT-3.2.2-1]");
    p.publish("p/4", q4(1), false, b"four");
    c.no_publish();
}

/// 5.0: Clean Start 0 with a Session Expiry Interval keeps the session across
/// connections [MQTT-3.1.2-5]; Session Present 1 [MQTT-3.2.2-2]; messages queued while
/// offline are delivered in order. With Session Expiry 0 the session ends with the
/// connection [MQTT-3.1.2-23 note].
#[test]
fn v5_persistent_session_with_expiry_mqtt_3_1_2_5() {
    let broker = Broker::start();
    let mut o = v5::options(&broker, "persist5");
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(60));
    let (mut c, ack) = v5::connect(o.clone());
    assert!(!ack.session_present);
    c.subscribe("p5/#", q5(1));
    c.disconnect();

    let mut p = v5::client(&broker, "persist5-pub");
    for i in 0..5 {
        p.publish(&format!("p5/{i}"), q5(1), false, b"m");
    }
    let (mut c, ack) = v5::connect(o);
    assert!(ack.session_present);
    for i in 0..5 {
        assert_eq!(v5::topic(&c.recv()), format!("p5/{i}"));
    }
    c.disconnect();

    // Expiry 0 (the default): nothing survives.
    let mut o = v5::options(&broker, "ephemeral5");
    o.set_clean_start(false);
    let (mut c, _) = v5::connect(o.clone());
    c.subscribe("e5/#", q5(1));
    c.disconnect();
    p.publish("e5/x", q5(1), false, b"lost");
    let (mut c, ack) = v5::connect(o);
    assert!(
        !ack.session_present,
        "session with expiry 0 must not survive"
    );
    c.no_publish();
}

// --- takeover --------------------------------------------------------------------------

/// 3.1.1 [MQTT-3.1.4-2]: a CONNECT with the client id of a connected client disconnects
/// the existing one; the new one works.
#[test]
fn v4_session_takeover_mqtt_3_1_4_2() {
    let broker = Broker::start();
    let mut old = v4::client(&broker, "same");
    old.subscribe("to/#", q4(1));
    let mut o = v4::options(&broker, "same");
    o.set_clean_session(false);
    let (mut new, _) = v4::connect(o);
    let e = old.closed();
    assert!(
        matches!(
            e,
            v4::ConnectionError::Io(_) | v4::ConnectionError::MqttState(_)
        ),
        "{e:?}"
    );
    new.subscribe("to/#", q4(1));
    let mut p = v4::client(&broker, "to-pub");
    p.publish("to/x", q4(1), false, b"m");
    assert_eq!(new.recv().topic, "to/x");
}

/// 5.0 [MQTT-3.1.4-3]: the existing connection gets DISCONNECT 0x8E Session taken over
/// before it is closed; a resumed session keeps its subscriptions.
#[test]
fn v5_session_takeover_gets_0x8e_mqtt_3_1_4_3() {
    let broker = Broker::start();
    let mut o = v5::options(&broker, "same5");
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(60));
    let (mut old, _) = v5::connect(o.clone());
    old.subscribe("to5/#", q5(1));
    let (mut new, ack) = v5::connect(o);
    assert!(ack.session_present, "the taken-over session is resumed");
    match old.closed() {
        v5::ConnectionError::MqttState(v5::StateError::ServerDisconnect {
            reason_code, ..
        }) => assert_eq!(reason_code, v5::DisconnectReasonCode::SessionTakenOver),
        e @ v5::ConnectionError::MqttState(v5::StateError::ConnectionAborted)
            if broker.kind() == tern_tests::BrokerKind::Tern =>
        {
            panic!(
                "expected DISCONNECT 0x8E, rumqttc saw {e:?}. rumqttc 0.25 cannot decode a \
                 DISCONNECT whose Remaining Length is 1 (reason code, Property Length \
                 omitted as 5.0 3.14.2.2 allows): it waits for the Property Length and then \
                 sees the close. Tern sends that short form; sending Property Length 0 \
                 explicitly (e0 02 8e 00) would interoperate."
            )
        }
        e if mosquitto_deviates(&format!(
            "Mosquitto 2.0.11 closes a taken-over 5.0 connection without DISCONNECT 0x8E \
             ({e:?})"
        )) => {}
        e => panic!("expected DISCONNECT 0x8E, got {e:?}"),
    }
    let mut p = v5::client(&broker, "to5-pub");
    p.publish("to5/x", q5(1), false, b"m");
    assert_eq!(v5::topic(&new.recv()), "to5/x");
}

// --- shared subscriptions --------------------------------------------------------------

/// 5.0 shared subscriptions (4.8.2): each message matching `$share/g/f` goes to exactly
/// one member of the group, spread over the members; an ordinary subscription on the same
/// filter still gets every message.
#[test]
fn v5_shared_subscription_round_robin_mqtt_4_8_2() {
    let broker = Broker::start();
    let mut m1 = v5::client(&broker, "share-1");
    m1.subscribe("$share/g/sh/#", q5(1));
    let mut m2 = v5::client(&broker, "share-2");
    m2.subscribe("$share/g/sh/#", q5(1));
    let mut plain = v5::client(&broker, "share-plain");
    plain.subscribe("sh/#", q5(1));
    let mut p = v5::client(&broker, "share-pub");
    let n = 10;
    for i in 0..n {
        p.publish(&format!("sh/{i}"), q5(1), false, b"m");
    }
    for i in 0..n {
        assert_eq!(v5::topic(&plain.recv()), format!("sh/{i}"));
    }
    let collect = |c: &mut v5::C| {
        let mut got = Vec::new();
        while let Some(ev) = c.next(QUIET) {
            if let Ok(v5::Event::Incoming(v5::Packet::Publish(p))) = ev {
                got.push(v5::topic(&p).to_owned());
            }
        }
        got
    };
    let a = collect(&mut m1);
    let b = collect(&mut m2);
    let mut all: Vec<_> = a.iter().chain(&b).cloned().collect();
    all.sort_by_key(|t| t[3..].parse::<u32>().unwrap());
    let want: Vec<String> = (0..n).map(|i| format!("sh/{i}")).collect();
    assert_eq!(all, want, "each message to exactly one member: {a:?} {b:?}");
    assert!(
        !a.is_empty() && !b.is_empty(),
        "not spread over the group: {a:?} {b:?}"
    );
}

// --- keep-alive ------------------------------------------------------------------------

/// A client that sends PINGREQ at its keep-alive stays connected well past 1.5 times it
/// (3.1.1 [MQTT-3.1.2-23]; rumqttc's 5.0 client allows no keep-alive under 5 s, so only
/// its 3.1.1 client is used here).
#[test]
fn keep_alive_pings_hold_the_connection() {
    let broker = Broker::start();
    let mut o = v4::options(&broker, "ka4");
    o.set_keep_alive(Duration::from_secs(1));
    let (mut c4, _) = v4::connect(o);
    let end = Instant::now() + Duration::from_millis(3500);
    let mut pings = 0;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if let Some(ev) = c4.next(left) {
            let ev = ev.unwrap_or_else(|e| panic!("3.1.1 client dropped: {e:?}"));
            pings += usize::from(matches!(ev, v4::Event::Incoming(v4::Packet::PingResp)));
        }
    }
    assert!(pings >= 2, "PINGRESPs: {pings}");
    c4.publish("ka/x", q4(1), false, b"alive");
}

/// 5.0 keep-alive timeout on a silent raw socket: DISCONNECT 0x8D
/// ([MQTT-3.1.2-22]); the rumqttc subscriber on its will sees it published.
#[test]
fn v5_silent_client_times_out_and_its_will_fires_mqtt_3_1_2_22() {
    use tern_core::codec::{Connect, Packet, ProtocolVersion, QoS, Will};
    let broker = Broker::start();
    let mut w = v5::client(&broker, "ka-watch");
    w.subscribe("ka/will", q5(1));
    let mut connect = Connect::new(ProtocolVersion::V5, "ka-silent");
    connect.keep_alive = 1;
    connect.will = Some(Will {
        topic: tern_core::topic::TopicName::new("ka/will").unwrap(),
        payload: b"timed out",
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Default::default(),
    });
    let (mut c, _) = RawClient::connect_with(&broker, &connect);
    let frames = c.expect_closed_frames();
    let reason = frames.first().map(|f| match f.decode(ProtocolVersion::V5) {
        Packet::Disconnect(d) => d.reason.code(),
        _ => panic!("{f:?}"),
    });
    if reason != Some(0x8D) && mosquitto_deviates("Mosquitto's keep-alive close differs") {
        return;
    }
    assert_eq!(reason, Some(0x8D), "{frames:?}");
    assert_eq!(w.recv().payload.as_ref(), b"timed out");
}

// --- 5.0 features ----------------------------------------------------------------------

/// 5.0 PUBLISH properties are forwarded unaltered: Payload Format Indicator
/// [MQTT-3.3.2-4], Response Topic [MQTT-3.3.2-15], Correlation Data [MQTT-3.3.2-16], User
/// Properties in order [MQTT-3.3.2-17] / [MQTT-3.3.2-18], Content Type [MQTT-3.3.2-20].
#[test]
fn v5_properties_are_forwarded_untouched_mqtt_3_3_2_17() {
    let broker = Broker::start();
    let mut s = v5::client(&broker, "props-sub");
    s.subscribe("pr/#", q5(2));
    let mut p = v5::client(&broker, "props-pub");
    let props = v5::PublishProperties {
        payload_format_indicator: Some(1),
        response_topic: Some("pr/reply".into()),
        correlation_data: Some(Bytes::from_static(b"\x00\x01corr\xFF")),
        user_properties: vec![
            ("k".into(), "v1".into()),
            ("a".into(), "b".into()),
            ("k".into(), "v2".into()),
            ("ünï".into(), "cødé".into()),
        ],
        content_type: Some("application/json".into()),
        ..Default::default()
    };
    for qos in 0..=2 {
        p.publish_with("pr/t", q5(qos), false, br#"{"x":1}"#, Some(props.clone()));
        let m = s.recv();
        let got = v5::props(&m);
        assert_eq!(got.payload_format_indicator, Some(1));
        assert_eq!(got.response_topic, props.response_topic);
        assert_eq!(got.correlation_data, props.correlation_data);
        assert_eq!(got.user_properties, props.user_properties, "order kept");
        assert_eq!(got.content_type, props.content_type);
        assert_eq!(got.message_expiry_interval, None);
        assert_eq!(m.payload.as_ref(), br#"{"x":1}"#);
    }
}

/// 5.0 Message Expiry Interval: a message whose interval passes while it waits for an
/// offline subscriber is not delivered [MQTT-3.3.2-5]; one still valid is delivered with
/// the interval reduced by the time it waited [MQTT-3.3.2-6]. An expired retained
/// message is not sent to new subscribers.
#[test]
fn v5_message_expiry_mqtt_3_3_2_5() {
    let broker = Broker::start();
    let mut o = v5::options(&broker, "exp-sub");
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(60));
    let (mut s, _) = v5::connect(o.clone());
    s.subscribe("exp/#", q5(1));
    s.disconnect();

    let mut p = v5::client(&broker, "exp-pub");
    let expiring = |secs| {
        Some(v5::PublishProperties {
            message_expiry_interval: Some(secs),
            ..Default::default()
        })
    };
    p.publish_with("exp/short", q5(1), false, b"short", expiring(1));
    p.publish_with("exp/long", q5(1), false, b"long", expiring(60));
    p.publish_with("exp/retained", q5(1), true, b"r", expiring(1));
    // Time must pass for expiry; there is no event to wait for.
    std::thread::sleep(Duration::from_millis(2200));

    let (mut s, ack) = v5::connect(o);
    assert!(ack.session_present);
    let m = s.recv();
    assert_eq!(
        v5::topic(&m),
        "exp/long",
        "the expired message was delivered"
    );
    let left = v5::props(&m)
        .message_expiry_interval
        .expect("expiry forwarded");
    assert!(
        (1..=58).contains(&left),
        "remaining expiry {left}, expected about 57"
    );
    s.no_publish();

    let mut late = v5::client(&broker, "exp-late");
    late.subscribe("exp/retained", q5(1));
    late.no_publish();
}

/// 5.0 Topic Alias from the client (3.3.2.3.4): the first PUBLISH sets alias 1 for a
/// topic, later ones send an empty topic with the alias; subscribers get the full topic
/// (they did not allow aliases) [MQTT-3.3.2-12].
#[test]
fn v5_topic_alias_from_the_client_mqtt_3_3_2_12() {
    let broker = Broker::start();
    let mut s = v5::client(&broker, "alias-sub");
    s.subscribe("al/#", q5(1));
    let mut s4 = v4::client(&broker, "alias-sub4");
    s4.subscribe("al/#", q4(1));
    let mut p = v5::client(&broker, "alias-pub");
    let alias = |a| {
        Some(v5::PublishProperties {
            topic_alias: Some(a),
            ..Default::default()
        })
    };
    p.publish_with("al/one", q5(1), false, b"1", alias(1));
    p.publish_with("", q5(1), false, b"2", alias(1));
    p.publish_with("al/two", q5(1), false, b"3", alias(1)); // re-map alias 1
    p.publish_with("", q5(0), false, b"4", alias(1));
    for (topic, payload) in [
        ("al/one", "1"),
        ("al/one", "2"),
        ("al/two", "3"),
        ("al/two", "4"),
    ] {
        let m = s.recv();
        assert_eq!(
            (v5::topic(&m), m.payload.as_ref()),
            (topic, payload.as_bytes())
        );
        assert_eq!(v5::props(&m).topic_alias, None);
        let m = s4.recv();
        assert_eq!(
            (m.topic.as_str(), m.payload.as_ref()),
            (topic, payload.as_bytes())
        );
    }
}

/// 5.0 Subscription Identifiers: a message carries the identifiers of every matching
/// subscription of the receiver [MQTT-3.3.4-3] / [MQTT-3.3.4-4]; none if the subscription
/// had none.
#[test]
fn v5_subscription_identifiers_mqtt_3_3_4_3() {
    let broker = Broker::start();
    let mut s = v5::client(&broker, "subid");
    let with_id = |id| {
        Some(v5::SubscribeProperties {
            id: Some(id),
            user_properties: vec![],
        })
    };
    s.subscribe_filters(vec![v5::Filter::new("si/#", q5(1))], with_id(7));
    s.subscribe_filters(vec![v5::Filter::new("si/+/x", q5(1))], with_id(300));
    s.subscribe_filters(vec![v5::Filter::new("none/#", q5(1))], None);
    let mut p = v5::client(&broker, "subid-pub");
    p.publish("si/a/x", q5(1), false, b"both");
    let mut ids = Vec::new();
    // One copy with both identifiers, or one copy per subscription each with its own.
    while let Some(ev) = s.next(QUIET) {
        if let Ok(v5::Event::Incoming(v5::Packet::Publish(m))) = ev {
            ids.extend(v5::props(&m).subscription_identifiers);
        }
    }
    ids.sort();
    assert_eq!(ids, [7, 300]);
    p.publish("si/a", q5(1), false, b"one");
    assert_eq!(v5::props(&s.recv()).subscription_identifiers, [7]);
    p.publish("none/a", q5(1), false, b"zero");
    assert!(v5::props(&s.recv()).subscription_identifiers.is_empty());
}

/// 5.0 No Local [MQTT-3.8.3-3]: the client's own messages are not sent back to it on that
/// subscription; other clients' messages are.
#[test]
fn v5_no_local_mqtt_3_8_3_3() {
    let broker = Broker::start();
    let mut c = v5::client(&broker, "nolocal");
    let mut f = v5::Filter::new("nl/t", q5(1));
    f.nolocal = true;
    assert_eq!(
        c.subscribe_filters(vec![f], None),
        [v5::SubscribeReasonCode::Success(q5(1))]
    );
    c.publish("nl/t", q5(1), false, b"mine");
    c.no_publish();
    let mut other = v5::client(&broker, "nolocal-other");
    other.publish("nl/t", q5(1), false, b"theirs");
    assert_eq!(c.recv().payload.as_ref(), b"theirs");
}

/// 5.0 Retain As Published: with it, live deliveries keep the RETAIN flag
/// [MQTT-3.3.1-13]; without it, RETAIN is 0 [MQTT-3.3.1-12].
#[test]
fn v5_retain_as_published_mqtt_3_3_1_12() {
    let broker = Broker::start();
    let mut rap = v5::client(&broker, "rap");
    let mut f = v5::Filter::new("rap/t", q5(1));
    f.preserve_retain = true;
    rap.subscribe_filters(vec![f], None);
    let mut plain = v5::client(&broker, "rap-plain");
    plain.subscribe("rap/t", q5(1));
    let mut p = v5::client(&broker, "rap-pub");
    p.publish("rap/t", q5(1), true, b"r");
    p.publish("rap/t", q5(1), false, b"n");
    let (a, b) = (rap.recv(), rap.recv());
    assert_eq!((a.payload.as_ref(), a.retain), (&b"r"[..], true));
    assert_eq!((b.payload.as_ref(), b.retain), (&b"n"[..], false));
    let (a, b) = (plain.recv(), plain.recv());
    assert_eq!((a.payload.as_ref(), a.retain), (&b"r"[..], false));
    assert_eq!((b.payload.as_ref(), b.retain), (&b"n"[..], false));
}

/// 5.0 Retain Handling: 0 sends retained messages at every subscribe [MQTT-3.3.1-9 (5.0)],
/// 1 only if the subscription did not exist [MQTT-3.3.1-10], 2 never [MQTT-3.3.1-11].
#[test]
fn v5_retain_handling_0_1_2_mqtt_3_3_1_10() {
    let broker = Broker::start();
    let mut p = v5::client(&broker, "rh-pub");
    p.publish("rh/t", q5(1), true, b"kept");
    let sub = |c: &mut v5::C, rule| {
        let mut f = v5::Filter::new("rh/t", q5(1));
        f.retain_forward_rule = rule;
        assert_eq!(
            c.subscribe_filters(vec![f], None),
            [v5::SubscribeReasonCode::Success(q5(1))]
        );
    };
    use v5::RetainForwardRule::{Never, OnEverySubscribe, OnNewSubscribe};

    let mut c0 = v5::client(&broker, "rh0");
    sub(&mut c0, OnEverySubscribe);
    assert!(c0.recv().retain);
    sub(&mut c0, OnEverySubscribe);
    assert!(c0.recv().retain, "0: again on a repeated subscribe");

    let mut c1 = v5::client(&broker, "rh1");
    sub(&mut c1, OnNewSubscribe);
    assert!(c1.recv().retain);
    sub(&mut c1, OnNewSubscribe);
    c1.no_publish();

    let mut c2 = v5::client(&broker, "rh2");
    sub(&mut c2, Never);
    c2.no_publish();
    // The subscription works for live messages.
    p.publish("rh/t", q5(1), false, b"live");
    assert_eq!(c2.recv().payload.as_ref(), b"live");
}

//! Interop with Debian's `mosquitto_pub` / `mosquitto_sub` (package `mosquitto-clients`,
//! installed by `tests/install.sh`), with MQTT 3.1.1 and 5.0 (`-V`).
//!
//! A subscriber runs with `-d` so that it prints `received SUBACK` once subscribed: the test
//! waits for that line before publishing (no sleeps). Messages are printed with a
//! `-F 'MSG|...'` format and told apart from the debug lines by that prefix. Every
//! subscriber has `-C` (exit after that many messages) and `-W` (exit after that many
//! seconds, status 27) so that none can hang.

use std::process::Command;
use std::time::Duration;

use tern_tests::{Broker, Finished, Proc, run};

const V311: &str = "mqttv311";
const V5: &str = "mqttv5";

fn base(bin: &str, broker: &Broker, version: &str) -> Command {
    // Line-buffered output (coreutils `stdbuf`): mosquitto_sub writes through stdio, which
    // would otherwise hold its lines back while stdout is a pipe.
    let mut c = Command::new("stdbuf");
    c.args(["-oL", bin]);
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        &broker.port().to_string(),
        "-V",
        version,
    ]);
    c
}

/// Starts `mosquitto_sub` with `args` and waits until its subscription is acknowledged.
fn sub(broker: &Broker, version: &str, args: &[&str]) -> Proc {
    let mut c = base("mosquitto_sub", broker, version);
    c.args(["-d", "-W", "10"]).args(args);
    let mut p = Proc::spawn(c, &format!("mosquitto_sub {args:?}"));
    p.wait_line(|l| l.contains("received SUBACK"));
    p
}

/// Runs `mosquitto_pub` with `args` to completion (it exits once QoS 1/2 are acknowledged)
/// and asserts success.
fn publish(broker: &Broker, version: &str, args: &[&str]) {
    let mut c = base("mosquitto_pub", broker, version);
    c.args(args);
    run(c, &format!("mosquitto_pub {args:?}"), Duration::ZERO)
        .assert_success(&format!("mosquitto_pub {args:?}"));
}

/// The message lines (`MSG|` prefix removed) a finished subscriber printed.
fn messages(out: &Finished) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("MSG|"))
        .map(str::to_owned)
        .collect()
}

/// Waits for a subscriber started with `-C` to exit after its messages; returns them
/// sorted (each `mosquitto_pub` is its own connection, and no order is promised between
/// messages from different connections).
fn finish(p: Proc) -> Vec<String> {
    let out = p.wait(Duration::from_secs(2));
    out.assert_success("mosquitto_sub");
    let mut m = messages(&out);
    m.sort();
    m
}

/// Wildcards (4.7.1): `+` one level, `#` any levels including the parent; a message that
/// does not match is not delivered (it is published first, so it would arrive first).
#[test]
fn wildcards_mqtt_4_7_1() {
    let broker = Broker::start();
    for v in [V311, V5] {
        let plus = sub(&broker, v, &["-t", "mc/+/x", "-C", "1", "-F", "MSG|%t|%p"]);
        let hash = sub(&broker, v, &["-t", "mc/#", "-C", "3", "-F", "MSG|%t|%p"]);
        publish(&broker, v, &["-t", "mc/a/b/x", "-m", "deep", "-q", "1"]);
        publish(&broker, v, &["-t", "mc", "-m", "parent", "-q", "1"]);
        publish(&broker, v, &["-t", "mc/a/x", "-m", "one", "-q", "1"]);
        assert_eq!(finish(plus), ["mc/a/x|one"], "{v}");
        assert_eq!(
            finish(hash),
            ["mc/a/b/x|deep", "mc/a/x|one", "mc|parent"],
            "{v}"
        );
    }
}

/// QoS 0/1/2 end to end; delivery QoS is min(published, granted) (3.1.1 [MQTT-3.8.4-6]).
#[test]
fn qos_0_1_2_with_downgrade_mqtt_3_8_4_6() {
    let broker = Broker::start();
    for v in [V311, V5] {
        let s2 = sub(
            &broker,
            v,
            &["-t", "mc/q", "-q", "2", "-C", "3", "-F", "MSG|%q|%p"],
        );
        let s1 = sub(
            &broker,
            v,
            &["-t", "mc/q", "-q", "1", "-C", "3", "-F", "MSG|%q|%p"],
        );
        for q in ["0", "1", "2"] {
            publish(&broker, v, &["-t", "mc/q", "-m", &format!("m{q}"), "-q", q]);
        }
        assert_eq!(finish(s2), ["0|m0", "1|m1", "2|m2"], "{v}");
        assert_eq!(finish(s1), ["0|m0", "1|m1", "1|m2"], "{v}");
    }
}

/// Retained (3.3.1.3): `-r` stores the message, a later subscriber gets it with RETAIN 1
/// [MQTT-3.3.1-8]; `-r -n` (empty payload) clears it [MQTT-3.3.1-10], after which a new
/// subscriber gets nothing and times out (`-W`, status 27).
#[test]
fn retained_set_and_clear_mqtt_3_3_1_10() {
    let broker = Broker::start();
    for v in [V311, V5] {
        let topic = format!("mc/r/{v}");
        publish(&broker, v, &["-t", &topic, "-m", "kept", "-q", "1", "-r"]);
        let s = sub(&broker, v, &["-t", &topic, "-C", "1", "-F", "MSG|%r|%p"]);
        assert_eq!(finish(s), ["1|kept"], "{v}");

        publish(&broker, v, &["-t", &topic, "-r", "-n", "-q", "1"]);
        let mut c = base("mosquitto_sub", &broker, v);
        c.args(["-t", &topic, "-C", "1", "-W", "1", "-F", "MSG|%r|%p"]);
        let out = run(c, "mosquitto_sub (cleared)", Duration::from_secs(2));
        assert_eq!(
            out.status.code(),
            Some(27),
            "expected the -W timeout: {out:?}"
        );
        assert!(messages(&out).is_empty(), "{v}: {out:?}");
    }
}

/// Will (`--will-topic`): published when the client dies without DISCONNECT
/// [MQTT-3.1.2-8] (the process is killed), with its QoS and payload.
#[test]
fn will_when_the_client_is_killed_mqtt_3_1_2_8() {
    let broker = Broker::start();
    for v in [V311, V5] {
        let watch = sub(
            &broker,
            v,
            &["-t", "mc/will", "-q", "1", "-C", "1", "-F", "MSG|%q|%p"],
        );
        let dying = sub(
            &broker,
            v,
            &[
                "-t",
                "mc/unused",
                "--will-topic",
                "mc/will",
                "--will-payload",
                "gone",
                "--will-qos",
                "1",
            ],
        );
        drop(dying); // SIGKILL: the socket closes without DISCONNECT
        assert_eq!(finish(watch), ["1|gone"], "{v}");
    }
}

/// 5.0 user properties from `mosquitto_pub -D publish user-property` arrive at
/// `mosquitto_sub` unaltered and in order [MQTT-3.3.2-17] / [MQTT-3.3.2-18]; other 5.0
/// properties (content type, response topic) too.
#[test]
fn v5_user_properties_mqtt_3_3_2_17() {
    let broker = Broker::start();
    let s = sub(&broker, V5, &["-t", "mc/5", "-C", "1", "-F", "MSG|%P|%p"]);
    publish(
        &broker,
        V5,
        &[
            "-t",
            "mc/5",
            "-m",
            "x",
            "-q",
            "1",
            "-D",
            "publish",
            "user-property",
            "k",
            "v",
            "-D",
            "publish",
            "user-property",
            "a",
            "b",
            "-D",
            "publish",
            "user-property",
            "k",
            "v2",
            "-D",
            "publish",
            "content-type",
            "text/plain",
            "-D",
            "publish",
            "response-topic",
            "mc/reply",
        ],
    );
    assert_eq!(finish(s), ["k:v a:b k:v2|x"]);
    // Content type and response topic, through the JSON output format.
    let s = sub(&broker, V5, &["-t", "mc/5", "-C", "1", "-F", "MSG|%j"]);
    publish(
        &broker,
        V5,
        &[
            "-t",
            "mc/5",
            "-m",
            "y",
            "-q",
            "1",
            "-D",
            "publish",
            "content-type",
            "text/plain",
            "-D",
            "publish",
            "response-topic",
            "mc/reply",
        ],
    );
    let got = finish(s);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].contains("\"content-type\":\"text/plain\""),
        "{got:?}"
    );
    assert!(
        got[0].contains("\"response-topic\":\"mc/reply\""),
        "{got:?}"
    );
}

/// Persistent session with `-c` (CleanSession 0; 5.0 with `-x` Session Expiry): messages
/// published while the subscriber is away are delivered when it comes back
/// [MQTT-3.1.2-4] / 5.0 [MQTT-3.1.2-5].
#[test]
fn persistent_session_with_dash_c_mqtt_3_1_2_4() {
    let broker = Broker::start();
    for v in [V311, V5] {
        let id = format!("mc-persist-{v}");
        let topic = format!("mc/p/{v}");
        let mut args = vec!["-c", "-i", &id, "-q", "1", "-t", &topic];
        if v == V5 {
            args.extend(["-x", "60"]);
        }
        // -E: exit as soon as the subscription is acknowledged.
        let mut c = base("mosquitto_sub", &broker, v);
        c.args(&args).arg("-E");
        run(c, "mosquitto_sub -E", Duration::ZERO).assert_success("mosquitto_sub -c -E");
        publish(&broker, v, &["-t", &topic, "-m", "first", "-q", "1"]);
        publish(&broker, v, &["-t", &topic, "-m", "second", "-q", "2"]);
        let mut c = base("mosquitto_sub", &broker, v);
        c.args(&args)
            .args(["-C", "2", "-W", "10", "-F", "MSG|%q|%p"]);
        let out = run(c, "mosquitto_sub -c", Duration::from_secs(2));
        out.assert_success("mosquitto_sub -c");
        let mut got = messages(&out);
        got.sort();
        assert_eq!(got, ["1|first", "1|second"], "{v}");
    }
}

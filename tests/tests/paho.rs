//! Interop with Eclipse Paho Python (paho-mqtt 2.x, installed in `tests/.venv` by
//! `tests/install.sh`): each test runs one scenario of `tests/scripts/paho_peer.py`
//! against the broker with MQTT 3.1.1 and 5.0. The script checks what the clients see and
//! exits non-zero with a message on failure; the test asserts its exit status and its
//! "OK" line.

use std::process::Command;
use std::time::Duration;

use tern_tests::{Broker, python, run, scripts_dir};

/// Runs `scenario` with `protocol` ("311" or "5") against a fresh broker.
fn scenario(name: &str, protocol: &str) {
    let broker = Broker::start();
    let mut cmd = Command::new(python());
    cmd.arg(scripts_dir().join("paho_peer.py"))
        .arg(name)
        .arg("--port")
        .arg(broker.port().to_string())
        .arg("--protocol")
        .arg(protocol)
        .env("PYTHONUNBUFFERED", "1");
    // Each scenario bounds its own waits; this bounds the whole script.
    let out = run(
        cmd,
        &format!("paho {name} (MQTT {protocol})"),
        Duration::from_secs(20),
    );
    out.assert_success(&format!("paho_peer.py {name} --protocol {protocol}"));
    let ok = format!("OK {name} (MQTT {protocol})");
    assert!(
        out.stdout.contains(&ok),
        "missing {ok:?} in:\n{}",
        out.stdout
    );
}

/// QoS 0/1/2 publish/subscribe, delivered at min(published, granted) QoS (3.1.1
/// [MQTT-3.8.4-6]).
#[test]
fn pubsub_qos_0_1_2_v311() {
    scenario("pubsub", "311");
}

/// The same with MQTT 5.0 ([MQTT-3.8.4-8]).
#[test]
fn pubsub_qos_0_1_2_v5() {
    scenario("pubsub", "5");
}

/// Retained messages: delivered on subscribe with RETAIN 1 [MQTT-3.3.1-8], replaced,
/// cleared by an empty payload [MQTT-3.3.1-10].
#[test]
fn retained_v311() {
    scenario("retained", "311");
}

/// The same with MQTT 5.0.
#[test]
fn retained_v5() {
    scenario("retained", "5");
}

/// Will published on abnormal close [MQTT-3.1.2-8], not after DISCONNECT [MQTT-3.1.2-10].
#[test]
fn will_v311() {
    scenario("will", "311");
}

/// The same with MQTT 5.0.
#[test]
fn will_v5() {
    scenario("will", "5");
}

/// Persistent session: Session Present [MQTT-3.2.2-2], offline QoS 1/2 messages delivered
/// in order on reconnect; a clean start discards the session [MQTT-3.1.2-6].
#[test]
fn persistent_session_v311() {
    scenario("session", "311");
}

/// The same with MQTT 5.0 (Clean Start 0, Session Expiry Interval 300).
#[test]
fn persistent_session_v5() {
    scenario("session", "5");
}

/// 5.0 user properties (in order, repeated names kept) and the other PUBLISH properties
/// forwarded unaltered [MQTT-3.3.2-17] / [MQTT-3.3.2-18]; No Local [MQTT-3.8.3-3].
#[test]
fn user_properties_v5() {
    scenario("userprops", "5");
}

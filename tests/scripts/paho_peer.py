#!/usr/bin/env python3
"""Interop scenarios for the Tern test suite, driven with Eclipse Paho (paho-mqtt 2.x).

Usage: paho_peer.py SCENARIO --port PORT --protocol {311,5}

Each scenario uses its own client ids and topics, prints "OK <scenario>" and exits 0 on
success; on failure it prints "FAIL <scenario>: <what>" to stderr and exits 1. Every wait
is bounded (TIMEOUT seconds). Run by tests/tests/paho.rs with the interpreter of the venv
that tests/install.sh creates.
"""

import argparse
import queue
import socket
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

TIMEOUT = 10.0
QUIET = 0.5
HOST = "127.0.0.1"


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Peer:
    """One paho client on its own network thread; messages land in a queue."""

    def __init__(self, args, client_id, clean=True, will=None, expiry=None):
        self.v5 = args.protocol == "5"
        self.args = args
        self.client_id = client_id
        kwargs = {}
        if not self.v5:
            kwargs["clean_session"] = clean
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            **kwargs,
        )
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_connect = lambda c, u, flags, rc, props: self.connacks.put((flags, rc))
        if will is not None:
            topic, payload, qos, retain = will
            self.c.will_set(topic, payload, qos, retain)
        self.clean = clean
        self.expiry = expiry

    def connect(self):
        """Connects and returns the CONNACK's Session Present flag."""
        if self.v5:
            props = None
            if self.expiry is not None:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self.expiry
            self.c.connect(
                HOST, self.args.port, keepalive=30, clean_start=self.clean, properties=props
            )
        else:
            self.c.connect(HOST, self.args.port, keepalive=30)
        self.c.loop_start()
        try:
            flags, rc = self.connacks.get(timeout=TIMEOUT)
        except queue.Empty:
            raise Failure(f"{self.client_id}: no CONNACK")
        check(not rc.is_failure, f"{self.client_id}: CONNACK refused: {rc}")
        return bool(flags.session_present)

    def subscribe(self, topic, qos, **opts):
        done = queue.Queue()
        self.c.on_subscribe = lambda c, u, mid, rcs, props: done.put(rcs)
        if self.v5:
            self.c.subscribe(topic, options=SubscribeOptions(qos=qos, **opts))
        else:
            self.c.subscribe(topic, qos)
        try:
            rcs = done.get(timeout=TIMEOUT)
        except queue.Empty:
            raise Failure(f"{self.client_id}: no SUBACK for {topic}")
        check(
            [int(getattr(r, "value", r)) for r in rcs] == [qos],
            f"{self.client_id}: SUBACK {rcs} for {topic}, expected [{qos}]",
        )

    def publish(self, topic, payload, qos, retain=False, properties=None):
        info = self.c.publish(topic, payload, qos, retain, properties=properties)
        info.wait_for_publish(timeout=TIMEOUT)
        check(info.is_published(), f"{self.client_id}: {topic} not acknowledged")

    def recv(self):
        try:
            return self.messages.get(timeout=TIMEOUT)
        except queue.Empty:
            raise Failure(f"{self.client_id}: no message within {TIMEOUT}s")

    def nothing(self):
        try:
            m = self.messages.get(timeout=QUIET)
        except queue.Empty:
            return
        raise Failure(f"{self.client_id}: unexpected message {m.topic} {m.payload!r}")

    def disconnect(self):
        self.c.disconnect()
        self.c.loop_stop()

    def abort(self):
        """Closes the TCP connection without DISCONNECT (the Will must fire)."""
        sock = self.c.socket()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        self.c.loop_stop()


def pubsub(args):
    """QoS 0/1/2 end to end, each delivered at min(published, granted) QoS."""
    base = f"paho/{args.protocol}/q"
    for granted in (0, 1, 2):
        sub = Peer(args, f"paho-sub-{granted}")
        sub.connect()
        sub.subscribe(f"{base}/#", granted)
        pub = Peer(args, f"paho-pub-{granted}")
        pub.connect()
        for qos in (0, 1, 2):
            pub.publish(f"{base}/{qos}", f"m{qos}".encode(), qos)
            m = sub.recv()
            check(m.topic == f"{base}/{qos}", f"topic {m.topic}")
            check(m.payload == f"m{qos}".encode(), f"payload {m.payload!r}")
            check(m.qos == min(qos, granted), f"QoS {m.qos}, published {qos} granted {granted}")
            check(not m.retain, "RETAIN set on a live message")
        sub.nothing()
        sub.disconnect()
        pub.disconnect()


def retained(args):
    """Retained: delivered on subscribe with RETAIN 1, replaced, cleared by empty payload."""
    t = f"paho/{args.protocol}/retained"
    pub = Peer(args, "paho-rpub")
    pub.connect()
    pub.publish(t, b"one", 1, retain=True)
    pub.publish(t, b"two", 1, retain=True)
    sub = Peer(args, "paho-rsub")
    sub.connect()
    sub.subscribe(t, 1)
    m = sub.recv()
    check(m.payload == b"two" and m.retain, f"retained {m.payload!r} retain={m.retain}")
    sub.nothing()
    pub.publish(t, b"", 1, retain=True)
    m = sub.recv()
    check(m.payload == b"", f"clearing message forwarded as {m.payload!r}")
    late = Peer(args, "paho-rlate")
    late.connect()
    late.subscribe(t, 1)
    late.nothing()
    for p in (pub, sub, late):
        p.disconnect()


def will(args):
    """Will: published on abnormal close, not after DISCONNECT."""
    t = f"paho/{args.protocol}/will"
    watch = Peer(args, "paho-watch")
    watch.connect()
    watch.subscribe(f"{t}/#", 1)
    dying = Peer(args, "paho-dying", will=(f"{t}/dying", b"gone", 1, False))
    dying.connect()
    dying.abort()
    m = watch.recv()
    check(m.topic == f"{t}/dying" and m.payload == b"gone", f"will {m.topic} {m.payload!r}")
    polite = Peer(args, "paho-polite", will=(f"{t}/polite", b"gone", 1, False))
    polite.connect()
    polite.disconnect()
    watch.nothing()
    watch.disconnect()


def session(args):
    """Persistent session: offline messages delivered on reconnect, Session Present set."""
    t = f"paho/{args.protocol}/session"
    cid = f"paho-persist-{args.protocol}"
    c = Peer(args, cid, clean=False, expiry=300)
    c.connect()
    c.subscribe(f"{t}/#", 2)
    c.disconnect()
    pub = Peer(args, "paho-spub")
    pub.connect()
    for i, qos in enumerate((1, 2, 1)):
        pub.publish(f"{t}/{i}", f"offline{i}".encode(), qos)
    c = Peer(args, cid, clean=False, expiry=300)
    present = c.connect()
    check(present, "Session Present not set on the resumed session")
    # Different topics and QoS levels: no order is promised among them (4.6).
    got = sorted((m.topic, m.qos, m.payload) for m in (c.recv() for _ in range(3)))
    want = [(f"{t}/{i}", qos, f"offline{i}".encode()) for i, qos in enumerate((1, 2, 1))]
    check(got == want, f"offline messages {got}, expected {want}")
    c.nothing()
    c.disconnect()
    # A clean session discards it.
    c = Peer(args, cid, clean=True)
    check(not c.connect(), "Session Present after a clean start")
    pub.publish(f"{t}/x", b"nobody", 1)
    c.nothing()
    c.disconnect()
    pub.disconnect()


def userprops(args):
    """5.0 properties forwarded unaltered, user properties in order."""
    if args.protocol != "5":
        raise Failure("userprops needs --protocol 5")
    t = "paho/5/props"
    sub = Peer(args, "paho-psub")
    sub.connect()
    sub.subscribe(t, 1)
    pub = Peer(args, "paho-ppub")
    pub.connect()
    props = Properties(PacketTypes.PUBLISH)
    pairs = [("a", "1"), ("b", "2"), ("a", "3")]
    props.UserProperty = pairs
    props.ContentType = "text/plain"
    props.ResponseTopic = "paho/5/reply"
    props.CorrelationData = b"\x01\x02corr"
    props.PayloadFormatIndicator = 1
    pub.publish(t, b"hello", 1, properties=props)
    m = sub.recv()
    p = m.properties
    got = list(getattr(p, "UserProperty", []))
    check(got == pairs, f"user properties {got}, expected {pairs}")
    check(getattr(p, "ContentType", None) == "text/plain", "content type")
    check(getattr(p, "ResponseTopic", None) == "paho/5/reply", "response topic")
    check(getattr(p, "CorrelationData", None) == b"\x01\x02corr", "correlation data")
    check(getattr(p, "PayloadFormatIndicator", None) == 1, "payload format indicator")
    check(m.payload == b"hello", "payload")
    # No Local: our own message does not come back on a no-local subscription.
    me = Peer(args, "paho-nolocal")
    me.connect()
    me.subscribe("paho/5/nl", 1, noLocal=True)
    me.publish("paho/5/nl", b"mine", 1)
    me.nothing()
    for c in (sub, pub, me):
        c.disconnect()


SCENARIOS = {f.__name__: f for f in (pubsub, retained, will, session, userprops)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--protocol", choices=["311", "5"], required=True)
    args = ap.parse_args()
    start = time.monotonic()
    try:
        SCENARIOS[args.scenario](args)
    except Failure as e:
        print(f"FAIL {args.scenario} (MQTT {args.protocol}): {e}", file=sys.stderr)
        sys.exit(1)
    print(f"OK {args.scenario} (MQTT {args.protocol}) in {time.monotonic() - start:.2f}s")


if __name__ == "__main__":
    main()

//! Codec and topic-matching micro-benchmarks, each side by side with mqttbytes 0.6 on the same
//! input: decode and encode of a 64-byte QoS 1 PUBLISH for MQTT 3.1.1 (v4) and 5.0 (v5), and
//! topic filter matching.
//!
//! Fairness: mqttbytes' `read` consumes its `BytesMut`, so both sides get a fresh buffer per
//! iteration through `iter_batched_ref` (creating and freeing the input buffer is not timed on
//! either side; freeing what each decoder allocated is). Both decoders
//! include framing (fixed header and Remaining Length) and full body validation.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tern_core::codec::{
    Decoded, FrameReader, Packet, PacketId, ProtocolVersion, Publish, PublishProperties, QosPid,
};
use tern_core::topic::{TopicFilter, TopicName};

const TOPIC: &str = "sensors/building-7/floor-3/room-12/temperature";
const PAYLOAD: [u8; 64] = [0x5a; 64];
const MAX: usize = 1 << 20;

fn ours_publish() -> Publish<'static> {
    Publish {
        dup: false,
        qos_pid: QosPid::AtLeastOnce(PacketId::new(42).expect("non-zero")),
        retain: false,
        topic: TOPIC,
        payload: &PAYLOAD,
        properties: PublishProperties::default(),
    }
}

fn theirs_v4() -> mqttbytes::v4::Publish {
    let mut p = mqttbytes::v4::Publish::new(TOPIC, mqttbytes::QoS::AtLeastOnce, PAYLOAD.to_vec());
    p.pkid = 42;
    p
}

fn theirs_v5() -> mqttbytes::v5::Publish {
    let mut p = mqttbytes::v5::Publish::new(TOPIC, mqttbytes::QoS::AtLeastOnce, PAYLOAD.to_vec());
    p.pkid = 42;
    p
}

fn encode_ours(version: ProtocolVersion) -> Vec<u8> {
    let packet = Packet::Publish(ours_publish());
    let mut out = vec![0u8; packet.encoded_len(version).expect("encodable")];
    packet.encode(version, &mut out).expect("fits");
    out
}

fn bench_decode(c: &mut Criterion) {
    for (name, version) in [("v4", ProtocolVersion::V3_1_1), ("v5", ProtocolVersion::V5)] {
        let wire = encode_ours(version);
        let mut g = c.benchmark_group(format!("decode_publish_qos1_64B_{name}"));
        g.bench_function("tern", |b| {
            b.iter_batched_ref(
                || wire.clone(),
                |buf| {
                    let mut reader = FrameReader::with_version(version, MAX as u32);
                    match reader.decode(black_box(&buf[..])) {
                        Ok(Decoded::Packet { packet, consumed }) => {
                            black_box((&packet, consumed));
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function("mqttbytes", |b| {
            b.iter_batched_ref(
                || BytesMut::from(&wire[..]),
                |buf| {
                    if name == "v4" {
                        black_box(mqttbytes::v4::read(buf, MAX).expect("decodes"));
                    } else {
                        black_box(mqttbytes::v5::read(buf, MAX).expect("decodes"));
                    }
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

fn bench_encode(c: &mut Criterion) {
    for (name, version) in [("v4", ProtocolVersion::V3_1_1), ("v5", ProtocolVersion::V5)] {
        let mut g = c.benchmark_group(format!("encode_publish_qos1_64B_{name}"));
        let packet = Packet::Publish(ours_publish());
        let mut out = vec![0u8; 256];
        g.bench_function("tern", |b| {
            b.iter(|| black_box(black_box(&packet).encode(version, &mut out).expect("fits")))
        });
        let v4 = theirs_v4();
        let v5 = theirs_v5();
        g.bench_function("mqttbytes", |b| {
            b.iter_batched(
                || BytesMut::with_capacity(256),
                |mut buf| {
                    if name == "v4" {
                        black_box(black_box(&v4).write(&mut buf).expect("encodes"));
                    } else {
                        black_box(black_box(&v5).write(&mut buf).expect("encodes"));
                    }
                    buf
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

fn bench_matching(c: &mut Criterion) {
    let cases = [
        ("sensors/+/floor-3/+/temperature", TOPIC),
        ("sensors/#", TOPIC),
        ("sensors/building-7/floor-3/room-12/humidity", TOPIC),
    ];
    let mut g = c.benchmark_group("filter_matching_3_cases");
    let parsed: Vec<(TopicFilter<'_>, TopicName<'_>)> = cases
        .iter()
        .map(|(f, t)| {
            (
                TopicFilter::new(f).expect("filter"),
                TopicName::new(t).expect("topic"),
            )
        })
        .collect();
    g.bench_function("tern", |b| {
        b.iter(|| {
            for (f, t) in &parsed {
                black_box(black_box(f).matches(black_box(t)));
            }
        })
    });
    g.bench_function("mqttbytes", |b| {
        b.iter(|| {
            for (f, t) in &cases {
                black_box(mqttbytes::matches(black_box(t), black_box(f)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_decode, bench_encode, bench_matching);
criterion_main!(benches);

//! Engine tests: scenario tests over the back-to-back [`harness::Pair`] and property tests
//! against a reference model. Test names carry the normative statement they check
//! (`v311` = MQTT 3.1.1, `v5` = MQTT 5.0 where the ids differ).

#![cfg(any(feature = "v3", feature = "v5"))]

mod acks;
mod encoded;
mod fuzz_replay;
mod harness;
mod persist;
mod prop;
mod scenarios;

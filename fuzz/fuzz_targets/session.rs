//! Session-engine fuzz target: arbitrary peer packet sequences and application actions
//! (see `tern_core::session::fuzzing`); nothing may panic, errors must close the connection,
//! and the engine's own output must decode and respect the negotiated limits.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tern_core::session::fuzzing::run(data));

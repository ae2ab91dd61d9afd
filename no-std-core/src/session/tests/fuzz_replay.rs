//! Replays the committed session fuzz corpus (`fuzz/seeds/session/`, minimized from a
//! 10-minute `cargo fuzz run session`) through [`crate::session::fuzzing::run`] on stable, so
//! every input that once reached new engine coverage keeps running in the normal test run.

use std::path::Path;

#[test]
fn replay_session_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/session");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| crate::session::fuzzing::run(&data));
        assert!(
            result.is_ok(),
            "seed {} violates an invariant",
            path.display()
        );
        n += 1;
    }
    assert!(
        n >= 100,
        "expected the session seed corpus in {}, found {n}",
        dir.display()
    );
}

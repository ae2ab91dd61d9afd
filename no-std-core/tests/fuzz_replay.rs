//! Replays the committed fuzz seed corpus (`fuzz/seeds/frame/`) through the same invariant
//! checks as the `frame` fuzz target, on stable, in the normal test run.
//!
//! Hand-written seeds carry expectations in their names: `bad-*` and `oversize` must be
//! rejected, the other named seeds must decode completely. Seeds named by hash (from
//! `cargo fuzz cmin`) only have to satisfy the invariants.
#![allow(unreachable_pub)]

#[path = "../../fuzz/check.rs"]
mod check;

#[test]
fn replay_frame_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/frame");
    let mut named = 0;
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check::check(&data))
            .unwrap_or_else(|_| panic!("seed {name} violates an invariant"));
        total += 1;
        let is_hash = name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hash {
            continue;
        }
        named += 1;
        if name.starts_with("bad-") || name == "oversize" {
            assert_eq!(
                outcome.end,
                check::End::Error,
                "seed {name} should be rejected"
            );
        } else {
            assert_eq!(
                outcome.end,
                check::End::NeedMore,
                "seed {name} should decode"
            );
            assert!(outcome.packets > 0, "seed {name} decoded no packet");
        }
    }
    assert!(
        named >= 10,
        "expected hand-written seeds in {}, found {named}",
        dir.display()
    );
    eprintln!("replayed {total} seeds ({named} hand-written)");
}

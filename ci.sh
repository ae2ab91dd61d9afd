#!/usr/bin/env bash
# Tern's one test command: installs what the tests need, then runs every check.
# Used by developers (`./ci.sh`) and by CI (`.ci/run` calls exactly this).
#
# Steps can be selected for local iteration: `./ci.sh fmt clippy test` (default: all).
set -euo pipefail
cd "$(dirname "$0")"

THUMB_TARGETS=(thumbv7em-none-eabihf thumbv6m-none-eabi)
CARGO_HACK_VERSION=0.6.46
STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(install fmt clippy test features embedded docs benches)

log() { printf '\n\033[1m==> %s\033[0m (t=%ss)\n' "$*" "$SECONDS"; }
want() { local s; for s in "${STEPS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    # Install Debian packages that are missing (one apt-get update per run at most).
    local missing=() p
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

stop_system_mosquitto() {
    # The Debian package starts a system broker on 1883; our tests never use fixed ports, but a
    # stray system broker is not part of any test, so stop it.
    if pgrep -x mosquitto >/dev/null 2>&1 && [ -e /run/mosquitto/mosquitto.pid ]; then
        as_root systemctl stop mosquitto 2>/dev/null || as_root service mosquitto stop 2>/dev/null || true
    fi
}

if want install; then
    log "install: rust targets and tools"
    rustup component add clippy rustfmt >/dev/null
    rustup target add "${THUMB_TARGETS[@]}" >/dev/null
    if ! cargo hack --version 2>/dev/null | grep -q "$CARGO_HACK_VERSION"; then
        cargo install cargo-hack --locked --version "$CARGO_HACK_VERSION"
    fi
    apt_install mosquitto mosquitto-clients binutils-arm-none-eabi
    stop_system_mosquitto
    log "install: interop peers (paho-mqtt in tests/.venv)"
    bash tests/install.sh
fi

if want fmt; then
    log "cargo fmt --check"
    cargo fmt --all --check
fi

if want clippy; then
    # Package by package so workspace feature unification cannot hide a missing feature.
    for p in tern-core tern-broker tern-client tern-probe tern-tests tern-benches; do
        log "clippy -p $p"
        cargo clippy --locked -p "$p" --all-targets -- -D warnings
    done
    log "clippy tern-core, each feature alone and the protocol feature powerset"
    cargo hack clippy --locked -p tern-core --each-feature -- -D warnings
    cargo hack clippy --locked -p tern-core --feature-powerset --include-features v3,v5,qos2,alloc -- -D warnings
    log "clippy tern-client 3.1.1-only"
    cargo clippy --locked -p tern-client --all-targets --no-default-features --features v3 -- -D warnings
    log "clippy tern-core tests with protocol subsets"
    for fs in v3 v5 v3,qos2 v5,qos2,alloc v3,v5,qos2,alloc,serde; do
        cargo clippy --locked -p tern-core --no-default-features --features "$fs" --all-targets -- -D warnings
    done
fi

if want test; then
    # Includes the stable replay of both fuzz seed corpora (no-std-core/tests/fuzz_replay.rs,
    # session::tests::fuzz_replay).
    log "cargo test --workspace"
    cargo test --locked --workspace
fi

if want features; then
    log "tern-core tests per protocol feature set"
    for fs in v3 v5 v3,qos2 v5,qos2 v3,v5,alloc v3,v5,qos2,alloc,serde; do
        log "cargo test -p tern-core --no-default-features --features $fs"
        cargo test --locked -p tern-core --no-default-features --features "$fs" --lib
    done
    log "cargo test -p tern-client, 3.1.1 only (against a private Mosquitto)"
    cargo test --locked -p tern-client --no-default-features --features v3
fi

if want embedded; then
    for t in "${THUMB_TARGETS[@]}"; do
        log "build tern-core for $t (feature powerset without std/arbitrary)"
        cargo hack build --locked -p tern-core --target "$t" --feature-powerset \
            --exclude-features std,arbitrary,serde
        cargo build --locked -p tern-core --target "$t" --no-default-features --features v3,v5,qos2,serde
        log "build tern-client and the firmware probe for $t"
        cargo build --locked -p tern-client --target "$t" --no-default-features --features v3
        cargo build --locked -p tern-client --target "$t"
        cargo build --locked -p tern-probe --profile firmware --target "$t" --no-default-features --features v3
        cargo build --locked -p tern-probe --profile firmware --target "$t" --no-default-features --features v5,qos2
    done
    log "firmware size probe (fails at +10% over device-client/probe/sizes.txt)"
    bash device-client/probe/size.sh
fi

if want docs; then
    log "cargo doc (warnings are errors)"
    RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps
    RUSTDOCFLAGS="-D warnings" cargo doc --locked -p tern-core --no-deps --no-default-features --features v3
fi

if want benches; then
    log "benches smoke: each criterion bench once (cargo test --benches)"
    cargo test --locked -p tern-benches --benches
    if [ -f benches/scripts/smoke.sh ]; then
        log "load tool smoke against Mosquitto"
        bash benches/scripts/smoke.sh
    fi
fi

log "all checks passed in ${SECONDS}s"

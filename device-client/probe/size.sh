#!/usr/bin/env bash
# Firmware size probe for tern-client (see device-client/probe/src/main.rs for the scenario:
# CONNECT, SUBSCRIBE one filter, PUBLISH one QoS 1 message, wait for one incoming message,
# over a transport replaying canned broker bytes).
#
# Builds the empty firmware and each probe variant with the workspace's `firmware` profile
# (opt-level z, lto, codegen-units 1, panic abort) for thumbv7em-none-eabihf, prints
# .text/.rodata/.data/.bss (arm-none-eabi-size, Debian package binutils-arm-none-eabi) and
# the flash difference (.text + .rodata + .data) over the empty firmware, and fails when a
# variant exceeds the number recorded in sizes.txt by more than 10%, or when `arm-none-eabi-nm`
# finds server-only symbols of the engine in it.
#
#   device-client/probe/size.sh            # measure and check
#   device-client/probe/size.sh --record   # rewrite sizes.txt with the measured numbers
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target=thumbv7em-none-eabihf
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
command -v arm-none-eabi-size >/dev/null || {
    echo "arm-none-eabi-size missing: apt-get install binutils-arm-none-eabi (./ci.sh install)" >&2
    exit 1
}
record=0
[[ "${1:-}" == "--record" ]] && record=1

# name : features
variants=(
    "empty:empty,v3"
    "v3-blocking:v3"
    "v3-async:v3,async"
    "v5-qos2-blocking:v5,qos2"
    "v5-qos2-async:v5,qos2,async"
)

declare -A flash
out=""
printf '%-18s %8s %8s %8s %8s %8s %10s\n' variant .text .rodata .data .bss flash "over empty"
for v in "${variants[@]}"; do
    name="${v%%:*}"
    features="${v#*:}"
    (cd "$root" && cargo build -q -p tern-probe --profile firmware --target "$target" \
        --no-default-features --features "$features")
    elf="$CARGO_TARGET_DIR/$target/firmware/tern-probe"
    read -r text rodata data bss < <(arm-none-eabi-size -A "$elf" | awk '
        $1==".text"{t=$2} $1==".rodata"{r=$2} $1==".data"{d=$2} $1==".bss"{b=$2}
        END{print t+0, r+0, d+0, b+0}')
    # Firmware must not link server-only paths of the shared engine (the role is a type
    # parameter so that it cannot): no Server role, no server session state (will timers,
    # expiry), no broker data structures.
    server_syms=$(arm-none-eabi-nm -C "$elf" |
        grep -E 'session::role::Server|ServerState|tern_core::session::will::|tern_core::index::|tern_core::retain::' || true)
    if [[ -n "$server_syms" ]]; then
        echo "FAIL: $name links server-only code:" >&2
        echo "$server_syms" | head -20 >&2
        exit 1
    fi
    flash[$name]=$((text + rodata + data))
    delta=$((flash[$name] - ${flash[empty]:-${flash[$name]}}))
    printf '%-18s %8d %8d %8d %8d %8d %10d\n' "$name" "$text" "$rodata" "$data" "$bss" "${flash[$name]}" "$delta"
    [[ "$name" != empty ]] && out+="$name $delta"$'\n'
done

if [[ $record == 1 ]]; then
    {
        echo "# Flash bytes (.text + .rodata + .data) over the empty firmware, $target,"
        echo "# profile firmware. Written by size.sh --record; size.sh fails at +10%."
        printf '%s' "$out"
    } >"$here/sizes.txt"
    echo "recorded $here/sizes.txt"
    exit 0
fi

fail=0
while read -r name delta; do
    [[ -z "$name" ]] && continue
    recorded=$(awk -v n="$name" '$1==n{print $2}' "$here/sizes.txt")
    if [[ -z "$recorded" ]]; then
        echo "FAIL: $name has no recorded size in sizes.txt (run size.sh --record)" >&2
        fail=1
    elif ((delta * 10 > recorded * 11)); then
        echo "FAIL: $name grew to $delta bytes over empty, recorded $recorded (+10% allowed)" >&2
        fail=1
    fi
done <<<"$out"
exit $fail

#!/usr/bin/env bash
# Smoke test of the load tool and of Tern under it: starts Tern and Mosquitto on free
# loopback ports and runs `tern-bench --smoke` (every scenario, QoS 0/1/2, tiny counts, each
# one verifying delivery, order and exactly-once) against both, for MQTT 3.1.1 and 5.0.
# Fails on any error. Used by the project's test command so neither can rot.
set -euo pipefail
source "$(dirname "$0")/common.sh"

WORK="$(mktemp -d)"
trap 'cleanup_brokers; rm -rf "$WORK"' EXIT
raise_nofile
ensure_mosquitto
BENCH="$(build_bench)"
TERN="$(build_tern)"

status=0
for broker in tern mosquitto; do
    PORT="$(free_port)"
    if [ "$broker" = tern ]; then start_tern "$TERN" "$PORT" "$WORK"; else start_mosquitto "$PORT" "$WORK"; fi
    PID=$BROKER_PID
    log "$broker pid $PID on 127.0.0.1:$PORT; tern-bench: $BENCH"
    for v in 4 5; do
        log "tern-bench --smoke --version $v against $broker"
        out="$WORK/smoke-$broker-v$v.jsonl"
        if ! timeout 120 "$BENCH" --smoke --host 127.0.0.1 --port "$PORT" --version "$v" \
            --broker-pid "$PID" --label "smoke-$broker-v$v" >"$out"; then
            status=1
        fi
        cat "$out"
    done
    stop_pid "$PID"
done
runs=$(cat "$WORK"/smoke-*.jsonl | wc -l)
passed=$(grep -c '"ok":true' "$WORK"/smoke-*.jsonl | awk -F: '{s+=$NF} END {print s+0}')
echo "tern-bench-smoke: $passed passed, $((runs - passed)) failed"
[ "$status" = 0 ] && [ "$runs" -gt 0 ] && [ "$passed" = "$runs" ]

#!/usr/bin/env bash
# Smoke test of the load tool: starts Mosquitto on a free loopback port and runs
# `tern-bench --smoke` (every scenario, QoS 0/1/2, tiny counts) against it for MQTT 3.1.1 and
# 5.0. Fails on any error. Used by the project's test command so the tool cannot rot.
set -euo pipefail
source "$(dirname "$0")/common.sh"

WORK="$(mktemp -d)"
trap 'cleanup_brokers; rm -rf "$WORK"' EXIT
raise_nofile
ensure_mosquitto
BENCH="$(build_bench)"
PORT="$(free_port)"
start_mosquitto "$PORT" "$WORK"
PID=$BROKER_PID
log "mosquitto pid $PID on 127.0.0.1:$PORT; tern-bench: $BENCH"

status=0
for v in 4 5; do
    log "tern-bench --smoke --version $v"
    if ! timeout 120 "$BENCH" --smoke --host 127.0.0.1 --port "$PORT" --version "$v" \
        --broker-pid "$PID" --label "smoke-mosquitto-v$v" >"$WORK/smoke-v$v.jsonl"; then
        status=1
    fi
    cat "$WORK/smoke-v$v.jsonl"
done
runs=$(cat "$WORK"/smoke-v*.jsonl | wc -l)
passed=$(grep -c '"ok":true' "$WORK"/smoke-v*.jsonl | awk -F: '{s+=$NF} END {print s+0}')
echo "tern-bench-smoke: $passed passed, $((runs - passed)) failed"
[ "$status" = 0 ] && [ "$runs" -gt 0 ] && [ "$passed" = "$runs" ]

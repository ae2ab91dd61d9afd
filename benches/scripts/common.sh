# Shared helpers for benches/scripts/*.sh (sourced, not run). Every broker started here is
# recorded in STARTED_PIDS and killed by pid in cleanup_brokers; nothing is killed by name.

STARTED_PIDS=()
SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPTS_DIR/../.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

mosquitto_bin() { command -v mosquitto 2>/dev/null || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; }; }

# Installs the Debian mosquitto package if it is missing. The package may start a system broker
# on 1883: stop that one (and only that one) right after installing.
ensure_mosquitto() {
    [ -n "$(mosquitto_bin)" ] && return 0
    log "installing mosquitto (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
    if pgrep -x mosquitto >/dev/null 2>&1; then
        as_root systemctl stop mosquitto 2>/dev/null || as_root service mosquitto stop 2>/dev/null || {
            # Last resort: the system instance only (its pid file), never a broker of ours.
            if [ -s /run/mosquitto/mosquitto.pid ]; then as_root kill "$(cat /run/mosquitto/mosquitto.pid)" || true; fi
        }
    fi
    [ -n "$(mosquitto_bin)" ] || die "mosquitto is not installed"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints a loopback TCP port nobody listens on.
free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % 20000))
        if ! port_open "$p"; then echo "$p"; return 0; fi
    done
    die "no free port found"
}

# wait_listening PID PORT NAME: waits up to 10 s for PORT to accept; fails if PID exits first.
wait_listening() {
    local pid=$1 port=$2 name=$3 i
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_open "$port" && return 0
        sleep 0.1
    done
    log "$name did not open port $port within 10 s"
    return 1
}

# start_mosquitto PORT WORKDIR: starts Mosquitto with the generated config; sets BROKER_PID.
# (Not to be called in $(...): the pid must be recorded in this shell for cleanup.)
start_mosquitto() {
    local port=$1 dir=$2 pid
    sed "s/@PORT@/$port/" "$SCRIPTS_DIR/mosquitto.conf.in" >"$dir/mosquitto-$port.conf"
    "$(mosquitto_bin)" -c "$dir/mosquitto-$port.conf" >"$dir/mosquitto-$port.log" 2>&1 &
    pid=$!
    STARTED_PIDS+=("$pid")
    wait_listening "$pid" "$port" mosquitto || { cat "$dir/mosquitto-$port.log" >&2; die "mosquitto did not start"; }
    BROKER_PID=$pid
}

# start_tern BIN PORT WORKDIR: starts the Tern broker; sets BROKER_PID (same caveat).
start_tern() {
    local bin=$1 port=$2 dir=$3 pid
    "$bin" --config "$SCRIPTS_DIR/tern.toml" --listen "127.0.0.1:$port" >"$dir/tern-$port.log" 2>&1 &
    pid=$!
    STARTED_PIDS+=("$pid")
    wait_listening "$pid" "$port" tern || { tail -5 "$dir/tern-$port.log" >&2; die "tern broker did not start"; }
    BROKER_PID=$pid
}

# stop_pid PID: stops one broker this script started.
stop_pid() {
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup_brokers() {
    local pid
    for pid in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do stop_pid "$pid"; done
    STARTED_PIDS=()
}

target_dir() {
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        echo "$CARGO_TARGET_DIR"
    else
        (cd "$REPO_ROOT" && cargo metadata --format-version 1 --no-deps |
            sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    fi
}

# Builds tern-bench (release) and prints the path of the binary.
build_bench() {
    (cd "$REPO_ROOT" && cargo build --release --locked -q -p tern-benches --bin tern-bench) >&2 ||
        die "building tern-bench failed"
    echo "$(target_dir)/release/tern-bench"
}

# Builds the Tern broker (release) and prints the path of the binary.
build_tern() {
    (cd "$REPO_ROOT" && cargo build --release --locked -q -p tern-broker) >&2 || die "building tern failed"
    echo "$(target_dir)/release/tern"
}

# cpu_ticks PID: user + system clock ticks the process has used so far (0 if it is gone).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# settle PID...: waits (up to 20 s) until none of the given processes used CPU for 0.3 s, so a run
# never starts while a broker still digests the previous one (Mosquitto can go on for seconds after
# a QoS 1 fan-in ends; a 0.15 s Tern run beside it would measure half a CPU). Logs when it waited.
settle() {
    local start=$SECONDS before after pid busy
    while :; do
        before=0; after=0
        for pid in "$@"; do before=$((before + $(cpu_ticks "$pid"))); done
        sleep 0.3
        for pid in "$@"; do after=$((after + $(cpu_ticks "$pid"))); done
        busy=$((after - before))
        [ "$busy" = 0 ] && break
        if [ $((SECONDS - start)) -ge 20 ]; then log "brokers still busy after 20 s ($busy ticks in 0.3 s); going on"; break; fi
    done
    [ $((SECONDS - start)) -lt 1 ] || log "waited $((SECONDS - start)) s for the brokers to go idle"
}

raise_nofile() { ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; }

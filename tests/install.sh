#!/usr/bin/env bash
# Installs the third-party peers the interop tests drive: Mosquitto (broker and
# mosquitto_pub/mosquitto_sub) from Debian, and Python paho-mqtt from PyPI into a venv at
# tests/.venv (Debian's system pip refuses global installs: PEP 668). Idempotent; run as
# root on Debian with Rust:  bash tests/install.sh
set -euo pipefail

PAHO_VERSION="2.1.0"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Mosquitto: the peer broker (TERN_TESTS_BROKER=mosquitto) and the command-line clients.
missing=()
[ -x /usr/sbin/mosquitto ] || [ -x /usr/bin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null && command -v mosquitto_sub >/dev/null || missing+=(mosquitto-clients)
command -v python3 >/dev/null || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install.sh: apt-get install ${missing[*]}"
    apt_install "${missing[@]}"
fi

# paho-mqtt in a private venv, pinned.
if [ -x "$venv/bin/python3" ] \
    && "$venv/bin/python3" -c "import importlib.metadata as m, sys; sys.exit(m.version('paho-mqtt') != '$PAHO_VERSION')" 2>/dev/null; then
    echo "install.sh: paho-mqtt $PAHO_VERSION already in $venv"
    exit 0
fi
rm -rf "$venv"
# Debian ships venv's pip bootstrap (ensurepip) separately: python3-venv.
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    echo "install.sh: apt-get install python3-venv"
    apt_install python3-venv
    python3 -m venv "$venv"
fi
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "paho-mqtt==$PAHO_VERSION"
"$venv/bin/python3" -c "import paho.mqtt; print('install.sh: paho-mqtt', paho.mqtt.__version__, 'in $venv')"

#!/bin/sh
# Installs the Debian 12 packages fieldsync needs to build and test, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu
PKGS="build-essential cmake pkg-config libuv1-dev libprotobuf-c-dev protobuf-c-compiler
libsqlite3-dev libmbedtls-dev libqrencode-dev libjansson-dev sqlite3"
if [ "${1:-}" = "--dev-tools" ]; then
    PKGS="$PKGS clang-14 libclang-rt-14-dev clang-format valgrind iproute2"
fi
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $missing >/dev/null
else
    echo "deps: missing packages. Run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi

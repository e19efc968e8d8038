#!/bin/sh
# test_example: the client guide's complete program, as an app developer meets it.
#  1. docs/client-guide.md shows client-lib/examples/example.c verbatim (same bytes);
#  2. `cmake --install` of this build into a temporary prefix; the example is compiled against
#     that install only, through its fieldsync.pc (shared library, and the static line the guide
#     gives), with -Wall -Wextra -Werror;
#  3. against a real fieldsync-server (dev certificates, 127.0.0.1 port 0, enrolment codes from
#     its admin CLI): device A enrols, creates a report and syncs; device B enrols, creates its
#     own and syncs. Passes only if B's store then lists A's record (it went through the
#     server) and the server lists both devices with their change received.
# Environment (set by tests/area-client.cmake): FS_BUILD_DIR, FS_SOURCE_DIR, FS_SERVER_BIN,
# FS_CMAKE, FS_CC, FS_EXAMPLE_CFLAGS (the build's sanitizer flags, if any).
set -eu

fail() {
    echo "test_example: FAIL: $*" >&2
    exit 1
}

: "${FS_BUILD_DIR:?}" "${FS_SOURCE_DIR:?}" "${FS_SERVER_BIN:?}"
CMAKE=${FS_CMAKE:-cmake}
CC=${FS_CC:-cc}
EXTRA=${FS_EXAMPLE_CFLAGS:-}
SRC="$FS_SOURCE_DIR/client-lib/examples/example.c"
GUIDE="$FS_SOURCE_DIR/docs/client-guide.md"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fs-example-XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# 1. The guide's code block under "## A complete program" is the file, byte for byte.
awk '/^## A complete program/ { s = 1 } s && /^```c$/ { c = 1; next } c && /^```$/ { exit }
     c { print }' "$GUIDE" >"$TMP/guide.c"
[ -s "$TMP/guide.c" ] || fail "no \`\`\`c block under '## A complete program' in $GUIDE"
cmp -s "$TMP/guide.c" "$SRC" || {
    diff -u "$SRC" "$TMP/guide.c" >&2 || true
    fail "docs/client-guide.md does not show client-lib/examples/example.c as it is"
}

# 2. Install, then build against the install only.
"$CMAKE" --install "$FS_BUILD_DIR" --prefix "$TMP/prefix" >"$TMP/install.log" 2>&1 || {
    cat "$TMP/install.log" >&2
    fail "cmake --install failed"
}
PC=$(find "$TMP/prefix" -name fieldsync.pc | head -n 1)
[ -n "$PC" ] || fail "no fieldsync.pc installed"
export PKG_CONFIG_PATH="${PC%/fieldsync.pc}"
LIBDIR=$(pkg-config --variable=libdir fieldsync)
[ -f "$LIBDIR/libfieldsync.so.0" ] || fail "no libfieldsync.so.0 in $LIBDIR"
# shellcheck disable=SC2046,SC2086 # word splitting of the flags is intended
$CC -Wall -Wextra -Werror $EXTRA "$SRC" $(pkg-config --cflags --libs fieldsync) \
    -o "$TMP/example" || fail "the example does not build against the installed library"
# The static line of the guide ("Build and link").
# shellcheck disable=SC2046,SC2086
$CC -Wall -Wextra -Werror $EXTRA "$SRC" $(pkg-config --cflags fieldsync) "$LIBDIR/libfieldsync.a" \
    $(pkg-config --static --libs-only-l fieldsync | sed s/-lfieldsync//) \
    -o "$TMP/example-static" || fail "the example does not build against libfieldsync.a"

# No rpath: the installed library is found through LD_LIBRARY_PATH, and it must be that one.
export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ldd "$TMP/example" | grep -q "$LIBDIR/libfieldsync.so.0" ||
    fail "the example does not load the installed libfieldsync.so.0: $(ldd "$TMP/example")"

"$TMP/example-static" "$TMP/offline.db" >"$TMP/offline.out" 2>&1 || {
    cat "$TMP/offline.out" >&2
    fail "the static example failed offline"
}
grep -q "^records 1, pending changes 6, enrolled no" "$TMP/offline.out" ||
    fail "unexpected offline output: $(cat "$TMP/offline.out")"

# 3. A real server.
DATA="$TMP/data"
mkdir "$DATA"
"$FS_SERVER_BIN" --dev --data-dir "$DATA" --listen 127.0.0.1:0 --synchronous normal \
    >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
i=0
while [ ! -s "$DATA/port" ]; do
    kill -0 "$SERVER_PID" 2>/dev/null || {
        cat "$TMP/server.log" >&2
        fail "the server exited"
    }
    i=$((i + 1))
    [ "$i" -lt 200 ] || fail "no port file after 20 s"
    sleep 0.1
done
PORT=$(cat "$DATA/port")
CA="$DATA/tls/ca.crt"

enrol_code() {
    "$FS_SERVER_BIN" enroll --role collector --region GAO --qr=no --data-dir "$DATA" |
        sed -n 's/^code //p'
}

run() { # name, then the example's arguments
    name=$1
    shift
    status=0
    "$TMP/example" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || status=$?
    if [ "$status" != 0 ]; then
        cat "$TMP/$name.out" "$TMP/$name.err" "$TMP/server.log" >&2
        fail "example $*: exit status $status"
    fi
}

for dev in a b; do
    CODE=$(enrol_code)
    [ -n "$CODE" ] || fail "no enrolment code from the server"
    run "enrol-$dev" "$TMP/$dev.db" 127.0.0.1 "$PORT" "$CA" "$CODE"
    grep -q "enrolled yes" "$TMP/enrol-$dev.out" || fail "device $dev not enrolled"
    run "sync-$dev" "$TMP/$dev.db" sync
    grep -q "^pushed 1, pulled" "$TMP/sync-$dev.out" ||
        fail "device $dev did not push its report: $(cat "$TMP/sync-$dev.out")"
    grep -q "records [0-9]*, pending changes 0, enrolled yes" "$TMP/sync-$dev.out" ||
        fail "device $dev still has pending changes: $(cat "$TMP/sync-$dev.out")"
done

# A's report reached B through the server.
ID_A=$(sed -n 's/^created //p' "$TMP/enrol-a.out")
[ -n "$ID_A" ] || fail "device a printed no record id"
grep -q "^$ID_A  GAO" "$TMP/sync-b.out" ||
    fail "device b does not list device a's record $ID_A: $(cat "$TMP/sync-b.out")"
grep -q "^records 2," "$TMP/sync-b.out" || fail "device b: $(cat "$TMP/sync-b.out")"

# The server's device list: two devices named example, one change received from each.
"$FS_SERVER_BIN" devices --json --data-dir "$DATA" >"$TMP/devices.json" ||
    fail "fieldsync-server devices failed"
n=$(grep -c '"name":"example".*"changes_received":1,' "$TMP/devices.json" || true)
[ "$n" = 2 ] || fail "expected 2 devices with one change each: $(cat "$TMP/devices.json")"

kill "$SERVER_PID"
wait "$SERVER_PID" || fail "the server did not shut down cleanly"
SERVER_PID=
echo "test_example: ok (example built against $TMP/prefix, synced through a real server)"

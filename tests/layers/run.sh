#!/bin/sh
# scripts/check-layers finds what it must: built from three tiny trees, it
# passes the one whose calls go down, and fails, naming the call, the one
# with a loop of two files and the one where common/ calls host/.
set -eu
check=$(cd "$(dirname "$0")/../.." && pwd)/scripts/check-layers
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# tree DIR FILE:BODY...: C files under DIR, each compiled to DIR/build.
tree() {
    dir=$1; shift
    for spec in "$@"; do
        f=${spec%%:*}
        mkdir -p "$dir/$(dirname "$f")" "$dir/build/$(dirname "$f")"
        printf '%s\n' "${spec#*:}" > "$dir/$f"
        cc -c -o "$dir/build/${f%.c}.o" "$dir/$f"
    done
}
fail() { echo "FAIL: layers: $*" >&2; exit 1; }

tree "$tmp/good" "common/a.c:int a(void){return 1;}" \
    "host/b.c:int a(void); int b(void){return a();}" \
    "fs/c.c:int b(void); int c(void){return b();}"
(cd "$tmp/good" && "$check" build) > "$tmp/out" 2>&1 ||
    fail "a tree without loops fails: $(cat "$tmp/out")"
grep -q "^  host/ *calls common" "$tmp/out" || fail "no layer line: $(cat "$tmp/out")"

tree "$tmp/loop" "host/a.c:int b(void); int a(void){return b();}" \
    "host/b.c:int a(void); int b(void){return a();}"
if (cd "$tmp/loop" && "$check" build) > "$tmp/out" 2>&1; then
    fail "a loop of files passes"
fi
grep -q "loop of files: host/a.c, host/b.c" "$tmp/out" || fail "$(cat "$tmp/out")"

tree "$tmp/up" "common/a.c:int b(void); int a(void){return b();}" \
    "host/b.c:int b(void){return 2;}"
if (cd "$tmp/up" && "$check" build) > "$tmp/out" 2>&1; then
    fail "a call upward passes"
fi
grep -q "upward call: common/a.c -> host/b.c (b)" "$tmp/out" || fail "$(cat "$tmp/out")"
echo "PASS: layers"

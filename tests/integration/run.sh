#!/bin/sh
# Run every integration test (tests/integration/test-*.sh, or those named
# on the command line), each under a time limit.  Prints a line per test
# and a closing "N passed, N failed, N skipped" line; exits 1 when any test
# failed.
#
# TEST_JOBS tests run at once (default: the number of CPUs, at most 2).
# Each worker names its VMs with its own prefix (vmsnapfs-test-wN-) and
# sweeps only those.  A test whose file has a line "# alone: REASON" runs
# after the others, with nothing beside it: it restarts libvirtd, counts
# processes or lists VMs host-wide, or holds the daemon to a deadline that
# another test's load would make a matter of luck.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
export TOP=$top
limit=${TEST_TIMEOUT:-300}
logdir=${TEST_LOGDIR:-$top/build/test-logs}
jobs=${TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -le 2 ] || jobs=2
[ "$jobs" -ge 1 ] || jobs=1
mkdir -p "$logdir"
work=$(mktemp -d /tmp/vmsnapfs-run.XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# Leftovers of a run that was killed: mounts, then the VMs whose names
# start with $1 (every test VM when none is given).
sweep() {
    if [ -z "${1:-}" ]; then
        for m in $(awk '$1 == "vmsnapfs" { print $2 }' /proc/mounts); do
            case $m in /tmp/vmsnapfs-*) umount -l "$m" 2>/dev/null ;; esac
        done
    fi
    for vm in $(virsh -q list --all --name 2>/dev/null | grep "^${1:-vmsnapfs-test-}"); do
        (. "$here/functions.sh"; trap - EXIT; vm_remove "$vm")
    done
}

# foreign define|remove: the host's own VMs (functions.sh), one running
# and one shut off, there for the whole run: the suite passes beside them.
foreign() {
    (. "$here/functions.sh"; trap - EXIT; "foreign_vms_$1")
}

# run_one TEST PREFIX: run TEST with its VMs named PREFIX*, record the
# outcome in $work/NAME.rc and print its line (one write, so that two
# workers' lines do not mix).  The caller sweeps after it.
run_one() {
    name=$(basename "$1" .sh)
    if ! virsh -c qemu:///system version >/dev/null 2>&1; then
        echo "WARNING: libvirtd is not running before $name; starting it" >&2
        sh "$top/scripts/start-libvirtd.sh" || exit 1
    fi
    start=$(date +%s)
    VM_PREFIX=$2 timeout -k 10 "$limit" bash "$1" >"$logdir/$name.log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    echo "$rc" > "$work/$name.rc"
    case $rc in
        0) line="PASS: $name (${secs}s)" ;;
        77) line="SKIP: $name: $(tail -n 1 "$logdir/$name.log")" ;;
        *) line="FAIL: $name (exit $rc, ${secs}s); the end of its log:
$(tail -n 30 "$logdir/$name.log" | sed 's/^/    /')" ;;
    esac
    printf '%s\n' "$line"
}

# worker N: take the next test nobody has taken (mkdir is the claim) until
# none is left.
worker() {
    for t in $together; do
        mkdir "$work/$(basename "$t" .sh).claim" 2>/dev/null || continue
        run_one "$t" "vmsnapfs-test-w$1-"
        sweep "vmsnapfs-test-w$1-"
    done
}

sh "$top/scripts/start-libvirtd.sh" || exit 1
sh "$top/tests/guest/build.sh" >/dev/null || exit 1
sweep
trap 'foreign remove; rm -rf "$work"' EXIT
foreign define || { echo "run.sh: cannot define the host's own VMs" >&2; exit 1; }

tests=${*:-$(ls "$here"/test-*.sh)}
together="" alone=""
for t in $tests; do
    if grep -q '^# alone:' "$t"; then alone="$alone $t"; else together="$together $t"; fi
done

n=1
while [ "$n" -le "$jobs" ]; do
    worker "$n" &
    n=$((n + 1))
done
wait
sweep
for t in $alone; do
    run_one "$t" vmsnapfs-test-
    sweep
done

pass=0 fail=0 skip=0 failed=""
for t in $tests; do
    name=$(basename "$t" .sh)
    case $(cat "$work/$name.rc" 2>/dev/null) in
        0) pass=$((pass + 1)) ;;
        77) skip=$((skip + 1)) ;;
        *) fail=$((fail + 1)); failed="$failed $name" ;;
    esac
done
[ -z "$failed" ] || echo "failed:$failed"
echo "integration: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

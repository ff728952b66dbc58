#!/bin/sh
# Run every integration test (tests/integration/test-*.sh, or those named
# on the command line), one at a time, each under a time limit.  Prints a
# line per test and a closing "N passed, N failed, N skipped" line; exits 1
# when any test failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
export TOP=$top
limit=${TEST_TIMEOUT:-300}
logdir=${TEST_LOGDIR:-$top/build/test-logs}
mkdir -p "$logdir"

# Leftovers of a run that was killed: VMs, mounts and daemons.
sweep() {
    for m in $(awk '$1 == "vmsnapfs" { print $2 }' /proc/mounts); do
        case $m in /tmp/vmsnapfs-*) umount -l "$m" 2>/dev/null ;; esac
    done
    for vm in $(virsh -q list --all --name 2>/dev/null | grep '^vmsnapfs-test-'); do
        (. "$here/functions.sh"; trap - EXIT; vm_remove "$vm")
    done
}

sh "$top/scripts/start-libvirtd.sh" || exit 1
sh "$top/tests/guest/build.sh" >/dev/null || exit 1
sweep

tests=${*:-$(ls "$here"/test-*.sh)}
pass=0 fail=0 skip=0 failed=""
for t in $tests; do
    name=$(basename "$t" .sh)
    if ! virsh -c qemu:///system version >/dev/null 2>&1; then
        echo "WARNING: libvirtd is not running before $name; starting it" >&2
        sh "$top/scripts/start-libvirtd.sh" || exit 1
    fi
    start=$(date +%s)
    timeout -k 10 "$limit" bash "$t" >"$logdir/$name.log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    case $rc in
        0) pass=$((pass + 1)); echo "PASS: $name (${secs}s)" ;;
        77) skip=$((skip + 1)); echo "SKIP: $name: $(tail -n 1 "$logdir/$name.log")" ;;
        *) fail=$((fail + 1)); failed="$failed $name"
           echo "FAIL: $name (exit $rc, ${secs}s); the end of its log:"
           tail -n 30 "$logdir/$name.log" | sed 's/^/    /' ;;
    esac
    sweep
done

[ -z "$failed" ] || echo "failed:$failed"
echo "integration: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

#!/bin/bash
# A disk with compressed clusters, whose bytes only qemu can read: the
# qemu-nbd behind its whole disk starts on the first open, the bytes are
# right where one read takes some from qemu-nbd and some straight from the
# volume, and no qemu-nbd outlives the daemon: not after an unmount, nor
# after kill -9 (the kernel kills it; the next daemon removes its files).
. "$(dirname "$0")/functions.sh"

vm_define imgh
# 1 MiB of data at 1 MiB, with a compressed cluster in its middle.
qemu-io -f qcow2 -c "write -q -c -P 0x33 1280k 64k" \
    -c "write -q -P 0x11 1M 256k" -c "write -q -P 0x22 1344k 704k" \
    "$VM_DIR/vda.qcow2" >/dev/null
qemu-img map --output=json -f qcow2 "$VM_DIR/vda.qcow2" |
    grep '"start": 1310720,.*"data": true}' >/dev/null ||
    fail "the cluster at 1280k is not compressed"
vm_start imgh
mount_vmsnapfs
S=$MNT/${VM_PREFIX}imgh/snapshots
take_snapshots "$S" s1

# helpers PID: the qemu-nbd processes daemon PID started.
helpers() { pgrep -f "qemu-nbd .*/run/vmsnapfs/$1-" || true; }

assert_eq "" "$(helpers "$DAEMON_PID")" "helpers before any open"
ref=$(mktemp /var/tmp/vmsnapfs-ref.XXXXXX)
on_exit "rm -f '$ref'"
qemu-img convert -U -f qcow2 -O raw "$S/s1/vda.qcow2" "$ref"
cmp "$S/s1/vda.img" "$ref" || fail "the .img differs from qemu-img convert"
[ -n "$(helpers "$DAEMON_PID")" ] || fail "no qemu-nbd after an open"
pid=$DAEMON_PID
stop_vmsnapfs
assert_eq 0 "$DAEMON_STATUS" "the daemon's exit status"
assert_eq "" "$(helpers "$pid")" "helpers after the unmount"

mount_vmsnapfs
S=$MNT/${VM_PREFIX}imgh/snapshots
head -c 1M "$S/s1/vda.img" > /dev/null
pid=$DAEMON_PID
stray=$(helpers "$pid")
[ -n "$stray" ] || fail "no qemu-nbd after an open"
# The daemon's pid file, for the next daemon should this one die.  Looked
# at while it lives: after its death any daemon that starts may sweep it,
# a test's running beside this one too.
ls /run/vmsnapfs/"$pid"-*.pid >/dev/null 2>&1 || fail "no pid file written"
kill -KILL "$pid"
stop_vmsnapfs
# The kernel kills it with the daemon (its parent-death signal).
no_helpers() { [ -z "$(helpers "$1")" ]; }
no_run_files() { ! ls /run/vmsnapfs/"$1"-* >/dev/null 2>&1; }
wait_for 10 no_helpers "$pid" ||
    fail "the qemu-nbd of a daemon killed with SIGKILL still runs: $stray"
mount_vmsnapfs
wait_for 5 no_run_files "$pid" ||
    fail "the next daemon left the dead one's pid file and socket"

#!/bin/bash
# The qemu-nbd behind a whole disk starts on the first open, and none
# outlives the daemon: not after an unmount, nor after kill -9 (the next
# daemon stops it).
. "$(dirname "$0")/functions.sh"

vm_define imgh
vm_start imgh
mount_vmsnapfs
S=$MNT/${VM_PREFIX}imgh/snapshots
take_snapshots "$S" s1

# helpers PID: the qemu-nbd processes daemon PID started.
helpers() { pgrep -f "qemu-nbd .*/run/vmsnapfs/$1-" || true; }

assert_eq "" "$(helpers "$DAEMON_PID")" "helpers before any open"
head -c 1M "$S/s1/vda.img" > /dev/null
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
kill -KILL "$pid"
stop_vmsnapfs
assert_eq "$stray" "$(helpers "$pid")" "the helper left by kill -9"
mount_vmsnapfs
wait_for 5 test -z "$(helpers "$pid")" || fail "the stray qemu-nbd still runs"
grep -q "left by a daemon that died" "$DAEMON_LOG" || fail "no line in the log"

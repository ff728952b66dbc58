#!/bin/bash
# One VM whose qemu hangs (SIGSTOP: its monitor answers nothing) delays
# nothing about another VM: while a snapshot of it waits on its monitor,
# an ls -lR of the other VM, reads of its files and a snapshot of it go
# on.  When the hung one runs again, its snapshot is made.
# alone: the top listed within 5 s with a VM stopped
. "$(dirname "$0")/functions.sh"

vm_define slowa
vm_define slowb
vm_start slowa
vm_start slowb
mount_vmsnapfs
A=$MNT/${VM_PREFIX}slowa
B=$MNT/${VM_PREFIX}slowb
mkdir "$A/snapshots/s1"

qemu_b=$(pgrep -f "guest=${VM_PREFIX}slowb" | head -n 1)
[ -n "$qemu_b" ] || fail "no qemu for slowb"
kill -STOP "$qemu_b"
on_exit "kill -CONT '$qemu_b' 2>/dev/null"
mkdir "$B/snapshots/hung" &
reader=$!
sleep 1
exited "$reader" && fail "the snapshot of slowb did not wait for its monitor"

timeout 5 ls -lR "$A" > /dev/null || fail "ls -lR of slowa waited for slowb"
timeout 5 cat "$A/snapshots/s1/info" "$A/state" "$A/jobs" > /dev/null ||
    fail "reads of slowa waited for slowb"
timeout 20 mkdir "$A/snapshots/s2" || fail "mkdir on slowa waited for slowb"
[ -d "$A/snapshots/s2" ] || fail "s2 does not show"
timeout 5 ls "$MNT" | grep -qx "${VM_PREFIX}slowb" || fail "the top lost slowb"

kill -CONT "$qemu_b"
wait_for 60 exited "$reader" || fail "slowb's snapshot never ended"
wait "$reader" || fail "slowb's snapshot failed after its qemu ran again"
[ -d "$B/snapshots/hung" ] || fail "slowb's snapshot does not show"

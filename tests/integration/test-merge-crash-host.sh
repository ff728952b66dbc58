#!/bin/bash
# A merge survives a restart of libvirtd (the block job goes on in qemu,
# and rmdir returns once it is done) and a qemu killed in its middle (the
# merge ends offline with qemu-img, and the VM boots from its disk).
# alone: restarts libvirtd
. "$(dirname "$0")/functions.sh"
requires qemu-io

# prepare NAME: VM NAME with s1 (320 MiB to merge) under s2, running; TOP
# is the volume made at s1, SUM2 the checksum of s2's disk.
prepare() {
    vm_define "$1" 1 512M
    V=$MNT/$VM_PREFIX$1
    big_delta "$1"
    take_snapshots "$V/snapshots" s2
    top=$(qemu-img info -U -f qcow2 "$(vm_volume "$1")" | sed -n 's/^backing file: //p')
    sum2=$(content_sum "$V/snapshots/s2/vda.qcow2")
}

# start_merge NAME: rmdir s1 of VM NAME in the background (RMDIR_PID), and
# wait until the merge shows in jobs.
start_merge() {
    V=$MNT/$VM_PREFIX$1
    rmdir "$V/snapshots/s1" &
    RMDIR_PID=$!
    wait_for 20 grep -q '^vda .* s1$' "$V/jobs" || fail "no merge in jobs"
}

# merged NAME SUM2 TOP: s1 of VM NAME is gone and merged whole.
merged() {
    [ ! -e "$V/snapshots/s1" ] || fail "s1 is still there"
    [ ! -e "$3" ] || fail "the merged volume $3 is still there"
    no_merge_record "$1" || fail "the merge is still recorded"
    assert_eq "$2" "$(content_sum "$V/snapshots/s2/vda.qcow2")" "s2 after the merge"
    qemu-img check -U -q -f qcow2 "$(vm_volume "$1")" || fail "qemu-img check fails"
    assert_eq 2 "$(chain_length "$(vm_volume "$1")")" "chain length"
}

mount_vmsnapfs -o merge_bandwidth=48

# libvirtd restarts while s1 merges.
prepare crlv
start_merge crlv
pid=$(pgrep -x libvirtd)
kill -TERM "$pid"
wait_for 10 test ! -e "/proc/$pid" || fail "libvirtd did not stop"
sh "$TOP/scripts/start-libvirtd.sh"
wait "$RMDIR_PID" || fail "rmdir failed across the restart of libvirtd"
merged crlv "$sum2" "$top"
n=$(guest_count crlv)
wait_for 10 counted_past crlv $((n + 3)) || fail "the guest stopped counting"

# qemu dies while s1 merges.
prepare crqm
start_merge crqm
pkill -KILL -f "guest=${VM_PREFIX}crqm," || fail "no qemu to kill"
wait "$RMDIR_PID" || fail "rmdir failed after qemu died"
assert_eq shut_off "$(cat "$V/state")" "state after qemu died"
merged crqm "$sum2" "$top"
last=$(disk_count "$(vm_volume crqm)")
mark=$(console_mark crqm)
echo start > "$V/state"
wait_for 60 counting_since crqm "$mark" || fail "the guest does not count"
assert_eq "$last" "$(boot_disk_since crqm "$mark")" "the count the guest booted from"

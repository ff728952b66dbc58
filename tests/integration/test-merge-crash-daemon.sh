#!/bin/bash
# The daemon killed with SIGKILL in the middle of a merge, once during an
# inner commit and once during an active-layer commit: the next daemon
# finds the merge in the VM's metadata and carries it to its end.  The end
# state is whole: merged, other snapshots unchanged, no volume or memory
# file left over, no job recorded, and the guest counting on.
# alone: leaves a merge record for the next daemon that starts, any test's
. "$(dirname "$0")/functions.sh"
requires qemu-io

# crash_mid_merge NAME: rmdir s1 of VM NAME in the background, kill the
# daemon once the merge shows in jobs, and mount again.
crash_mid_merge() {
    rmdir "$V/snapshots/s1" 2>/dev/null &
    _rmdir=$!
    wait_for 20 grep -q '^vda .* s1$' "$V/jobs" || fail "no merge in jobs"
    kill -KILL "$DAEMON_PID"
    wait "$_rmdir" && fail "rmdir succeeded through a dead daemon"
    stop_vmsnapfs
    mount_vmsnapfs -o merge_bandwidth=48
    V=$MNT/$VM_PREFIX$1
    wait_for 60 test ! -e "$V/snapshots/s1" || fail "the merge was not finished"
    grep -q "carrying it on" "$DAEMON_LOG" || fail "no recovery in the log"
    no_merge_record "$1" || fail "the merge is still recorded"
    assert_eq "" "$(cat "$V/jobs")" "jobs after the recovery"
    n=$(guest_count "$1")
    wait_for 10 counted_past "$1" $((n + 3)) || fail "the guest stopped counting"
}

# Inner: s1 lies under s2.
vm_define crin 1 512M
mount_vmsnapfs -o merge_bandwidth=48
V=$MNT/${VM_PREFIX}crin
big_delta crin
take_snapshots "$V/snapshots" s2
top=$(vm_volume crin)                     # the volume made at s2...
top=$(qemu-img info -U -f qcow2 "$top" | sed -n 's/^backing file: //p')  # ...stands on s1's
sum2=$(content_sum "$V/snapshots/s2/vda.qcow2")
crash_mid_merge crin
[ ! -e "$top" ] || fail "the merged volume $top is still there"
assert_eq "$sum2" "$(content_sum "$V/snapshots/s2/vda.qcow2")" "s2 after the recovery"
assert_eq 2 "$(chain_length "$(vm_volume crin)")" "chain length"
stop_vmsnapfs

# Active: s1 is the newest, the VM writes on the volume made at s1.
vm_define cract 1 512M
mount_vmsnapfs -o merge_bandwidth=48
V=$MNT/${VM_PREFIX}cract
big_delta cract
top=$(vm_volume cract)
crash_mid_merge cract
[ ! -e "$top" ] || fail "the merged volume $top is still there"
assert_eq "$VM_DIR/vda.qcow2" "$(vm_volume cract)" "the volume after the pivot"
n=$(guest_count cract)
sleep 1
[ "$(disk_count "$VM_DIR/vda.qcow2")" -gt "$n" ] || fail "the guest does not write to its base"

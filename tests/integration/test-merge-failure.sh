#!/bin/bash
# A merge that fails leaves the VM's chain whole: rmdir returns EIO, the
# snapshot stays with "status: failed", every other snapshot and the VM's
# disk read as before, and the next rmdir tries again and succeeds.
. "$(dirname "$0")/functions.sh"
requires chattr

vm_define mfail
vm_start mfail
mount_vmsnapfs
V=$MNT/${VM_PREFIX}mfail
take_snapshots "$V/snapshots" s1 s2 s3
echo destroy > "$V/state"

# s2's base is the volume made at s1: make it impossible to write.
base=$(sed -n 's/^disk.vda.volume: //p' "$V/snapshots/s2/info")
chattr +i "$base" || skip "chattr +i does not work here"
on_exit "chattr -i '$base'"
sum1=$(content_sum "$V/snapshots/s1/vda.qcow2")
sum3=$(content_sum "$V/snapshots/s3/vda.qcow2")
sumvm=$(content_sum "$(vm_volume mfail)")

assert_eq EIO "$(errno_of rmdir "$V/snapshots/s2")" "rmdir of s2 that cannot be merged"
grep -q "the merge of snapshot 's2' failed" "$DAEMON_LOG" || fail "no line in the log"
wait_for 2 grep -qx "status: failed" "$V/snapshots/s2/info" ||
    fail "s2 does not say it failed: $(cat "$V/snapshots/s2/info")"
qemu-img check -q -f qcow2 "$(vm_volume mfail)" || fail "qemu-img check fails"
assert_eq "$sum1" "$(content_sum "$V/snapshots/s1/vda.qcow2")" "s1 after the failure"
assert_eq "$sum3" "$(content_sum "$V/snapshots/s3/vda.qcow2")" "s3 after the failure"
assert_eq "$sumvm" "$(content_sum "$(vm_volume mfail)")" "the VM's disk after the failure"
assert_eq EBUSY "$(errno_of rmdir "$V/snapshots/s3")" "rmdir of another snapshot meanwhile"

chattr -i "$base"
rmdir "$V/snapshots/s2" || fail "the second rmdir of s2 failed"
[ ! -e "$V/snapshots/s2" ] || fail "s2 is still there"
no_merge_record mfail || fail "the merge is still recorded"
assert_eq "$sum3" "$(content_sum "$V/snapshots/s3/vda.qcow2")" "s3 after the merge"
assert_eq "$sumvm" "$(content_sum "$(vm_volume mfail)")" "the VM's disk after the merge"

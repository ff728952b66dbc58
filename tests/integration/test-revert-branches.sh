#!/bin/bash
# Revert straight to a snapshot, take one on the new branch, revert back
# across branches: every snapshot's disks read the same throughout, on a
# two-disk VM, and libvirt's tree is the mount's.
. "$(dirname "$0")/functions.sh"

vm_define branch 2
vm_start branch
mount_vmsnapfs
vm=${VM_PREFIX}branch
V=$MNT/$vm
echo disk > "$V/snapshot-mode"
sleep 1
mkdir "$V/snapshots/s1"
sleep 1
mkdir "$V/snapshots/s2"
sleep 1
echo destroy > "$V/state"

sums() {
    for s in "$@"; do
        (cd "$V/snapshots/$s" && md5sum vda.qcow2 vdb.qcow2)
    done
}
s1=$(sums s1)
s2=$(sums s2)
c1=$(disk_count "$V/snapshots/s1/vda.qcow2") # the guest boots on vda's count

ln -sfn snapshots/s1 "$V/active"
assert_eq snapshots/s1 "$(readlink "$V/active")" "active after revert"
[ ! -e "$V/preview" ] || fail "preview after a revert"
mark=$(console_mark branch)
echo start > "$V/state"
wait_for 60 counting_since branch "$mark" || fail "the guest does not count"
assert_eq "$c1" "$(boot_disk_since branch "$mark")" "booted on s1's disk"
sleep 1
mkdir "$V/snapshots/s3"
echo destroy > "$V/state"
s3=$(sums s3)
assert_eq s1 "$(virsh -q snapshot-parent "$vm" s3)" "parent of s3"

ln -sfn snapshots/s2 "$V/active"
assert_eq snapshots/s2 "$(readlink "$V/active")" "active after the second revert"
assert_eq "$s1" "$(sums s1)" "s1's disks"
assert_eq "$s2" "$(sums s2)" "s2's disks"
assert_eq "$s3" "$(sums s3)" "s3's disks"
assert_eq s1 "$(virsh -q snapshot-parent "$vm" s2)" "parent of s2"
assert_eq "s1 s2 s3" "$(ls "$V/snapshots" | xargs)" "the snapshots"
c2=$(disk_count "$V/snapshots/s2/vda.qcow2")
mark=$(console_mark branch)
echo start > "$V/state"
wait_for 60 counting_since branch "$mark" || fail "the guest does not count"
assert_eq "$c2" "$(boot_disk_since branch "$mark")" "booted on s2's disk"

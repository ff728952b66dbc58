#!/bin/bash
# rmdir of a snapshot of a running VM merges it live: an inner snapshot by
# block commit, the newest by active-layer commit and pivot.  The chain is
# one volume shorter each time, every other snapshot reads as it did, the
# guest counts on, and the merged volume and the memory file are gone.
. "$(dirname "$0")/functions.sh"

vm_define mlive
vm_start mlive
mount_vmsnapfs
vm=${VM_PREFIX}mlive
V=$MNT/$vm
take_snapshots "$V/snapshots" s1 s2 s3
sleep 1
active=$(vm_volume mlive)
len=$(chain_length "$active")
sum1=$(content_sum "$V/snapshots/s1/vda.qcow2")
sum3=$(content_sum "$V/snapshots/s3/vda.qcow2")
top2=$(virsh snapshot-dumpxml "$vm" s2 |
    sed -n "s/.*<source file='\([^']*\)'.*/\1/p" | head -n 1)
mem2=$(snapshot_memory mlive s2)
[ -f "$top2" ] && [ -f "$mem2" ] || fail "s2 has no overlay or memory file"

# An inner snapshot.
rmdir "$V/snapshots/s2"
[ ! -e "$V/snapshots/s2" ] || fail "s2 is still there"
virsh -q snapshot-list "$vm" --name | grep -qx s2 && fail "libvirt still has s2"
assert_eq s1 "$(virsh -q snapshot-parent "$vm" s3)" "the parent of s3"
assert_eq $((len - 1)) "$(chain_length "$active")" "chain length after s2"
[ ! -e "$top2" ] || fail "the merged volume $top2 is still there"
[ ! -e "$mem2" ] || fail "the memory file $mem2 is still there"
assert_eq "$sum1" "$(content_sum "$V/snapshots/s1/vda.qcow2")" "s1 after the merge"
assert_eq "$sum3" "$(content_sum "$V/snapshots/s3/vda.qcow2")" "s3 after the merge"
n=$(guest_count mlive)
wait_for 10 counted_past mlive $((n + 3)) ||
    fail "the guest stopped counting"

# The newest: the VM's own volume is merged down, and the VM pivots.
rmdir "$V/snapshots/s3"
[ ! -e "$V/snapshots/s3" ] || fail "s3 is still there"
[ ! -e "$active" ] || fail "the merged active volume is still there"
new=$(vm_volume mlive)
[ "$new" != "$active" ] || fail "the VM did not pivot"
assert_eq $((len - 2)) "$(chain_length "$new")" "chain length after s3"
assert_eq "$sum1" "$(content_sum "$V/snapshots/s1/vda.qcow2")" "s1 after the second merge"
assert_eq snapshots/s1 "$(readlink "$V/active")" "active after deleting the current snapshot"
n=$(guest_count mlive)
wait_for 10 counted_past mlive $((n + 3)) ||
    fail "the guest stopped counting after the pivot"
assert_eq running "$(cat "$V/state")" "state"
# The guest writes to the pivoted volume.
sleep 1
c=$(disk_count "$new")
[ "$c" -gt "$n" ] || fail "the count on the active volume ($c) did not move past $n"
assert_eq "" "$(cat "$V/jobs")" "jobs after the merges"

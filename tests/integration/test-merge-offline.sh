#!/bin/bash
# rmdir of a snapshot of a shut-off VM merges it with qemu-img: the chain
# passes qemu-img check, is one volume shorter, every other snapshot reads
# as it did, the memory file is gone, and the VM starts from its disk.
. "$(dirname "$0")/functions.sh"
requires qemu-io

vm_define moff
vm_start moff
mount_vmsnapfs
vm=${VM_PREFIX}moff
V=$MNT/$vm
take_snapshots "$V/snapshots" s1 s2 s3
sleep 1
echo destroy > "$V/state"
last=$(disk_count "$(vm_volume moff)")
active=$(vm_volume moff)
len=$(chain_length "$active")
sum1=$(content_sum "$V/snapshots/s1/vda.qcow2")
sum3=$(content_sum "$V/snapshots/s3/vda.qcow2")
sumnow=$(content_sum "$active")
mem2=$(snapshot_memory moff s2)
mem3=$(snapshot_memory moff s3)

rmdir "$V/snapshots/s2"
[ ! -e "$V/snapshots/s2" ] || fail "s2 is still there"
[ ! -e "$mem2" ] || fail "the memory file of s2 is still there"
assert_eq $((len - 1)) "$(chain_length "$active")" "chain length after s2"
qemu-img check -q -f qcow2 "$active" || fail "qemu-img check fails after s2"
assert_eq "$sum1" "$(content_sum "$V/snapshots/s1/vda.qcow2")" "s1 after s2"
assert_eq "$sum3" "$(content_sum "$V/snapshots/s3/vda.qcow2")" "s3 after s2"
assert_eq "$sumnow" "$(content_sum "$active")" "the VM's disk after s2"

# The newest: the VM's own volume goes, and its definition follows.
rmdir "$V/snapshots/s3"
[ ! -e "$V/snapshots/s3" ] || fail "s3 is still there"
[ ! -e "$mem3" ] || fail "the memory file of s3 is still there"
[ ! -e "$active" ] || fail "the merged volume is still there"
new=$(vm_volume moff)
assert_eq $((len - 2)) "$(chain_length "$new")" "chain length after s3"
qemu-img check -q -f qcow2 "$new" || fail "qemu-img check fails after s3"
assert_eq "$sumnow" "$(content_sum "$new")" "the VM's disk after s3"
assert_eq "$sum1" "$(content_sum "$V/snapshots/s1/vda.qcow2")" "s1 after s3"
assert_eq shut_off "$(cat "$V/state")" "the VM stays off"

# The VM boots from what its disk held.
mark=$(console_mark moff)
echo start > "$V/state"
wait_for 60 counting_since moff "$mark" || fail "the guest does not count"
assert_eq "$last" "$(boot_disk_since moff "$mark")" "the count the guest booted from"

# After a merge, the frozen volume of the snapshot above is the merged
# one's base, here of the very same size: it reads as that file, not as
# the pages the kernel kept of the file it was before.
vm_define mofsame 1 512M
V=$MNT/${VM_PREFIX}mofsame
big_delta_off mofsame
mkdir "$V/snapshots/s2"
sum2=$(content_sum "$V/snapshots/s2/vda.qcow2")
cat "$V/snapshots/s2/vda.qcow2" >/dev/null
rmdir "$V/snapshots/s1"
cmp "$V/snapshots/s2/vda.qcow2" "$VM_DIR/vda.qcow2" ||
    fail "s2/vda.qcow2 does not read as the volume it is now"
assert_eq "$sum2" "$(content_sum "$V/snapshots/s2/vda.qcow2")" "s2 after s1"

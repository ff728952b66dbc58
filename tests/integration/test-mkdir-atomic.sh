#!/bin/bash
# All disks or none: when one disk of a two-disk VM cannot be snapshotted
# (its volume is not the qcow2 image its definition says), mkdir fails
# with EIO and leaves nothing: no overlay of the other disk, no snapshot,
# the VM's disks as they were.
. "$(dirname "$0")/functions.sh"

vm_define atomic 2
vm=${VM_PREFIX}atomic
mount_vmsnapfs
S=$MNT/$vm/snapshots

# vdb's volume is garbage where a qcow2 image should be.
head -c 1M /dev/urandom > "$VM_DIR/vdb.qcow2"
files=$(ls "$VM_DIR")
disks=$(virsh -q domblklist "$vm")

assert_eq EIO "$(errno_of mkdir "$S/half")" "mkdir with a broken disk"
[ ! -e "$S/half" ] || fail "the snapshot exists"
assert_eq "" "$(virsh -q snapshot-list "$vm" --name)" "libvirt's snapshots"
assert_eq "$files" "$(ls "$VM_DIR")" "files left behind"
assert_eq "$disks" "$(virsh -q domblklist "$vm")" "the VM's disks"
grep -q "snapshot 'half' failed" "$DAEMON_LOG" || fail "no line in the log"

# Mended, the same name works, for both disks.
qemu-img create -q -f qcow2 "$VM_DIR/vdb.qcow2" 64M
mkdir "$S/half" || fail "mkdir after mending"
assert_eq "vda vdb" "$(sed -n 's/^disks: //p' "$S/half/info")" "both disks"

#!/bin/bash
# No room for the memory file: ENOSPC, and nothing left behind: no
# snapshot, no overlay, no memory file, the VM running on its disk.
. "$(dirname "$0")/functions.sh"

vm_define nospc
vm=${VM_PREFIX}nospc
# The VM's directory on a 48 MiB tmpfs: room for its disk, not for the
# memory of a 256 MiB guest.
vm_dir_on_tmpfs 48m
vm_start nospc
mount_vmsnapfs
S=$MNT/$vm/snapshots

files=$(ls "$VM_DIR")
disks=$(virsh -q domblklist "$vm")
assert_eq ENOSPC "$(errno_of mkdir "$S/big")" "mkdir without room"
[ ! -e "$S/big" ] || fail "the snapshot exists"
assert_eq "" "$(virsh -q snapshot-list "$vm" --name)" "libvirt's snapshots"
assert_eq "$files" "$(ls "$VM_DIR")" "files left behind"
assert_eq "$disks" "$(virsh -q domblklist "$vm")" "the VM's disks"
assert_eq running "$(virsh -q domstate "$vm")" "the VM"
grep -q 'No space left on device' "$DAEMON_LOG" || fail "the log does not say why"

# Disks only need little room: that still works.
echo disk > "$MNT/$vm/snapshot-mode"
mkdir "$S/small" || fail "a disk-only snapshot with little room"

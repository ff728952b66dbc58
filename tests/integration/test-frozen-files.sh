#!/bin/bash
# The frozen volume is byte for byte the file qemu stopped writing to, with
# the guest's count of that moment on it; the memory file is libvirt's,
# mode 0400; qemu-img reads both through the mount.
# alone: outside changes within a second
. "$(dirname "$0")/functions.sh"

vm_define frozen
vm_start frozen
mount_vmsnapfs
vm=${VM_PREFIX}frozen
S=$MNT/$vm/snapshots

sleep 1
before=$(guest_count frozen)
virsh -q snapshot-create-as "$vm" s1 --live --atomic \
    --memspec "file=$VM_DIR/s1.mem,snapshot=external" \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.s1.qcow2" >/dev/null
after=$(guest_count frozen)
wait_for 1 test -e "$S/s1/vda.qcow2" || fail "frozen volume did not appear"

cmp "$S/s1/vda.qcow2" "$VM_DIR/vda.qcow2" || fail "frozen volume differs"
cmp "$S/s1/memory" "$VM_DIR/s1.mem" || fail "memory file differs"
assert_eq 400 "$(stat -c %a "$S/s1/memory")" "mode of memory"
assert_eq 444 "$(stat -c %a "$S/s1/vda.qcow2")" "mode of the volume"
assert_eq "$(stat -c %s "$VM_DIR/vda.qcow2")" "$(stat -c %s "$S/s1/vda.qcow2")" \
    "size of the volume"

# The guest keeps writing to the overlay; the frozen file does not move.
sleep 1
[ "$(guest_count frozen)" -gt "$after" ] || fail "the guest stopped counting"
cmp "$S/s1/vda.qcow2" "$VM_DIR/vda.qcow2" || fail "frozen volume changed"

# Point in time: the count on the frozen disk is the one of the snapshot.
on_disk=$(disk_count "$S/s1/vda.qcow2")
[ -n "$on_disk" ] || fail "no count on the frozen disk"
# (Written to the disk before it is printed: up to the next count shown.)
[ "$on_disk" -ge $((before - 1)) ] && [ "$on_disk" -le $((after + 1)) ] ||
    fail "frozen count $on_disk not between $((before - 1)) and $((after + 1))"

# qemu-img reads the mounted file, and libvirt reads the memory image.
qemu-img info -U -f qcow2 "$S/s1/vda.qcow2" | grep -q 'virtual size: 64 MiB' ||
    fail "qemu-img info on the frozen file"
qemu-img check -U -f qcow2 "$S/s1/vda.qcow2" >/dev/null ||
    fail "qemu-img check on the frozen file"
virsh -q save-image-dumpxml "$S/s1/memory" | grep -q "<name>$vm</name>" ||
    fail "libvirt cannot read the memory file through the mount"

# Stable for the life of the snapshot: size, mtime and inode.
a=$(stat -c '%s %Y %i' "$S/s1/vda.qcow2" "$S/s1/info")
virsh -q snapshot-create-as "$vm" s2 --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.s2.qcow2" >/dev/null
wait_for 1 test -d "$S/s2" || fail "s2 did not appear"
assert_eq "$a" "$(stat -c '%s %Y %i' "$S/s1/vda.qcow2" "$S/s1/info")" \
    "size, mtime and inode after another snapshot"

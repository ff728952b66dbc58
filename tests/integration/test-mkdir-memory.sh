#!/bin/bash
# mkdir of a running VM in memory mode: one live checkpoint.  The disk holds
# the guest's count of that instant, the guest runs on, the memory file is
# a libvirt save image, active points to it, and libvirt's tree is the
# mount's.
. "$(dirname "$0")/functions.sh"

vm_define mkmem
vm_start mkmem
mount_vmsnapfs
vm=${VM_PREFIX}mkmem
S=$MNT/$vm/snapshots
sleep 1

before=$(guest_count mkmem)
mkdir "$S/first" || fail "mkdir failed"
after=$(guest_count mkmem)
# Right when mkdir returns: the directory, its files and the link.
assert_eq snapshots/first "$(readlink "$MNT/$vm/active")" "active after mkdir"
assert_eq "domain.xml info info.json memory vda.delta.img vda.delta.json vda.img vda.qcow2" \
    "$(ls "$S/first" | xargs)" "files of the snapshot"

# The guest writes each count to its disk before it prints it: the
# snapshot may hold the count the console shows next.
on_disk=$(disk_count "$S/first/vda.qcow2")
[ -n "$on_disk" ] && [ "$on_disk" -ge $((before - 1)) ] &&
    [ "$on_disk" -le $((after + 1)) ] ||
    fail "count on the snapshot's disk '$on_disk' not in [$((before - 1)), $((after + 1))]"

sleep 1
assert_eq running "$(virsh -q domstate "$vm")" "the VM after the snapshot"
[ "$(guest_count mkmem)" -gt "$after" ] || fail "the guest stopped counting"

field() { sed -n "s/^$2: //p" "$S/$1/info"; }
assert_eq yes "$(field first memory)" "memory"
assert_eq running "$(field first vm_state)" "vm_state"
mem=$(field first memory_file)
[ -f "$mem" ] || fail "memory file '$mem' missing"
case $mem in "$VM_DIR"/*"first"*.mem) ;; *) fail "memory file named '$mem'" ;; esac
virsh -q save-image-dumpxml "$mem" | grep -q "<name>$vm</name>" ||
    fail "virsh cannot read the memory file"
cmp "$S/first/memory" "$mem" || fail "memory through the mount differs"

# A second one is a child of the first, in libvirt as in the mount.
mkdir "$S/second"
assert_eq first "$(field second parent)" "parent of second"
assert_eq first "$(virsh -q snapshot-parent "$vm" second)" "libvirt's parent"
assert_eq "first second" "$(virsh -q snapshot-list "$vm" --name | xargs)" \
    "libvirt's list"
assert_eq "first second" "$(ls "$S" | xargs)" "the mount's list"
assert_eq snapshots/second "$(readlink "$MNT/$vm/active")" "active"
# The overlays are where they were planned, and the VM writes to the newest.
virsh -q domblklist "$vm" | grep -q "$VM_DIR/$vm.vda.second.qcow2" ||
    fail "the VM is not on the newest overlay"

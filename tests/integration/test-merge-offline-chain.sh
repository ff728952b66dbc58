#!/bin/bash
# A VM of two disks that ran (libvirt then records each disk's backing
# chain in its persistent definition), shut off, an inner snapshot merged
# offline: no disk of the definition names the merged volume any more, a
# snapshot taken next stands on the right chain, and the VM starts.  (Each
# disk's step defined the VM from a definition read before the other's, so
# the second brought back the first's old chain; found by the chaos
# campaign.)
. "$(dirname "$0")/functions.sh"

vm_define offc 2
vm_start offc
mount_vmsnapfs
vm=${VM_PREFIX}offc
V=$MNT/$vm
echo disk > "$V/snapshot-mode"
take_snapshots "$V/snapshots" c1 c2 c3
echo destroy > "$V/state"
virsh dumpxml --inactive "$vm" | grep -q "vda.c2.qcow2" ||
    fail "libvirt recorded no chain in the definition (the test needs one)"
rmdir "$V/snapshots/c2"
if virsh dumpxml --inactive "$vm" | grep -q '\.c2\.qcow2'; then
    fail "the definition still names a merged volume: $(virsh dumpxml --inactive "$vm" | grep '\.c2\.qcow2')"
fi
mkdir "$V/snapshots/c4"
mark=$(console_mark offc)
echo start > "$V/state" || fail "the VM does not start after the merge"
wait_for 60 counting_since offc "$mark" || fail "the guest does not count"
for t in vda vdb; do
    qemu-img check -U -q -f qcow2 "$(vm_volume offc "$t")" || fail "qemu-img check of $t"
done

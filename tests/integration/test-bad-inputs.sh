#!/bin/bash
# The table of bad inputs (data/bad-inputs.table): each call fails with the
# errno it names, and leaves both VMs and their snapshots as they were.
# alone: stops libvirtd
. "$(dirname "$0")/functions.sh"

vm_define badone
vm=${VM_PREFIX}badone
mount_vmsnapfs
wait_for 5 test -d "$MNT/$vm/snapshots" || fail "VM $vm does not show"
mkdir "$MNT/$vm/snapshots/s1" "$MNT/$vm/snapshots/s2"
# The mode recorded, so that writing it again changes nothing.
echo memory > "$MNT/$vm/snapshot-mode"

vm_define badtwo
other=${VM_PREFIX}badtwo
wait_for 5 test -d "$MNT/$other/snapshots" || fail "VM $other does not show"
mkdir "$MNT/$other/snapshots/o1"

# The VM of "gone:" lines: its XML kept, defined and undefined by the
# runner around each of them.
vm_define badgone
virsh dumpxml --inactive "${VM_PREFIX}badgone" > "$VM_DIR/gone.xml"
virsh -q undefine "${VM_PREFIX}badgone" >/dev/null

MNT=$MNT VM=$vm OTHER=$other GONE_XML=$VM_DIR/gone.xml GONE_DIR=$VM_DIR \
    python3 "$TOP/tests/integration/badinput.py" \
    "$TOP/tests/integration/data/bad-inputs.table" ||
    fail "bad inputs (see above)"

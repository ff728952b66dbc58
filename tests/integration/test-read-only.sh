#!/bin/bash
# Every write to the tree is refused: EROFS, or EACCES where the mode
# forbids it first.  Nothing changes.
. "$(dirname "$0")/functions.sh"

vm_define ro
vm_start ro
virsh -q snapshot-create-as "${VM_PREFIX}ro" s1 --live --atomic \
    --memspec "file=$VM_DIR/s1.mem,snapshot=external" \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.s1.qcow2" >/dev/null
mount_vmsnapfs
vm=${VM_PREFIX}ro
S=$MNT/$vm/snapshots/s1
sum_before=$(md5sum "$VM_DIR/vda.qcow2" "$VM_DIR/s1.mem")

for f in info info.json domain.xml memory vda.qcow2 vda.img; do
    for mode in w rw trunc; do
        assert_eq EROFS "$(errno_of open "$S/$f" $mode)" "open $f $mode"
    done
    assert_eq EROFS "$(errno_of truncate "$S/$f")" "truncate $f"
    assert_eq EROFS "$(errno_of chmod "$S/$f")" "chmod $f"
    assert_eq EROFS "$(errno_of unlink "$S/$f")" "unlink $f"
    # SPEC: the only rename under snapshots/ is of a snapshot directory.
    assert_eq EINVAL "$(errno_of rename "$S/$f" "$S/x")" "rename $f"
done
assert_eq EROFS "$(errno_of open "$MNT/$vm/jobs" w)" "open jobs for writing"
assert_eq EROFS "$(errno_of create "$S/new")" "create a file"
assert_eq EPERM "$(errno_of mkdir "$MNT/$vm/new")" "mkdir in a VM"
assert_eq EROFS "$(errno_of rmdir "$MNT/$vm/snapshots")" "rmdir of snapshots/"

# A user other than root meets the modes first.
if id nobody >/dev/null 2>&1; then
    umount_and_remount_for_others() {
        stop_vmsnapfs
        mount_vmsnapfs -o allow_other
    }
    umount_and_remount_for_others
    S=$MNT/$vm/snapshots/s1
    assert_eq EACCES "$(su -s /bin/sh nobody -c "python3 '$TOP/tests/integration/errno.py' open '$S/info' w")" \
        "non-root write"
    assert_eq EACCES "$(su -s /bin/sh nobody -c "python3 '$TOP/tests/integration/errno.py' open '$S/memory' r")" \
        "non-root read of memory"
    assert_eq OK "$(su -s /bin/sh nobody -c "python3 '$TOP/tests/integration/errno.py' open '$S/info' r")" \
        "non-root read of info"
fi

assert_eq "$sum_before" "$(md5sum "$VM_DIR/vda.qcow2" "$VM_DIR/s1.mem")" \
    "files changed"
assert_eq s1 "$(virsh -q snapshot-list "$vm" --name | xargs)" "snapshots changed"

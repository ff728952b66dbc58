#!/bin/bash
# rmdir refuses what it cannot delete, and changes nothing when it does:
# no such snapshot (ENOENT), the snapshot preview or resume points to
# (EBUSY), a snapshot whose frozen volume is open (EBUSY).  A
# snapshot with two branches above it merges, and keeps both.
. "$(dirname "$0")/functions.sh"

vm_define mref
vm_start mref
mount_vmsnapfs
vm=${VM_PREFIX}mref
V=$MNT/$vm
take_snapshots "$V/snapshots" s1 s2
echo destroy > "$V/state"

# snapshot volumes, memory files and checksums, to compare after each refusal
state() {
    ls "$V/snapshots" | tr '\n' ' '
    ls "$VM_DIR" | tr '\n' ' '
    for s in $(ls "$V/snapshots"); do
        content_sum "$V/snapshots/$s/vda.qcow2"
    done
    virsh -q snapshot-list "$vm" --tree
}

assert_eq ENOENT "$(errno_of rmdir "$V/snapshots/nope")" "rmdir of no snapshot"

# Previewing s2 (a snapshot with memory): preview and resume point to it.
ln -s snapshots/s2 "$V/preview"
before=$(state)
assert_eq EBUSY "$(errno_of rmdir "$V/snapshots/s2")" "rmdir of the previewed snapshot"
assert_eq "$before" "$(state)" "after the refusal under preview"
grep -q "cannot be deleted" "$DAEMON_LOG" || fail "no line in the log"
rm "$V/preview"
ln -sfn snapshots/s2 "$V/active"       # revert: resume -> s2/memory
[ -L "$V/resume" ] || fail "no resume link after the revert"
before=$(state)
assert_eq EBUSY "$(errno_of rmdir "$V/snapshots/s2")" "rmdir of the resume snapshot"
assert_eq "$before" "$(state)" "after the refusal under resume"
rm "$V/resume"

# An open frozen volume holds its snapshot: the merge would write into it
# under its reader.  Closed, the merge goes on.
exec 5< "$V/snapshots/s1/vda.qcow2"
before=$(state)
assert_eq EBUSY "$(errno_of rmdir "$V/snapshots/s1")" "rmdir of s1 while its vda.qcow2 is open"
assert_eq "$before" "$(state)" "after the refusal of an open volume"
exec 5<&-

# The revert made a branch on s2's volume, beside s2's own overlay.  s1,
# under both branches, merges, and both keep their content.
sum2=$(content_sum "$V/snapshots/s2/vda.qcow2")
active=$(vm_volume mref)
sumnow=$(content_sum "$active")
assert_eq s1 "$(sed -n 's/^parent: //p' "$V/snapshots/s2/info")" "s2's parent before"
rmdir "$V/snapshots/s1"
# Read at once, not from what the kernel kept of the file before.
assert_eq "" "$(sed -n 's/^parent: //p' "$V/snapshots/s2/info")" "s2's parent in info after merging s1"
[ ! -e "$V/snapshots/s1" ] || fail "s1 is still there"
assert_eq "$sum2" "$(content_sum "$V/snapshots/s2/vda.qcow2")" "s2 after merging s1"
assert_eq "$sumnow" "$(content_sum "$active")" "the VM's disk after merging s1"
qemu-img check -q -f qcow2 "$active" || fail "qemu-img check fails"
assert_eq "" "$(virsh -q snapshot-parent "$vm" s2 2>/dev/null)" "the parent of s2"

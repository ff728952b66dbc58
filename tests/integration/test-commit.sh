#!/bin/bash
# Commit a preview: active moves, preview goes, resume stays; the kept
# volumes go.  Start restores the memory once; the next start boots.  An
# undo brings back a pending restore exactly.
. "$(dirname "$0")/functions.sh"

vm_define commit
vm_start commit
mount_vmsnapfs
vm=${VM_PREFIX}commit
V=$MNT/$vm
sleep 1
mkdir "$V/snapshots/s1"
sleep 1
mkdir "$V/snapshots/s2"
echo destroy > "$V/state"
kept=$(virsh -q domblklist "$vm" | awk '{ print $2 }')

ln -sfn snapshots/s1 "$V/preview"
ln -sfn snapshots/s1 "$V/active"
assert_eq snapshots/s1 "$(readlink "$V/active")" "active after commit"
[ ! -e "$V/preview" ] || fail "preview after commit"
assert_eq snapshots/s1/memory "$(readlink "$V/resume")" "resume after commit"
[ ! -e "$kept" ] || fail "the kept volume '$kept' is still there"
assert_eq s1 "$(virsh -q snapshot-current "$vm" --name)" "libvirt's current"

# A preview of s2 and its undo bring back the pending restore of s1.
ln -sfn snapshots/s2 "$V/preview"
assert_eq snapshots/s2/memory "$(readlink "$V/resume")" "resume during s2"
rm "$V/preview"
assert_eq snapshots/s1/memory "$(readlink "$V/resume")" "resume after undo"
assert_eq snapshots/s1 "$(readlink "$V/active")" "active after undo"

mark=$(console_mark commit)
echo start > "$V/state"
wait_for 60 counting_since commit "$mark" || fail "the guest does not count"
assert_eq "" "$(boot_disk_since commit "$mark")" "a boot after commit"
echo destroy > "$V/state"
mark=$(console_mark commit)
echo start > "$V/state"
wait_for 60 counting_since commit "$mark" || fail "the guest does not count"
[ -n "$(boot_disk_since commit "$mark")" ] || fail "the second start did not boot"

# A new snapshot now descends from s1.
mkdir "$V/snapshots/s3"
assert_eq s1 "$(virsh -q snapshot-parent "$vm" s3)" "parent of s3"

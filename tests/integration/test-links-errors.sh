#!/bin/bash
# The refusals of the links, each leaving the VM and its snapshots as they
# were: a running VM (EBUSY), a target that is no snapshot of the VM
# (EINVAL, also through ln's temporary link), a second preview (EBUSY),
# rmdir of what preview or resume points to (EBUSY), mkdir during a
# preview (EBUSY).
. "$(dirname "$0")/functions.sh"

vm_define lnerr
vm_define other
vm_start lnerr
mount_vmsnapfs
vm=${VM_PREFIX}lnerr
V=$MNT/$vm
mkdir "$V/snapshots/s1"
mkdir "$V/snapshots/s2"

state() { vm_summary "$vm" "$V"; }
before=$(state)

assert_eq EBUSY "$(errno_of symlink snapshots/s1 "$V/preview")" "preview while running"
# ln -sfn's two steps: the temporary link is made, the rename refused.
assert_eq OK "$(errno_of symlink snapshots/s1 "$V/tmp1")" "a temporary link"
assert_eq snapshots/s1 "$(readlink "$V/tmp1")" "the temporary link's target"
assert_eq EBUSY "$(errno_of rename "$V/tmp1" "$V/active")" "revert while running"
assert_eq OK "$(errno_of unlink "$V/tmp1")" "removing the temporary link"
[ ! -e "$V/tmp1" ] && [ ! -L "$V/tmp1" ] || fail "the temporary link stayed"
assert_eq "$before" "$(state)" "after refusals while running"

echo destroy > "$V/state"
before=$(state)
for target in snapshots/nope "../${VM_PREFIX}other/snapshots/s1" s1 /etc/passwd \
    snapshots/s1/memory snapshots/; do
    assert_eq EINVAL "$(errno_of symlink "$target" "$V/preview")" "target '$target'"
    assert_eq EINVAL "$(errno_of symlink "$target" "$V/CuTmp")" "temporary '$target'"
done
assert_eq EPERM "$(errno_of symlink snapshots/s1 "$V/resume")" "ln resume"
assert_eq "$before" "$(state)" "after bad targets"

ln -sfn snapshots/s1 "$V/preview"
before=$(state)
assert_eq OK "$(errno_of symlink snapshots/s2 "$V/tmp2")" "a temporary link"
assert_eq EBUSY "$(errno_of rename "$V/tmp2" "$V/preview")" "a second preview"
assert_eq EBUSY "$(errno_of rename "$V/tmp2" "$V/active")" "revert to another"
errno_of unlink "$V/tmp2" >/dev/null
assert_eq EBUSY "$(errno_of rmdir "$V/snapshots/s1")" "rmdir of the preview"
assert_eq EBUSY "$(errno_of mkdir "$V/snapshots/s3")" "mkdir during a preview"
echo start > "$V/state"
assert_eq EBUSY "$(errno_of unlink "$V/preview")" "undo while running"
echo destroy > "$V/state"
# The start used the pending restore: resume is gone, the rest is as it was.
assert_eq "$(echo "$before" | grep -v '^resume ')" "$(state)" "during the preview"

# resume points to s2 after a preview and commit of s2: rmdir s2 is EBUSY.
rm "$V/preview"
ln -sfn snapshots/s2 "$V/active"
assert_eq EBUSY "$(errno_of rmdir "$V/snapshots/s2")" "rmdir of resume's"
grep -q "symlink preview -> snapshots/s1: EBUSY: it is running; a preview, commit, revert or undo needs it shut off" "$DAEMON_LOG" ||
    fail "no line for the running VM"

#!/bin/bash
# A managed save is not the end of a stateless VM's run: `virsh
# managedsave` of a VM stateless at s1 reverts nothing (the volume the save
# image names stays, no revert in the log), a daemon started meanwhile
# leaves it too, and `virsh start` resumes the saved run (the guest's count
# goes on from the save's, not from s1's).  While the image exists, a
# preview, a revert (ln's rename over active), ln stateless and an undo
# are EBUSY and change nothing.  The stop at the end of the resumed run
# re-arms the VM as ever.
# alone: every daemon running re-arms a stateless VM that stops, and
# another test's daemon would revert this VM at its managed save
. "$(dirname "$0")/functions.sh"

vm_define ssave 1 64M
vm=${VM_PREFIX}ssave
vm_start ssave
mount_vmsnapfs
V=$MNT/$vm
S=$V/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
wait_for 30 counted_past ssave 5 || fail "the guest does not count"
mkdir "$S/s1"
at_s1=$(disk_count "$S/s1/vda.img" raw)
virsh -q destroy "$vm" >/dev/null
wait_for 10 is_shut_off "$V" || fail "the VM does not stop"
ln -sfn snapshots/s1 "$V/stateless" || fail "ln -sfn snapshots/s1 stateless"

# rearmed: the VM is back at s1 for its next start (the revert is over).
rearmed() { [ -L "$V/resume" ] && [ ! -L "$V/preview" ]; }
said() { cat "$DAEMON_LOG" ${L2:+"$L2"} | grep -c "$1" || true; }
has_save() { virsh -q dominfo "$vm" | grep -q '^Managed save: *yes'; }

# A run from s1, then a managed save of it.
echo start > "$V/state"
wait_for 60 counted_past ssave $((at_s1 + 10)) || fail "the run does not count"
reverts=$(said "stateless: back at snapshot 's1'")
vol=$(vm_volume ssave)
virsh -q managedsave "$vm" >/dev/null || fail "virsh managedsave"
saved_at=$(guest_count ssave)
has_save || fail "no managed save image"
# The daemon saw the stop: it says what it did with it.
left() { grep -q "stateless: it stopped by a save" "$DAEMON_LOG"; }
reverted() { [ "$(said "stateless: back at snapshot 's1'")" -gt "$reverts" ]; }
wait_for 30 left || reverted || fail "the daemon says nothing of the save"
reverted && fail "the managed save was taken for the end of a run: reverted"
[ -f "$vol" ] || fail "the volume of the saved run, '$vol', is gone"
assert_eq "$vol" "$(vm_volume ssave)" "the disk after the managed save"
has_save || fail "the managed save image is gone"

# With the image: every verb that would change the volumes is EBUSY.
state() { vm_summary "$vm" "$V"; }
before=$(state)
assert_eq EBUSY "$(errno_of symlink snapshots/s1 "$V/preview")" "preview with a save image"
assert_eq OK "$(errno_of symlink snapshots/s1 "$V/tmp1")" "a temporary link"
assert_eq EBUSY "$(errno_of rename "$V/tmp1" "$V/active")" "revert with a save image"
assert_eq EBUSY "$(errno_of rename "$V/tmp1" "$V/stateless")" "ln stateless with a save image"
errno_of unlink "$V/tmp1" >/dev/null
assert_eq "$before" "$(state)" "after the refusals"
grep -q "it has a managed save image" "$DAEMON_LOG" || fail "no log line for the refusals"

# A daemon that starts now finds the stateless VM shut off: it leaves it.
mount_second_vmsnapfs
wait_for 30 grep -q "it has a managed save image" "$L2" ||
    fail "the second daemon did not look at the VM: $(tail -n 3 "$L2")"
! grep -q "stateless: back at snapshot" "$L2" ||
    fail "the second daemon reverted the saved VM at its start"
assert_eq "$before" "$(state)" "after the second daemon's start"

# The saved run resumes where it was saved, not at s1.
mark=$(console_mark ssave)
virsh -q start "$vm" >/dev/null || fail "virsh start after the managed save"
wait_for 60 counting_since ssave "$mark" || fail "the resumed run does not count"
first=$(first_count_since ssave "$mark")
[ -z "$(boot_disk_since ssave "$mark")" ] || fail "the guest booted"
[ "$first" -ge "$saved_at" ] && [ "$first" -le $((saved_at + 2)) ] ||
    fail "resumed at $first: the save was at $saved_at (s1 at $at_s1)"

# The end of that run re-arms it, as ever.
virsh -q destroy "$vm" >/dev/null
wait_for 30 reverted || fail "the end of the run did not re-arm the VM"
wait_for 20 rearmed || fail "not back at s1 after the run"
[ ! -e "$vol" ] || fail "the run's volume '$vol' is left"

# Undo with a save image: a preview started by virsh, then saved.
wait_for 5 rm "$V/stateless" 2>/dev/null || fail "rm stateless"
ln -sfn snapshots/s1 "$V/preview" || fail "ln -sfn snapshots/s1 preview"
virsh -q start "$vm" >/dev/null
wait_for 60 guest_counting ssave || fail "the preview does not run"
virsh -q managedsave "$vm" >/dev/null || fail "virsh managedsave of the preview"
before=$(state)
assert_eq EBUSY "$(errno_of unlink "$V/preview")" "undo with a save image"
assert_eq "$before" "$(state)" "after the undo's refusal"

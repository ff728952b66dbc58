#!/bin/bash
# Two daemons on one host (two mounts of it): the first merges, and the
# second, started in the middle of that merge, finds the merge in the VM's
# metadata and leaves it to the first, which still runs (a record is
# carried on only when no daemon of this machine holds its VM).  An rmdir
# of the same snapshot through the second mount is EBUSY, and the first
# mount's rmdir ends as it should: merged, no record left.
#
# Then a daemon that read the record while a merge ran, but reaches its
# recovery once the first daemon has ended it (gdb holds it there), finds
# the record gone under the VM's lock and carries nothing on: no "merge
# failed" in its log for a merge that went well.
. "$(dirname "$0")/functions.sh"
requires qemu-io gdb

vm_define two 1 512M
mount_vmsnapfs -o merge_bandwidth=48
V=$MNT/${VM_PREFIX}two
big_delta two
rmdir "$V/snapshots/s1" &
rmdir_pid=$!
on_exit "kill $rmdir_pid 2>/dev/null"
wait_for 20 grep -q '^vda .* s1$' "$V/jobs" || fail "no merge in jobs"

# The second daemon, started while the first merges.
mount_second_vmsnapfs
V2=$M2/${VM_PREFIX}two
wait_for 10 test -d "$V2/snapshots/s1" || fail "the second mount does not show s1"
wait_for 10 grep -q "merge of snapshot 's1' is another vmsnapfs's; left to it" "$L2" ||
    fail "the second daemon does not leave the merge to the first: $(cat "$L2")"
if grep -q "carrying it on" "$L2"; then
    fail "the second daemon carried on the first's merge: $(cat "$L2")"
fi
assert_eq EBUSY "$(errno_of rmdir "$V2/snapshots/s1")" "rmdir of s1 through the second mount"
grep -q "another vmsnapfs (pid $DAEMON_PID) has an operation under way" "$L2" ||
    fail "the second daemon's log does not name the first: $(tail -n 3 "$L2")"

wait "$rmdir_pid" || fail "rmdir through the first mount failed: $(tail -n 5 "$DAEMON_LOG")"
# Its own VM's: another test's daemon may merge beside it.
if grep -q "VM '${VM_PREFIX}two': the merge of .* is no longer recorded" "$DAEMON_LOG"; then
    fail "the first daemon's merge record was taken from under it"
fi
wait_for 5 test ! -e "$V2/snapshots/s1" || fail "s1 is still in the second mount"
no_merge_record two || fail "the merge is still recorded"
assert_eq "$VM_DIR/vda.qcow2" "$(vm_volume two)" "the volume after the pivot"

fusermount3 -u "$M2"
wait "$P2" || fail "the second daemon exited with $?"
if grep -q 'Sanitizer\|runtime error:' "$L2"; then
    grep -A 30 'Sanitizer\|runtime error:' "$L2" >&2
    fail "the second daemon's sanitizers reported errors"
fi

# --- a record read before the lock, the merge ended after -----------------
virsh -q destroy "${VM_PREFIX}two" >/dev/null
mkdir "$V/snapshots/s2" || fail "mkdir s2"
qemu-io -f qcow2 -c "write -q -P 0x6b 1M 320M" "$(vm_volume two)" >/dev/null
vm_start two
rmdir "$V/snapshots/s2" &
rmdir_pid=$!
on_exit "kill $rmdir_pid 2>/dev/null"
wait_for 20 grep -q '^vda .* s2$' "$V/jobs" || fail "no merge of s2 in jobs"
# The job barely moves until the third daemon has read the record.
virsh -q blockjob "${VM_PREFIX}two" vda --bandwidth 1 ||
    fail "the merge's speed cannot be set"
on_exit "virsh -q blockjob '${VM_PREFIX}two' vda --bandwidth 0 2>/dev/null"
mount_held_vmsnapfs merge_recover
grep -q '^vda .* s2$' "$V/jobs" || fail "the merge of s2 ended before the third daemon read it"
virsh -q blockjob "${VM_PREFIX}two" vda --bandwidth 0 ||
    fail "the merge's speed cannot be set back"
wait "$rmdir_pid" || fail "rmdir of s2 failed: $(tail -n 5 "$DAEMON_LOG")"
no_merge_record two || fail "the merge of s2 is still recorded"
release_held
grep -q "VM '${VM_PREFIX}two': the merge of snapshot 's2' is no longer under way" "$L3" ||
    fail "the third daemon does not say the merge ended: $(grep vmsnapfs: "$L3" | tail -n 5)"
# Its own VM's: another test's daemon may merge beside it.
if grep -Eq "VM '${VM_PREFIX}two': (.*carrying it on|the merge of .* (is no longer recorded|failed;))" "$L3"; then
    fail "the third daemon carried on a merge that had ended: $(grep "VM '${VM_PREFIX}two'" "$L3")"
fi
[ -d "$M3/${VM_PREFIX}two/snapshots" ] || fail "the third mount does not show the VM"
assert_eq "" "$(ls "$M3/${VM_PREFIX}two/snapshots" | grep -x s2)" "s2 in the third mount"
no_merge_record two || fail "the third daemon left a merge recorded"
stop_held

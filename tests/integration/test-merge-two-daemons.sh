#!/bin/bash
# Two daemons on one host (two mounts of it): the first merges, and the
# second, started in the middle of that merge, finds the merge in the VM's
# metadata and leaves it to the first, which still runs (a record is
# carried on only when no daemon of this machine holds its VM).  An rmdir
# of the same snapshot through the second mount is EBUSY, and the first
# mount's rmdir ends as it should: merged, no record left.
. "$(dirname "$0")/functions.sh"
requires qemu-io

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

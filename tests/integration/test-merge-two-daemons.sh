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
M3=$(mktemp -d /tmp/vmsnapfs-mnt.XXXXXX)
L3=$M3.log G3=$M3.gdb
on_exit "rm -rf '$M3' '$L3' '$G3.x' '$G3.on' '$G3.go'"
cat > "$G3.x" <<EOF
set pagination off
set confirm off
handle SIGPIPE nostop noprint pass
break merge_recover
run
shell touch $G3.on
shell while [ ! -e $G3.go ]; do sleep 0.1; done
delete
detach
quit
EOF
gdb -batch -nx -x "$G3.x" --args "$VMSNAPFS" -f "-ouri=$URI" "$M3" >"$L3" 2>&1 &
G3_PID=$!
on_exit "touch '$G3.go'; wait_for 30 exited $G3_PID; fusermount3 -u '$M3' 2>/dev/null || umount -l '$M3' 2>/dev/null"
wait_for 60 test -e "$G3.on" || fail "gdb did not stop the third daemon: $(tail -n 5 "$L3")"
P3=$(pgrep -f "^[^ ]*vmsnapfs -f -ouri=$URI $M3\$") || fail "no third daemon"
grep -q '^vda .* s2$' "$V/jobs" || fail "the merge of s2 ended before the third daemon read it"
virsh -q blockjob "${VM_PREFIX}two" vda --bandwidth 0 ||
    fail "the merge's speed cannot be set back"
wait "$rmdir_pid" || fail "rmdir of s2 failed: $(tail -n 5 "$DAEMON_LOG")"
no_merge_record two || fail "the merge of s2 is still recorded"
touch "$G3.go"
wait_for 30 exited "$G3_PID" || fail "gdb did not let the third daemon go: $(tail -n 5 "$L3")"
wait_for 30 grep -q "Mounted '" "$L3" || fail "the third daemon did not start: $(tail -n 5 "$L3")"
grep -q "merge of snapshot 's2' is no longer under way" "$L3" ||
    fail "the third daemon does not say the merge ended: $(grep vmsnapfs: "$L3" | tail -n 5)"
if grep -q "carrying it on\|vmsnapfs: .*failed" "$L3"; then
    fail "the third daemon carried on a merge that had ended: $(grep -A 3 'carrying it on' "$L3")"
fi
assert_eq "" "$(ls "$M3/${VM_PREFIX}two/snapshots" | grep -x s2)" "s2 in the third mount"
no_merge_record two || fail "the third daemon left a merge recorded"
fusermount3 -u "$M3"
wait_for 30 exited "$P3" || fail "the third daemon did not exit"
if grep -q 'Sanitizer\|runtime error:' "$L3"; then
    grep -A 30 'Sanitizer\|runtime error:' "$L3" >&2
    fail "the third daemon's sanitizers reported errors"
fi

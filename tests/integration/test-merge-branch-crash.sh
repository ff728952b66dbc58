#!/bin/bash
# The daemon killed with SIGKILL while it deletes a branch point (during
# the live block pull into the running branch): the next daemon finds the
# deletion in the VM's metadata and finishes it.  Both branches read what
# they read before, nothing is left over, the record is gone, and the
# guest counts on.
# alone: leaves a deletion record for the next daemon that starts, any test's
. "$(dirname "$0")/functions.sh"
requires qemu-io

vm_define bcrash 1 512M
vm=${VM_PREFIX}bcrash
mount_vmsnapfs -o merge_bandwidth=24
V=$MNT/$vm
S=$V/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
# Shut off: s0, then 240 MiB into the volume made at s0 (s1's frozen
# volume, what the deletion moves up), s1, and a little on branch A.
mkdir "$S/s0"
qemu-io -f qcow2 -c "write -q -P 0x5a 1M 240M" "$(vm_volume bcrash)" >/dev/null
mkdir "$S/s1"
qemu-io -f qcow2 -c "write -q -P 0x33 300M 1M" "$(vm_volume bcrash)" >/dev/null
mkdir "$S/s2"
ln -sfn snapshots/s1 "$V/active"         # branch B, from s1
vm_start bcrash
s1vol=$(readlink -f "$VM_DIR"/*.vda.s0.qcow2)
sum_a=$(content_sum "$S/s2/vda.qcow2")

rmdir "$S/s1" 2>/dev/null &
rm_pid=$!
pulling() { grep -q "^vda pull " "$V/jobs"; }
wait_for 30 pulling || fail "no pull in jobs: $(cat "$V/jobs")"
kill -KILL "$DAEMON_PID"
wait "$rm_pid" && fail "rmdir succeeded through a dead daemon"
virsh metadata "$vm" https://vmsnapfs.org/xmlns/domain/1 | grep -q "<branch " ||
    fail "no record of the deletion"
stop_vmsnapfs
mount_vmsnapfs -o merge_bandwidth=240
V=$MNT/$vm
S=$V/snapshots
wait_for 30 grep -q "deletion of a branch point was under way" "$DAEMON_LOG" ||
    fail "no recovery in the log"
wait_for 60 test ! -e "$S/s1" || fail "s1 was not deleted"
no_branch_record() {
    ! virsh metadata "$vm" https://vmsnapfs.org/xmlns/domain/1 | grep -q "<branch "
}
wait_for 30 no_branch_record || fail "the deletion is still recorded"
[ ! -e "$s1vol" ] || fail "s1's frozen volume is left"
assert_eq "$sum_a" "$(content_sum "$S/s2/vda.qcow2")" "branch A (s2) after the recovery"
assert_eq s0 "$(virsh -q snapshot-parent "$vm" s2)" "s2's parent"
assert_eq "" "$(cat "$V/jobs")" "jobs after the recovery"
raw=$(mktemp /var/tmp/vmsnapfs-bcrash.XXXXXX)
on_exit "rm -f '$raw'"
qemu-img convert -U -f qcow2 -O raw "$(vm_volume bcrash)" "$raw"
cmp <(dd if="$raw" bs=1M skip=1 count=240 2>/dev/null) \
    <(head -c $((240 << 20)) /dev/zero | tr '\0' '\132') ||
    fail "branch B does not read s1's data"
cmp -n $((1 << 20)) <(dd if="$raw" bs=1M skip=300 count=1 2>/dev/null) /dev/zero ||
    fail "branch B reads branch A's data"
n=$(guest_count bcrash)
wait_for 10 counted_past bcrash $((n + 3)) || fail "the guest stopped counting"

#!/bin/bash
# Unmounting in the middle of a long offline merge (qemu-img commit, its
# rmdir interrupted) returns within seconds: the commit is stopped, the
# merge stays recorded, and the next daemon carries it to its end.
# alone: leaves a merge record for the next daemon that starts, any test's
. "$(dirname "$0")/functions.sh"
requires qemu-io

vm_define unm 1 512M
# 1 MiB/s: the 320 MiB commit would take five minutes.
mount_vmsnapfs -o merge_bandwidth=1
V=$MNT/${VM_PREFIX}unm
big_delta_off unm
take_snapshots "$V/snapshots" s2
sum2=$(content_sum "$V/snapshots/s2/vda.qcow2")
# Ctrl-C on the rmdir: it returns, the merge goes on in the daemon.
assert_eq EINTR "$(errno_of rmdir-interrupted 2 "$V/snapshots/s1")" "rmdir interrupted"
pgrep -f "qemu-img commit .*${VM_PREFIX}unm" >/dev/null || fail "no qemu-img commit"
t0=$(date +%s)
fusermount3 -u "$MNT"
wait_for 15 exited "$DAEMON_PID" || fail "the daemon did not exit within 15 s of the unmount"
wait "$DAEMON_PID" || fail "the daemon's exit status after an unmount"
DAEMON_PID=
echo "unmounted in $(($(date +%s) - t0)) s"
if pgrep -f "qemu-img commit .*${VM_PREFIX}unm" >/dev/null; then
    fail "qemu-img commit outlived the daemon: $(pgrep -af "qemu-img commit")"
fi
no_merge_record unm && fail "the merge is not recorded for the next start"

# The next daemon finishes it.
mount_vmsnapfs
V=$MNT/${VM_PREFIX}unm
wait_for 120 test ! -e "$V/snapshots/s1" || fail "the merge was not finished"
grep -q "carrying it on" "$DAEMON_LOG" || fail "no recovery in the log"
no_merge_record unm || fail "the merge is still recorded"
assert_eq "$sum2" "$(content_sum "$V/snapshots/s2/vda.qcow2")" "s2 after the recovery"
qemu-img check -q -f qcow2 "$(vm_volume unm)" || fail "qemu-img check fails"

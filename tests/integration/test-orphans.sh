#!/bin/bash
# No program the daemon runs outlives it: killed with SIGKILL while a
# clone's pull fills its copy in a paused helper domain (slowed by
# merge_bandwidth), that helper is gone within seconds (libvirt destroys it
# with the daemon's connection), so the next daemon's recovery has no stray
# writer behind it; it finishes the clone.  (The qemu-nbd behind a whole
# disk: test-img-helpers.)
# alone: leaves a clone record for the next daemon that starts, any test's
. "$(dirname "$0")/functions.sh"
requires qemu-io

vm_define orsrc 1 512M
vm=${VM_PREFIX}orsrc
clone=${VM_PREFIX}orclone
on_exit "vm_remove '$clone'"
on_exit "rm -f '$VM_DIR/$clone'.*"
qemu-io -f qcow2 -c "write -q -P 0x5a 1M 240M" "$VM_DIR/vda.qcow2" >/dev/null
mount_vmsnapfs -o merge_bandwidth=16
S=$MNT/$vm/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
mkdir "$S/s1"

# helper: the name of the clone's helper domain for vda.
helper() { echo "vmsnapfs-commit-$(virsh -q domuuid "$clone" | cut -c1-8)-vda"; }
helper_runs() { virsh -q domstate "$(helper)" >/dev/null 2>&1; }
copying() {
    grep -Eq "^vda pull [1-9][0-9]* [0-9]+ [0-9]+% s1$" "$MNT/$clone/jobs" && helper_runs
}
no_jobs() { [ -z "$(cat "$MNT/$clone/jobs")" ]; }

ln -s "$vm/snapshots/s1" "$MNT/$clone" || fail "ln -s"
wait_for 20 copying || fail "no pull in a helper: $(cat "$MNT/$clone/jobs")"
kill -KILL "$DAEMON_PID"
helper_gone() { ! helper_runs; }
wait_for 10 helper_gone || fail "the killed daemon's helper $(helper) still runs"
stop_vmsnapfs

mount_vmsnapfs
S=$MNT/$vm/snapshots
wait_for 10 test -d "$MNT/$clone" || fail "the clone is gone after the restart"
wait_for 30 grep -q "carrying on its clone" "$DAEMON_LOG" || fail "no recovery in the log"
wait_for 120 no_jobs || fail "the copy was not finished"
cmp "$MNT/$clone/snapshots/s1/vda.img" "$S/s1/vda.img" || fail "the copy differs"

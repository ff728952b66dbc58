#!/bin/bash
# An instant clone's job survives the daemon: killed with SIGKILL in the
# middle of the pull into the clone's copy, while the clone runs (resumed
# from the snapshot's memory at once) and after the helper domain's qemu
# was killed (the job stopped cleanly), the clone runs on, and the next
# daemon finds the clone in its metadata and carries the job on: the pull
# (its file found standing alone with data missing, as a helper killed
# between the pull's end and its close leaves it, is pulled again),
# then the switch of the running clone onto its copy, which then stands on
# no file of the source; and when the source is gone by then, the next
# daemon removes the unfinished clone and every file it made.  Meanwhile
# the source's record pins the snapshot: the next daemon refuses its rmdir
# from its first request on.  A fault in the middle of a pull stops the
# job, with a log line, and the same daemon carries it on once the fault
# is gone: libvirtd restarted (the clone runs on).  The file system of the
# copies full: tried again until job_tries failures, then hourly, and the
# next daemon ends it (s1 pinned meanwhile; the clone then boots from its
# own disk).  The source's files are never written.  A clone with no room for
# its copies: ENOSPC, and nothing defined or written.
# alone: restarts libvirtd; leaves a clone record for the next daemon that starts, any test's
. "$(dirname "$0")/functions.sh"
requires qemu-io

vm_define crsrc 1 512M
vm=${VM_PREFIX}crsrc
clone=${VM_PREFIX}crclone
on_exit "vm_remove '$clone'"
SRC_DIR=$VM_DIR
qemu-io -f qcow2 -c "write -q -P 0x5a 1M 240M" "$VM_DIR/vda.qcow2" >/dev/null
vm_start crsrc
mount_vmsnapfs -o merge_bandwidth=8
S=$MNT/$vm/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
mkdir "$S/s1"
at_s1=$(disk_count "$S/s1/vda.img" raw)

copying() { grep -Eq "^vda pull [1-9][0-9]* [0-9]+ [0-9]+% s1$" "$MNT/$1/jobs"; }
no_jobs() { [ -z "$(cat "$MNT/$1/jobs")" ]; }
independent() { grep -q "VM '$clone': independent of '$1' snapshot 's1'" "$DAEMON_LOG"; }
console=$SRC_DIR/$clone.console.log
count_of() { sed -n 's/^count \([0-9][0-9]*\).*/\1/p' "$console" | tail -n 1; }
clone_counting() { grep -q "^count " "$console"; }
clone_past() { [ "$(count_of)" -gt "$1" ]; }

# What of the source the clones read: never written.
src_sums() { sha256sum "$SRC_DIR/vda.qcow2" "$(snapshot_memory crsrc s1)"; }
sums=$(src_sums)

# Killed during the pull, the clone running: finished by the next daemon.
ln -s "$vm/snapshots/s1" "$MNT/$clone" || fail "ln -s"
echo start > "$MNT/$clone/state" || fail "the clone does not start at once"
wait_for 60 clone_counting || fail "the clone does not count"
grep -q "vmsnapfs-guest: boot" "$console" && fail "the clone booted"
first=$(sed -n 's/^count \([0-9][0-9]*\).*/\1/p' "$console" | head -n 1)
[ "$first" -ge "$at_s1" ] && [ "$first" -le $((at_s1 + 2)) ] ||
    fail "the clone's first count $first does not follow s1's $at_s1"
wait_for 20 copying "$clone" || fail "no pull in jobs: $(cat "$MNT/$clone/jobs")"
pulled=$SRC_DIR/$clone.vda.qcow2.pull
qemu-img info -U -f qcow2 "$pulled" | grep -q '^backing file' ||
    fail "the pull's file stands alone before the kill: make the pull slower"
# The helper's qemu killed: the job stops cleanly, the clone runs on.
helper=vmsnapfs-commit-$(virsh -q domuuid "$clone" | cut -c1-8)-vda
kill -KILL "$(cat "/run/libvirt/qemu/$helper.pid")" || fail "no helper pulls"
waits="VM '$clone': its copy cannot be made whole now; it stays on '$vm' snapshot 's1', and its job is tried again in"
wait_for 60 grep -q "$waits" "$DAEMON_LOG" ||
    fail "the job does not stop with its helper: $(tail -n 3 "$DAEMON_LOG")"
assert_eq running "$(virsh -q domstate "$clone")" "the clone after its helper died"
assert_eq EBUSY "$(errno_of rmdir "$S/s1")" "rmdir s1 with the job stopped"
kill -KILL "$DAEMON_PID"
stop_vmsnapfs
# A helper the job started again meanwhile goes with the daemon.
helper_gone() { ! virsh -q domstate "$helper"; }
wait_for 30 helper_gone || fail "the helper outlives the daemon"
assert_eq running "$(virsh -q domstate "$clone")" "the clone after the kill"
# The .pull file as a helper killed after the pull's end and before its
# close would leave it: standing alone, its data short.  The next daemon
# must not take it for whole (the copy is compared with s1 below).
qemu-img rebase -q -u -f qcow2 -b '' "$pulled" || fail "cannot drop the backing of '$pulled'"
n=$(count_of)
wait_for 10 clone_past "$n" || fail "the clone stopped counting with the daemon"
# The source's record pins s1 for the clone, with no daemon left: the next
# one refuses to merge s1 from its first request, before its recovery has
# carried the job on, and after.
pins() { clone_pins "$vm" "$clone"; }
assert_eq 1 "$(pins)" "pins of the clone after the kill"
mount_vmsnapfs -o merge_bandwidth=24
S=$MNT/$vm/snapshots
assert_eq EBUSY "$(errno_of rmdir "$S/s1")" "rmdir s1 as the next daemon starts"
wait_for 10 test -d "$MNT/$clone" || fail "the clone is gone after the restart"
wait_for 30 grep -q "carrying on its clone" "$DAEMON_LOG" || fail "no recovery in the log"
# libvirtd restarted in the middle of its pull: the job stops, the clone
# runs on, and the same daemon carries the job on once libvirtd is back.
wait_for 20 grep -q "VM '$clone': pulling 'vda'" "$DAEMON_LOG" || fail "no pull again"
pid=$(pgrep -x libvirtd)
kill -TERM "$pid"
wait_for 10 test ! -e "/proc/$pid" || fail "libvirtd did not stop"
sh "$TOP/scripts/start-libvirtd.sh"
wait_for 30 grep -q "$waits" "$DAEMON_LOG" ||
    fail "the job does not stop with libvirtd (make the pull slower): $(tail -n 3 "$DAEMON_LOG")"
assert_eq 1 "$(pins)" "pins of the clone after libvirtd's restart"
assert_eq running "$(virsh -q domstate "$clone")" "the clone after libvirtd's restart"
wait_for 120 independent "$vm" || fail "the job was not finished: $(tail -n 3 "$DAEMON_LOG")"
wait_for 10 no_jobs "$clone" || fail "jobs after the job: $(cat "$MNT/$clone/jobs")"
no_pin() { [ "$(pins)" = 0 ]; }
wait_for 10 no_pin || fail "the pin stays after the clone"
ls "$SRC_DIR" | grep -Eq '\.(part|pull)$|\.thin\.qcow2$' && fail "a .part, .pull or thin top is left"
top=$(virsh -q domblklist "$clone" | awk '$1 == "vda" { print $2 }')
for f in $(qemu-img info -U --backing-chain -f qcow2 "$top" | sed -n 's/^image: //p'); do
    case $f in "$SRC_DIR/$clone".*) ;; *) fail "the clone's chain holds '$f'" ;; esac
done
cmp "$MNT/$clone/snapshots/s1/vda.img" "$S/s1/vda.img" || fail "the copy differs"
n=$(count_of)
wait_for 10 clone_past "$n" || fail "the clone stopped counting after its switch"
assert_eq "$sums" "$(src_sums)" "the source's s1 after the clone"
virsh -q destroy "$clone" >/dev/null
vm_remove "$clone"
rm -f "$SRC_DIR/$clone".*

# Killed during the copy, the source undefined meanwhile: rolled back.
files=$(ls "$SRC_DIR" | sort)
stop_vmsnapfs
mount_vmsnapfs -o merge_bandwidth=24
ln -s "$vm/snapshots/s1" "$MNT/$clone" || fail "ln -s, again"
wait_for 20 copying "$clone" || fail "no pull in jobs, again"
kill -KILL "$DAEMON_PID"
stop_vmsnapfs
virsh -q destroy "$vm" >/dev/null
virsh -q undefine "$vm" --snapshots-metadata >/dev/null ||
    fail "the source cannot be undefined"
mount_vmsnapfs
wait_for 30 test ! -e "$MNT/$clone" || fail "the unfinished clone stays"
virsh -q dominfo "$clone" >/dev/null 2>&1 && fail "the unfinished clone is defined"
assert_eq "$files" "$(ls "$SRC_DIR" | sort)" "files after the roll-back"
grep -q "source .* is gone; the clone is removed" "$DAEMON_LOG" || fail "the log does not say"
stop_vmsnapfs

# No room for the copies: ENOSPC, nothing left.
vm_define crsmall 1 64M
small=${VM_PREFIX}crsmall
vm_dir_on_tmpfs 100m
qemu-io -f qcow2 -c "write -q -P 0x5a 0 60M" "$VM_DIR/vda.qcow2" >/dev/null
mount_vmsnapfs
mkdir "$MNT/$small/snapshots/s1"
files=$(ls "$VM_DIR" | sort)
assert_eq ENOSPC "$(errno_of symlink "$small/snapshots/s1" "$MNT/$clone")" \
    "a clone without room"
assert_eq "$files" "$(ls "$VM_DIR" | sort)" "files after ENOSPC"
virsh -q dominfo "$clone" >/dev/null 2>&1 && fail "ENOSPC defined a VM"
grep -q "needs .* MiB beside" "$DAEMON_LOG" || fail "the log does not say why"

# Room for the copies at the link, none in the middle of the pull: the job
# stops, the source unwritten, and is tried again; after job_tries
# failures in a row, only every hour (the log says so), until the next
# daemon ends it once there is room again; meanwhile s1 stays pinned.
# The clone then boots from its own disk.
stop_vmsnapfs
mount -o remount,size=200m "$VM_DIR"
mount_vmsnapfs -o merge_bandwidth=8,job_tries=2
sums=$(cd "$VM_DIR" && sha256sum -- *)
ln -s "$small/snapshots/s1" "$MNT/$clone" || fail "ln -s with room"
wait_for 20 copying "$clone" || fail "no pull in jobs, with room"
# A clone of a snapshot without memory starts at once too, on its tops (it
# boots); stopped again before its file system fills.
echo start > "$MNT/$clone/state" || fail "the clone of a disk-only snapshot does not start during its pull"
copying "$clone" || fail "the pull ended before the start: make it slower"
assert_eq running "$(virsh -q domstate "$clone")" "the clone started during its pull"
virsh -q destroy "$clone" >/dev/null
dd if=/dev/zero of="$VM_DIR/fill" bs=1M status=none 2>/dev/null || true
waits="VM '$clone': its copy cannot be made whole now; it stays on '$small' snapshot 's1', and its job is tried again in"
wait_for 30 grep -q "$waits" "$DAEMON_LOG" ||
    fail "the job does not stop when the room is gone: $(tail -n 3 "$DAEMON_LOG")"
grep -q "VM '$clone': the pull into '.*' stopped before its end: the file system it is on is full" "$DAEMON_LOG" ||
    fail "the log does not say why the job stopped"
assert_eq EBUSY "$(errno_of rmdir "$MNT/$small/snapshots/s1")" "rmdir s1 while the job waits for room"
hourly="VM '$clone': its job has failed 2 times in a row; it stays on '$small' snapshot 's1', and its job is tried again in an hour, or at the next start of vmsnapfs."
wait_for 60 grep -qF "$hourly" "$DAEMON_LOG" ||
    fail "the job is not left for an hour after 2 tries: $(tail -n 3 "$DAEMON_LOG")"
assert_eq 1 "$(grep -c "$waits" "$DAEMON_LOG")" "the short pauses before the hourly one"
assert_eq EBUSY "$(errno_of rmdir "$MNT/$small/snapshots/s1")" "rmdir s1 while the job waits an hour"
rm "$VM_DIR/fill"
stop_vmsnapfs
mount_vmsnapfs -o merge_bandwidth=8
wait_for 60 independent "$small" ||
    fail "the next daemon did not finish the job: $(tail -n 3 "$DAEMON_LOG")"
wait_for 10 no_jobs "$clone" || fail "jobs after the job: $(cat "$MNT/$clone/jobs")"
assert_eq "$sums" "$(cd "$VM_DIR" && sha256sum -- $(echo "$sums" | awk '{ print $2 }'))" \
    "the source's files after the clone"
top=$(virsh -q domblklist "$clone" | awk '$1 == "vda" { print $2 }')
for f in $(qemu-img info -U --backing-chain -f qcow2 "$top" | sed -n 's/^image: //p'); do
    case $f in "$VM_DIR/$clone".*) ;; *) fail "the clone's chain holds '$f'" ;; esac
done
cmp "$MNT/$clone/snapshots/s1/vda.img" "$MNT/$small/snapshots/s1/vda.img" ||
    fail "the copy differs"
console=$VM_DIR/$clone.console.log
mark=$(file_mark "$console")
echo start > "$MNT/$clone/state" || fail "the clone does not start"
booted() { file_since "$console" "$mark" | grep -q "vmsnapfs-guest: boot disk="; }
counts() { file_since "$console" "$mark" | grep -q "^count "; }
wait_for 60 booted || fail "the clone does not boot"
wait_for 30 counts || fail "the clone does not count on its own disk"

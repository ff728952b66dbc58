#!/bin/bash
# A clone's copy survives the daemon: killed with SIGKILL in the middle of
# the copy, the next daemon finds the clone in the new VM's metadata and
# finishes it (no .part file left, the memory resumed on the first start);
# and when the source is gone by then, the next daemon removes the
# unfinished clone and every file it made.  Meanwhile the source's record
# pins the snapshot: the next daemon refuses its rmdir from its first
# request on.  A clone with no room for its copies: ENOSPC, and nothing
# defined or written.
# alone: leaves a clone record for the next daemon that starts, any test's
. "$(dirname "$0")/functions.sh"
requires qemu-io

vm_define crsrc 1 512M
vm=${VM_PREFIX}crsrc
clone=${VM_PREFIX}crclone
on_exit "vm_remove '$clone'"
SRC_DIR=$VM_DIR
qemu-io -f qcow2 -c "write -q -P 0x5a 1M 240M" "$VM_DIR/vda.qcow2" >/dev/null
vm_start crsrc
mount_vmsnapfs -o merge_bandwidth=24
S=$MNT/$vm/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
mkdir "$S/s1"
at_s1=$(disk_count "$S/s1/vda.img" raw)

copying() { grep -Eq "^vda copy [1-9][0-9]* [0-9]+ [0-9]+% s1$" "$MNT/$1/jobs"; }
no_jobs() { [ -z "$(cat "$MNT/$1/jobs")" ]; }

# Killed during the copy: finished by the next daemon.
ln -s "$vm/snapshots/s1" "$MNT/$clone" || fail "ln -s"
wait_for 20 copying "$clone" || fail "no copy in jobs: $(cat "$MNT/$clone/jobs")"
kill -KILL "$DAEMON_PID"
ls "$SRC_DIR" | grep -q '\.part$' || fail "no copy under way when killed"
stop_vmsnapfs
# The source's record pins s1 for the clone, with no daemon left: the next
# one refuses to merge s1 from its first request, before its recovery has
# carried the copy on, and after.
pins() { clone_pins "$vm" "$clone"; }
assert_eq 1 "$(pins)" "pins of the clone after the kill"
mount_vmsnapfs -o merge_bandwidth=24
S=$MNT/$vm/snapshots
assert_eq EBUSY "$(errno_of rmdir "$S/s1")" "rmdir s1 as the next daemon starts"
wait_for 10 test -d "$MNT/$clone" || fail "the clone is gone after the restart"
grep -q "carrying on its clone" "$DAEMON_LOG" || fail "no recovery in the log"
wait_for 120 no_jobs "$clone" || fail "the copy was not finished"
no_pin() { [ "$(pins)" = 0 ]; }
wait_for 10 no_pin || fail "the pin stays after the clone"
wait_for 10 test -L "$MNT/$clone/resume" || fail "no resume after the recovery"
ls "$SRC_DIR" | grep -q '\.part$' && fail "a .part file is left"
cmp "$MNT/$clone/snapshots/s1/vda.img" "$S/s1/vda.img" || fail "the copy differs"
echo start > "$MNT/$clone/state"
console=$SRC_DIR/$clone.console.log
clone_counting() { grep -q "^count " "$console"; }
wait_for 60 clone_counting || fail "the clone does not count"
grep -q "vmsnapfs-guest: boot" "$console" && fail "the clone booted"
first=$(sed -n 's/^count \([0-9][0-9]*\).*/\1/p' "$console" | head -n 1)
[ "$first" -ge "$at_s1" ] && [ "$first" -le $((at_s1 + 2)) ] ||
    fail "the clone's first count $first does not follow s1's $at_s1"
virsh -q destroy "$clone" >/dev/null
vm_remove "$clone"
rm -f "$SRC_DIR/$clone".*

# Killed during the copy, the source undefined meanwhile: rolled back.
files=$(ls "$SRC_DIR" | sort)
stop_vmsnapfs
mount_vmsnapfs -o merge_bandwidth=24
ln -s "$vm/snapshots/s1" "$MNT/$clone" || fail "ln -s, again"
wait_for 20 copying "$clone" || fail "no copy in jobs, again"
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

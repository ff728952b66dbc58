#!/bin/bash
# A clone's source stays whole across daemons: while one daemon copies a
# clone from snapshot s1, the source's record in libvirt pins it, so that
# a second daemon of the same host refuses `rmdir s1` and `mv s1` (EBUSY,
# with a log line naming the clone), as the first does.  Once the copy is
# whole the pin is gone and the rmdir through the second mount merges s1.
# A third daemon that read the clone's record while it was copied, but
# goes on once the copy has ended, leaves the clone alone.
. "$(dirname "$0")/functions.sh"
requires qemu-io gdb

vm_define cpsrc 1 512M
vm=${VM_PREFIX}cpsrc
clone=${VM_PREFIX}cpclone
on_exit "vm_remove '$clone'"
SRC_DIR=$VM_DIR
qemu-io -f qcow2 -c "write -q -P 0x5a 1M 240M" "$VM_DIR/vda.qcow2" >/dev/null
vm_start cpsrc
# 240 MiB at 12 MiB/s: a pull of 20 s or more.
mount_vmsnapfs -o merge_bandwidth=12
S=$MNT/$vm/snapshots
C=$MNT/$clone
wait_for 5 test -d "$S" || fail "the VM does not show"
mkdir "$S/s1"
mount_second_vmsnapfs
S2=$M2/$vm/snapshots
wait_for 10 test -d "$S2/s1" || fail "the second mount does not show s1"

pins() { clone_pins "$vm" "$clone"; }
copying() { grep -Eq "^vda pull [0-9]+ [0-9]+ [0-9]+% s1$" "$C/jobs"; }
no_jobs() { [ -z "$(cat "$C/jobs")" ]; }

ln -s "$vm/snapshots/s1" "$C" || fail "ln -s of s1 at the top"
wait_for 20 copying || fail "no copy in the clone's jobs: '$(cat "$C/jobs")'"
# A third daemon starts now and reads the clone's record, but takes the
# clone's lock only once the copy has ended (gdb holds it there).
mount_held_vmsnapfs vm_lock_take if \$_streq\(name, \"$clone\"\)

# The other daemon knows of the copy from libvirt alone.
assert_eq EBUSY "$(errno_of rmdir "$S2/s1")" "rmdir s1 through the second mount"
grep -q "snapshot 's1' cannot be deleted while the clone '$clone' is copied" "$L2" ||
    fail "the second daemon's log does not name the clone: $(tail -n 3 "$L2")"
assert_eq EBUSY "$(errno_of rename "$S2/s1" "$S2/t1")" "mv s1 through the second mount"
grep -q "snapshot 's1' cannot be renamed while the clone '$clone'" "$L2" ||
    fail "no log line for the mv: $(tail -n 3 "$L2")"
assert_eq EBUSY "$(errno_of rmdir "$S/s1")" "rmdir s1 through the first mount"
copying || fail "the copy ended before the refusals were tried: make it slower"
[ -d "$S2/s1" ] && [ ! -e "$S2/t1" ] || fail "s1 changed meanwhile"
assert_eq 1 "$(pins)" "pins of the clone in the source's record"

# The copy ends whole; the pin with it.
wait_for 180 no_jobs || fail "the copy does not end"
wait_for 10 test -L "$C/resume" || fail "the clone is not finished"
no_pin() { [ "$(pins)" = 0 ]; }
wait_for 10 no_pin || fail "the pin stays after the clone"
top=$(virsh -q domblklist "$clone" | awk '$1 == "vda" { print $2 }')
copy=$(qemu-img info -U -f qcow2 "$top" | sed -n 's/^backing file: //p')
qemu-img check -q -U -f qcow2 "$copy" || fail "the clone's copy is not whole"
# The third daemon goes on: it reads the record again and leaves the clone
# alone (it pinned the source again and carried the copy on).
release_held
grep -q "VM '$clone': its clone is no longer under way" "$L3" ||
    fail "the third daemon does not say the clone ended: $(grep vmsnapfs: "$L3" | tail -n 5)"
if grep -q "VM '$clone': carrying on its clone" "$L3"; then
    fail "the third daemon carried on a clone that had ended"
fi
assert_eq 0 "$(pins)" "pins of the ended clone after the third daemon's start"
stop_held
rmdir "$S2/s1" || fail "rmdir s1 through the second mount after the clone"
wait_for 10 test ! -e "$S/s1" || fail "s1 is still in the first mount"

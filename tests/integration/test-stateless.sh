#!/bin/bash
# ln -sfn snapshots/NAME VM/stateless: every start begins at NAME.  Three
# starts through VM/state each resume NAME's memory (the count goes on
# from NAME's, no boot) and leave no trace for the next: no volume left
# over, no count of the previous run on the disk.  A start by virsh boots
# from NAME's disk.  While stateless, rmdir NAME is EBUSY and mkdir works;
# rm stateless needs the VM shut off and leaves it at NAME.  A second
# daemon finds the VM at NAME at its start and leaves it; a stop that both
# see is reverted once.
# alone: every daemon running re-arms a stateless VM that stops (the test
# counts the reverts of its two)
. "$(dirname "$0")/functions.sh"

vm_define stateless 1 64M
vm=${VM_PREFIX}stateless
vm_start stateless
mount_vmsnapfs
V=$MNT/$vm
S=$V/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
wait_for 30 counted_past stateless 5 || fail "the guest does not count"
mkdir "$S/s1"
at_s1=$(disk_count "$S/s1/vda.img" raw)
wait_for 30 counted_past stateless $((at_s1 + 10)) || fail "the guest stopped"

assert_eq EBUSY "$(errno_of symlink snapshots/s1 "$V/stateless")" "stateless while running"
virsh -q destroy "$vm" >/dev/null
wait_for 10 is_shut_off "$V" || fail "the VM does not stop"
ln -sfn snapshots/s1 "$V/stateless" || fail "ln -sfn snapshots/s1 stateless"
assert_eq snapshots/s1 "$(readlink "$V/stateless")" "the stateless link"
assert_eq snapshots/s1/memory "$(readlink "$V/resume")" "resume after ln stateless"
assert_eq EBUSY "$(errno_of rmdir "$S/s1")" "rmdir of the stateless snapshot"

# rearmed: the VM is back at s1 for its next start (the revert is over).
rearmed() { [ -L "$V/resume" ] && [ ! -L "$V/preview" ]; }

# one_run N: start through VM/state, check the resume at s1's count, run
# on past it, stop, and wait for the VM to be back at s1.
one_run() {
    mark=$(console_mark stateless)
    echo start > "$V/state"
    wait_for 60 counting_since stateless "$mark" || fail "run $1: no count"
    first=$(first_count_since stateless "$mark")
    [ "$first" -ge "$at_s1" ] && [ "$first" -le $((at_s1 + 2)) ] ||
        fail "run $1: the first count $first does not follow s1's $at_s1"
    [ -z "$(boot_disk_since stateless "$mark")" ] || fail "run $1: the guest booted"
    wait_for 30 counted_past stateless $((at_s1 + 20)) || fail "run $1: it stopped"
    virsh -q destroy "$vm" >/dev/null
    wait_for 20 rearmed || fail "run $1: not back at s1 after the stop"
    [ "$(disk_count "$(vm_volume stateless)")" -le "$at_s1" ] ||
        fail "run $1: the disk keeps the run's count"
}
one_run 1
files=$(ls "$VM_DIR" | grep -v console.log | wc -l)

# A second vmsnapfs of the same host, started with the VM shut off at s1
# as the last revert left it: it leaves it there (the revert that makes
# good a stop it did not see is not needed).
mount_second_vmsnapfs
wait_for 10 grep -q "stateless: at snapshot 's1' already" "$L2" ||
    fail "the second daemon did not find the VM at s1: $(tail -n 3 "$L2")"
! grep -q "stateless: back at snapshot" "$L2" ||
    fail "the second daemon reverted the VM at its start"
said() { cat "$DAEMON_LOG" "$L2" | grep -c "stateless: $1 snapshot 's1'"; }
reverts=$(said "back at")
already=$(said at)
# Both see the next stop: one reverts, the other finds it done.
one_run 2
found_done() { [ "$(said at)" -gt "$already" ]; }
wait_for 10 found_done || fail "the other daemon did not find the VM back at s1"
assert_eq $((reverts + 1)) "$(said "back at")" "reverts of one stop seen by two daemons"
one_run 3
assert_eq "$files" "$(ls "$VM_DIR" | grep -v console.log | wc -l)" \
    "files after three runs: the runs' volumes are dropped"

# virsh start boots from s1's disk; the stop brings it back too.
mark=$(console_mark stateless)
virsh -q start "$vm" >/dev/null
wait_for 60 counting_since stateless "$mark" || fail "virsh start: no count"
booted=$(boot_disk_since stateless "$mark")
[ -n "$booted" ] && [ "$booted" -ge $((at_s1 - 1)) ] && [ "$booted" -le "$at_s1" ] ||
    fail "virsh start: booted from '$booted', not s1's disk ($at_s1)"

# While running: mkdir works, rm stateless does not.
mkdir "$S/during" || fail "mkdir while stateless"
assert_eq EBUSY "$(errno_of unlink "$V/stateless")" "rm stateless while running"
virsh -q destroy "$vm" >/dev/null
wait_for 20 rearmed || fail "not back at s1 after virsh's run"
[ -d "$S/during" ] || fail "the snapshot taken during a run is gone"
# (The revert after the stop ends its operation just after the view shows
# it: one more try.)
wait_for 5 rm "$V/stateless" 2>/dev/null || fail "rm stateless"
[ ! -e "$V/stateless" ] && [ ! -L "$V/stateless" ] || fail "the link stays"
assert_eq snapshots/s1 "$(readlink "$V/active")" "active after rm stateless"
no_meta_stateless() {
    ! virsh metadata "$vm" https://vmsnapfs.org/xmlns/domain/1 2>/dev/null |
        grep -q stateless
}
no_meta_stateless || fail "stateless is still recorded"
# No longer stateless: a run's stop leaves the VM where the run left it.
# (The second daemon may still hold the VM for its look at the last stop:
# EBUSY, another operation under way; one more try.)
start_vm() { echo start > "$V/state"; }
wait_for 10 start_vm || fail "echo start: $(tail -n 1 "$DAEMON_LOG")"
wait_for 30 counted_past stateless $((at_s1 + 20)) || fail "the last run"
virsh -q destroy "$vm" >/dev/null
sleep 2
[ ! -e "$V/resume" ] || fail "reverted after stateless ended"
[ "$(disk_count "$(vm_volume stateless)")" -gt $((at_s1 + 10)) ] ||
    fail "the last run's disk was dropped"

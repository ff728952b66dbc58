#!/bin/bash
# A revert through one daemon while another merges the snapshot below its
# target.  The reverting daemon found the target in its view, read before
# it took the VM's lock (gdb holds it there while the other daemon merges
# s1: s2's frozen volume, s1's overlay, is committed into the base and
# deleted); under the lock it reads the target again, so the VM is
# defined on what s2 stands on now, and boots on s2's disk.
. "$(dirname "$0")/functions.sh"
requires gdb

vm_define rtwo 1
vm=${VM_PREFIX}rtwo
vm_start rtwo
mount_vmsnapfs
V=$MNT/$vm
wait_for 5 test -d "$V/snapshots" || fail "the VM does not show"
echo disk > "$V/snapshot-mode"
take_snapshots "$V/snapshots" s1 s2
echo destroy > "$V/state"
wait_for 30 is_shut_off "$V" || fail "the VM does not stop"
c2=$(disk_count "$V/snapshots/s2/vda.qcow2")
[ -n "$c2" ] || fail "no count on s2's disk"
sum2=$(content_sum "$V/snapshots/s2/vda.img" raw)
mount_second_vmsnapfs
V2=$M2/$vm
wait_for 10 test -d "$V2/snapshots/s2" || fail "the second mount does not show s2"

on_exit "rm -f '$M2.ln'"
hold_daemon "$P2" revert.c:op_open
ln -sfn snapshots/s2 "$V2/active" 2>"$M2.ln" &
ln_pid=$!
wait_held

rmdir "$V/snapshots/s1" || fail "rmdir s1 through the first mount: $(tail -n 3 "$DAEMON_LOG")"
assert_eq s2 "$(virsh -q snapshot-list --name "$vm" | xargs)" "the snapshots after the merge"
let_go
wait "$ln_pid" || fail "the revert through the second mount failed: $(cat "$M2.ln"; tail -n 3 "$L2")"
assert_eq snapshots/s2 "$(readlink "$V2/active")" "active in the second mount"
wait_for 10 link_is "$V/active" snapshots/s2 || fail "active in the first mount: $(readlink "$V/active")"

# The VM stands on a whole chain, and boots on s2's disk.
top=$(virsh -q domblklist "$vm" | awk '$1 == "vda" { print $2 }')
qemu-img info -U --backing-chain "$top" >/dev/null 2>"$M2.ln" ||
    fail "the reverted VM's chain is broken: $(cat "$M2.ln")"
assert_eq "$sum2" "$(content_sum "$V/snapshots/s2/vda.img" raw)" "s2's whole disk"
mark=$(console_mark rtwo)
echo start > "$V/state"
wait_for 60 counting_since rtwo "$mark" || fail "the guest does not count"
assert_eq "$c2" "$(boot_disk_since rtwo "$mark")" "booted on s2's disk"

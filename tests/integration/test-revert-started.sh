#!/bin/bash
# A VM that another client of libvirt starts while vmsnapfs changes its
# disks keeps its volumes.  virsh does not take vmsnapfs's lock, so the
# start is put where it hurts, deterministically: gdb stops the daemon as
# it defines the VM anew, virsh starts the VM, and the daemon goes on.
# An undo (rm preview) then fails with EBUSY, the preview's volume the VM
# runs on stays, and the VM is still previewing; a revert (as a stateless
# re-arm makes) keeps the volume the VM runs on, and leaves it previewing.
. "$(dirname "$0")/functions.sh"
requires gdb

vm_define rstart 1 64M
vm=${VM_PREFIX}rstart
vm_start rstart
mount_vmsnapfs
V=$MNT/$vm
S=$V/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
wait_for 30 counted_past rstart 3 || fail "the guest does not count"
mkdir "$S/s1"
virsh -q destroy "$vm" >/dev/null
wait_for 10 is_shut_off "$V" || fail "the VM does not stop"

# start_at_define: stop the daemon at its next definition of a VM, start
# the VM there with virsh, and let the daemon go on.
start_at_define() {
    GDB_OUT=$MNT.gdb
    on_exit "rm -f '$GDB_OUT' '$GDB_OUT.x' '$GDB_OUT.on'"
    rm -f "$GDB_OUT.on"
    cat > "$GDB_OUT.x" <<EOF
set pagination off
set confirm off
break define_changed
shell touch $GDB_OUT.on
continue
shell virsh -q start $vm
delete
detach
quit
EOF
    gdb -p "$DAEMON_PID" -batch -nx -x "$GDB_OUT.x" >"$GDB_OUT" 2>&1 &
    GDB_PID=$!
    # Interrupted, gdb goes on with the script: it detaches.
    on_exit "kill -INT $GDB_PID 2>/dev/null; wait_for 30 exited $GDB_PID"
    wait_for 60 test -e "$GDB_OUT.on" ||
        fail "gdb did not attach: $(tail -n 3 "$GDB_OUT")"
}
gdb_done() {
    wait_for 60 exited "$GDB_PID" || fail "gdb did not end: $(tail -n 3 "$GDB_OUT")"
    is_running || fail "virsh did not start the VM: $(tail -n 5 "$GDB_OUT")"
}
is_running() { [ "$(virsh -q domstate "$vm")" = running ]; }

# Undo: the VM is started as the daemon defines it back on its old disk.
ln -sfn snapshots/s1 "$V/preview" || fail "ln -sfn snapshots/s1 preview"
preview=$(vm_volume rstart)
start_at_define
undo=$(errno_of unlink "$V/preview")
gdb_done
[ -f "$preview" ] || fail "the preview's volume, which the VM runs on, is gone"
assert_eq EBUSY "$undo" "undo as virsh starts the VM"
grep -q "started meanwhile" "$DAEMON_LOG" || fail "no log line for the refusal"
virsh -q domblklist "$vm" --inactive | grep -q "$preview" ||
    fail "the VM is no longer previewing"
wait_for 10 link_is "$V/preview" snapshots/s1 || fail "the preview link is gone"
virsh -q destroy "$vm" >/dev/null
wait_for 10 is_shut_off "$V" || fail "the VM does not stop"
rm "$V/preview" || fail "the undo, the VM shut off"
[ ! -e "$preview" ] || fail "the undo left the preview's volume"

# Revert (a preview and a commit in one step, as a stateless re-arm
# does): the VM is started on its disk as the daemon makes the preview.
cur=$(vm_volume rstart)
assert_eq OK "$(errno_of symlink snapshots/s1 "$V/tmp1")" "a temporary link"
start_at_define
revert=$(errno_of rename "$V/tmp1" "$V/active")
gdb_done
errno_of unlink "$V/tmp1" >/dev/null
[ -f "$cur" ] || fail "the volume '$cur' the VM runs on is gone"
assert_eq EBUSY "$revert" "revert as virsh starts the VM"
virsh -q domblklist "$vm" | grep -q "$cur" || fail "the VM runs elsewhere"
assert_eq 2 "$(grep -c "started meanwhile" "$DAEMON_LOG")" "log lines of the refusals"
# Left previewing s1: every volume is recorded, and the undo, shut off,
# gives the VM back the disk of its run.
wait_for 10 link_is "$V/preview" snapshots/s1 || fail "not previewing s1"
virsh -q destroy "$vm" >/dev/null
wait_for 10 is_shut_off "$V" || fail "the VM does not stop"
rm "$V/preview" || fail "the undo, the VM shut off"
assert_eq "$cur" "$(vm_volume rstart)" "the disk after the undo"

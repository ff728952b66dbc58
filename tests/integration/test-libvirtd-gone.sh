#!/bin/bash
# The tree is served from memory: with libvirtd frozen, stat, readdir and
# reads of snapshot files of a VM looked into still answer at once.  A
# look into a VM not read yet fails with EIO within the keepalive's time,
# with one line in the log, rather than hanging.  When libvirtd restarts,
# the daemon reconnects and changes show again, that VM's snapshots too.
# Only this test's VMs are looked at: the host may have others.
# alone: freezes libvirtd
. "$(dirname "$0")/functions.sh"

# The VM not read yet sorts before the one looked into: a look into a VM
# reads the VMs after it ahead (host/deepen.c).
vm_define a-unread
virsh -q snapshot-create-as "${VM_PREFIX}a-unread" u1 --disk-only \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.u1.qcow2" >/dev/null
vm_define gone
vm_start gone
virsh -q snapshot-create-as "${VM_PREFIX}gone" s1 --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.s1.qcow2" >/dev/null
mount_vmsnapfs
vm=${VM_PREFIX}gone
S=$MNT/$vm/snapshots
wait_for 1 test -d "$S/s1" || fail "s1 did not appear"
sleep 1 # let the kernel's attribute cache expire: requests reach the daemon

pid=$(pgrep -x libvirtd)
[ -n "$pid" ] || fail "libvirtd is not running"
kill -STOP "$pid"
on_exit "kill -CONT $pid"
timeout 5 sh -c "ls -l '$MNT' >/dev/null && ls -lR '$MNT/$vm' >/dev/null &&
                 cat '$S/s1/info' >/dev/null &&
                 cmp '$S/s1/vda.qcow2' '$VM_DIR/vda.qcow2' &&
                 cat '$MNT/$vm/state' >/dev/null" ||
    { kill -CONT "$pid"; fail "the tree needed libvirt to answer"; }
# The keepalive (a ping every 5 s, 3 unanswered) closes the connection:
# the look fails then, not later.
t0=$(date +%s)
assert_eq EIO "$(timeout -s KILL 60 python3 "$TOP/tests/integration/errno.py" \
    open "$MNT/${VM_PREFIX}a-unread/snapshots" r)" "a look into a VM not read yet"
[ $(($(date +%s) - t0)) -le 30 ] ||
    fail "the look into a VM not read yet took $(($(date +%s) - t0)) s"
assert_eq 1 "$(grep -c "VM '${VM_PREFIX}a-unread': cannot read its snapshots" "$DAEMON_LOG")" \
    "lines in the log for the look"
kill -CONT "$pid"

# libvirtd restarts: the daemon notices, reconnects and sees new snapshots.
kill -TERM "$pid"
wait_for 10 test ! -e "/proc/$pid" || fail "libvirtd did not stop"
sh "$TOP/scripts/start-libvirtd.sh"
virsh -q snapshot-create-as "$vm" s2 --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.s2.qcow2" >/dev/null
wait_for 20 test -d "$S/s2" || fail "s2 did not appear after the restart"
assert_eq running "$(cat "$MNT/$vm/state")" "state after the restart"
grep -q 'Reconnected to libvirt' "$DAEMON_LOG" || fail "no reconnection logged"
wait_for 20 test -d "$MNT/${VM_PREFIX}a-unread/snapshots/u1" ||
    fail "the VM not read during the freeze does not show its snapshots"

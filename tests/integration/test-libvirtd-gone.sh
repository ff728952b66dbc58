#!/bin/bash
# The tree is served from memory: with libvirtd frozen, stat, readdir and
# reads of snapshot files still answer at once.  When libvirtd restarts,
# the daemon reconnects and changes show again.
# alone: freezes libvirtd
. "$(dirname "$0")/functions.sh"

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
timeout 5 sh -c "ls -lR '$MNT' >/dev/null && cat '$S/s1/info' >/dev/null &&
                 cmp '$S/s1/vda.qcow2' '$VM_DIR/vda.qcow2' &&
                 cat '$MNT/$vm/state' >/dev/null" ||
    { kill -CONT "$pid"; fail "the tree needed libvirt to answer"; }
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

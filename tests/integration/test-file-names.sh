#!/bin/bash
# The files of two VMs never share a name: VM x with snapshot "vda.s" and
# VM x.vda with snapshot "s", their disks in one directory, once made one
# name for their overlays (x.vda.vda.s.qcow2).  Taken at once (x's
# snapshot planned, then held by libvirt behind a dump of x's memory into
# a FIFO while x.vda's is taken), x's failed on the file x.vda had made,
# and its clean-up removed that file: x.vda's active volume.  Now both
# are taken, and x.vda's disk is whole.
. "$(dirname "$0")/functions.sh"

vm_define fn
x=${VM_PREFIX}fn
xv=$x.vda
D=$VM_DIR
on_exit "vm_remove '$xv'"
qemu-img create -q -f qcow2 "$D/other.qcow2" 64M
sh "$TOP/tests/guest/domain-xml.sh" "$xv" "$D" 1 |
    sed -e "s|$D/vda.qcow2|$D/other.qcow2|" \
        -e "s|$D/console.log|$D/other.console.log|" > "$D/other.xml"
virsh -q define "$D/other.xml" >/dev/null
vm_start fn
# -d: the log says when x's snapshot is planned and handed to libvirt.
mount_vmsnapfs -d

fifo=$D/dump.fifo
mkfifo "$fifo"
# Opened both ways: libvirt's open does not wait, and qemu's writes stop
# once the pipe is full, which holds x's job until it is drained.
exec 9<>"$fifo"
on_exit "exec 9<&-"
virsh -q dump "$x" "$fifo" --memory-only >/dev/null 2>&1 9<&- &
dump=$!
on_exit "kill $dump 2>/dev/null"
dumping() { virsh -q domjobinfo "$x" | grep -q "Job type: *Unbounded"; }
wait_for 30 dumping || fail "no dump job on $x"

mkdir "$MNT/$x/snapshots/vda.s" 2>/dev/null 9<&- &
mk=$!
planned() { grep -q "creating snapshot 'vda.s'" "$DAEMON_LOG"; }
wait_for 30 planned || fail "x's snapshot was not planned"
mkdir "$MNT/$xv/snapshots/s" || fail "mkdir $xv/snapshots/s"
active=$(virsh -q domblklist "$xv" | awk '$1 == "vda" { print $2 }')

# Drain the FIFO: the dump ends, and x's snapshot goes on.
# (Read-only for cat, which sees the end when qemu closes; a reader all
# along, lest qemu's write fail.)
exec 8<"$fifo"
cat <&8 >/dev/null 8<&- 9<&- &
on_exit "kill $! 2>/dev/null"
exec 8<&- 9<&-
wait "$dump" || fail "the dump failed"
mk_status=0
wait "$mk" || mk_status=$?

[ -f "$active" ] || fail "$xv's active volume '$active' was removed"
qemu-img check -q -U "$active" || fail "$xv's active volume is damaged"
assert_eq 0 "$mk_status" "mkdir $x/snapshots/vda.s's status"
x_active=$(virsh -q domblklist "$x" | awk '$1 == "vda" { print $2 }')
[ "$x_active" != "$active" ] || fail "both VMs run on '$active'"
assert_eq "$D/$x.vda.vda.s.qcow2" "$x_active" "x's volume"
assert_eq "$D/$x%2Evda.vda.s.qcow2" "$active" "x.vda's volume"

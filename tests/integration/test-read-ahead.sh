#!/bin/bash
# A walk of the mount (ls -lR, a backup tool) goes into the VMs one after
# the other, in the top's order, and finds them read whole ahead of it: a
# look into a VM not read yet reads the next two as well, and a look into
# one of those (whole already) reads the two after it in turn, so that the
# reads keep ahead of the walk to its end.  Nothing further is read: a
# look costs the read of two VMs more, not the host's.  What was read
# ahead answers from memory, with libvirtd frozen.
# alone: freezes libvirtd
. "$(dirname "$0")/functions.sh"

for i in 1 2 3 4 5 6; do
    vm_define "ra-$i"
    virsh -q snapshot-create-as "${VM_PREFIX}ra-$i" "s$i" --disk-only \
        --diskspec "vda,snapshot=external,file=$VM_DIR/vda.s$i.qcow2" >/dev/null
done
mount_vmsnapfs -d
wait_for 10 test -d "$MNT/${VM_PREFIX}ra-6" || fail "the VMs do not show"

# read_whole N: the lines of the log for the read of VM ra-N, ahead or not.
read_whole() {
    grep -c "VM '${VM_PREFIX}ra-$1': read whole" "$DAEMON_LOG"
}
read_ahead() {
    [ "$(grep -c "VM '${VM_PREFIX}ra-$1': read whole, ahead of a walk" "$DAEMON_LOG")" = 1 ]
}

assert_eq s1 "$(ls "$MNT/${VM_PREFIX}ra-1/snapshots")" "ra-1's snapshots"
wait_for 10 read_ahead 2 || fail "ra-2 was not read ahead of the look into ra-1"
wait_for 10 read_ahead 3 || fail "ra-3 was not read ahead of the look into ra-1"
assert_eq 0 "$(read_whole 4)" "reads of ra-4 before the walk comes to ra-2"

# The walk comes to ra-2, read ahead: the next two not read yet go ahead.
assert_eq s2 "$(ls "$MNT/${VM_PREFIX}ra-2/snapshots")" "ra-2's snapshots"
wait_for 10 read_ahead 4 || fail "ra-4 was not read ahead of the look into ra-2"
wait_for 10 read_ahead 5 || fail "ra-5 was not read ahead of the look into ra-2"
assert_eq 0 "$(read_whole 6)" "reads of ra-6 before the walk comes to ra-3"
for i in 1 2 3 4 5; do
    assert_eq 1 "$(read_whole "$i")" "reads of ra-$i"
done
# Every VM is read at the start once, not again over the VMs read since.
assert_eq 1 "$(grep -c "new view of '[^']*', every VM read again" "$DAEMON_LOG")" \
    "full reads of the host"

# What was read ahead is served from memory.
sleep 1 # let the kernel's attribute cache expire: requests reach the daemon
pid=$(pgrep -x libvirtd)
[ -n "$pid" ] || fail "libvirtd is not running"
kill -STOP "$pid"
on_exit "kill -CONT $pid"
for i in 3 4 5; do
    got=$(timeout 5 ls "$MNT/${VM_PREFIX}ra-$i/snapshots") ||
        { kill -CONT "$pid"; fail "ra-$i needed libvirt to answer"; }
    assert_eq "s$i" "$got" "ra-$i's snapshots with libvirtd frozen"
done
kill -CONT "$pid"

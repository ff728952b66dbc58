#!/bin/bash
# Snapshots made and deleted with virsh appear and disappear within a
# second: external with memory, disk-only, offline, and a second branch.
# The active link follows libvirt's current snapshot.
# alone: outside changes within a second
. "$(dirname "$0")/functions.sh"

vm_define appear
vm_start appear
mount_vmsnapfs
vm=${VM_PREFIX}appear
S=$MNT/$vm/snapshots

[ ! -e "$MNT/$vm/active" ] || fail "active link without a snapshot"
assert_eq "" "$(ls "$S")" "snapshots of a new VM"

virsh -q snapshot-create-as "$vm" mem --live --atomic \
    --memspec "file=$VM_DIR/mem.mem,snapshot=external" \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.mem.qcow2" >/dev/null
wait_for 1 test -d "$S/mem" || fail "memory snapshot did not appear"
# libvirt lists a snapshot before it makes it current: the link may follow
# a moment after the directory, but within the same second.
wait_for 1 link_is "$MNT/$vm/active" snapshots/mem ||
    fail "active after mem: expected snapshots/mem, got '$(readlink "$MNT/$vm/active")'"

virsh -q snapshot-create-as "$vm" disk --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.disk.qcow2" >/dev/null
wait_for 1 test -d "$S/disk" || fail "disk-only snapshot did not appear"
wait_for 1 link_is "$MNT/$vm/active" snapshots/disk ||
    fail "active did not move to the new snapshot"

virsh -q destroy "$vm" >/dev/null
virsh -q snapshot-create-as "$vm" off --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.off.qcow2" >/dev/null
wait_for 1 test -d "$S/off" || fail "offline snapshot did not appear"

# A snapshot on another branch: libvirt's current snapshot moved back to
# 'mem' by hand, then a child made by redefining.  Both branches show.
virsh -q snapshot-current "$vm" mem >/dev/null
wait_for 1 link_is "$MNT/$vm/active" snapshots/mem ||
    fail "active did not follow snapshot-current"
assert_eq "disk mem off" "$(ls "$S" | tr '\n' ' ' | sed 's/ $//')" \
    "all snapshots listed"

# Deleting the metadata makes a snapshot disappear; the mount lists what
# libvirt lists.
virsh -q snapshot-delete "$vm" off --metadata >/dev/null
wait_for 1 test ! -e "$S/off" || fail "deleted snapshot did not disappear"
assert_eq "$(virsh -q snapshot-list "$vm" --name | sort | tr '\n' ' ')" \
    "$(ls "$S" | sort | tr '\n' ' ')" "mount and virsh list the same"

# The kernel keeps a snapshot's files long (they change only with a new
# view of their VM); it is told when that comes.  Looked at first, so that
# the kernel holds them: 'mem' deleted by virsh goes from under a path
# walked before, and its child's info (parent: mem) shrinks to no parent,
# in its size as in its text.
grep -qx "parent: mem" "$S/disk/info" || fail "disk's parent is not mem"
ls -lR "$S" >/dev/null
stat "$S/mem/info" "$S/disk/info" "$S/mem/vda.qcow2" >/dev/null
virsh -q snapshot-delete "$vm" mem --metadata >/dev/null
wait_for 1 test ! -e "$S/mem/info" || fail "a file of a deleted snapshot is still there"
test ! -e "$S/mem/vda.qcow2" || fail "a volume of a deleted snapshot is still there"
wait_for 1 grep -qx "parent: " "$S/disk/info" || fail "disk's info still names its deleted parent"
assert_eq "$(wc -c < "$S/disk/info")" "$(stat -c %s "$S/disk/info")" \
    "info's size after its parent went"

# Seen without anyone looking: on this machine the daemon watches
# libvirt's snapshot files, so a change made while nobody looks at the VM
# (more than 3 s: nothing polls it) is in the first listing a second
# later.  Polling alone would show the old list to that first look.
sleep 4
virsh -q snapshot-create-as "$vm" quiet --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.quiet.qcow2" >/dev/null
sleep 1
assert_eq "disk quiet" "$(ls "$S" | tr '\n' ' ' | sed 's/ $//')" \
    "the first listing after a snapshot made unseen"
sleep 4
virsh -q snapshot-delete "$vm" quiet --metadata >/dev/null
sleep 1
assert_eq "disk" "$(ls "$S")" "the first listing after a snapshot deleted unseen"

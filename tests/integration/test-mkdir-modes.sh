#!/bin/bash
# snapshot-mode: disk mode saves no memory, quiesce without a guest agent is
# EAGAIN with nothing taken, a shut-off VM gets an offline disk snapshot and
# stays off, a two-disk VM gets both disks at once; the mode survives a
# restart of the daemon, and a bad mode is EINVAL.
. "$(dirname "$0")/functions.sh"

vm_define modes 2
vm_start modes
mount_vmsnapfs
vm=${VM_PREFIX}modes
S=$MNT/$vm/snapshots
field() { sed -n "s/^$2: //p" "$S/$1/info"; }

assert_eq memory "$(cat "$MNT/$vm/snapshot-mode")" "default mode"
echo disk > "$MNT/$vm/snapshot-mode"
assert_eq disk "$(cat "$MNT/$vm/snapshot-mode")" "mode after writing"
virsh -q dumpxml --inactive "$vm" | grep -q '<vmsnapfs:snapshot-mode>disk<' ||
    fail "the mode is not in the VM's persistent metadata"
assert_eq EINVAL "$(errno_of write "$MNT/$vm/snapshot-mode" fast)" "bad mode"
assert_eq disk "$(cat "$MNT/$vm/snapshot-mode")" "mode after a bad write"

# The mode survives a restart of the daemon.
stop_vmsnapfs
mount_vmsnapfs
S=$MNT/$vm/snapshots
assert_eq disk "$(cat "$MNT/$vm/snapshot-mode")" "mode after a restart"

sleep 1
before=$(guest_count modes)
mkdir "$S/d1"
after=$(guest_count modes)
assert_disk_snapshot "$S/d1" "$before" "$after" vda vdb

# quiesce needs the guest agent, which the test guest lacks: EAGAIN and
# nothing taken.
echo quiesce > "$MNT/$vm/snapshot-mode"
files=$(ls "$VM_DIR")
assert_eq EAGAIN "$(errno_of mkdir "$S/q1")" "quiesce without an agent"
[ ! -e "$S/q1" ] || fail "q1 exists"
assert_eq d1 "$(virsh -q snapshot-list "$vm" --name | xargs)" "libvirt's list"
assert_eq "$files" "$(ls "$VM_DIR")" "files after a failed quiesce"
grep -q 'guest agent' "$DAEMON_LOG" || fail "the log does not say why"

# A shut-off VM: an offline disk snapshot, even in memory mode.
echo memory > "$MNT/$vm/snapshot-mode"
virsh -q destroy "$vm" >/dev/null
mkdir "$S/off"
assert_eq shut_off "$(cat "$MNT/$vm/state")" "the VM after an offline snapshot"
assert_eq shut_off "$(field off vm_state)" "vm_state"
assert_eq no "$(field off memory)" "memory of an offline snapshot"
assert_eq d1 "$(field off parent)" "parent"

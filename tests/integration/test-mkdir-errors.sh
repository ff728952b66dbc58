#!/bin/bash
# Bad names and places get SPEC's errnos, and nothing changes: not the
# snapshots, not the files, not the VM.
. "$(dirname "$0")/functions.sh"

vm_define mkerr
vm_start mkerr
mount_vmsnapfs
vm=${VM_PREFIX}mkerr
S=$MNT/$vm/snapshots
mkdir "$S/taken"

snapshots=$(virsh -q snapshot-list "$vm" --name | xargs)
files=$(ls "$VM_DIR")
disks=$(virsh -q domblklist "$vm")

# Not text, control characters, hidden: names people type otherwise are
# fine (test-names).
for name in ".hidden" "..dots" $'tab\tx' $'new\nline' $'del\177' \
    $'c1\302\205' $'caf\303' $'bad\377\376' $'overlong\300\257'; do
    assert_eq EINVAL "$(errno_of mkdir "$S/$name")" "mkdir '$name'"
done
long129=$(printf 'n%.0s' $(seq 129))
long128=$(printf 'n%.0s' $(seq 128))
long300=$(printf 'n%.0s' $(seq 300))
assert_eq ENAMETOOLONG "$(errno_of mkdir "$S/$long129")" "129 bytes"
assert_eq ENAMETOOLONG "$(errno_of mkdir "$S/$long300")" "300 bytes"
assert_eq EEXIST "$(errno_of mkdir "$S/taken")" "a name in use"
assert_eq EPERM "$(errno_of mkdir "$MNT/newvm")" "mkdir at the top"
assert_eq EPERM "$(errno_of mkdir "$MNT/$vm/new")" "mkdir in a VM"
assert_eq EPERM "$(errno_of mkdir "$S/taken/new")" "mkdir in a snapshot"
assert_eq ENOENT "$(errno_of mkdir "$MNT/no-such-vm/snapshots/x")" "no VM"
assert_eq EINVAL "$(errno_of write "$MNT/$vm/state" reboot)" "a bad command"
assert_eq EINVAL "$(errno_of write "$MNT/$vm/state" "start
destroy")" "two commands"

assert_eq "$snapshots" "$(virsh -q snapshot-list "$vm" --name | xargs)" \
    "snapshots changed"
assert_eq "$files" "$(ls "$VM_DIR")" "files changed"
assert_eq "$disks" "$(virsh -q domblklist "$vm")" "disks changed"
assert_eq running "$(cat "$MNT/$vm/state")" "the VM's state"
grep -q "mkdir snapshots/new\\\\x0aline: EINVAL: 'new\\\\x0aline' is not a valid snapshot name" "$DAEMON_LOG" ||
    fail "no clear line in the log for a bad name: $(grep EINVAL "$DAEMON_LOG")"

# The longest name works.
mkdir "$S/$long128" || fail "a 128-byte name"

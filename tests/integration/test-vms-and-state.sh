#!/bin/bash
# VMs are listed under the mount, and VM/state follows libvirt: start,
# destroy, define and undefine show within a second.
# alone: outside changes within a second
. "$(dirname "$0")/functions.sh"

vm_define state
vm_start state
mount_vmsnapfs
vm=${VM_PREFIX}state

[ -d "$MNT/$vm" ] || fail "VM directory missing"
assert_eq running "$(cat "$MNT/$vm/state")" "state of a running VM"
assert_eq "$(virsh domstate "$vm" | head -n 1)" running "virsh agrees"
# The VM's own entries, and no active link without snapshots.
assert_eq "jobs jobs.json snapshot-mode snapshots state" \
    "$(ls "$MNT/$vm" | tr '\n' ' ' | sed 's/ $//')" "entries of a VM"
assert_eq memory "$(cat "$MNT/$vm/snapshot-mode")" "default snapshot mode"

virsh -q destroy "$vm" >/dev/null
wait_for 1 grep -qx shut_off "$MNT/$vm/state" ||
    fail "state is '$(cat "$MNT/$vm/state")' a second after destroy"

virsh -q start "$vm" >/dev/null
wait_for 1 grep -qx running "$MNT/$vm/state" || fail "state after start"
virsh -q suspend "$vm" >/dev/null
wait_for 1 grep -qx paused "$MNT/$vm/state" || fail "state after suspend"
virsh -q resume "$vm" >/dev/null

# A VM defined and undefined outside vmsnapfs comes and goes.
vm_define other
wait_for 1 test -d "$MNT/${VM_PREFIX}other" || fail "defined VM did not appear"
assert_eq shut_off "$(cat "$MNT/${VM_PREFIX}other/state")" "state of a new VM"
vm_remove "${VM_PREFIX}other"
wait_for 1 test ! -e "$MNT/${VM_PREFIX}other" ||
    fail "undefined VM did not disappear"

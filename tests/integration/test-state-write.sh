#!/bin/bash
# Writing to VM/state drives the VM: destroy, start, shutdown.
. "$(dirname "$0")/functions.sh"

vm_define drive
mount_vmsnapfs
vm=${VM_PREFIX}drive

assert_eq shut_off "$(cat "$MNT/$vm/state")" "a new VM"
echo start > "$MNT/$vm/state"
# The write returns once the view shows the result: no wait.
assert_eq running "$(cat "$MNT/$vm/state")" "state after start"
assert_eq running "$(virsh -q domstate "$vm")" "libvirt after start"
wait_for 60 guest_counting drive || fail "the guest did not boot"
assert_eq EBUSY "$(errno_of write "$MNT/$vm/state" start)" "start a running VM"

# shutdown asks the guest (ACPI); the test guest does not act on it, but
# the request is made.
printf shutdown > "$MNT/$vm/state" || fail "shutdown"
echo destroy > "$MNT/$vm/state"
assert_eq shut_off "$(cat "$MNT/$vm/state")" "state after destroy"
assert_eq "shut off" "$(virsh -q domstate "$vm")" "libvirt after destroy"

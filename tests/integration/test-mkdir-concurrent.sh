#!/bin/bash
# One operation at a time on a VM: of mkdirs started together on one VM,
# the others get EBUSY and leave nothing; mkdirs on two VMs both succeed.
. "$(dirname "$0")/functions.sh"

vm_define conc1
vm_define conc2
vm_start conc1
vm_start conc2
mount_vmsnapfs
vm1=${VM_PREFIX}conc1
vm2=${VM_PREFIX}conc2
out=$(mktemp -d)
on_exit "rm -rf '$out'"

# (wait names its jobs: a bare wait would wait for the daemon too)
pids=""
for i in 1 2 3 4; do
    errno_of mkdir "$MNT/$vm1/snapshots/p$i" > "$out/p$i" &
    pids="$pids $!"
done
wait $pids
ok=0
for i in 1 2 3 4; do
    r=$(cat "$out/p$i")
    case $r in
        OK) ok=$((ok + 1)); [ -d "$MNT/$vm1/snapshots/p$i" ] || fail "p$i missing" ;;
        EBUSY) [ ! -e "$MNT/$vm1/snapshots/p$i" ] || fail "p$i exists after EBUSY" ;;
        *) fail "mkdir p$i: $r" ;;
    esac
done
[ "$ok" -ge 1 ] || fail "no mkdir succeeded"
assert_eq "$ok" "$(virsh -q snapshot-list "$vm1" --name | grep -c .)" \
    "libvirt's count of snapshots"
assert_eq "$ok" "$(ls "$VM_DIR/../$vm1/" | grep -c '\.mem$')" "memory files"

# Two VMs at once: both succeed.
errno_of mkdir "$MNT/$vm1/snapshots/both" > "$out/a" &
a=$!
errno_of mkdir "$MNT/$vm2/snapshots/both" > "$out/b" &
wait $a $!
assert_eq OK "$(cat "$out/a")" "mkdir on the first VM"
assert_eq OK "$(cat "$out/b")" "mkdir on the second VM"

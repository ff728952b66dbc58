#!/bin/bash
# Twelve rmdirs at once, on twelve VMs, each a long merge: more than
# libfuse's default of ten worker threads.  The mount answers throughout
# (no request waits for a free worker), every rmdir ends with its merge
# done, and the chains are whole.
# alone: counts qemu-img host-wide, and the mount must answer within 5 s under twelve merges
. "$(dirname "$0")/functions.sh"
requires qemu-io

vms=$(seq -f 'mm%g' 1 12)
for n in $vms; do
    vm_define "$n" 1 128M
done
vm_define quiet
# 4 MiB/s: each 48 MiB merge takes about 12 s.
mount_vmsnapfs -o merge_bandwidth=4
mkdir "$MNT/${VM_PREFIX}quiet/snapshots/q1"
for n in $vms; do
    V=$MNT/$VM_PREFIX$n
    wait_for 5 test -d "$V/snapshots" || fail "VM $n does not show"
    mkdir "$V/snapshots/s1"
    qemu-io -f qcow2 -c "write -q -P 0x5a 1M 48M" "$(vm_volume "$n")" >/dev/null
    mkdir "$V/snapshots/s2"
done

out=$(mktemp -d /tmp/vmsnapfs-many.XXXXXX)
on_exit "rm -rf '$out'"
pids=""
for n in $vms; do
    (errno_of rmdir "$MNT/$VM_PREFIX$n/snapshots/s1" > "$out/$n") &
    pids="$pids $!"
done
wait_for 20 sh -c "[ \$(pgrep -c -x qemu-img) -ge 12 ]" ||
    fail "the merges did not all start"

# The mount answers while they run: the top level, every VM's directory,
# state and jobs, and the whole tree of a VM with no merge.  (A VM's
# snapshots/ is the one directory that waits: the kernel holds its lock
# for as long as an rmdir in it runs, as for any rmdir.)
slowest=0 rounds=0
while kill -0 $pids 2>/dev/null; do
    t0=$(date +%s%N)
    timeout 5 sh -c "ls -l '$MNT' '$MNT'/*/ >/dev/null &&
                     cat '$MNT'/*/state '$MNT'/*/jobs >/dev/null &&
                     ls -lR '$MNT/${VM_PREFIX}quiet' >/dev/null" ||
        fail "the mount did not answer within 5 s, with $(pgrep -c -x qemu-img) merges running"
    t=$((($(date +%s%N) - t0) / 1000000))
    [ "$t" -le "$slowest" ] || slowest=$t
    rounds=$((rounds + 1))
    sleep 0.2
done
echo "slowest answer in $rounds rounds during the merges: $slowest ms"
[ "$rounds" -ge 3 ] || fail "the merges ended before the mount was asked"
wait $pids || true
for n in $vms; do
    assert_eq OK "$(cat "$out/$n")" "rmdir of $n/s1"
    assert_eq s2 "$(virsh -q snapshot-list "$VM_PREFIX$n" --name | xargs)" "snapshots of $n"
    qemu-img check -q -f qcow2 "$(vm_volume "$n")" || fail "qemu-img check of $n"
done

#!/bin/bash
# Time the merge of a 1 GiB delta by rmdir against virsh blockcommit of the
# same delta, in one run, on the real guest running, and measure how old
# the progress in VM/jobs is while the merge runs.
#
#   bench/merge.sh [ROUNDS] [DELTA_MIB]    (as root, after make; 3, 1024)
#
# Each round builds the same chain twice, base <- A <- B, the guest
# running on B and A holding DELTA_MIB MiB written with qemu-io, then
# merges A into base:
#   - through the mount: rmdir snapshots/A (block commit, metadata, files);
#   - directly: virsh blockcommit --wait, snapshot-delete --metadata, rm.
# It prints the median times and their ratio (the target is 1.1 at most),
# and the age of the progress figures: jobs asks libvirt when it is read,
# so a figure is as old as the read that returned it.
. "$(dirname "$0")/../tests/integration/functions.sh"

rounds=${1:-3}
delta=${2:-1024}
vm_define bench-merge 1 $((delta + 512))M
vm=${VM_PREFIX}bench-merge
mount_vmsnapfs
V=$MNT/$vm
wait_for 5 test -d "$V/snapshots" || fail "the VM does not show"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# chain NAME: snapshots A_NAME (DELTA MiB above it) and B_NAME, the guest
# running on the volume made at B_NAME.  Prints the volume made at A.
chain() {
    echo destroy > "$V/state" 2>/dev/null || true
    echo disk > "$V/snapshot-mode"
    mkdir "$V/snapshots/A$1"
    qemu-io -f qcow2 -c "write -q -P 0x5a 1M ${delta}M" "$(vm_volume bench-merge)" >/dev/null
    echo start > "$V/state"
    mkdir "$V/snapshots/B$1"
    qemu-img info -U -f qcow2 "$(vm_volume bench-merge)" | sed -n 's/^backing file: //p'
}

ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

: > "$VM_DIR/t.mount"; : > "$VM_DIR/t.virsh"; : > "$VM_DIR/age"
for i in $(seq "$rounds"); do
    # Through the mount, with the progress sampled meanwhile.
    chain "m$i" >/dev/null
    sync; echo 3 > /proc/sys/vm/drop_caches
    t0=$(date +%s%N)
    rmdir "$V/snapshots/Am$i" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        s0=$(date +%s%N)
        line=$(cat "$V/jobs")
        [ -n "$line" ] && echo "$(ms "$s0")" >> "$VM_DIR/age"
        sleep 0.1
    done
    wait "$pid" || fail "rmdir failed"
    ms "$t0" >> "$VM_DIR/t.mount"

    # Directly.
    top=$(chain "v$i")
    base=$(qemu-img info -U -f qcow2 "$top" | sed -n 's/^backing file: //p')
    sync; echo 3 > /proc/sys/vm/drop_caches
    t0=$(date +%s%N)
    virsh -q blockcommit "$vm" vda --base "$base" --top "$top" --wait >/dev/null ||
        fail "virsh blockcommit failed"
    virsh -q snapshot-delete "$vm" "Av$i" --metadata >/dev/null
    rm -f "$top"
    ms "$t0" >> "$VM_DIR/t.virsh"
done

m=$(median < "$VM_DIR/t.mount")
v=$(median < "$VM_DIR/t.virsh")
a=$(median < "$VM_DIR/age")
amax=$(sort -n "$VM_DIR/age" | tail -n 1)
printf 'merge of %d MiB, median of %d: rmdir %d ms, virsh blockcommit %d ms, ratio %s\n' \
    "$delta" "$rounds" "$m" "$v" "$(echo "scale=2; $m / $v" | bc)"
printf 'progress in jobs: %d reads during the merges, age median %d ms, max %d ms\n' \
    "$(wc -l < "$VM_DIR/age")" "$a" "$amax"

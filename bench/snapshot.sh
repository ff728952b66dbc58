#!/bin/bash
# Time snapshots taken through vmsnapfs against the same snapshots taken
# with virsh, in one run, on the real guest:
#   - mkdir against virsh snapshot-create-as, disk-only and with memory,
#     as ratios of the median times (the target is 1.1 at most);
#   - the longest gap in the guest's output during a memory snapshot, both
#     ways: in the guest's own clock (its uptime, printed every 50 ms) and
#     in the host's clock (when each line reached the console file).
#
#   bench/snapshot.sh [ROUNDS]      (as root, after make; default 5)
. "$(dirname "$0")/../tests/integration/functions.sh"

rounds=${1:-5}
GUEST_CMDLINE="vmsnapfs.interval=0.05"
vm_define bench-snap
vm=${VM_PREFIX}bench-snap
vm_start bench-snap
mount_vmsnapfs
S=$MNT/$vm/snapshots
console=$VM_DIR/console.log

# Stamp each console line with the host's clock as it arrives.
stamped=$VM_DIR/stamped.log
tail -n 0 -F "$console" 2>/dev/null | while IFS= read -r line; do
    echo "$(date +%s%N) $line"
done > "$stamped" &
stamper=$!
on_exit "kill $stamper; pkill -P $stamper"

# ns CMD...: nanoseconds CMD takes.
ns() {
    _t0=$(date +%s%N)
    "$@" >/dev/null || fail "$*"
    echo $(($(date +%s%N) - _t0))
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# gaps FROM_NS TO_NS: the longest gaps, in ms, between guest lines stamped
# in that window: "GUEST_CLOCK_MS HOST_CLOCK_MS".
gaps() {
    awk -v from="$1" -v to="$2" '$2 == "count" && $1 >= from && $1 <= to {
        if (n++) {
            g = ($4 - up) * 1000; h = ($1 - host) / 1e6
            if (g > mg) mg = g
            if (h > mh) mh = h
        }
        up = $4; host = $1
    } END { printf "%.0f %.0f\n", mg, mh }' "$stamped"
}

virsh_disk() {
    virsh -q snapshot-create-as "$vm" "$1" --disk-only --atomic \
        --diskspec "vda,snapshot=external,file=$VM_DIR/$1.qcow2"
}
virsh_memory() {
    virsh -q snapshot-create-as "$vm" "$1" --live --atomic \
        --memspec "file=$VM_DIR/$1.mem,snapshot=external" \
        --diskspec "vda,snapshot=external,file=$VM_DIR/$1.qcow2"
}

sleep 2
: > "$VM_DIR/t.vd" ; : > "$VM_DIR/t.md" ; : > "$VM_DIR/t.vm" ; : > "$VM_DIR/t.mm"
for i in $(seq "$rounds"); do
    echo disk > "$MNT/$vm/snapshot-mode"
    ns virsh_disk "vd$i" >> "$VM_DIR/t.vd"
    ns mkdir "$S/md$i" >> "$VM_DIR/t.md"
    echo memory > "$MNT/$vm/snapshot-mode"
    sleep 0.5
    t0=$(date +%s%N)
    ns virsh_memory "vm$i" >> "$VM_DIR/t.vm"
    t1=$(date +%s%N)
    sleep 0.5
    ns mkdir "$S/mm$i" >> "$VM_DIR/t.mm"
    t2=$(date +%s%N)
    sleep 0.5
    gaps "$t0" "$t1" >> "$VM_DIR/g.virsh"
    gaps "$t1" "$t2" >> "$VM_DIR/g.mount"
done

vd=$(median < "$VM_DIR/t.vd") md=$(median < "$VM_DIR/t.md")
vm_=$(median < "$VM_DIR/t.vm") mm=$(median < "$VM_DIR/t.mm")
echo "snapshot times, median of $rounds (ratio = mkdir / virsh; target <= 1.10):"
awk -v v="$vd" -v m="$md" 'BEGIN { printf "  disk-only:   virsh %7.1f ms   mkdir %7.1f ms   ratio %.2f\n", v/1e6, m/1e6, m/v }'
awk -v v="$vm_" -v m="$mm" 'BEGIN { printf "  with memory: virsh %7.1f ms   mkdir %7.1f ms   ratio %.2f\n", v/1e6, m/1e6, m/v }'
echo "longest gap in the guest's output during a memory snapshot (worst of $rounds;"
echo "the guest prints every 50 ms):"
awk '{ if ($1 > g) g = $1; if ($2 > h) h = $2 } END { printf "  virsh --live:  guest clock %5d ms   host clock %5d ms\n", g, h }' "$VM_DIR/g.virsh"
awk '{ if ($1 > g) g = $1; if ($2 > h) h = $2 } END { printf "  mkdir:         guest clock %5d ms   host clock %5d ms\n", g, h }' "$VM_DIR/g.mount"

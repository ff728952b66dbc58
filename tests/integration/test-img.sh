#!/bin/bash
# TARGET.img is the whole disk at the snapshot, flattened by qemu, as a raw
# sparse file: byte for byte what qemu-img convert makes of the chain, with
# its holes found by SEEK_DATA and SEEK_HOLE and left out of st_blocks, the
# snapshot's content while the VM writes on, the same for four readers at
# once.  Its bytes are read straight from the volumes where qemu-img map
# says they lie: no qemu-nbd runs for it (test-img-helpers has a disk that
# needs one).
. "$(dirname "$0")/functions.sh"

M=$((1024 * 1024))
vm_define img 1 256M
# Data at 16 MiB (4 MiB) and at 100 MiB (1 MiB); the guest writes sector 0.
qemu-io -f qcow2 -c "write -q -P 0x11 16M 4M" -c "write -q -P 0x22 100M 1M" \
    "$VM_DIR/vda.qcow2" >/dev/null
vm_start img
mount_vmsnapfs
S=$MNT/${VM_PREFIX}img/snapshots
take_snapshots "$S" s1
ref=$(mktemp /var/tmp/vmsnapfs-ref.XXXXXX)
on_exit "rm -f '$ref'"
qemu-img convert -U -f qcow2 -O raw "$S/s1/vda.qcow2" "$ref"

img=$S/s1/vda.img
assert_eq $((256 * M)) "$(stat -c %s "$img")" "size"
cmp "$img" "$ref" || fail "the .img differs from qemu-img convert"
assert_eq "" "$(pgrep -f "qemu-nbd .*/run/vmsnapfs/$DAEMON_PID-" || true)" \
    "qemu-nbd processes for a disk read directly"
qemu-img compare -q -f raw -F qcow2 -U "$img" "$S/s1/vda.qcow2" ||
    fail "qemu-img compare disagrees"
blocks=$(stat -c %b "$img")
[ "$((blocks * 512))" -lt $((16 * M)) ] || fail "st_blocks $blocks counts the holes"
[ "$((blocks * 512))" -ge $((5 * M)) ] || fail "st_blocks $blocks misses data"
assert_eq "$(stat -c %i "$img")" "$(stat -c %i "$img")" "inode"

# Holes and data, as qemu maps them.
seek() { python3 "$TOP/tests/integration/readimg.py" seek "$img" "$1" "$2"; }
assert_eq 0 "$(seek 0 data)" "SEEK_DATA 0 (the guest's count)"
assert_eq $((16 * M)) "$(seek $M data)" "SEEK_DATA 1M"
assert_eq $((20 * M)) "$(seek $((16 * M)) hole)" "SEEK_HOLE 16M"
assert_eq $((100 * M)) "$(seek $((20 * M)) data)" "SEEK_DATA 20M"
assert_eq $((101 * M)) "$(seek $((100 * M)) hole)" "SEEK_HOLE 100M"
assert_eq ENXIO "$(seek $((101 * M)) data)" "SEEK_DATA past the data"
assert_eq ENXIO "$(seek $((256 * M)) hole)" "SEEK_HOLE at the end"

# The VM writes on; the snapshot's count stays.
n=$(guest_count img)
wait_for 10 counted_past img $((n + 5)) || fail "the guest does not count"
assert_eq "$(disk_count "$S/s1/vda.qcow2")" "$(disk_count "$img" raw)" \
    "the count in the .img"
cmp "$img" "$ref" || fail "the .img changed while the VM writes"

# Four readers at once read the same bytes.
sum=$(sha256sum < "$ref" | cut -d" " -f1)
for i in 1 2 3 4; do
    (sha256sum < "$img" | cut -d" " -f1 > "$ref.$i") &
    pids="${pids:-} $!"
done
wait $pids
for i in 1 2 3 4; do
    assert_eq "$sum" "$(cat "$ref.$i")" "reader $i"
    rm -f "$ref.$i"
done

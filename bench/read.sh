#!/bin/bash
# Read a 1 GiB frozen volume through vmsnapfs and directly from the host
# file, in one run, with warm caches and with cold ones (the page cache
# dropped before each read, as a nightly backup finds it), and print the
# rates and their ratios.  Then read the whole disk, vda.img, through the
# mount, against qemu-img convert of the same chain to qemu's null device
# (so that neither writes), cold and warm.  A delta of 100 MiB copied
# sparsely.  On a remote host: a frozen volume read against virsh
# vol-download, and a delta against vol-download of its volume.
#
#   bench/read.sh [ROUNDS]      (as root, after make)
#
# The volume is a qcow2 image filled with 1 GiB of data; an offline
# disk-only snapshot made with virsh freezes it.  Each round reads the
# file once each way with dd (1 MiB blocks); the best round of each is
# compared.  The target is a ratio (mount time / direct time) of at most
# 1.10 with warm caches.
. "$(dirname "$0")/../tests/integration/functions.sh"

rounds=${1:-5}
vm_define bench-read 1 1G
vm=${VM_PREFIX}bench-read
echo "filling a 1 GiB volume..."
qemu-io -f qcow2 -c 'write -P 0x5a 0 1G' "$VM_DIR/vda.qcow2" >/dev/null
virsh -q snapshot-create-as "$vm" frozen --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.frozen.qcow2" >/dev/null
mount_vmsnapfs
direct=$VM_DIR/vda.qcow2
mounted=$MNT/$vm/snapshots/frozen/vda.qcow2
wait_for 5 test -e "$mounted" || fail "the frozen volume did not appear"
size=$(stat -c %s "$direct")

# read_ns FILE: nanoseconds to read FILE once.
read_ns() {
    _t0=$(date +%s%N)
    dd if="$1" of=/dev/null bs=1M status=none
    echo $(($(date +%s%N) - _t0))
}

# best_of ROUNDS DROP FILE: the fewest nanoseconds of ROUNDS reads of FILE,
# dropping the page cache before each when DROP is 1.
best_of() {
    _best=""
    for _i in $(seq "$1"); do
        [ "$2" = 1 ] && sync && echo 3 > /proc/sys/vm/drop_caches
        _t=$(read_ns "$3")
        [ -z "$_best" ] || [ "$_t" -lt "$_best" ] && _best=$_t
    done
    echo "$_best"
}

report() {
    awk -v s="$size" -v d="$2" -v m="$3" -v what="$1" 'BEGIN {
        printf "%-5s direct: %8.1f ms %6.0f MiB/s   mount: %8.1f ms %6.0f MiB/s   ratio %.2f\n",
            what, d / 1e6, s / 1048576 / (d / 1e9), m / 1e6,
            s / 1048576 / (m / 1e9), m / d
    }'
}

cmp -s "$direct" "$mounted" || fail "the mount read other bytes"
echo "file: $size bytes (qcow2, 1 GiB of data); ratio = mount time / direct time"
if [ -w /proc/sys/vm/drop_caches ]; then
    cold_d=$(best_of 3 1 "$direct")
    cold_m=$(best_of 3 1 "$mounted")
    report cold "$cold_d" "$cold_m"
fi
read_ns "$direct" >/dev/null   # warm the caches
read_ns "$mounted" >/dev/null
warm_d=$(best_of "$rounds" 0 "$direct")
warm_m=$(best_of "$rounds" 0 "$mounted")
report warm "$warm_d" "$warm_m"
echo "target: warm ratio <= 1.10"

# The whole disk against qemu-img convert of the same chain.
img=$MNT/$vm/snapshots/frozen/vda.img
vsize=$(stat -c %s "$img")
convert_ns() {
    _t0=$(date +%s%N)
    qemu-img convert -n -U -f qcow2 "$direct" \
        --target-image-opts "driver=raw,file.driver=null-co,file.size=$vsize"
    echo $(($(date +%s%N) - _t0))
}
best_convert() {
    _best=""
    for _i in $(seq "$1"); do
        [ "$2" = 1 ] && sync && echo 3 > /proc/sys/vm/drop_caches
        _t=$(convert_ns)
        [ -z "$_best" ] || [ "$_t" -lt "$_best" ] && _best=$_t
    done
    echo "$_best"
}
qemu-img compare -q -U -f raw -F qcow2 "$img" "$direct" || fail "the .img reads other bytes"
echo "whole disk: vda.img through the mount against qemu-img convert -O raw; ratio = mount / convert"
if [ -w /proc/sys/vm/drop_caches ]; then
    report cold "$(best_convert 3 1)" "$(best_of 3 1 "$img")"
fi
read_ns "$img" >/dev/null
report warm "$(best_convert "$rounds" 0)" "$(best_of "$rounds" 0 "$img")"
echo "target: no slower than qemu-img (ratio <= 1.00)"

# What changed: 100 MiB written after the snapshot, frozen by a second
# one.  Its delta, copied sparsely, against qemu-img convert of the frozen
# volume alone (its backing cut off) to raw: both handle the 100 MiB that
# changed, neither the rest of the disk.
qemu-io -f qcow2 -c 'write -P 0x6b 300M 100M' "$VM_DIR/vda.frozen.qcow2" >/dev/null
virsh -q snapshot-create-as "$vm" second --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.second.qcow2" >/dev/null
delta=$MNT/$vm/snapshots/second/vda.delta.img
wait_for 5 test -e "$delta" || fail "the second snapshot did not appear"
alone="json:{\"driver\": \"qcow2\", \"backing\": null, \"file\": {\"driver\": \"file\", \"filename\": \"$VM_DIR/vda.frozen.qcow2\"}}"
out=$(mktemp /var/tmp/vmsnapfs-bench-delta.XXXXXX)
on_exit "rm -f '$out'"
copy_ns() {
    rm -f "$out"
    _t0=$(date +%s%N)
    cp --sparse=always "$delta" "$out"
    echo $(($(date +%s%N) - _t0))
}
alone_ns() {
    _t0=$(date +%s%N)
    qemu-img convert -n -U "$alone" \
        --target-image-opts "driver=raw,file.driver=null-co,file.size=$vsize" ||
        fail "qemu-img convert of the frozen volume alone"
    echo $(($(date +%s%N) - _t0))
}
best_fn() { # ROUNDS FUNCTION
    _best=""
    for _i in $(seq "$1"); do
        _t=$($2)
        [ -z "$_best" ] || [ "$_t" -lt "$_best" ] && _best=$_t
    done
    echo "$_best"
}
copy_ns >/dev/null
used=$(du -k "$out" | cut -f1)
[ "$used" -ge $((100 * 1024)) ] && [ "$used" -le $((101 * 1024)) ] ||
    fail "the delta's copy takes $used KiB, not 100 MiB"
size=$((100 << 20))
echo "delta: 100 MiB changed in a 1 GiB disk; cp --sparse=always of vda.delta.img against qemu-img convert of the frozen volume alone; ratio = mount / qemu-img"
report warm "$(best_fn "$rounds" alone_ns)" "$(best_fn "$rounds" copy_ns)"
echo "target: about the cost of the 100 MiB (ratio <= 1.5), not of the 1 GiB disk"

# A remote host: the same kind of frozen volume on a libvirtd in namespaces
# of its own (tests/integration/remote.sh), reached over qemu+tcp, read
# through the mount (libvirt's download streams) against virsh vol-download
# of the same volume, both to /dev/null.
. "$(dirname "$0")/../tests/integration/remote.sh"
stop_vmsnapfs
remote_host_start rb 16541
remote_vm_define rb read 1 1G
echo "filling a 1 GiB volume on a remote host..."
qemu-io -f qcow2 -c 'write -P 0x5a 0 1G' "$RVM_DIR/vda.qcow2" >/dev/null
in_ns=/var/lib/libvirt/images/$RVM
virsh -q -c "$REMOTE_URI" snapshot-create-as "$RVM" frozen --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$in_ns/vda.frozen.qcow2" >/dev/null
HOSTS_FILE=$(mktemp /tmp/vmsnapfs-hosts.XXXXXX)
on_exit "rm -f '$HOSTS_FILE'"
printf 'here %s\nrb %s\n' "$URI" "$REMOTE_URI" > "$HOSTS_FILE"
mount_vmsnapfs
mounted=$MNT/rb/$RVM/snapshots/frozen/vda.qcow2
wait_for 5 test -e "$mounted" || fail "the remote frozen volume did not appear"
virsh -q -c "$REMOTE_URI" pool-create-as vmsnapfs-bench dir \
    --target "$in_ns" >/dev/null 2>&1 || true   # vmsnapfs may have made one
pool=$(virsh -q -c "$REMOTE_URI" pool-list --name | while read -r p; do
    [ -n "$p" ] && virsh -q -c "$REMOTE_URI" vol-list "$p" 2>/dev/null |
        grep -q "$in_ns/vda.qcow2" && echo "$p"; done | head -n 1)
[ -n "$pool" ] || fail "no pool holds the remote volume"
download_ns() {
    _t0=$(date +%s%N)
    virsh -q -c "$REMOTE_URI" vol-download --pool "$pool" vda.qcow2 /dev/null ||
        fail "virsh vol-download"
    echo $(($(date +%s%N) - _t0))
}
size=$(stat -c %s "$RVM_DIR/vda.qcow2")
cmp -s "$mounted" "$RVM_DIR/vda.qcow2" || fail "the mount read other bytes"
# (virsh's --sparse seeks in its output, which /dev/null refuses; the
# volume is all data anyway.)
echo "remote: $size bytes (qcow2, 1 GiB of data) over qemu+tcp; through the mount against virsh vol-download; ratio = mount / virsh"
read_ns "$mounted" >/dev/null
report warm "$(best_fn "$rounds" download_ns)" "$(best_of "$rounds" 0 "$mounted")"
echo "target: ratio <= 1.10"

# A remote host's delta: 100 MiB written after the snapshot, frozen by a
# second one; TARGET.delta.img copied sparsely through the mount (a helper
# domain there, NBD; its start counted in each round) against virsh
# vol-download of the same volume, the frozen one that holds the 100 MiB,
# both into a file here.
# (qemu-io in that host's namespace, where the backing file's path is.)
nsenter -t "$(cat "$REMOTE_ROOT/rb/run/virtlogd.pid")" -m \
    qemu-io -f qcow2 -c 'write -P 0x6b 300M 100M' "$in_ns/vda.frozen.qcow2" >/dev/null
virsh -q -c "$REMOTE_URI" snapshot-create-as "$RVM" second --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$in_ns/vda.second.qcow2" >/dev/null
delta=$MNT/rb/$RVM/snapshots/second/vda.delta.img
wait_for 10 test -e "$delta" || fail "the remote second snapshot did not appear"
virsh -q -c "$REMOTE_URI" pool-refresh "$pool" >/dev/null
got=$(mktemp /var/tmp/vmsnapfs-bench-delta.XXXXXX)
on_exit "rm -f '$got'"
download_delta_ns() {
    rm -f "$got"
    _t0=$(date +%s%N)
    virsh -q -c "$REMOTE_URI" vol-download --pool "$pool" vda.frozen.qcow2 "$got" ||
        fail "virsh vol-download"
    echo $(($(date +%s%N) - _t0))
}
copy_ns >/dev/null
used=$(du -k "$out" | cut -f1)
[ "$used" -ge $((100 * 1024)) ] && [ "$used" -le $((101 * 1024)) ] ||
    fail "the remote delta's copy takes $used KiB, not 100 MiB"
cmp <(dd if="$delta" bs=1M skip=300 count=100 status=none) \
    <(head -c $((100 << 20)) /dev/zero | tr '\0' k) ||
    fail "the remote delta reads other bytes"
size=$((100 << 20))
echo "remote delta: 100 MiB changed in a 1 GiB disk; cp --sparse=always of vda.delta.img against virsh vol-download of its frozen volume; ratio = mount / virsh"
report warm "$(best_fn "$rounds" download_delta_ns)" "$(best_fn "$rounds" copy_ns)"
echo "target: ratio <= 1.50 (the helper domain's start included)"

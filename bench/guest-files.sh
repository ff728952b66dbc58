#!/bin/bash
# The guest's files through files/ against libguestfs's own tar-out, in one
# run, from the same frozen volume:
#
#   bench/guest-files.sh [MIB [FILES]]   (as root, after make; 500, 50)
#
# A shut-off VM whose disk holds an ext4 file system with a directory of
# MIB MiB in FILES files (random bytes) and 1000 small ones, snapshotted
# through the mount.  Printed:
#   - the time to the first ls of files/ (the appliance's start);
#   - tar -c of the directory through the mount, the appliance running;
#   - libguestfs's own tar-out of the same directory from the snapshot's
#     frozen volume (guestfish: virt-tar-out needs an operating system to
#     inspect), its own appliance's start included;
#   - the ratios: tar alone, and first ls + tar, against tar-out.
# Everything is removed at the end.
. "$(dirname "$0")/../tests/integration/functions.sh"

mib=${1:-500}
nfiles=${2:-50}
# No KVM on the test machines (see bench/README.md); the same for both sides.
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}

work=$(mktemp -d /var/tmp/vmsnapfs-bench-gf.XXXXXX)
on_exit "rm -rf '$work'"
mkdir -p "$work/fs/data/small"
for i in $(seq 1 "$nfiles"); do
    head -c $((mib * 1048576 / nfiles)) /dev/urandom > "$work/fs/data/big$i"
done
for i in $(seq 1 1000); do
    echo "small file $i" > "$work/fs/data/small/$i.txt"
done
mkfs.ext4 -q -F -d "$work/fs" "$work/disk.raw" $((mib + mib / 4 + 64))M
rm -rf "$work/fs"

vm_define bench-gf 1
qemu-img convert -O qcow2 "$work/disk.raw" "$VM_DIR/vda.qcow2"
rm -f "$work/disk.raw"
vm=${VM_PREFIX}bench-gf
mount_vmsnapfs
S=$MNT/$vm/snapshots
mkdir "$S/b1" || fail "mkdir b1"
# The first snapshot of a VM freezes its original volume.
volume=$VM_DIR/vda.qcow2

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

t0=$(date +%s%N)
ls "$S/b1/files/" >/dev/null || fail "ls files/"
first_ms=$(ms_since "$t0")

t0=$(date +%s%N)
mount_bytes=$(tar -C "$S/b1/files/vda" -cf - data | wc -c)
tar_ms=$(ms_since "$t0")

t0=$(date +%s%N)
# virt-tar-out needs an operating system to inspect; with none, the same
# tar-out through guestfish, the file system named.
direct_bytes=$(guestfish --ro --format=qcow2 -a "$volume" -m /dev/sda tar-out /data - | wc -c)
direct_ms=$(ms_since "$t0")
[ "$direct_bytes" -gt $((mib * 1048576)) ] || fail "guestfish tar-out gave $direct_bytes bytes"
[ "$mount_bytes" -gt $((mib * 1048576)) ] || fail "tar through the mount gave $mount_bytes bytes"
stop_vmsnapfs

echo
echo "guest files: a $mib MiB directory ($nfiles files and 1000 small ones), from one frozen volume"
echo "  first ls of files/ (the appliance starts): $first_ms ms"
echo "  tar -c through the mount: $tar_ms ms ($mount_bytes bytes)"
echo "  guestfish tar-out, its start included: $direct_ms ms ($direct_bytes bytes)"
awk -v t="$tar_ms" -v f="$first_ms" -v d="$direct_ms" 'BEGIN {
    printf "  ratio, tar alone / tar-out: %.2f (target <= 1.1)\n", t / d
    printf "  ratio, first ls + tar / tar-out: %.2f\n", (f + t) / d }'

#!/bin/bash
# Backup tools on a snapshot directory: rsync --sparse, tar --sparse and
# restic copy the whole disk, and each copy reads back as the disk.
. "$(dirname "$0")/functions.sh"
requires rsync tar restic

vm_define imgb 1 128M
qemu-io -f qcow2 -c "write -q -P 0x33 8M 2M" "$VM_DIR/vda.qcow2" >/dev/null
vm_start imgb
mount_vmsnapfs
S=$MNT/${VM_PREFIX}imgb/snapshots
take_snapshots "$S" s1
work=$(mktemp -d /var/tmp/vmsnapfs-backup.XXXXXX)
on_exit "rm -rf '$work'"
sum=$(sha256sum < "$S/s1/vda.img" | cut -d" " -f1)
[ "$sum" = "$(content_sum "$S/s1/vda.qcow2")" ] || fail "the .img is not the disk"

rsync -a --sparse "$S/s1/" "$work/rsync/"
assert_eq "$sum" "$(sha256sum < "$work/rsync/vda.img" | cut -d" " -f1)" "rsync copy"
[ "$(stat -c %b "$work/rsync/vda.img")" -lt $((64 * 2048)) ] || fail "rsync's copy is not sparse"

tar --sparse -cf "$work/s1.tar" -C "$S/s1" vda.img
mkdir "$work/tar"
tar -xf "$work/s1.tar" -C "$work/tar"
assert_eq "$sum" "$(sha256sum < "$work/tar/vda.img" | cut -d" " -f1)" "tar round trip"
[ "$(stat -c %s "$work/s1.tar")" -lt $((32 * 1024 * 1024)) ] || fail "tar stored the holes"

export RESTIC_PASSWORD=vmsnapfs RESTIC_REPOSITORY=$work/restic RESTIC_CACHE_DIR=$work/cache
restic init -q >/dev/null
restic backup -q "$S/s1" >/dev/null || fail "restic backup failed"
restic restore -q latest --target "$work/restore" >/dev/null || fail "restic restore failed"
assert_eq "$sum" "$(sha256sum < "$work/restore$S/s1/vda.img" | cut -d" " -f1)" "restic round trip"

#!/bin/bash
# Preview, rm resume, start: the guest boots on the snapshot's disk.  Undo,
# start: it boots on the disk it had before the preview.
. "$(dirname "$0")/functions.sh"

vm_define pvboot
vm_start pvboot
mount_vmsnapfs
vm=${VM_PREFIX}pvboot
V=$MNT/$vm
sleep 1
mkdir "$V/snapshots/s1"
at_snapshot=$(disk_count "$V/snapshots/s1/vda.qcow2")
sleep 2
echo destroy > "$V/state"
disks=$(virsh -q domblklist "$vm")
at_destroy=$(disk_count "$(echo "$disks" | awk '{ print $2 }')")
[ "$at_destroy" -gt "$at_snapshot" ] || fail "the guest did not count on"
files=$(ls "$VM_DIR")

ln -s snapshots/s1 "$V/preview"
rm "$V/resume"
[ ! -e "$V/resume" ] || fail "resume after rm"
assert_eq snapshots/s1 "$(readlink "$V/preview")" "preview after rm resume"
mark=$(console_mark pvboot)
echo start > "$V/state"
wait_for 60 counting_since pvboot "$mark" || fail "the guest does not count"
assert_eq "$at_snapshot" "$(boot_disk_since pvboot "$mark")" \
    "the disk the preview booted on"

echo destroy > "$V/state"
rm "$V/preview"
[ ! -e "$V/preview" ] || fail "preview after undo"
[ ! -e "$V/resume" ] || fail "resume after undo"
assert_eq "$disks" "$(virsh -q domblklist "$vm")" "the disks after undo"
assert_eq "$files" "$(ls "$VM_DIR")" "the files after undo"
mark=$(console_mark pvboot)
echo start > "$V/state"
wait_for 60 counting_since pvboot "$mark" || fail "the guest does not count"
assert_eq "$at_destroy" "$(boot_disk_since pvboot "$mark")" \
    "the disk after undo"

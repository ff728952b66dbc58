#!/bin/bash
# A preview, its undo, a commit and a revert never take a snapshot's volume
# for the VM's own: on a VM with snapshots s1 and s2 taken running (with
# memory) and s3 and s4 taken shut off (vmsnapfs makes their volumes),
# each after data of its own, every snapshot's whole disk reads as before
# after each verb, and every volume a snapshot's chain uses is still on
# the host.  The merge of s3 (the volume made at s3 is s4's frozen volume)
# after the undo, and the deletion of the branch point s2 after the
# revert, leave the other snapshots' disks as they were.
. "$(dirname "$0")/functions.sh"

vm_define pvoff
vm=${VM_PREFIX}pvoff
vm_start pvoff
mount_vmsnapfs
V=$MNT/$vm
S=$V/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
mkdir "$S/s1"
mkdir "$S/s2"
echo destroy > "$V/state"
wait_for 10 is_shut_off "$V" || fail "the VM does not stop"
# Shut off, each snapshot after data of its own.
qemu-io -f qcow2 -c "write -q -P 0x33 8M 1M" "$(vm_volume pvoff)" >/dev/null
mkdir "$S/s3"
qemu-io -f qcow2 -c "write -q -P 0x44 9M 1M" "$(vm_volume pvoff)" >/dev/null
mkdir "$S/s4"
qemu-io -f qcow2 -c "write -q -P 0x55 10M 1M" "$(vm_volume pvoff)" >/dev/null

# sums SNAP...: each snapshot's name and the sha256 of its whole disk.
sums() {
    for _s in "$@"; do
        echo "$_s $(sha256sum < "$S/$_s/vda.img" | cut -d' ' -f1)"
    done
}
# chains SNAP...: the host files each snapshot's disk is read from: its
# frozen volume (info.json) and that volume's backing chain.
chains() {
    for _s in "$@"; do
        _v=$(python3 -c 'import json,sys
print(json.load(open(sys.argv[1]))["disks"][0]["volume"])' "$S/$_s/info.json")
        qemu-img info -U --backing-chain "$_v" | sed -n 's/^image: //p'
    done | sort -u
}
# all_whole WHEN SNAP...: the snapshots read as at first, on all their files.
all_whole() {
    _when=$1
    shift
    assert_eq "$(echo "$before" | grep -E "^($(echo "$@" | tr ' ' '|')) ")" \
        "$(sums "$@")" "the snapshots' disks $_when"
    for _f in $files; do
        [ -f "$_f" ] || fail "$_when: '$_f', a volume a snapshot uses, is gone: $(ls "$VM_DIR")"
    done
}
before=$(sums s1 s2 s3 s4)
files=$(chains s1 s2 s3 s4)
[ "$(echo "$files" | wc -l)" -ge 4 ] || fail "the snapshots use only: $files"

ln -sfn snapshots/s1 "$V/preview" || fail "the preview: $(tail -n 3 "$DAEMON_LOG")"
all_whole "in the preview" s1 s2 s3 s4
rm "$V/preview" || fail "the undo: $(tail -n 3 "$DAEMON_LOG")"
all_whole "after the undo" s1 s2 s3 s4
rmdir "$S/s3" || fail "rmdir s3: $(tail -n 3 "$DAEMON_LOG")"
[ ! -e "$S/s3" ] || fail "s3 is still there"
files=$(chains s1 s2 s4)
all_whole "after the merge of s3" s1 s2 s4

# A commit and a revert drop the VM's state since s4, never a snapshot's;
# then s2, the branch point (and the revert's memory), goes.
ln -sfn snapshots/s1 "$V/preview"
ln -sfn snapshots/s1 "$V/active" || fail "the commit: $(tail -n 3 "$DAEMON_LOG")"
all_whole "after the commit" s1 s2 s4
ln -sfn snapshots/s2 "$V/active" || fail "the revert: $(tail -n 3 "$DAEMON_LOG")"
all_whole "after the revert" s1 s2 s4
rm "$V/resume" # s2's memory: the next start would resume it
rmdir "$S/s2" || fail "rmdir s2: $(tail -n 3 "$DAEMON_LOG")"
files=$(chains s1 s4)
all_whole "after the deletion of s2" s1 s4

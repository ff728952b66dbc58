#!/bin/bash
# rmdir of a snapshot that two branches stand on, while one of them runs:
# its data is moved up into both branches (a block pull into the running
# VM's volume, qemu-img rebase for the other), then its volume, memory file
# and metadata are deleted.  Both branches read what they read before,
# nothing is left over, the children of the snapshot get its parent, and
# the guest counts on.  A branch volume under the running one: EBUSY; no
# room for the copies: ENOSPC, nothing changed.
. "$(dirname "$0")/functions.sh"
requires qemu-io

GUEST_AGENT=yes vm_define bpoint 1 64M
vm=${VM_PREFIX}bpoint
MB=$((1 << 20))
qemu-io -f qcow2 -c "write -q -P 0x11 1M 1M" "$VM_DIR/vda.qcow2" >/dev/null
vm_start bpoint
mount_vmsnapfs
V=$MNT/$vm
S=$V/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
# write_at PATTERN MIB: the guest writes a MiB of PATTERN at MIB MiB.
write_at() {
    guest_exec bpoint "yes $1 | head -c $MB | dd of=/dev/vda bs=64K seek=$(($2 * 16)) oflag=direct"
}
mkdir "$S/s0"
write_at s1data 4         # into s1's frozen volume: what must move up
mkdir "$S/s1"
write_at s2data 8         # into s2's: branch A
mkdir "$S/s2"
echo destroy > "$V/state"
wait_for 10 is_shut_off "$V" || fail "the VM does not stop"
ln -sfn snapshots/s1 "$V/active"      # branch B, from s1
echo start > "$V/state"
wait_for 60 guest_counting bpoint || fail "branch B does not run"
write_at branchb 12       # into branch B's volume

s1vol=$(readlink -f "$VM_DIR"/*.vda.s0.qcow2)
[ -f "$s1vol" ] || fail "no volume made at s0 (s1's frozen volume)"
s1mem=$(snapshot_memory bpoint s1)
# tail_sum FILE: a checksum of a running disk but its first sector, which
# the guest keeps writing.
tail_sum() {
    _raw=$(mktemp /var/tmp/vmsnapfs-sum.XXXXXX)
    qemu-img convert -U -f qcow2 -O raw "$1" "$_raw"
    tail -c +513 "$_raw" | sha256sum | cut -d" " -f1
    rm -f "$_raw"
}
sum_a=$(content_sum "$S/s2/vda.qcow2")
sum_b=$(tail_sum "$(vm_volume bpoint)")
files=$(ls "$VM_DIR" | grep -v "^${s1vol##*/}$\|^${s1mem##*/}$" | sort)

rmdir "$S/s1" || fail "rmdir of a branch point: $(tail -n 3 "$DAEMON_LOG")"
[ ! -e "$S/s1" ] || fail "s1 is still there"
[ ! -e "$s1vol" ] || fail "s1's frozen volume '$s1vol' is left"
[ ! -e "$s1mem" ] || fail "s1's memory file is left"
assert_eq "$files" "$(ls "$VM_DIR" | sort)" "the files after the deletion"
assert_eq "$sum_a" "$(content_sum "$S/s2/vda.qcow2")" "branch A (s2) after"
assert_eq "$sum_b" "$(tail_sum "$(vm_volume bpoint)")" "branch B (running) after"
assert_eq s0 "$(virsh -q snapshot-parent "$vm" s2)" "s2's parent"
assert_eq running "$(virsh -q domstate "$vm")" "the VM"
for f in "$VM_DIR"/*.qcow2; do
    qemu-img check -U -q -f qcow2 "$f" || fail "qemu-img check of $f"
done
cmp <(dd if="$S/s2/vda.img" bs=1M skip=4 count=1 2>/dev/null) \
    <(yes s1data | head -c $MB) || fail "branch A lost s1's data"
n=$(guest_count bpoint)
wait_for 10 counted_past bpoint $((n + 3)) || fail "the guest stopped counting"
grep -q "pulling .* live" "$DAEMON_LOG" || fail "no live pull in the log"
grep -q "moving .* up into" "$DAEMON_LOG" || fail "no rebase in the log"

# A branch volume under the one the VM writes: libvirt pulls into the top
# only.  s0's volume has two branches (A through s2, B through s1's old
# place); a snapshot on B puts B's first volume under the running one.
mkdir "$S/s3"
before=$(ls "$VM_DIR" | sort)
assert_eq EBUSY "$(errno_of rmdir "$S/s0")" "a branch point under the running volume"
assert_eq "$before" "$(ls "$VM_DIR" | sort)" "files after the refusal"
grep -q "pulls into that one only" "$DAEMON_LOG" || fail "the log does not say why"
stop_vmsnapfs

# No room for the copies into the branches: ENOSPC, nothing changed.
vm_define bpsmall 1 64M
small=${VM_PREFIX}bpsmall
vm_dir_on_tmpfs 100m
mount_vmsnapfs
V=$MNT/$small
S=$V/snapshots
wait_for 5 test -d "$S" || fail "the small VM does not show"
mkdir "$S/s0"
qemu-io -f qcow2 -c "write -q -P 0x5a 0 40M" "$(vm_volume bpsmall)" >/dev/null
mkdir "$S/s1"
mkdir "$S/s2"
ln -sfn snapshots/s1 "$V/active"
before=$(ls -l "$VM_DIR"; virsh -q snapshot-list "$small" --tree)
assert_eq ENOSPC "$(errno_of rmdir "$S/s1")" "a branch point without room"
assert_eq "$before" "$(ls -l "$VM_DIR"; virsh -q snapshot-list "$small" --tree)" \
    "the files and snapshots after ENOSPC"
grep -q "copies up to .* MiB into its branches; there is less room" "$DAEMON_LOG" ||
    fail "the log does not say why"

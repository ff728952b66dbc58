#!/bin/bash
# TARGET.delta.img and TARGET.delta.json: what changed between a snapshot
# and its parent, as a sparse file and as a list.  Known blocks are
# written between snapshots (data, and zeros over data); each delta holds
# exactly those, reads as the disk at its snapshot there and holes
# elsewhere, and copies sparsely.  examples/incremental-backup.sh backs up
# a full disk and deltas and rebuilds each snapshot's disk byte for byte,
# also after a merge of a middle snapshot.  A running guest's own writes
# are in its delta, exactly: its count on the first sector, and data, zeros
# and a discard it writes through the agent.  Every file that a backup
# copies (all but the VM's status files) has its true size in stat, the
# delta.json also after a merge changed it, and tar of a snapshot's
# directory gives each file whole.
. "$(dirname "$0")/functions.sh"

MB=$((1 << 20))
GUEST_AGENT=yes vm_define delta 1 64M
vm=${VM_PREFIX}delta
mount_vmsnapfs
S=$MNT/$vm/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
W=$(mktemp -d /var/tmp/vmsnapfs-delta.XXXXXX)
on_exit "rm -rf '$W'"
active() { virsh -q domblklist "$vm" | awk '$1 == "vda" { print $2 }'; }
qio() { qemu-io -f qcow2 -c "$1" "$(active)" >/dev/null; }
# extents NAME: the "OFFSET+LENGTH" list of NAME's delta.json, in KiB.
extents() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join("%d+%d" % (e["offset"] >> 10, e["length"] >> 10) for e in d["extents"]))' \
        "$S/$1/vda.delta.json"
}
json() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$S/$1/vda.delta.json" "$2"; }
# true_sizes DIR: each file of DIR reports in stat the size it reads as;
# the VM's status files may report 0, as /proc's do.
true_sizes() {
    for f in "$1"/*; do
        [ -f "$f" ] && [ ! -L "$f" ] || continue
        size=$(stat -c %s "$f")
        case ${f##*/} in
        state|snapshot-mode|jobs|jobs.json|progress) [ "$size" = 0 ] && continue ;;
        esac
        assert_eq "$(wc -c < "$f")" "$size" "the size of $f"
    done
}

qio "write -q -P 0x11 0 4M"
mkdir "$S/s1"
qio "write -q -P 0x22 8M 1M"
qio "write -q -z 0 1M"          # zeros over data: a change
qio "write -q -P 0x33 20M 1M"
mkdir "$S/s2"
qio "write -q -P 0x44 8M 512K"
qio "write -q -P 0x55 40M 1M"
mkdir "$S/s3"

# The lists: no parent, the whole disk; else what was written since.
assert_eq "0+4096" "$(extents s1)" "s1's extents (no parent: the whole disk)"
assert_eq "None" "$(json s1 parent)" "s1's parent in delta.json"
assert_eq "0+1024 8192+1024 20480+1024" "$(extents s2)" "s2's extents"
assert_eq "s1" "$(json s2 parent)" "s2's parent in delta.json"
assert_eq "8192+512 40960+1024" "$(extents s3)" "s3's extents"
assert_eq $((64 * MB)) "$(json s3 virtual_size)" "virtual_size"
true_sizes "$S/s3"

# The file: the disk at s2 where it changed, holes elsewhere.
assert_eq $((64 * MB)) "$(stat -c %s "$S/s2/vda.delta.img")" "the delta's size"
assert_eq $((3 * MB / 512)) "$(stat -c %b "$S/s2/vda.delta.img")" "the delta's blocks"
cmp <(head -c $((9 * MB)) "$S/s2/vda.delta.img" | tail -c $((MB))) \
    <(head -c $((9 * MB)) "$S/s2/vda.img" | tail -c $((MB))) || fail "s2's delta at 8M"
cmp -n $MB "$S/s2/vda.delta.img" /dev/zero || fail "s2's delta at 0: the zeros written"
cmp <(head -c $((2 * MB)) "$S/s2/vda.delta.img" | tail -c $MB) \
    <(head -c $MB /dev/zero) || fail "s2's delta at 1M: a hole, reading zeros"
cp --sparse=always "$S/s2/vda.delta.img" "$W/d2"
used=$(du -k "$W/d2" | cut -f1)
[ "$used" -le $((3 * 1024 + 64)) ] || fail "cp --sparse of s2's delta takes $used KiB"
cmp "$S/s1/vda.delta.img" "$S/s1/vda.img" || fail "s1's delta is not its whole disk"

# Incremental backups, restored.
B=$W/backup
sh "$TOP/examples/incremental-backup.sh" backup "$MNT/$vm" "$B" >/dev/null  # s3 whole
assert_eq "s3 full -" "$(cat "$B/index")" "the first backup"
# Backed up from s1 on instead: a fresh directory, then deltas.
rm -rf "$B"; mkdir -p "$B/s1"
cp --sparse=always "$S/s1/vda.img" "$B/s1/"; echo "s1 full -" > "$B/index"
sh "$TOP/examples/incremental-backup.sh" backup "$MNT/$vm" "$B" >/dev/null
assert_eq "s1 full -
s2 delta s1
s3 delta s2" "$(cat "$B/index")" "the index after an incremental backup"
for s in s2 s3; do
    sh "$TOP/examples/incremental-backup.sh" restore "$B" $s vda "$W/$s.raw" >/dev/null
    cmp "$W/$s.raw" "$S/$s/vda.img" || fail "the restore of $s differs"
done

# A merge of the middle snapshot: s3's delta is then against s1.  One open
# across the merge reads on what it opened, whole.
old3=$(sha256sum < "$S/s3/vda.delta.img")
exec 7< "$S/s3/vda.delta.img"
rmdir "$S/s2"
assert_eq "$old3" "$(sha256sum <&7)" "s3's delta through an open from before the merge"
exec 7<&-
assert_eq "s1" "$(json s3 parent)" "s3's parent after the merge"
assert_eq "0+1024 8192+1024 20480+1024 40960+1024" "$(extents s3)" \
    "s3's extents after the merge"
true_sizes "$S/s3"
qio "write -q -P 0x66 50M 1M"
mkdir "$S/s4"
sh "$TOP/examples/incremental-backup.sh" backup "$MNT/$vm" "$B" >/dev/null
sh "$TOP/examples/incremental-backup.sh" restore "$B" s4 vda "$W/s4.raw" >/dev/null
cmp "$W/s4.raw" "$S/s4/vda.img" || fail "the restore of s4 after the merge differs"

# A running guest writes its count on the first sector: in the delta.
vm_start delta
mkdir "$S/s5"
wait_for 30 counted_past delta 5 || fail "the guest stopped counting"
mkdir "$S/s6"
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["extents"][0]["offset"])' "$S/s6/vda.delta.json")" = 0 ] ||
    fail "the guest's first sector is not in s6's delta: $(cat "$S/s6/vda.delta.json")"
c=$(disk_count "$S/s6/vda.delta.img" raw)
assert_eq "$c" "$(disk_count "$S/s6/vda.img" raw)" "the count in s6's delta"

# The guest writes data, zeros over data (s4's 50M) and discards data (s4's
# 40M) with blkdiscard.  All three are changes, data in the delta (zeros
# where zeroed); with the count's first cluster, they are all there is.
guest_exec delta 'test "$(cat /sys/block/vda/queue/discard_max_bytes)" -gt 0' ||
    fail "the guest's disk takes no discards"
mkdir "$S/s7"
c=$(guest_count delta)
guest_exec delta "yes vmsnapfs | head -c $MB | dd of=/dev/vda bs=64K seek=480 oflag=direct &&
    dd if=/dev/zero of=/dev/vda bs=64K seek=800 count=8 oflag=direct &&
    blkdiscard -o $((40 * MB)) -l $MB /dev/vda"
wait_for 30 counted_past delta $((c + 2)) || fail "the guest stopped counting"
mkdir "$S/s8"
assert_eq "0+64 30720+1024 40960+1024 51200+512" "$(extents s8)" \
    "s8's extents: the guest's writes"
assert_eq $(((64 + 2560) * 1024 / 512)) "$(stat -c %b "$S/s8/vda.delta.img")" \
    "s8's delta's blocks"
# data_at FILE OFFSET: where the first data at or after OFFSET starts.
data_at() {
    python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(os.lseek(fd, int(sys.argv[2]), os.SEEK_DATA))' "$1" "$2"
}
assert_eq $((40 * MB)) "$(data_at "$S/s8/vda.delta.img" $((31 * MB)))" \
    "the discarded megabyte is data in the delta"
assert_eq $((50 * MB)) "$(data_at "$S/s8/vda.delta.img" $((41 * MB)))" \
    "the zeroed half megabyte is data in the delta"
# bytes FILE OFFSET LENGTH: LENGTH bytes of FILE from OFFSET.
bytes() { dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=1M 2>/dev/null; }
cmp <(bytes "$S/s8/vda.delta.img" $((30 * MB)) $MB) <(yes vmsnapfs | head -c $MB) ||
    fail "s8's delta at 30M: not what the guest wrote"
cmp <(bytes "$S/s8/vda.delta.img" $((31 * MB)) $((10 * MB))) \
    <(head -c $((10 * MB)) /dev/zero) || fail "s8's delta from 31M to 41M: not zeros"
cmp <(bytes "$S/s8/vda.img" $((50 * MB)) $((MB / 2))) <(head -c $((MB / 2)) /dev/zero) ||
    fail "s8's disk at 50M: not the zeros the guest wrote"
cmp <(bytes "$S/s8/vda.img" $((50 * MB + MB / 2)) $((MB / 2))) \
    <(bytes "$S/s7/vda.img" $((50 * MB + MB / 2)) $((MB / 2))) ||
    fail "s8's disk after the zeros: not s7's"
sh "$TOP/examples/incremental-backup.sh" backup "$MNT/$vm" "$B" >/dev/null
sh "$TOP/examples/incremental-backup.sh" restore "$B" s8 vda "$W/s8.raw" >/dev/null
cmp "$W/s8.raw" "$S/s8/vda.img" || fail "the restore of s8 differs"

# A snapshot of the running VM, memory and all, backed up with tar: each
# file comes out as the mount reads it.
true_sizes "$S/s8"
true_sizes "$MNT/$vm"
[ -f "$S/s8/memory" ] || fail "s8 has no memory file"
mkdir "$W/tar"
tar -cf - -C "$S/s8" . | tar -xf - -C "$W/tar"
for f in "$S/s8"/*; do
    [ -f "$f" ] || continue
    cmp "$f" "$W/tar/${f##*/}" || fail "${f##*/} of s8, through tar"
done

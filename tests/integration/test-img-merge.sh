#!/bin/bash
# A whole disk stays right while the chain under it changes: read while
# the snapshot below it is merged (its frozen volume is merged down and
# deleted meanwhile), it gives the bytes it gave before, and after; its
# inode, size and mtime stay.  The snapshot whose .img is open cannot be
# merged: EBUSY, and nothing changes.  One whose .img was closed just
# before merges (rmdir waits for the kernel's release); one whose .img is
# still open through a duplicate of a closed descriptor does not.
. "$(dirname "$0")/functions.sh"

vm_define imgm 1 256M
qemu-io -f qcow2 -c "write -q -P 0x44 32M 8M" "$VM_DIR/vda.qcow2" >/dev/null
vm_start imgm
mount_vmsnapfs
S=$MNT/${VM_PREFIX}imgm/snapshots
take_snapshots "$S" s1 s2 s3
ref=$(mktemp /var/tmp/vmsnapfs-ref.XXXXXX)
on_exit "rm -f '$ref' '$ref.out'"
qemu-img convert -U -f qcow2 -O raw "$S/s2/vda.qcow2" "$ref"
attrs=$(stat -c '%i %s %Y' "$S/s2/vda.img")

# A slow reader of s2's whole disk...
python3 "$TOP/tests/integration/readimg.py" slowcmp "$S/s2/vda.img" "$ref" 6 \
    > "$ref.out" &
reader=$!
sleep 1
# ...keeps s2 from being merged...
assert_eq EBUSY "$(errno_of rmdir "$S/s2")" "rmdir of s2 while its .img is read"
grep -q "whole disks or frozen volumes are read" "$DAEMON_LOG" || fail "no line in the log"
# ...but not s1 under it: s2's frozen volume is merged into s1's and goes.
frozen=$(sed -n 's/^disk.vda.volume: //p' "$S/s2/info")
rmdir "$S/s1"
[ ! -e "$frozen" ] || fail "s2's old frozen volume $frozen is still there"
wait "$reader"
assert_eq OK "$(cat "$ref.out")" "s2.img read during the merge"
cmp "$S/s2/vda.img" "$ref" || fail "s2.img after the merge"
assert_eq "$attrs" "$(stat -c '%i %s %Y' "$S/s2/vda.img")" "inode, size, mtime"
# Closed, s2 merges.
rmdir "$S/s2"
[ ! -e "$S/s2" ] || fail "s2 is still there"

# An open closed through one descriptor (a shell's "< file" is an open, a
# dup2 and a close) but still held through its duplicate keeps the merge
# back, and the duplicate reads the disk's bytes; once it is closed too,
# the merge goes on.
take_snapshots "$S" r1
fifo=$(mktemp -u /var/tmp/vmsnapfs-fifo.XXXXXX)
mkfifo "$fifo"
on_exit "rm -f '$fifo' '$ref.dup'"
python3 "$TOP/tests/integration/readimg.py" duphold "$S/r1/vda.img" \
    < "$fifo" > "$ref.dup" &
holder=$!
# Should the test fail meanwhile: the reader goes before the daemon stops.
on_exit "exec 4>&-; kill $holder 2>/dev/null || true"
exec 4> "$fifo"
wait_for 10 grep -q "closed one" "$ref.dup" || fail "the reader did not start"
assert_eq EBUSY "$(errno_of rmdir "$S/r1")" "rmdir of r1 with its .img held"
echo read >&4
exec 4>&-
wait "$holder"
assert_eq OK "$(tail -n 1 "$ref.dup")" "a read of r1's .img through the dup"
rmdir "$S/r1" || fail "rmdir of r1 right after its .img was closed"
[ ! -e "$S/r1" ] || fail "r1 is still there"

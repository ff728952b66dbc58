#!/bin/bash
# After the merge of snapshot b, its child c's vda.delta.img and vda.qcow2
# stand for other bytes under the same names: the delta against a now, and
# b's volume with c's merged into it.  Without passthrough the kernel keeps
# the pages of both, one cache per name, shared by every open of it.  So:
# opens from before the merge read on the bytes they opened, whole, also
# after the daemon had the kernel drop the VM's pages; a new open beside
# them is EBUSY (it would read their pages); once they are closed, a new
# open reads the new bytes, as qemu-img and a fresh daemon give them, and
# never the pages the old opens read in after the merge.
. "$(dirname "$0")/functions.sh"

vm_define pages 1 64M
vm=${VM_PREFIX}pages
mount_vmsnapfs -o passthrough=off
grep -q "No FUSE passthrough (-o passthrough=off)" "$DAEMON_LOG" ||
    fail "passthrough is not off: $(grep passthrough "$DAEMON_LOG")"
S=$MNT/$vm/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
W=$(mktemp -d /var/tmp/vmsnapfs-pages.XXXXXX)
on_exit "rm -rf '$W'"
qio() { qemu-io -f qcow2 -c "$1" "$(vm_volume pages)" >/dev/null; }
qio "write -q -P 0x11 0 4M"
mkdir "$S/a"
qio "write -q -P 0x22 8M 2M"
mkdir "$S/b"
qio "write -q -P 0x33 16M 2M"
mkdir "$S/c"
D=$S/c/vda.delta.img
Q=$S/c/vda.qcow2

sum() { sha256sum < "$1" | cut -d' ' -f1; }
# sum_fd FD: the checksum of the file open on this shell's FD, read whole
# from its start.
sum_fd() {
    python3 -c 'import hashlib, os, sys
fd, h, off = int(sys.argv[1]), hashlib.sha256(), 0
while True:
    b = os.pread(fd, 1 << 20, off)
    if not b:
        break
    h.update(b)
    off += len(b)
print(h.hexdigest())' "$1"
}
# beside FILE FD: open FILE while FD (an open from before the merge) is
# open; on success, read FD whole again, then FILE: FILE's checksum, or
# the errno of the open.
beside() {
    python3 -c 'import errno, hashlib, os, sys
def whole(fd):
    h, off = hashlib.sha256(), 0
    while True:
        b = os.pread(fd, 1 << 20, off)
        if not b:
            return h.hexdigest()
        h.update(b)
        off += len(b)
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
except OSError as e:
    sys.exit(print(errno.errorcode[e.errno]))
whole(int(sys.argv[2]))
print(whole(fd))' "$1" "$2"
}

# Read whole through the opens, their pages in the kernel's cache.
old_d=$(sum "$D")
old_q=$(sum "$Q")
exec 5< "$D" 6< "$Q"
assert_eq "$old_d" "$(sum_fd 5)" "c's delta through a second open"
assert_eq "$old_q" "$(sum_fd 6)" "c's frozen volume through a second open"

rmdir "$S/b"
vol=$(sed -n 's/^disk.vda.volume: //p' "$S/c/info")
assert_eq "a" "$(sed -n 's/^parent: //p' "$S/c/info")" "c's parent after the merge"
qemu-img convert -O raw \
    "json:{\"driver\":\"qcow2\",\"backing\":null,\"file\":{\"driver\":\"file\",\"filename\":\"$vol\"}}" \
    "$W/delta.raw"
new_d=$(sum "$W/delta.raw")
new_q=$(sum "$vol")
[ "$new_d" != "$old_d" ] || fail "the merge did not change c's delta"

# The daemon has the kernel drop the VM's pages at the merge, and again
# 200 ms later: the old opens read after both (the wait only makes a stale
# page likelier; a right daemon passes whatever the timing).
sleep 1
assert_eq "$old_d" "$(sum_fd 5)" "c's delta through the open from before the merge"
assert_eq "$old_q" "$(sum_fd 6)" "c's frozen volume through the open from before the merge"
r=$(beside "$D" 5)
[ "$r" != "$old_d" ] || fail "a new open of c's delta read the old delta's pages"
assert_eq EBUSY "$r" "a new open of c's delta beside one from before the merge"
r=$(beside "$Q" 6)
[ "$r" != "$old_q" ] || fail "a new open of c's frozen volume read the old volume's pages"
assert_eq EBUSY "$r" "a new open of c's frozen volume beside one from before the merge"
grep -q "opens from before it still read" "$DAEMON_LOG" ||
    fail "no line in the log for the refused opens"

# Closed (their release comes a moment later, and is waited for): the new
# bytes, as qemu-img and a fresh daemon read them.
exec 5<&- 6<&-
assert_eq "$new_d" "$(sum "$D")" "c's delta after the merge"
assert_eq "$new_q" "$(sum "$Q")" "c's frozen volume after the merge"
mount_second_vmsnapfs
assert_eq "$new_d" "$(sum "$M2/$vm/snapshots/c/vda.delta.img")" \
    "c's delta through a fresh daemon"
assert_eq "$new_q" "$(sum "$M2/$vm/snapshots/c/vda.qcow2")" \
    "c's frozen volume through a fresh daemon"

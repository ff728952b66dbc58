#!/bin/bash
# Frozen files are read by the kernel straight from the host's files (FUSE
# passthrough): reading one sends the daemon no read, and gives the host
# file's bytes.  A frozen file whose name comes to stand for another host
# file (a merge below it) while an open still reads the old one opens and
# reads right: the kernel passes one file per name at a time, and the
# daemon serves the other.
. "$(dirname "$0")/functions.sh"

vm_define pass 1 256M
qemu-io -f qcow2 -c "write -q -P 0x5a 16M 96M" "$VM_DIR/vda.qcow2" >/dev/null
vm_start pass
# With -d, libfuse logs every request the daemon reads: "opcode: READ".
mount_vmsnapfs -d
S=$MNT/${VM_PREFIX}pass/snapshots
grep -q "FUSE passthrough" "$DAEMON_LOG" || fail "no line on passthrough"
grep -q "No FUSE passthrough (the kernel has none)" "$DAEMON_LOG" &&
    skip "this kernel has no FUSE passthrough"
grep -q "read by the kernel from the host's files" "$DAEMON_LOG" ||
    fail "passthrough refused: $(grep passthrough "$DAEMON_LOG")"
take_snapshots "$S" s1 s2

# The READ requests the daemon has been sent, as libfuse logs them.
reads() { grep -c "opcode: READ " "$DAEMON_LOG" || true; }
base=$(sed -n 's/^disk.vda.volume: //p' "$S/s1/info")
[ "$(stat -c %s "$base")" -gt $((96 << 20)) ] || fail "a small volume"
before=$(reads)
cmp "$S/s1/vda.qcow2" "$base" || fail "s1's frozen volume differs"
# Served by the daemon, 96 MiB would be 96 READs at the least.
assert_eq 0 $(($(reads) - before)) "READ requests for one cmp"
# Two opens of one file at once, and the memory file.
exec 6< "$S/s1/vda.qcow2"
cmp "$S/s1/vda.qcow2" "$base" || fail "s1's frozen volume, opened twice"
cmp - "$base" <&6 || fail "s1's frozen volume, the first open"
exec 6<&-
cmp "$S/s1/memory" "$(sed -n "s/^memory_file: //p" "$S/s1/info")" ||
    fail "s1's memory"

# Held open, s2's frozen file is replaced under its name by the merge of
# s1: s2's volume is merged down into s1's, which s2 then stands on.  A
# new open waits for the old one to be closed, and gives up after 2 s.
frozen=$(sed -n 's/^disk.vda.volume: //p' "$S/s2/info")
old=$(head -c 64K "$frozen" | sha256sum)
exec 5< "$S/s2/vda.qcow2"
rmdir "$S/s1"
assert_eq "$base" "$(sed -n 's/^disk.vda.volume: //p' "$S/s2/info")" \
    "s2's frozen volume after the merge"
[ ! -e "$frozen" ] || fail "s2's old volume is still there"
assert_eq EBUSY "$(errno_of open "$S/s2/vda.qcow2" r)" \
    "an open while one from before the merge reads the old file"
grep -q "stands for other bytes since a merge" "$DAEMON_LOG" ||
    fail "no line in the log for the refused open"
# The old open still reads the old file, gone from the host since.
assert_eq "$old" "$(head -c 64K <&5 | sha256sum)" "the open from before"
# Closed, and at once (the kernel's release comes a moment later), a new
# open reads the new file.
exec 5<&-
cmp "$S/s2/vda.qcow2" "$base" || fail "s2's frozen file after the merge"

#!/bin/bash
# Guest files are optional: the daemon is not linked with libguestfs and
# loads it when it is there.  Without it the daemon starts and mounts as
# usual, each snapshot's files/ holds only .vmsnapfs-error, saying what to
# install, and the daemon's log says so once.  The test runs in a mount
# namespace of its own, where libguestfs.so.0 reads as an empty file: the
# library stays installed for everyone else.
if [ -z "${VMSNAPFS_NO_LIBGUESTFS:-}" ]; then
    VMSNAPFS_NO_LIBGUESTFS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/functions.sh"
requires readelf

if readelf -d "$VMSNAPFS" | grep -i 'NEEDED.*libguestfs'; then
    fail "the daemon is linked with libguestfs"
fi
lib=$(libguestfs_file)
[ -z "$lib" ] || mount --bind /dev/null "$lib" # in this namespace only

vm_define nogf
mount_vmsnapfs -o files=visible
V=$MNT/${VM_PREFIX}nogf
wait_for 5 test -d "$V/snapshots" || fail "the VM does not show"
assert_eq shut_off "$(cat "$V/state")" "the VM's state"
mkdir "$V/snapshots/s1" "$V/snapshots/s2" || fail "mkdir of two snapshots"
for s in s1 s2; do
    F=$V/snapshots/$s/files
    ls "$V/snapshots/$s" | grep -qx files || fail "$s has no files/"
    assert_eq .vmsnapfs-error "$(ls -A "$F")" "what $s's files/ holds"
    grep -q "need libguestfs: apt install libguestfs0 " "$F/.vmsnapfs-error" ||
        fail "$s's .vmsnapfs-error does not say what to install: $(cat "$F/.vmsnapfs-error")"
    assert_eq ENOENT "$(errno_of open "$F/etc/passwd" r)" "a guest file in $s"
done
assert_eq 1 "$(grep -c 'Guest files (files/) are off: .*apt install libguestfs0' "$DAEMON_LOG")" \
    "the daemon's lines on libguestfs"

#!/bin/bash
# make install and make uninstall; the manual pages render without a
# warning; the systemd unit passes systemd-analyze verify; mount -t
# fuse.vmsnapfs and an fstab line mount the host, the source being the URI.
# alone: installs into /usr/local, and mounts from fstab
. "$(dirname "$0")/functions.sh"
requires man systemd-analyze

# The build the suite runs: plain, or under ASan.
case $VMSNAPFS in
    */build-asan/*) build="BUILD=build-asan SANITIZE=1" ;;
    *) build="BUILD=build" ;;
esac

# Staged: exactly these files, and the binary runs.
D=$(mktemp -d /tmp/vmsnapfs-destdir.XXXXXX)
on_exit "rm -rf '$D'"
make -s -C "$TOP" $build install DESTDIR="$D" >/dev/null
E=./usr/local/share/doc/vmsnapfs/examples
assert_eq "./usr/local/lib/systemd/system/vmsnapfs@.service
./usr/local/sbin/vmsnapfs
$E/backup-borg.sh
$E/backup-restic.sh
$E/incremental-backup.sh
$E/newest-snapshot.sh
$E/nightly-snapshots.sh
$E/progress.sh
$E/systemd/vmsnapfs-nightly@.service
$E/systemd/vmsnapfs-nightly@.timer
$E/undo-upgrade.sh
./usr/local/share/man/man1/vmsnapfs.1
./usr/local/share/man/man5/vmsnapfs.5" "$(cd "$D" && find . -type f | sort)" \
    "the files make install stages"
"$D/usr/local/sbin/vmsnapfs" --version | grep -q '^vmsnapfs ' ||
    fail "the installed binary does not run"
D2=$(mktemp -d /tmp/vmsnapfs-destdir.XXXXXX)
on_exit "rm -rf '$D2'"
make -s -C "$TOP" $build install DESTDIR="$D2" PREFIX=/usr sbindir=/sbin >/dev/null
[ -x "$D2/sbin/vmsnapfs" ] && [ -f "$D2/usr/share/man/man5/vmsnapfs.5" ] ||
    fail "PREFIX and sbindir are not followed"
grep -q "ExecStart=/sbin/vmsnapfs " "$D2/usr/lib/systemd/system/vmsnapfs@.service" ||
    fail "the unit does not run the installed binary"

# The manual pages, as man renders them: no warning, and they say what
# they are for.
for p in 1 5; do
    w=$(MANWIDTH=80 man --warnings -l "$D/usr/local/share/man/man$p/vmsnapfs.$p" 2>&1 >/dev/null)
    assert_eq "" "$w" "warnings of vmsnapfs($p)"
done
MANWIDTH=80 man -l "$D/usr/local/share/man/man1/vmsnapfs.1" 2>/dev/null |
    grep -q "readers=group" || fail "vmsnapfs(1) does not document readers="
MANWIDTH=80 man -l "$D/usr/local/share/man/man5/vmsnapfs.5" 2>/dev/null |
    grep -q "ENAMETOOLONG" || fail "vmsnapfs(5) does not list the errors"
"$VMSNAPFS" --help | grep -q "vmsnapfs(1)" || fail "--help does not point to the manual"

# The unit, for a mount point, as systemd reads it.
U=$(mktemp -d /tmp/vmsnapfs-unit.XXXXXX)
on_exit "rm -rf '$U'"
sed "s|/usr/local/sbin|$D/usr/local/sbin|" \
    "$D/usr/local/lib/systemd/system/vmsnapfs@.service" > "$U/vmsnapfs@mnt-vms.service"
out=$(MANPATH=$D/usr/local/share/man systemd-analyze verify "$U/vmsnapfs@mnt-vms.service" 2>&1) ||
    fail "systemd-analyze verify: $out"
assert_eq "" "$out" "what systemd-analyze verify says"
# Stopping the unit stops the daemon alone: an instant restore's server,
# through which the restored VM reads its disks, outlives it.
assert_eq "process" "$(sed -n 's/^KillMode=//p' "$U/vmsnapfs@mnt-vms.service")" \
    "the unit's KillMode"

# The example timer and its service, beside the mount's unit they need.
cp "$D/$E/systemd/vmsnapfs-nightly@.service" "$U/vmsnapfs-nightly@web.service"
cp "$D/$E/systemd/vmsnapfs-nightly@.timer" "$U/vmsnapfs-nightly@web.timer"
grep -q "^ExecStart=/bin/sh /usr/local/share/doc/vmsnapfs/examples/nightly-snapshots.sh " \
    "$U/vmsnapfs-nightly@web.service" || fail "the example service names no script"
out=$(cd "$U" && systemd-analyze verify vmsnapfs-nightly@web.timer \
    vmsnapfs-nightly@web.service 2>&1 | grep -v "nightly-snapshots.sh.*No such file" || true)
assert_eq "" "$out" "what systemd-analyze verify says of the example timer"

make -s -C "$TOP" $build uninstall DESTDIR="$D" >/dev/null
assert_eq "" "$(cd "$D" && find . -type f)" "files left by make uninstall"

# Mounting as mount(8) does, through mount.fuse3, which finds the daemon
# in the standard PATH: installed for real, and removed at the end.
if [ -e /usr/local/sbin/vmsnapfs ]; then
    echo "vmsnapfs is installed in /usr/local already: the mount part is left out"
    exit 0
fi
on_exit "make -s -C '$TOP' $build uninstall >/dev/null"
make -s -C "$TOP" $build install >/dev/null
vm_define inst
M=$(mktemp -d /tmp/vmsnapfs-mnt.XXXXXX)
on_exit "rmdir '$M'"
on_exit "umount '$M' 2>/dev/null || true"
mount -t fuse.vmsnapfs qemu:///system "$M" || fail "mount -t fuse.vmsnapfs"
wait_for 5 test -d "$M/${VM_PREFIX}inst/snapshots" || fail "the VM does not show"
grep -q " $M fuse.vmsnapfs " /proc/mounts || fail "not a fuse.vmsnapfs mount"
umount "$M"
wait_for 10 sh -c "! grep -q ' $M ' /proc/mounts" || fail "umount"

F=$(mktemp /tmp/vmsnapfs-fstab.XXXXXX)
on_exit "rm -f '$F'"
echo "qemu:///system $M fuse.vmsnapfs allow_other,_netdev 0 0" > "$F"
mount --fstab "$F" "$M" || fail "mount of an fstab line"
wait_for 5 test -d "$M/${VM_PREFIX}inst/snapshots" || fail "the VM does not show (fstab)"
grep " $M " /proc/mounts | grep -q allow_other || fail "allow_other is not in effect"
umount "$M"
# (The pattern's brackets keep it from matching the shell that runs it.)
wait_for 10 sh -c "! pgrep -f '[v]msnapfs qemu:///system $M' >/dev/null" ||
    fail "the daemon did not exit after umount"

#!/bin/bash
# make deb builds a Debian package that lintian finds no error in, which
# only recommends libguestfs; apt installs it, its daemon mounts the host
# from an fstab line through mount.fuse3 where libguestfs is hidden (files/
# then says what to install), and apt removes it again.
. "$(dirname "$0")/functions.sh"
requires dpkg-buildpackage lintian apt-get
# The package is built as Debian builds it, never with sanitizers, and its
# daemon is the package's: the ASan pass would test the same bytes again.
case $VMSNAPFS in
    */build-asan/*) skip "the package is the same in the ASan pass: tested in the plain one" ;;
esac

L=$(mktemp /tmp/vmsnapfs-deb.XXXXXX)
on_exit "rm -f '$L'"
make -s -C "$TOP" deb >"$L" 2>&1 || fail "make deb: $(tail -n 20 "$L")"
deb=$(ls "$TOP"/build/deb/vmsnapfs_*_*.deb)
[ -f "$deb" ] || fail "no package in build/deb: $(ls "$TOP/build/deb")"

# lintian: no error (E:) and no warning (W:).
out=$(lintian "$deb" 2>&1 | grep -E '^[EW]: ' || true)
assert_eq "" "$out" "what lintian says of the package"
depends=$(dpkg-deb -f "$deb" Depends)
for d in libfuse3-3 libvirt0 libnbd0 fuse3 qemu-utils; do
    echo "$depends" | grep -q "\\b$d\\b" || fail "Depends lacks $d: $depends"
done
# libguestfs (qemu-system, supermin and more) only for files/: recommended.
if echo "$depends" | grep -q guestfs; then fail "Depends has libguestfs: $depends"; fi
recommends=$(dpkg-deb -f "$deb" Recommends)
echo "$recommends" | grep -q "\\blibguestfs0\\b" || fail "Recommends lacks libguestfs0: $recommends"
assert_eq "./lib/systemd/system/vmsnapfs@.service
./usr/sbin/vmsnapfs
./usr/share/doc/vmsnapfs/changelog.gz
./usr/share/doc/vmsnapfs/copyright
./usr/share/doc/vmsnapfs/examples/backup-borg.sh
./usr/share/doc/vmsnapfs/examples/backup-restic.sh
./usr/share/doc/vmsnapfs/examples/incremental-backup.sh
./usr/share/doc/vmsnapfs/examples/newest-snapshot.sh
./usr/share/doc/vmsnapfs/examples/nightly-snapshots.sh
./usr/share/doc/vmsnapfs/examples/progress.sh
./usr/share/doc/vmsnapfs/examples/systemd/vmsnapfs-nightly@.service
./usr/share/doc/vmsnapfs/examples/systemd/vmsnapfs-nightly@.timer
./usr/share/doc/vmsnapfs/examples/undo-upgrade.sh
./usr/share/man/man1/vmsnapfs.1.gz
./usr/share/man/man5/vmsnapfs.5.gz" \
    "$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | sort)" \
    "the files of the package"

# Installed with apt, on this machine, unless a vmsnapfs package is
# installed already (someone's own: left alone).
if dpkg-query -W -f='${Status}' vmsnapfs 2>/dev/null | grep -q "ok installed"; then
    echo "a vmsnapfs package is installed already: the install part is left out"
    exit 0
fi
on_exit "apt-get purge -y -qq vmsnapfs >/dev/null 2>&1 </dev/null"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "$deb" >"$L" 2>&1 </dev/null || fail "apt-get install: $(tail -n 20 "$L")"
/usr/sbin/vmsnapfs --version | grep -q "^vmsnapfs " || fail "/usr/sbin/vmsnapfs --version"
man -w 5 vmsnapfs | grep -q "^/usr/share/man/man5/vmsnapfs.5.gz$" ||
    fail "man does not find vmsnapfs(5): $(man -w 5 vmsnapfs 2>&1)"

# Mounted from an fstab line, as mount -a at boot would: mount.fuse3 runs
# the packaged daemon (the first vmsnapfs in its PATH, which a make
# install in /usr/local would shadow).  As on a host without libguestfs,
# which the package only recommends: in a mount namespace of its own where
# libguestfs.so.0 reads as an empty file, seen from here through the
# daemon's /proc/PID/root.
vm_define deb
M=$(mktemp -d /tmp/vmsnapfs-mnt.XXXXXX)
F=$(mktemp /tmp/vmsnapfs-fstab.XXXXXX)
on_exit "rm -f '$F'; rmdir '$M'"
echo "qemu:///system $M fuse.vmsnapfs allow_other,_netdev 0 0" > "$F"
PATH=/usr/sbin:/usr/bin:/sbin:/bin unshare -m --propagation private sh -c \
    '[ -z "$1" ] || mount --bind /dev/null "$1"; mount --fstab "$2" "$3"' \
    sh "$(libguestfs_file)" "$F" "$M" || fail "mount of an fstab line"
pid=$(pgrep -f "[v]msnapfs qemu:///system $M" | head -n 1)
[ -n "$pid" ] || fail "no daemon serves the mount"
on_exit "nsenter -t $pid -m umount '$M' 2>/dev/null || true"
R=/proc/$pid/root$M
wait_for 5 test -d "$R/${VM_PREFIX}deb/snapshots" || fail "the VM does not show"
assert_eq /usr/sbin/vmsnapfs "$(readlink "/proc/$pid/exe")" "the daemon that serves the mount"
assert_eq shut_off "$(cat "$R/${VM_PREFIX}deb/state")" "the VM's state through the mount"
mkdir "$R/${VM_PREFIX}deb/snapshots/s1" || fail "mkdir of a snapshot"
assert_eq .vmsnapfs-error "$(ls -A "$R/${VM_PREFIX}deb/snapshots/s1/files")" \
    "files/ without libguestfs"
grep -q "apt install libguestfs0" "$R/${VM_PREFIX}deb/snapshots/s1/files/.vmsnapfs-error" ||
    fail "files/.vmsnapfs-error does not say what to install"
nsenter -t "$pid" -m umount "$M"
wait_for 10 sh -c "! pgrep -f '[v]msnapfs qemu:///system $M' >/dev/null" ||
    fail "the daemon did not exit after umount"

apt-get purge -y -qq vmsnapfs >/dev/null 2>&1 </dev/null
[ ! -e /usr/sbin/vmsnapfs ] || fail "apt-get purge left /usr/sbin/vmsnapfs"

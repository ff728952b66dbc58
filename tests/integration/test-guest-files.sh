#!/bin/sh
# VM/snapshots/NAME/files/: the guest's own files at each snapshot, read
# with libguestfs.  A running guest whose second disk has a partition
# table with two ext4 partitions, filled here: a Linux root and its /home.
# Between two snapshots the guest changes files and moves its /etc away:
# the first is laid out by inspection, the second one directory per file
# system.
. "$(dirname "$0")/functions.sh"

command -v mkfs.ext4 >/dev/null && command -v sfdisk >/dev/null &&
    command -v cryptsetup >/dev/null || skip "mkfs.ext4, sfdisk and cryptsetup are needed"
# No KVM for the appliance on these machines (see ENVIRONMENT): the daemon
# would find that out itself, a launch later.
export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg

work=$(mktemp -d /tmp/vmsnapfs-gf.XXXXXX)
on_exit "rm -rf '$work'"
# The daemons' temporary directories, and so their appliances' overlays,
# in one of the test's own: what it counts is its own daemons', whatever
# else runs on the host.
export TMPDIR=$work/tmp
mkdir "$TMPDIR"

# appliances: this test's libguestfs appliances running (qemu with its
# kernel, its overlays in $TMPDIR).
appliances() {
    pgrep -fc "qemu-system.*$TMPDIR/" || true
}
no_appliance() { [ "$(appliances)" -eq 0 ]; }

# --- the second disk: a partition table with two ext4 partitions, made ----
# without mounting: a Linux root (os-release, fstab) and the /home its
# fstab mounts.
r=$work/root
linux_root "$r"
mkdir -p "$r/home" "$r/dir/sub" "$work/home"
printf 'LABEL=gfroot / ext4 defaults 0 1\nLABEL=gfhome /home ext4 defaults 0 2\n' > "$r/etc/fstab"
printf 'guest-passwd-line\n' > "$r/etc/passwd"
printf 'version one\n' > "$r/note.txt"
chmod 0640 "$r/note.txt"
touch -d '2020-01-02 03:04:05' "$r/note.txt"
ln "$r/note.txt" "$r/dir/hardlink"
printf 'doomed\n' > "$r/doomed.txt"
head -c 3145728 /dev/urandom > "$r/big.bin" # more than one read
ln -s /etc/passwd "$r/dir/sub/pw"
mkfifo "$r/fifo"
mknod "$r/null" c 1 3 # the host's /dev/null, were it opened as the host's
odd=$(printf 'odd \377 name\tx') # any bytes but / and NUL
printf 'odd\n' > "$r/$odd"
printf 'second\n' > "$work/home/second.txt"
mkfs.ext4 -q -F -L gfroot -d "$r" "$work/p1.img" 32M
mkfs.ext4 -q -F -L gfhome -d "$work/home" "$work/p2.img" 16M
# A third partition encrypted, whose key vmsnapfs never has.
truncate -s 12M "$work/p3.img"
printf 'not-given' | cryptsetup luksFormat --batch-mode --type luks1 \
    --pbkdf-force-iterations 1000 "$work/p3.img" - || fail "luksFormat"
truncate -s 64M "$work/disk.raw"
printf 'label: dos\nstart=2048, size=65536, type=83\nstart=67584, size=32768, type=83\nstart=100352, size=24576, type=83\n' |
    sfdisk -q "$work/disk.raw"
dd if="$work/p1.img" of="$work/disk.raw" bs=512 seek=2048 conv=notrunc status=none
dd if="$work/p2.img" of="$work/disk.raw" bs=512 seek=67584 conv=notrunc status=none
dd if="$work/p3.img" of="$work/disk.raw" bs=512 seek=100352 conv=notrunc status=none

# The guest counts on vda only: vdb keeps its partition table.
GUEST_AGENT=yes GUEST_CMDLINE=vmsnapfs.count=vda vm_define gf 2
qemu-img convert -O qcow2 "$work/disk.raw" "$VM_DIR/vdb.qcow2"
vm=${VM_PREFIX}gf
vm_start gf
guest_exec gf 'mkdir -p /mnt && mount -t ext4 /dev/vdb1 /mnt && cat /mnt/note.txt' |
    grep -qx 'version one' || fail "the guest does not see its file system"
guest_exec gf 'sync'

mount_vmsnapfs -o files_idle=30,allow_other
S=$MNT/$vm/snapshots
mkdir "$S/s1" || fail "mkdir s1"
# The guest changes a file, deletes one, and moves its /etc away: no
# operating system to inspect at s2.
guest_exec gf 'printf "version two\n" > /mnt/note.txt && rm /mnt/doomed.txt && mv /mnt/etc /mnt/etc.old && sync'
mkdir "$S/s2" || fail "mkdir s2"

# Nothing starts until someone looks inside files/; hidden by default (ls
# -R and backups of a snapshot's directory would start one an appliance
# each), there by name.
assert_eq 500 "$(stat -c %a "$S/s1/files")" "files/ is root's alone"
ls "$S/s1" | grep -qx files && fail "files/ is listed without files=visible"
no_appliance || fail "an appliance started before anyone looked inside files/"

# --- s1: an operating system, laid out as the guest mounts it --------------
F1=$S/s1/files F2=$S/s2/files
# s2's appliance starts meanwhile, on the other core.
ls "$F2" >/dev/null &
s2_look=$!
assert_eq "version one" "$(cat "$F1/note.txt")" "note.txt at s1"
assert_eq second "$(cat "$F1/home/second.txt")" "/home, the second partition, as fstab mounts it"
[ -f "$F1/doomed.txt" ] || fail "doomed.txt is not in s1"
cmp "$r/big.bin" "$F1/big.bin" || fail "big.bin differs"
[ ! -e "$F1/.vmsnapfs-error" ] || fail "an error at s1: $(cat "$F1/.vmsnapfs-error")"

# Attributes as in the guest; hard links counted; special files shown.
assert_eq "640 2020-01-02 03:04:05" \
    "$(TZ=UTC0 stat -c '%a %y' "$F1/note.txt" | cut -c1-23)" "note.txt's mode and time"
assert_eq 2 "$(stat -c %h "$F1/note.txt")" "note.txt's links"
assert_eq "$(stat -c %i "$F1/note.txt")" "$(stat -c %i "$F1/dir/hardlink")" \
    "a hard link's inode"
assert_eq fifo "$(stat -c %F "$F1/fifo")" "a pipe"
assert_eq "character special file 0,0" "$(stat -c '%F %t,%T' "$F1/null")" \
    "a device node, shown with no device numbers"
assert_eq EACCES "$(errno_of open "$F1/null" r)" "a device node opened (nodev)"
assert_eq odd "$(cat "$F1/$odd")" "a name of any bytes"
ls "$F1" | grep -q '^odd' || fail "the odd name is not listed"

# A link to /etc/passwd reads the guest's, never the host's.
assert_eq ../../etc/passwd "$(readlink "$F1/dir/sub/pw")" "the link, kept inside"
assert_eq guest-passwd-line "$(cat "$F1/dir/sub/pw")" "the link's target"

# Root's alone (no readers group here): the guest's owners mean nothing on
# the host.
nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
help=$(mktemp -d /tmp/vmsnapfs-gf-help.XXXXXX)
on_exit "rm -rf '$help'"
chmod 755 "$help"
install -m 0755 "$TOP/tests/integration/errno.py" "$help/errno.py"
nobody ls "$S/s1" >/dev/null || fail "nobody cannot list the snapshot"
assert_eq EACCES "$(nobody /usr/bin/python3 "$help/errno.py" open "$F1/note.txt" r)" \
    "nobody opens a guest file"

# Read-only.
assert_eq EROFS "$(errno_of open "$F1/note.txt" w)" "open for writing"
assert_eq EROFS "$(errno_of mkdir "$F1/new")" "mkdir"
assert_eq EROFS "$(errno_of unlink "$F1/note.txt")" "unlink"

# rsync -a and tar of a subtree keep modes, times and contents.
rsync -a "$F1/dir/" "$work/restore/" || fail "rsync -a"
assert_eq "$(stat -c '%a %Y' "$r/note.txt")" "$(stat -c '%a %Y' "$work/restore/hardlink")" \
    "a file restored by rsync -a"
assert_eq ../../etc/passwd "$(readlink "$work/restore/sub/pw")" "a link restored by rsync -a"
tar -C "$F1" -cf "$work/t.tar" dir big.bin || fail "tar"
mkdir "$work/untar" && tar -C "$work/untar" -xf "$work/t.tar" || fail "tar -x"
cmp "$r/big.bin" "$work/untar/big.bin" || fail "big.bin through tar"
assert_eq "$(cd "$r/dir" && find . | sort)" "$(cd "$work/untar/dir" && find . | sort)" \
    "the tree through tar"

# A file manager's copy: GIO's (Nautilus, PCManFM, Thunar), attributes
# kept; its listing with every attribute.
out=$(gio list -a '*' "$F1/dir") || fail "gio list -a: $out"
echo "$out" | grep -q "^hardlink	" || fail "gio list lacks hardlink: $out"
gio copy -p "$F1/big.bin" "$work/gio-big.bin" || fail "gio copy"
cmp "$r/big.bin" "$work/gio-big.bin" || fail "big.bin through gio copy"
gio copy -p "$F1/note.txt" "$work/gio-note.txt" || fail "gio copy of note.txt"
assert_eq "$(stat -c %Y "$r/note.txt")" "$(stat -c %Y "$work/gio-note.txt")" \
    "note.txt's time through gio copy -p"

# --- s2: no operating system, one directory per file system ----------------
wait "$s2_look" || fail "the first ls of s2's files/"
# One appliance a snapshot, whoever reads.
assert_eq 2 "$(appliances)" "appliances for two snapshots"
assert_eq "vda vdb1 vdb2 vdb3" "$(ls "$F2" | xargs)" "the file systems of s2"
# vda is the guest's counting disk, vdb3 encrypted: empty, and explained.
grep -q '^vda: ' "$F2/.vmsnapfs-error" ||
    fail ".vmsnapfs-error does not explain vda: $(cat "$F2/.vmsnapfs-error")"
grep -q '^vdb3: encrypted' "$F2/.vmsnapfs-error" ||
    fail ".vmsnapfs-error does not explain vdb3: $(cat "$F2/.vmsnapfs-error")"
[ -z "$(ls -A "$F2/vda")" ] || fail "vda is not an empty directory"
[ -z "$(ls -A "$F2/vdb3")" ] || fail "vdb3 is not an empty directory"
assert_eq "version two" "$(cat "$F2/vdb1/note.txt")" "note.txt at s2"
[ ! -e "$F2/vdb1/doomed.txt" ] || fail "doomed.txt, deleted before s2, is in s2"
assert_eq second "$(cat "$F2/vdb2/second.txt")" "the second partition at s2"
assert_eq "version one" "$(cat "$F1/note.txt")" "note.txt at s1, again"

# --- a merge while files/ is read --------------------------------------------
exec 3<"$F2/vdb1/big.bin"
assert_eq EBUSY "$(errno_of rmdir "$S/s2")" "rmdir of a snapshot whose files are open"
[ -d "$S/s2" ] || fail "s2 went with its files open"
exec 3<&-
rmdir "$S/s2" || fail "rmdir s2 after the reader closed"
[ ! -e "$S/s2" ] || fail "s2 still shows"
assert_eq "version one" "$(cat "$F1/note.txt")" "s1 after s2 was merged"

# --- no appliance outlives the daemon --------------------------------------
[ "$(appliances)" -ge 1 ] || fail "no appliance for s1"
# libguestfs's temporary files (its overlays), in a directory of the
# daemon's: a daemon killed leaves it, the next one removes it.
tmpdirs=$(ls -d "$TMPDIR"/vmsnapfs-guestfs.* 2>/dev/null)
[ "$(echo "$tmpdirs" | wc -w)" -eq 1 ] ||
    fail "not one temporary directory for libguestfs: '$tmpdirs'"
kill -9 "$DAEMON_PID"
wait_for 30 no_appliance || fail "an appliance outlived the daemon's kill -9"
[ -d "$tmpdirs" ] || fail "libguestfs's directory went with the daemon's kill -9"
stop_vmsnapfs
mount_vmsnapfs -o files=visible,files_idle=2
[ ! -e "$tmpdirs" ] || fail "the restarted daemon left the killed one's $tmpdirs"
ls "$MNT/$vm/snapshots/s1" | grep -qx files || fail "files/ is not listed with files=visible"
no_appliance || fail "an appliance started for a listing of the snapshot"

# Unused, an appliance stops.
assert_eq "version one" "$(cat "$MNT/$vm/snapshots/s1/files/note.txt")" "s1 after a restart"
[ "$(appliances)" -eq 1 ] || fail "no appliance for s1 after the restart"
wait_for 20 no_appliance || fail "the appliance outlived files_idle=2"
stop_vmsnapfs
assert_eq 0 "$DAEMON_STATUS" "the daemon's exit status after the unmount"
wait_for 30 no_appliance || fail "an appliance outlived the unmount"
left=$(ls -d "$TMPDIR"/vmsnapfs-guestfs.* 2>/dev/null || true)
[ -z "$left" ] ||
    fail "a temporary directory for libguestfs outlived the unmount: $(ls -lR $left)"

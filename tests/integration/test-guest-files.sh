#!/bin/sh
# VM/snapshots/NAME/files/: the guest's own files at each snapshot, read
# with libguestfs.  A running guest whose second disk has a partition
# table with two ext4 partitions, filled here; the guest changes the first
# between two snapshots.  No operating system on the disks: one directory
# per file system.
. "$(dirname "$0")/functions.sh"

command -v mkfs.ext4 >/dev/null && command -v sfdisk >/dev/null ||
    skip "mkfs.ext4 and sfdisk are needed"
# No KVM for the appliance on these machines (see ENVIRONMENT): the daemon
# would find that out itself, a launch later.
export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg

# appliances: the libguestfs appliances running (qemu with its kernel).
appliances() {
    pgrep -fc 'qemu-system.*appliance' || true
}
no_appliance() { [ "$(appliances)" -eq 0 ]; }
no_appliance || fail "an appliance runs before the test: $(pgrep -fa 'qemu-system.*appliance')"

# --- the second disk: two ext4 partitions, made without mounting ----------
work=$(mktemp -d /tmp/vmsnapfs-gf.XXXXXX)
on_exit "rm -rf '$work'"
mkdir -p "$work/p1/etc" "$work/p1/dir/sub" "$work/p2"
printf 'version one\n' > "$work/p1/note.txt"
chmod 0640 "$work/p1/note.txt"
touch -d '2020-01-02 03:04:05' "$work/p1/note.txt"
printf 'doomed\n' > "$work/p1/doomed.txt"
head -c 3145728 /dev/urandom > "$work/p1/big.bin" # more than one read
printf 'guest-passwd-line\n' > "$work/p1/etc/passwd"
ln -s /etc/passwd "$work/p1/dir/sub/pw"
ln "$work/p1/note.txt" "$work/p1/dir/hardlink"
mkfifo "$work/p1/fifo"
printf 'second\n' > "$work/p2/second.txt"
mkfs.ext4 -q -F -d "$work/p1" "$work/p1.img" 32M
mkfs.ext4 -q -F -d "$work/p2" "$work/p2.img" 16M
truncate -s 64M "$work/disk.raw"
printf 'label: dos\nstart=2048, size=65536, type=83\nstart=67584, size=32768, type=83\n' |
    sfdisk -q "$work/disk.raw"
dd if="$work/p1.img" of="$work/disk.raw" bs=512 seek=2048 conv=notrunc status=none
dd if="$work/p2.img" of="$work/disk.raw" bs=512 seek=67584 conv=notrunc status=none

# The guest counts on vda only: vdb keeps its partition table.
GUEST_AGENT=yes GUEST_CMDLINE=vmsnapfs.count=vda vm_define gf 2
qemu-img convert -O qcow2 "$work/disk.raw" "$VM_DIR/vdb.qcow2"
vm=${VM_PREFIX}gf
vm_start gf
guest_exec gf 'mkdir -p /mnt && mount -t ext4 /dev/vdb1 /mnt && cat /mnt/note.txt' |
    grep -qx 'version one' || fail "the guest does not see its file system"
guest_exec gf 'sync'

mount_vmsnapfs -o files_idle=30
S=$MNT/$vm/snapshots
mkdir "$S/s1" || fail "mkdir s1"
guest_exec gf 'printf "version two\n" > /mnt/note.txt && rm /mnt/doomed.txt && sync'
mkdir "$S/s2" || fail "mkdir s2"

# Nothing starts until someone looks inside files/; hidden by default (ls
# -R and backups of a snapshot's directory would start one an appliance
# each), there by name.
assert_eq 500 "$(stat -c %a "$S/s1/files")" "files/ is root's alone"
ls "$S/s1" | grep -qx files && fail "files/ is listed without files=visible"
no_appliance || fail "an appliance started before anyone looked inside files/"

# --- the tree: one directory per file system ------------------------------
F1=$S/s1/files F2=$S/s2/files

assert_eq "vdb1 vdb2" "$(ls "$F1" | grep vdb | tr '\n' ' ' | sed 's/ $//')" \
    "the file systems of s1"
[ "$(appliances)" -eq 1 ] || fail "one appliance for s1, not $(appliances)"
# vda is the guest's counting disk: no file system.
grep -q '^vda: ' "$F1/.vmsnapfs-error" ||
    fail ".vmsnapfs-error does not explain vda: $(cat "$F1/.vmsnapfs-error")"
[ -d "$F1/vda" ] && [ -z "$(ls -A "$F1/vda")" ] || fail "vda is not an empty directory"

# --- contents at each snapshot ---------------------------------------------
assert_eq "version one" "$(cat "$F1/vdb1/note.txt")" "note.txt at s1"
assert_eq "version two" "$(cat "$F2/vdb1/note.txt")" "note.txt at s2"
[ -f "$F1/vdb1/doomed.txt" ] || fail "doomed.txt is not in s1"
[ ! -e "$F2/vdb1/doomed.txt" ] || fail "doomed.txt, deleted before s2, is in s2"
cmp "$work/p1/big.bin" "$F1/vdb1/big.bin" || fail "big.bin differs"
assert_eq second "$(cat "$F1/vdb2/second.txt")" "the second partition"

# Attributes as in the guest; hard links counted; special files shown.
assert_eq "640 2020-01-02 03:04:05" \
    "$(TZ=UTC0 stat -c '%a %y' "$F1/vdb1/note.txt" | cut -c1-23)" "note.txt's mode and time"
assert_eq 2 "$(stat -c %h "$F1/vdb1/note.txt")" "note.txt's links"
assert_eq "$(stat -c %i "$F1/vdb1/note.txt")" "$(stat -c %i "$F1/vdb1/dir/hardlink")" \
    "a hard link's inode"
assert_eq fifo "$(stat -c %F "$F1/vdb1/fifo")" "a pipe"

# A link to /etc/passwd reads the guest's, never the host's.
assert_eq ../../etc/passwd "$(readlink "$F1/vdb1/dir/sub/pw")" "the link, kept inside"
assert_eq guest-passwd-line "$(cat "$F1/vdb1/dir/sub/pw")" "the link's target"

# Read-only.
assert_eq EROFS "$(errno_of open "$F1/vdb1/note.txt" w)" "open for writing"
assert_eq EROFS "$(errno_of mkdir "$F1/vdb1/new")" "mkdir"

# rsync -a and tar of a subtree keep modes and times.
rsync -a "$F1/vdb1/" "$work/restore/" || fail "rsync -a"
assert_eq "$(stat -c '%a %Y' "$work/p1/note.txt")" "$(stat -c '%a %Y' "$work/restore/note.txt")" \
    "note.txt restored by rsync"
cmp "$work/p1/big.bin" "$work/restore/big.bin" || fail "big.bin restored by rsync"
assert_eq "$(cd "$work/p1" && find . | sort)" "$(cd "$work/restore" && find . -not -name lost+found -not -path './lost+found/*' | sort)" \
    "the restored tree"
tar -C "$F1/vdb1" -cf "$work/t.tar" dir etc || fail "tar"
tar -tf "$work/t.tar" | grep -qx 'dir/sub/pw' || fail "tar lost the link"

# --- a merge while files/ is read --------------------------------------------
exec 3<"$F2/vdb1/big.bin"
assert_eq EBUSY "$(errno_of rmdir "$S/s2")" "rmdir of a snapshot whose files are open"
[ -d "$S/s2" ] || fail "s2 went with its files open"
exec 3<&-
rmdir "$S/s2" || fail "rmdir s2 after the reader closed"
[ ! -e "$S/s2" ] || fail "s2 still shows"
assert_eq "version one" "$(cat "$F1/vdb1/note.txt")" "s1 after s2 was merged"

# --- no appliance outlives the daemon --------------------------------------
[ "$(appliances)" -ge 1 ] || fail "no appliance for s1"
kill -9 "$DAEMON_PID"
wait_for 30 no_appliance || fail "an appliance outlived the daemon's kill -9"
stop_vmsnapfs
mount_vmsnapfs -o files=visible
ls "$MNT/$vm/snapshots/s1" | grep -qx files || fail "files/ is not listed with files=visible"
stop_vmsnapfs
wait_for 30 no_appliance || fail "an appliance outlived the unmount"

#!/bin/bash
# df answers "will my snapshot fit": the mount reports the free space of
# the file system that holds the VMs' volumes, where new overlays and
# memory files go.  A VM's directory reports its own volumes' file
# system; the top reports the one with the least room, when volumes lie
# on several.
. "$(dirname "$0")/functions.sh"

vm_define dfbig 1 64M
big=$VM_DIR
vm_define dfsmall 1 64M
small=$VM_DIR
# dfsmall's volume on a file system of its own, of 48 MiB.
mkdir "$small/fs"
mount -t tmpfs -o size=48M vmsnapfs-test-df "$small/fs"
on_exit "umount -l '$small/fs'"
qemu-img create -q -f qcow2 "$small/fs/vda.qcow2" 64M
virsh -q dumpxml "${VM_PREFIX}dfsmall" |
    sed "s|$small/vda.qcow2|$small/fs/vda.qcow2|" > "$small/fs.xml"
virsh -q define "$small/fs.xml" >/dev/null
mount_vmsnapfs

# size and available of PATH's file system, in bytes.
space() { df -B1 --output=size,avail "$1" | tail -n 1 | xargs; }
size() { space "$1" | cut -d" " -f1; }
avail() { space "$1" | cut -d" " -f2; }
near() { # A B: within 16 MiB (the host file system may be written meanwhile)
    d=$(($1 - $2)); [ ${d#-} -le $((16 << 20)) ]
}

assert_eq "$(size "$big")" "$(size "$MNT/${VM_PREFIX}dfbig")" \
    "df of dfbig's directory: the size"
near "$(avail "$big")" "$(avail "$MNT/${VM_PREFIX}dfbig/snapshots")" ||
    fail "df of dfbig: $(avail "$MNT/${VM_PREFIX}dfbig/snapshots") free, the host $(avail "$big")"
assert_eq "$(space "$small/fs")" "$(space "$MNT/${VM_PREFIX}dfsmall/state")" \
    "df of a file in dfsmall"
# The top: the least room of all, here the 48 MiB one.
assert_eq "$(space "$small/fs")" "$(space "$MNT")" "df of the mount"
assert_eq $((48 << 20)) "$(size "$MNT")" "the size df shows for the mount"

# A snapshot that takes room shows in df.
before=$(avail "$MNT/${VM_PREFIX}dfsmall")
dd if=/dev/zero of="$small/fs/filler" bs=1M count=8 status=none
assert_eq $((before - (8 << 20))) "$(avail "$MNT/${VM_PREFIX}dfsmall")" \
    "free space after 8 MiB written beside dfsmall's volume"
assert_eq 255 "$(stat -f -c %l "$MNT")" "the longest name"

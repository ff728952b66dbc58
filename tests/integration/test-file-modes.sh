#!/bin/bash
# Every file a verb makes on the host is its owner's alone (mode 0600, no
# bit for group or others), owned by root or, while a VM uses it, by
# libvirt's qemu user: the snapshots' volumes and memory (of a running VM
# and of a shut-off one), the preview's and the revert's volumes, a
# clone's copy, overlay and memory, an import's volumes, overlay and
# memory.  The directory an import makes lets qemu through (mode 0711):
# the clone and the import start, resume their memory and count.  (The
# stateless re-arm makes its volume as a revert does.)
. "$(dirname "$0")/functions.sh"
requires rsync

vm_define modes 1 64M
vm=${VM_PREFIX}modes
clone=${VM_PREFIX}modes-clone
imp=${VM_PREFIX}modes-imp
IMP_DIR=/var/lib/libvirt/images/$imp
on_exit "vm_remove '$clone'; vm_remove '$imp'"
SRC_DIR=$VM_DIR
# The test's own files (the disk it made, its domain.xml): not a verb's.
own=$(find "$SRC_DIR" -type f | sort)
# all_private WHAT MIN: every file the verbs made so far, at least MIN of
# them, is mode 0600, of root or of libvirt's qemu user (while a VM runs).
all_private() {
    made=$(find "$SRC_DIR" "$IMP_DIR" -type f ! -name '*console.log' 2>/dev/null |
        sort | comm -13 <(echo "$own") -)
    n=$(echo "$made" | grep -c . || true)
    [ "$n" -ge "$2" ] || fail "$1: only $n files made by the verbs: $made"
    wide=""
    for f in $made; do
        m=$(stat -c '%a %U' "$f")
        case $m in
            "600 root"|"600 libvirt-qemu") ;;
            *) wide="$wide
$m $f" ;;
        esac
    done
    [ -z "$wide" ] || fail "$1: files wider than 0600 or of another owner:$wide"
}

vm_start modes
mount_vmsnapfs
V=$MNT/$vm
S=$V/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
wait_for 30 counted_past modes 3 || fail "the guest does not count"

# Snapshots with memory, one of a shut-off VM, a preview, a commit, a
# revert, an offline merge.
mkdir "$S/s1"
mkdir "$S/s2"
echo destroy > "$V/state"
wait_for 10 is_shut_off "$V" || fail "the VM does not stop"
mkdir "$S/s3"
mkdir "$S/s4"
# s1 and s2: a volume and a memory file each; s3 and s4 a volume each.
all_private "after the snapshots" 6
ln -sfn snapshots/s1 "$V/preview"
ln -sfn snapshots/s1 "$V/active"
ln -sfn snapshots/s2 "$V/active"
rmdir "$S/s3"

# A clone of s1, and an import of the rsync'ed export.
ln -s "$vm/snapshots/s1" "$MNT/$clone" || fail "the clone: $(tail -n 2 "$DAEMON_LOG")"
no_jobs() { [ -z "$(cat "$1/jobs")" ]; }
wait_for 120 no_jobs "$MNT/$clone" || fail "the clone's copy does not end"
wait_for 10 test -L "$MNT/$clone/resume" || fail "no resume in the clone"
W=$(mktemp -d /var/tmp/vmsnapfs-modes.XXXXXX)
on_exit "rm -rf '$W'"
rsync -a --sparse --exclude '*.img' "$V/" "$W/vm/" || fail "rsync of the VM"
ln -s "$W/vm" "$MNT/$imp" || fail "the import: $(tail -n 2 "$DAEMON_LOG")"

# console_of NAME: the file VM NAME's serial console writes.
console_of() {
    virsh dumpxml "$1" | sed -n "s/.*<source path='\([^']*console[^']*\)'.*/\1/p" | head -n 1
}
counts() { grep -q "^count " "$1"; }

# The clone and the import resume their memory from their own files, with
# qemu as libvirt's user.
for new in "$clone" "$imp"; do
    console=$(console_of "$new")
    [ -n "$console" ] || fail "$new has no console file"
    echo start > "$MNT/$new/state"
    wait_for 60 counts "$console" || fail "$new does not count: $(virsh -q domstate "$new")"
    grep -q "vmsnapfs-guest: boot" "$console" && fail "$new booted instead of resuming"
    virsh -q destroy "$new" >/dev/null
done

# Left: the snapshots' volumes and memory, the revert's volume; the clone's
# copy, overlay and memory; the import's volumes, memory and overlay.
all_private "at the end" 12
assert_eq 711 "$(stat -c %a "$IMP_DIR")" "the mode of the import's directory"
exit 0

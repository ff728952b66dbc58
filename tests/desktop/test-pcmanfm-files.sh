#!/bin/bash
# File-level restore in a real file manager: PCManFM under Xvfb opens a
# snapshot's files/ (the guest's own tree, read with libguestfs), goes down
# to a user's documents, and copies one back as a person does: type its
# name to select it, Ctrl+C, a window on the folder to restore into,
# Ctrl+V.  The copy is the file as it was at the snapshot; the guest has
# changed it since.  Screenshots are kept in build/desktop/.
. "$(dirname "$0")/../integration/functions.sh"
. "$(dirname "$0")/desktop.sh"
command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is needed"
export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg

# A guest disk with a Linux root laid out as a desktop user's.
work=$(mktemp -d /tmp/vmsnapfs-deskfiles.XXXXXX)
on_exit "rm -rf '$work'"
r=$work/root
linux_root "$r"
mkdir -p "$r/home/alice/Documents" "$r/home/alice/Pictures" "$r/var/log"
printf 'LABEL=deskroot / ext4 defaults 0 1\n' > "$r/etc/fstab"
printf 'Quarterly figures, as sent on Monday.\n' > "$r/home/alice/Documents/report.txt"
printf 'Shopping: bread, milk.\n' > "$r/home/alice/Documents/notes.txt"
head -c 20000 /dev/urandom > "$r/home/alice/Pictures/holiday.jpg"
mkfs.ext4 -q -F -L deskroot -d "$r" "$work/root.img" 32M

vm_define deskfiles 2
qemu-img convert -O qcow2 "$work/root.img" "$VM_DIR/vdb.qcow2"
mount_vmsnapfs -o files=visible
vm=${VM_PREFIX}deskfiles
S=$MNT/$vm/snapshots
mkdir "$S/monday"
# The file changes after the snapshot, in the disk's new active volume:
# the copy must be Monday's.
active=$(virsh -q domblklist "$vm" | awk '$1 == "vdb" { print $2 }')
[ "$active" != "$VM_DIR/vdb.qcow2" ] || fail "vdb has no new volume after the snapshot"
guestfish --format=qcow2 -a "$active" -m /dev/sda write \
    /home/alice/Documents/report.txt 'Overwritten by mistake.' ||
    fail "guestfish could not change the disk"

start_desktop
open_folder "$S/monday/files"
shot files-root
open_folder "$S/monday/files/home/alice/Documents"
shot files-documents
not_blank files-documents

# Select report.txt by typing its name, copy it.
win=$(xdotool search --onlyvisible --name '^Documents' | tail -n 1)
[ -n "$win" ] || fail "no window on Documents: $(xdotool search --onlyvisible --class pcmanfm getwindowname %@)"
xdotool windowfocus --sync "$win" 2>/dev/null || true
xdotool type --delay 60 "report"
sleep 1
xdotool key --clearmodifiers Escape ctrl+c
sleep 1

# Paste into a folder of the host's.
restore=$work/restore
mkdir "$restore"
open_folder "$restore"
win=$(xdotool search --onlyvisible --name '^restore' | tail -n 1)
[ -n "$win" ] || fail "no window on the restore folder"
xdotool windowfocus --sync "$win" 2>/dev/null || true
xdotool key --clearmodifiers ctrl+v
wait_for 30 test -s "$restore/report.txt" ||
    fail "PCManFM's paste made no report.txt: $(ls -A "$restore"); $(cat "$HOME/pcmanfm.log")"
sleep 1
shot files-restored
assert_eq "Quarterly figures, as sent on Monday." "$(cat "$restore/report.txt")" \
    "the restored report.txt"
echo "screenshots: $SHOTS/files-root.png $SHOTS/files-documents.png $SHOTS/files-restored.png"

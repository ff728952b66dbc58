#!/bin/bash
# A real file manager on the mount: PCManFM (libfm over GIO, the lightest
# of Debian's, and one that needs no desktop session) under Xvfb opens a
# VM's snapshots/, makes a folder through its "Create New Folder" dialog
# (Ctrl+Shift+N, typed with xdotool), and shows it: the folder is a
# snapshot that virsh lists.  Screenshots before and after are kept in
# build/desktop/ to look at.
. "$(dirname "$0")/../integration/functions.sh"
. "$(dirname "$0")/desktop.sh"
vm_define desk
vm_start desk
mount_vmsnapfs
vm=${VM_PREFIX}desk
S=$MNT/$vm/snapshots
mkdir "$S/nightly-1" "$S/weekly"

# A display of our own, and the file manager on snapshots/.
start_desktop
open_folder "$S"
shot snapshots-before

# Ctrl+Shift+N, a name as people type it, Enter.
win=$(xdotool search --onlyvisible --class pcmanfm | tail -n 1)
xdotool windowfocus --sync "$win" 2>/dev/null || true
xdotool key --clearmodifiers ctrl+shift+n
wait_for 10 sh -c "xdotool search --onlyvisible --name 'Create New Folder' | grep -q ." ||
    sleep 2 # the dialog's title differs between versions: give it time
xdotool type --delay 40 "Before upgrade"
xdotool key Return
wait_for 30 test -d "$S/Before upgrade" || fail "no snapshot from the dialog: $(ls "$S")"
virsh -q snapshot-list "$vm" --name | grep -qx "Before upgrade" ||
    fail "virsh does not list 'Before upgrade'"
sleep 2 # listed by the window (inotify saw the mkdir)
shot snapshots-after

# The window changed where the new folder shows, and the picture is a
# window, not a blank screen.
diff=$("$CONVERT" "$SHOTS/snapshots-before.png" "$SHOTS/snapshots-after.png" \
    -compose difference -composite -format '%[fx:mean>0?1:0]' info:)
assert_eq 1 "$diff" "the window after the mkdir differs from before"
not_blank snapshots-after
echo "screenshots: $SHOTS/snapshots-before.png $SHOTS/snapshots-after.png"

#!/bin/bash
# What a file manager's directory watch (inotify, as GIO uses it) sees: a
# snapshot made or deleted through the mount, by another process, reaches
# an open watch at once; one made by virsh shows at the next read of the
# folder (within a second), as the kernel sends inotify events only for
# changes made through the mount.
# alone: outside changes within a second
. "$(dirname "$0")/functions.sh"
requires inotifywait

vm_define watch
vm_start watch
mount_vmsnapfs
vm=${VM_PREFIX}watch
S=$MNT/$vm/snapshots
EV=$(mktemp /tmp/vmsnapfs-watch.XXXXXX)
on_exit "rm -f '$EV'"
inotifywait -q -m -e create,delete,moved_from,moved_to --format '%e %f' "$S" >"$EV" 2>&1 &
watcher=$!
on_exit "kill $watcher 2>/dev/null"
sleep 0.5

mkdir "$S/made here"
wait_for 2 grep -qx "CREATE,ISDIR made here" "$EV" || fail "no event for mkdir: $(cat "$EV")"
mv "$S/made here" "$S/moved here"
wait_for 2 grep -qx "MOVED_TO,ISDIR moved here" "$EV" || fail "no event for mv: $(cat "$EV")"
rmdir "$S/moved here"
wait_for 2 grep -qx "DELETE,ISDIR moved here" "$EV" || fail "no event for rmdir: $(cat "$EV")"

# Made by virsh: in the next listing within a second.
virsh -q snapshot-create-as "$vm" "by virsh" --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.virsh.qcow2" >/dev/null
wait_for 1 sh -c "ls '$S' | grep -qx 'by virsh'" || fail "virsh's snapshot is not listed: $(ls "$S")"
echo "events seen: $(tr '\n' ';' < "$EV")"

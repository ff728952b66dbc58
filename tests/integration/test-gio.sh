#!/bin/bash
# The calls GIO makes for file managers (Nautilus, Thunar...), through the
# gio tool: listing with every attribute, the file system's free space,
# content sniffing of a big disk that reads its first bytes only, the
# hidden-file look-ups of every directory, mkdir, rename, delete (a
# merge), trash (refused at once, so that a file manager offers delete),
# and copies out (sparse, correct) but never in.
. "$(dirname "$0")/functions.sh"
requires gio

vm_define gio 1 256M
vm_start gio
# -d: libfuse logs each request, to count what a call asked.
mount_vmsnapfs -d
vm=${VM_PREFIX}gio
V=$MNT/$vm
S=$V/snapshots
mkdir "$S/s1"
W=$(mktemp -d /var/tmp/vmsnapfs-gio.XXXXXX)
on_exit "rm -rf '$W'"
requests() { grep -c "opcode: $1 " "$DAEMON_LOG" || true; }

# Listing with every attribute, as a file manager's view does.
out=$(gio list -a '*' "$S/s1") || fail "gio list -a: $out"
for f in info info.json domain.xml memory vda.qcow2 vda.img; do
    echo "$out" | grep -q "^$f	" || fail "gio list lacks $f: $out"
done
out=$(gio info -a '*' "$S/s1/vda.img") || fail "gio info -a: $out"
echo "$out" | grep -q "standard::size: $((256 << 20))" || fail "the size: $out"
echo "$out" | grep -q "standard::type: 1$" || fail "not a regular file (G_FILE_TYPE_REGULAR): $out"
# The file system: its free space (the images' file system), not 0.
out=$(gio info -f -a 'filesystem::*' "$V") || fail "gio info -f: $out"
free=$(echo "$out" | sed -n 's/^  filesystem::free: //p')
[ -n "$free" ] && [ "$free" -gt 0 ] || fail "filesystem::free: $out"

# Sniffing the content type of a 256 MiB disk reads its start, not all.
before=$(requests READ)
out=$(gio info -a standard::content-type "$S/s1/vda.img") || fail "$out"
echo "$out" | grep -q "standard::content-type: " || fail "no content type: $out"
n=$(($(requests READ) - before))
[ "$n" -le 4 ] || fail "sniffing the content type took $n READ requests"

# What file managers look up in every directory: ENOENT, quickly, with
# no line in the log but libfuse's.
for d in "$MNT" "$V" "$S" "$S/s1"; do
    for f in .hidden .directory .Trash-0 .Trash .xdg-volume-info autorun.inf; do
        assert_eq ENOENT "$(errno_of open "$d/$f" r)" "$d/$f"
    done
done
assert_eq "" "$(grep '^vmsnapfs: ' "$DAEMON_LOG" | grep -v 'took snapshot\|Mounted\|passthrough\|^vmsnapfs: .*debug' |
    grep -i 'hidden\|directory\|trash\|volume-info\|autorun' || true)" "log lines for the look-ups"

# mkdir and rename: a snapshot, renamed.
gio mkdir "$S/New Folder" || fail "gio mkdir"
virsh -q snapshot-list "$vm" --name | grep -qx "New Folder" || fail "no snapshot 'New Folder'"
gio rename "$S/New Folder" "Before upgrade" >/dev/null || fail "gio rename"
virsh -q snapshot-list "$vm" --name | grep -qx "Before upgrade" || fail "not renamed in libvirt"

# Trash: there is none on this mount, and GIO says so at once (a file
# manager then offers to delete); nothing changed.
out=$(timeout 10 gio trash "$S/Before upgrade" 2>&1) && fail "gio trash worked: $out"
echo "$out" | grep -qi "trash" || fail "gio trash said: $out"
[ -d "$S/Before upgrade" ] || fail "gio trash removed the snapshot"
# Delete as libfm and Thunar do it, the files first: the first one is
# refused, with a line that says to rmdir, and nothing is removed.
assert_eq EROFS "$(errno_of unlink "$S/Before upgrade/info")" "rm of a snapshot's file"
grep -q "unlink snapshots/Before upgrade/info: EROFS: .*rmdir snapshots/Before upgrade deletes the snapshot" \
    "$DAEMON_LOG" || fail "no line that says to rmdir: $(grep EROFS "$DAEMON_LOG")"
[ -f "$S/Before upgrade/info" ] || fail "the file went"
# Delete, as GIO does it (the folder first): a merge.
gio remove "$S/Before upgrade" || fail "gio remove"
[ ! -e "$S/Before upgrade" ] || fail "still there after gio remove"
assert_eq s1 "$(virsh -q snapshot-list "$vm" --name | xargs)" "libvirt's snapshots after gio remove"
no_merge_record gio || fail "a merge is still recorded"

# Copies out: right, with progress.  GIO copies bytes, holes included
# (it never asks for SEEK_HOLE): cp --sparse and rsync -S keep them.
gio copy -p "$S/s1/vda.img" "$W/" >/dev/null || fail "gio copy"
cmp "$S/s1/vda.img" "$W/vda.img" || fail "the copy differs"
cp -r --sparse=always "$S/s1" "$W/s1" || fail "cp -r of the snapshot folder"
cmp "$S/s1/memory" "$W/s1/memory" || fail "the folder's memory differs"
cmp "$S/s1/vda.img" "$W/s1/vda.img" || fail "the folder's vda.img differs"
used=$(du -k "$W/s1/vda.img" | cut -f1)
[ "$used" -lt $((128 << 10)) ] || fail "cp --sparse of vda.img takes $used KiB"
# Copies in: refused.
out=$(gio copy /etc/hostname "$S/s1/" 2>&1) && fail "a copy into a snapshot worked: $out"
[ ! -e "$S/s1/hostname" ] || fail "hostname landed in the snapshot"

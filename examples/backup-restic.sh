#!/bin/sh
# backup-restic.sh MOUNTPOINT/VM: back up the VM's newest snapshot with
# restic while the VM runs: its whole disks (TARGET.img, raw and sparse),
# its memory file if it has one, and its info and domain.xml, which is
# what it takes to bring the VM back.  The frozen qcow2 volumes are left
# out: each holds only what changed since the snapshot before it, and the
# .img files hold it all.
#
# restic's own variables say where and how: RESTIC_REPOSITORY, and
# RESTIC_PASSWORD or RESTIC_PASSWORD_FILE.  The backup is tagged with
# the VM's and the snapshot's names.  To restore:
#
#   restic restore latest --tag vm=web --target /srv/restore
#
# (files land under the path they were read from, the snapshot's
# directory in the mount).
set -eu

vm=${1:?usage: backup-restic.sh MOUNTPOINT/VM}
here=$(dirname "$0")
snap=$(sh "$here/newest-snapshot.sh" "$vm")
dir=$vm/snapshots/$snap
name=$(basename "$vm")

set -- "$dir/info" "$dir/domain.xml"
[ ! -e "$dir/memory" ] || set -- "$@" "$dir/memory"
for img in "$dir"/*.img; do
    case $img in *.delta.img) continue ;; esac # what changed: in the .img
    [ -e "$img" ] && set -- "$@" "$img"
done
echo "backing up snapshot $snap of $name: $(for f in "$@"; do basename "$f"; done | xargs)"
restic backup --quiet --tag "vm=$name" --tag "snapshot=$snap" "$@"

#!/bin/sh
# backup-borg.sh MOUNTPOINT/VM: back up the VM's newest snapshot with
# borg while the VM runs, as one archive VM-SNAPSHOT: its whole disks
# (TARGET.img, raw; extract --sparse makes the holes again), its memory file if it has one, and
# its info and domain.xml.  The frozen qcow2 volumes are left out: the
# .img files hold the whole disks.
#
# borg's own variables say where and how: BORG_REPO, and BORG_PASSPHRASE
# or BORG_PASSCOMMAND for an encrypted repository.  Paths are stored
# relative to the snapshot's directory, so a restore is:
#
#   mkdir /srv/restore && cd /srv/restore && borg extract --sparse ::web-nightly
set -eu

vm=${1:?usage: backup-borg.sh MOUNTPOINT/VM}
here=$(dirname "$0")
snap=$(sh "$here/newest-snapshot.sh" "$vm")
name=$(basename "$vm")
cd "$vm/snapshots/$snap"

set -- info domain.xml
[ ! -e memory ] || set -- "$@" memory
for img in *.img; do
    case $img in *.delta.img) continue ;; esac # what changed: in the .img
    [ -e "$img" ] && set -- "$@" "$img"
done
echo "backing up snapshot $snap of $name: $*"
borg create "::$name-$snap" "$@"

#!/bin/sh
# nightly-snapshots.sh MOUNTPOINT/VM [KEEP]: take tonight's snapshot of a
# VM, nightly-YYYYMMDD-HHMMSS, and merge away the nightly snapshots older
# than the newest KEEP (default 7).  Snapshots of other names are never
# touched.  Run it from cron or from the timer beside it:
#
#   cp examples/systemd/vmsnapfs-nightly@.* /etc/systemd/system/
#   systemctl enable --now vmsnapfs-nightly@web.timer   # VM "web" in /mnt/vms
#
# Each rmdir is a merge (live while the VM runs) and returns when it is
# done; one that fails stops the script with rmdir's error, the snapshot
# still there, so the next night tries again.
set -eu

vm=${1:?usage: nightly-snapshots.sh MOUNTPOINT/VM [KEEP]}
keep=${2:-7}
case $keep in ''|*[!0-9]*) echo "nightly-snapshots.sh: KEEP must be a number" >&2; exit 1 ;; esac
if [ ! -d "$vm/snapshots" ]; then
    echo "nightly-snapshots.sh: '$vm' is not a VM directory of a vmsnapfs mount" >&2
    exit 1
fi

name=nightly-$(date -u +%Y%m%d-%H%M%S)
mkdir "$vm/snapshots/$name"
echo "took $name"

# The names sort as the dates do: the oldest first.
old=$(ls -1 "$vm/snapshots" | grep '^nightly-[0-9]\{8\}-[0-9]\{6\}$' | sort |
      head -n "-$keep")
for s in $old; do
    rmdir "$vm/snapshots/$s"
    echo "merged away $s"
done

#!/bin/sh
# The vmsnapfs demo: a small real VM (the test guest, counting on its
# console and disk), two snapshots of it, and the tree mounted.
#
#   sh examples/demo.sh [MOUNTPOINT]   start (default /tmp/vmsnapfs)
#   sh examples/demo.sh stop [MOUNTPOINT]
#
# Run as root, after 'make' (make demo does all of it).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
vm=vmsnapfs-demo
dir=/var/lib/libvirt/images/$vm
export LIBVIRT_DEFAULT_URI=qemu:///system

if [ "${1:-}" = stop ]; then
    mnt=${2:-/tmp/vmsnapfs}
    fusermount3 -u "$mnt" 2>/dev/null || true
    virsh -q destroy "$vm" >/dev/null 2>&1 || true
    for s in $(virsh -q snapshot-list "$vm" --name 2>/dev/null); do
        virsh -q snapshot-delete "$vm" "$s" --metadata >/dev/null
    done
    virsh -q undefine "$vm" >/dev/null 2>&1 || true
    rm -rf "$dir"
    echo "demo stopped"
    exit 0
fi

mnt=${1:-/tmp/vmsnapfs}
sh "$top/scripts/start-libvirtd.sh"
if ! virsh -q dominfo "$vm" >/dev/null 2>&1; then
    mkdir -p "$dir"
    chmod 755 "$dir"
    qemu-img create -q -f qcow2 "$dir/vda.qcow2" 256M
    sh "$top/tests/guest/domain-xml.sh" "$vm" "$dir" 1 > "$dir/domain.xml"
    virsh -q define "$dir/domain.xml" >/dev/null
fi
if [ "$(virsh -q domstate "$vm")" != running ]; then
    virsh -q start "$vm" >/dev/null
    sleep 3
fi
if [ -z "$(virsh -q snapshot-list "$vm" --name)" ]; then
    virsh -q snapshot-create-as "$vm" first --live --atomic \
        --memspec "file=$dir/first.mem,snapshot=external" \
        --diskspec "vda,snapshot=external,file=$dir/vda.first.qcow2" >/dev/null
    sleep 2
    virsh -q snapshot-create-as "$vm" second --disk-only --atomic \
        --diskspec "vda,snapshot=external,file=$dir/vda.second.qcow2" >/dev/null
fi

mkdir -p "$mnt"
if ! mountpoint -q "$mnt"; then
    "$top/vmsnapfs" "$mnt"
fi

cat <<TXT
vmsnapfs is mounted at $mnt, with the VM '$vm' running.

Try:
  ls -l $mnt/$vm $mnt/$vm/snapshots/first
  cat $mnt/$vm/state $mnt/$vm/snapshots/first/info
  readlink $mnt/$vm/active
  qemu-img info -f qcow2 $mnt/$vm/snapshots/first/vda.qcow2
  tail -f $dir/console.log            # the guest counting
  virsh snapshot-create-as $vm third --disk-only \\
      --diskspec vda,snapshot=external,file=$dir/vda.third.qcow2
  ls $mnt/$vm/snapshots                 # third appears within a second

Stop it all with: sh examples/demo.sh stop $mnt
TXT

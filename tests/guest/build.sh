#!/bin/sh
# Build the vmsnapfs test guest once and cache it: a Debian cloud kernel and
# a busybox initramfs whose /init (tests/guest/init) counts in RAM and on
# disk, with Debian's QEMU guest agent for VMs that have its channel.  Prints
# the cache directory, which holds vmlinuz and initrd.img.
#
# The cache is keyed by the contents of this script, of init and of the
# fsfreeze hook, so a change to any of them builds a new guest.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/build.sh" "$here/init" "$here/fsfreeze-hook" | sha256sum | cut -c1-16)
cache=${VMSNAPFS_GUEST_CACHE:-/var/cache/vmsnapfs-test}/guest-$key

if [ -f "$cache/initrd.img" ] && [ -f "$cache/vmlinuz" ]; then
    echo "$cache"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$work"
# The kernel the cloud meta-package points to, unsigned where available.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
       awk '/Depends: linux-image-/ { print $2; exit }')
if [ -z "$kpkg" ]; then
    apt-get update -qq >&2
    kpkg=$(apt-cache depends linux-image-cloud-amd64 |
           awk '/Depends: linux-image-/ { print $2; exit }')
fi
apt-get download "$kpkg-unsigned" >&2 2>/dev/null || apt-get download "$kpkg" >&2
apt-get download busybox-static qemu-guest-agent >&2
for deb in ./*.deb; do dpkg -x "$deb" root; done

kver=$(ls root/lib/modules | head -n 1)
mkdir -p initramfs/bin initramfs/lib/modules initramfs/proc initramfs/sys \
         initramfs/dev initramfs/var/run
cp root/bin/busybox initramfs/bin/busybox

# qemu-ga with the shared libraries it loads, taken from this host: Debian
# 12's, the same release as the package.
cp root/usr/sbin/qemu-ga initramfs/bin/qemu-ga
cp "$here/fsfreeze-hook" initramfs/bin/fsfreeze-hook
chmod 755 initramfs/bin/fsfreeze-hook
libs=$(ldd root/usr/sbin/qemu-ga) || { echo "build.sh: ldd qemu-ga failed" >&2; exit 1; }
if echo "$libs" | grep -q 'not found'; then
    echo "build.sh: qemu-ga needs libraries this host lacks:" >&2
    echo "$libs" | grep 'not found' >&2
    exit 1
fi
for lib in $(echo "$libs" | grep -o '/[^ ]*'); do
    mkdir -p "initramfs$(dirname "$lib")"
    cp -L "$lib" "initramfs$lib"
done

for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
         virtio_pci virtio_blk virtio_console brd; do
    f=$(find root/lib/modules/"$kver" -name "$m.ko*" | head -n 1)
    [ -n "$f" ] || { echo "build.sh: module $m not found in $kpkg" >&2; exit 1; }
    case $f in
        *.xz) xz -dc "$f" > initramfs/lib/modules/$m.ko ;;
        *.zst) zstd -qdc "$f" > initramfs/lib/modules/$m.ko ;;
        *) cp "$f" initramfs/lib/modules/$m.ko ;;
    esac
done
cp "$here/init" initramfs/init
chmod 755 initramfs/init

mkdir -p "$cache.tmp"
(cd initramfs && find . | cpio -o -H newc --quiet) | gzip -1 > "$cache.tmp/initrd.img"
cp root/boot/vmlinuz-"$kver" "$cache.tmp/vmlinuz"
chmod 644 "$cache.tmp"/*
rm -rf "$cache"
mv "$cache.tmp" "$cache"
echo "$cache"

#!/bin/sh
# Start virtlogd and libvirtd when they are not running, and wait until the
# libvirt URI answers. Works without systemd. Idempotent.
set -eu

uri=${LIBVIRT_DEFAULT_URI:-qemu:///system}

answers() {
    virsh -c "$uri" version >/dev/null 2>&1
}

# libvirt starts each qemu in a mount namespace of its own, a copy of the
# host's.  Where / is private (no systemd), that copy keeps every FUSE mount
# that existed when the VM started, vmsnapfs's included, alive after it is
# unmounted on the host, and the daemon never sees the unmount.  systemd
# makes / shared at boot, so that unmounts reach those namespaces; do the
# same here.
if [ "$(id -u)" -eq 0 ] &&
   ! awk '$5 == "/" { print $7 }' /proc/self/mountinfo | grep -q '^shared:'; then
    mount --make-rshared /
fi

# Without udev, /dev/kvm can be left to root alone.  libvirt then probes
# qemu's capabilities with KVM, finds KVM unusable for its qemu user when it
# checks the cached probe, and probes again on every call that needs them:
# each define took a minute.  Give the device the group and mode udev gives
# it.  (Guests here run under TCG all the same.)
if [ "$(id -u)" -eq 0 ] && [ -c /dev/kvm ] && getent group kvm >/dev/null &&
   [ "$(stat -c %G:%a /dev/kvm)" = root:600 ]; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi

if answers; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "start-libvirtd: $uri does not answer; run this script as root" >&2
    exit 1
fi

mkdir -p /var/log/libvirt /var/run/libvirt
# The daemons outlive the caller and keep what it left open: a lock held
# on a descriptor (flock LOCKFILE CMD) would be held for as long as they
# run.  They get none but the standard three.
exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
pgrep -x virtlogd >/dev/null || virtlogd -d
pgrep -x libvirtd >/dev/null || libvirtd -d

i=0
while ! answers; do
    i=$((i + 1))
    if [ "$i" -ge 100 ]; then
        echo "start-libvirtd: $uri did not answer within 20 seconds;" \
             "see /var/log/libvirt/libvirtd.log" >&2
        exit 1
    fi
    sleep 0.2
done

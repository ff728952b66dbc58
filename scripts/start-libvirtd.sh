#!/bin/sh
# Start virtlogd and libvirtd when they are not running, and wait until the
# libvirt URI answers. Works without systemd. Idempotent.
set -eu

uri=${LIBVIRT_DEFAULT_URI:-qemu:///system}

answers() {
    virsh -c "$uri" version >/dev/null 2>&1
}

if answers; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "start-libvirtd: $uri does not answer; run this script as root" >&2
    exit 1
fi

mkdir -p /var/log/libvirt /var/run/libvirt
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

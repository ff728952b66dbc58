#!/bin/sh
# Install the Debian packages vmsnapfs needs to build, test and run
# (--desktop: and those of the desktop tests).
# Idempotent and non-interactive: it installs only what is missing.
set -eu

PACKAGES="
  build-essential pkg-config
  libfuse3-dev libvirt-dev libjson-c-dev libcmocka-dev libnbd-dev
  fuse3 libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
  libxml2-dev libguestfs-dev libguestfs-tools linux-image-amd64
  e2fsprogs fdisk cryptsetup-bin
  busybox-static cpio rsync tar restic borgbackup bc python3 util-linux procps
  debhelper dpkg-dev lintian inotify-tools libglib2.0-bin gdb
"

# make desktop-check: a file manager under Xvfb, and what shoots it.
if [ "${1:-}" = --desktop ]; then
    PACKAGES="$PACKAGES xvfb xdotool x11-apps imagemagick dbus-x11 pcmanfm"
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing; run this script as root" >&2
    exit 1
fi

echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef \
    $missing </dev/null

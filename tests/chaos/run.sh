#!/bin/sh
# The chaos campaign (see chaos.py): run.sh [--ops N] [--seed S]
# [--fault-rate P].  Needs root and a working qemu:///system; VMSNAPFS names
# the daemon (default: ./vmsnapfs of the tree).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sh "$top/scripts/start-libvirtd.sh"
sh "$top/tests/guest/build.sh" >/dev/null
exec python3 "$here/chaos.py" "$@"

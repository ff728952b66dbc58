#!/bin/bash
# vmsnapfs at the scale of a real host: VMS shut-off VMs with SNAPSHOTS
# snapshots each, plus two running guests, against the real libvirtd.
#
#   bench/scale.sh [VMS [SNAPSHOTS [IDLE_SECONDS]]]   (as root, after make)
#
# Defaults: 1000 VMs, 20 snapshots each, 60 s of idleness.  Each VM has a
# real qcow2 chain (a base and one overlay per snapshot, copied from a
# template whose backing files are relative), and its snapshots are
# defined with REDEFINE from XML that names those files, parents first,
# through one virsh session.  Printed, in one run:
#
#   - the time from the daemon's start to a complete ls of the top level;
#   - the first ls -lR of the whole mount (every VM read whole, every
#     whole disk's map made), against the warm one (ratio);
#   - find MOUNT -name '*.img' | xargs stat, warm, and first after a
#     restart of the daemon (the volumes' maps kept on disk);
#   - ls -lR of the whole mount, warm, against the same tree of names and
#     sizes laid out in a tmpfs (ratio = mount / tmpfs);
#   - the CPU time of the daemon and of libvirtd for an ls -lR and the 5 s
#     after it (where libvirt's snapshot files cannot be watched, a VM
#     looked at is checked for 3 s);
#   - the CPU time of the daemon, and the extra CPU time of libvirtd,
#     over IDLE_SECONDS with nobody using the mount after that, against as
#     long with the daemon not running (in % of one core);
#   - how long a snapshot made, and one deleted, with virsh on one of the
#     VMs takes to show in the mount;
#   - the daemon's RSS after the ls -lR, in all and per snapshot;
#   - mkdir and rmdir on one of the running guests, with the VMs defined
#     against with none (ratio; the median of 5 each).
#
# Everything it makes is named vmsnapfs-scale-* and removed at the end.
. "$(dirname "$0")/../tests/integration/functions.sh"

vms=${1:-1000}
snaps=${2:-20}
idle=${3:-60}
guest=$(sh "$TOP/tests/guest/build.sh")
. "$TOP/bench/scale-rig.sh"
scale_define "$vms" "$snaps"

# The two running guests, outside the rig's count.
run1=${VM_PREFIX}scale-run1 run2=${VM_PREFIX}scale-run2
vm_define scale-run1 1 64M
vm_define scale-run2 1 64M
vm_start scale-run1
vm_start scale-run2
# The rig's 21,000 files written out now: else the kernel writes them back
# (30 s after) during what is measured next, the first ls -lR with a
# short IDLE_SECONDS (two runs at 1000 x 20: 13.7 s, then 10.9 s with it).
sync

# --- measures ---------------------------------------------------------------

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# walk ARGS...: ls -lR ARGS; a VM of another user of the host that goes
# meanwhile (No such file or directory) is not a failure.
walk_errs=$(mktemp /tmp/vmsnapfs-scale-errs.XXXXXX)
on_exit "rm -f '$walk_errs'"
walk() {
    ls -lR "$@" > /dev/null 2> "$walk_errs" && return 0
    ! grep -v 'No such file or directory' "$walk_errs" | grep -q . ||
        fail "ls -lR: $(head -3 "$walk_errs")"
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
libvirtd_pid=$(pgrep -xo libvirtd)
hz=$(getconf CLK_TCK)

# mkdir and rmdir on a running guest: the median of 5 of each, in ms (a
# live merge's time varies with what the guest does meanwhile).
verb_ms() {
    for _i in 1 2 3 4 5; do
        _t0=$(date +%s%N)
        mkdir "$MNT/$run1/snapshots/b$_i" && rmdir "$MNT/$run1/snapshots/b$_i" ||
            fail "mkdir/rmdir on $run1"
        ms_since "$_t0"
    done | sort -n | sed -n 3p
}

# Idle libvirtd without the daemon.
l0=$(cpu_ticks "$libvirtd_pid")
sleep "$idle"
base_idle=$(($(cpu_ticks "$libvirtd_pid") - l0))

t0=$(date +%s%N)
mount_vmsnapfs
want=$((vms + 2))
full_top() { [ "$(ls "$MNT" | grep -c "^$prefix\|^$VM_PREFIX")" -ge "$want" ]; }
wait_for 600 full_top || fail "the top never listed $want VMs"
start_ms=$(ms_since "$t0")

# The first ls -lR: each VM read whole, each whole disk's attributes from
# maps composed of its volumes' own (no qemu-img map).  Then ls -lR, warm,
# against a tmpfs tree of the same names and sizes.
t0=$(date +%s%N)
walk "$MNT"
lsr_first=$(ms_since "$t0")
t0=$(date +%s%N)
walk "$MNT"
lsr_mount=$(ms_since "$t0")
# Once more: after the cold one, the kernel has forgotten the atime of each
# directory it read a listing of from the daemon (it does so for every
# FUSE mount not read-only), and ls's lstat asks for it: the first warm
# ls -lR costs one GETATTR per directory; the next ones nothing but the
# opens of the directories.
t0=$(date +%s%N)
walk "$MNT"
lsr_again=$(ms_since "$t0")
tree=$(mktemp -d /tmp/vmsnapfs-scale-tree.XXXXXX)
on_exit "umount '$tree' 2>/dev/null; rm -rf '$tree'"
mount -t tmpfs vmsnapfs-scale "$tree"
(cd "$MNT" && find . -mindepth 1 \( -type d -printf 'd 0 %p\n' \) -o \( -printf 'f %s %p\n' \)) |
    python3 -c '
import os, sys
root = sys.argv[1]
for line in sys.stdin:
    kind, size, path = line.rstrip("\n").split(" ", 2)
    p = os.path.join(root, path)
    if kind == "d":
        os.makedirs(p, exist_ok=True)
    else:
        with open(p, "wb") as f:
            f.truncate(int(size))
' "$tree"
ls -lR "$tree" > /dev/null
t0=$(date +%s%N)
ls -lR "$tree" > /dev/null
lsr_tmpfs=$(ms_since "$t0")
entries=$(find "$MNT" | wc -l)
# A stat of every whole disk, warm.
stat_all() { find "$MNT" -name '*.img' -print0 | xargs -0 stat > /dev/null; }
t0=$(date +%s%N)
stat_all
stat_warm=$(ms_since "$t0")
imgs=$(find "$MNT" -name '*.img' | wc -l)
rss_kib=$(awk '/^VmRSS/ { print $2 }' "/proc/$DAEMON_PID/status")

# The tail of those looks (where the snapshot files are not watched, every
# VM listed is checked for 3 s).  Then
# idle, with the daemon.
d0=$(cpu_ticks "$DAEMON_PID")
l0=$(cpu_ticks "$libvirtd_pid")
walk "$MNT"
sleep 5
tail_daemon=$(($(cpu_ticks "$DAEMON_PID") - d0))
tail_libvirtd=$(($(cpu_ticks "$libvirtd_pid") - l0))
d0=$(cpu_ticks "$DAEMON_PID")
l0=$(cpu_ticks "$libvirtd_pid")
sleep "$idle"
daemon_idle=$(($(cpu_ticks "$DAEMON_PID") - d0))
libvirtd_idle=$(($(cpu_ticks "$libvirtd_pid") - l0))

# A snapshot made and one deleted outside vmsnapfs, on VM number vms/2.
target=$prefix$((vms / 2))
tvd=$dir/$target
t0=$(date +%s%N)
virsh -q snapshot-create-as "$target" outside --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$tvd/outside.qcow2" >/dev/null ||
    fail "virsh snapshot-create-as"
wait_for 30 test -d "$MNT/$target/snapshots/outside" || fail "the new snapshot never showed"
made_ms=$(ms_since "$t0")
t0=$(date +%s%N)
virsh -q snapshot-delete "$target" s1 --metadata >/dev/null || fail "virsh snapshot-delete"
gone() { [ ! -e "$MNT/$target/snapshots/s1" ]; }
wait_for 30 gone || fail "the deleted snapshot never went"
deleted_ms=$(ms_since "$t0")

with_ms=$(verb_ms)
stop_vmsnapfs

# A restart: the stat of every whole disk first (the volumes' maps read
# back from the daemon's cache), then ls -lR.
mount_vmsnapfs
wait_for 600 full_top || fail "the top never listed $want VMs after a restart"
t0=$(date +%s%N)
stat_all
stat_restart=$(ms_since "$t0")
t0=$(date +%s%N)
walk "$MNT"
lsr_restart=$(ms_since "$t0")
stop_vmsnapfs

# The same verbs with none of the rig's VMs defined.
cleanup_scale
mount_vmsnapfs
wait_for 10 test -d "$MNT/$run1/snapshots" || fail "$run1 does not show"
without_ms=$(verb_ms)

pct() { awk -v t="$1" -v hz="$hz" -v s="$idle" 'BEGIN { printf "%.2f%%", 100 * t / hz / s }'; }
echo
echo "scale: $vms VMs x $snaps snapshots (+2 running guests), $entries entries in the mount"
echo "  start to a complete ls of the top: $start_ms ms (target <= 2000)"
awk -v m="$lsr_mount" -v a="$lsr_again" -v t="$lsr_tmpfs" 'BEGIN {
    printf "  ls -lR, warm: mount %d ms, tmpfs %d ms, ratio %.2f (target <= 3); again: %d ms, %.2f\n", m, t, m / (t ? t : 1), a, a / (t ? t : 1) }'
awk -v f="$lsr_first" -v m="$lsr_mount" -v s="$stat_warm" -v r="$stat_restart" -v l="$lsr_restart" -v n="$imgs" 'BEGIN {
    printf "  first ls -lR: %d ms, %.2f x the warm one (target <= 5); after a restart, stat of the %d .img files first: %d ms, then ls -lR: %d ms\n", f, f / (m ? m : 1), n, r, l
    printf "  find -name *.img | xargs stat, warm: %d ms; after a restart: %d ms, %.2f x\n", s, r, r / (s ? s : 1) }'
awk -v d="$tail_daemon" -v l="$tail_libvirtd" -v hz="$hz" 'BEGIN {
    printf "  an ls -lR and the 5 s after it: daemon %.2f s of CPU, libvirtd %.2f s\n", d / hz, l / hz }'
echo "  idle ${idle} s after that: daemon $(pct "$daemon_idle") of a core, libvirtd $(pct "$libvirtd_idle") (alone: $(pct "$base_idle"), extra $(pct $((libvirtd_idle - base_idle)))) (targets <= 1%)"
echo "  a snapshot made with virsh shows after $made_ms ms, one deleted goes after $deleted_ms ms (target <= 1000)"
awk -v r="$rss_kib" -v n="$((vms * snaps))" 'BEGIN {
    printf "  daemon RSS after ls -lR: %.1f MiB, %.2f KiB per snapshot\n", r / 1024, r / n }'
awk -v a="$with_ms" -v b="$without_ms" -v n="$vms" 'BEGIN {
    printf "  mkdir+rmdir on a running guest: %d ms with %d VMs, %d ms with none, ratio %.2f (target <= 1.1)\n", a, n, b, a / (b ? b : 1) }'

#!/bin/bash
# Time the instant clone (ln -s VM/snapshots/S MOUNT/NEW) against the
# direct way of having NEW's disk, in one run, on real guests.
#
#   bench/clone.sh [SMALL_GIB [LARGE_GIB [DD_MIB [PULL_MIBS]]]]
#                  (as root, after make; 1, 4, 256, 0 = no limit)
#
# Two source VMs, their disks holding SMALL_GIB and LARGE_GIB GiB of data
# (written with qemu-io before they start), each with a memory snapshot s
# taken while its guest counts, then shut off.  For each:
#   - the time of ln alone, and from ln (then start) to the clone's guest's
#     first count on its console: it resumes s's memory, so that is its
#     first output.  The two sizes should differ by well under a second;
#   - the clone job's total time, from ln to the log's "independent" line,
#     the clone running (that same clone) and shut off (another), against
#     qemu-img convert -O qcow2 of s's frozen volume into a file: ratios.
#     The page cache is dropped before each.
# Then the guest's own disk throughput in a clone of the large VM: a read
# and a write of DD_MIB MiB with O_DIRECT on its disk, by busybox dd run
# through the guest agent and timed by the guest's clock, the page cache
# dropped before each, the better of two, while the pull runs and after it
# ended; MB/s of each and their ratio.  PULL_MIBS, when
# set, limits that clone's pull (-o merge_bandwidth, a daemon of its own)
# so that it outlasts the dd; the figures then say so.
. "$(dirname "$0")/../tests/integration/functions.sh"
requires qemu-io qemu-img bc

small=${1:-1}
large=${2:-4}
dd_mib=${3:-256}
pull_mibs=${4:-0}
export GUEST_AGENT=yes

now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }
secs() { echo "scale=2; ($2 - $1) / 1000000000" | bc | sed 's/^\./0./'; }
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# source GIB: a VM src-GIB whose disk holds GIB GiB of data from 1 MiB on,
# its directory in DIR_GIB.
source_vm() {
    vm_define "src-$1" 1 $(($1 + 1))G
    eval "DIR_$1=\$VM_DIR"
    _w=()
    for _i in $(seq 0 $(($1 * 4 - 1))); do
        _w+=(-c "write -q -P 0x5a $((1 + _i * 256))M 256M")
    done
    qemu-io -f qcow2 "${_w[@]}" "$VM_DIR/vda.qcow2" >/dev/null
}

# clone_remove NAME: the clone NAME and the helper domain of its pull.
clone_remove() {
    _u=$(virsh -q domuuid "$1" 2>/dev/null) || true
    [ -z "$_u" ] || virsh -q destroy "vmsnapfs-commit-${_u:0:8}-vda" >/dev/null 2>&1 || true
    vm_remove "$1"
}

echo "load at the start:$(uptime | sed 's/.*load/ load/')"
t_setup=$(now)
source_vm "$small"
source_vm "$large"
clones=""
for g in "$small" "$large"; do clones="$clones run-$g off-$g"; done
clones="$clones dd"
for c in $clones; do on_exit "clone_remove '${VM_PREFIX}$c'"; done
mount_vmsnapfs
for g in "$small" "$large"; do
    vm_start "src-$g"
done
for g in "$small" "$large"; do
    V=$MNT/${VM_PREFIX}src-$g
    wait_for 30 counted_past "src-$g" 3 || fail "src-$g does not count"
    mkdir "$V/snapshots/s"
    top=$(vm_volume "src-$g")
    eval "FROZEN_$g=\$(qemu-img info -U -f qcow2 '$top' | sed -n 's/^backing file: //p')"
    echo destroy > "$V/state"
done
echo "setup (two sources of $small and $large GiB, their snapshots): $(secs "$t_setup" "$(now)") s"

# clone_console NAME GIB: the clone's console file, in its source's directory.
clone_console() { eval "echo \"\$DIR_$2/${VM_PREFIX}$1.console.log\""; }
first_output() { grep -q '^count ' "$1" 2>/dev/null; }
independent() {
    grep -q "VM '${VM_PREFIX}$1': independent of '${VM_PREFIX}src-$2' snapshot 's'" "$DAEMON_LOG"
}
# clone NAME GIB: ln -s of src-GIB's snapshot s as NAME; sets T_LN (ns).
clone() {
    T0=$(now)
    ln -s "${VM_PREFIX}src-$2/snapshots/s" "$MNT/${VM_PREFIX}$1" || fail "ln of $1"
    T_LN=$(now)
}
# start_clone NAME GIB: start it, wait for its first count; sets T_OUT.
start_clone() {
    echo start > "$MNT/${VM_PREFIX}$1/state"
    _con=$(clone_console "$1" "$2")
    _end=$(($(now) + 60000000000))
    until first_output "$_con"; do
        [ "$(now)" -lt "$_end" ] || fail "clone $1 printed no count"
        sleep 0.01
    done
    T_OUT=$(now)
    grep -q 'vmsnapfs-guest: boot' "$_con" && fail "clone $1 booted instead of resuming"
    return 0
}
wait_independent() {
    wait_for 900 independent "$1" "$2" || fail "the job of $1 does not end: $(tail -n 3 "$DAEMON_LOG")"
    T_END=$(now)
}
# forget NAME GIB: remove the clone, its files, to keep the disk's space.
forget() {
    clone_remove "${VM_PREFIX}$1"
    eval "rm -f \"\$DIR_$2/${VM_PREFIX}$1\".*"
}

for g in "$small" "$large"; do
    drop_caches
    clone "run-$g" "$g"
    start_clone "run-$g" "$g"
    wait_independent "run-$g" "$g"
    eval "LN_$g=$(ms "$T0" "$T_LN") OUT_$g=$(ms "$T0" "$T_OUT") RUN_$g=$(ms "$T0" "$T_END")"
    forget "run-$g" "$g"

    drop_caches
    clone "off-$g" "$g"
    wait_independent "off-$g" "$g"
    eval "OFF_$g=$(ms "$T0" "$T_END")"
    forget "off-$g" "$g"

    eval "frozen=\$FROZEN_$g dir=\$DIR_$g"
    drop_caches
    t0=$(now)
    qemu-img convert -U -f qcow2 -O qcow2 "$frozen" "$dir/convert.qcow2"
    eval "CONV_$g=$(ms "$t0" "$(now)")"
    rm -f "$dir/convert.qcow2"
done

echo
echo "ln to the clone's first output (it resumes s's memory; the guest counts every 0.1 s):"
for g in "$small" "$large"; do
    eval "printf '  %d GiB of data: ln %d ms, ln to the first count %d ms\n' $g \$LN_$g \$OUT_$g"
done
echo "  difference: $((OUT_$large - OUT_$small)) ms (target: well under 1000)"
echo
echo "the clone's job, ln to 'independent', against qemu-img convert -O qcow2 of the same chain (cold):"
for g in "$small" "$large"; do
    eval "r=\$RUN_$g o=\$OFF_$g c=\$CONV_$g"
    printf '  %d GiB: running %d ms (%s), shut off %d ms (%s), convert %d ms\n' \
        "$g" "$r" "$(ratio "$r" "$c")" "$o" "$(ratio "$o" "$c")" "$c"
done

# The guest's disk throughput during the pull and after it.
if [ "$pull_mibs" != 0 ]; then
    stop_vmsnapfs
    mount_vmsnapfs -o merge_bandwidth="$pull_mibs"
    wait_for 10 test -d "$MNT/${VM_PREFIX}src-$large/snapshots/s" || fail "the source does not show"
fi
# guest_dd KIND [N]: KIND read or write of DD_MIB MiB with O_DIRECT, the
# read from the end of the data (the pull's last part), the write to the
# Nth DD_MIB MiB from the middle on (each written once: an allocating
# write every time); prints the guest's seconds.
guest_dd() {
    drop_caches
    if [ "$1" = read ]; then
        _dd="dd if=/dev/vda of=/dev/null bs=1M count=$dd_mib skip=$((large * 1024 + 1 - dd_mib)) iflag=direct"
    else
        _dd="dd if=/dev/zero of=/dev/vda bs=1M count=$dd_mib seek=$((large * 512 + $2 * dd_mib)) oflag=direct conv=fsync"
    fi
    guest_exec dd "a=\$(cut -d' ' -f1 /proc/uptime); $_dd 2>/dev/null; b=\$(cut -d' ' -f1 /proc/uptime); echo \"\$a \$b\"" |
        awk '{ printf "%.2f\n", $2 - $1 }'
}
pulling() { [ -n "$(cat "$MNT/${VM_PREFIX}dd/jobs")" ]; }
mbs() { echo "scale=1; $dd_mib * 1.048576 / $1" | bc | sed 's/^\./0./'; }

clone dd "$large"
start_clone dd "$large"
pulling || fail "the pull of dd ended before the guest ran: give PULL_MIBS"
jobs_before=$(cat "$MNT/${VM_PREFIX}dd/jobs")
# best KIND N: the shorter of two guest_dd KIND (writes N and N + 1).
best() {
    { guest_dd "$1" "$2"; guest_dd "$1" $(($2 + 1)); } | sort -n | head -n 1
}
read_during=$(best read 0)
write_during=$(best write 0)
jobs_after=$(cat "$MNT/${VM_PREFIX}dd/jobs")
[ -n "$jobs_after" ] || fail "the pull ended before the guest's dd did ($jobs_before): give PULL_MIBS"
wait_independent dd "$large"
read_after=$(best read 0)
write_after=$(best write 2)
for f in "$read_during" "$write_during" "$read_after" "$write_after"; do
    [ -n "$f" ] && [ "$f" != 0.00 ] || fail "a dd in the guest failed or took no time"
done

echo
limit="at full speed"
[ "$pull_mibs" = 0 ] || limit="limited to $pull_mibs MiB/s"
echo "the guest's disk, $dd_mib MiB by dd with O_DIRECT, during the pull ($limit; jobs: '$jobs_before', then '$jobs_after') and after:"
printf '  read:  %s MB/s during, %s MB/s after, ratio %s\n' "$(mbs "$read_during")" \
    "$(mbs "$read_after")" "$(ratio "$read_after" "$read_during")"
printf '  write: %s MB/s during, %s MB/s after, ratio %s\n' "$(mbs "$write_during")" \
    "$(mbs "$write_after")" "$(ratio "$write_after" "$write_during")"
echo "  (ratio: throughput during over after; 1.00 is no cost)"
echo "load at the end:$(uptime | sed 's/.*load/ load/')"
# How the files read lie on the host's disk: a read after the pull is from
# the clone's copy, written by the pull.
eval "dir=\$DIR_$large frozen=\$FROZEN_$large"
printf '  extents on the host: the frozen volume %s, the clone'"'"'s copy %s\n' \
    "$(filefrag "$frozen" | awk '{ print $(NF - 2) }')" \
    "$(filefrag "$dir/${VM_PREFIX}dd.vda.qcow2" | awk '{ print $(NF - 2) }')"

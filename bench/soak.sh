#!/bin/bash
# Watch the daemon's memory, file descriptors and threads over a long run of
# everything a user does, on the real guest: each round takes a snapshot
# (disk-only, then with memory), browses the tree, reads the frozen volume,
# the whole disk (.img, through qemu-nbd) and the memory file's size, and
# deletes both snapshots by live merge.  It prints the daemon's figures
# after a warm-up and at the end, and the growth per round, against the
# same figures of libvirtd (the direct way's own daemon) over the same run.
# A leak shows as steady growth per round; a cache that fills up, as growth
# that stops.
#
#   bench/soak.sh [ROUNDS]      (as root, after make; default 100)
. "$(dirname "$0")/../tests/integration/functions.sh"

rounds=${1:-100}
warmup=10
vm_define bench-soak
vm=${VM_PREFIX}bench-soak
vm_start bench-soak
mount_vmsnapfs
S=$MNT/$vm/snapshots
libvirtd_pid=$(pgrep -o -x libvirtd)

# figures PID: "RSS_KIB FDS THREADS".
figures() {
    echo "$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")" \
         "$(ls "/proc/$1/fd" | wc -l)" \
         "$(awk '/^Threads:/ { print $2 }' "/proc/$1/status")"
}

# parts PID: "ANON_KIB FILE_KIB SHMEM_KIB": what the RSS is made of (a
# heap that grows shows in the first).
parts() { awk '/^Rss(Anon|File|Shmem):/ { printf "%s ", $2 }' "/proc/$1/status"; }

per_round() { awk -v a="$1" -v b="$2" -v n="$rounds" 'BEGIN { print (b - a) / n }'; }

# one_round I: what a user does, once.
one_round() {
    echo disk > "$MNT/$vm/snapshot-mode"
    mkdir "$S/d$1"
    echo memory > "$MNT/$vm/snapshot-mode"
    mkdir "$S/m$1"
    ls -lR "$MNT" > /dev/null
    cat "$S/d$1/info" "$S/m$1/info.json" "$MNT/$vm/jobs" "$MNT/$vm/state" \
        > /dev/null
    readlink "$MNT/$vm/active" > /dev/null
    head -c 4M "$S/d$1/vda.qcow2" > /dev/null
    head -c 4M "$S/m$1/vda.img" > /dev/null
    stat -c %s "$S/m$1/memory" > /dev/null
    rmdir_retried "$S/m$1"
    rmdir_retried "$S/d$1"
}

# rmdir_retried DIR: rmdir, retried while it is EBUSY, and counted: an .img
# just read and closed must not hold a merge back (vmsnapfs(5),
# rmdir), so the count should stay 0.
ebusy=0
rmdir_retried() {
    for _try in 1 2 3 4 5; do
        [ "$(errno_of rmdir "$1")" = EBUSY ] || break
        ebusy=$((ebusy + 1))
        sleep 0.2
    done
    [ ! -e "$1" ] || fail "rmdir of $1"
}

for i in $(seq "$warmup"); do one_round "w$i"; done
read -r rss0 fd0 th0 <<< "$(figures "$DAEMON_PID")"
read -r anon0 file0 shm0 <<< "$(parts "$DAEMON_PID")"
read -r lrss0 _ _ <<< "$(figures "$libvirtd_pid")"
t0=$(date +%s)
for i in $(seq "$rounds"); do one_round "$i"; done
t1=$(date +%s)
read -r rss1 fd1 th1 <<< "$(figures "$DAEMON_PID")"
read -r anon1 file1 shm1 <<< "$(parts "$DAEMON_PID")"
read -r lrss1 _ _ <<< "$(figures "$libvirtd_pid")"

echo "$rounds rounds after $warmup of warm-up, $((t1 - t0)) s;" \
     "each round: 2 snapshots taken, browsed, read and merged;" \
     "rmdir retried after EBUSY: $ebusy"
printf 'vmsnapfs  RSS %6d -> %6d KiB (%+.1f KiB/round)  fds %d -> %d  threads %d -> %d\n' \
    "$rss0" "$rss1" "$(per_round "$rss0" "$rss1")" \
    "$fd0" "$fd1" "$th0" "$th1"
printf '          of it anon %d -> %d, file %d -> %d, shmem %d -> %d KiB\n' \
    "$anon0" "$anon1" "$file0" "$file1" "$shm0" "$shm1"
printf 'libvirtd  RSS %6d -> %6d KiB (%+.1f KiB/round)\n' \
    "$lrss0" "$lrss1" "$(per_round "$lrss0" "$lrss1")"
[ "$(virsh -q snapshot-list "$vm" --name | wc -l)" -eq 0 ] ||
    fail "snapshots left after the run"

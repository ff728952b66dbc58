#!/bin/bash
# A merge of a few hundred MiB shows in jobs and jobs.json with its
# progress and its snapshot while it runs, and the snapshot's info says
# "status: merging".  An interrupted rmdir returns EINTR at once while the
# merge goes on to its end; an rmdir meanwhile waits for it.  Then the
# snapshot is gone and jobs is empty.
. "$(dirname "$0")/functions.sh"
requires qemu-io

vm_define mprog 1 512M
# 48 MiB/s: long enough to watch, short enough for the suite.
mount_vmsnapfs -o merge_bandwidth=48
vm=${VM_PREFIX}mprog
V=$MNT/$vm

big_delta mprog
take_snapshots "$V/snapshots" s2
sum2=$(content_sum "$V/snapshots/s2/vda.qcow2")

t0=$(date +%s%N)
assert_eq EINTR "$(errno_of rmdir-interrupted 1 "$V/snapshots/s1")" "an interrupted rmdir"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 3000 ] || fail "the interrupted rmdir took $ms ms"

# The merge goes on: the directory stays, merging, with its progress.
[ -d "$V/snapshots/s1" ] || fail "s1 went away at once"
grep -qx "status: merging" "$V/snapshots/s1/info" || fail "s1 is not merging: $(cat "$V/snapshots/s1/info")"
line=$(cat "$V/jobs")
echo "$line" | grep -Eq '^vda (commit|active-commit) [0-9]+ [0-9]+ [0-9]+% s1$' ||
    fail "jobs shows '$line'"
end=$(echo "$line" | cut -d" " -f4)
[ "$end" -ge $((300 * 1024 * 1024)) ] || fail "the job's end is $end bytes"
grep -q '"snapshot":"s1"' "$V/jobs.json" || fail "jobs.json: $(cat "$V/jobs.json")"
# Progress moves.
cur1=$(cut -d" " -f3 "$V/jobs")
sleep 1.5
cur2=$(cut -d" " -f3 "$V/jobs")
[ -n "$cur2" ] && [ "$cur2" -gt "$cur1" ] || fail "progress stayed at $cur1 ($cur2)"
assert_eq EBUSY "$(errno_of rmdir "$V/snapshots/s2")" "rmdir of another snapshot meanwhile"

# rmdir again: it waits for the merge under way.
assert_eq OK "$(errno_of rmdir "$V/snapshots/s1")" "a second rmdir of s1"
[ ! -e "$V/snapshots/s1" ] || fail "s1 is still there"
assert_eq "" "$(cat "$V/jobs")" "jobs after the merge"
assert_eq "[]" "$(cat "$V/jobs.json")" "jobs.json after the merge"
assert_eq "$sum2" "$(content_sum "$V/snapshots/s2/vda.qcow2")" "s2 after the merge"
no_merge_record mprog || fail "the merge is still recorded"
n=$(guest_count mprog)
wait_for 10 counted_past mprog $((n + 3)) || fail "the guest stopped counting"

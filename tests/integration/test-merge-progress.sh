#!/bin/bash
# A merge of a few hundred MiB shows in jobs and jobs.json with its
# progress and its snapshot while it runs, and the snapshot's info says
# "status: merging"; progress and jobs.json show its rate (under the
# bandwidth given) and the time it has left.  An interrupted rmdir returns EINTR at once while the
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

# Rate and time left, for people and as numbers.
prog=$(cat "$V/progress")
size='[0-9]+(\.[0-9])?(B|KiB|MiB|GiB)'
echo "$prog" | grep -Eq "^vda (commit|active-commit) $size/$size [0-9]+% $size/s ([0-9]+s|[0-9]+m[0-9]{2}s) s1\$" ||
    fail "progress shows '$prog'"
python3 - "$V/jobs.json" <<'PY' || fail "jobs.json: $(cat "$V/jobs.json")"
import calendar, json, sys, time
job = json.load(open(sys.argv[1]))[0]
rate, left = job["bytes_per_second"], job["seconds_left"]
# At most 48 MiB/s, as asked, and at least 1 MiB/s on the slowest machine.
assert 1 << 20 <= rate <= 2 * (48 << 20), rate
expect = (job["end"] - job["current"]) / rate
assert abs(left - expect) <= 2, (left, expect)
started = calendar.timegm(time.strptime(job["started"], "%Y-%m-%dT%H:%M:%SZ"))
assert 0 <= time.time() - started <= 60, job["started"]
PY

# examples/progress.sh draws the merge until it ends, then says so.
sh "$TOP/examples/progress.sh" "$V" > "$MNT.bars" 2>&1 &
bars=$!
on_exit "kill $bars 2>/dev/null; rm -f '$MNT.bars'"

# rmdir again: it waits for the merge under way.
assert_eq OK "$(errno_of rmdir "$V/snapshots/s1")" "a second rmdir of s1"
[ ! -e "$V/snapshots/s1" ] || fail "s1 is still there"
assert_eq "" "$(cat "$V/jobs")" "jobs after the merge"
assert_eq "[]" "$(cat "$V/jobs.json")" "jobs.json after the merge"
assert_eq "$sum2" "$(content_sum "$V/snapshots/s2/vda.qcow2")" "s2 after the merge"
no_merge_record mprog || fail "the merge is still recorded"
wait_for 5 exited "$bars" || fail "progress.sh goes on after the merge"
assert_eq "no block job runs on $vm" "$(tail -n 1 "$MNT.bars")" \
    "progress.sh's last line"
grep -Eq "^vda (commit|active-commit) \[=*>? *\] [0-9]+% .* ETA .* s1\$" "$MNT.bars" ||
    fail "progress.sh drew: $(cat "$MNT.bars")"
# Redrawn each second, every bar as wide, while the merge moved on.
[ "$(wc -l < "$MNT.bars")" -ge 3 ] || fail "progress.sh drew: $(cat "$MNT.bars")"
sed '$d' "$MNT.bars" | awk '{ n = index($0, "]") - index($0, "[") }
    NR > 1 && n != w { exit 1 } { w = n }' ||
    fail "bars of several widths: $(cat "$MNT.bars")"
[ "$(head -n 1 "$MNT.bars")" != "$(sed '$d' "$MNT.bars" | tail -n 1)" ] ||
    fail "the bar did not move: $(cat "$MNT.bars")"
n=$(guest_count mprog)
wait_for 10 counted_past mprog $((n + 3)) || fail "the guest stopped counting"

#!/bin/bash
# examples/nightly-snapshots.sh, night after night on a running guest:
# each run takes a nightly snapshot and merges away those past the newest
# KEEP; other snapshots stay; the guest counts on.
. "$(dirname "$0")/functions.sh"

vm_define night
vm_start night
mount_vmsnapfs
vm=${VM_PREFIX}night
V=$MNT/$vm
nightly="$TOP/examples/nightly-snapshots.sh"

mkdir "$V/snapshots/golden"
taken=""
for night in 1 2 3 4; do
    sleep 1 # a name a second
    out=$(sh "$nightly" "$V" 2) || fail "night $night: $out"
    name=$(echo "$out" | sed -n 's/^took //p')
    [ -d "$V/snapshots/$name" ] || fail "night $night took no snapshot: $out"
    taken="$taken $name"
    # Past two, the oldest nightly one is merged away.
    set -- $taken
    if [ "$night" -gt 2 ]; then
        assert_eq "merged away $1" "$(echo "$out" | sed -n 's/^merged/merged/p')" \
            "night $night"
        taken=${taken#* $1}
    fi
done
set -- $taken
assert_eq "golden $1 $2" "$(ls "$V/snapshots" | xargs)" "the snapshots after four nights"
no_merge_record night || fail "a merge is still recorded"
n=$(guest_count night)
wait_for 10 counted_past night $((n + 3)) || fail "the guest stopped counting"
# The newest nightly snapshot holds the guest's disk as it was: the count
# the guest wrote is at most the one it prints now.
c=$(disk_count "$V/snapshots/$2/vda.img" raw)
[ -n "$c" ] && [ "$c" -le "$(guest_count night)" ] || fail "the disk count $c"

assert_eq 1 "$(sh "$nightly" "$V" many >/dev/null 2>&1; echo $?)" "KEEP not a number"
assert_eq 1 "$(sh "$nightly" "$MNT/nosuchvm" 2 >/dev/null 2>&1; echo $?)" "no such VM"
assert_eq "golden $1 $2" "$(ls "$V/snapshots" | xargs)" "the snapshots after the refusals"

#!/bin/bash
# An rmdir of a child that begins the moment its parent's merge ends (a
# loop that retries on EBUSY, as a script does) plans from the snapshot as
# libvirt and the files have it then, not from a view of before the first
# merge, whose BASE that merge deleted: both merge, the chain is whole, and
# no record is left.  Three rounds, live and offline.
. "$(dirname "$0")/functions.sh"

# rmdir_retry DIR: rmdir DIR, again while it is EBUSY (at most 120 s).
rmdir_retry() {
    _end=$(($(date +%s) + 120))
    while :; do
        _e=$(errno_of rmdir "$1")
        case $_e in
            OK) return 0 ;;
            EBUSY) [ "$(date +%s)" -lt "$_end" ] || return 1; sleep 0.02 ;;
            *) echo "rmdir $1: $_e" >&2; return 1 ;;
        esac
    done
}

vm_define mseq
vm_start mseq
mount_vmsnapfs
vm=${VM_PREFIX}mseq
V=$MNT/$vm
echo disk > "$V/snapshot-mode"
for round in 1 2 3; do
    [ "$round" = 3 ] && echo destroy > "$V/state"
    take_snapshots "$V/snapshots" "a$round" "b$round" "c$round"
    sum_c=$(content_sum "$V/snapshots/c$round/vda.qcow2")
    rmdir "$V/snapshots/a$round" &
    first=$!
    sleep 0.2
    rmdir_retry "$V/snapshots/b$round" || fail "round $round: rmdir of b$round never went through"
    wait "$first" || fail "round $round: rmdir of a$round failed"
    [ ! -e "$V/snapshots/a$round" ] && [ ! -e "$V/snapshots/b$round" ] ||
        fail "round $round: a snapshot is still there"
    no_merge_record mseq || fail "round $round: a merge is still recorded"
    assert_eq "$sum_c" "$(content_sum "$V/snapshots/c$round/vda.qcow2")" \
        "round $round: c$round after both merges"
    assert_eq ok "$(sed -n 's/^status: //p' "$V/snapshots/c$round/info")" "status of c$round"
    qemu-img check -U -q -f qcow2 "$(vm_volume mseq)" || fail "round $round: qemu-img check"
done

#!/bin/bash
# No program the daemon runs outlives it: killed with SIGKILL while a
# clone's qemu-img convert copies (slowed by merge_bandwidth), that
# qemu-img is gone within seconds (the kernel kills it with the daemon), so
# the next daemon's recovery has no stray writer behind it; it finishes
# the clone.  (The qemu-nbd behind a whole disk: test-img-helpers.)
# alone: leaves a clone record for the next daemon that starts, any test's
. "$(dirname "$0")/functions.sh"
requires qemu-io

vm_define orsrc 1 512M
vm=${VM_PREFIX}orsrc
clone=${VM_PREFIX}orclone
on_exit "vm_remove '$clone'"
on_exit "rm -f '$VM_DIR/$clone'.*"
qemu-io -f qcow2 -c "write -q -P 0x5a 1M 240M" "$VM_DIR/vda.qcow2" >/dev/null
mount_vmsnapfs -o merge_bandwidth=16
S=$MNT/$vm/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
mkdir "$S/s1"

# children PID COMM: "pid starttime" of each child named COMM of process
# PID, whichever of its threads started it.
children() {
    for _c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        [ "$(cat /proc/"$_c"/comm 2>/dev/null)" = "$2" ] &&
            echo "$_c $(cut -d' ' -f22 /proc/"$_c"/stat)"
    done
    return 0
}
# running PID STARTTIME: that process still runs (not a zombie).
running() {
    _stat=$(cat /proc/"$1"/stat 2>/dev/null) || return 1
    [ "$(echo "$_stat" | cut -d' ' -f22)" = "$2" ] &&
        [ "$(echo "$_stat" | cut -d' ' -f3)" != Z ]
}
any_running() {
    while read -r _p _t; do
        [ -n "$_p" ] && running "$_p" "$_t" && return 0
    done <<< "$1"
    return 1
}
none_running() { ! any_running "$1"; }
copying() {
    grep -Eq "^vda copy [1-9][0-9]* [0-9]+ [0-9]+% s1$" "$MNT/$clone/jobs" &&
        [ -n "$(children "$DAEMON_PID" qemu-img)" ]
}
no_jobs() { [ -z "$(cat "$MNT/$clone/jobs")" ]; }

ln -s "$vm/snapshots/s1" "$MNT/$clone" || fail "ln -s"
wait_for 20 copying || fail "no qemu-img copies: $(cat "$MNT/$clone/jobs")"
copiers=$(children "$DAEMON_PID" qemu-img)
kill -KILL "$DAEMON_PID"
wait_for 10 none_running "$copiers" ||
    fail "the killed daemon's qemu-img still runs: $copiers"
stop_vmsnapfs

mount_vmsnapfs
S=$MNT/$vm/snapshots
wait_for 10 test -d "$MNT/$clone" || fail "the clone is gone after the restart"
grep -q "carrying on its clone" "$DAEMON_LOG" || fail "no recovery in the log"
wait_for 120 no_jobs || fail "the copy was not finished"
cmp "$MNT/$clone/snapshots/s1/vda.img" "$S/s1/vda.img" || fail "the copy differs"

#!/bin/bash
# A libvirtd that answers the connection's keepalive but no call (its
# workers hang): a look into a VM not read yet fails with EIO within 25 s
# (an interval past the keepalive's time), with one line in the log,
# rather than holding its caller for as long as libvirtd hangs.  The VM
# is read on meanwhile, and shows whole once libvirtd answers again.  The
# hang: libvirtd's pool cut to one worker, which waits on the monitor of a
# stopped qemu.
# alone: cuts libvirtd's worker pool, so that every call to it hangs
. "$(dirname "$0")/functions.sh"
requires virt-admin

# The VM not read yet sorts before the one looked into: a look into a VM
# reads the VMs after it ahead (host/deepen.c).
vm_define a-unread
virsh -q snapshot-create-as "${VM_PREFIX}a-unread" u1 --disk-only \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.u1.qcow2" >/dev/null
vm_define stuck
vm_start stuck
mount_vmsnapfs
wait_for 10 test -d "$MNT/${VM_PREFIX}a-unread" || fail "the VM does not show"
ls "$MNT/${VM_PREFIX}stuck/snapshots" >/dev/null # read whole

# pool KEY: libvirtd's worker pool's KEY (minWorkers, freeWorkers...).
pool() {
    virt-admin server-threadpool-info libvirtd | awk -v k="$1" '$1 == k { print $3 }'
}
all_busy() { [ "$(pool freeWorkers)" = 0 ]; }
min=$(pool minWorkers) max=$(pool maxWorkers) prio=$(pool prioWorkers)
[ -n "$min" ] && [ -n "$max" ] && [ -n "$prio" ] || fail "libvirtd's pool: $(pool minWorkers)"
on_exit "virt-admin server-threadpool-set libvirtd --min-workers $min --max-workers $max --priority-workers $prio"
virt-admin server-threadpool-set libvirtd --min-workers 1 --max-workers 1 \
    --priority-workers 0 >/dev/null
qemu=$(pgrep -f "guest=${VM_PREFIX}stuck" | head -n 1)
[ -n "$qemu" ] || fail "no qemu runs the VM"
kill -STOP "$qemu"
on_exit "kill -CONT $qemu"
virsh qemu-monitor-command "${VM_PREFIX}stuck" '{"execute":"query-status"}' \
    >/dev/null 2>&1 &
on_exit "kill $! 2>/dev/null || true"
wait_for 10 all_busy || fail "libvirtd's one worker is free"

# The look, in the background: a lookup the daemon holds cannot be
# killed, so the test lets libvirtd go if it takes too long.
look=$(mktemp /tmp/vmsnapfs-look.XXXXXX)
on_exit "rm -f '$look'"
t0=$(date +%s)
python3 "$TOP/tests/integration/errno.py" open "$MNT/${VM_PREFIX}a-unread/snapshots" r \
    > "$look" &
looker=$!
if ! wait_for 45 exited "$looker"; then
    kill -CONT "$qemu"
    wait "$looker"
    fail "a look into a VM not read yet waited for libvirtd $(($(date +%s) - t0)) s"
fi
wait "$looker"
took=$(($(date +%s) - t0))
assert_eq EIO "$(cat "$look")" "a look into a VM not read yet"
[ "$took" -ge 20 ] || fail "the look gave up after $took s only"
assert_eq 1 "$(grep -c "VM '${VM_PREFIX}a-unread': libvirt did not give its snapshots" "$DAEMON_LOG")" \
    "lines in the log for the look"
# What was read already still answers.
timeout 5 ls -lR "$MNT/${VM_PREFIX}stuck" >/dev/null || fail "a VM read before waited"

# libvirtd answers again.
kill -CONT "$qemu"
virt-admin server-threadpool-set libvirtd --min-workers "$min" --max-workers "$max" \
    --priority-workers "$prio" >/dev/null
wait_for 20 test -d "$MNT/${VM_PREFIX}a-unread/snapshots/u1" ||
    fail "the VM's snapshots do not show once libvirtd answers"

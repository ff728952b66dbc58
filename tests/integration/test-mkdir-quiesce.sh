#!/bin/bash
# quiesce with a guest agent that answers: mkdir freezes the guest's file
# systems through the agent, takes a disk-only snapshot of both disks at
# one instant, and thaws them; the guest says so on its console, in that
# order, and counts on.  A guest that cannot freeze gets EIO and nothing
# taken.  (Without an agent it is EAGAIN: test-mkdir-modes.)
. "$(dirname "$0")/functions.sh"

GUEST_AGENT=yes vm_define quiesce 2
vm_start quiesce
vm=${VM_PREFIX}quiesce
agent_answers() {
    virsh -q qemu-agent-command "$vm" '{"execute":"guest-ping"}'
}
wait_for 60 agent_answers || fail "the guest agent does not answer"

# hooks_since MARK: the fsfreeze hook's calls the guest printed after MARK.
hooks_since() {
    console_since quiesce "$1" | tr -d '\r' |
        sed -n 's/^vmsnapfs-guest: fsfreeze //p' | xargs
}

mount_vmsnapfs
S=$MNT/$vm/snapshots
field() { sed -n "s/^$2: //p" "$S/$1/info"; }

echo quiesce > "$MNT/$vm/snapshot-mode"
mark=$(console_mark quiesce)
before=$(guest_count quiesce)
mkdir "$S/q1"
after=$(guest_count quiesce)

# The agent froze, then thawed, and nothing else happened to the guest.
assert_eq "freeze thaw" "$(hooks_since "$mark")" "the guest's fsfreeze hook calls"
[ -z "$(boot_disk_since quiesce "$mark")" ] || fail "the guest rebooted"
wait_for 10 counted_past quiesce "$after" || fail "the guest stopped counting"

# A disk-only snapshot, marked quiesced, of both disks at one instant.
assert_eq yes "$(field q1 quiesced)" "quiesced"
assert_disk_snapshot "$S/q1" "$before" "$after" vda vdb

# libvirt agrees: a disk-only snapshot, the current one.
virsh -q snapshot-info "$vm" q1 | grep -q 'State: *disk-snapshot' ||
    fail "libvirt does not hold q1 as a disk-only snapshot"
link_is "$MNT/$vm/active" snapshots/q1 || fail "active does not point to q1"

# The guest's file systems are thawed: the agent takes a second freeze.
mark=$(console_mark quiesce)
mkdir "$S/q2"
assert_eq "freeze thaw" "$(hooks_since "$mark")" "the hook calls of a second snapshot"
assert_eq "q1 q2" "$(virsh -q snapshot-list "$vm" --name | xargs)" "libvirt's list"

# A guest that cannot freeze its file systems (its hook refuses, once):
# EIO, nothing taken, a line in the log; and the next quiesce works.
handle=$(virsh -q qemu-agent-command "$vm" \
    '{"execute":"guest-file-open","arguments":{"path":"/fail-freeze","mode":"w"}}' |
    sed -n 's/.*"return":\([0-9]*\).*/\1/p')
[ -n "$handle" ] || fail "the agent did not make /fail-freeze"
virsh -q qemu-agent-command "$vm" \
    "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":$handle}}" >/dev/null
files=$(ls "$VM_DIR")
mark=$(console_mark quiesce)
assert_eq EIO "$(errno_of mkdir "$S/q3")" "mkdir when the guest cannot freeze"
[ ! -e "$S/q3" ] || fail "q3 exists"
assert_eq "q1 q2" "$(virsh -q snapshot-list "$vm" --name | xargs)" \
    "libvirt's list after a refused freeze"
assert_eq "$files" "$(ls "$VM_DIR")" "files after a refused freeze"
assert_eq "refused" "$(hooks_since "$mark" | cut -d' ' -f1)" "the guest's hook"
grep -q "snapshot 'q3' failed" "$DAEMON_LOG" || fail "no line in the log"
wait_for 10 counted_past quiesce "$(guest_count quiesce)" ||
    fail "the guest stopped counting"
mark=$(console_mark quiesce)
mkdir "$S/q3"
assert_eq "freeze thaw" "$(hooks_since "$mark")" "the hook calls after a refusal"

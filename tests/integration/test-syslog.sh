#!/bin/bash
# Run as a daemon (no -f, as mount(8) and systemd run it), vmsnapfs logs
# to syslog: one line per failed verb, naming the VM, the verb, what it
# acted on, the errno and the cause; a verb that works logs what it did.
# A small listener on /dev/log stands for the syslog daemon.
# alone: its daemon acts on other tests' stateless VMs, and the test counts its lines
. "$(dirname "$0")/functions.sh"

if [ -e /dev/log ]; then
    skip "/dev/log belongs to this machine's syslog daemon"
fi
LOG=$(mktemp /tmp/vmsnapfs-syslog.XXXXXX)
on_exit "rm -f '$LOG'"
python3 - "$LOG" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
out = open(sys.argv[1], "a")
while True:
    msg = s.recv(8192).decode(errors="replace").rstrip("\n")
    out.write(msg + "\n")
    out.flush()
PY
listener=$!
on_exit "kill $listener; rm -f /dev/log"
wait_for 5 test -S /dev/log || fail "the listener did not bind /dev/log"

vm_define sysl
vm_start sysl
vm=${VM_PREFIX}sysl
M=$(mktemp -d /tmp/vmsnapfs-mnt.XXXXXX)
V=$M/$vm
on_exit "rmdir '$M'"
on_exit "fusermount3 -u '$M' 2>/dev/null"
${VMSNAPFS_WRAPPER:-} "$VMSNAPFS" -o uri="$URI" "$M" || fail "the daemon did not start"
mountpoint -q "$M" || fail "not mounted"
pid=$(pgrep -f "[v]msnapfs -o uri=$URI $M" | head -n 1)
[ -n "$pid" ] || fail "no daemon process"

mkdir "$V/snapshots/s1"
assert_eq EINVAL "$(errno_of mkdir "$V/snapshots/.bad")" "mkdir .bad"
assert_eq EINVAL "$(errno_of write "$V/state" bogus)" "write bogus to state"
assert_eq EBUSY "$(errno_of symlink snapshots/s1 "$V/preview")" "a preview of a running VM"
assert_eq EPERM "$(errno_of unlink "$V/active")" "rm active"
wait_for 5 grep -q "unlink active" "$LOG" || fail "no line for rm active: $(cat "$LOG")"

# syslog's own framing: <facility*8+priority>, the tag with the pid.
tag="vmsnapfs\\[$pid\\]: "
errors=$(grep "^<27>.*$tag" "$LOG" | sed "s/.*$tag//")
# One error line per failed verb, each naming the VM, the verb, the file,
# the errno and the cause.
assert_eq 4 "$(echo "$errors" | wc -l)" "error lines in syslog: $errors"
while IFS= read -r want; do
    echo "$errors" | grep -qF "$want" || fail "no line '$want' in syslog: $errors"
done <<EOF2
VM '$vm': mkdir snapshots/.bad: EINVAL: '.bad' is not a valid snapshot name
VM '$vm': write state: EINVAL: 'bogus' is not a command of the state file
VM '$vm': symlink preview -> snapshots/s1: EBUSY: it is running; a preview, commit, revert or undo needs it shut off.
VM '$vm': unlink active: EPERM: 'active' cannot be removed
EOF2
grep -q "^<30>.*${tag}VM '$vm': took snapshot 's1'" "$LOG" ||
    fail "no info line for the snapshot: $(cat "$LOG")"
grep -q "^<30>.*${tag}Mounted '$URI' on '$M'" "$LOG" || fail "no line for the mount"

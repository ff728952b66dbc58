#!/bin/bash
# The command line: --help and --version, refusals before mounting with one
# line and exit 1, and exit 0 on unmount, a SIGPIPE as it stops included.
. "$(dirname "$0")/functions.sh"
requires gdb

"$VMSNAPFS" --help | grep -q 'uri=URI' || fail "--help"
"$VMSNAPFS" --version | grep -q '^vmsnapfs [0-9]' || fail "--version"

dir=$(mktemp -d)
on_exit "rm -rf '$dir'"

# refuse WHAT PATTERN ARGS...: exit 1, one line on stderr matching PATTERN,
# nothing mounted.
refuse() {
    what=$1 pattern=$2
    shift 2
    rc=0
    "$VMSNAPFS" "$@" >"$dir.out" 2>"$dir.err" || rc=$?
    assert_eq 1 "$rc" "exit status for $what"
    assert_eq 1 "$(wc -l < "$dir.err")" "lines on stderr for $what"
    grep -q -- "$pattern" "$dir.err" || fail "$what: stderr was: $(cat "$dir.err")"
    ! mountpoint -q "$dir" || fail "$what: mounted anyway"
}
on_exit "rm -f '$dir.out' '$dir.err'"

refuse "a bad URI" "qemu:///nosuch" -o uri=qemu:///nosuch "$dir"
refuse "an unreachable URI" "qemu+unix:///system?socket=/nonexistent" \
    -o 'uri=qemu+unix:///system?socket=/nonexistent' "$dir"
refuse "a missing mount point" "/nonexistent/mnt" /nonexistent/mnt
touch "$dir/file"
refuse "a mount point that is not empty" "not empty" "$dir"
rm "$dir/file"
refuse "an unknown option" "no_such_option" -o no_such_option "$dir"
# Several hosts: the hosts file must be there and say NAME URI a line, a
# name once.
refuse "a missing hosts file" "/nonexistent/hosts" -o hosts=/nonexistent/hosts "$dir"
on_exit "rm -f '$dir.hosts'"
printf '# hosts\nr1\n' > "$dir.hosts"
refuse "a hosts line with no URI" "$dir.hosts:2: expected 'NAME URI'" \
    -o hosts="$dir.hosts" "$dir"
printf 'a %s\na %s\n' "$URI" "$URI" > "$dir.hosts"
refuse "two hosts of one name" "two hosts named 'a'" -o hosts="$dir.hosts" "$dir"
: > "$dir.hosts"
refuse "an empty hosts file" "no host in" -o hosts="$dir.hosts" "$dir"

# Mounted, then unmounted: exit status 0.
mount_vmsnapfs
stop_vmsnapfs
assert_eq 0 "$DAEMON_STATUS" "exit status after fusermount3 -u"

# A write to a socket whose reader went raises SIGPIPE, which the daemon
# takes for EPIPE all its life: its stop too, which closes libvirt's
# connections (libfuse's handler is gone by then).  gdb delivers one as
# the stop begins; the daemon stops as it should, status 0.  (LeakSanitizer
# cannot run under gdb.)
cat > "$dir.gdb" <<EOF
set pagination off
set confirm off
handle SIGPIPE nostop noprint pass
break host_stop
run
delete
signal SIGPIPE
EOF
on_exit "rm -f '$dir.gdb' '$dir.gdb.out'"
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
    gdb -batch -nx -x "$dir.gdb" --args "$VMSNAPFS" -f -o uri="$URI" "$dir" \
    >"$dir.gdb.out" 2>&1 &
gdb_pid=$!
on_exit "kill $gdb_pid 2>/dev/null; fusermount3 -u '$dir' 2>/dev/null"
wait_for 60 grep -q "vmsnapfs: Mounted" "$dir.gdb.out" ||
    fail "the daemon under gdb did not mount: $(tail -n 5 "$dir.gdb.out")"
fusermount3 -u "$dir"
wait_for 60 exited "$gdb_pid" || fail "gdb did not end: $(tail -n 5 "$dir.gdb.out")"
grep -q "Breakpoint 1[.0-9]*, host_stop" "$dir.gdb.out" ||
    fail "gdb did not stop the daemon at host_stop: $(tail -n 5 "$dir.gdb.out")"
grep -q "Unmounted '$dir'" "$dir.gdb.out" || fail "the daemon did not say it unmounted"
grep -q 'exited normally' "$dir.gdb.out" ||
    fail "a SIGPIPE as it stopped ended the daemon: $(grep -E 'Program terminated|exited (normally|with)' "$dir.gdb.out")"

# In the background (no -f), the daemon detaches and still serves.
bg=$(mktemp -d)
on_exit "fusermount3 -u '$bg' 2>/dev/null; rm -rf '$bg'"
"$VMSNAPFS" -o uri="$URI" "$bg" || fail "background start"
# Mounted when the start returns: systemd (Type=forking) and mount(8)
# take the first process's exit for ready.
mountpoint -q "$bg" || fail "not mounted yet when the background start returned"
ls "$bg" >/dev/null || fail "background daemon does not serve"
pid=$(pgrep -f "vmsnapfs -o uri=$URI $bg" | head -n 1)
[ -n "$pid" ] || fail "no background daemon"
fusermount3 -u "$bg"
wait_for 5 test ! -e "/proc/$pid" || fail "background daemon did not exit"

# systemctl stop without ExecStop: SIGTERM to the daemon unmounts and
# ends it.
"$VMSNAPFS" -o uri="$URI" "$bg" || fail "background start (2)"
pid=$(pgrep -f "vmsnapfs -o uri=$URI $bg" | head -n 1)
kill -TERM "$pid"
wait_for 10 test ! -e "/proc/$pid" || fail "the daemon did not exit on SIGTERM"
! mountpoint -q "$bg" || fail "still mounted after SIGTERM"

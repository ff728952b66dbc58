# Shared helpers for the vmsnapfs integration tests.  Source it from a test:
#
#   . "$(dirname "$0")/functions.sh"
#
# Each test runs as root against the real libvirtd (qemu:///system) with the
# real test guest.  Everything a test makes (VMs, their files, mounts,
# daemons) is registered with on_exit and removed when the test ends, passed
# or failed, in the reverse order of registration.
#
# A test exits 0 when it passes, 77 when it is skipped, anything else when
# it fails.

set -eu

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VMSNAPFS=${VMSNAPFS:-$TOP/vmsnapfs}
URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export LIBVIRT_DEFAULT_URI=$URI
TEST_NAME=$(basename "$0" .sh)
# Every VM a test defines is named with this prefix, so a leftover is easy
# to spot and to sweep; run.sh gives each of its workers its own
# (vmsnapfs-test-w1-...).
VM_PREFIX=${VM_PREFIX:-vmsnapfs-test-}

_cleanups=""

# on_exit CMD: run CMD (a string for eval) when the test ends.
on_exit() {
    _cleanups="$1
$_cleanups"
}

_run_cleanups() {
    rc=$?
    set +e
    # A command that failed under set -e: show what fail would have shown.
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -z "${_diagnosed:-}" ]; then
        echo "FAIL: $TEST_NAME: exit $rc at ${_failed_at:-?}" >&2
        _diagnose >&2
    fi
    # Not in a pipe: a cleanup may set _sanitizer_failed.
    while IFS= read -r c; do
        [ -n "$c" ] && eval "$c" >/dev/null
    done <<EOF
$_cleanups
EOF
    if [ -n "${_sanitizer_failed:-}" ]; then
        echo "FAIL: $TEST_NAME: the daemon's sanitizers reported errors" >&2
        rc=1
    fi
    exit $rc
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM
# The command that fails under set -e, for _run_cleanups to show (bash
# only: run.sh sources this file with sh to sweep leftovers).
if [ -n "${BASH_VERSION:-}" ]; then
    set -E
    trap '_failed_at="line $LINENO: $BASH_COMMAND"' ERR
fi

fail() {
    echo "FAIL: $TEST_NAME: $*" >&2
    _diagnose >&2
    _diagnosed=1
    exit 1
}

# _diagnose: what a failed test leaves to read: the state and the last
# console lines of each VM it defined, and the end of the daemon's log.
# libvirtd may be the thing the test froze: its state is asked for 10 s at
# most, so that the cleanups that thaw it run.
_diagnose() {
    for _vm in ${_vms:-}; do
        echo "--- $_vm: $(timeout -s KILL 10 virsh -q domstate "$_vm" 2>&1), console ends with:"
        grep -m 1 'Kernel panic' "/var/lib/libvirt/images/$_vm/console.log" 2>/dev/null || true
        tail -n 5 "/var/lib/libvirt/images/$_vm/console.log" 2>/dev/null || true
    done
    if [ -n "${DAEMON_LOG:-}" ] && [ -s "$DAEMON_LOG" ]; then
        echo "--- the daemon's log ends with:"
        tail -n 15 "$DAEMON_LOG"
    fi
}

skip() {
    echo "SKIP: $TEST_NAME: $*" >&2
    exit 77
}

# requires CMD...: skip the test when a command is missing.
requires() {
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"
    done
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
    [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}

# wait_for SECONDS CMD...: poll CMD every 50 ms until it succeeds.
wait_for() {
    _limit=$1
    shift
    _end=$(($(date +%s%N) + _limit * 1000000000))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s%N)" -lt "$_end" ] || return 1
        sleep 0.05
    done
}

# link_is LINK TARGET: LINK is a symlink to TARGET (for wait_for).
link_is() {
    [ "$(readlink "$1")" = "$2" ]
}

# elapsed_ms CMD...: run CMD until it succeeds (at most 10 s); print how many
# milliseconds it took.
elapsed_ms() {
    _t0=$(date +%s%N)
    wait_for 10 "$@" || return 1
    echo $((($(date +%s%N) - _t0) / 1000000))
}

# errno_of SYSCALL ARGS...: the errno name a system call fails with, or OK.
errno_of() {
    python3 "$TOP/tests/integration/errno.py" "$@"
}

# --- the guest --------------------------------------------------------------

# vm_define NAME [NDISKS [DISK_SIZE]]: define a throwaway VM running the test
# guest, with NDISKS qcow2 disks (vda, vdb...) in its own directory, VM_DIR.
# The VM and all its files are removed at exit.  GUEST_CMDLINE adds to the
# guest's kernel command line; GUEST_AGENT=yes gives the VM the QEMU guest
# agent's channel, on which the guest runs the agent.
vm_define() {
    _name=$VM_PREFIX$1
    VM_DIR=/var/lib/libvirt/images/$_name
    vm_remove "$_name"
    on_exit "vm_remove '$_name'"
    _vms="${_vms:-} $_name"
    guest_disks "$VM_DIR" "${2:-1}" "${3:-64M}"
    sh "$TOP/tests/guest/domain-xml.sh" "$_name" "$VM_DIR" "${2:-1}" \
        "${GUEST_CMDLINE:-}" "${GUEST_AGENT:+agent}" > "$VM_DIR/domain.xml"
    virsh -q define "$VM_DIR/domain.xml" >/dev/null
}

# linux_root DIR: make DIR the root of a Linux system as libguestfs's
# inspection finds one (os-release, bin, usr/bin); the caller adds the
# fstab.
linux_root() {
    mkdir -p "$1/etc" "$1/bin" "$1/usr/bin"
    printf 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n' > "$1/etc/os-release"
}

# guest_disks DIR NDISKS SIZE: make DIR (mode 755) with NDISKS empty qcow2
# disks of SIZE, vda.qcow2, vdb.qcow2...
guest_disks() {
    mkdir -p "$1"
    chmod 755 "$1"
    _i=0
    for _t in vda vdb vdc vdd; do
        [ $_i -lt "$2" ] || break
        qemu-img create -q -f qcow2 "$1/$_t.qcow2" "$3"
        _i=$((_i + 1))
    done
}

# vm_dir_on_tmpfs SIZE: put the directory of the VM vm_define just made
# (VM_DIR) on a tmpfs of SIZE (48m, 100m...), its disk moved in: a file
# system that fills.  Unmounted at exit.
vm_dir_on_tmpfs() {
    cp "$VM_DIR/vda.qcow2" "$VM_DIR.vda"
    mount -t tmpfs -o size="$1",mode=755 vmsnapfs-test "$VM_DIR"
    on_exit "umount -l '$VM_DIR'"
    mv "$VM_DIR.vda" "$VM_DIR/vda.qcow2"
}

# vm_remove NAME: destroy and undefine a VM with all its snapshot metadata
# and files.  Safe to call for a VM that does not exist.
vm_remove() {
    _uuid=$(virsh domuuid "$1" 2>/dev/null | head -n 1)
    virsh -q destroy "$1" >/dev/null 2>&1 || true
    virsh -q managedsave-remove "$1" >/dev/null 2>&1 || true
    for _s in $(virsh -q snapshot-list "$1" --name 2>/dev/null); do
        virsh -q snapshot-delete "$1" "$_s" --metadata >/dev/null 2>&1 || true
    done
    virsh -q undefine "$1" --snapshots-metadata --nvram >/dev/null 2>&1 ||
        virsh -q undefine "$1" >/dev/null 2>&1 || true
    rm -rf "/var/lib/libvirt/images/$1"
    [ -z "$_uuid" ] || serve_remove "$_uuid"
}

# serve_remove UUID: stop the server of a restore of the VM UUID that a
# daemon stopped before its job ended left running (it outlives the daemon).
serve_remove() {
    _sock=/run/vmsnapfs-serve/$1.sock
    for _p in $(pgrep -f "qemu-storage-daemon.*$_sock" 2>/dev/null); do
        kill -KILL "$_p" 2>/dev/null || true
    done
    rm -f "$_sock" "$_sock.pid"
}

# serve_runs UUID: whether a server of a restore of the VM UUID runs.
serve_runs() {
    pgrep -f "qemu-storage-daemon.*/run/vmsnapfs-serve/$1.sock" >/dev/null
}

# vm_start NAME: start a VM defined by vm_define and wait until the guest
# counts.
vm_start() {
    virsh -q start "$VM_PREFIX$1" >/dev/null
    wait_for 60 guest_counting "$1" || fail "guest $1 did not start counting"
}

# guest_exec NAME COMMAND: run a shell command in guest NAME (a VM defined
# with GUEST_AGENT=yes) through the agent's guest-exec, wait for it, print
# its output; fails the test when it exits non-zero.
guest_exec() {
    wait_for 60 virsh -q qemu-agent-command "$VM_PREFIX$1" \
        '{"execute":"guest-ping"}' >/dev/null 2>&1 ||
        fail "guest $1: the agent does not answer"
    python3 - "$VM_PREFIX$1" "$2" <<'PY' || fail "guest $1: '$2' failed"
import base64, json, subprocess, sys, time
vm, command = sys.argv[1], sys.argv[2]
def agent(execute, **arguments):
    out = subprocess.run(["virsh", "-q", "qemu-agent-command", vm,
                          json.dumps({"execute": execute, "arguments": arguments})],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["return"]
pid = agent("guest-exec", path="/bin/sh", arg=["-c", command],
            **{"capture-output": True})["pid"]
for _ in range(600):
    st = agent("guest-exec-status", pid=pid)
    if st["exited"]:
        break
    time.sleep(0.1)
else:
    sys.exit("guest_exec: '%s' still running after 60 s" % command)
sys.stdout.write(base64.b64decode(st.get("out-data", "")).decode())
sys.stderr.write(base64.b64decode(st.get("err-data", "")).decode())
sys.exit(st.get("exitcode", 1))
PY
}

# is_shut_off DIR: the state file of VM directory DIR says shut_off (for
# wait_for, which runs its command again, not its arguments).
is_shut_off() {
    [ "$(cat "$1/state")" = shut_off ]
}

# guest_count NAME: the last count the guest printed on its console.
guest_count() {
    sed -n 's/^count \([0-9][0-9]*\).*/\1/p' \
        "/var/lib/libvirt/images/$VM_PREFIX$1/console.log" 2>/dev/null | tail -n 1
}

# counted_past NAME N: the guest has printed a count above N.
counted_past() {
    [ "$(guest_count "$1")" -gt "$2" ]
}

guest_counting() {
    [ -n "$(guest_count "$1")" ]
}

# file_mark FILE: the size of a console file now, in bytes, to read what
# comes after with file_since FILE MARK.  Bytes, not lines: a guest killed
# mid-line leaves its last line without its newline, and the next boot's
# output is appended to that line; counted in lines, the old line's count
# would read as the new boot's first.
file_mark() {
    stat -c %s "$1" 2>/dev/null || echo 0
}

file_since() {
    tail -c +"$(($2 + 1))" "$1" 2>/dev/null
}

# console_mark NAME / console_since NAME MARK: the same for a test VM.
console_mark() {
    file_mark "/var/lib/libvirt/images/$VM_PREFIX$1/console.log"
}

console_since() {
    file_since "/var/lib/libvirt/images/$VM_PREFIX$1/console.log" "$2"
}

# first_count_since NAME MARK: the first count printed after MARK.
first_count_since() {
    console_since "$1" "$2" | sed -n 's/^count \([0-9][0-9]*\).*/\1/p' | head -n 1
}

# boot_disk_since NAME MARK: the disk count of the boot after MARK, or
# nothing when the guest did not boot (a memory restore).
boot_disk_since() {
    console_since "$1" "$2" | sed -n 's/^vmsnapfs-guest: boot disk=\([0-9]*\).*/\1/p' | head -n 1
}

counting_since() {
    [ -n "$(first_count_since "$1" "$2")" ]
}

# disk_count FILE [FORMAT]: the count written on the first sector of a disk
# image, read through qemu so that a qcow2 chain is followed.
disk_count() {
    _raw=$(mktemp)
    qemu-img dd -U -f "${2:-qcow2}" -O raw if="$1" of="$_raw" bs=512 count=1 \
        2>/dev/null
    head -c 32 "$_raw" | sed -n 's/^COUNT \([0-9][0-9]*\).*/\1/p'
    rm -f "$_raw"
}

# assert_disk_snapshot DIR BEFORE AFTER TARGET...: the snapshot directory DIR
# in the mount holds disks only, the TARGETs, no memory, and each disk holds a
# count the guest wrote between BEFORE - 1 and AFTER + 1 (the guest writes
# each count to its disks before it prints it: a snapshot taken between
# the two holds the count the console shows next).
assert_disk_snapshot() {
    _dir=$1 _before=$2 _after=$3
    shift 3
    assert_eq no "$(sed -n 's/^memory: //p' "$_dir/info")" "memory of $_dir"
    [ ! -e "$_dir/memory" ] || fail "a memory file in $_dir"
    if ls "$VM_DIR"/*.mem >/dev/null 2>&1; then fail "a memory file was written"; fi
    assert_eq "$*" "$(sed -n 's/^disks: //p' "$_dir/info")" "disks of $_dir"
    for _t in "$@"; do
        _c=$(disk_count "$_dir/$_t.qcow2")
        [ -n "$_c" ] && [ "$_c" -ge $((_before - 1)) ] && [ "$_c" -le $((_after + 1)) ] ||
            fail "count on $_t of $_dir '$_c' not in [$((_before - 1)), $((_after + 1))]"
    done
}

# content_sum FILE [FORMAT]: a checksum of the whole disk FILE holds, read
# through its backing chain by qemu.
content_sum() {
    _raw=$(mktemp /var/tmp/vmsnapfs-sum.XXXXXX)
    qemu-img convert -U -f "${2:-qcow2}" -O raw "$1" "$_raw"
    sha256sum < "$_raw" | cut -d" " -f1
    rm -f "$_raw"
}

# chain_length FILE: how many volumes the chain of FILE has.
chain_length() {
    qemu-img info -U -f qcow2 --backing-chain "$1" | grep -c '^image:'
}

# vm_volume NAME [TARGET]: the volume disk TARGET (vda) of VM NAME is on.
vm_volume() {
    virsh -q domblklist "$VM_PREFIX$1" | awk -v t="${2:-vda}" '$1 == t { print $2 }'
}

# vm_summary VM DIR: what a refused verb leaves as it was: VM's disks and
# snapshots, the links of its directory DIR in the mount, and the files of
# VM_DIR.
vm_summary() {
    virsh -q domblklist "$1"
    virsh -q snapshot-list "$1" --name
    ls -l "$2" | awk '/->/ { print $9, $11 }'
    ls "$VM_DIR"
}

# snapshot_memory NAME SNAP: the memory file libvirt names for snapshot SNAP.
snapshot_memory() {
    virsh snapshot-dumpxml "$VM_PREFIX$1" "$2" |
        sed -n "s/.*<memory .*file='\([^']*\)'.*/\1/p"
}

# take_snapshots DIR NAME...: mkdir DIR/NAME for each NAME, a second apart,
# so that the guest's count differs between them.
take_snapshots() {
    _dir=$1
    shift
    for _s in "$@"; do
        sleep 1
        mkdir "$_dir/$_s"
    done
}

# big_delta_off NAME: snapshot s1 of VM NAME, shut off, then write 320 MiB
# on the volume made at s1, the volume the merge of s1 commits down.  Needs
# the mount (V) and a disk of 512 MiB.
big_delta_off() {
    wait_for 5 test -d "$V/snapshots" || fail "VM $1 does not show"
    mkdir "$V/snapshots/s1"
    qemu-io -f qcow2 -c "write -q -P 0x5a 1M 320M" "$(vm_volume "$1")" >/dev/null
}

# big_delta NAME: big_delta_off, then start the VM.
big_delta() {
    big_delta_off "$1"
    vm_start "$1"
}

# no_merge_record NAME: vmsnapfs's record in VM NAME names no merge.
no_merge_record() {
    ! virsh metadata "$VM_PREFIX$1" https://vmsnapfs.org/xmlns/domain/1 \
        2>/dev/null | grep -q merge
}

# clone_pins SOURCE CLONE: how many pins VM CLONE, a clone being copied,
# has in the record of its source VM SOURCE (full names).
clone_pins() {
    virsh metadata "$1" https://vmsnapfs.org/xmlns/domain/1 2>/dev/null |
        grep -c "<pin .*clone=\"$2\"" || true
}

# --- the host's own VMs ----------------------------------------------------

# VMs that are no test's, as a host where the suite runs has its own: one
# running, one shut off with a snapshot.  run.sh defines them for the whole
# run, so that every test shows it passes beside them; named so that no
# sweep of test VMs (vmsnapfs-test-*) removes them mid-run.  No guest boots
# in them (an empty disk): they cost the host next to nothing.
FOREIGN_VMS="vmsnapfs-foreign-run vmsnapfs-foreign-off"

# foreign_vms_define: define them anew, start the running one, and give the
# other a snapshot.
foreign_vms_define() {
    foreign_vms_remove
    for _f in $FOREIGN_VMS; do
        _d=/var/lib/libvirt/images/$_f
        guest_disks "$_d" 1 64M
        cat > "$_d/domain.xml" <<XML
<domain type='qemu'>
  <name>$_f</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$_d/vda.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <memballoon model='none'/>
  </devices>
</domain>
XML
        virsh -q define "$_d/domain.xml" >/dev/null || return 1
    done
    virsh -q start vmsnapfs-foreign-run >/dev/null &&
        virsh -q snapshot-create-as vmsnapfs-foreign-off before --disk-only \
            --diskspec "vda,snapshot=external,file=/var/lib/libvirt/images/vmsnapfs-foreign-off/vda.before.qcow2" \
            >/dev/null
}

# foreign_vms_remove: remove them and their files, if they are there.
foreign_vms_remove() {
    for _f in $FOREIGN_VMS; do
        vm_remove "$_f"
    done
}

# --- the daemon -------------------------------------------------------------

# mount_vmsnapfs [OPTIONS...]: mount vmsnapfs at a fresh directory in the
# foreground, in the background; sets MNT and DAEMON_PID and the daemon's log
# in DAEMON_LOG.  Unmounted and stopped at exit.  The host is URI, or the
# hosts of file HOSTS_FILE when it is set.
mount_vmsnapfs() {
    MNT=$(mktemp -d /tmp/vmsnapfs-mnt.XXXXXX)
    DAEMON_LOG=$MNT.log
    on_exit "rm -rf '$MNT' '$DAEMON_LOG'"
    _hosts=-ouri=$URI
    [ -z "${HOSTS_FILE:-}" ] || _hosts=-ohosts=$HOSTS_FILE
    ${VMSNAPFS_WRAPPER:-} "$VMSNAPFS" -f "$_hosts" "$@" "$MNT" \
        >"$DAEMON_LOG" 2>&1 &
    DAEMON_PID=$!
    on_exit "stop_vmsnapfs"
    wait_for 10 mountpoint -q "$MNT" ||
        { cat "$DAEMON_LOG" >&2; fail "vmsnapfs did not mount"; }
}

# exited PID: process PID has exited (a zombie counts; for wait_for).
exited() {
    [ ! -r "/proc/$1/stat" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# mount_second_vmsnapfs: another daemon of the same host on a mount of its
# own, M2, its log in L2, its pid in P2 (removed and stopped at exit).
mount_second_vmsnapfs() {
    M2=$(mktemp -d /tmp/vmsnapfs-mnt.XXXXXX)
    L2=$M2.log
    on_exit "rm -rf '$M2' '$L2'"
    "$VMSNAPFS" -f "-ouri=$URI" "$M2" >"$L2" 2>&1 &
    P2=$!
    on_exit "fusermount3 -u '$M2' 2>/dev/null || umount -l '$M2' 2>/dev/null; wait $P2"
    wait_for 10 mountpoint -q "$M2" || fail "the second daemon did not mount: $(cat "$L2")"
}

# --- a daemon held by gdb -------------------------------------------------
# What one daemon read before a step, another may change before it: gdb
# holds a daemon at a function, deterministically, while the test changes
# things under it.  LeakSanitizer runs: gdb detaches before the daemon
# goes on.

# _hold_script BASE HOW BREAK...: gdb's script at BASE.x: break at BREAK
# (FUNCTION [if CONDITION]), then HOW ("run" for a daemon gdb starts,
# "continue" for one it attached to); at the first hit BASE.on is made,
# and the daemon held until BASE.go is (10 minutes at most).
_hold_script() {
    _base=$1 _how=$2
    shift 2
    cat > "$_base.x" <<EOF
set pagination off
set confirm off
handle SIGPIPE nostop noprint pass
break $*
shell touch $_base.armed
$_how
shell touch $_base.on
shell i=0; while [ ! -e $_base.go ] && [ \$i -lt 6000 ]; do sleep 0.1; i=\$((i + 1)); done
delete
detach
quit
EOF
}

# _held_at BASE OUT FUNCTION: wait for the hold; fail unless it is at
# FUNCTION.
_held_at() {
    wait_for 60 test -e "$1.on" || fail "gdb did not hold the daemon at $3: $(tail -n 5 "$2")"
    grep -q "Breakpoint 1[.0-9]*, .*${3##*:}" "$2" ||
        fail "the daemon is held elsewhere than $3: $(tail -n 5 "$2")"
}

# hold_daemon PID FUNCTION [if CONDITION]: gdb attaches to daemon PID and
# holds it at its next call of FUNCTION (where CONDITION holds); then
# wait_held, and let_go.  gdb's output in HOLD.out.
hold_daemon() {
    _pid=$1
    shift
    HOLD=$(mktemp -u /tmp/vmsnapfs-hold.XXXXXX)
    HOLD_AT=$1
    on_exit "rm -f '$HOLD.x' '$HOLD.out' '$HOLD.armed' '$HOLD.on' '$HOLD.go'"
    _hold_script "$HOLD" continue "$@"
    gdb -p "$_pid" -batch -nx -x "$HOLD.x" >"$HOLD.out" 2>&1 &
    HOLD_GDB=$!
    # Interrupted before the hold, gdb goes on with its script: it holds,
    # finds the go and detaches.
    on_exit "touch '$HOLD.go'; kill -INT $HOLD_GDB 2>/dev/null; wait_for 30 exited $HOLD_GDB"
    wait_for 60 test -e "$HOLD.armed" || fail "gdb did not attach: $(tail -n 3 "$HOLD.out")"
}

# wait_held: the daemon hold_daemon watches has come to its function.
wait_held() {
    _held_at "$HOLD" "$HOLD.out" "$HOLD_AT"
}

# let_go: gdb lets the held daemon go on, and ends.
let_go() {
    touch "$HOLD.go"
    wait_for 30 exited "$HOLD_GDB" || fail "gdb did not end: $(tail -n 3 "$HOLD.out")"
}

# mount_held_vmsnapfs FUNCTION [if CONDITION]: a third daemon of the host
# on a mount of its own, M3 (its log L3, its pid P3), started under gdb,
# which holds it at its first call of FUNCTION (its start's recovery, say)
# until release_held.  M3 is mounted but not served while it is held.
mount_held_vmsnapfs() {
    M3=$(mktemp -d /tmp/vmsnapfs-mnt.XXXXXX)
    L3=$M3.log
    on_exit "rm -rf '$M3' '$L3' '$M3.x' '$M3.armed' '$M3.on' '$M3.go'"
    _hold_script "$M3" run "$@"
    gdb -batch -nx -x "$M3.x" --args "$VMSNAPFS" -f "-ouri=$URI" "$M3" >"$L3" 2>&1 &
    _gdb3=$!
    on_exit "touch '$M3.go'; kill -INT $_gdb3 2>/dev/null; wait_for 30 exited $_gdb3; fusermount3 -u '$M3' 2>/dev/null || umount -l '$M3' 2>/dev/null"
    _held_at "$M3" "$L3" "$1"
    # gdb's shell execs the daemon: gdb's child (beside the shell of the
    # hold's loop).
    P3=$(pgrep -P "$_gdb3" -x "$(basename "$VMSNAPFS" | cut -c 1-15)")
    [ "$(echo "$P3" | wc -w)" = 1 ] || fail "not one third daemon under gdb: '$P3'"
}

# release_held: let the held daemon go on; it says when it is mounted.
release_held() {
    touch "$M3.go"
    wait_for 30 exited "$_gdb3" || fail "gdb did not let the third daemon go: $(tail -n 5 "$L3")"
    wait_for 30 grep -q "Mounted '" "$L3" || fail "the third daemon did not start: $(tail -n 5 "$L3")"
}

# stop_held: unmount M3 and wait for the third daemon; its sanitizers'
# reports fail the test.
stop_held() {
    fusermount3 -u "$M3"
    wait_for 30 exited "$P3" || fail "the third daemon did not exit"
    if grep -q 'Sanitizer\|runtime error:' "$L3"; then
        grep -A 30 'Sanitizer\|runtime error:' "$L3" >&2
        fail "the third daemon's sanitizers reported errors"
    fi
}

# stop_vmsnapfs: unmount and wait for the daemon; its exit status in
# DAEMON_STATUS.
stop_vmsnapfs() {
    [ -n "${DAEMON_PID:-}" ] || return 0
    # Mounted, or left answering ENOTCONN by a daemon that died.
    if grep -q " $MNT fuse" /proc/mounts; then
        fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
    fi
    # A lazy unmount leaves the daemon serving what is still open, as when
    # a test failed while this shell held a descriptor: 30 s, then signals.
    if ! wait_for 30 exited "$DAEMON_PID"; then
        echo "--- the daemon did not exit after the unmount: SIGTERM" >&2
        kill -TERM "$DAEMON_PID" 2>/dev/null
        sleep 5
        # Perhaps gone meanwhile: not a failure of the caller.
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
    fi
    DAEMON_STATUS=0
    wait "$DAEMON_PID" || DAEMON_STATUS=$?
    DAEMON_PID=""
    # Under ASan and UBSan (make asan) a report fails the test.
    if grep -q 'Sanitizer\|runtime error:' "$DAEMON_LOG" 2>/dev/null; then
        grep -A 30 'Sanitizer\|runtime error:' "$DAEMON_LOG" >&2
        _sanitizer_failed=1
    fi
}

# libguestfs_file: the path of libguestfs.so.0 (ldconfig's), or nothing
# when it is not installed.  A test that binds /dev/null over it in a
# mount namespace of its own (unshare -m) plays a host without libguestfs:
# dlopen fails, a program linked with it does not start.
libguestfs_file() {
    ldconfig -p | awk '$1 == "libguestfs.so.0" { print $NF; exit }'
}

#!/bin/bash
# One mount, three hosts: this one and two libvirtds in namespaces of their
# own, reached over qemu+tcp (remote.sh), whose files the daemon cannot
# see.  The top lists the hosts, each its VMs and a status.  On a remote
# host: mkdir with memory, the frozen volume and the memory read through
# libvirt (cmp-equal to the files there, and no file of the host opened by
# the daemon), the whole disk cmp-equal to qemu-img convert there, rsync
# of a snapshot's directory, mv, rmdir live (its progress in jobs) and
# offline (in a helper domain there), preview and undo, revert with the
# memory restored on the next start, instant clones with memory (one
# started at once, which resumes while its pull is held, then carried on
# by the next daemon after a kill -9, a copy standing alone but short made
# anew, its disk moved onto its copy live; one shut off, moved in a helper
# domain; both stand on no file of their source after), an export from r2 imported into r1
# that resumes, a branch point deleted (pulls in helper domains); a clone
# from another host's snapshot is EXDEV.
# Delta files on r1, as test-delta checks them here: known writes are
# exactly the extents of TARGET.delta.json and the data of
# TARGET.delta.img (SEEK_DATA, SEEK_HOLE), which reads as the disk there
# and zeros elsewhere, over NBD from a helper domain there (no file of r1
# opened by the daemon, no helper left); incremental-backup.sh restores
# the snapshot cmp-equal.
# A hung remote libvirtd delays no other host; one stopped shows as
# unreachable while the others work, and is back within 10 s of its start,
# without a remount.
# alone: two more libvirtds, and the time each host's ls takes
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/remote.sh"

remote_host_start r1 16531
U1=$REMOTE_URI
remote_vm_define r1 a
A=$RVM A_DIR=$RVM_DIR D1=$REMOTE_DIR
remote_host_start r2 16532
U2=$REMOTE_URI
remote_vm_define r2 b
B=$RVM B_DIR=$RVM_DIR B_DIR_THERE=/var/lib/libvirt/images/$RVM
# 40 MiB of data in r2's disk: its clones' pulls (16 MiB/s, below) take a
# while.
qemu-io -f qcow2 -c "write -q -P 0x5a 1M 40M" "$B_DIR/vda.qcow2" >/dev/null
vm_define loc

HOSTS_FILE=$(mktemp /tmp/vmsnapfs-hosts.XXXXXX)
on_exit "rm -f '$HOSTS_FILE'"
cat > "$HOSTS_FILE" <<HOSTS
# the hosts of the test
here $URI
r1 $U1
r2 $U2
HOSTS
virsh -q -c "$U1" start "$A" >/dev/null
virsh -q -c "$U2" start "$B" >/dev/null
# 16 MiB/s: a merge of 40 MiB shows in jobs for a while (below).
mount_vmsnapfs -o merge_bandwidth=16

assert_eq "here r1 r2" "$(ls "$MNT" | xargs)" "the top"
assert_eq "status ${VM_PREFIX}loc" "$(ls "$MNT/here" | grep -x "status\|$VM_PREFIX.*" | xargs)" \
    "this host: its status and the test's VM"
assert_eq "status $A" "$(ls "$MNT/r1" | xargs)" "host r1"
assert_eq "status $B" "$(ls "$MNT/r2" | xargs)" "host r2"
grep -qx "state: connected" "$MNT/r1/status" || fail "r1's status: $(cat "$MNT/r1/status")"
grep -qx "uri: $U1" "$MNT/r1/status" || fail "r1's status names its URI"

# --- a live snapshot with memory on r1, its files through libvirt ----------
V=$MNT/r1/$A
S=$V/snapshots
wait_for 60 remote_guest_counting "$A_DIR" || fail "r1's guest does not count"
mkdir "$S/s1"
grep -qx "memory: yes" "$S/s1/info" || fail "s1 has no memory: $(cat "$S/s1/info")"
assert_eq "domain.xml info info.json memory vda.delta.img vda.delta.json vda.img vda.qcow2" \
    "$(ls "$S/s1" | xargs)" "a remote snapshot's files"
frozen=$(sed -n 's/^disk.vda.volume: //p' "$S/s1/info")
mem=$(sed -n 's/^memory_file: //p' "$S/s1/info")
[ -n "$frozen" ] && [ -n "$mem" ] || fail "s1's info names no volume or memory"
# What the test reads directly, at the path it has from outside.
here_frozen=$D1/${frozen#/var/lib/libvirt/}
here_mem=$D1/${mem#/var/lib/libvirt/}
[ ! -e "$frozen" ] || fail "'$frozen' is visible here: the test would prove nothing"

# The daemon's descriptors while it reads: none is a file of r1.
fds_clean() {
    ! ls -l "/proc/$DAEMON_PID/fd" 2>/dev/null | grep -q "$REMOTE_ROOT\|$A"
}
# watch_reader PID: while reader PID runs, the daemon opens no file of r1.
watch_reader() {
    while ! exited "$1"; do
        fds_clean || fail "the daemon opened a file of r1: $(ls -l /proc/$DAEMON_PID/fd)"
        sleep 0.02
    done
    wait "$1" || true
}
( cmp "$S/s1/memory" "$here_mem" && cmp "$S/s1/vda.qcow2" "$here_frozen" \
    && touch "$MNT.cmp-ok" ) &
on_exit "rm -f '$MNT.cmp-ok'"
watch_reader $!
[ -e "$MNT.cmp-ok" ] || fail "s1's memory or vda.qcow2 differ from r1's files"
assert_eq "$(stat -c %s "$here_frozen")" "$(stat -c %s "$S/s1/vda.qcow2")" "vda.qcow2's size"

# The whole disk: as qemu-img converts the same chain on r1 itself; the
# copy libvirt made there for the read is gone after the last close.
on_r1() { nsenter -t "$(cat "$REMOTE_ROOT/r1/run/virtlogd.pid")" -m "$@"; }
on_r1 qemu-img convert -U -O raw "$frozen" /var/lib/libvirt/images/expected.raw ||
    fail "qemu-img convert on r1"
cmp "$S/s1/vda.img" "$D1/images/expected.raw" || fail "vda.img differs from r1's convert"
rm -f "$D1/images/expected.raw"
no_copy() { ! ls "$A_DIR" | grep -q vmsnapfs-export; }
wait_for 30 no_copy || fail "the copy for vda.img stays: $(ls "$A_DIR")"

# rsync of the snapshot's directory, sparse.
out=$(mktemp -d /tmp/vmsnapfs-rsync.XXXXXX)
on_exit "rm -rf '$out'"
rsync -a --sparse "$S/s1/" "$out/" || fail "rsync of a remote snapshot"
cmp "$out/vda.qcow2" "$here_frozen" || fail "rsync's vda.qcow2"
cmp "$out/memory" "$here_mem" || fail "rsync's memory"
cmp "$out/vda.img" "$S/s1/vda.img" || fail "rsync's vda.img"

# mv, jobs, rmdir live.
mkdir "$S/s2"
mv "$S/s2" "$S/s2b" || fail "mv of a remote snapshot"
virsh -q -c "$U1" snapshot-list "$A" --name | grep -qx s2b || fail "libvirt has no s2b"
cat "$V/jobs" >/dev/null || fail "jobs of a remote VM"
count=$(remote_guest_count "$A_DIR")
rmdir "$S/s2b" || fail "rmdir (live merge) on r1"
[ ! -e "$S/s2b" ] || fail "s2b still shows"
virsh -q -c "$U1" snapshot-list "$A" --name | grep -qx s2b && fail "libvirt still has s2b"
wait_for 30 eval '[ "$(remote_guest_count "$A_DIR")" -gt $((count + 3)) ]' ||
    fail "r1's guest stopped counting after the merge"

# --- r2: an offline merge in a helper domain; preview, undo, revert ------
W=$MNT/r2/$B
T=$W/snapshots
wait_for 60 remote_guest_counting "$B_DIR" || fail "r2's guest does not count"
mkdir "$T/m1"
at_m1=$(remote_guest_count "$B_DIR")
wait_for 30 eval '[ "$(remote_guest_count "$B_DIR")" -gt $((at_m1 + 3)) ]' ||
    fail "r2's guest stopped counting"
mkdir "$T/m2"
at_m2=$(remote_guest_count "$B_DIR")
virsh -q -c "$U2" destroy "$B" >/dev/null
wait_for 30 is_shut_off "$W" || fail "r2's VM does not show shut off"
m1_top=$(sed -n 's/^disk.vda.volume: //p' "$T/m2/info")
m1_mem=$(sed -n 's/^memory_file: //p' "$T/m1/info")
base=$(sed -n 's/^disk.vda.volume: //p' "$T/m1/info")
# m1 deleted while the VM is shut off: its volume, which m2's overlay
# stands on, is committed into the one below in a paused helper domain on
# r2, m2's overlay then stands on that, and m1's files are gone there.
rmdir "$T/m1" || fail "rmdir (offline merge) on r2"
[ ! -e "$T/m1" ] || fail "m1 still shows"
virsh -q -c "$U2" snapshot-list "$B" --name | grep -qx m1 && fail "libvirt still has m1"
virsh -q -c "$U2" list --all --name | grep -q vmsnapfs-commit && fail "a helper domain stays"
[ ! -e "$REMOTE_DIR/${m1_top#/var/lib/libvirt/}" ] || fail "m1's volume stays on r2"
[ ! -e "$REMOTE_DIR/${m1_mem#/var/lib/libvirt/}" ] || fail "m1's memory stays on r2"
assert_eq "$base" "$(sed -n 's/^disk.vda.volume: //p' "$T/m2/info")" \
    "m2's frozen volume after the merge"
ln -sfn snapshots/m2 "$W/preview" || fail "preview on r2"
assert_eq snapshots/m2 "$(readlink "$W/preview")" "r2's preview link"
rm "$W/preview" || fail "undo on r2"
[ ! -L "$W/preview" ] || fail "the preview link stays after undo"
ln -sfn snapshots/m2 "$W/active" || fail "revert on r2"
assert_eq snapshots/m2/memory "$(readlink "$W/resume")" "resume after the revert"
# start_resumes VMDIR CONSOLE COUNT WHAT: a start through VMDIR/state
# resumes the guest whose console (seen from here) is CONSOLE at COUNT
# (within 2), with no boot.
start_resumes() {
    console_file=$2
    mark=$(file_mark "$console_file")
    echo start > "$1/state"
    since() { file_since "$console_file" "$mark"; }
    counting_again() { since | grep -q '^count '; }
    wait_for 60 counting_again || fail "$4 does not count after the start"
    first=$(since | sed -n 's/^count \([0-9]*\).*/\1/p' | head -n 1)
    [ "$first" -ge "$3" ] && [ "$first" -le $(($3 + 2)) ] ||
        fail "$4 did not resume at count $3: $first"
    since | grep -q "vmsnapfs-guest: boot" && fail "$4 booted instead of resuming"
    return 0
}
start_resumes "$W" "$B_DIR/console.log" "$at_m2" "r2's guest"
# A clone of m2 on r2, memory included, made there through libvirt: its
# first start resumes m2's count beside the running source; a clone from
# another host's snapshot is EXDEV.
assert_eq EXDEV "$(errno_of symlink "../r1/$A/snapshots/s1" "$MNT/r2/$A-copy")" \
    "a clone across hosts"
BC=$B-copy
on_r2() { nsenter -t "$(cat "$REMOTE_ROOT/r2/run/virtlogd.pid")" -m "$@"; }
# stands_apart NAME: the chain of clone NAME's disk on r2 is its own
# overlay over its own copy, no file of its source's.
stands_apart() {
    disk=$(virsh -q -c "$U2" domblklist "$1" | awk '$1 == "vda" { print $2 }')
    chain=$(on_r2 qemu-img info -U --backing-chain "$disk" | sed -n 's|^image: .*/||p' | xargs)
    assert_eq "$1.vda.m2.qcow2 $1.vda.qcow2" "$chain" "the chain of $1's disk"
}
no_jobs() { [ -z "$(cat "$1/jobs")" ]; }
# A clone started at once, made through libvirt: it runs on thin tops over
# m2 and resumes m2's count beside the running source while its pull (in a
# helper domain on r2, held here) fills its copy; m2 is pinned meanwhile.
ln -s "../r2/$B/snapshots/m2" "$MNT/r2/$BC" || fail "a clone on r2"
on_exit "virsh -q -c '$U2' destroy '$BC' >/dev/null 2>&1"
# Held: the pull in the helper domain slowed to 1 MiB/s through libvirt
# once it runs, until the checks are done.
helper=""
slow_pull() {
    helper=vmsnapfs-commit-$(virsh -q -c "$U2" domuuid "$BC" | cut -c1-8)-vda
    virsh -q -c "$U2" blockjob "$helper" vda --bandwidth 1 >/dev/null 2>&1
}
wait_for 30 slow_pull || fail "no helper pulls the clone's copy: $(cat "$MNT/r2/$BC/jobs")"
grep -Eq "^vda pull [0-9]+ [0-9]+ [0-9]+% m2$" "$MNT/r2/$BC/jobs" ||
    fail "the pull ended before it was held: '$(cat "$MNT/r2/$BC/jobs")'"
console=$(virsh -q -c "$U2" dumpxml "$BC" | sed -n "s|.*<source path='\([^']*console[^']*\)'.*|\1|p" | head -n 1)
[ -n "$console" ] && [ "$console" != "/var/lib/libvirt/images/$B/console.log" ] ||
    fail "the clone's console is not its own: '$console'"
start_resumes "$MNT/r2/$BC" "$REMOTE_ROOT/r2/lib/${console#/var/lib/libvirt/}" \
    "$at_m2" "the clone"
assert_eq EBUSY "$(errno_of rmdir "$T/m2")" "rmdir of m2 while its clone pulls"
cmp "$MNT/r2/$BC/snapshots/m2/vda.img" "$T/m2/vda.img" || fail "the clone's disk at m2 during its pull"
grep -Eq "^vda pull [0-9]+ [0-9]+ [0-9]+% m2$" "$MNT/r2/$BC/jobs" ||
    fail "the pull ended before the checks: '$(cat "$MNT/r2/$BC/jobs")'"
# The daemon killed mid-pull (its helper goes with its connection), and
# the copy left as a daemon killed after the pull's end, before its helper
# closed the file, may leave it: standing alone, its data short.  The next
# daemon must not take it for pulled: it makes it anew and pulls again
# (the clone's disk is compared with m2's below).
kill -KILL "$DAEMON_PID"
stop_vmsnapfs
no_helper() { ! virsh -q -c "$U2" list --name | grep -qx "$helper"; }
wait_for 30 no_helper || fail "the helper outlived the daemon"
qemu-img rebase -q -u -f qcow2 -b '' "$B_DIR/$BC.vda.qcow2" ||
    fail "cannot drop the backing of the clone's copy"
# And an overlay as a daemon killed in the live move leaves it: made anew
# (a remote host makes no volume over one of the same name).
qemu-img create -q -f qcow2 "$B_DIR/$BC.vda.m2.qcow2" 1M
assert_eq running "$(virsh -q -c "$U2" domstate "$BC")" "the clone after the kill"
mount_vmsnapfs -o merge_bandwidth=16
V=$MNT/r1/$A S=$MNT/r1/$A/snapshots W=$MNT/r2/$B T=$MNT/r2/$B/snapshots
wait_for 60 grep -q "'$B_DIR_THERE/$BC.vda.qcow2' was pulled by a daemon that did not see it closed" "$DAEMON_LOG" ||
    fail "the next daemon took the copy for pulled: $(grep "$BC" "$DAEMON_LOG" | tail -n 3)"
wait_for 120 no_jobs "$MNT/r2/$BC" || fail "the clone's job does not end: $(cat "$MNT/r2/$BC/jobs")"
assert_eq running "$(cat "$MNT/r2/$BC/state")" "the clone after its job"
stands_apart "$BC"
assert_eq "m2" "$(ls "$MNT/r2/$BC/snapshots")" "the clone's snapshots"
cmp "$MNT/r2/$BC/snapshots/m2/vda.img" "$T/m2/vda.img" || fail "the clone's disk at m2"
virsh -q -c "$U2" destroy "$BC" >/dev/null
# One left shut off: its disk moves onto its copy in a helper domain; its
# first start resumes m2.
BD=$B-copy2
ln -s "../r2/$B/snapshots/m2" "$MNT/r2/$BD" || fail "a second clone on r2"
on_exit "virsh -q -c '$U2' destroy '$BD' >/dev/null 2>&1"
wait_for 120 no_jobs "$MNT/r2/$BD" || fail "the second clone's job does not end"
stands_apart "$BD"
console=$(virsh -q -c "$U2" dumpxml "$BD" | sed -n "s|.*<source path='\([^']*console[^']*\)'.*|\1|p" | head -n 1)
start_resumes "$MNT/r2/$BD" "$REMOTE_ROOT/r2/lib/${console#/var/lib/libvirt/}" \
    "$at_m2" "the second clone"
virsh -q -c "$U2" destroy "$BD" >/dev/null

# r2's VM exported with rsync and imported into r1 (a move between hosts
# through this machine): the same snapshots and disks, and its first start
# on r1 resumes m2's memory.
moved=${VM_PREFIX}r1-moved
export_dir=$(mktemp -d /var/tmp/vmsnapfs-export.XXXXXX)
on_exit "rm -rf '$export_dir'"
rsync -a --sparse --exclude '*.img' "$W/" "$export_dir/vm/" || fail "rsync of r2's VM"
# The import stages its files in /var/tmp: what other runs left there is
# not this one's.
stages() { ls /var/tmp | grep vmsnapfs-import || true; }
stages_before=$(stages)
ln -s "$export_dir/vm" "$MNT/r1/$moved" || fail "import into r1: $(tail -n 2 "$DAEMON_LOG")"
on_exit "virsh -q -c '$U1' destroy '$moved' >/dev/null 2>&1"
assert_eq "$(ls "$T" | xargs)" "$(ls "$MNT/r1/$moved/snapshots" | xargs)" "the snapshots moved"
cmp "$MNT/r1/$moved/snapshots/m2/vda.img" "$T/m2/vda.img" || fail "m2's disk moved"
assert_eq snapshots/m2/memory "$(readlink "$MNT/r1/$moved/resume")" "the moved VM's resume"
mconsole=$(virsh -q -c "$U1" dumpxml "$moved" | sed -n "s|.*<source path='\([^']*console[^']*\)'.*|\1|p" | head -n 1)
start_resumes "$MNT/r1/$moved" "$REMOTE_ROOT/r1/lib/${mconsole#/var/lib/libvirt/}" \
    "$at_m2" "the VM moved to r1"
virsh -q -c "$U1" destroy "$moved" >/dev/null
assert_eq "$stages_before" "$(stages)" "the import's staging in /var/tmp"

# --- r2's libvirtd hangs: the other hosts' ls do not wait for it ---------
r2_pid=$(cat "$REMOTE_ROOT/r2/run/libvirtd.pid")
kill -STOP "$r2_pid"
on_exit "kill -CONT '$r2_pid' 2>/dev/null"
echo start > "$MNT/r2/$B/state" 2>/dev/null &   # a verb on r2 hangs with it
hung=$!
sleep 1
timeout 5 ls -l "$MNT/r1/$A" "$MNT/here/${VM_PREFIX}loc" "$S/s1" >/dev/null ||
    fail "ls of r1 and here waited for the hung r2"
timeout 5 cat "$S/s1/info" "$S/s1/vda.qcow2" >/dev/null ||
    fail "reads on r1 waited for the hung r2"
kill -CONT "$r2_pid"
wait "$hung" || true

# --- r2's libvirtd stops: r2 says so, the others work; it comes back -----
remote_libvirtd_stop r2
unreachable() { grep -qx "state: unreachable" "$MNT/r2/status"; }
wait_for 20 unreachable || fail "r2's status: $(cat "$MNT/r2/status")"
grep -q "^error: ." "$MNT/r2/status" || fail "r2's status says not why"
assert_eq "status" "$(ls "$MNT/r2" | xargs)" "the unreachable host's directory"
assert_eq "status $A $moved" "$(ls "$MNT/r1" | xargs)" "r1 while r2 is down"
mkdir "$S/s3" || fail "mkdir on r1 while r2 is down"
[ -f "$MNT/here/${VM_PREFIX}loc/state" ] || fail "this host while r2 is down"
remote_libvirtd_start r2 16532
back() { [ -d "$MNT/r2/$B" ] && grep -qx "state: connected" "$MNT/r2/status"; }
wait_for 10 back || fail "r2 did not come back within 10 s: $(cat "$MNT/r2/status")"
grep -q "Host 'r2' answers again" "$DAEMON_LOG" || fail "the log does not say r2 is back"

# --- r1: a branch point deleted, the VM shut off -----------------------
# A revert to s1 makes s1's frozen volume the base of two branches: the
# volume s3 froze, and the VM's new one.  rmdir s1 pulls s1's data up into
# both (helper domains on r1): both read as before, s1's files are gone.
virsh -q -c "$U1" destroy "$A" >/dev/null
wait_for 30 is_shut_off "$V" || fail "r1's VM does not show shut off"
ln -sfn snapshots/s1 "$V/active" || fail "revert to s1 on r1"
rm "$V/resume" || fail "rm resume on r1"   # a snapshot resumed is kept
current() { virsh -q -c "$U1" domblklist "$A" | awk '$1 == "vda" { print $2 }'; }
disk_sum() { on_r1 qemu-img convert -U -O raw "$1" /var/lib/libvirt/images/sum.raw &&
    sha256sum < "$D1/images/sum.raw" | cut -d' ' -f1; rm -f "$D1/images/sum.raw"; }
s1_vol=$(sed -n 's/^disk.vda.volume: //p' "$S/s1/info")
sum_s3=$(sha256sum < "$S/s3/vda.img" | cut -d' ' -f1)
sum_vm=$(disk_sum "$(current)")
rmdir "$S/s1" || fail "rmdir of a branch point on r1: $(tail -n 3 "$DAEMON_LOG")"
[ ! -e "$S/s1" ] || fail "s1 still shows"
[ ! -e "$D1/${s1_vol#/var/lib/libvirt/}" ] || fail "s1's frozen volume stays on r1"
assert_eq "$sum_s3" "$(sha256sum < "$S/s3/vda.img" | cut -d' ' -f1)" "s3's disk after"
assert_eq "$sum_vm" "$(disk_sum "$(current)")" "the VM's disk after"
virsh -q -c "$U1" list --all --name | grep -q vmsnapfs-commit && fail "a helper domain stays"

# --- r1: delta files, as test-delta checks them here --------------------
# Known writes between d1 and d2 (data, zeros over data, zeros over
# nothing): d2's delta holds exactly them, read over NBD from a helper
# domain on r1; d1, with no parent, is its whole disk.  An incremental
# backup restores d2 byte for byte; no file of r1 is opened by the daemon,
# and no helper stays.
MB=$((1 << 20))
on_r1 qemu-io -f qcow2 -c "write -q -P 0x11 0 4M" "$(current)" >/dev/null || fail "qemu-io on r1"
mkdir "$S/d1"
on_r1 qemu-io -f qcow2 -c "write -q -P 0x22 8M 1M" -c "write -q -z 0 1M" \
    -c "write -q -P 0x33 20M 1M" -c "write -q -z 30M 1M" "$(current)" >/dev/null ||
    fail "qemu-io on r1"
mkdir "$S/d2"
extents() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join("%d+%d" % (e["offset"] >> 10, e["length"] >> 10) for e in d["extents"]))' \
        "$S/$1/vda.delta.json"
}
assert_eq "0+1024 8192+1024 20480+1024 30720+1024" "$(extents d2)" "d2's extents on r1"
assert_eq "$(wc -c < "$S/d2/vda.delta.json")" "$(stat -c %s "$S/d2/vda.delta.json")" \
    "the size of d2's delta.json"
assert_eq "$(extents d2)" "$(seeks "$S/d2/vda.delta.img")" "d2's delta.img's data by seeks"
bytes() { dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=1M 2>/dev/null; }
( cmp -n $MB "$S/d2/vda.delta.img" /dev/zero &&
  cmp <(bytes "$S/d2/vda.delta.img" $((8 * MB)) $MB) <(bytes "$S/d2/vda.img" $((8 * MB)) $MB) &&
  cmp <(bytes "$S/d2/vda.delta.img" $((MB)) $((3 * MB))) <(head -c $((3 * MB)) /dev/zero) &&
  cmp "$S/d1/vda.delta.img" "$S/d1/vda.img" && touch "$MNT.delta-ok" ) &
on_exit "rm -f '$MNT.delta-ok'"
watch_reader $!
[ -e "$MNT.delta-ok" ] || fail "d2's or d1's delta.img read wrong"
BK=$out/backup
mkdir -p "$BK/d1"
cp --sparse=always "$S/d1/vda.img" "$BK/d1/"; echo "d1 full -" > "$BK/index"
sh "$TOP/examples/incremental-backup.sh" backup "$V" "$BK" >/dev/null ||
    fail "an incremental backup of r1's VM"
assert_eq "d1 full -
d2 delta d1" "$(cat "$BK/index")" "the index of r1's backup"
sh "$TOP/examples/incremental-backup.sh" restore "$BK" d2 vda "$out/d2.raw" >/dev/null
cmp "$out/d2.raw" "$S/d2/vda.img" || fail "the restore of d2 on r1 differs"
no_reader() { ! virsh -q -c "$U1" list --all --name | grep -q vmsnapfs-commit; }
wait_for 30 no_reader || fail "a reader domain stays on r1"

# --- r1: a live merge's progress in jobs -------------------------------
# s4 taken shut off, 40 MiB written on top of it there, the VM started:
# rmdir s4 commits them into s4's volume, and jobs shows it meanwhile.
mkdir "$S/s4"
on_r1 qemu-io -f qcow2 -c "write -q -P 0x44 8M 40M" "$(current)" >/dev/null ||
    fail "qemu-io on r1"
virsh -q -c "$U1" start "$A" >/dev/null
rmdir "$S/s4" &
merging=$!
job_line() { grep -Eq '^vda (commit|active-commit) [0-9]+ [0-9]+ [0-9]+% s4$' "$V/jobs"; }
wait_for 20 job_line || fail "no merge in r1's jobs: '$(cat "$V/jobs")'"
wait "$merging" || fail "rmdir s4 on r1"
[ -z "$(cat "$V/jobs")" ] || fail "jobs after the merge: '$(cat "$V/jobs")'"
exit 0

#!/bin/bash
# ln -s VM/snapshots/NAME NEWVM at the top: an instant clone with memory.
# The link returns with NEWVM defined on thin volumes over the snapshot, and
# a pull into its copy in NEWVM/jobs; NEWVM starts at once, its first start
# resuming the snapshot's memory (the guest's count goes on from the
# snapshot's, no boot) beside the running source, while the pull goes on
# and the source's snapshot may not be merged (EBUSY, a log line naming the
# clone).  The clone's NAME reads as the source's even at the pull's last
# step (its header rewritten before its tables), and a reader of it opened
# meanwhile holds the job's end (the source pinned) until it closes.  When
# the job ends, NEWVM's running disk stands on no file of the
# source, its snapshot NAME reads as the source's, and it stays whole when
# the source is deleted.  Meanwhile no snapshot of the clone is taken
# (EBUSY).  Refusals leave nothing behind.
. "$(dirname "$0")/functions.sh"
requires qemu-io

vm_define clsrc 1 512M
vm=${VM_PREFIX}clsrc
clone=${VM_PREFIX}clone
clone2=${VM_PREFIX}clone2
on_exit "vm_remove '$clone'; vm_remove '$clone2'"
SRC_DIR=$VM_DIR
qemu-io -f qcow2 -c "write -q -P 0x5a 1M 200M" "$VM_DIR/vda.qcow2" >/dev/null
vm_start clsrc
# A disk of 512 MiB (200 of data) at 8 MiB/s: a pull of 60 s or more.
mount_vmsnapfs -o merge_bandwidth=8
S=$MNT/$vm/snapshots
C=$MNT/$clone
wait_for 5 test -d "$S" || fail "the VM does not show"

# clone_count NAME: the last count on clone NAME's console, a file of its
# own beside the source's.
clone_console() { echo "$SRC_DIR/$1.console.log"; }
clone_count() {
    sed -n 's/^count \([0-9][0-9]*\).*/\1/p' "$(clone_console "$1")" 2>/dev/null | tail -n 1
}

wait_for 30 counted_past clsrc 5 || fail "the guest does not count"
mkdir "$S/s1"
at_s1=$(disk_count "$S/s1/vda.img" raw)
[ -n "$at_s1" ] || fail "no count in s1's disk"
files_before=$(ls "$SRC_DIR" | sort)

# Refusals, with nothing left behind.
assert_eq EINVAL "$(errno_of symlink "$vm/state" "$C")" "a link to a file"
assert_eq EINVAL "$(errno_of symlink "$vm/snapshots/nope" "$C")" "a link to no snapshot"
assert_eq EINVAL "$(errno_of symlink "$vm/snapshots" "$C")" "a link to snapshots/"
assert_eq EEXIST "$(errno_of symlink "$vm/snapshots/s1" "$MNT/$vm")" "a VM's name"
assert_eq EINVAL "$(errno_of symlink "$vm/snapshots/s1" "$MNT/.hidden")" "a bad name"
assert_eq "$files_before" "$(ls "$SRC_DIR" | sort)" "files after the refusals"
virsh -q dominfo "$clone" >/dev/null 2>&1 && fail "a refusal defined a VM"

# The clone: a directory at once, its pull in its jobs.
ln -s "$vm/snapshots/s1" "$C" || fail "ln -s of a snapshot at the top"
[ -d "$C" ] && [ ! -L "$C" ] || fail "the clone is not a directory"
pulling() { grep -Eq "^vda pull [0-9]+ [0-9]+ [0-9]+% s1$" "$C/jobs"; }
pulling || fail "no pull in the clone's jobs: '$(cat "$C/jobs")'"
assert_eq shut_off "$(cat "$C/state")" "the clone's state after ln"
assert_eq "snapshots/s1/memory" "$(readlink "$C/resume")" "the clone's resume"
assert_eq EEXIST "$(errno_of symlink "$vm/snapshots/s1" "$C")" "the clone's name again"

# Its first start, at once, resumes s1's memory beside the running source,
# while the pull goes on.
echo start > "$C/state" || fail "the clone does not start while it pulls"
clone_counting() { [ -n "$(clone_count "$1")" ]; }
wait_for 60 clone_counting "$clone" || fail "the clone does not count: $(virsh -q domstate "$clone"): $(tail -c 300 "$(clone_console "$clone")")"
grep -q "vmsnapfs-guest: boot" "$(clone_console "$clone")" && fail "the clone booted"
first=$(sed -n 's/^count \([0-9][0-9]*\).*/\1/p' "$(clone_console "$clone")" | head -n 1)
[ "$first" -ge "$at_s1" ] && [ "$first" -le $((at_s1 + 2)) ] ||
    fail "the clone's first count $first does not follow s1's $at_s1"
assert_eq running "$(virsh -q domstate "$vm")" "the source beside its clone"
[ ! -e "$C/resume" ] || fail "resume stays after the restore"
pulling || fail "the pull ended before the clone ran: make it slower: '$(cat "$C/jobs")'"
assert_eq EBUSY "$(errno_of rmdir "$S/s1")" "rmdir of the source's snapshot meanwhile"
grep -q "snapshot 's1' cannot be deleted while the clone '$clone' is copied" "$DAEMON_LOG" ||
    fail "the log does not name the clone: $(tail -n 2 "$DAEMON_LOG")"
# Nor are the clone's own snapshots changed meanwhile: its job moves its
# disks.
assert_eq EBUSY "$(errno_of mkdir "$C/snapshots/x")" "a snapshot of the clone meanwhile"
grep -q "snapshot 'x' cannot be taken while it is a clone" "$DAEMON_LOG" ||
    fail "the log does not say why: $(tail -n 2 "$DAEMON_LOG")"
pulling || fail "the pull ended before the refusals were tried: make it slower"

# The pull's last step, as qemu does it: the file it fills is given a header
# without its backing file before all of its tables reach the file, and a
# reader of that file then sees zeros where the tables lag.  Stopped there
# (the helper's qemu frozen, the header as qemu leaves it), the clone's s1
# still reads as the source's: readers never read the file the pull fills.
helper=vmsnapfs-commit-$(virsh -q domuuid "$clone" | cut -c1-8)-vda
hpid=$(cat "/run/libvirt/qemu/$helper.pid") || fail "no helper domain pulls"
pulled=$(virsh -q domblklist "$helper" | awk '$1 == "vda" { print $2 }')
[ -f "$pulled" ] || fail "the helper's disk '$pulled' is not a file"
on_exit "kill -CONT $hpid 2>/dev/null"
kill -STOP "$hpid"
header=$(od -An -tx1 -j8 -N12 "$pulled" | tr -d ' \n')
head -c 12 /dev/zero | dd of="$pulled" bs=1 seek=8 conv=notrunc status=none
cmp -n $((210 << 20)) "$C/snapshots/s1/vda.img" "$S/s1/vda.img"
same=$?
printf "$(echo "$header" | sed 's/../\\x&/g')" |
    dd of="$pulled" bs=1 seek=8 conv=notrunc status=none
kill -CONT "$hpid"
assert_eq 0 "$same" "the clone's s1 compared with the source's as the pull ends"
pulling || fail "the pull ended before its end was played: make it slower"

# A reader of the clone's s1 opened during the pull reads the source's
# files: the job ends, and unpins them, only once it has closed.
exec 3< "$C/snapshots/s1/vda.img"
ending() { grep -q -e "snapshot 's1' is open, read from" -e "VM '$clone': independent" "$DAEMON_LOG"; }
wait_for 150 ending || fail "the job does not end: $(cat "$C/jobs"): $(tail -n 3 "$DAEMON_LOG")"
grep -q "VM '$clone': its snapshot 's1' is open, read from '$vm'; the job ends once it is closed" "$DAEMON_LOG" ||
    fail "the job ended under a reader of the source's files: $(tail -n 3 "$DAEMON_LOG")"
assert_eq EBUSY "$(errno_of rmdir "$S/s1")" "rmdir of the source's snapshot while the clone's is open"
exec 3<&-

# The job ends: the running clone stands on no file of its source.
independent() { grep -q "VM '$clone': independent of '$vm' snapshot 's1'" "$DAEMON_LOG"; }
wait_for 150 independent || fail "the job does not end: $(cat "$C/jobs"): $(tail -n 3 "$DAEMON_LOG")"
no_jobs() { [ -z "$(cat "$1/jobs")" ]; }
wait_for 10 no_jobs "$C" || fail "jobs after the job: $(cat "$C/jobs")"
assert_eq "s1" "$(ls "$C/snapshots")" "the clone's snapshots"
ls "$SRC_DIR" | grep -Eq '\.(part|pull)$|\.thin\.qcow2$' && fail "a .part, .pull or thin top is left"
top=$(virsh -q domblklist "$clone" | awk '$1 == "vda" { print $2 }')
inactive=$(virsh -q domblklist --inactive "$clone" | awk '$1 == "vda" { print $2 }')
assert_eq "$top" "$inactive" "the clone's disk, running and defined"
chain=$(qemu-img info -U --backing-chain -f qcow2 "$top" | sed -n 's/^image: //p')
assert_eq 2 "$(echo "$chain" | wc -l)" "images in the clone's chain: $chain"
for f in $chain; do
    case $f in "$SRC_DIR/$clone".*) ;; *) fail "the clone's chain holds '$f'" ;; esac
done
cmp "$C/snapshots/s1/vda.img" "$S/s1/vda.img" || fail "the clone's disk at s1 differs"
[ "$(virsh -q domuuid "$clone")" != "$(virsh -q domuuid "$vm")" ] || fail "the same UUID"
clone_past() { [ "$(clone_count "$1")" -gt "$2" ]; }
n=$(clone_count "$clone")
wait_for 10 clone_past "$clone" $((n + 2)) || fail "the clone stopped counting after its switch"

# The source deleted: the clone lives on, from its own disks.
virsh -q destroy "$vm" >/dev/null
rmdir "$S/s1"
virsh -q undefine "$vm" >/dev/null
for f in "$SRC_DIR"/*; do
    case ${f##*/} in "$clone".*|"$clone2".*) ;; *) rm -f "$f" ;; esac
done
n=$(clone_count "$clone")
wait_for 10 clone_past "$clone" $((n + 3)) || fail "the clone stopped"
virsh -q destroy "$clone" >/dev/null
echo start > "$C/state"
wait_for 60 grep -q "vmsnapfs-guest: boot disk=" "$(clone_console "$clone")" ||
    fail "the clone does not boot without its source"
booted=$(sed -n 's/^vmsnapfs-guest: boot disk=\([0-9]*\).*/\1/p' "$(clone_console "$clone")" | tail -n 1)
[ "$booted" -gt "$at_s1" ] || fail "the clone booted from count $booted, not its own disk"
virsh -q destroy "$clone" >/dev/null

#!/bin/bash
# An instant restore on this machine: `ln -s /backup/dir MOUNT/NEW` of an
# exported snapshot returns with NEW defined on thin volumes over the
# backup's disk, served read-only over NBD from a descriptor the caller's
# rights opened, and a pull in NEW/jobs.  NEW starts at once, resuming the
# snapshot's memory (its guest counts on, no boot), while the pull goes on.
# The daemon killed with SIGKILL mid-pull: NEW runs on (through the
# server, which outlives the daemon), and the next daemon finishes the job.
# Then the log says the directory may be removed, the server is gone, no
# file of the backup nor NBD is in NEW's chain, the backup's directory is
# removed, and NEW boots again from its own disks.  NEW's snapshot read
# whole during the pull has the backup's bytes.  A second restore whose VM
# is undefined while its job runs has its server stopped.  A daemon that
# starts stops a server left after a restore ended, and leaves the server
# of an import under way in another daemon (held there by gdb).  A disk of a
# partial sector is EINVAL, as for a copy.
# alone: leaves a restore's record for the next daemon that starts, any test's
. "$(dirname "$0")/functions.sh"
requires qemu-io rsync gdb qemu-storage-daemon

vm_define rsrc 1 256M
vm=${VM_PREFIX}rsrc
new=${VM_PREFIX}rnew
new2=${VM_PREFIX}rnew2
new3=${VM_PREFIX}rnew3
on_exit "vm_remove '$new'; vm_remove '$new2'; vm_remove '$new3'"
qemu-io -f qcow2 -c "write -q -P 0x5a 1M 120M" "$VM_DIR/vda.qcow2" >/dev/null
vm_start rsrc
mount_vmsnapfs -o merge_bandwidth=4
S=$MNT/$vm/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
mkdir "$S/s1"
at_s1=$(disk_count "$S/s1/vda.img" raw)
W=$(mktemp -d /var/tmp/vmsnapfs-restore.XXXXXX)
on_exit "rm -rf '$W'"
rsync -a --sparse "$S/s1/" "$W/one/" || fail "rsync of a snapshot"
sum1=$(sha256sum < "$W/one/vda.img")
# A disk of a partial sector is refused as a copy refuses it: EINVAL, with
# nothing defined.
cp -a --sparse=always "$W/one" "$W/odd"
size=$(stat -c %s "$W/odd/vda.img")
truncate -s +1 "$W/odd/vda.img"
sed -i "s/\b$size\b/$((size + 1))/g" "$W/odd/info.json"
assert_eq EINVAL "$(errno_of symlink "$W/odd" "$MNT/${VM_PREFIX}rodd")" \
    "a restore of a disk of a partial sector"
virsh -q dominfo "${VM_PREFIX}rodd" >/dev/null 2>&1 && fail "a refused restore defined a VM"
grep -q "is no whole disk" "$DAEMON_LOG" || fail "the log does not say why: $(tail -n 2 "$DAEMON_LOG")"
rm -rf "$W/odd"
virsh -q destroy "$vm" >/dev/null

N=$MNT/$new
pulling() { grep -Eq "^vda pull [0-9]+ [0-9]+ [0-9]+% s1$" "$MNT/$new/jobs"; }
no_jobs() { [ -z "$(cat "$MNT/$new/jobs")" ]; }
t0=$(date +%s%N)
ln -s "$W/one" "$N" || fail "ln -s of the backup: $(tail -n 2 "$DAEMON_LOG")"
ms=$((($(date +%s%N) - t0) / 1000000))
wait_for 10 pulling || fail "no pull in NEW's jobs after ln: '$(cat "$N/jobs")'"
grep -q "VM '$new': it runs on '$W/one' until its volumes are whole" "$DAEMON_LOG" ||
    fail "the log does not say the directory must stay"
# NEW's snapshot read whole while the pull writes into its copy: s1's bytes.
assert_eq "$sum1" "$(sha256sum < "$N/snapshots/s1/vda.img")" "NEW's s1 read during the pull"
pulling || fail "the pull ended before NEW's disk was read: make it slower"
console=$(virsh dumpxml "$new" | sed -n "s/.*<source path='\([^']*console[^']*\)'.*/\1/p" | head -n 1)
echo start > "$N/state" || fail "NEW does not start at once: $(tail -n 2 "$DAEMON_LOG")"
counting() { grep -q "^count " "$console"; }
count_of() { sed -n 's/^count \([0-9][0-9]*\).*/\1/p' "$console" | tail -n 1; }
past() { [ "$(count_of)" -gt "$1" ]; }
wait_for 60 counting || fail "NEW does not count: $(tail -c 300 "$console")"
grep -q "vmsnapfs-guest: boot" "$console" && fail "NEW booted"
first=$(sed -n 's/^count \([0-9][0-9]*\).*/\1/p' "$console" | head -n 1)
[ "$first" -ge "$at_s1" ] && [ "$first" -le $((at_s1 + 2)) ] ||
    fail "NEW's first count $first does not follow s1's $at_s1"
top=$(virsh -q domblklist "$new" | awk '$1 == "vda" { print $2 }')
qemu-img info -U --backing-chain -f qcow2 "$top" | grep -q '^image: nbd+unix' ||
    fail "NEW does not run on the backup's export"
pulling || fail "the pull ended before NEW ran: make it slower ($ms ms for ln)"

# Killed mid-pull: NEW runs on, the next daemon finishes the job.
kill -KILL "$DAEMON_PID"
stop_vmsnapfs
assert_eq running "$(virsh -q domstate "$new")" "NEW after the kill"
n=$(count_of)
wait_for 20 past "$n" || fail "NEW stopped counting with the daemon"
mount_vmsnapfs -o merge_bandwidth=64
N=$MNT/$new
wait_for 10 test -d "$N" || fail "NEW is gone after the restart"
grep -q "VM '$new': carrying on its restore from '$W/one'" "$DAEMON_LOG" ||
    fail "no recovery in the log: $(tail -n 3 "$DAEMON_LOG")"
wait_for 120 no_jobs || fail "the job was not finished: $(cat "$N/jobs")"
done_line="VM '$new': restored; $W/one may be removed."
wait_for 10 grep -qF "$done_line" "$DAEMON_LOG" ||
    fail "the log does not say the directory may be removed: $(tail -n 3 "$DAEMON_LOG")"
serve_runs "$(virsh domuuid "$new" | head -n 1)" && fail "the backup's server runs on"

# A restore whose VM is removed while its job runs: its server stops.
ln -s "$W/one" "$MNT/$new2" || fail "ln -s of the backup again: $(tail -n 2 "$DAEMON_LOG")"
uuid2=$(virsh domuuid "$new2" | head -n 1)
on_exit "serve_remove '$uuid2'"
serve_runs "$uuid2" || fail "no server for the second restore"
virsh -q undefine "$new2" --snapshots-metadata >/dev/null
not_served() { ! serve_runs "$uuid2"; }
wait_for 60 not_served || fail "the server of a removed restore runs on"
wait_for 10 grep -Eq "VM '$new2': (it was removed while its job ran|the clone went away)" "$DAEMON_LOG" ||
    fail "the log does not say the job ended: $(tail -n 3 "$DAEMON_LOG")"

# The servers a daemon that starts stops, and those it leaves.  A server
# left by a daemon killed after NEW's restore ended, but before it stopped
# the server, is stopped; the server of a restore under way in another
# daemon is left, however long its import has run: gdb holds that daemon
# between the start of its server and the definition of its VM, and the
# server's files are aged past any grace a daemon could give by age.
uuid1=$(virsh domuuid "$new" | head -n 1)
sock1=/run/vmsnapfs-serve/$uuid1.sock
on_exit "serve_remove '$uuid1'"
qemu-storage-daemon --nbd-server "addr.type=unix,addr.path=$sock1" \
    --pidfile "$sock1.pid" --daemonize || fail "a left server does not start"
serve_runs "$uuid1" || fail "the left server does not run"
before=$(ls /run/vmsnapfs-serve | grep '\.sock$' | sort)
hold_daemon "$DAEMON_PID" import_served_disks
ln -s "$W/one" "$MNT/$new3" 2>"$W/ln3.err" &
LN_PID=$!
wait_held
virsh -q dominfo "$new3" >/dev/null 2>&1 && fail "the held import defined its VM already"
sock3=$(comm -13 <(echo "$before") <(ls /run/vmsnapfs-serve | grep '\.sock$' | sort))
[ "$(echo "$sock3" | grep -c .)" = 1 ] || fail "not one new server for the held import: '$sock3'"
uuid3=${sock3%.sock}
sock3=/run/vmsnapfs-serve/$sock3
on_exit "serve_remove '$uuid3'"
serve_runs "$uuid3" || fail "no server for the held import"
touch -c -h -d '-1 hour' "$sock3" "$sock3.pid"
mount_second_vmsnapfs
# Its recovery, the sweep included, is over once it says it is mounted.
wait_for 30 grep -q "Mounted '" "$L2" || fail "the second daemon did not start: $(tail -n 3 "$L2")"
serve_runs "$uuid3" || fail "a daemon that started stopped the server of an import under way"
serve_runs "$uuid1" && fail "a daemon that started left the server of an ended restore"
grep -q "restore that ended or was cut short (VM $uuid1) is stopped" "$L2" ||
    fail "the second daemon's log does not say which server it stopped: $(tail -n 3 "$L2")"
let_go
wait "$LN_PID" || fail "the held restore failed: $(cat "$W/ln3.err"; tail -n 3 "$DAEMON_LOG")"
N3=$MNT/$new3
no_jobs3() { [ -z "$(cat "$N3/jobs")" ]; }
wait_for 120 no_jobs3 || fail "the held restore's job did not end: $(cat "$N3/jobs")"
wait_for 10 grep -qF "VM '$new3': restored; $W/one may be removed." "$DAEMON_LOG" ||
    fail "the held restore did not end: $(tail -n 3 "$DAEMON_LOG")"
not_served3() { ! serve_runs "$uuid3"; }
wait_for 10 not_served3 || fail "the held restore's server runs on"
rm -rf "$W/one"
top=$(virsh -q domblklist "$new" | awk '$1 == "vda" { print $2 }')
inactive=$(virsh -q domblklist --inactive "$new" | awk '$1 == "vda" { print $2 }')
assert_eq "$top" "$inactive" "NEW's disk, running and defined"
chain=$(qemu-img info -U --backing-chain -f qcow2 "$top" | sed -n 's/^image: //p')
for f in $chain; do
    case $f in "/var/lib/libvirt/images/$new/"*) ;; *) fail "NEW's chain holds '$f'" ;; esac
done
virsh dumpxml "$new" | grep -q "nbd" && fail "NEW's live XML names NBD"
ls "/var/lib/libvirt/images/$new" | grep -Eq '\.(part|pull)$|\.thin\.qcow2$' &&
    fail "a .part, .pull or thin top is left: $(ls "/var/lib/libvirt/images/$new")"
assert_eq "$sum1" "$(sha256sum < "$N/snapshots/s1/vda.img")" "NEW's s1 read with the backup gone"
n=$(count_of)
wait_for 20 past "$n" || fail "NEW stopped counting after its switch"
virsh -q destroy "$new" >/dev/null
wait_for 10 is_shut_off "$N" || fail "NEW does not stop"
mark=$(wc -l < "$console")
counting_again() { tail -n +$((mark + 1)) "$console" | grep -q "^count "; }
echo start > "$N/state" || fail "NEW does not start from its own disks"
wait_for 60 counting_again || fail "NEW does not count from its own disks"
virsh -q destroy "$new" >/dev/null

#!/bin/bash
# An import is an operation like the others:
#   - two imports of one name at once, by two daemons of the host, give one
#     VM and one EEXIST, the VM's volumes whole (qemu-img check);
#   - an import whose caller gives up (a signal: the kernel's FUSE
#     interrupt) stops its copy, returns EINTR and leaves nothing;
#   - an import cut short by kill -9 of the daemon leaves nothing once a
#     daemon runs again (the record the import keeps in the new VM's
#     directory names every file it made), no VM, and the name is free;
#   - an import that ends while another daemon starts, after that daemon
#     read its record, is left whole.
# alone: kills its daemon mid-import and leaves a record that the next daemon
# to start, any test's, rolls back.
# The copy of a volume is held (hold.py: its open by the copy waits while a
# flag file exists), so that each of these happens mid-copy.  (Two links
# in one mount's directory do not overlap: the kernel makes them one after
# the other.)
. "$(dirname "$0")/functions.sh"
requires rsync gdb

W=$(mktemp -d /var/tmp/vmsnapfs-io.XXXXXX)
on_exit "rm -rf '$W'"
install -m 0755 "$TOP/tests/integration/hold.py" "$W/hold.py"

# slow SNAPSHOT: the copy of SNAPSHOT's volume waits (its second open: the
# first is the import's look at it) until unslow; copying: one waits now.
slow() {
    rm -f "$W/slow.held" "$W/hold.out"
    touch "$W/slow"
    python3 "$W/hold.py" "$W/vm/snapshots/$1/vda.qcow2" 2 "$W/slow" >"$W/hold.out" 2>&1 &
    hold_pid=$!
    on_exit "rm -f '$W/slow'; wait $hold_pid 2>/dev/null || true"
    wait_for 30 grep -q ready "$W/hold.out" || fail "hold.py: $(cat "$W/hold.out")"
}
unslow() {
    rm -f "$W/slow"
    wait "$hold_pid" || fail "hold.py: $(cat "$W/hold.out")"
}
copying() {
    wait_for 30 test -s "$W/slow.held"
}

vm_define io 1 16M
vm=${VM_PREFIX}io
mount_vmsnapfs
mount_second_vmsnapfs
wait_for 5 test -d "$MNT/$vm/snapshots" || fail "the VM does not show"
mkdir "$MNT/$vm/snapshots/s1" "$MNT/$vm/snapshots/s2"
rsync -a --sparse --exclude '*.img' "$MNT/$vm/" "$W/vm/" || fail "rsync of the VM"
[ -f "$W/vm/snapshots/s1/vda.qcow2" ] && [ -f "$W/vm/snapshots/s2/vda.qcow2" ] ||
    fail "the export has not the volumes the test holds: $(cd "$W/vm" && find . | xargs)"
new=${VM_PREFIX}io-new
D=/var/lib/libvirt/images/$new
on_exit "vm_remove '$new'"

# --- two imports of one name at once -----------------------------------------
slow s1
errno_of symlink "$W/vm" "$MNT/$new" > "$W/r1" &
p1=$!
copying || fail "the first import does not copy"
errno_of symlink "$W/vm" "$M2/$new" > "$W/r2" &
p2=$!
wait_for 30 test -s "$W/r2" || true # refused at once, or not
unslow
wait $p1 $p2
assert_eq "OK EEXIST" "$(cat "$W/r1" "$W/r2" | xargs)" \
    "an import, and one of its name by another daemon meanwhile"
for f in "$D"/*.qcow2; do
    qemu-img check -q "$f" || fail "'$f' of the import is not whole"
done
assert_eq "s1 s2" "$(ls "$MNT/$new/snapshots" | xargs)" "the imported snapshots"
[ ! -e "$D/.vmsnapfs-import" ] || fail "a whole import keeps its record"
vm_remove "$new"

# --- an import given up mid-copy ---------------------------------------------
slow s1
errno_of symlink-interrupted 1 "$W/vm" "$MNT/$new" > "$W/r" &
p1=$!
copying || fail "the import does not copy"
wait_for 30 test -s "$W/r" || true # given up at once, or not
unslow
wait $p1
assert_eq EINTR "$(cat "$W/r")" "an import interrupted by a signal"
virsh -q dominfo "$new" >/dev/null 2>&1 && fail "the interrupted import defined a VM"
[ ! -e "$D" ] || fail "the interrupted import left: $(ls -A "$D" | xargs)"
grep -q "Import: '$new' interrupted by its caller" "$DAEMON_LOG" ||
    fail "the log does not say the import was interrupted"

# --- an import cut short by kill -9 ------------------------------------------
slow s2 # the import under way, its record made
errno_of symlink "$W/vm" "$MNT/$new" > "$W/r" &
ln_pid=$!
copying || fail "the import does not copy"
[ -e "$D/.vmsnapfs-import" ] || fail "the import keeps no record in '$D'"
kill -KILL "$DAEMON_PID"
unslow
wait "$ln_pid" || true
stop_vmsnapfs
[ -e "$D/.vmsnapfs-import" ] ||
    fail "the killed import left not what the test means: $(ls -A "$D" | xargs)"
mount_vmsnapfs
wait_for 30 test ! -e "$D" || fail "the cut-short import left: $(ls -A "$D" | xargs)"
virsh -q dominfo "$new" >/dev/null 2>&1 && fail "the cut-short import defined a VM"
grep -q "Import of '$new' into '$D' was cut short" "$DAEMON_LOG" ||
    fail "the log does not say the import was rolled back"
assert_eq OK "$(errno_of symlink "$W/vm" "$MNT/$new")" \
    "the import again: $(tail -n 1 "$DAEMON_LOG")"
assert_eq "s1 s2" "$(ls "$MNT/$new/snapshots" | xargs)" "the import again"
# --- an import that ends while another daemon starts -------------------------
# A daemon that starts reads the record of an import under way in another
# (gdb holds it there, before it takes the import's name), and goes on
# once that import has ended well: it finds the record gone and leaves the
# new VM and its files alone, where it rolled them back.
vm_remove "$new"
slow s1
errno_of symlink "$W/vm" "$MNT/$new" > "$W/r" &
ln_pid=$!
copying || fail "the import does not copy"
[ -e "$D/.vmsnapfs-import" ] || fail "the import keeps no record in '$D'"
mount_held_vmsnapfs import_name_take if \$_streq\(name, \"$new\"\)
unslow
wait "$ln_pid"
assert_eq OK "$(cat "$W/r")" "the import while a daemon started"
[ ! -e "$D/.vmsnapfs-import" ] || fail "the whole import keeps its record"
files=$(ls "$D" | xargs)
release_held
grep -q "Import of '$new' is no longer under way" "$L3" ||
    fail "the third daemon does not say the import ended: $(grep vmsnapfs: "$L3" | tail -n 5)"
virsh -q dominfo "$new" >/dev/null 2>&1 || fail "the third daemon undefined the whole import"
assert_eq "$files" "$(ls "$D" 2>/dev/null | xargs)" "the whole import's files after the third daemon's start"
assert_eq "s1 s2" "$(ls "$M3/$new/snapshots" | xargs)" "the import in the third mount"
stop_held
exit 0

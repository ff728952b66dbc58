#!/bin/bash
# Renaming a snapshot directory renames the snapshot: its children stand on
# the new name, the current snapshot stays current, its files stay the same
# bytes, and preview follows it.  Bad renames get SPEC's errnos and change
# nothing.  A rename a killed daemon left half done is finished at start.
. "$(dirname "$0")/functions.sh"

vm_define ren
vm_start ren
mount_vmsnapfs
vm=${VM_PREFIX}ren
V=$MNT/$vm
S=$V/snapshots
wait_for 60 guest_counting ren || fail "the guest does not count"
take_snapshots "$S" s1 s2 s3

names() { virsh -q snapshot-list "$vm" --name | xargs; }
parent() { virsh snapshot-parent "$vm" "$1"; }
saved=$(mktemp /var/tmp/vmsnapfs-ren.XXXXXX)
on_exit "rm -f '$saved' '$saved.mem'"
cp "$S/s2/vda.qcow2" "$saved"
cp "$S/s2/memory" "$saved.mem"

# A snapshot in the middle of the chain, with its directory and a file in
# it open across the rename.
python3 - "$S/s2" "$S/mid" <<'PY' > "$saved.open" &
import os, sys, time
d = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
f = os.open(sys.argv[1] + "/info", os.O_RDONLY)
print("open", flush=True)
while os.path.exists(sys.argv[1]):
    time.sleep(0.1)
time.sleep(0.5)  # past the kernel's attribute cache
print(" ".join(sorted(os.listdir(d))), os.lseek(f, 0, os.SEEK_END) > 0)
PY
opener=$!
on_exit "kill $opener 2>/dev/null || true; rm -f '$saved.open'"
wait_for 10 grep -q open "$saved.open" || fail "the opener did not start"
mv "$S/s2" "$S/mid" || fail "mv s2 mid"
# RENAME_NOREPLACE onto a snapshot that exists: EEXIST, both kept.
assert_eq EEXIST "$(errno_of rename-noreplace "$S/mid" "$S/s1")" "RENAME_NOREPLACE onto s1"
[ -d "$S/mid" ] && [ -d "$S/s1" ] || fail "RENAME_NOREPLACE lost a snapshot"
# mv asks for RENAME_NOREPLACE first: taken, with no failure in the log.
! grep -q "rename snapshots/s2 -> snapshots/mid: " "$DAEMON_LOG" ||
    fail "mv's first try failed: $(grep "rename snapshots/s2" "$DAEMON_LOG")"
wait "$opener" || fail "the directory or file open across the rename"
assert_eq "domain.xml info info.json memory vda.delta.img vda.delta.json vda.img vda.qcow2 True" \
    "$(tail -n 1 "$saved.open")" "what the opens read after the rename"
assert_eq "mid s1 s3" "$(names)" "libvirt's snapshots after the rename"
assert_eq "mid s1 s3" "$(ls "$S" | xargs)" "the directory after the rename"
assert_eq mid "$(parent s3)" "the child's parent in libvirt"
assert_eq s1 "$(parent mid)" "the renamed snapshot's parent"
grep -qx "parent: mid" "$S/s3/info" || fail "s3/info does not name mid"
grep -qx "name: mid" "$S/mid/info" || fail "mid/info does not say its name"
cmp "$saved" "$S/mid/vda.qcow2" || fail "the frozen volume changed"
cmp "$saved.mem" "$S/mid/memory" || fail "the memory file changed"
assert_eq ENOENT "$(errno_of open "$S/s2/info" r)" "the old name"

# The current snapshot stays current.
mv "$S/s3" "$S/top" || fail "mv s3 top"
assert_eq top "$(virsh snapshot-current "$vm" --name)" "the current snapshot"
assert_eq snapshots/top "$(readlink "$V/active")" "active"
assert_eq top "$(virsh -q snapshot-list "$vm" --leaves --name | xargs)" \
    "the leaf"

# Bad renames.
before=$(names)
long=$(printf 'n%.0s' $(seq 129))
assert_eq EEXIST "$(errno_of rename "$S/s1" "$S/top")" "onto a snapshot"
assert_eq EINVAL "$(errno_of rename "$S/s1" "$S/.hidden")" "a bad name"
assert_eq ENAMETOOLONG "$(errno_of rename "$S/s1" "$S/$long")" "a long name"
assert_eq EINVAL "$(errno_of rename "$S/s1" "$V/s1")" "out of snapshots/"
assert_eq EINVAL "$(errno_of rename "$S/s1/info" "$S/s1/x")" "a file in it"
assert_eq ENOENT "$(errno_of rename "$S/nope" "$S/x")" "no such snapshot"
exec 3<"$S/s1/vda.img"
assert_eq EBUSY "$(errno_of rename "$S/s1" "$S/first")" "its whole disk open"
exec 3<&-
assert_eq "$before" "$(names)" "bad renames changed the snapshots"
grep -q "rename snapshots/s1 -> snapshots/.hidden: EINVAL: '.hidden' is not a valid snapshot name" "$DAEMON_LOG" ||
    fail "no clear line in the log for a bad name"

# A previewed snapshot: preview follows, and undo works.
echo destroy > "$V/state"
wait_for 30 grep -qx shut_off "$V/state" || fail "the VM did not stop"
ln -sfn snapshots/s1 "$V/preview" || fail "preview s1"
mv "$S/s1" "$S/first" || fail "mv s1 first while previewed"
assert_eq snapshots/first "$(readlink "$V/preview")" "preview after the rename"
assert_eq first "$(parent mid)" "mid's parent"
rm "$V/preview" || fail "undo the preview"
assert_eq top "$(virsh snapshot-current "$vm" --name)" "current after undo"

# A rename recorded and half done (the snapshot defined under its new name,
# the children not moved) when the daemon died: the next one finishes it.
stop_vmsnapfs
virsh snapshot-dumpxml --security-info "$vm" mid |
    sed 's|<name>mid</name>|<name>middle</name>|' > "$saved.xml"
on_exit "rm -f '$saved.xml'"
virsh -q snapshot-create "$vm" "$saved.xml" --redefine >/dev/null
virsh -q metadata "$vm" https://vmsnapfs.org/xmlns/domain/1 --key vmsnapfs \
    --set "<vmsnapfs><rename from='mid' to='middle'/></vmsnapfs>" --config
mount_vmsnapfs
wait_for 10 test -d "$MNT/$vm/snapshots/middle" || fail "middle does not show"
wait_for 10 eval '[ "$(names)" = "first middle top" ]' ||
    fail "the rename was not finished: $(names)"
assert_eq middle "$(parent top)" "top's parent after the recovery"
assert_eq top "$(virsh snapshot-current "$vm" --name)" "current after recovery"
! virsh metadata "$vm" https://vmsnapfs.org/xmlns/domain/1 | grep -q rename ||
    fail "the rename record is left"
cmp "$saved" "$MNT/$vm/snapshots/middle/vda.qcow2" ||
    fail "the frozen volume changed"

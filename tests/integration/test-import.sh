#!/bin/bash
# Export and import, as oVirt's export domain: rsync out, ln -s back.
#
# A memory snapshot, a preview, a commit; the whole VM exported with rsync,
# the VM undefined, and imported back: the same snapshot tree, the same
# disks, active and resume, and the first start resumes the snapshot's
# memory.  One snapshot's directory imported as a new VM resumes too.
# Directories missing a disk, of a wrong size, with a broken chain or a
# domain libvirt refuses, a domain.xml over 1 MiB, XML and JSON over
# 64 MiB in all, or a snapshot name mkdir would refuse: EINVAL and nothing
# left; a user who may not read the
# files: EACCES.
. "$(dirname "$0")/functions.sh"
requires rsync

vm_define exp 1 64M
vm=${VM_PREFIX}exp
vm2=${VM_PREFIX}exp1snap
bad=${VM_PREFIX}expbad
on_exit "vm_remove '$vm2'; vm_remove '$bad'"
vm_start exp
mount_vmsnapfs
V=$MNT/$vm
S=$V/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
wait_for 30 counted_past exp 5 || fail "the guest does not count"
mkdir "$S/s1"
at_s1=$(disk_count "$S/s1/vda.img" raw)
wait_for 30 counted_past exp $((at_s1 + 10)) || fail "the guest stopped"
mkdir "$S/s2"
at_s2=$(disk_count "$S/s2/vda.img" raw)
echo destroy > "$V/state"
wait_for 10 is_shut_off "$V" || fail "the VM does not stop"
ln -sfn snapshots/s1 "$V/preview"
ln -sfn snapshots/s1 "$V/active"            # commit the preview
assert_eq snapshots/s1/memory "$(readlink "$V/resume")" "resume before the export"
sum1=$(sha256sum < "$S/s1/vda.img")
sum2=$(sha256sum < "$S/s2/vda.img")

W=$(mktemp -d /var/tmp/vmsnapfs-import.XXXXXX)
on_exit "rm -rf '$W'"
rsync -a --sparse --exclude '*.img' "$V/" "$W/vm/" || fail "rsync of the VM"
rsync -a --sparse "$S/s2/" "$W/one/" || fail "rsync of a snapshot"

# --- the whole VM, imported back under its own name ----------------------
vm_remove "$vm"
wait_for 10 test ! -e "$V" || fail "the VM still shows"
ln -s "$W/vm" "$V" || fail "ln -s of the export: $(tail -n 2 "$DAEMON_LOG")"
[ -d "$V" ] && [ ! -L "$V" ] || fail "the import is not a directory"
assert_eq "s1 s2" "$(ls "$S" | tr '\n' ' ' | sed 's/ $//')" "the imported snapshots"
assert_eq s1 "$(virsh -q snapshot-parent "$vm" s2)" "s2's parent"
assert_eq snapshots/s1 "$(readlink "$V/active")" "active after the import"
assert_eq snapshots/s1/memory "$(readlink "$V/resume")" "resume after the import"
assert_eq "$sum1" "$(sha256sum < "$S/s1/vda.img")" "s1's disk after the import"
assert_eq "$sum2" "$(sha256sum < "$S/s2/vda.img")" "s2's disk after the import"
[ -s "$S/s2/memory" ] || fail "s2's memory after the import"
mark=$(console_mark exp 2>/dev/null || echo 0)
echo start > "$V/state"
wait_for 60 counting_since exp "$mark" || fail "the import does not count"
first=$(first_count_since exp "$mark")
[ -z "$(boot_disk_since exp "$mark")" ] || fail "the import booted"
[ "$first" -ge "$at_s1" ] && [ "$first" -le $((at_s1 + 2)) ] ||
    fail "the import's first count $first does not follow s1's $at_s1"
echo destroy > "$V/state"

# --- one snapshot, as a new VM --------------------------------------------
ln -s "$W/one" "$MNT/$vm2" || fail "ln -s of one snapshot: $(tail -n 2 "$DAEMON_LOG")"
assert_eq s2 "$(ls "$MNT/$vm2/snapshots")" "the one snapshot's name"
assert_eq "$sum2" "$(sha256sum < "$MNT/$vm2/snapshots/s2/vda.img")" "its disk"
console2=$(virsh dumpxml "$vm2" | sed -n "s/.*<source path='\([^']*console[^']*\)'.*/\1/p" | head -n 1)
[ -n "$console2" ] && [ "$console2" != "/var/lib/libvirt/images/$vm/console.log" ] ||
    fail "the new VM writes its console to '$console2'"
echo start > "$MNT/$vm2/state"
clone_counting() { grep -q "^count " "$console2"; }
wait_for 60 clone_counting || fail "the one-snapshot import does not count"
grep -q "vmsnapfs-guest: boot" "$console2" && fail "the one-snapshot import booted"
first=$(sed -n 's/^count \([0-9][0-9]*\).*/\1/p' "$console2" | head -n 1)
[ "$first" -ge "$at_s2" ] && [ "$first" -le $((at_s2 + 2)) ] ||
    fail "its first count $first does not follow s2's $at_s2"
virsh -q destroy "$vm2" >/dev/null

# --- refusals: EINVAL, nothing defined, nothing left ------------------------
refused() {
    assert_eq "$1" "$(errno_of symlink "$2" "$MNT/$bad")" "$3"
    virsh -q dominfo "$bad" >/dev/null 2>&1 && fail "$3: a VM is defined"
    [ ! -e "/var/lib/libvirt/images/$bad" ] || fail "$3: files are left"
}
cp -a "$W/one" "$W/nodisk"; rm -f "$W/nodisk/vda.img" "$W/nodisk/vda.qcow2"
refused EINVAL "$W/nodisk" "a snapshot without its disk"
cp -a "$W/one" "$W/short"; truncate -s 32M "$W/short/vda.img"
refused EINVAL "$W/short" "a disk of the wrong size"
cp -a "$W/vm" "$W/broken"; rm -rf "$W/broken/snapshots/s1"
ln -sfn snapshots/s2 "$W/broken/active"
refused EINVAL "$W/broken" "a broken parent chain"
cp -a "$W/one" "$W/baddom"; sed -i "s/<domain type=.qemu./<domain type='nonsense'/" "$W/baddom/domain.xml"
refused EINVAL "$W/baddom" "a domain libvirt refuses"
refused EINVAL "$W/nonexistent" "no such directory"
# domain.xml and info.json are read into memory: 1 MiB each at most, and
# 64 MiB in all (66 snapshots of 1000 KiB each).
cp -a "$W/one" "$W/bigxml"
head -c 2M /dev/zero | tr '\0' ' ' >> "$W/bigxml/domain.xml"
refused EINVAL "$W/bigxml" "a domain.xml of 2 MiB"
grep -q "Import: '$W/bigxml/domain.xml' is too large" "$DAEMON_LOG" ||
    fail "the log does not say domain.xml is too large"
mkdir -p "$W/manyxml/snapshots"
head -c 1000K /dev/zero | tr '\0' ' ' > "$W/pad"
for i in $(seq 66); do
    cp -a --sparse=always "$W/vm/snapshots/s1" "$W/manyxml/snapshots/s$i"
    cat "$W/pad" >> "$W/manyxml/snapshots/s$i/domain.xml"
done
ln -s snapshots/s1 "$W/manyxml/active"
refused EINVAL "$W/manyxml" "66 domain.xml of 1000 KiB"
grep -q "Import: '$W/manyxml' is too large: its XML and JSON pass 64 MiB" "$DAEMON_LOG" ||
    fail "the log does not say the export's XML is too large in all"
# Snapshot names in info.json pass mkdir's check before any use: a '/',
# a '..', a name over 128 bytes, in a name or a parent's, are EINVAL.
badname() { # DIR SNAPSHOT KEY VALUE
    cp -a "$W/vm" "$W/$1"
    python3 -c 'import json, sys
p = sys.argv[1]; d = json.load(open(p)); d[sys.argv[2]] = sys.argv[3]
json.dump(d, open(p, "w"))' "$W/$1/snapshots/$2/info.json" "$3" "$4"
    refused EINVAL "$W/$1" "a snapshot named '$4' in info.json ($3)"
}
badname name-slash s1 name "a/../../b"
grep -q "Import: '$W/name-slash/snapshots/s1/info.json' names a snapshot 'a/../../b', not a valid name" \
    "$DAEMON_LOG" || fail "the log does not name the bad snapshot name"
badname name-dots s1 name ".."
badname name-long s1 name "$(printf 'x%.0s' $(seq 129))"
badname parent-dots s2 parent "../s1"
assert_eq EEXIST "$(errno_of symlink "$W/one" "$MNT/$vm2")" "an import over a VM"
grep -q "Import: snapshot 's2' has no file for disk 'vda'" "$DAEMON_LOG" ||
    fail "the log does not say what is missing"

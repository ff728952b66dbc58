#!/bin/bash
# examples/backup-restic.sh and backup-borg.sh back up the newest
# snapshot of a running guest; restored into new directories, the whole
# disks, memory and info match the mount's, byte for byte.
. "$(dirname "$0")/functions.sh"
requires restic borg

vm_define bkp 2
vm_start bkp
mount_vmsnapfs
vm=${VM_PREFIX}bkp
V=$MNT/$vm
take_snapshots "$V/snapshots" s1 s2
W=$(mktemp -d /var/tmp/vmsnapfs-backup.XXXXXX)
on_exit "rm -rf '$W'"

# What a restore must give back: the checksums of s2's files, read now.
want=$(cd "$V/snapshots/s2" && sha256sum info domain.xml memory vda.img vdb.img)

# restic, its repository and password from its own variables.
export RESTIC_REPOSITORY=$W/restic RESTIC_PASSWORD=vmsnapfs-test
restic init --quiet >/dev/null
out=$(sh "$TOP/examples/backup-restic.sh" "$V") || fail "backup-restic.sh: $out"
echo "$out" | grep -q "^backing up snapshot s2 of $vm: " || fail "backup-restic.sh said: $out"
restic restore --quiet latest --tag "vm=$vm" --target "$W/restic-out" >/dev/null
got=$(cd "$W/restic-out/$V/snapshots/s2" && sha256sum info domain.xml memory vda.img vdb.img)
assert_eq "$want" "$got" "the files restic restored"
[ ! -e "$W/restic-out/$V/snapshots/s2/vda.qcow2" ] || fail "restic stored the qcow2 volume"

# borg, likewise; the archive named VM-SNAPSHOT, paths relative.
export BORG_REPO=$W/borg BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
borg init --encryption=none
out=$(sh "$TOP/examples/backup-borg.sh" "$V") || fail "backup-borg.sh: $out"
mkdir "$W/borg-out"
(cd "$W/borg-out" && borg extract --sparse "::$vm-s2")
got=$(cd "$W/borg-out" && sha256sum info domain.xml memory vda.img vdb.img)
assert_eq "$want" "$got" "the files borg restored"
assert_eq "domain.xml info memory vda.img vdb.img" "$(ls "$W/borg-out" | xargs)" \
    "what borg stored"
# Sparse again: the empty 64 MiB disk takes far less than its size.
used=$(du -k "$W/borg-out/vdb.img" | cut -f1)
[ "$used" -lt 16384 ] || fail "vdb.img takes $used KiB after extract --sparse"

# The guest counted through it all.
n=$(guest_count bkp)
wait_for 10 counted_past bkp $((n + 3)) || fail "the guest stopped counting"
# No snapshot: newest-snapshot.sh says so, and the backups fail.
vm_define bkpnone
wait_for 5 test -d "$MNT/${VM_PREFIX}bkpnone/snapshots" || fail "bkpnone does not show"
assert_eq 1 "$(sh "$TOP/examples/backup-restic.sh" "$MNT/${VM_PREFIX}bkpnone" >/dev/null 2>&1; echo $?)" \
    "backup-restic.sh of a VM with no snapshot"

#!/bin/bash
# No secret shows in the mount, and none is lost on the way through: a VM's
# VNC password and a disk's LUKS passphrase appear in no file of the tree
# but disks and memory, and the password survives a preview, an undo, a
# revert, a merge and a memory restore (virsh dumpxml --security-info
# before and after); a clone keeps it, in its definition, its snapshot and
# its resumed run; an import of an rsync'ed export keeps it where the
# export's memory image holds it (the active snapshot's, and the VM's
# definition), as the export's domain.xml never does.
. "$(dirname "$0")/functions.sh"
requires rsync

PW=Vn4711xq # VNC takes 8 characters at most
PASS=luks-pass-0815

# with_vnc NAME: give VM NAME a VNC display with a password.
with_vnc() {
    redefine "$1" "s|</devices>|  <graphics type='vnc' autoport='yes' listen='127.0.0.1' passwd='$PW'/>\n  </devices>|"
}

# redefine NAME SED: define VM NAME again, its definition edited by SED.
redefine() {
    _xml=/var/lib/libvirt/images/$VM_PREFIX$1/domain.xml
    virsh dumpxml --inactive --security-info "$VM_PREFIX$1" | sed "$2" > "$_xml"
    virsh -q define "$_xml" >/dev/null
}

# has_password WHAT [VM [SNAPSHOT...]]: the password is in the persistent
# definition of VM (by default the first one), in its live one while it
# runs, and in the snapshots' own definitions (by default all).
has_password() {
    _v=${2:-$vm}
    virsh dumpxml --inactive --security-info "$_v" | grep -q "passwd='$PW'" ||
        fail "$1: the VNC password is gone from the definition"
    if [ "$(virsh -q domstate "$_v")" = running ]; then
        virsh dumpxml --security-info "$_v" | grep -q "passwd='$PW'" ||
            fail "$1: the VNC password is gone from the running VM"
    fi
    if [ $# -gt 2 ]; then shift 2; else set -- $(virsh -q snapshot-list "$_v" --name); fi
    for s in "$@"; do
        virsh snapshot-dumpxml --security-info "$_v" "$s" | grep -q "passwd='$PW'" ||
            fail "$1: the VNC password is gone from snapshot $s"
    done
}

# --- a VM with a VNC password, through every verb ---------------------------
vm_define sec
with_vnc sec
vm=${VM_PREFIX}sec
mount_vmsnapfs
V=$MNT/$vm
wait_for 5 test -d "$V/snapshots" || fail "VM $vm does not show"
mkdir "$V/snapshots/s1"
mkdir "$V/snapshots/s2"
has_password "offline snapshots"
ln -sfn snapshots/s1 "$V/preview"
has_password "preview"
rm "$V/preview"
has_password "undo"
rmdir "$V/snapshots/s2"
has_password "offline merge"
ln -sfn snapshots/s1 "$V/active"
has_password "revert"

# A memory snapshot, a revert to it, and the start that restores it.
echo start > "$V/state"
wait_for 60 guest_counting sec || fail "guest sec did not start"
mkdir "$V/snapshots/m1"
has_password "memory snapshot"
echo destroy > "$V/state"
ln -sfn snapshots/m1 "$V/active"
wait_for 5 test -L "$V/resume" || fail "no resume after a revert to m1"
echo start > "$V/state"
assert_eq running "$(cat "$V/state")" "state after the memory restore"
has_password "memory restore"
mkdir "$V/snapshots/m2"
rmdir "$V/snapshots/m2"
has_password "live merge"

# --- a clone and an import keep it ------------------------------------------
clone=${VM_PREFIX}secclone
imp=${VM_PREFIX}secimp
on_exit "vm_remove '$clone'; vm_remove '$imp'"
ln -s "$vm/snapshots/m1" "$MNT/$clone" || fail "the clone: $(tail -n 2 "$DAEMON_LOG")"
no_jobs() { [ -z "$(cat "$1/jobs")" ]; }
wait_for 120 no_jobs "$MNT/$clone" || fail "the clone's copy does not end"
wait_for 10 test -L "$MNT/$clone/resume" || fail "no resume in the clone"
has_password "clone" "$clone"
echo start > "$MNT/$clone/state"
assert_eq running "$(cat "$MNT/$clone/state")" "the clone after its start"
has_password "the clone's resumed run" "$clone"
virsh -q destroy "$clone" >/dev/null

W=$(mktemp -d /var/tmp/vmsnapfs-secrets.XXXXXX)
on_exit "rm -rf '$W'"
rsync -a --sparse --exclude '*.img' "$V/" "$W/vm/" || fail "rsync of the VM"
grep -rq "passwd=" "$W/vm" --include=domain.xml && fail "the export's domain.xml has a password"
ln -s "$W/vm" "$MNT/$imp" || fail "the import: $(tail -n 2 "$DAEMON_LOG")"
has_password "import" "$imp" m1

# --- a disk with a LUKS passphrase, in libvirt's secret store ----------------
vm_define lux 2
vm2=${VM_PREFIX}lux
with_vnc lux
uuid=$(cat /proc/sys/kernel/random/uuid)
cat > "$VM_DIR/secret.xml" <<EOF
<secret ephemeral='no' private='yes'>
  <uuid>$uuid</uuid>
  <usage type='volume'><volume>$VM_DIR/vdb.qcow2</volume></usage>
</secret>
EOF
virsh -q secret-define "$VM_DIR/secret.xml" >/dev/null
on_exit "virsh -q secret-undefine '$uuid'"
virsh -q secret-set-value "$uuid" "$(printf %s "$PASS" | base64)" >/dev/null
redefine lux "s|<source file='$VM_DIR/vdb.qcow2'/>|&\n      <encryption format='luks'><secret type='passphrase' uuid='$uuid'/></encryption>|"
virsh dumpxml "$vm2" | grep -q "$uuid" || fail "the LUKS disk was not defined"
virsh -q snapshot-create-as "$vm2" l1 --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.l1.qcow2" \
    --diskspec vdb,snapshot=no >/dev/null
wait_for 5 test -d "$MNT/$vm2/snapshots/l1" || fail "snapshot l1 does not show"

# Every file of the mount but disks and memory, of every VM here: no
# password, no passphrase (nor its base64).  The LUKS disk is there, by
# its secret's UUID.
files=$(find "$MNT/$vm" "$MNT/$vm2" "$MNT/$clone" "$MNT/$imp" -type f \
    ! -name '*.qcow2' ! -name '*.img' ! -name '*.raw' ! -name memory)
[ "$(echo "$files" | grep -c /domain.xml)" -ge 6 ] || fail "too few files found: $files"
b64=$(printf %s "$PASS" | base64)
for f in $files; do
    if grep -q -e "$PW" -e "$PASS" -e "$b64" "$f"; then
        fail "$f shows a secret"
    fi
done
grep -q "$uuid" "$MNT/$vm2/snapshots/l1/domain.xml" ||
    fail "the LUKS disk is missing from domain.xml"
grep -q "passwd=" "$MNT/$vm2/snapshots/l1/domain.xml" &&
    fail "domain.xml names a password attribute"
exit 0

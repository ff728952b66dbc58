#!/bin/bash
# Who may do what through a shared mount (allow_other), as real users made
# here: an ordinary user lists and reads metadata but no disk bytes and no
# verb; a member of readers reads disks and memory; a member of operators
# uses the verbs; membership through a supplementary group counts; frozen
# volumes show their host file's mode less write bits.
. "$(dirname "$0")/functions.sh"
requires setpriv useradd groupadd

# --- users and groups, removed at exit ---------------------------------------
P=vmsnapfs-t
for g in readers operators; do
    groupdel "$P-$g" 2>/dev/null || true
    groupadd "$P-$g"
    on_exit "groupdel '$P-$g'"
done
# Each user has a group of its own as primary group: the groups that
# matter are supplementary.
for u in user reader operator both; do
    userdel "$P-$u" 2>/dev/null || true
done
useradd -M -U -s /bin/sh "$P-user"
useradd -M -U -s /bin/sh -G "$P-readers" "$P-reader"
useradd -M -U -s /bin/sh -G "$P-operators" "$P-operator"
useradd -M -U -s /bin/sh -G "$P-readers,$P-operators" "$P-both"
for u in user reader operator both; do
    on_exit "userdel '$P-$u'"
done

# A copy of the errno helper that every user can run.
HELP=$(mktemp -d /tmp/vmsnapfs-perm.XXXXXX)
on_exit "rm -rf '$HELP'"
chmod 755 "$HELP"
install -m 0755 "$TOP/tests/integration/errno.py" "$HELP/errno.py"

# as USER CMD...: run CMD as USER with the user's groups.
as() {
    _u=$P-$1
    shift
    setpriv --reuid="$_u" --regid="$(id -g "$_u")" --init-groups -- "$@"
}

# errno_as USER SYSCALL ARGS...
errno_as() {
    _u=$1
    shift
    as "$_u" /usr/bin/python3 "$HELP/errno.py" "$@"
}

# no_verbs USER: every verb is EACCES for USER.
no_verbs() {
    _v=$MNT/$vm
    assert_eq EACCES "$(errno_as "$1" mkdir "$_v/snapshots/s2")" "mkdir by $1"
    assert_eq EACCES "$(errno_as "$1" rmdir "$_v/snapshots/s1")" "rmdir by $1"
    assert_eq EACCES "$(errno_as "$1" rename "$_v/snapshots/s1" "$_v/snapshots/s3")" "mv by $1"
    assert_eq EACCES "$(errno_as "$1" symlink snapshots/s1 "$_v/preview")" "ln preview by $1"
    assert_eq EACCES "$(errno_as "$1" symlink snapshots/s1 "$_v/CuTmp")" "ln -sfn by $1"
    assert_eq EACCES "$(errno_as "$1" write "$_v/state" destroy)" "write state by $1"
    assert_eq EACCES "$(errno_as "$1" write "$_v/snapshot-mode" disk)" "write snapshot-mode by $1"
    assert_eq EACCES "$(errno_as "$1" unlink "$_v/active")" "rm active by $1"
}

# What the VM is: its snapshots, current one, state and disk.
vm_facts() {
    echo "$(virsh -q snapshot-list "$vm" --name | xargs)" \
        "$(virsh -q snapshot-current "$vm" --name 2>/dev/null)" \
        "$(virsh -q domstate "$vm")" "$(vm_volume perm)"
}

# --- a running guest with a memory snapshot -------------------------------------
vm_define perm
vm_start perm
vm=${VM_PREFIX}perm
virsh -q snapshot-create-as "$vm" s1 --live --atomic \
    --memspec "file=$VM_DIR/s1.mem,snapshot=external" \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.s1.qcow2" >/dev/null

# Disks as libvirt makes them: mode 0600.
chmod 0600 "$VM_DIR"/*.qcow2

# --- shared, no groups: only root reads disks or acts -------------------------
mount_vmsnapfs -o allow_other
S=$MNT/$vm/snapshots/s1
facts=$(vm_facts)

# An ordinary user sees the tree and the metadata.
as user ls -lR "$MNT/$vm" >/dev/null || fail "an ordinary user cannot list the tree"
assert_eq s1 "$(as user sed -n 's/^name: //p' "$S/info")" "info as an ordinary user"
assert_eq running "$(as user cat "$MNT/$vm/state")" "state as an ordinary user"
as user cat "$MNT/$vm/jobs" "$S/domain.xml" "$S/info.json" >/dev/null ||
    fail "jobs or domain.xml unreadable by an ordinary user"

# stat of a whole disk by someone who may not read it runs no qemu-img: its
# holes are not known yet, so it shows as full; root's stat reads them.
# The size is the user's too: a stat of root's that reached the daemon
# before (the kernel keeps attributes 0.3 s) would read the holes first.
ub=$(as user stat -c '%s %b' "$S/vda.img")
size=${ub% *} blocks=${ub#* }
assert_eq $((size / 512)) "$blocks" \
    "blocks of vda.img as an ordinary user, before anyone read its holes"
sleep 0.5 # the kernel's attribute cache
[ "$(stat -c %b "$S/vda.img")" -lt $((size / 512)) ] ||
    fail "root's stat of vda.img shows no holes"

for f in vda.qcow2 vda.img vda.delta.img vda.delta.json memory; do
    assert_eq EACCES "$(errno_as user open "$S/$f" r)" "ordinary user opens $f"
done
no_verbs user
assert_eq "$facts" "$(vm_facts)" "the VM after an ordinary user's tries"

# No wider than the host: the frozen volume's own mode and owner, less
# write bits; the whole disk root's and no wider than its chain.
chmod 0644 "$VM_DIR/vda.qcow2"
sleep 0.5
assert_eq "444 $(stat -c %u "$VM_DIR/vda.qcow2")" "$(stat -c '%a %u' "$S/vda.qcow2")" \
    "vda.qcow2 of a 0644 host file"
assert_eq "444 0 0" "$(stat -c '%a %u %g' "$S/vda.img")" "vda.img of a 0644 chain"
assert_eq "400 0 0" "$(stat -c '%a %u %g' "$S/memory")" "memory"
chmod 0600 "$VM_DIR/vda.qcow2"
sleep 0.5
assert_eq 400 "$(stat -c %a "$S/vda.qcow2")" "vda.qcow2 of a 0600 host file"
assert_eq 400 "$(stat -c %a "$S/vda.img")" "vda.img of a 0600 chain"
stop_vmsnapfs

# --- readers and operators --------------------------------------------------
mount_vmsnapfs -o allow_other,readers=$P-readers,operators=$P-operators
S=$MNT/$vm/snapshots/s1
facts=$(vm_facts)
assert_eq "440 $P-readers" "$(stat -c '%a %G' "$S/vda.qcow2")" "vda.qcow2 with readers"
assert_eq "440 root $P-readers" "$(stat -c '%a %U %G' "$S/vda.img")" "vda.img with readers"
assert_eq "440 $P-readers" "$(stat -c '%a %G' "$S/memory")" "memory with readers"
assert_eq "775 $P-operators" "$(stat -c '%a %G' "$MNT/$vm/snapshots")" "snapshots/ with operators"
assert_eq "664 $P-operators" "$(stat -c '%a %G' "$MNT/$vm/state")" "state with operators"

# A reader reads what root reads, byte for byte, and uses no verb.
for f in vda.qcow2 vda.img memory; do
    assert_eq "$(sha256sum "$S/$f" | cut -d' ' -f1)" \
        "$(as reader sha256sum "$S/$f" | cut -d' ' -f1)" "$f read by a reader"
done
no_verbs reader
assert_eq "$facts" "$(vm_facts)" "the VM after a reader's tries"

# An operator takes a snapshot and merges it, and reads no disk.
assert_eq OK "$(errno_as operator write "$MNT/$vm/snapshot-mode" disk)" "snapshot-mode by an operator"
assert_eq disk "$(cat "$MNT/$vm/snapshot-mode")" "the mode an operator set"
assert_eq OK "$(errno_as operator mkdir "$MNT/$vm/snapshots/by-operator")" "mkdir by an operator"
virsh -q snapshot-list "$vm" --name | grep -qx by-operator ||
    fail "libvirt has no snapshot by-operator"
for f in vda.qcow2 vda.img; do
    assert_eq EACCES "$(errno_as operator open "$MNT/$vm/snapshots/by-operator/$f" r)" \
        "an operator reads $f"
done
assert_eq OK "$(errno_as both open "$MNT/$vm/snapshots/by-operator/vda.img" r)" \
    "an operator who is a reader reads vda.img"
assert_eq OK "$(errno_as operator rmdir "$MNT/$vm/snapshots/by-operator")" "rmdir by an operator"
if virsh -q snapshot-list "$vm" --name | grep -qx by-operator; then
    fail "the operator's rmdir left the snapshot"
fi
assert_eq running "$(virsh -q domstate "$vm")" "the VM after the operator's merge"
# Links at the top (clones, imports) are verbs too; an import reads the
# directory with the operator's rights, not the daemon's.
assert_eq "775 $P-operators" "$(stat -c '%a %G' "$MNT")" "the top with operators"
mkdir -p "$HELP/noread/snapshots"
chmod 700 "$HELP/noread"
assert_eq EACCES "$(errno_as operator symlink "$HELP/noread" "$MNT/${VM_PREFIX}permimport")" \
    "an import of a directory the operator may not read"
grep -q "may not read '$HELP/noread'" "$DAEMON_LOG" || fail "the log does not say who may not read"
virsh -q dominfo "${VM_PREFIX}permimport" >/dev/null 2>&1 && fail "the refused import defined a VM"
assert_eq EACCES "$(errno_as user symlink "$vm/snapshots/s1" "$MNT/${VM_PREFIX}permclone")" \
    "a clone by an ordinary user"
# The ordinary user still may not.
facts=$(vm_facts)
for f in vda.qcow2 vda.img memory; do
    assert_eq EACCES "$(errno_as user open "$S/$f" r)" "ordinary user opens $f, groups set"
done
no_verbs user
assert_eq "$facts" "$(vm_facts)" "the VM after an ordinary user's tries, groups set"
stop_vmsnapfs

# --- a group that does not exist: one line, exit 1, nothing mounted ----------
M2=$(mktemp -d /tmp/vmsnapfs-mnt.XXXXXX)
on_exit "rmdir '$M2'"
set +e
out=$("$VMSNAPFS" -f -o readers=$P-nosuchgroup "$M2" 2>&1)
rc=$?
set -e
assert_eq 1 "$rc" "exit status with a missing group"
assert_eq 1 "$(printf '%s\n' "$out" | wc -l)" "lines on stderr: $out"
case $out in *"$P-nosuchgroup"*) ;; *) fail "the message names no group: $out" ;; esac
if mountpoint -q "$M2"; then fail "mounted with a missing group"; fi
exit 0

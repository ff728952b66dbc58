#!/bin/bash
# The quick form of bench/scale.sh: 100 VMs with 10 snapshots each (their
# chains real files), against the real libvirtd.  The tree is libvirt's
# (every VM, every VM's snapshots, its active link, a frozen volume's
# bytes), and snapshots made and deleted with virsh show within a second,
# both in a VM nobody has looked inside yet and in one listed before.
# alone: a hundred VMs, outside changes within a second
. "$(dirname "$0")/functions.sh"
. "$TOP/bench/scale-rig.sh"

vms=${SCALE_VMS:-100}
snaps=${SCALE_SNAPS:-10}
scale_define "$vms" "$snaps"
mount_vmsnapfs

# The top: every VM of the rig.
assert_eq "$(virsh list --all --name | grep "^$prefix" | sort)" \
    "$(ls "$MNT" | grep "^$prefix" | sort)" "the VMs at the top"

# Outside changes in a VM no one has looked inside.
quiet=$prefix$((vms / 2))
virsh -q snapshot-create-as "$quiet" outside --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$dir/$quiet/outside.qcow2" >/dev/null ||
    fail "virsh snapshot-create-as on $quiet"
wait_for 1 test -d "$MNT/$quiet/snapshots/outside" ||
    fail "a snapshot made with virsh in $quiet did not show within 1 s"
wait_for 1 link_is "$MNT/$quiet/active" snapshots/outside ||
    fail "$quiet's active link did not follow: $(readlink "$MNT/$quiet/active")"

# Every VM's snapshots, in one virsh session against ls of each.
for v in $(seq "$vms"); do
    echo "snapshot-list $prefix$v --name"
done | virsh -q | grep -v '^$\|^virsh #' > "$MNT.virsh" || fail "virsh snapshot-list"
on_exit "rm -f '$MNT.virsh'"
for v in $(seq "$vms"); do
    ls "$MNT/$prefix$v/snapshots"
done > "$MNT.ls" || fail "ls of the snapshots"
on_exit "rm -f '$MNT.ls'"
cmp -s "$MNT.virsh" "$MNT.ls" ||
    fail "the snapshots differ from virsh's: $(diff "$MNT.virsh" "$MNT.ls" | head -5)"
assert_eq "$((vms * snaps + 1))" "$(wc -l < "$MNT.ls")" "the number of snapshots"
for v in 1 $vms; do
    link_is "$MNT/$prefix$v/active" "snapshots/s$snaps" ||
        fail "$prefix$v's active link: $(readlink "$MNT/$prefix$v/active")"
done
# A frozen volume is the file below the snapshot's overlay.
v=$prefix$vms
cmp "$MNT/$v/snapshots/s3/vda.qcow2" "$dir/$v/s2.qcow2" ||
    fail "$v's s3/vda.qcow2 is not s2.qcow2"
cmp "$MNT/$v/snapshots/s1/vda.qcow2" "$dir/$v/base.qcow2" ||
    fail "$v's s1/vda.qcow2 is not base.qcow2"

# Outside changes in a VM listed above.
seen=${prefix}1
virsh -q snapshot-delete "$seen" s1 --metadata >/dev/null ||
    fail "virsh snapshot-delete on $seen"
gone() { [ ! -e "$MNT/$seen/snapshots/s1" ]; }
wait_for 1 gone || fail "a snapshot deleted with virsh in $seen still shows after 1 s"
virsh -q snapshot-create-as "$seen" later --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$dir/$seen/later.qcow2" >/dev/null ||
    fail "virsh snapshot-create-as on $seen"
wait_for 1 test -d "$MNT/$seen/snapshots/later" ||
    fail "a snapshot made with virsh in $seen did not show within 1 s"

#!/bin/bash
# A VM on a raw base volume whose first bytes look like a qcow2 header (as
# a guest may write): snapshots, merges and whole-disk reads give the
# volume's own bytes, and no qemu-img run by the daemon reads the raw file
# as qcow2.  Formats come from libvirt or the images' headers, never
# assumed.
. "$(dirname "$0")/functions.sh"

vm_define rawb
vm=${VM_PREFIX}rawb
RAW=$VM_DIR/vda.raw

# The raw disk: a qcow2 header at 0 (an empty 64 MiB image, if it were
# read as qcow2), and a pattern at 1 MiB.
qemu-img create -q -f raw "$RAW" 64M
qemu-img create -q -f qcow2 "$VM_DIR/header.qcow2" 64M
dd if="$VM_DIR/header.qcow2" of="$RAW" bs=512 count=1 conv=notrunc status=none
qemu-io -f raw -c "write -q -P 0x61 1M 1M" "$RAW" >/dev/null
virsh dumpxml --inactive "$vm" |
    sed "s|<driver name='qemu' type='qcow2' discard='unmap'/>|<driver name='qemu' type='raw' discard='unmap'/>|; s|$VM_DIR/vda.qcow2|$RAW|" \
        > "$VM_DIR/raw.xml"
virsh -q define "$VM_DIR/raw.xml" >/dev/null
raw_sum=$(sha256sum < "$RAW")

# Every qemu-img the daemon runs, logged.
W=$(mktemp -d /tmp/vmsnapfs-wrap.XXXXXX)
on_exit "rm -rf '$W'"
cat > "$W/qemu-img" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >> "$W/log"
exec $(command -v qemu-img) "\$@"
EOF
chmod 755 "$W/qemu-img"
VMSNAPFS_WRAPPER="env PATH=$W:$PATH" mount_vmsnapfs
V=$MNT/$vm
wait_for 5 test -d "$V/snapshots" || fail "VM $vm does not show"

# Offline snapshots: s1 freezes the raw base itself.
mkdir "$V/snapshots/s1"
assert_eq "vda.delta.img vda.delta.json vda.img vda.raw" "$(ls "$V/snapshots/s1" | grep '^vda' | xargs)" \
    "the disk files of s1"
assert_eq raw "$(sed -n 's/^disk.vda.format: //p' "$V/snapshots/s1/info")" "format in info"
assert_eq "$raw_sum" "$(sha256sum < "$V/snapshots/s1/vda.raw")" "s1/vda.raw"
assert_eq "$raw_sum" "$(sha256sum < "$V/snapshots/s1/vda.img")" "s1/vda.img"

# The VM writes on the overlay; s2 freezes that.
qemu-io -f qcow2 -c "write -q -P 0x62 2M 1M" "$(vm_volume rawb)" >/dev/null
mkdir "$V/snapshots/s2"
s2_sum=$(content_sum "$(virsh snapshot-dumpxml "$vm" s2 |
    sed -n "s/.*<source file='\([^']*s1[^']*\)'.*/\1/p" | head -n 1)")
assert_eq "$s2_sum" "$(sha256sum < "$V/snapshots/s2/vda.img" | cut -d' ' -f1)" \
    "s2/vda.img against qemu-img"
# Deltas over a raw base: s1 (no parent) is the whole disk, s2 the 1 MiB
# written since.
cmp "$V/snapshots/s1/vda.delta.img" "$V/snapshots/s1/vda.img" || fail "s1's delta"
grep -q '"extents":\[{"offset":2097152,"length":1048576}\]' "$V/snapshots/s2/vda.delta.json" ||
    fail "s2's delta over the raw base: $(cat "$V/snapshots/s2/vda.delta.json")"

# Offline merge of s1: its overlay committed into the raw base.
rmdir "$V/snapshots/s1"
assert_eq "$s2_sum" "$(sha256sum < "$V/snapshots/s2/vda.img" | cut -d' ' -f1)" \
    "s2/vda.img after the merge of s1"
assert_eq "$s2_sum" "$(content_sum "$RAW" raw)" "the raw base holds s2's disk"

# Live: the guest runs on the chain, and a merge of s2 goes into the base.
vm_start rawb
mkdir "$V/snapshots/s3"
rmdir "$V/snapshots/s2"
wait_for 10 sh -c "! virsh -q snapshot-list '$vm' --name | grep -qx s2" ||
    fail "s2 was not deleted"
assert_eq running "$(virsh -q domstate "$vm")" "the VM after the live merge"
# s3 now stands on the raw base itself.
wait_for 5 test -e "$V/snapshots/s3/vda.raw" || fail "s3 does not freeze the raw base"
assert_eq "$(content_sum "$RAW" raw)" \
    "$(sha256sum < "$V/snapshots/s3/vda.img" | cut -d' ' -f1)" \
    "s3/vda.img against qemu-img"

# No qemu-img call named the raw file as qcow2 (nor without a format).
[ -s "$W/log" ] || fail "the daemon ran no qemu-img"
while IFS= read -r line; do
    case " $line " in
        *" $RAW "*) ;;
        *) continue ;;
    esac
    case " $line " in
        *" -b $RAW "*) ;; # a base named as a base: its format is -F's
        *" -f raw "*) ;;
        *) fail "qemu-img read the raw file as another format: $line" ;;
    esac
done < "$W/log"
exit 0

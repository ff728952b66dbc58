#!/bin/bash
# Names people type: a file manager's "New Folder", accents, CJK, shell
# metacharacters.  mkdir, mv and rmdir take them as they are, libvirt
# holds them as they are, and the files made on the host have safe names.
# Snapshots virsh made with such names show.
# alone: outside changes within two seconds
. "$(dirname "$0")/functions.sh"

vm_define names
vm_start names
mount_vmsnapfs
vm=${VM_PREFIX}names
S=$MNT/$vm/snapshots

folder="New Folder"
cafe="caf$(printf '\303\251') cr$(printf '\303\250')me"
cjk=$(printf '\345\277\253\347\205\247 1')          # 快照 1
shell="star* quote' semi;colon \$(reboot) back\\slash"
for n in "$folder" "$cafe" "$cjk" "$shell"; do
    sleep 1
    mkdir "$S/$n" || fail "mkdir '$n'"
    [ -d "$S/$n" ] || fail "'$n' is not listed"
    assert_eq "name: $n" "$(grep '^name: ' "$S/$n/info")" "info of '$n'"
done
names() { virsh -q snapshot-list "$vm" --name | sort; }
assert_eq "$(printf '%s\n' "$folder" "$cafe" "$cjk" "$shell" | sort)" "$(names)" \
    "the names libvirt holds"
# Every file on the host: only [A-Za-z0-9._-] in its name.
bad=$(ls "$VM_DIR" | grep -v '^[A-Za-z0-9._-]*$' || true)
assert_eq "" "$bad" "host files with unsafe names"
# Frozen files read under such names.
volume=$(sed -n 's/^disk.vda.volume: //p' "$S/$cjk/info")
assert_eq "$(content_sum "$volume")" "$(content_sum "$S/$cjk/vda.img" raw)" \
    "the whole disk of '$cjk'"

# Renamed as a file manager renames a new folder.
mv "$S/$folder" "$S/Before upgrade" || fail "mv of '$folder'"
[ -d "$S/Before upgrade" ] && [ ! -e "$S/$folder" ] || fail "the rename did not show"
# Deleted: merges.
rmdir "$S/$cafe" || fail "rmdir '$cafe'"
rmdir "$S/$shell" || fail "rmdir '$shell'"
assert_eq "$(printf '%s\n' "Before upgrade" "$cjk" | sort)" "$(names)" \
    "libvirt's snapshots after mv and rmdir"
assert_eq "$(printf '%s\n' "Before upgrade" "$cjk" | sort)" "$(ls "$S" | sort)" \
    "the listing after mv and rmdir"
no_merge_record names || fail "a merge is still recorded"

# Made by virsh with a name vmsnapfs would take too: shown.
odd=$(printf 'virsh \342\234\223 & <xml>')                 # virsh ✓ & <xml>
virsh -q snapshot-create-as "$vm" "$odd" --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.odd.qcow2" >/dev/null
wait_for 2 test -d "$S/$odd" || fail "virsh's '$odd' is not shown: $(ls "$S")"
assert_eq "name: $odd" "$(grep '^name: ' "$S/$odd/info")" "info of virsh's snapshot"
n=$(guest_count names)
wait_for 10 counted_past names $((n + 3)) || fail "the guest stopped counting"

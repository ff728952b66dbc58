#!/bin/bash
# info and info.json hold the right values, the same in both, and
# domain.xml is the domain at the snapshot.
# alone: outside changes within a second
. "$(dirname "$0")/functions.sh"

vm_define info 2
vm_start info
mount_vmsnapfs
vm=${VM_PREFIX}info
S=$MNT/$vm/snapshots

before=$(date -u +%s)
virsh -q snapshot-create-as "$vm" s1 --live --atomic \
    --memspec "file=$VM_DIR/s1.mem,snapshot=external" \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.s1.qcow2" \
    --diskspec "vdb,snapshot=external,file=$VM_DIR/vdb.s1.qcow2" >/dev/null
virsh -q snapshot-create-as "$vm" s2 --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.s2.qcow2" \
    --diskspec "vdb,snapshot=external,file=$VM_DIR/vdb.s2.qcow2" >/dev/null
after=$(date -u +%s)
wait_for 1 test -d "$S/s2" || fail "snapshots did not appear"

field() { sed -n "s/^$2: //p" "$S/$1/info"; }
assert_eq s1 "$(field s1 name)" "name"
assert_eq "" "$(field s1 parent)" "parent of the root"
assert_eq s1 "$(field s2 parent)" "parent of s2"
assert_eq running "$(field s1 vm_state)" "vm_state"
assert_eq yes "$(field s1 memory)" "memory of a memory snapshot"
assert_eq no "$(field s2 memory)" "memory of a disk-only snapshot"
assert_eq no "$(field s1 quiesced)" "quiesced"
assert_eq ok "$(field s1 status)" "status"
assert_eq "vda vdb" "$(field s1 disks)" "disks"
assert_eq "$VM_DIR/vda.qcow2" "$(field s1 disk.vda.volume)" "s1 volume of vda"
assert_eq "$VM_DIR/vda.s1.qcow2" "$(field s2 disk.vda.volume)" "s2 volume of vda"
assert_eq "$VM_DIR/vdb.s1.qcow2" "$(field s2 disk.vdb.volume)" "s2 volume of vdb"
assert_eq 67108864 "$(field s1 disk.vdb.virtual_size)" "virtual size"
assert_eq "$VM_DIR/s1.mem" "$(field s1 memory_file)" "memory file"
created=$(date -u -d "$(field s1 created)" +%s) || fail "created is not a date"
[ "$created" -ge "$before" ] && [ "$created" -le "$after" ] ||
    fail "created $created is not between $before and $after"
field s1 created | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' ||
    fail "created is not ISO 8601 UTC"

# info.json holds the same values.
python3 - "$S/s1/info" "$S/s1/info.json" <<'PY' || fail "info.json differs from info"
import json, sys
text = dict(l.split(": ", 1) if ": " in l else (l.rstrip(":"), "")
            for l in open(sys.argv[1]).read().splitlines())
j = json.load(open(sys.argv[2]))
for k in ("name", "created", "parent", "vm_state", "memory", "quiesced",
          "status", "memory_file"):
    assert j[k] == text[k], (k, j[k], text[k])
assert [d["target"] for d in j["disks"]] == text["disks"].split()
for d in j["disks"]:
    assert d["volume"] == text["disk.%s.volume" % d["target"]]
    assert str(d["virtual_size"]) == text["disk.%s.virtual_size" % d["target"]]
PY

# domain.xml is the domain as it was: its disks on the frozen volumes.
grep -q "<name>$vm</name>" "$S/s2/domain.xml" || fail "domain.xml names another VM"
grep -q "source file=\"$VM_DIR/vda.s1.qcow2\"" "$S/s2/domain.xml" ||
    fail "domain.xml of s2 does not name the volume at s2"
python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' \
    "$S/s1/domain.xml" || fail "domain.xml is not well-formed"

# A merge changes what info says under the same inode and, here, the same
# size (a parent of as many letters): a read after the rmdir shows the new
# values, never what the kernel kept of the file.
virsh -q snapshot-create-as "$vm" s3 --disk-only --atomic \
    --diskspec "vda,snapshot=external,file=$VM_DIR/vda.s3.qcow2" \
    --diskspec "vdb,snapshot=external,file=$VM_DIR/vdb.s3.qcow2" >/dev/null
wait_for 1 test -d "$S/s3" || fail "s3 did not appear"
size=$(stat -c %s "$S/s3/info")
assert_eq s2 "$(field s3 parent)" "parent of s3"
assert_eq s2 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parent"])' "$S/s3/info.json")" \
    "parent of s3 in info.json"
rmdir "$S/s2"
assert_eq s1 "$(field s3 parent)" "parent of s3 after the merge of s2"
assert_eq s1 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parent"])' "$S/s3/info.json")" \
    "parent of s3 in info.json after the merge of s2"
assert_eq "$size" "$(stat -c %s "$S/s3/info")" "the size of s3's info (the same)"

#!/bin/bash
# VM/jobs and VM/jobs.json are empty while idle, and show a block job with
# its progress while one runs.
. "$(dirname "$0")/functions.sh"

requires qemu-io
vm_define jobs
vm=${VM_PREFIX}jobs
# 32 MiB of data in an overlay over the base, so that a commit has work.
qemu-io -f qcow2 -c 'write -P 0xab 1M 32M' "$VM_DIR/vda.qcow2" >/dev/null
mv "$VM_DIR/vda.qcow2" "$VM_DIR/vda.data.qcow2"
qemu-img create -q -f qcow2 "$VM_DIR/vda.base.qcow2" 64M
qemu-img rebase -q -u -f qcow2 -b "$VM_DIR/vda.base.qcow2" -F qcow2 \
    "$VM_DIR/vda.data.qcow2"
qemu-img create -q -f qcow2 -b "$VM_DIR/vda.data.qcow2" -F qcow2 \
    "$VM_DIR/vda.qcow2"
vm_start jobs
mount_vmsnapfs

assert_eq "" "$(cat "$MNT/$vm/jobs")" "jobs while idle"
assert_eq "[]" "$(cat "$MNT/$vm/jobs.json")" "jobs.json while idle"

# A slow commit (1 MiB/s) of the data layer into the base.
virsh -q blockcommit "$vm" vda --top "$VM_DIR/vda.data.qcow2" \
    --base "$VM_DIR/vda.base.qcow2" --bandwidth 1 >/dev/null
on_exit "virsh -q blockjob '$vm' vda --abort"
wait_for 5 grep -q commit "$MNT/$vm/jobs" || fail "no job in jobs"
line=$(cat "$MNT/$vm/jobs")
echo "$line" | grep -Eq '^vda commit [0-9]+ [0-9]+ [0-9]+% -$' ||
    fail "jobs line: '$line'"
end=$(echo "$line" | cut -d' ' -f4)
[ "$end" -gt 0 ] || fail "job end is 0"
python3 - "$MNT/$vm/jobs.json" <<'PY' || fail "jobs.json: $(cat "$MNT/$vm/jobs.json")"
import json, sys
jobs = json.load(open(sys.argv[1]))
assert len(jobs) == 1, jobs
j = jobs[0]
assert j["disk"] == "vda" and j["type"] == "commit", j
assert 0 <= j["current"] <= j["end"] and j["end"] > 0, j
assert j["percent"] == j["current"] * 100 // j["end"], j
PY
# Progress is libvirt's, read when the file is opened.
c1=$(cut -d' ' -f3 "$MNT/$vm/jobs")
sleep 2
c2=$(cut -d' ' -f3 "$MNT/$vm/jobs")
[ "$c2" -gt "$c1" ] || fail "progress did not move: $c1 then $c2"

virsh -q blockjob "$vm" vda --abort >/dev/null
wait_for 5 test -z "$(cat "$MNT/$vm/jobs")" || fail "jobs not empty after abort"
assert_eq "[]" "$(cat "$MNT/$vm/jobs.json")" "jobs.json after abort"

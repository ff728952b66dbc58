#!/bin/bash
# The first walk of a mount runs no qemu-img map: the stat of TARGET.img,
# TARGET.delta.img and TARGET.delta.json takes st_blocks and sizes from
# maps the daemon composes from each volume's own qcow2 tables.  Those are
# exact: for a real snapshot chain with data, zeros written over data,
# discards over a backing file's data and of a volume's own data, each
# snapshot's whole disk (SEEK_DATA/SEEK_HOLE, st_blocks) and delta
# (delta.json, st_blocks) are what `qemu-img map` of its frozen volume
# says.  The volumes' maps are kept in /var/cache/vmsnapfs/maps/log (0600),
# and after a restart the first walk runs no qemu-img at all (the chains
# read from the volumes' headers).
. "$(dirname "$0")/functions.sh"

vm_define maps 1 64M
vm=${VM_PREFIX}maps
W=$(mktemp -d /var/tmp/vmsnapfs-maps.XXXXXX)
on_exit "rm -rf '$W'"
# qemu-img, as the daemon runs it: each call noted.
mkdir "$W/bin"
printf '#!/bin/sh\necho "$*" >> %s/calls\nexec %s "$@"\n' "$W" \
    "$(command -v qemu-img)" > "$W/bin/qemu-img"
chmod 755 "$W/bin/qemu-img"
VMSNAPFS_WRAPPER="env PATH=$W/bin:$PATH" mount_vmsnapfs
S=$MNT/$vm/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show"
active() { virsh -q domblklist "$vm" | awk '$1 == "vda" { print $2 }'; }
qio() { qemu-io -f qcow2 "${@/#/-c}" "$(active)" >/dev/null; }
# own_calls: the qemu-img calls on this VM's files.  The daemon sees every
# VM of the host, and may run qemu-img at its start for another's
# operation under way (another test's restore, whose volume's backing is
# an NBD export).
own_calls() { grep -F "/$vm/" "$W/calls" || true; }

qio "write -q -P 0x11 0 8M" "write -q -P 0x12 32M 64k"
f1=$(active); mkdir "$S/s1"
qio "write -q -z 1M 1M" "discard -q 4M 2M" "write -q -P 0x22 16M 1M" \
    "write -q -z 48M 1M"
f2=$(active); mkdir "$S/s2"
qio "write -q -P 0x33 20M 2M" "discard -q 20M 1M" "write -q -z -u 16M 512k" \
    "write -q -P 0x34 6M 64k"
f3=$(active); mkdir "$S/s3"

# The first walk: no qemu-img map.
: > "$W/calls"
ls -lR "$MNT/$vm" > /dev/null
find "$S" -name 'vda.*' -print0 | xargs -0 stat > /dev/null
if own_calls | grep -q '^map'; then
    fail "the walk ran qemu-img map: $(own_calls | grep -c '^map') times"
fi

# compare FILE SNAPSHOT: the whole disk and the delta as qemu-img map of
# FILE, the snapshot's frozen volume, says.
compare() {
    qemu-img map -U --output=json -f qcow2 "$1" > "$W/map.json"
    python3 - "$W/map.json" "$S/$2" <<'PY' || fail "$2 differs from qemu-img map: $(cat "$W/why")"
import json, os, sys
m = json.load(open(sys.argv[1]))
d = sys.argv[2]
def merged(pred):
    out = []
    for e in m:
        if not pred(e):
            continue
        if out and out[-1][0] + out[-1][1] == e["start"]:
            out[-1][1] += e["length"]
        else:
            out.append([e["start"], e["length"]])
    return out
def seek_extents(path):
    fd = os.open(path, os.O_RDONLY)
    size, off, out = os.fstat(fd).st_size, 0, []
    while True:
        try:
            data = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        out.append([data, hole - data])
        off = hole
        if off >= size:
            break
    os.close(fd)
    return out
why = []
data = merged(lambda e: e["data"])
changed = merged(lambda e: e["depth"] == 0)
if seek_extents(d + "/vda.img") != data:
    why.append("vda.img extents %s, qemu %s" % (seek_extents(d + "/vda.img"), data))
blocks = os.stat(d + "/vda.img").st_blocks
if blocks != sum(l for _, l in data) // 512:
    why.append("vda.img blocks %d" % blocks)
j = json.load(open(d + "/vda.delta.json"))
if j["parent"] is not None:
    got = [[e["offset"], e["length"]] for e in j["extents"]]
    if got != changed:
        why.append("delta.json %s, qemu %s" % (got, changed))
    if seek_extents(d + "/vda.delta.img") != changed:
        why.append("delta.img extents %s" % seek_extents(d + "/vda.delta.img"))
    b = os.stat(d + "/vda.delta.img").st_blocks
    if b != sum(l for _, l in changed) // 512:
        why.append("delta.img blocks %d" % b)
if os.stat(d + "/vda.delta.json").st_size != len(open(d + "/vda.delta.json").read()):
    why.append("delta.json size")
open(os.path.dirname(sys.argv[1]) + "/why", "w").write("; ".join(why))
sys.exit(1 if why else 0)
PY
}
compare "$f1" s1
compare "$f2" s2
compare "$f3" s3

# After a restart, the first walk runs no qemu-img at all: the VM's
# chains are read from the volumes' headers, the maps back from the cache.
stop_vmsnapfs
: > "$W/calls"
VMSNAPFS_WRAPPER="env PATH=$W/bin:$PATH" mount_vmsnapfs
S=$MNT/$vm/snapshots
wait_for 5 test -d "$S" || fail "the VM does not show after a restart"
ls -lR "$MNT/$vm" > /dev/null
find "$S" -name 'vda.*' -print0 | xargs -0 stat > /dev/null
[ -z "$(own_calls)" ] || fail "the first walk after a restart ran qemu-img: $(own_calls | sort | uniq -c | head -5)"
compare "$f2" s2

# The maps kept across restarts, in one log: the daemon's, closed to
# others, with a record of f3's device and inode.
log=/var/cache/vmsnapfs/maps/log
assert_eq "600 root" "$(stat -c '%a %U' "$log")" "the log's mode and owner"
assert_eq "700 root" "$(stat -c '%a %U' "${log%/*}")" "its directory's mode and owner"
python3 - "$log" $(stat -c '%d %i' "$f3") <<'PY' || fail "no map kept for $f3"
import struct, sys
rec = b"VSNAPMAP2\n" + bytes(6) + struct.pack("<QQ", int(sys.argv[2]), int(sys.argv[3]))
sys.exit(0 if rec in open(sys.argv[1], "rb").read() else 1)
PY

#!/bin/sh
# incremental-backup.sh: back up a VM's disks into a plain directory, a
# whole disk the first time and what changed since (TARGET.delta.img)
# after that; rebuild any disk that was backed up.
#
#   incremental-backup.sh backup MOUNTPOINT/VM DIR
#   incremental-backup.sh restore DIR SNAPSHOT TARGET OUT.raw
#
# backup finds the VM's newest snapshot and walks its parents back to one
# DIR holds: each snapshot after it is copied as its deltas, oldest first
# (DIR/NAME/TARGET.delta.img, sparse, and TARGET.delta.json); with none
# held, the newest snapshot's whole disks are (DIR/NAME/TARGET.img).
# DIR/index lists what DIR holds, a line each: NAME full|delta PARENT.
# A snapshot merged away meanwhile does no harm: its child's delta is then
# against its parent, and holds its changes too.
#
# restore copies the whole disk the chain of SNAPSHOT starts from, then
# writes each delta's extents over it in order (dd conv=notrunc).
set -eu

usage() {
    echo "usage: incremental-backup.sh backup MOUNTPOINT/VM DIR" >&2
    echo "       incremental-backup.sh restore DIR SNAPSHOT TARGET OUT.raw" >&2
    exit 1
}

# field NAME KEY: the value of KEY in the info of snapshot NAME.
field() { sed -n "s/^$2: //p" "$vm/snapshots/$1/info"; }

# held NAME: DIR holds snapshot NAME.
held() { [ -f "$dir/index" ] && cut -d' ' -f1 "$dir/index" | grep -qxF "$1"; }

# extents JSON: "OFFSET LENGTH" lines of a delta.json.
extents() { grep -o '"offset":[0-9]*,"length":[0-9]*' "$1" | tr -c '0-9\n' ' ' | awk '{ print $1, $2 }'; }

backup() {
    vm=$1 dir=$2
    mkdir -p "$dir"
    newest=$(sh "$(dirname "$0")/newest-snapshot.sh" "$vm")
    # The snapshots after the newest one held, newest first.
    todo="" s=$newest
    while [ -n "$s" ] && ! held "$s"; do
        todo="$s $todo"
        s=$(field "$s" parent)
    done
    if [ -z "$s" ]; then
        # Nothing held on this branch: the newest whole.
        mkdir -p "$dir/$newest"
        for img in "$vm/snapshots/$newest"/*.img; do
            case $img in *.delta.img) continue ;; esac
            cp --sparse=always "$img" "$dir/$newest/"
        done
        echo "$newest full -" >> "$dir/index"
        echo "backed up $newest whole"
        return
    fi
    for s in $todo; do
        mkdir -p "$dir/$s"
        for d in "$vm/snapshots/$s"/*.delta.img; do
            t=$(basename "$d" .delta.img)
            cp --sparse=always "$d" "$dir/$s/"
            cp "$vm/snapshots/$s/$t.delta.json" "$dir/$s/"
        done
        echo "$s delta $(field "$s" parent)" >> "$dir/index"
        echo "backed up $s as its changes"
    done
}

restore() {
    dir=$1 snap=$2 target=$3 out=$4
    # The chain back to a whole disk, oldest first.
    chain="" s=$snap
    while :; do
        line=$(grep "^$s " "$dir/index" | tail -n 1) ||
            { echo "incremental-backup.sh: $s is not in $dir" >&2; exit 1; }
        chain="$s $chain"
        [ "$(echo "$line" | cut -d' ' -f2)" = delta ] || break
        s=$(echo "$line" | cut -d' ' -f3)
    done
    set -- $chain
    cp --sparse=always "$dir/$1/$target.img" "$out"
    shift
    for s in "$@"; do
        extents "$dir/$s/$target.delta.json" | while read -r off len; do
            dd if="$dir/$s/$target.delta.img" of="$out" bs=1M \
                skip="$off" seek="$off" count="$len" conv=notrunc \
                iflag=skip_bytes,count_bytes oflag=seek_bytes status=none
        done
    done
    echo "restored $target at $snap into $out"
}

case ${1:-} in
backup) [ $# -eq 3 ] || usage; backup "$2" "$3" ;;
restore) [ $# -eq 5 ] || usage; restore "$2" "$3" "$4" "$5" ;;
*) usage ;;
esac

#!/bin/sh
# newest-snapshot.sh MOUNTPOINT/VM: print the name of the VM's newest
# whole snapshot (by the "created:" line of its info; one being taken,
# merged away or failed is left out).  Exits 1 when there is none.
set -eu

vm=${1:?usage: newest-snapshot.sh MOUNTPOINT/VM}
best= best_at=
for d in "$vm"/snapshots/*/; do
    [ -r "$d/info" ] || continue
    info=$(cat "$d/info")
    echo "$info" | grep -qx 'status: ok' || continue
    at=$(echo "$info" | sed -n 's/^created: //p')
    # ISO 8601 times in UTC sort as strings.
    if [ -z "$best" ] || [ "$at" \> "$best_at" ] ||
       { [ "$at" = "$best_at" ] && [ "$(basename "$d")" \> "$best" ]; }; then
        best=$(basename "$d") best_at=$at
    fi
done
if [ -z "$best" ]; then
    echo "newest-snapshot.sh: '$vm' has no snapshot" >&2
    exit 1
fi
echo "$best"

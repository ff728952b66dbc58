#!/bin/sh
# progress.sh MOUNTPOINT/VM: draw a progress bar for each block job of the
# VM (the merge an rmdir started, a commit someone else runs) until none
# is left, as pv draws one:
#
#   vda commit [=============>               ] 45% 460.8MiB/1.0GiB 48.0MiB/s ETA 11s s1
#
# On a terminal the bars are redrawn in place once a second; into a pipe
# or a file, each look is a line.  Exits 0 once no job runs (at once when
# none did), 1 when MOUNTPOINT/VM is not a VM of a vmsnapfs mount.
set -eu

vm=${1:?usage: progress.sh MOUNTPOINT/VM}
if [ ! -r "$vm/progress" ]; then
    echo "progress.sh: '$vm' is not a VM directory of a vmsnapfs mount" >&2
    exit 1
fi
width=30
drawn=0 # lines drawn on the terminal last time

# bar PERCENT: [======>     ] of $width columns.
bar() {
    full=$(($1 * width / 100))
    printf '['
    [ "$full" -eq 0 ] || printf '%*s' "$full" '' | tr ' ' '='
    if [ "$full" -lt "$width" ]; then
        printf '>'
        [ $((width - full - 1)) -eq 0 ] || printf '%*s' $((width - full - 1)) ''
    fi
    printf ']'
}

while :; do
    jobs=$(cat "$vm/progress")
    # Back up over the last drawing on a terminal.
    if [ -t 1 ] && [ "$drawn" -gt 0 ]; then
        printf '\033[%dA' "$drawn"
    fi
    [ -n "$jobs" ] || break
    drawn=0
    # DISK TYPE DONE/END PERCENT% RATE LEFT SNAPSHOT; see vmsnapfs(5).
    echo "$jobs" | while read -r disk type sizes pct rate left snap; do
        p=${pct%\%}
        [ "$p" -le 100 ] || p=100
        printf '%s %s %s %s %s %s ETA %s %s' "$disk" "$type" "$(bar "$p")" \
            "$pct" "$sizes" "$rate" "$left" "$snap"
        if [ -t 1 ]; then printf '\033[K\n'; else printf '\n'; fi
    done
    [ -t 1 ] && drawn=$(echo "$jobs" | wc -l)
    sleep 1
done
[ -t 1 ] && printf '\033[J'
echo "no block job runs on $(basename "$vm")"

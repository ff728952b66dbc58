#!/bin/sh
# undo-upgrade.sh MOUNTPOINT/VM STEP [NAME]: a guest upgrade you can take
# back, in oVirt's steps: a snapshot before it, a preview of that snapshot
# to compare, then undo the preview (keep the upgrade) or commit it (the
# upgrade is gone).  NAME is the snapshot's, "pre-upgrade" unless given.
#
#   undo-upgrade.sh /mnt/vms/web before     # snapshot, memory too; the VM runs on
#   ...upgrade the guest...
#   undo-upgrade.sh /mnt/vms/web preview    # stop it, run it as it was before
#   undo-upgrade.sh /mnt/vms/web undo       # stop it, back to the upgraded one
#   undo-upgrade.sh /mnt/vms/web commit     # or: keep the previewed state
#
# A preview, an undo and a commit need the VM shut off: the script asks the
# guest to shut down, waits SHUTDOWN_TIMEOUT seconds (60), then stops it,
# and starts it again after the step.  A snapshot with memory resumes where
# it was taken; otherwise the VM boots.
set -eu

vm=${1:?usage: undo-upgrade.sh MOUNTPOINT/VM before|preview|undo|commit [NAME]}
step=${2:?usage: undo-upgrade.sh MOUNTPOINT/VM before|preview|undo|commit [NAME]}
name=${3:-pre-upgrade}
if [ ! -d "$vm/snapshots" ]; then
    echo "undo-upgrade.sh: '$vm' is not a VM directory of a vmsnapfs mount" >&2
    exit 1
fi

# Shut the VM off: ACPI first, then at once.
stop_vm() {
    [ "$(cat "$vm/state")" != shut_off ] || return 0
    echo shutdown > "$vm/state" 2>/dev/null || true
    t=0
    while [ "$t" -lt "${SHUTDOWN_TIMEOUT:-60}" ]; do
        [ "$(cat "$vm/state")" = shut_off ] && return 0
        sleep 1
        t=$((t + 1))
    done
    echo destroy > "$vm/state"
}

case $step in
before)
    mkdir "$vm/snapshots/$name"
    echo "took snapshot $name; upgrade the guest now"
    ;;
preview)
    stop_vm
    ln -sfn "snapshots/$name" "$vm/preview"
    echo start > "$vm/state"
    echo "previewing $name; '$0 $vm undo' goes back to the upgrade, '$0 $vm commit' keeps this"
    ;;
undo)
    stop_vm
    rm "$vm/preview"
    echo start > "$vm/state"
    echo "back to the state the preview kept aside"
    ;;
commit)
    stop_vm
    ln -sfn "snapshots/$name" "$vm/active"
    echo start > "$vm/state"
    echo "committed $name: the upgrade is undone"
    ;;
*)
    echo "undo-upgrade.sh: STEP is before, preview, undo or commit" >&2
    exit 1
    ;;
esac

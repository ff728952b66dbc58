#!/bin/bash
# examples/undo-upgrade.sh, step by step on a running guest: a snapshot
# before the "upgrade" (the guest counting on), a preview that resumes the
# guest where the snapshot was taken, an undo that brings the upgraded
# disk back, and a commit that keeps the snapshot's state for good.
. "$(dirname "$0")/functions.sh"

vm_define upg
vm_start upg
mount_vmsnapfs
vm=${VM_PREFIX}upg
V=$MNT/$vm
undo() { SHUTDOWN_TIMEOUT=${SHUTDOWN_TIMEOUT:-2} sh "$TOP/examples/undo-upgrade.sh" "$V" "$@"; }
# The count the guest went back to after MARK: the first lower than the
# one before it (the guest counts on until it is stopped).
went_back_to() {
    console_since upg "$1" | sed -n 's/^count \([0-9][0-9]*\).*/\1/p' |
        awk 'NR > 1 && $1 < prev { print $1; exit } { prev = $1 }'
}
went_back() { [ -n "$(went_back_to "$1")" ]; }
booted_since() { [ -n "$(boot_disk_since upg "$1")" ]; }

sleep 1
before=$(guest_count upg)
undo before >/dev/null
after=$(guest_count upg)
[ -d "$V/snapshots/pre-upgrade" ] || fail "no snapshot pre-upgrade"
# The "upgrade": the guest goes on writing its disk, far past the
# snapshot's count (a preview and a commit take a few).
wait_for 60 counted_past upg $((after + 60)) || fail "the guest stopped counting"
upgraded=$(guest_count upg)

# Preview: the guest resumes from the snapshot's memory, no boot.
mark=$(console_mark upg)
undo preview >/dev/null
assert_eq snapshots/pre-upgrade "$(readlink "$V/preview")" "preview"
wait_for 30 went_back "$mark" ||
    fail "the guest did not go back in the preview: $(console_since upg "$mark" | tail -n 5)"
first=$(went_back_to "$mark")
assert_eq "" "$(boot_disk_since upg "$mark")" "a boot line in the preview"
[ "$first" -ge "$before" ] && [ "$first" -le $((after + 2)) ] ||
    fail "the preview resumed at $first, the snapshot was taken between $before and $after"

# Undo: back on the upgraded disk, which boots with its count.
mark=$(console_mark upg)
undo undo >/dev/null
[ ! -e "$V/preview" ] || fail "preview is still there after undo"
wait_for 60 booted_since "$mark" || fail "the guest does not boot after undo"
disk=$(boot_disk_since upg "$mark")
[ -n "$disk" ] && [ "$disk" -ge "$upgraded" ] ||
    fail "after undo the guest booted from a disk at count '$disk', the upgrade had $upgraded"

# Commit: preview again, then keep it at once: the disk is the snapshot's
# and what the guest wrote in the preview's moments, far from the upgrade.
mark=$(console_mark upg)
undo preview >/dev/null
wait_for 30 went_back "$mark" || fail "the guest did not go back in the second preview"
mark=$(console_mark upg)
SHUTDOWN_TIMEOUT=0 undo commit >/dev/null
[ ! -e "$V/preview" ] || fail "preview is still there after commit"
assert_eq snapshots/pre-upgrade "$(readlink "$V/active")" "active after commit"
wait_for 60 booted_since "$mark" || fail "the guest does not boot after commit"
disk=$(boot_disk_since upg "$mark")
[ "$disk" -lt "$upgraded" ] ||
    fail "after commit the guest booted from a disk at count '$disk', not from before the upgrade ($upgraded)"

assert_eq 1 "$(undo sideways >/dev/null 2>&1; echo $?)" "an unknown step"

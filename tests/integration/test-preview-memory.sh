#!/bin/bash
# Preview a snapshot with memory, then start: the guest resumes from the
# snapshot's count without booting, and resume is gone; the next start
# boots.  The preview survives a restart of the daemon.
. "$(dirname "$0")/functions.sh"

vm_define pvmem
vm_start pvmem
mount_vmsnapfs
vm=${VM_PREFIX}pvmem
V=$MNT/$vm
sleep 1
before=$(guest_count pvmem)
mkdir "$V/snapshots/s1"
after=$(guest_count pvmem)
sleep 2
echo destroy > "$V/state"

ln -sfn snapshots/s1 "$V/preview"
assert_eq snapshots/s1 "$(readlink "$V/preview")" "preview"
assert_eq snapshots/s1/memory "$(readlink "$V/resume")" "resume"
assert_eq snapshots/s1 "$(readlink "$V/active")" "active during the preview"
assert_eq shut_off "$(cat "$V/state")" "state during the preview"

# The preview lives in libvirt, not in the daemon: a restart loses nothing.
stop_vmsnapfs
mount_vmsnapfs
V=$MNT/$vm
assert_eq snapshots/s1 "$(readlink "$V/preview")" "preview after a restart"
assert_eq snapshots/s1/memory "$(readlink "$V/resume")" "resume after a restart"

mark=$(console_mark pvmem)
echo start > "$V/state"
wait_for 30 counting_since pvmem "$mark" ||
    fail "the guest does not count after the restore"
first=$(first_count_since pvmem "$mark")
assert_eq "" "$(boot_disk_since pvmem "$mark")" "a boot line after a restore"
[ "$first" -ge "$before" ] && [ "$first" -le $((after + 2)) ] ||
    fail "resumed at $first, the snapshot was taken between $before and $after"
[ ! -e "$V/resume" ] || fail "resume is still there after the restore"
assert_eq snapshots/s1 "$(readlink "$V/preview")" "preview after the start"

# The restore happens once: the next start boots.
echo destroy > "$V/state"
mark=$(console_mark pvmem)
echo start > "$V/state"
wait_for 60 counting_since pvmem "$mark" ||
    fail "the guest does not count after the second start"
[ -n "$(boot_disk_since pvmem "$mark")" ] || fail "the second start did not boot"

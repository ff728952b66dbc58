#!/bin/bash
# An import reads the caller's directory with the caller's rights, and the
# domain it defines reaches nothing the caller could not (a shared mount,
# -o allow_other,operators=GROUP, and a real user of that group).
#
# Refused, nothing defined and nothing left: a disk that is a link to a
# root-only file (EACCES, as the operator and as root: no link that leaves
# the directory), a FIFO named domain.xml (EINVAL at once, no hang), a
# device node, a file the operator may not read (EACCES), a qcow2 whose
# header names a root-only file as its external data file (EINVAL, both);
# a domain with <hostdev>, <qemu:commandline> or a kernel of the
# operator's own or an emulator libvirt does not list, an interface on a
# network bridged to the host, on a network that does not exist, or of
# type bridge, or the host's SMBIOS (EPERM for the operator; root may
# import the hostdev; the NAT network 'default' is allowed).  The files an operator's domain
# boots from (kernel, initrd...) are copied into the new VM's directory:
# a setuid file named as an initrd keeps its mode and owner after the VM
# ran, and the test guest boots from the copies.  The export's directory
# is opened through no link, /proc's neither (EACCES).  A domain with UEFI
# variables gets an NVRAM file of its own (nvram.fd in its directory).  A file booted from
# counts in the room (ENOSPC), and a file resized during its copy is EIO:
# no more than measured is copied.
# A qcow2 whose header names a root-only backing file is imported on its
# parent's copy: the root-only bytes are in no disk of the new VM.  An
# operator's import of the test guest (its kernel root's) still works.
# The new VM's console files are named by the import (console.log...),
# whatever the export named: never its record nor a volume.  An import
# into a directory that is there already (not made by an import of its
# name): EEXIST, its file untouched, nothing defined.
. "$(dirname "$0")/functions.sh"
requires setpriv useradd groupadd rsync

# --- an operator, removed at exit --------------------------------------------
# Named for this run's VM prefix: runs beside each other keep apart.
P=vmsnapfs-ir$(printf %s "$VM_PREFIX" | cksum | cut -c1-6)
groupdel "$P-ops" 2>/dev/null || true
userdel "$P-op" 2>/dev/null || true
groupadd "$P-ops"
on_exit "groupdel '$P-ops'"
useradd -M -U -s /bin/sh -G "$P-ops" "$P-op"
on_exit "userdel '$P-op'"
OP=$P-op

W=$(mktemp -d /var/tmp/vmsnapfs-ir.XXXXXX)
on_exit "rm -rf '$W'"
chmod 755 "$W"
install -m 0755 "$TOP/tests/integration/errno.py" "$W/errno.py"

# A secret: root's alone, in a directory of root's alone.
SD=$(mktemp -d /root/vmsnapfs-secret.XXXXXX)
on_exit "rm -rf '$SD'"
chmod 700 "$SD"
SECRET=$SD/secret.raw
yes VMSNAPFS-SECRET-BYTES | head -c 1M > "$SECRET"
truncate -s 16M "$SECRET" # the size of the disk it stands for
chmod 600 "$SECRET"

# as_op SYSCALL ARGS...: the errno of a system call made by the operator.
as_op() {
    setpriv --reuid="$OP" --regid="$(id -g "$OP")" --init-groups -- \
        /usr/bin/python3 "$W/errno.py" "$@"
}

# refused ERRNO WHO DIR WHAT: an import of DIR by WHO (op or root) fails
# with ERRNO, and defines and leaves nothing.
n=0
refused() {
    n=$((n + 1))
    _name=${VM_PREFIX}ir$n
    on_exit "vm_remove '$_name'"
    if [ "$2" = op ]; then
        _got=$(as_op symlink "$3" "$MNT/$_name")
    else
        _got=$(errno_of symlink "$3" "$MNT/$_name")
    fi
    assert_eq "$1" "$_got" "$4 (by $2)"
    virsh -q dominfo "$_name" >/dev/null 2>&1 && fail "$4 (by $2): a VM is defined"
    [ ! -e "/var/lib/libvirt/images/$_name" ] || fail "$4 (by $2): files are left"
}

# imported WHO DIR: an import of DIR by WHO succeeds; its name in NEW.
imported() {
    n=$((n + 1))
    NEW=${VM_PREFIX}ir$n
    on_exit "vm_remove '$NEW'"
    if [ "$1" = op ]; then
        assert_eq OK "$(as_op symlink "$2" "$MNT/$NEW")" "an import of $2 by the operator: $(tail -n 1 "$DAEMON_LOG")"
    else
        assert_eq OK "$(errno_of symlink "$2" "$MNT/$NEW")" "an import of $2 by root: $(tail -n 1 "$DAEMON_LOG")"
    fi
    virsh -q dominfo "$NEW" >/dev/null || fail "the import of $2 defined no VM"
}

# --- the exports: one snapshot's, and a whole VM's of two -------------------
vm_define ir 1 16M
vm=${VM_PREFIX}ir
mount_vmsnapfs -o allow_other,operators=$P-ops
wait_for 5 test -d "$MNT/$vm/snapshots" || fail "the VM does not show"
mkdir "$MNT/$vm/snapshots/s1" "$MNT/$vm/snapshots/s2"
rsync -a --sparse "$MNT/$vm/snapshots/s1/" "$W/one/" || fail "rsync of a snapshot"
rsync -a --sparse --exclude '*.img' "$MNT/$vm/" "$W/vm/" || fail "rsync of the VM"
chown -R "$OP" "$W/one" "$W/vm"
chmod -R u+rw "$W/one" "$W/vm"

# copy NAME: a copy of the one-snapshot export, the operator's.
copy() {
    cp -a "$W/one" "$W/$1"
}

# --- an operator's import of the test guest works -----------------------------
# Its kernel and initrd, root's, are copied into the new VM's directory
# (libvirt makes the files a VM boots from qemu's while it runs), and it
# boots from the copies.
imported op "$W/one"
D=/var/lib/libvirt/images/$NEW
assert_eq "$D/kernel.boot $D/initrd.boot" \
    "$(virsh dumpxml "$NEW" | sed -n 's#.*<\(kernel\|initrd\)>\([^<]*\)<.*#\2#p' | xargs)" \
    "the kernel and initrd of the operator's import"
assert_eq "600 600" "$(stat -c %a "$D/kernel.boot" "$D/initrd.boot" | xargs)" \
    "the modes of the copies"
virsh -q start "$NEW" >/dev/null || fail "the operator's import does not start"
booted() { grep -q "^count " "$D/console.log" 2>/dev/null; }
wait_for 60 booted || fail "the operator's import does not boot from the copies"
vm_remove "$NEW"

# --- item 1: read with the caller's rights ----------------------------------
copy link
ln -sfn "$SECRET" "$W/link/vda.img"
refused EACCES op "$W/link" "a disk that is a link to a root-only file"
refused EACCES root "$W/link" "a disk that is a link out of the directory"
grep -q "may not read '$W/link/vda.img'" "$DAEMON_LOG" ||
    fail "the log does not name the link refused"

# The directory itself is opened through none of /proc's magic links
# (EACCES, as root too), which would reach the daemon's own files; a plain
# link is followed with the caller's rights.
ln -s "$W/one" "$W/one-link"
imported root "$W/one-link"
vm_remove "$NEW"
refused EACCES root "/proc/self/root$W/one" "an export named through /proc/self/root"
grep -q "Import: '/proc/self/root$W/one' passes through one of /proc's links" "$DAEMON_LOG" ||
    fail "the log does not name the magic link"
exec {dirfd}<"$W/one"
refused EACCES root "/proc/$$/fd/$dirfd" "an export named by /proc/PID/fd"
exec {dirfd}<&-

copy fifo
rm "$W/fifo/domain.xml"
mkfifo "$W/fifo/domain.xml"
chown "$OP" "$W/fifo/domain.xml"
# A daemon that opened it waits for a writer: one comes after 60 s, so
# that the test fails rather than hangs (the symlink call waits for the
# daemon's answer, whatever the signal).
python3 -c "import os, time; time.sleep(60); os.close(os.open('$W/fifo/domain.xml', os.O_WRONLY | os.O_NONBLOCK))" 2>/dev/null &
writer=$!
on_exit "kill $writer 2>/dev/null || true"
t0=$(date +%s)
refused EINVAL op "$W/fifo" "a FIFO named domain.xml"
[ $(($(date +%s) - t0)) -lt 50 ] || fail "the import waited on the FIFO"
grep -q "'$W/fifo/domain.xml' is not a regular file" "$DAEMON_LOG" ||
    fail "the log does not say the FIFO is no regular file"

copy dev
rm "$W/dev/vda.img"
mknod "$W/dev/vda.img" c 1 5 # /dev/zero
refused EINVAL op "$W/dev" "a device node for a disk"

copy noread
chown root "$W/noread/vda.img"
chmod 600 "$W/noread/vda.img"
refused EACCES op "$W/noread" "a disk the operator may not read"

# A qcow2 whose external data file is the secret: its header is the
# author's, the data file another file.
copy dfile
rm "$W/dfile/vda.img"
qemu-img create -q -f qcow2 -o "data_file=$W/dfile/data.raw,data_file_raw=on" \
    "$W/dfile/vda.qcow2" 16M
qemu-img amend -f qcow2 -o "data_file=$SECRET" "$W/dfile/vda.qcow2"
rm "$W/dfile/data.raw"
chown "$OP" "$W/dfile/vda.qcow2"
refused EINVAL op "$W/dfile" "a qcow2 whose data file is a root-only file"
refused EINVAL root "$W/dfile" "a qcow2 with an external data file"

# A layer whose header names the secret as its backing file: imported on
# its parent's copy, as info.json says, and the secret in no disk.
cp -a "$W/vm" "$W/backing"
qemu-img rebase -u -f qcow2 -b "$SECRET" -F raw "$W/backing/snapshots/s2/vda.qcow2"
for who in op root; do
    imported $who "$W/backing"
    if grep -q VMSNAPFS-SECRET "$MNT/$NEW/snapshots/s2/vda.img"; then
        fail "the import by $who holds the secret named as a backing file"
    fi
    if virsh dumpxml "$NEW" | grep -q "$SD"; then
        fail "the import by $who names the secret"
    fi
    for f in /var/lib/libvirt/images/"$NEW"/*.qcow2; do
        qemu-img info -U "$f" | grep -q "$SD" && fail "'$f' names the secret"
    done
    vm_remove "$NEW"
done

# --- item 2: no host resource in the operator's domain ------------------------
copy hostdev
sed -i "s|</devices>|<hostdev mode='subsystem' type='usb'><source><vendor id='0x1d6b'/><product id='0x0002'/></source></hostdev></devices>|" \
    "$W/hostdev/domain.xml"
refused EPERM op "$W/hostdev" "a domain with a hostdev"
grep -q "may not import a domain with <hostdev" "$DAEMON_LOG" ||
    fail "the log does not name the hostdev"
imported root "$W/hostdev"
vm_remove "$NEW"

copy cmdline
sed -i -e "s|<domain type='qemu'|<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'|" \
    -e "s|</devices>|</devices><qemu:commandline><qemu:arg value='-fw_cfg'/><qemu:arg value='name=opt/s,file=$SECRET'/></qemu:commandline>|" \
    "$W/cmdline/domain.xml"
grep -q "qemu:commandline" "$W/cmdline/domain.xml" || fail "the test did not edit domain.xml"
refused EPERM op "$W/cmdline" "a domain with a qemu:commandline"

copy kernel
kernel=$(sed -n 's|.*<kernel>\(.*\)</kernel>.*|\1|p' "$W/kernel/domain.xml")
cp "$kernel" "$W/kernel/vmlinuz"
chown "$OP" "$W/kernel/vmlinuz"
sed -i "s|<kernel>[^<]*</kernel>|<kernel>$W/kernel/vmlinuz</kernel>|" "$W/kernel/domain.xml"
refused EPERM op "$W/kernel" "a domain booting a kernel of the operator's"

# Interfaces: a libvirt network whose forward mode reaches a host device
# (bridge: defined, never started) and one that does not exist are EPERM
# for the operator, a bridge interface too; the NAT network 'default' is
# allowed.
LAN=$P-lan
virsh -q net-undefine "$LAN" >/dev/null 2>&1 || true
printf "<network><name>%s</name><forward mode='bridge'/><bridge name='%s'/></network>" \
    "$LAN" "vsb${P: -6}" >"$W/lan.xml"
virsh -q net-define "$W/lan.xml" >/dev/null || fail "cannot define network $LAN"
on_exit "virsh -q net-undefine '$LAN' >/dev/null 2>&1"
nic() { # NAME INTERFACE: a copy whose domain has INTERFACE
    copy "$1"
    sed -i "s|</devices>|$2</devices>|" "$W/$1/domain.xml"
    grep -q "<interface" "$W/$1/domain.xml" || fail "the test did not edit domain.xml"
}
nic nic-lan "<interface type='network'><source network='$LAN'/></interface>"
refused EPERM op "$W/nic-lan" "an interface on a network bridged to the host"
grep -q "may not import a domain with <source> naming network '$LAN', whose forward mode reaches host devices" \
    "$DAEMON_LOG" || fail "the log does not name the bridged network"
nic nic-gone "<interface type='network'><source network='$P-gone'/></interface>"
refused EPERM op "$W/nic-gone" "an interface on a network that does not exist"
grep -q "naming network '$P-gone', which does not exist here" "$DAEMON_LOG" ||
    fail "the log does not name the missing network"
nic nic-br "<interface type='bridge'><source bridge='virbr0'/></interface>"
refused EPERM op "$W/nic-br" "a bridge interface"
nic nic-nat "<interface type='network'><source network='default'/></interface>"
imported op "$W/nic-nat"
vm_remove "$NEW"

# A setuid file root's, in directories root's, that the operator may read,
# as the initrd: the VM boots from a copy, and the file keeps its mode and
# owner after the VM ran (libvirt made the file it names qemu's).
SU=$(mktemp -d /var/lib/vmsnapfs-ir-suid.XXXXXX)
on_exit "rm -rf '$SU'"
chmod 755 "$SU"
cp /bin/true "$SU/tool"
chmod 4755 "$SU/tool"
copy suid
sed -i "s|<initrd>[^<]*</initrd>|<initrd>$SU/tool</initrd>|" "$W/suid/domain.xml"
grep -q "<initrd>$SU/tool</initrd>" "$W/suid/domain.xml" || fail "the test did not edit domain.xml"
imported op "$W/suid"
assert_eq "/var/lib/libvirt/images/$NEW/initrd.boot" \
    "$(virsh dumpxml "$NEW" | sed -n 's|.*<initrd>\([^<]*\)<.*|\1|p')" \
    "the initrd of an import that names a setuid file"
virsh -q start "$NEW" >/dev/null 2>&1 || true # no guest in it: it may stop at once
wait_for 30 sh -c "! virsh -q domstate '$NEW' | grep -q running" || true
virsh -q destroy "$NEW" >/dev/null 2>&1 || true
assert_eq "4755 root" "$(stat -c '%a %U' "$SU/tool")" "the setuid file after the VM ran"
vm_remove "$NEW"

# NVRAM: a domain with a pflash loader gets a file of the new VM's own,
# never the one an earlier VM of its name left at libvirt's default path,
# nor the one the export names (root's import), which stays as it was.
mkdir -p /var/lib/libvirt/qemu/nvram
nvram_own() { # WHO NVRAM-ELEMENT
    _left=/var/lib/libvirt/qemu/nvram/${VM_PREFIX}ir$((n + 1))_VARS.fd
    echo leftover >"$_left"
    on_exit "rm -f '$_left'"
    copy "nvram-$1"
    # The pflash loader in place of the test guest's own (qboot's ROM):
    # libvirt reads the first <loader> alone.
    sed -i "s|<loader[^>]*>[^<]*</loader>||" "$W/nvram-$1/domain.xml"
    sed -i "s|</os>|<loader readonly='yes' type='pflash'>$SU/tool</loader>$2</os><features><acpi/></features>|" \
        "$W/nvram-$1/domain.xml"
    imported "$1" "$W/nvram-$1"
    assert_eq "/var/lib/libvirt/images/$NEW/nvram.fd" \
        "$(virsh dumpxml "$NEW" | sed -n 's|.*<nvram[^>]*>\([^<]*\)<.*|\1|p')" \
        "the NVRAM file of an import by $1"
    vm_remove "$NEW"
    assert_eq leftover "$(cat "$_left")" "the NVRAM file an earlier VM left"
}
nvram_own op ""
nvram_own root "<nvram>/var/lib/libvirt/qemu/nvram/${VM_PREFIX}ir$((n + 1))_VARS.fd</nvram>"

# An emulator root's that libvirt does not list: EPERM for the operator.
copy emulator
sed -i "s|<emulator>[^<]*</emulator>|<emulator>/usr/bin/true</emulator>|" "$W/emulator/domain.xml"
grep -q "<emulator>/usr/bin/true</emulator>" "$W/emulator/domain.xml" || fail "the test did not edit domain.xml"
refused EPERM op "$W/emulator" "a domain whose emulator libvirt does not list"
grep -q "may not import a domain with <emulator> naming '/usr/bin/true'" "$DAEMON_LOG" ||
    fail "the log does not name the emulator"

# The host's SMBIOS shown to the guest (its serial numbers): EPERM for the
# operator.
copy smbios
sed -i "s|</os>|<smbios mode='host'/></os>|" "$W/smbios/domain.xml"
grep -q "<smbios mode='host'/>" "$W/smbios/domain.xml" || fail "the test did not edit domain.xml"
refused EPERM op "$W/smbios" "a domain with the host's SMBIOS"
grep -q "may not import a domain with <smbios> (the host's own SMBIOS" "$DAEMON_LOG" ||
    fail "the log does not name the host's SMBIOS"

# --- no more copied than measured --------------------------------------------
# A file booted from counts in the room: one far larger than the disk has
# room for (sparse, 8 TiB), root's in directories root's, is ENOSPC before
# a byte is copied (the caller gives up after 3 s: EINTR if it copies).
BIG=$(mktemp -d /var/lib/vmsnapfs-ir-big.XXXXXX)
on_exit "rm -rf '$BIG'"
chmod 755 "$BIG"
truncate -s 8T "$BIG/initrd"
chmod 644 "$BIG/initrd"
copy bigboot
sed -i "s|<initrd>[^<]*</initrd>|<initrd>$BIG/initrd</initrd>|" "$W/bigboot/domain.xml"
n=$((n + 1))
on_exit "vm_remove '${VM_PREFIX}ir$n'"
assert_eq ENOSPC "$(as_op symlink-interrupted 3 "$W/bigboot" "$MNT/${VM_PREFIX}ir$n")" \
    "an import booting from a file larger than the room"
[ ! -e "/var/lib/libvirt/images/${VM_PREFIX}ir$n" ] || fail "the import left files"
grep -q "Import: '${VM_PREFIX}ir$n' needs 8388[0-9]* MiB" "$DAEMON_LOG" ||
    fail "the log does not count the file booted from"

# A file that grows or shrinks once measured (its next open, the copy's,
# held until it is resized): no more than measured is copied, EIO, and
# nothing left; a whole raw disk (made a qcow2 by qemu-img) and a volume
# copied as it is.
install -m 0755 "$TOP/tests/integration/onopen.py" "$W/onopen.py"
resized() { # DIR FILE SIZE WHAT
    python3 "$W/onopen.py" "$1/$2" 2 "$3" >"$W/onopen.out" 2>&1 &
    _w=$!
    on_exit "kill $_w 2>/dev/null || true"
    wait_for 30 grep -q ready "$W/onopen.out" || fail "onopen.py: $(cat "$W/onopen.out")"
    refused EIO root "$1" "$4"
    grep -q "Import: '$1/$2' changed its size during the import\|Import: '$1/$2' is shorter" \
        "$DAEMON_LOG" || fail "the log does not name $2 resized"
}
copy grow
resized "$W/grow" vda.img $((64 << 20)) "a whole disk that grows during the copy"
cp -a "$W/vm" "$W/shrink"
resized "$W/shrink" snapshots/s1/vda.qcow2 65536 "a volume that shrinks during the copy"
cp -a "$W/vm" "$W/growq"
resized "$W/growq" snapshots/s2/vda.qcow2 $((64 << 20)) "a volume that grows during the copy"

# --- console files named by the import, not by the export -------------------
# A serial port (and its console) that writes the import's record, or the
# file a volume of the import will be, in a domain named as the new VM (so
# that its files' names were kept): the new VM's console is console.log.
chardev_files() {
    virsh dumpxml "$1" | python3 -c 'import sys, xml.etree.ElementTree as E
for c in E.parse(sys.stdin).getroot().find("devices"):
    if c.tag in ("serial", "console", "channel", "parallel"):
        for e in c:
            if e.tag in ("source", "log"):
                print(e.get("path") or e.get("file") or "")'
}
for what in record volume; do
    next=${VM_PREFIX}ir$((n + 1))
    case $what in
    record) bad=.vmsnapfs-import ;;
    volume) bad=$next.vda.s1.qcow2 ;;
    esac
    copy "cd-$what"
    sed -i -e "0,/<name>/s|<name>[^<]*</name>|<name>$next</name>|" \
        -e "s|path=[\"'][^\"']*console.log[\"']|path='$W/cd-$what/$bad'|" "$W/cd-$what/domain.xml"
    grep -q "path='$W/cd-$what/$bad'" "$W/cd-$what/domain.xml" ||
        fail "the test did not edit domain.xml"
    imported op "$W/cd-$what"
    assert_eq "/var/lib/libvirt/images/$NEW/console.log" \
        "$(chardev_files "$NEW" | sort -u | xargs)" \
        "the console files of an import whose export names $bad"
    vm_remove "$NEW"
done

# --- a directory the new VM would use, already there --------------------------
# Its files would count as the import's own: EEXIST, and it is left as it
# was (the default pool's directory, where an import makes its VM's).
taken=${VM_PREFIX}irtaken
T=/var/lib/libvirt/images/$taken
mkdir -m 755 "$T"
on_exit "vm_remove '$taken'; rm -rf '$T'"
echo someone-elses > "$T/file"
assert_eq EEXIST "$(as_op symlink "$W/one" "$MNT/$taken")" \
    "an import into a directory it did not make"
virsh -q dominfo "$taken" >/dev/null 2>&1 && fail "an import into '$T' defined a VM"
assert_eq "file" "$(ls -A "$T" | xargs)" "what '$T' holds after the import"
assert_eq someone-elses "$(cat "$T/file")" "the file in '$T' after the import"
grep -q "Import: '$T' exists, and no import of '$taken' made it" "$DAEMON_LOG" ||
    fail "the log does not name the directory in use"
exit 0

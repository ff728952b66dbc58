# Remote libvirt hosts on this machine, for the tests of several hosts.
# Source it after functions.sh:
#
#   . "$(dirname "$0")/remote.sh"
#   remote_host_start r1 16531       # URI in REMOTE_URI, files in REMOTE_DIR
#
# Each host is a libvirtd (and its virtlogd) in a mount and UTS namespace of
# its own, with private /etc/libvirt, /run/libvirt, /var/lib/libvirt (its
# images folder, /var/lib/libvirt/images, inside), /var/cache/libvirt and
# /var/log/libvirt, and the host name NAME.  It listens on loopback TCP
# with no authentication: qemu+tcp://127.0.0.1:PORT/system.  The daemon
# under test runs in the root namespace, where none of those files is
# visible at the path libvirt gives: every byte must come through libvirt.
# The test reads a remote file at REMOTE_ROOT/NAME/lib/... (the same file,
# seen from outside).  Everything is stopped and removed at exit.

REMOTE_ROOT=/tmp/vmsnapfs-remote

# remote_host_start NAME PORT: start host NAME; sets REMOTE_URI and
# REMOTE_DIR (its /var/lib/libvirt seen from here).  With REMOTE_CONF_HOOK
# set, that command is run with the host's /etc/libvirt (seen from here)
# before its daemons start: to add settings to its qemu.conf.
remote_host_start() {
    _rd=$REMOTE_ROOT/$1
    remote_host_stop "$1"
    on_exit "remote_host_stop '$1'"
    mkdir -p "$_rd/etc" "$_rd/run" "$_rd/lib/images" "$_rd/cache" "$_rd/log" \
        /var/cache/libvirt /var/log/libvirt
    chmod 755 "$REMOTE_ROOT" "$_rd" "$_rd/lib" "$_rd/lib/images"
    # The daemons' settings, not the host's VMs, networks or secrets.
    cp /etc/libvirt/*.conf "$_rd/etc/"
    cat > "$_rd/etc/libvirtd.conf" <<CONF
listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "$2"
auth_tcp = "none"
CONF
    [ -z "${REMOTE_CONF_HOOK:-}" ] || "$REMOTE_CONF_HOOK" "$_rd/etc"
    # unshare makes every mount private: nothing below reaches the root
    # namespace.
    unshare -m -u --propagation private sh -c "
        set -e
        mount --bind '$_rd/etc' /etc/libvirt
        mount --bind '$_rd/run' /run/libvirt
        mount --bind '$_rd/lib' /var/lib/libvirt
        mount --bind '$_rd/cache' /var/cache/libvirt
        mount --bind '$_rd/log' /var/log/libvirt
        hostname '$1'
        virtlogd -d -p /run/libvirt/virtlogd.pid
        libvirtd -d -l -p /run/libvirt/libvirtd.pid"
    REMOTE_URI=qemu+tcp://127.0.0.1:$2/system
    REMOTE_DIR=$_rd/lib
    wait_for 30 virsh -c "$REMOTE_URI" version >/dev/null 2>&1 ||
        fail "remote host $1 did not answer at $REMOTE_URI"
}

# remote_libvirtd_stop NAME / remote_libvirtd_start NAME PORT: stop and
# start again host NAME's libvirtd alone (its VMs go on running).
remote_libvirtd_stop() {
    _pid=$(cat "$REMOTE_ROOT/$1/run/libvirtd.pid" 2>/dev/null) || return 0
    kill "$_pid" 2>/dev/null || true
    wait_for 20 exited "$_pid" || kill -9 "$_pid" 2>/dev/null || true
}

remote_libvirtd_start() {
    _logd=$(cat "$REMOTE_ROOT/$1/run/virtlogd.pid")
    nsenter -t "$_logd" -m -u libvirtd -d -l -p /run/libvirt/libvirtd.pid
    wait_for 30 virsh -c "qemu+tcp://127.0.0.1:$2/system" version \
        >/dev/null 2>&1 || fail "remote host $1 did not come back"
}

# remote_host_stop NAME: destroy its VMs, stop its daemons, remove its
# files.  Safe to call for a host that is not running.
remote_host_stop() {
    _rd=$REMOTE_ROOT/$1
    [ -d "$_rd" ] || return 0
    _lib=$(cat "$_rd/run/libvirtd.pid" 2>/dev/null || true)
    _logd=$(cat "$_rd/run/virtlogd.pid" 2>/dev/null || true)
    # The qemu processes of its VMs: their files are under its lib.
    for _p in $(pgrep -f "qemu-system" || true); do
        if [ -n "$_lib" ] && [ "$(ps -o ppid= -p "$_p" | tr -d ' ')" = "$_lib" ] ||
           grep -qa "guest=$VM_PREFIX$1-" "/proc/$_p/cmdline" 2>/dev/null; then
            kill -9 "$_p" 2>/dev/null || true
        fi
    done
    for _p in $_lib $_logd; do
        kill "$_p" 2>/dev/null || true
        wait_for 10 exited "$_p" || kill -9 "$_p" 2>/dev/null || true
    done
    rm -rf "$_rd"
}

# remote_vm_define HOST NAME [NDISKS [SIZE]]: define the test guest as VM
# $VM_PREFIX$HOST-NAME on remote host HOST (started by remote_host_start,
# URI in REMOTE_URI, files in REMOTE_DIR), its disks in the remote images
# folder.  Sets RVM (its name) and RVM_DIR (its folder, seen from here).
remote_vm_define() {
    RVM=$VM_PREFIX$1-$2
    _in=/var/lib/libvirt/images/$RVM
    RVM_DIR=$REMOTE_DIR/images/$RVM
    guest_disks "$RVM_DIR" "${3:-1}" "${4:-64M}"
    sh "$TOP/tests/guest/domain-xml.sh" "$RVM" "$_in" "${3:-1}" \
        "${GUEST_CMDLINE:-}" > "$RVM_DIR/domain.xml"
    virsh -q -c "$REMOTE_URI" define "$RVM_DIR/domain.xml" >/dev/null
}

# remote_guest_count DIR: the last count the guest whose folder (seen from
# here) is DIR printed on its console.
remote_guest_count() {
    sed -n 's/^count \([0-9][0-9]*\).*/\1/p' "$1/console.log" 2>/dev/null |
        tail -n 1
}

remote_guest_counting() {
    [ -n "$(remote_guest_count "$1")" ]
}

# seeks FILE: its data runs by SEEK_DATA and SEEK_HOLE, in KiB.
seeks() {
    python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
out, at = [], 0
while True:
    try:
        d = os.lseek(fd, at, os.SEEK_DATA)
    except OSError:
        break
    at = os.lseek(fd, d, os.SEEK_HOLE)
    out.append("%d+%d" % (d >> 10, (at - d) >> 10))
print(" ".join(out))' "$1"
}

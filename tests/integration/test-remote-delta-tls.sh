#!/bin/bash
# A remote host's delta files read over an NBD server that strangers
# cannot read.  Without -o nbd_tls, a host whose URI names no loopback
# address (here this machine's name, which is no address: the remote
# libvirtd listens on loopback alone) shows no delta files and the log
# says which option offers them, while the same host named 127.0.0.1
# shows them.  With -o nbd_tls=DIR (a CA, a server certificate in the
# host's qemu.conf, a client one in DIR), d2's delta.json and the data of
# its delta.img by SEEK_DATA/SEEK_HOLE are the known writes, and while it
# is open a plain NBD client without certificates is refused by the
# helper's NBD server, on both its exports (TLS required).
# alone: another libvirtd
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/remote.sh"

PKI=$(mktemp -d /tmp/vmsnapfs-pki.XXXXXX)
on_exit "rm -rf '$PKI'"
mkdir "$PKI/server" "$PKI/client"
# cert NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA.
cert() {
    openssl req -new -newkey rsa:2048 -nodes -subj "$2" -keyout "$PKI/$1.key" \
        -out "$PKI/$1.csr" 2>/dev/null &&
    printf '%s\n' "$3" > "$PKI/$1.ext" &&
    openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
        -CAcreateserial -days 2 -extfile "$PKI/$1.ext" -out "$PKI/$1.pem" 2>/dev/null
}
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=vmsnapfs-test-ca -days 2 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$PKI/ca.key" -out "$PKI/ca.pem" 2>/dev/null || fail "openssl: the CA"
cert server /CN=127.0.0.1 "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1" || fail "openssl: the server's certificate"
cert client /CN=vmsnapfs-client "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth" || fail "openssl: the client's certificate"
cp "$PKI/ca.pem" "$PKI/server/ca-cert.pem"
cp "$PKI/server.pem" "$PKI/server/server-cert.pem"
cp "$PKI/server.key" "$PKI/server/server-key.pem"
cp "$PKI/ca.pem" "$PKI/client/ca-cert.pem"
cp "$PKI/client.pem" "$PKI/client/client-cert.pem"
cp "$PKI/client.key" "$PKI/client/client-key.pem"
# qemu on r1 may run as another user: its key readable (a test's key).
chmod 644 "$PKI/server/"*

# The NBD servers of r1's backups: TLS with the server's certificate,
# clients with one from the CA.
tls_conf() {
    cp -r "$PKI/server" "$1/pki-backup"
    chmod 755 "$1/pki-backup"
    cat >> "$1/qemu.conf" <<CONF
backup_tls_x509_cert_dir = "/etc/libvirt/pki-backup"
backup_tls_x509_verify = 1
CONF
}
REMOTE_CONF_HOOK=tls_conf remote_host_start r1 16541
U1=$REMOTE_URI
remote_vm_define r1 a
A=$RVM
on_r1() { nsenter -t "$(cat "$REMOTE_ROOT/r1/run/virtlogd.pid")" -m "$@"; }
current() { virsh -q -c "$U1" domblklist "$A" | awk '$1 == "vda" { print $2 }'; }

# d1, then known writes (data, zeros over data, zeros over nothing), d2:
# made by a mount with the host alone.
HOSTS_FILE=$(mktemp /tmp/vmsnapfs-hosts.XXXXXX)
on_exit "rm -f '$HOSTS_FILE'"
echo "r1 $U1" > "$HOSTS_FILE"
mount_vmsnapfs -o nbd_tls="$PKI/client"
S=$MNT/$A/snapshots  # one host: its VMs at the top
on_r1 qemu-io -f qcow2 -c "write -q -P 0x11 0 4M" "$(current)" >/dev/null || fail "qemu-io on r1"
mkdir "$S/d1"
on_r1 qemu-io -f qcow2 -c "write -q -P 0x22 8M 1M" -c "write -q -z 0 1M" \
    -c "write -q -z 30M 1M" "$(current)" >/dev/null || fail "qemu-io on r1"
mkdir "$S/d2"

# --- with -o nbd_tls: the delta as test-remote-hosts reads it -----------
extents() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join("%d+%d" % (e["offset"] >> 10, e["length"] >> 10) for e in d["extents"]))' "$1"
}
assert_eq "0+1024 8192+1024 30720+1024" "$(extents "$S/d2/vda.delta.json")" \
    "d2's extents over NBD with TLS: $(tail -n 3 "$DAEMON_LOG")"
assert_eq "0+1024 8192+1024 30720+1024" "$(seeks "$S/d2/vda.delta.img")" \
    "d2's delta.img's data by seeks"
MB=$((1 << 20))
cmp <(dd if="$S/d2/vda.delta.img" iflag=skip_bytes,count_bytes skip=$((8 * MB)) \
    count=$MB bs=1M 2>/dev/null) <(head -c $MB /dev/zero | tr '\0' '\042') ||
    fail "d2's delta.img reads other bytes at 8 MiB"

# While it is open: its helper's NBD server, on loopback here, refuses a
# client without certificates on either export.
exec 7< "$S/d2/vda.delta.img"
helper() { virsh -q -c "$U1" list --name | grep -m 1 "^vmsnapfs-commit-"; }
wait_for 30 helper || fail "no reader domain on r1 while the delta is open"
port=$(virsh -q -c "$U1" backup-dumpxml "$(helper)" |
    sed -n "s/.*<server .*port='\([0-9]*\)'.*/\1/p")
[ -n "$port" ] || fail "no NBD port in the reader's backup"
virsh -q -c "$U1" backup-dumpxml "$(helper)" | grep -q "<server .*tls='yes'" ||
    fail "the reader's backup has no TLS: $(virsh -q -c "$U1" backup-dumpxml "$(helper)")"
for export in vmsnapfs-delta vda; do
    if out=$(qemu-img info "nbd://127.0.0.1:$port/$export" 2>&1); then
        fail "export $export read without certificates: $out"
    fi
    echo "$out" | grep -q "TLS" || fail "export $export refused for another reason: $out"
done
exec 7<&-
stop_vmsnapfs

# --- without it: loopback alone ------------------------------------------
# This machine's name where it resolves to 127.0.0.1, where r1 listens;
# else 127.1, which the resolver reads as 127.0.0.1 and which is no
# address written out (inet_pton), as a name is not.
NAME=$(hostname)
[ "$(getent ahostsv4 "$NAME" | awk 'NR == 1 { print $1 }')" = 127.0.0.1 ] &&
    [ "$NAME" != localhost ] || NAME=127.1
cat > "$HOSTS_FILE" <<HOSTS
lo $U1
far ${U1/127.0.0.1/$NAME}
HOSTS
mount_vmsnapfs
assert_eq "domain.xml info info.json vda.delta.img vda.delta.json vda.img vda.qcow2" \
    "$(ls "$MNT/lo/$A/snapshots/d2" | xargs)" "d2 of r1 by its loopback address"
assert_eq "domain.xml info info.json vda.img vda.qcow2" \
    "$(ls "$MNT/far/$A/snapshots/d2" | xargs)" "d2 of r1 by a name"
[ -e "$MNT/far/$A/snapshots/d2/vda.delta.img" ] && fail "far's vda.delta.img can be looked up"
grep -q "'${U1/127.0.0.1/$NAME}' shows no delta files.*nbd_tls=DIR" "$DAEMON_LOG" ||
    fail "the log does not say why far shows no delta files"
[ "$(grep -c "shows no delta files" "$DAEMON_LOG")" = 1 ] || fail "the log names lo"
assert_eq "0+1024 8192+1024 30720+1024" "$(extents "$MNT/lo/$A/snapshots/d2/vda.delta.json")" \
    "d2's extents over NBD on loopback"
exit 0

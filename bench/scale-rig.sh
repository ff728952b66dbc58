# The rig of bench/scale.sh, shared with its quick form in the tests
# (test-scale.sh): VMs named vmsnapfs-scale-N, shut off, each with a real
# qcow2 chain (a base and one overlay per snapshot, copied from a template
# whose backing files are relative) and its snapshots defined with
# REDEFINE from XML that names those files, parents first, through one
# virsh session.  Sourced after tests/integration/functions.sh.

# SCALE_PREFIX: another name for them, so that two rigs on one host (two
# trees under test) leave each other alone; it must not begin with the
# other's.
prefix=${SCALE_PREFIX:-vmsnapfs-scale-}
dir=/var/lib/libvirt/images/${prefix%-}

cleanup_scale() {
    virsh list --all --name | grep "^$prefix" | while read -r d; do
        echo "destroy $d"
        echo "undefine $d --snapshots-metadata"
    done | virsh -q >/dev/null 2>&1
    rm -rf "$dir"
}

# scale_uuid N: the UUID of VM number N.
scale_uuid() {
    printf '5ca1e000-0000-4000-8000-%012x' "$1"
}

# domain_xml NAME SOURCE UUID: a shut-off VM of one disk on SOURCE (a
# snapshot's domain must name the VM's UUID).
domain_xml() {
    cat <<XML
<domain type='qemu'><name>$1</name><uuid>$3</uuid><memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
<source file='$2'/><target dev='vda' bus='virtio'/></disk>
<memballoon model='none'/></devices></domain>
XML
}

# scale_define VMS SNAPS: VMS VMs with SNAPS snapshots each, removed at
# exit.
scale_define() {
    _svms=$1 _ssnaps=$2
    cleanup_scale
    on_exit cleanup_scale
    mkdir -p "$dir/template"

    # The template chain: base.qcow2, then s1.qcow2 ... sN.qcow2, each on
    # the one before by a relative name.
    qemu-img create -q -f qcow2 "$dir/template/base.qcow2" 16M
    _prev=base.qcow2
    for _i in $(seq "$_ssnaps"); do
        (cd "$dir/template" && qemu-img create -q -f qcow2 -b "$_prev" -F qcow2 "s$_i.qcow2")
        _prev=s$_i.qcow2
    done

    echo "defining $_svms VMs with $_ssnaps snapshots each..."
    _t0=$(date +%s)
    _batch=$(mktemp -d /var/tmp/vmsnapfs-scale.XXXXXX)
    on_exit "rm -rf '$_batch'"
    for _v in $(seq "$_svms"); do
        _name=$prefix$_v
        _vd=$dir/$_name
        _uuid=$(scale_uuid "$_v")
        cp -r "$dir/template" "$_vd"
        domain_xml "$_name" "$_vd/s$_ssnaps.qcow2" "$_uuid" > "$_batch/$_name.xml"
        echo "define $_batch/$_name.xml"
        for _i in $(seq "$_ssnaps"); do
            _below=$_vd/base.qcow2
            [ "$_i" -eq 1 ] || _below=$_vd/s$((_i - 1)).qcow2
            _parent=""
            [ "$_i" -eq 1 ] || _parent="<parent><name>s$((_i - 1))</name></parent>"
            {
                echo "<domainsnapshot><name>s$_i</name>$_parent"
                echo "<state>shutoff</state><creationTime>$((1700000000 + _i))</creationTime>"
                echo "<memory snapshot='no'/><disks><disk name='vda' snapshot='external'>"
                echo "<driver type='qcow2'/><source file='$_vd/s$_i.qcow2'/></disk></disks>"
                domain_xml "$_name" "$_below" "$_uuid"
                echo "</domainsnapshot>"
            } > "$_batch/$_name.s$_i.xml"
            _current=""
            [ "$_i" -eq "$_ssnaps" ] && _current=--current
            echo "snapshot-create $_name --xmlfile $_batch/$_name.s$_i.xml --redefine $_current"
        done
    done | virsh -q >/dev/null || fail "virsh could not define the rig"
    echo "  took $(($(date +%s) - _t0)) s"
    [ "$(virsh list --all --name | grep -c "^$prefix")" -eq "$_svms" ] ||
        fail "not all $_svms VMs are defined"
}

/* Unit tests of snapshot/import/import-policy.c: what a domain imported by a
 * caller who is not root may name.  A table of domains as an import leaves
 * them (files in the new VM's directory), the test guest's own, and
 * hostile ones: each must be allowed, or refused with EPERM naming the
 * element. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../snapshot/import/import.h"

#define OWN "/var/lib/libvirt/images/new"

/* The emulators libvirt lists. */
static char *const emulators[]
    = { (char *)"/usr/bin/qemu-system-x86_64", NULL };

/* The host files a domain may boot from: these two, as if root owned
 * them all along their path and the caller may read them. */
static int
may_read (const char *path, void *arg)
{
  (void)arg;
  return strcmp (path, "/boot/vmlinuz") == 0
                 || strcmp (path, "/usr/bin/qemu-system-x86_64") == 0
             ? 0
             : -EPERM;
}

#define DOM(devices)                                                          \
  "<domain type='qemu'><name>new</name><uuid>1</uuid>"                        \
  "<memory unit='MiB'>256</memory><vcpu>1</vcpu>"                             \
  "<os><type arch='x86_64' machine='pc'>hvm</type>"                           \
  "<kernel>" OWN "/kernel.boot</kernel><cmdline>console=ttyS0</cmdline></os>" \
  "<resource><partition>/machine</partition></resource>"                      \
  "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"                 \
  "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"        \
  "<source file='" OWN "/new.vda.qcow2'/><target dev='vda'/></disk>" devices  \
  "</devices></domain>"

#define TOP(top)                                                              \
  "<domain type='qemu'><name>new</name><os><type>hvm</type></os>" top         \
  "<devices/></domain>"

#define OS(os)                                                                \
  "<domain type='qemu'><name>new</name><os><type>hvm</type>" os               \
  "</os><devices/></domain>"

struct policy_case
{
  const char *what;
  const char *xml;
  int want;
  const char *names; /* in WHY when refused */
};

/* The libvirt networks there are: 'default' (NAT) and 'isolated'; 'lan'
 * bridges to a host device. */
static int
network (const char *name, void *arg)
{
  (void)arg;
  if (strcmp (name, "default") == 0 || strcmp (name, "isolated") == 0)
    return 0;
  return strcmp (name, "lan") == 0 ? -EPERM : -ENOENT;
}

static const struct import_rules rules
    = { OWN, may_read, NULL, emulators, network, NULL };

static const struct policy_case cases[] = {
  { "the test guest as imported",
    DOM ("<serial type='file'><source path='" OWN "/console.log' "
         "append='on'/><target port='0'/></serial>"
         "<console type='file'><source path='" OWN "/console.log'/></console>"
         "<channel type='unix'><source mode='bind' path='" OWN "/agent.0'/>"
         "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
         "<memballoon model='none'/>"),
    0, NULL },
  { "a desktop VM",
    DOM ("<interface type='network'><mac address='52:54:00:1:2:3'/>"
         "<source network='default'/><target dev='vnet3'/>"
         "<model type='virtio'/></interface>"
         "<interface type='network'><source network='isolated'/></interface>"
         "<interface type='user'><model type='e1000'/></interface>"
         "<graphics type='spice' autoport='yes'/><audio id='1' type='spice'/>"
         "<video><model type='qxl'/></video><input type='tablet' bus='usb'/>"
         "<console type='pty' tty='/dev/pts/3'><source path='/dev/pts/3'/>"
         "</console><redirdev bus='usb' type='spicevmc'/>"
         "<rng model='virtio'><backend model='random'>/dev/urandom</backend>"
         "</rng><tpm model='tpm-crb'><backend type='emulator'/></tpm>"
         "<disk type='file' device='cdrom'><target dev='sda'/></disk>"),
    0, NULL },
  { "metadata of another namespace",
    "<domain type='qemu'><name>n</name><metadata><app:x xmlns:app='urn:a' "
    "path='/etc/shadow'/></metadata><devices/></domain>",
    0, NULL },
  { "qemu:commandline",
    "<domain type='qemu' "
    "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>n</name>"
    "<devices/><qemu:commandline><qemu:arg value='-drive'/>"
    "<qemu:arg value='file=/etc/shadow'/></qemu:commandline></domain>",
    -EPERM, "qemu:commandline" },
  { "qemu:override in devices",
    DOM ("<qemu:x xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>"),
    -EPERM, "qemu:x" },
  { "hostdev",
    DOM ("<hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/>"
         "<product id='0x2'/></source></hostdev>"),
    -EPERM, "hostdev" },
  { "filesystem",
    DOM ("<filesystem type='mount'><source dir='/'/><target dir='r'/>"
         "</filesystem>"),
    -EPERM, "filesystem" },
  { "a block disk",
    DOM ("<disk type='block' device='disk'><source dev='/dev/sda'/>"
         "<target dev='vdb'/></disk>"),
    -EPERM, "disk type=block" },
  { "a network disk",
    DOM ("<disk type='network' device='disk'><source protocol='nbd' "
         "name='x'><host name='h'/></source><target dev='vdb'/></disk>"),
    -EPERM, "disk type=network" },
  { "a file disk the import did not make",
    DOM ("<disk type='file' device='disk'><source file='/root/x.qcow2'/>"
         "<target dev='vdb'/></disk>"),
    -EPERM, "/root/x.qcow2" },
  { "a path out of the new VM's directory by '..'",
    DOM ("<disk type='file' device='disk'><source file='" OWN
         "/../../../../etc/shadow'/><target dev='vdb'/></disk>"),
    -EPERM, "etc/shadow" },
  { "a disk of no type (not one the import makes)",
    DOM ("<disk device='disk'><source file='" OWN "/left.qcow2'/>"
         "<target dev='vdb'/></disk>"),
    -EPERM, "disk" },
  { "a disk of no device (not one the import makes)",
    DOM ("<disk type='file'><source file='" OWN "/left.qcow2'/>"
         "<target dev='vdb'/></disk>"),
    -EPERM, "disk" },
  { "a file of the new VM's directory the import does not give",
    "<domain type='qemu'><name>n</name><sysinfo type='fwcfg'>"
    "<entry name='opt/x' file='" OWN "/left.qcow2'/></sysinfo><devices/>"
    "</domain>",
    -EPERM, "entry" },
  { "a disk's data file in the new VM's directory",
    DOM ("<disk type='file' device='disk'><source file='" OWN "/b.qcow2'>"
         "<dataStore type='file'><source file='" OWN "/left'/></dataStore>"
         "</source><target dev='vdb'/></disk>"),
    -EPERM, "source" },
  { "a cdrom with a host file",
    DOM ("<disk type='file' device='cdrom'><source file='/root/x.iso'/>"
         "<target dev='sda'/></disk>"),
    -EPERM, "disk type=file" },
  { "a lun", DOM ("<disk type='file' device='lun'><target dev='sda'/></disk>"),
    -EPERM, "disk" },
  { "an encrypted disk with a host secret",
    DOM ("<disk type='file' device='disk'><source file='" OWN "/b.qcow2'>"
         "<encryption format='luks'><secret type='passphrase' uuid='u'/>"
         "</encryption></source><target dev='vdb'/></disk>"),
    -EPERM, "encryption" },
  { "an interface with a script",
    DOM ("<interface type='network'><source network='default'/>"
         "<script path='/tmp/x.sh'/></interface>"),
    -EPERM, "script" },
  { "a bridge interface",
    DOM ("<interface type='bridge'><source bridge='br0'/></interface>"),
    -EPERM, "interface type=bridge" },
  { "a network whose forward mode reaches a host device",
    DOM ("<interface type='network'><source network='lan'/></interface>"),
    -EPERM, "network 'lan', whose forward mode" },
  { "a network that does not exist",
    DOM ("<interface type='network'><source network='gone'/></interface>"),
    -EPERM, "network 'gone', which does not exist" },
  { "a network interface naming no network",
    DOM ("<interface type='network'/>"), -EPERM, "naming no network" },
  { "an interface on an Open vSwitch port",
    DOM ("<interface type='network'><source network='default'/>"
         "<virtualport type='openvswitch'/></interface>"),
    -EPERM, "virtualport" },
  { "an interface on a VLAN",
    DOM ("<interface type='network'><source network='default'/>"
         "<vlan><tag id='42'/></vlan></interface>"),
    -EPERM, "vlan" },
  { "a user interface forwarding a host port",
    DOM ("<interface type='user'><backend type='passt'/><portForward "
         "proto='tcp'><range start='22'/></portForward></interface>"),
    -EPERM, "portForward" },
  { "a hostdev interface",
    DOM ("<interface type='hostdev'><source><address type='pci' "
         "domain='0' bus='1' slot='0' function='0'/></source></interface>"),
    -EPERM, "interface type=hostdev" },
  { "an mcast interface",
    DOM ("<interface type='mcast'><source address='230.0.0.1' "
         "port='5558'/></interface>"),
    -EPERM, "interface type=mcast" },
  { "a udp interface",
    DOM ("<interface type='udp'><source address='1.2.3.4' port='1'/>"
         "</interface>"),
    -EPERM, "interface type=udp" },
  { "a server interface",
    DOM ("<interface type='server'><source address='0.0.0.0' port='1'/>"
         "</interface>"),
    -EPERM, "interface type=server" },
  { "a client interface",
    DOM ("<interface type='client'><source address='1.2.3.4' port='1'/>"
         "</interface>"),
    -EPERM, "interface type=client" },
  { "an ethernet interface",
    DOM ("<interface type='ethernet'><target dev='tap0'/></interface>"),
    -EPERM, "interface type=ethernet" },
  { "a direct interface",
    DOM ("<interface type='direct'><source dev='eth0' mode='vepa'/>"
         "</interface>"),
    -EPERM, "interface type=direct" },
  { "a network interface on a host's tap",
    DOM ("<interface type='network'><source network='default'/>"
         "<target dev='eth0'/></interface>"),
    -EPERM, "target" },
  { "a vhost-user interface",
    DOM ("<interface type='vhostuser'><source type='unix' path='/run/x' "
         "mode='client'/></interface>"),
    -EPERM, "vhostuser" },
  { "a serial on a host device",
    DOM ("<serial type='dev'><source path='/dev/ttyS0'/></serial>"), -EPERM,
    "serial type=dev" },
  { "a serial writing a host file",
    DOM ("<serial type='file'><source path='/etc/cron.d/x'/></serial>"),
    -EPERM, "/etc/cron.d/x" },
  { "a serial file by a relative name",
    DOM ("<serial type='file'><source path='etc/x'/></serial>"), -EPERM,
    "etc/x" },
  { "a channel connecting to a host socket",
    DOM ("<channel type='unix'><source mode='connect' "
         "path='/run/docker.sock'/><target type='virtio'/></channel>"),
    -EPERM, "channel type=unix" },
  { "a console on tcp",
    DOM ("<console type='tcp'><source mode='bind' host='0.0.0.0' "
         "service='23'/></console>"),
    -EPERM, "console type=tcp" },
  { "a log to a host file",
    DOM ("<serial type='pty'><log file='/etc/x'/></serial>"), -EPERM,
    "/etc/x" },
  { "a pty's path out of /dev/pts",
    DOM ("<console type='pty'><source path='/dev/pts/../sda'/></console>"),
    -EPERM, "/dev/pts/../sda" },
  { "a kernel the caller may not read",
    "<domain type='qemu'><name>n</name><os><type>hvm</type>"
    "<kernel>/root/secret</kernel></os><devices/></domain>",
    -EPERM, "kernel" },
  { "an initrd by a relative name", OS ("<initrd>etc/shadow</initrd>"), -EPERM,
    "initrd" },
  { "a dtb elsewhere", OS ("<dtb>/home/x/dtb</dtb>"), -EPERM, "dtb" },
  { "the kernel, initrd, dtb and ACPI table the import copied",
    OS ("<kernel>" OWN "/kernel.boot</kernel><initrd>" OWN
        "/initrd.boot</initrd><dtb>" OWN "/dtb.boot</dtb><acpi><table "
        "type='slic'>" OWN "/table.boot</table></acpi>"),
    0, NULL },
  { "a kernel the import did not copy (libvirt would make it qemu's)",
    OS ("<kernel>/boot/vmlinuz</kernel>"), -EPERM, "kernel" },
  { "an ACPI table the import did not copy",
    OS ("<acpi><table type='slic'>/boot/vmlinuz</table></acpi>"), -EPERM,
    "table" },
  { "a copy's name out of the new VM's directory",
    OS ("<initrd>" OWN "/../x/initrd.boot</initrd>"), -EPERM, "initrd" },
  { "a writable loader", OS ("<loader type='pflash'>/boot/vmlinuz</loader>"),
    -EPERM, "loader" },
  { "a read-only loader",
    OS ("<loader readonly='yes' type='pflash'>"
        "/boot/vmlinuz</loader>"),
    0, NULL },
  { "an nvram file", OS ("<nvram>/etc/shadow</nvram>"), -EPERM, "nvram" },
  { "the new VM's own nvram file, the import's",
    OS ("<nvram>" OWN "/nvram.fd</nvram>"), 0, NULL },
  { "an nvram template elsewhere", OS ("<nvram template='/root/vars.fd'/>"),
    -EPERM, "nvram" },
  { "an LXC init", OS ("<init>/bin/sh</init>"), -EPERM, "init" },
  { "the host's SMBIOS",
    "<domain type='qemu'><name>n</name><os><type>hvm</type>"
    "<smbios mode='host'/></os><sysinfo type='smbios'/><devices/></domain>",
    -EPERM, "smbios" },
  { "an SMBIOS of no mode", OS ("<smbios/>"), -EPERM, "smbios" },
  { "SMBIOS emulated, or from the domain's sysinfo",
    "<domain type='qemu'><name>n</name><os><type>hvm</type>"
    "<smbios mode='emulate'/><smbios mode='sysinfo'/></os>"
    "<sysinfo type='smbios'><system><entry name='serial'>1</entry></system>"
    "</sysinfo><devices/></domain>",
    0, NULL },
  { "an emulator of the caller's",
    "<domain type='qemu'><name>n</name><devices>"
    "<emulator>/home/x/qemu</emulator></devices></domain>",
    -EPERM, "emulator" },
  { "an emulator root's but not one libvirt lists",
    "<domain type='qemu'><name>n</name><devices>"
    "<emulator>/boot/vmlinuz</emulator></devices></domain>",
    -EPERM, "emulator" },
  { "blkiotune",
    "<domain type='qemu'><name>n</name><blkiotune><device>"
    "<path>/dev/sda</path><weight>1</weight></device></blkiotune>"
    "<devices/></domain>",
    -EPERM, "blkiotune" },
  { "a static seclabel",
    "<domain type='qemu'><name>n</name><seclabel type='static' model='dac' "
    "relabel='yes'><label>0:0</label></seclabel><devices/></domain>",
    -EPERM, "seclabel" },
  { "a cgroup of one's own",
    "<domain type='qemu'><name>n</name><resource><partition>/system.slice"
    "</partition></resource><devices/></domain>",
    -EPERM, "partition" },
  { "sysinfo from a host file",
    "<domain type='qemu'><name>n</name><sysinfo type='fwcfg'>"
    "<entry name='opt/x' file='/etc/shadow'/></sysinfo><devices/></domain>",
    -EPERM, "/etc/shadow" },
  { "smartcard", DOM ("<smartcard mode='passthrough' type='tcp'/>"), -EPERM,
    "smartcard" },
  { "a passthrough tpm",
    DOM ("<tpm><backend type='passthrough'><device path='/dev/tpm0'/>"
         "</backend></tpm>"),
    -EPERM, "tpm" },
  { "redirdev on tcp",
    DOM ("<redirdev bus='usb' type='tcp'><source mode='connect' "
         "host='h' service='1'/></redirdev>"),
    -EPERM, "redirdev" },
  { "shmem", DOM ("<shmem name='x'/>"), -EPERM, "shmem" },
  { "nvdimm",
    DOM ("<memory model='nvdimm'><source><path>/dev/pmem0</path></source>"
         "</memory>"),
    -EPERM, "memory" },
  { "an rng from a host device",
    DOM ("<rng model='virtio'><backend model='random'>/dev/hwrng</backend>"
         "</rng>"),
    -EPERM, "/dev/hwrng" },
  { "an rng from a socket",
    DOM ("<rng model='virtio'><backend model='egd' type='tcp'/></rng>"),
    -EPERM, "rng" },
  { "an evdev input",
    DOM ("<input type='evdev'><source dev='/dev/input/event0'/></input>"),
    -EPERM, "input" },
  { "sdl graphics", DOM ("<graphics type='sdl' display=':0'/>"), -EPERM,
    "graphics" },
  { "a vnc socket elsewhere",
    DOM ("<graphics type='vnc' socket='/run/x.sock'/>"), -EPERM,
    "/run/x.sock" },
  { "host audio", DOM ("<audio id='1' type='alsa'/>"), -EPERM, "audio" },
  { "a lease", DOM ("<lease><lockspace>x</lockspace></lease>"), -EPERM,
    "lease" },
  { "an unknown device", DOM ("<frobnicator/>"), -EPERM, "frobnicator" },
  { "an unknown element of domain",
    "<domain type='qemu'><name>n</name><idmap/><devices/></domain>", -EPERM,
    "idmap" },
  { "an attribute of another namespace",
    DOM ("<video x:file='/etc/shadow' xmlns:x='urn:x'/>"), -EPERM, "video" },
  { "an entity",
    "<!DOCTYPE domain [<!ENTITY s '/etc/shadow'>]><domain type='qemu'>"
    "<name>n</name><os><type>hvm</type><kernel>&s;</kernel></os><devices/>"
    "</domain>",
    -EPERM, "kernel" },
  { "an nvram over the network",
    OS ("<nvram type='network'><source protocol='nbd' name='x'>"
        "<host name='127.0.0.1' port='10809'/></source></nvram>"),
    -EPERM, "nvram" },
  { "a network host anywhere",
    DOM ("<rng model='virtio'><backend model='random'>/dev/urandom</backend>"
         "<source><host name='10.0.0.1'/></source></rng>"),
    -EPERM, "host" },
  { "a protocol anywhere",
    DOM ("<video><model type='virtio'/><source protocol='nbd'/></video>"),
    -EPERM, "source" },
  { "spice with the host's GPU",
    DOM ("<graphics type='spice'><gl enable='yes'/></graphics>"), -EPERM,
    "gl" },
  { "spice without GL", DOM ("<graphics type='spice'><gl enable='no'/></graphics>"),
    0, NULL },
  { "3D acceleration",
    DOM ("<video><model type='virtio'><acceleration accel3d='yes'/></model>"
         "</video>"),
    -EPERM, "acceleration" },
  { "a vhost-user video", DOM ("<video><driver name='vhostuser'/></video>"),
    -EPERM, "driver" },
  { "a base label of the caller's choice",
    TOP ("<seclabel type='dynamic' model='selinux'>"
         "<baselabel>system_u:system_r:unconfined_t:s0</baselabel></seclabel>"),
    -EPERM, "baselabel" },
  { "labels off", TOP ("<seclabel type='dynamic' model='dac' relabel='no'/>"),
    -EPERM, "seclabel" },
  { "libvirt's own labels, as a live domain shows them",
    TOP ("<seclabel type='dynamic' model='dac' relabel='yes'>"
         "<label>+64055:+108</label><imagelabel>+64055:+108</imagelabel>"
         "</seclabel>"),
    0, NULL },
  { "a device's own label",
    DOM ("<serial type='file'><source path='" OWN "/console.log'>"
         "<seclabel model='dac' relabel='no'/></source></serial>"),
    -EPERM, "seclabel" },
  { "a real-time vCPU",
    TOP ("<cputune><vcpusched vcpus='0' scheduler='fifo' priority='99'/>"
         "</cputune>"),
    -EPERM, "vcpusched" },
  { "a vCPU's share", TOP ("<cputune><shares>512</shares></cputune>"), 0,
    NULL },
  { "the host's cache partitioned",
    TOP ("<cputune><cachetune vcpus='0'/></cputune>"), -EPERM, "cachetune" },
  { "memory locked", TOP ("<memoryBacking><locked/></memoryBacking>"), -EPERM,
    "locked" },
  { "a core dump on a crash", TOP ("<on_crash>coredump-destroy</on_crash>"),
    -EPERM, "on_crash" },
  { "a restart on a crash", TOP ("<on_crash>restart</on_crash>"), 0, NULL },
  { "not XML", "<domain", -EINVAL, NULL },
  { "not a domain", "<network/>", -EINVAL, NULL },
  { "empty", "", -EINVAL, NULL },
};

/* Networks by their XML, as libvirt shows them: which reach no host
 * device. */
static void
test_network_modes (void **state)
{
  static const struct
  {
    const char *xml;
    int want;
  } nets[] = {
    { "<network><name>i</name></network>", 0 },
    { "<network><name>n</name><forward mode='nat'/></network>", 0 },
    { "<network><name>n</name><forward/></network>", 0 },
    { "<network><name>r</name><forward mode='route'/></network>", 0 },
    { "<network><name>o</name><forward mode='open'/></network>", 0 },
    { "<network><forward mode='bridge'/><bridge name='br0'/></network>",
      -EPERM },
    { "<network><forward mode='bridge'><interface dev='eth0'/></forward>"
      "</network>",
      -EPERM },
    { "<network><forward mode='private' dev='eth0'/></network>", -EPERM },
    { "<network><forward mode='vepa' dev='eth0'/></network>", -EPERM },
    { "<network><forward mode='passthrough' dev='eth0'/></network>", -EPERM },
    { "<network><forward mode='hostdev' managed='yes'/></network>", -EPERM },
    { "<domain/>", -EPERM },
    { "<network", -EPERM },
  };

  (void)state;
  for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++)
    if (import_network_xml_ok (nets[i].xml) != nets[i].want)
      fail_msg ("%s: want %d", nets[i].xml, nets[i].want);
}

static void
test_policy (void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      const struct policy_case *c = &cases[i];
      char why[256];
      int r = import_policy (c->xml, &rules, why, sizeof why);

      if (r != c->want || (c->names && !strstr (why, c->names)))
        fail_msg ("%s: got %d (%s), want %d naming '%s'", c->what, r, why,
                  c->want, c->names ? c->names : "");
    }
}

/* A domain of a few thousand devices, all allowed, and one refused at the
 * end: the walk reaches it. */
static void
test_long (void **state)
{
  char *xml = NULL, *devs = NULL, why[256];
  size_t len = 0;
  FILE *f = open_memstream (&devs, &len);

  (void)state;
  for (int i = 0; i < 5000; i++)
    fprintf (f, "<controller type='pci' index='%d'/>", i);
  fputs ("<hostdev/>", f);
  fclose (f);
  assert_true (asprintf (&xml, DOM ("%s"), devs) > 0);
  assert_int_equal (-EPERM, import_policy (xml, &rules, why, sizeof why));
  assert_non_null (strstr (why, "hostdev"));
  free (xml);
  free (devs);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_policy),
    cmocka_unit_test (test_network_modes),
    cmocka_unit_test (test_long),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}

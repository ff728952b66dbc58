/* Unit tests of host/virxml.c: libvirt's domain and snapshot XML, as
 * libvirt 9.0 writes it, and malformed and hostile XML. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"
#include "virxml.h"

#define INNER_DOMAIN                                                          \
  "<domain type='qemu'><name>vm1</name><devices>"                             \
  "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"        \
  "<source file='/img/vda.qcow2'/><target dev='vda' bus='virtio'/></disk>"    \
  "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"          \
  "<source file='/img/vdb.raw'/><target dev='vdb' bus='virtio'/></disk>"      \
  "<disk type='file' device='cdrom'><source file='/iso/x.iso'/>"              \
  "<target dev='sda' bus='sata'/></disk>"                                     \
  "</devices></domain>"

static const char memory_snapshot[]
    = "<domainsnapshot><name>s1</name><state>running</state>"
      "<creationTime>1795456087</creationTime>"
      "<memory snapshot='external' file='/img/s1.mem'/>"
      "<disks>"
      "<disk name='vda' snapshot='external' type='file'>"
      "<driver type='qcow2'/><source file='/img/vda.s1.qcow2'/></disk>"
      "<disk name='vdb' snapshot='external' type='file'>"
      "<driver type='qcow2'/><source file='/img/vdb.s1.qcow2'/></disk>"
      "<disk name='sda' snapshot='no'/>"
      "</disks>" INNER_DOMAIN "</domainsnapshot>";

static void
test_memory_snapshot (void **state)
{
  struct snap_xml *s;

  (void)state;
  assert_int_equal (snap_xml_parse (memory_snapshot, &s), 0);
  assert_string_equal (s->name, "s1");
  assert_null (s->parent);
  assert_string_equal (s->state, "running");
  assert_int_equal (s->created, 1795456087);
  assert_string_equal (s->memory_file, "/img/s1.mem");
  assert_int_equal (s->ndisks, 2);
  assert_string_equal (s->disks[0].target, "vda");
  assert_string_equal (s->disks[0].overlay, "/img/vda.s1.qcow2");
  assert_string_equal (s->disks[0].frozen, "/img/vda.qcow2");
  assert_string_equal (s->disks[0].format, "qcow2");
  assert_string_equal (s->disks[1].frozen, "/img/vdb.raw");
  assert_string_equal (s->disks[1].format, "raw");
  assert_non_null (strstr (s->domain_xml, "<name>vm1</name>"));
  assert_int_equal (strncmp (s->domain_xml, "<domain", 7), 0);
  snap_xml_free (s);
}

static void
test_disk_only_child (void **state)
{
  const char *xml
      = "<domainsnapshot><name>s2</name><state>disk-snapshot</state>"
        "<parent><name>s1</name></parent>"
        "<creationTime>1795456088</creationTime><memory snapshot='no'/>"
        "<description>nightly</description>"
        "<disks><disk name='vda' snapshot='external' type='file'>"
        "<source file='/img/vda.s2.qcow2'/></disk></disks>"
        "</domainsnapshot>";
  struct snap_xml *s;

  (void)state;
  assert_int_equal (snap_xml_parse (xml, &s), 0);
  assert_string_equal (s->parent, "s1");
  assert_string_equal (s->state, "disk-snapshot");
  assert_string_equal (s->description, "nightly");
  assert_null (s->memory_file);
  assert_int_equal (s->ndisks, 1);
  assert_null (s->disks[0].frozen); /* no inner domain */
  assert_null (s->domain_xml);
  snap_xml_free (s);
}

struct bad_case
{
  const char *what;
  const char *xml;
};

static const struct bad_case bad_snapshots[] = {
  { "empty", "" },
  { "garbage", "\x01\x02<<<>>>" },
  { "truncated", "<domainsnapshot><name>s1</name><state>running" },
  { "another root", "<domain><name>s1</name></domain>" },
  { "no name",
    "<domainsnapshot><state>running</state><creationTime>1</creationTime>"
    "</domainsnapshot>" },
  { "no state", "<domainsnapshot><name>s</name><creationTime>1</creationTime>"
                "</domainsnapshot>" },
  { "no creation time",
    "<domainsnapshot><name>s</name><state>running</state></domainsnapshot>" },
  { "a creation time that is not a number",
    "<domainsnapshot><name>s</name><state>running</state>"
    "<creationTime>yesterday</creationTime></domainsnapshot>" },
  { "a negative creation time",
    "<domainsnapshot><name>s</name><state>running</state>"
    "<creationTime>-5</creationTime></domainsnapshot>" },
  { "a creation time past 64 bits",
    "<domainsnapshot><name>s</name><state>running</state>"
    "<creationTime>99999999999999999999999</creationTime></domainsnapshot>" },
  { "an external entity",
    "<?xml version='1.0'?><!DOCTYPE d [<!ENTITY x SYSTEM "
    "'file:///etc/passwd'>]><domainsnapshot><name>&x;</name>"
    "<state>running</state><creationTime>1</creationTime></domainsnapshot>" },
};

static void
test_bad_snapshots (void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof bad_snapshots / sizeof bad_snapshots[0]; i++)
    {
      struct snap_xml *s = (struct snap_xml *)0x1;
      int r = snap_xml_parse (bad_snapshots[i].xml, &s);

      if (r != -EINVAL)
        fail_msg ("%s: expected -EINVAL, got %d", bad_snapshots[i].what, r);
      assert_null (s);
    }
  assert_int_equal (snap_xml_parse (NULL, &(struct snap_xml *){ NULL }),
                    -EINVAL);
}

static void
test_hostile_disk_names (void **state)
{
  /* A disk name becomes a file name: none may climb out of the directory
   * or hide. */
  const char *xml
      = "<domainsnapshot><name>s</name><state>running</state>"
        "<creationTime>1</creationTime><disks>"
        "<disk name='../../etc/x' snapshot='external'>"
        "<source file='/a'/></disk>"
        "<disk name='.hidden' snapshot='external'><source file='/b'/></disk>"
        "<disk name='vdc' snapshot='external'><source file='/c'/></disk>"
        "<disk name='vdd' snapshot='external'/>"
        "</disks></domainsnapshot>";
  struct snap_xml *s;

  (void)state;
  assert_int_equal (snap_xml_parse (xml, &s), 0);
  assert_int_equal (s->ndisks, 1);
  assert_string_equal (s->disks[0].target, "vdc");
  snap_xml_free (s);
}

static void
test_domain (void **state)
{
  const char *xml
      = "<domain type='qemu'><name>vm1</name>"
        /* as libvirt 9.0 stores it: the children in the namespace too */
        "<metadata><vmsnapfs:vmsnapfs xmlns:vmsnapfs='" VMSNAPFS_XMLNS "'>"
        "<vmsnapfs:snapshot-mode>disk</vmsnapfs:snapshot-mode>"
        "</vmsnapfs:vmsnapfs></metadata>"
        "<devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='/img/vda.s1.qcow2'/><target dev='vda'/></disk>"
        "<disk type='file' device='cdrom'><source file='/x.iso'/>"
        "<target dev='sda'/></disk>"
        "<disk type='network' device='disk'><source protocol='nbd'/>"
        "<target dev='vdb'/></disk>"
        "<disk type='file' device='disk'><target dev='vdc'/></disk>"
        "</devices></domain>";
  struct dom_xml *d;

  (void)state;
  assert_int_equal (dom_xml_parse (xml, &d), 0);
  assert_int_equal (d->ndisks, 1);
  assert_string_equal (d->disks[0].target, "vda");
  assert_string_equal (d->disks[0].source, "/img/vda.s1.qcow2");
  assert_string_equal (d->disks[0].format, "qcow2");
  assert_string_equal (d->meta.snapshot_mode, "disk");
  assert_true (d->emulated);
  dom_xml_free (d);

  /* A guest on KVM is not emulated: its memory is saved live. */
  assert_int_equal (dom_xml_parse ("<domain type='kvm'/>", &d), 0);
  assert_false (d->emulated);
  dom_xml_free (d);

  /* The mode in another namespace is not ours. */
  assert_int_equal (
      dom_xml_parse ("<domain><metadata><x:vmsnapfs xmlns:x='urn:other'>"
                     "<x:snapshot-mode>disk</x:snapshot-mode></x:vmsnapfs>"
                     "</metadata></domain>",
                     &d),
      0);
  assert_null (d->meta.snapshot_mode);
  assert_int_equal (d->ndisks, 0);
  dom_xml_free (d);

  assert_int_equal (dom_xml_parse ("<domainsnapshot/>", &d), -EINVAL);
  assert_int_equal (dom_xml_parse ("<domain>", &d), -EINVAL);
  assert_null (d);
}

static void
test_meta_round_trip (void **state)
{
  struct kept_disk disks[] = { { .target = (char *)"vda",
                                 .kept = (char *)"/i/a.qcow2",
                                 .format = (char *)"qcow2",
                                 .preview = (char *)"/i/p.qcow2" } };
  struct vs_meta m = { .snapshot_mode = (char *)"disk",
                       .resume = (char *)"s1",
                       .preview = (char *)"s1",
                       .kept_current = (char *)"s3",
                       .kept_resume = (char *)"s2&<'\"",
                       .ndisks = 1,
                       .disks = disks };
  char *elem = vs_meta_format (&m), *xml;
  struct dom_xml *d;

  (void)state;
  /* For virDomainSetMetadata: no namespace, libvirt adds it. */
  assert_null (strstr (elem, "xmlns"));
  assert_non_null (strstr (elem, "<vmsnapfs><snapshot-mode>disk<"));
  /* In a domain, as dom_xml_edit writes it. */
  xml = dom_xml_edit ("<domain><name>x</name></domain>", NULL, 0, &m);
  assert_non_null (xml);
  assert_int_equal (dom_xml_parse (xml, &d), 0);
  assert_string_equal (d->meta.snapshot_mode, "disk");
  assert_string_equal (d->meta.resume, "s1");
  assert_string_equal (d->meta.preview, "s1");
  assert_string_equal (d->meta.kept_current, "s3");
  assert_string_equal (d->meta.kept_resume, "s2&<'\"");
  assert_int_equal (d->meta.ndisks, 1);
  assert_string_equal (d->meta.disks[0].kept, "/i/a.qcow2");
  assert_string_equal (d->meta.disks[0].preview, "/i/p.qcow2");
  assert_string_equal (d->meta.disks[0].format, "qcow2");
  dom_xml_free (d);
  free (xml);
  free (elem);
}

static void
test_merge_record (void **state)
{
  struct merge_disk disks[] = {
    { .target = (char *)"vda",
      .top = (char *)"/i/t.qcow2",
      .base = (char *)"/i/b.qcow2",
      .format = (char *)"qcow2" },
    { .target = (char *)"vdb",
      .top = (char *)"/i/t2.qcow2",
      .base = (char *)"/i/b2.raw",
      .format = (char *)"raw",
      .committed = true },
  };
  struct vs_meta m = { .merge = (char *)"s2",
                       .merge_memory = (char *)"/i/m",
                       .merge_failed = true,
                       .nmerge = 2,
                       .merge_disks = disks };
  char *xml = dom_xml_edit ("<domain><name>x</name></domain>", NULL, 0, &m);
  struct dom_xml *d;

  (void)state;
  assert_int_equal (dom_xml_parse (xml, &d), 0);
  assert_string_equal (d->meta.merge, "s2");
  assert_string_equal (d->meta.merge_memory, "/i/m");
  assert_true (d->meta.merge_failed);
  assert_int_equal (d->meta.nmerge, 2);
  assert_string_equal (d->meta.merge_disks[0].top, "/i/t.qcow2");
  assert_string_equal (d->meta.merge_disks[0].base, "/i/b.qcow2");
  assert_false (d->meta.merge_disks[0].committed);
  assert_string_equal (d->meta.merge_disks[1].target, "vdb");
  assert_string_equal (d->meta.merge_disks[1].format, "raw");
  assert_true (d->meta.merge_disks[1].committed);
  dom_xml_free (d);
  free (xml);

  /* A disk without its top or base is no part of a merge. */
  assert_int_equal (
      dom_xml_parse ("<domain><metadata><v:vmsnapfs xmlns:v='" VMSNAPFS_XMLNS
                     "'><v:merge snapshot='s' state='running'>"
                     "<v:disk target='vda' base='/b'/>"
                     "<v:disk target='vdb' top='/t' base='/b'/>"
                     "</v:merge></v:vmsnapfs></metadata></domain>",
                     &d),
      0);
  assert_string_equal (d->meta.merge, "s");
  assert_false (d->meta.merge_failed);
  assert_int_equal (d->meta.nmerge, 1);
  assert_string_equal (d->meta.merge_disks[0].target, "vdb");
  assert_null (d->meta.merge_disks[0].format);
  dom_xml_free (d);
}

/* A clone's pins on its source: kept through a write and a read, in
 * order, beside the rest; a pin without one of its attributes is none,
 * and a clone's own domain carries none of its source's. */
static void
test_pins (void **state)
{
  struct vs_meta m = { .stateless = (char *)"s1" };
  struct dom_xml *d;
  char *xml;

  (void)state;
  vs_meta_add_pin (&m, "s1", "c1", "uuid-1");
  vs_meta_add_pin (&m, "s&2", "c'2", "uuid-2");
  vs_meta_add_pin (&m, "s3", "c3", "uuid-3");
  vs_meta_drop_pin (&m, 0);
  xml = dom_xml_edit ("<domain><name>x</name></domain>", NULL, 0, &m);
  assert_int_equal (dom_xml_parse (xml, &d), 0);
  assert_int_equal (d->meta.npins, 2);
  assert_string_equal (d->meta.pins[0].snapshot, "s&2");
  assert_string_equal (d->meta.pins[0].clone, "c'2");
  assert_string_equal (d->meta.pins[0].uuid, "uuid-2");
  assert_string_equal (d->meta.pins[1].uuid, "uuid-3");
  assert_string_equal (d->meta.stateless, "s1");
  dom_xml_free (d);
  free (xml);
  m.stateless = NULL;
  vs_meta_clear (&m);

  assert_int_equal (
      dom_xml_parse ("<domain><metadata><v:vmsnapfs xmlns:v='" VMSNAPFS_XMLNS
                     "'><v:pin snapshot='s1' clone='c'/><v:pin snapshot='s2'"
                     " clone='d' uuid='u'/><v:pin uuid='w'/></v:vmsnapfs>"
                     "</metadata></domain>",
                     &d),
      0);
  assert_int_equal (d->meta.npins, 1);
  assert_string_equal (d->meta.pins[0].clone, "d");
  dom_xml_free (d);

  /* A snapshot taken while a clone copied holds the pin in its domain: a
   * clone of it does not inherit the pin. */
  {
    struct dom_identity id = { .name = "y",
                               .uuid = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
                               .old_name = "x" };
    char *clone;

    vs_meta_add_pin (&m, "s1", "c1", "uuid-1");
    xml = dom_xml_edit ("<domain><name>x</name></domain>", NULL, 0, &m);
    clone = dom_xml_clone (xml, &id, NULL, 0, NULL);
    assert_non_null (clone);
    assert_int_equal (dom_xml_parse (clone, &d), 0);
    assert_int_equal (d->meta.npins, 0);
    dom_xml_free (d);
    free (clone);
    free (xml);
    vs_meta_clear (&m);
  }
}

static void
test_rename (void **state)
{
  struct vs_meta m
      = { .rename_from = (char *)"s2", .rename_to = (char *)"mid" };
  char *xml = dom_xml_edit ("<domain><name>x</name></domain>", NULL, 0, &m);
  struct snap_xml *s;
  struct dom_xml *d;
  char *out;

  (void)state;
  /* The record of a rename under way. */
  assert_int_equal (dom_xml_parse (xml, &d), 0);
  assert_string_equal (d->meta.rename_from, "s2");
  assert_string_equal (d->meta.rename_to, "mid");
  dom_xml_free (d);
  free (xml);
  /* Half a record is none. */
  assert_int_equal (
      dom_xml_parse ("<domain><metadata><v:vmsnapfs xmlns:v='" VMSNAPFS_XMLNS
                     "'><v:rename from='s2'/></v:vmsnapfs></metadata>"
                     "</domain>",
                     &d),
      0);
  assert_null (d->meta.rename_from);
  assert_null (d->meta.rename_to);
  dom_xml_free (d);

  /* A snapshot's XML under a new name, the rest kept. */
  out = snap_xml_rename (memory_snapshot, "mid");
  assert_non_null (out);
  assert_int_equal (snap_xml_parse (out, &s), 0);
  assert_string_equal (s->name, "mid");
  assert_null (s->parent);
  assert_string_equal (s->memory_file, "/img/s1.mem");
  assert_int_equal (s->ndisks, 2);
  assert_non_null (strstr (s->domain_xml, "<name>vm1</name>"));
  snap_xml_free (s);
  free (out);
  /* A child's XML with a new parent. */
  out = snap_xml_reparent ("<domainsnapshot><name>c</name><parent><name>s2"
                           "</name></parent><state>shutoff</state>"
                           "<creationTime>1</creationTime></domainsnapshot>",
                           "mid");
  assert_non_null (out);
  assert_int_equal (snap_xml_parse (out, &s), 0);
  assert_string_equal (s->name, "c");
  assert_string_equal (s->parent, "mid");
  snap_xml_free (s);
  free (out);
  /* A child made a root. */
  out = snap_xml_reparent ("<domainsnapshot><name>c</name><parent><name>s2"
                           "</name></parent><state>shutoff</state>"
                           "<creationTime>1</creationTime></domainsnapshot>",
                           NULL);
  assert_non_null (out);
  assert_int_equal (snap_xml_parse (out, &s), 0);
  assert_null (s->parent);
  snap_xml_free (s);
  free (out);
  /* No parent to change, or no snapshot at all. */
  assert_null (snap_xml_reparent (memory_snapshot, "mid"));
  assert_null (snap_xml_rename ("<domain><name>s</name></domain>", "x"));
  assert_null (snap_xml_rename ("<domainsnapshot><name>", "x"));
  assert_null (snap_xml_reparent ("<domain><name>s</name></domain>", NULL));
}

static void
test_live_chain (void **state)
{
  /* The live XML: the chain under the source, top first, and a mirror
   * ready to pivot. */
  const char *xml
      = "<domain><devices><disk type='file' device='disk'>"
        "<driver type='qcow2'/><source file='/top'/>"
        "<backingStore type='file'><source file='/mid'/>"
        "<backingStore type='file'><source file='/base'/><backingStore/>"
        "</backingStore></backingStore>"
        "<mirror type='file' job='active-commit' ready='yes'>"
        "<source file='/mid'/></mirror>"
        "<target dev='vda'/></disk></devices></domain>";
  struct dom_xml *d;

  (void)state;
  assert_int_equal (dom_xml_parse (xml, &d), 0);
  assert_int_equal (d->ndisks, 1);
  assert_int_equal (d->disks[0].nbacking, 2);
  assert_string_equal (d->disks[0].backing[0], "/mid");
  assert_string_equal (d->disks[0].backing[1], "/base");
  assert_true (d->disks[0].mirror_ready);
  /* What a failed snapshot may delete: none of these. */
  assert_true (dom_xml_uses (d, "/top"));
  assert_true (dom_xml_uses (d, "/mid"));
  assert_true (dom_xml_uses (d, "/base"));
  assert_false (dom_xml_uses (d, "/top.new"));
  assert_false (dom_xml_uses (d, "/"));
  assert_false (dom_xml_uses (NULL, "/top"));
  dom_xml_free (d);
}

static void
test_edit (void **state)
{
  const char *xml
      = "<domain type='qemu'><name>vm1</name>"
        "<metadata><other xmlns='urn:x'/>"
        "<vmsnapfs:vmsnapfs xmlns:vmsnapfs='" VMSNAPFS_XMLNS "'>"
        "<vmsnapfs:resume snapshot='old'/></vmsnapfs:vmsnapfs></metadata>"
        "<devices><disk type='file' device='disk'>"
        "<driver name='qemu' type='raw'/><source file='/i/vda.raw'/>"
        "<backingStore type='file'><format type='raw'/>"
        "<source file='/i/base'/><backingStore/></backingStore>"
        "<target dev='vda'/></disk>"
        "<disk type='file' device='disk'><source file='/i/vdb.qcow2'/>"
        "<target dev='vdb'/></disk></devices></domain>";
  struct disk_change ch[] = { { "vda", "/i/new'a.qcow2", "qcow2" } };
  struct vs_meta m = { .preview = (char *)"s1" };
  struct dom_xml *d;
  char *out;

  (void)state;
  out = dom_xml_edit (xml, ch, 1, &m);
  assert_non_null (out);
  assert_null (strstr (out, "backingStore"));
  assert_non_null (strstr (out, "<other xmlns=\"urn:x\"/>"));
  assert_int_equal (dom_xml_parse (out, &d), 0);
  assert_string_equal (d->disks[0].source, "/i/new'a.qcow2");
  assert_string_equal (d->disks[0].format, "qcow2");
  assert_string_equal (d->disks[1].source, "/i/vdb.qcow2");
  assert_null (d->meta.resume); /* the record is replaced whole */
  assert_string_equal (d->meta.preview, "s1");
  dom_xml_free (d);
  free (out);

  /* Without META the record stays. */
  out = dom_xml_edit (xml, ch, 1, NULL);
  assert_int_equal (dom_xml_parse (out, &d), 0);
  assert_string_equal (d->meta.resume, "old");
  dom_xml_free (d);
  free (out);

  /* A disk that is not there, or a hostile target: nothing. */
  ch[0].target = "vdz";
  assert_null (dom_xml_edit (xml, ch, 1, NULL));
  ch[0].target = "vda' or '1'='1";
  assert_null (dom_xml_edit (xml, ch, 1, NULL));
  assert_null (dom_xml_edit ("<domainsnapshot/>", NULL, 0, NULL));
  assert_null (dom_xml_edit ("<domain>", NULL, 0, NULL));
}

/* A clone's XML: its name, UUID, MACs and console files, its disks; the
 * clone record round-trips; and the snapshot made the clone's. */
static void
test_clone (void **state)
{
  const char *xml
      = "<domain type='qemu'><name>web</name>"
        "<uuid>11111111-2222-3333-4444-555555555555</uuid><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='/i/web.vda.s1.qcow2'/><target dev='vda'/></disk>"
        "<interface type='network'><mac address='52:54:00:aa:bb:cc'/>"
        "</interface><interface type='network'/>"
        "<serial type='file'><source path='/i/console.log'/></serial>"
        "<serial type='file'><source path='/i/web-serial.log'/></serial>"
        "</devices></domain>";
  const char *snap
      = "<domainsnapshot><name>s1</name><parent><name>s0</name></parent>"
        "<state>running</state><creationTime>1</creationTime>"
        "<memory snapshot='external' file='/i/web.s1.mem'/>"
        "<disks><disk name='vda' snapshot='external'>"
        "<source file='/i/web.vda.s1.qcow2'/></disk></disks>";
  struct dom_identity id = { .name = "web2",
                             .uuid = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
                             .old_name = "web" };
  struct disk_change ch = { "vda", "/i/web2.vda.s1.qcow2", "qcow2" };
  struct disk_change fr = { "vda", "/i/web2.vda.qcow2", "qcow2" };
  struct vs_meta m = { 0 };
  char t[] = "vda", src[] = "/i/web.vda.qcow2", fmt[] = "qcow2";
  char cp[] = "/i/web2.vda.qcow2", ov[] = "/i/web2.vda.s1.qcow2";
  char cvm[] = "web", cs[] = "s1", cmem[] = "/i/web.s1.mem";
  char cmemc[] = "/i/web2.s1.mem";
  struct clone_disk cd = { t, src, fmt, cp, ov };
  struct dom_xml *d;
  struct snap_xml *sx;
  char *out, *again, *full;

  (void)state;
  m.clone_vm = cvm;
  m.clone_snapshot = cs;
  m.clone_memory = cmem;
  m.clone_memory_copy = cmemc;
  m.nclone = 1;
  m.clone_disks = &cd;
  out = dom_xml_clone (xml, &id, &ch, 1, &m);
  assert_non_null (out);
  assert_non_null (strstr (out, "<name>web2</name>"));
  assert_non_null (strstr (out, "<uuid>aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"));
  assert_null (strstr (out, "52:54:00:aa:bb:cc"));
  assert_null (strstr (out, "11111111-2222"));
  assert_non_null (strstr (out, "/i/web2.console.log"));
  assert_non_null (strstr (out, "/i/web2-serial.log"));
  /* The same UUID gives the same MACs: the definition and the memory
   * image agree. */
  again = dom_xml_clone (xml, &id, &ch, 1, &m);
  assert_string_equal (out, again);
  assert_int_equal (dom_xml_parse (out, &d), 0);
  assert_string_equal (d->disks[0].source, "/i/web2.vda.s1.qcow2");
  assert_string_equal (d->meta.clone_vm, "web");
  assert_string_equal (d->meta.clone_memory_copy, "/i/web2.s1.mem");
  assert_int_equal (d->meta.nclone, 1);
  assert_string_equal (d->meta.clone_disks[0].overlay, "/i/web2.vda.s1.qcow2");
  dom_xml_free (d);
  free (again);
  free (out);

  full = xasprintf ("%s%s</domainsnapshot>", snap, xml);
  out = snap_xml_clone (full, &id, &fr, &ch, 1, "/i/web2.s1.mem");
  assert_non_null (out);
  assert_int_equal (snap_xml_parse (out, &sx), 0);
  assert_null (sx->parent);
  assert_string_equal (sx->memory_file, "/i/web2.s1.mem");
  assert_string_equal (sx->disks[0].overlay, "/i/web2.vda.s1.qcow2");
  assert_string_equal (sx->disks[0].frozen, "/i/web2.vda.qcow2");
  assert_non_null (strstr (sx->domain_xml, "<name>web2</name>"));
  snap_xml_free (sx);
  free (out);
  /* No memory asked of a snapshot with memory: refused. */
  assert_null (snap_xml_clone (full, &id, &fr, &ch, 1, NULL));
  free (full);
  /* An import's files go to its own directory (on another host, the
   * source's does not exist), named there: never the export's names (its
   * record's, a volume's), the same source the same file. */
  id.dir = "/j/web2";
  again = dom_xml_clone (xml, &id, &ch, 1, &m);
  assert_non_null (again);
  assert_non_null (strstr (again, "\"/j/web2/console.log\""));
  assert_non_null (strstr (again, "\"/j/web2/console-1.log\""));
  free (again);
  id.name = id.old_name = "web";
  again = dom_xml_clone (xml, &id, &ch, 1, &m);
  assert_non_null (strstr (again, "\"/j/web2/console.log\""));
  free (again);
  again = dom_xml_clone (
      "<domain><name>web</name><devices>"
      "<serial type='file'><source path='/x/.vmsnapfs-import'/>"
      "<log file='/x/web.vda.s1.qcow2'/></serial>"
      "<console type='file'><source path='/x/.vmsnapfs-import'/></console>"
      "<channel type='unix'><source mode='bind' path='/x/web.s1.mem'/>"
      "</channel><channel type='file'><source path='/x/a.log'/></channel>"
      "</devices></domain>",
      &id, NULL, 0, NULL);
  assert_non_null (again);
  assert_null (strstr (again, "/x/"));
  assert_null (strstr (again, "vmsnapfs-import"));
  assert_null (strstr (again, ".qcow2"));
  assert_null (strstr (again, ".mem"));
  assert_non_null (strstr (again, "<source path=\"/j/web2/console.log\"/>"
                                  "<log file=\"/j/web2/console-1.log\"/>"));
  assert_non_null (strstr (again, "<console type=\"file\"><source "
                                  "path=\"/j/web2/console.log\"/>"));
  assert_non_null (strstr (again, "\"/j/web2/channel.sock\""));
  assert_non_null (strstr (again, "\"/j/web2/channel.log\""));
  free (again);
  id.name = "web2";
  id.dir = NULL;
  assert_null (dom_xml_clone ("<domain/>", &id, NULL, 0, NULL));
}

/* The passwords a memory image's domain holds, given to a domain shown
 * without them: display by display, of the same type, in order; a
 * password the domain has is kept; garbage refused. */
static void
test_add_secrets (void **state)
{
  static const struct
  {
    const char *xml, *from, *want; /* WANT: NULL for a refusal */
  } cases[] = {
    { "<domain><devices><graphics type='vnc' port='-1'/></devices></domain>",
      "<domain><devices><graphics type='vnc' "
      "passwd='pw1'/></devices></domain>",
      "<graphics type=\"vnc\" port=\"-1\" passwd=\"pw1\"/>" },
    /* Two VNC and a SPICE display, listed in another order. */
    { "<domain><devices><graphics type='vnc'/><graphics type='spice'/>"
      "<graphics type='vnc'/></devices></domain>",
      "<domain><devices><graphics type='spice' passwd='sp' "
      "passwdValidTo='2030-01-01T00:00:00'/><graphics type='vnc' passwd='a'/>"
      "<graphics type='vnc' passwd='b'/></devices></domain>",
      "<graphics type=\"vnc\" passwd=\"a\"/><graphics type=\"spice\" "
      "passwd=\"sp\" passwdValidTo=\"2030-01-01T00:00:00\"/>"
      "<graphics type=\"vnc\" passwd=\"b\"/>" },
    /* Its own password is kept; a display FROM lacks gets none. */
    { "<domain><devices><graphics type='vnc' passwd='own'/>"
      "<graphics type='vnc'/></devices></domain>",
      "<domain><devices><graphics type='vnc' "
      "passwd='old'/></devices></domain>",
      "<graphics type=\"vnc\" passwd=\"own\"/><graphics type=\"vnc\"/>" },
    { "<domain><devices><graphics type='vnc'/></devices></domain>",
      "<domain><devices/></domain>", "<graphics type=\"vnc\"/>" },
    { "<domain><devices/></domain>", "<domain/>", "<devices/>" },
    { "<domain><devices/></domain>", "<domainsnapshot/>", NULL },
    { "<domainsnapshot/>", "<domain/>", NULL },
    { "<domain><devices>", "<domain/>", NULL },
    { "<domain/>", "", NULL },
    { "", "<domain/>", NULL },
  };

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char *out = dom_xml_add_secrets (cases[i].xml, cases[i].from);

      if (cases[i].want == NULL)
        assert_null (out);
      else
        {
          assert_non_null (out);
          if (strstr (out, cases[i].want) == NULL)
            fail_msg ("case %zu: '%s' has no '%s'", i, out, cases[i].want);
        }
      free (out);
    }
}

/* The records of a stateless VM and of a branch point's deletion. */
static void
test_stateless_branch_records (void **state)
{
  struct branch_child kids[] = {
    { .target = (char *)"vda",
      .path = (char *)"/i/a.qcow2",
      .format = (char *)"qcow2",
      .volume = (char *)"/i/s1.qcow2",
      .backing = (char *)"/i/base.qcow2",
      .backing_format = (char *)"qcow2",
      .live = true },
    { .target = (char *)"vda",
      .path = (char *)"/i/b.qcow2",
      .format = (char *)"qcow2",
      .volume = (char *)"/i/s1.qcow2" },
  };
  struct vs_meta m = { .stateless = (char *)"golden",
                       .armed = (char *)"00ff",
                       .branch = (char *)"s1",
                       .branch_memory = (char *)"/i/s1.mem",
                       .nbranch = 2,
                       .branch_children = kids };
  char *xml = dom_xml_edit ("<domain><name>x</name></domain>", NULL, 0, &m);
  struct dom_xml *d;

  (void)state;
  assert_non_null (xml);
  assert_int_equal (dom_xml_parse (xml, &d), 0);
  assert_string_equal (d->meta.stateless, "golden");
  assert_string_equal (d->meta.armed, "00ff");
  assert_string_equal (d->meta.branch, "s1");
  assert_string_equal (d->meta.branch_memory, "/i/s1.mem");
  assert_int_equal (d->meta.nbranch, 2);
  assert_true (d->meta.branch_children[0].live);
  assert_string_equal (d->meta.branch_children[0].backing, "/i/base.qcow2");
  assert_false (d->meta.branch_children[1].live);
  assert_null (d->meta.branch_children[1].backing);
  assert_string_equal (d->meta.branch_children[1].path, "/i/b.qcow2");
  vs_meta_clear_branch (&d->meta);
  assert_null (d->meta.branch);
  assert_string_equal (d->meta.stateless, "golden");
  dom_xml_free (d);
  free (xml);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_memory_snapshot),
    cmocka_unit_test (test_disk_only_child),
    cmocka_unit_test (test_bad_snapshots),
    cmocka_unit_test (test_hostile_disk_names),
    cmocka_unit_test (test_domain),
    cmocka_unit_test (test_meta_round_trip),
    cmocka_unit_test (test_merge_record),
    cmocka_unit_test (test_pins),
    cmocka_unit_test (test_rename),
    cmocka_unit_test (test_live_chain),
    cmocka_unit_test (test_edit),
    cmocka_unit_test (test_clone),
    cmocka_unit_test (test_add_secrets),
    cmocka_unit_test (test_stateless_branch_records),
  };
  return cmocka_run_group_tests_name ("virxml", tests, NULL, NULL);
}

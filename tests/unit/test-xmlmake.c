/* Unit tests of host/xmlmake.c: the helper domain, pool and volume XML
 * vmsnapfs writes for libvirt, with hostile paths and names ('&', '\'',
 * '<', '"', ']]>', a newline...) that must parse back as themselves. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "virxml.h"

static const char *const hostile[] = {
  "/var/lib/libvirt/images/plain.qcow2",
  "/img/a&b.qcow2",
  "/img/it's.qcow2",
  "/img/<disk>.qcow2",
  "/img/say \"hi\".qcow2",
  "/img/&amp;.qcow2",
  "/img/]]>&lt;'\"<x/>.qcow2",
  "/img/new\nline\ttab.qcow2",
  "/img/caf\xc3\xa9.qcow2",
};
#define NHOSTILE (sizeof hostile / sizeof hostile[0])

/* The string value of XPATH in document XML, which must parse (malloc'd;
 * "" when empty). */
static char *
value_of (const char *xml, const char *xpath)
{
  xmlDocPtr doc;
  xmlXPathContextPtr ctx;
  xmlXPathObjectPtr obj;
  char *s;

  doc = xmlReadMemory (xml, (int)strlen (xml), "t.xml", NULL,
                       XML_PARSE_NONET | XML_PARSE_NOERROR
                           | XML_PARSE_NOWARNING);
  assert_non_null (doc);
  ctx = xmlXPathNewContext (doc);
  obj = xmlXPathEval (BAD_CAST xpath, ctx);
  assert_non_null (obj);
  assert_int_equal (obj->type, XPATH_STRING);
  s = strdup (obj->stringval ? (const char *)obj->stringval : "");
  xmlXPathFreeObject (obj);
  xmlXPathFreeContext (ctx);
  xmlFreeDoc (doc);
  return s;
}

static void
check (const char *xml, const char *xpath, const char *want)
{
  char *got = value_of (xml, xpath);

  assert_string_equal (got, want);
  free (got);
}

static void
test_helper_domain (void **state)
{
  (void)state;
  for (size_t i = 0; i < NHOSTILE; i++)
    {
      char *xml = helper_domain_xml (hostile[i], hostile[i], "qcow2");

      assert_non_null (xml);
      check (xml, "string(/domain/@type)", "qemu");
      check (xml, "string(/domain/name)", hostile[i]);
      check (xml, "string(/domain/memory/@unit)", "MiB");
      check (xml, "string(/domain/memory)", "64");
      check (xml, "string(/domain/os/type)", "hvm");
      check (xml, "string(count(/domain/devices/disk))", "1");
      check (xml, "string(/domain/devices/disk/source/@file)", hostile[i]);
      check (xml, "string(/domain/devices/disk/driver/@type)", "qcow2");
      check (xml, "string(/domain/devices/disk/target/@dev)", "vda");
      check (xml, "string(/domain/devices/memballoon/@model)", "none");
      check (xml, "string(count(/domain/devices/disk/readonly))", "0");
      free (xml);
    }
}

/* A reader of a frozen volume: the same helper, its disk read-only; and
 * the backup that serves it over NBD. */
static void
test_reader_domain (void **state)
{
  (void)state;
  for (size_t i = 0; i < NHOSTILE; i++)
    {
      char *xml = reader_domain_xml (hostile[i], hostile[i], "qcow2");

      check (xml, "string(/domain/name)", hostile[i]);
      check (xml, "string(/domain/devices/disk/source/@file)", hostile[i]);
      check (xml, "string(count(/domain/devices/disk/readonly))", "1");
      free (xml);
      xml = backup_pull_xml (hostile[i], 20123, hostile[i], i % 2 == 1);
      check (xml, "string(/domainbackup/@mode)", "pull");
      check (xml, "string(/domainbackup/server/@tls)", i % 2 ? "yes" : "");
      check (xml, "string(/domainbackup/server/@transport)", "tcp");
      check (xml, "string(/domainbackup/server/@name)", hostile[i]);
      check (xml, "string(/domainbackup/server/@port)", "20123");
      check (xml, "string(count(/domainbackup/disks/disk))", "1");
      check (xml, "string(/domainbackup/disks/disk/@name)", "vda");
      check (xml, "string(/domainbackup/disks/disk/@backup)", "yes");
      check (xml, "string(/domainbackup/disks/disk/scratch/@file)",
             hostile[i]);
      free (xml);
    }
}

static void
test_pool (void **state)
{
  (void)state;
  for (size_t i = 0; i < NHOSTILE; i++)
    {
      char *xml = dir_pool_xml ("vmsnapfs-0123", hostile[i], 0);

      check (xml, "string(/pool/@type)", "dir");
      check (xml, "string(/pool/name)", "vmsnapfs-0123");
      check (xml, "string(/pool/target/path)", hostile[i]);
      check (xml, "string(count(/pool/target/permissions))", "0");
      free (xml);
      xml = dir_pool_xml (hostile[i], hostile[i], 0755);
      check (xml, "string(/pool/name)", hostile[i]);
      check (xml, "string(/pool/target/path)", hostile[i]);
      check (xml, "string(/pool/target/permissions/mode)", "0755");
      free (xml);
    }
}

static void
test_volume (void **state)
{
  (void)state;
  for (size_t i = 0; i < NHOSTILE; i++)
    {
      const char *name = strrchr (hostile[i], '/') + 1;
      char *xml = volume_xml (name, UINT64_MAX, "raw", NULL, NULL);
      char max[32];

      snprintf (max, sizeof max, "%" PRIu64, UINT64_MAX);
      check (xml, "string(/volume/name)", name);
      check (xml, "string(/volume/capacity)", max);
      check (xml, "string(/volume/capacity/@unit)", "bytes");
      check (xml, "string(/volume/target/format/@type)", "raw");
      check (xml, "string(/volume/target/permissions/mode)", "0600");
      check (xml, "string(count(/volume/backingStore))", "0");
      free (xml);
      xml = volume_xml (name, 0, "qcow2", hostile[i], "raw");
      check (xml, "string(/volume/capacity)", "0");
      check (xml, "string(/volume/target/format/@type)", "qcow2");
      check (xml, "string(/volume/backingStore/path)", hostile[i]);
      check (xml, "string(/volume/backingStore/format/@type)", "raw");
      free (xml);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_helper_domain),
    cmocka_unit_test (test_reader_domain),
    cmocka_unit_test (test_pool),
    cmocka_unit_test (test_volume),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}

/* vmsnapfs: a source VM's XML made a clone's (virxml.h), and a new VM's
 * UUID (clone.h).
 *
 * A clone is another VM: its own name and UUID, its own MAC addresses,
 * its own disks, and its own files for what the source's character
 * devices write (a serial console logged to a file, an agent's socket).
 * The same edit serves the clone's definition, the domain inside its
 * snapshot and the domain saved in its memory image, so that the three
 * agree.
 */
#include <errno.h>
#include <libgen.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cleanup.h"
#include "util.h"
#include "virxml.h"

#include "host/xmldoc.h"

#include "snapshot/clone.h"

/* The clone's file for the source's PATH: in the same directory, the
 * source's name replaced by the clone's in the file name, or the clone's
 * name put before it (malloc'd). */
static char *
clone_path (const char *path, const struct dom_identity *id)
{
  CLEANUP_FREE char *d = xstrdup (path), *b = xstrdup (path);
  const char *dir = dirname (d), *base = basename (b);
  const char *at = strstr (base, id->old_name);

  if (at == NULL)
    return xasprintf ("%s/%s.%s", dir, id->name, base);
  return xasprintf ("%s/%.*s%s%s", dir, (int)(at - base), base, id->name,
                    at + strlen (id->old_name));
}

/* Move every attribute XPATH selects to the clone's file. */
static void
move_files (struct doc *d, const char *xpath, const struct dom_identity *id)
{
  xmlXPathObjectPtr obj;
  int n;

  obj = xd_nodes (d, xpath, &n);
  for (int i = 0; i < n; i++)
    {
      xmlNodePtr attr = obj->nodesetval->nodeTab[i];
      xmlChar *old = xmlNodeGetContent (attr);
      CLEANUP_FREE char *path = NULL;

      if (old && old[0] == '/')
        {
          path = clone_path ((const char *)old, id);
          xmlSetProp (attr->parent, attr->name, BAD_CAST path);
        }
      xmlFree (old);
    }
  xmlXPathFreeObject (obj);
}

/* An import's file for character-device file or socket A (an attribute
 * of <source> or <log>), the Nth of the domain's: named here, never by the
 * export, "KIND.log" or "KIND.sock" ("KIND-I..." for the next of a kind),
 * KIND "console" for a serial port or console, else the device's element
 * name: never a volume's (.qcow2, .raw), a memory image's (.mem) nor the
 * import's record, whatever the source named (malloc'd). */
static char *
import_file_name (const xmlNode *a, char **given, size_t n)
{
  const xmlNode *dev = a->parent ? a->parent->parent : NULL;
  const char *el = dev && dev->name ? (const char *)dev->name : "chardev";
  bool file = strcmp ((const char *)a->parent->name, "log") == 0;
  char kind[17] = "console";
  xmlChar *type = dev ? xmlGetProp (dev, BAD_CAST "type") : NULL;
  char *name = NULL;

  file |= type && xmlStrcmp (type, BAD_CAST "file") == 0;
  xmlFree (type);
  if (strcmp (el, "serial") != 0 && strcmp (el, "console") != 0)
    {
      size_t k = 0;

      for (; el[k] && k < sizeof kind - 1; k++)
        kind[k] = (el[k] >= 'a' && el[k] <= 'z') ? el[k] : 'x';
      kind[k] = '\0';
    }
  for (int i = 0; name == NULL; i++)
    {
      bool used = false;

      name = i ? xasprintf ("%s-%d.%s", kind, i, file ? "log" : "sock")
               : xasprintf ("%s.%s", kind, file ? "log" : "sock");
      for (size_t j = 0; j < n && !used; j++)
        used = strcmp (given[j], name) == 0;
      if (used)
        {
          free (name);
          name = NULL;
        }
    }
  return name;
}

/* An import's files for what its character devices write and bind, in its
 * own directory ID->dir, each named by import_file_name: the same source
 * path, the same file. */
static void
import_files (struct doc *d, const struct dom_identity *id)
{
  int n;
  xmlXPathObjectPtr obj
      = xd_nodes (d,
                  "/domain/devices/*[@type='file']/source/@path"
                  " | /domain/devices/*/log/@file"
                  " | /domain/devices/*[@type='unix']/source[@mode='bind']"
                  "/@path",
                  &n);
  char **from = xcalloc ((size_t)n + 1, sizeof *from);
  char **given = xcalloc ((size_t)n + 1, sizeof *given);
  size_t k = 0;

  for (int i = 0; i < n; i++)
    {
      xmlNodePtr a = obj->nodesetval->nodeTab[i];
      char *old = (char *)xmlNodeGetContent (a);
      CLEANUP_FREE char *path = NULL;
      size_t j = 0;

      if (old && old[0] == '/')
        {
          while (j < k && strcmp (from[j], old) != 0)
            j++;
          if (j == k)
            {
              given[k] = import_file_name (a, given, k);
              from[k++] = xstrdup (old);
            }
          path = xasprintf ("%s/%s", id->dir, given[j]);
          xmlSetProp (a->parent, a->name, BAD_CAST path);
        }
      xmlFree (old);
    }
  for (size_t j = 0; j < k; j++)
    {
      free (from[j]);
      free (given[j]);
    }
  free (from);
  free (given);
  xmlXPathFreeObject (obj);
}

void
clone_new_uuid (char out[VIR_UUID_STRING_BUFLEN])
{
  unsigned char u[16];

  if (getrandom (u, sizeof u, 0) != (ssize_t)sizeof u)
    for (size_t i = 0; i < sizeof u; i++)
      u[i] = (unsigned char)(now_ms () >> (i % 8)) ^ (unsigned char)rand ();
  u[6] = (u[6] & 0x0f) | 0x40;
  u[8] = (u[8] & 0x3f) | 0x80;
  snprintf (out, VIR_UUID_STRING_BUFLEN,
            "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
            "%02x%02x%02x%02x%02x%02x",
            u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
            u[11], u[12], u[13], u[14], u[15]);
}

/* A MAC address in qemu's range (52:54:00) for interface I of the VM with
 * UUID: FNV-1a of both, so that the same clone gets the same one. */
static void
clone_mac (const char *uuid, int i, char mac[static 18])
{
  uint32_t h = 2166136261u;

  for (const char *p = uuid; *p; p++)
    h = (h ^ (unsigned char)*p) * 16777619u;
  h = (h ^ (unsigned)i) * 16777619u;
  snprintf (mac, 18, "52:54:00:%02x:%02x:%02x", (h >> 16) & 0xff,
            (h >> 8) & 0xff, h & 0xff);
}

/* Edit domain document D into the clone's, but for its disks and
 * record. */
static bool
edit_identity (struct doc *d, const struct dom_identity *id)
{
  xmlXPathObjectPtr obj;
  int n;

  if (!xd_set_text (d, "/domain/name", id->name))
    return false;
  if (!xd_set_text (d, "/domain/uuid", id->uuid))
    xmlNewTextChild (xmlDocGetRootElement (d->doc), NULL, BAD_CAST "uuid",
                     BAD_CAST id->uuid);
  obj = xd_nodes (d, "/domain/devices/interface", &n);
  for (int i = 0; i < n; i++)
    {
      char mac[18];

      clone_mac (id->uuid, i, mac);
      xmlSetProp (xd_child (obj->nodesetval->nodeTab[i], "mac"),
                  BAD_CAST "address", BAD_CAST mac);
    }
  xmlXPathFreeObject (obj);
  /* Files that consoles and serial ports write, their logs, and the
   * sockets channels bind (an agent's): an import's named anew in its own
   * directory (the export's names are its author's). */
  if (id->dir)
    {
      import_files (d, id);
      return true;
    }
  move_files (d, "/domain/devices/*[@type='file']/source/@path", id);
  move_files (d, "/domain/devices/*/log/@file", id);
  move_files (d, "/domain/devices/*[@type='unix']/source[@mode='bind']/@path",
              id);
  return true;
}

char *
dom_xml_clone (const char *xml, const struct dom_identity *id,
               const struct disk_change *changes, size_t nchanges,
               const struct vs_meta *meta)
{
  static const struct vs_meta none;
  struct doc d;
  char *s = NULL;

  if (xd_open (xml, &d) < 0 || !xd_root_is (&d, "domain")
      || !edit_identity (&d, id))
    goto out;
  for (size_t i = 0; i < nchanges; i++)
    if (!dom_edit_disk (&d, &changes[i]))
      goto out;
  meta_edit_doc (&d, meta ? meta : &none);
  s = xd_node_string (d.doc, xmlDocGetRootElement (d.doc));
out:
  xd_close (&d);
  return s;
}

/* Whether display G is of TYPE. */
static bool
of_type (xmlNodePtr g, const xmlChar *type)
{
  xmlChar *t = xmlGetProp (g, BAD_CAST "type");
  bool same = t && type && xmlStrcmp (t, type) == 0;

  xmlFree (t);
  return same;
}

/* The Nth display of TYPE among the N nodes of OBJ, or NULL. */
static xmlNodePtr
nth_display (xmlXPathObjectPtr obj, int n, const xmlChar *type, int nth)
{
  for (int i = 0; i < n; i++)
    if (of_type (obj->nodesetval->nodeTab[i], type) && nth-- == 0)
      return obj->nodesetval->nodeTab[i];
  return NULL;
}

char *
dom_xml_add_secrets (const char *xml, const char *from)
{
  static const char *const secret[] = { "passwd", "passwdValidTo" };
  xmlXPathObjectPtr have = NULL, saved = NULL;
  struct doc d, f;
  char *s = NULL;
  int nh, ns;

  f.doc = NULL, f.ctx = NULL;
  if (xd_open (xml, &d) < 0 || !xd_root_is (&d, "domain")
      || xd_open (from, &f) < 0 || !xd_root_is (&f, "domain"))
    goto out;
  have = xd_nodes (&d, "/domain/devices/graphics", &nh);
  saved = xd_nodes (&f, "/domain/devices/graphics", &ns);
  for (int i = 0; i < nh; i++)
    {
      xmlNodePtr g = have->nodesetval->nodeTab[i];
      xmlChar *type = xmlGetProp (g, BAD_CAST "type");
      xmlNodePtr src;
      int nth = 0;

      for (int j = 0; j < i; j++)
        nth += of_type (have->nodesetval->nodeTab[j], type);
      src = nth_display (saved, ns, type, nth);

      for (size_t k = 0; src && k < 2; k++)
        {
          xmlChar *v = xmlGetProp (src, BAD_CAST secret[k]);

          if (v && !xmlHasProp (g, BAD_CAST secret[k]))
            xmlSetProp (g, BAD_CAST secret[k], v);
          xmlFree (v);
        }
      xmlFree (type);
    }
  s = xd_node_string (d.doc, xmlDocGetRootElement (d.doc));
out:
  xmlXPathFreeObject (have);
  xmlXPathFreeObject (saved);
  xd_close (&d);
  xd_close (&f);
  return s;
}

/* Point the <disks> entry of TARGET in snapshot document D at SOURCE. */
static bool
edit_snap_disk (struct doc *d, const struct disk_change *ch)
{
  xmlNodePtr disk = xd_one_named (
      d, "/domainsnapshot/disks/disk[@name='%s' and @snapshot='external']",
      ch->target);

  if (disk)
    xmlSetProp (xd_child (disk, "source"), BAD_CAST "file",
                BAD_CAST ch->source);
  return disk != NULL;
}

/* Replace the inner <domain> of snapshot document D by the document
 * DOMAIN. */
static bool
replace_domain (struct doc *d, const char *domain)
{
  xmlXPathObjectPtr obj;
  struct doc nd;
  bool ok = false;
  int n;

  if (xd_open (domain, &nd) < 0)
    {
      xd_close (&nd);
      return false;
    }
  obj = xd_nodes (d, "/domainsnapshot/domain", &n);
  if (n == 1)
    {
      xmlNodePtr copy
          = xmlDocCopyNode (xmlDocGetRootElement (nd.doc), d->doc, 1);
      xmlNodePtr old = xmlReplaceNode (obj->nodesetval->nodeTab[0], copy);

      xmlFreeNode (old);
      ok = true;
    }
  xmlXPathFreeObject (obj);
  xd_close (&nd);
  return ok;
}

char *
snap_xml_clone (const char *xml, const struct dom_identity *id,
                const struct disk_change *frozen,
                const struct disk_change *overlays, size_t n,
                const char *memory)
{
  CLEANUP_FREE char *inner = NULL, *domain = NULL;
  xmlXPathObjectPtr obj;
  struct doc d;
  char *s = NULL;
  int k;

  if (xd_open (xml, &d) < 0 || !xd_root_is (&d, "domainsnapshot")
      || (inner = inner_domain (&d)) == NULL
      || (domain = dom_xml_clone (inner, id, frozen, n, NULL)) == NULL
      || !replace_domain (&d, domain))
    goto out;
  for (size_t i = 0; i < n; i++)
    if (!edit_snap_disk (&d, &overlays[i]))
      goto out;
  xd_remove (&d, "/domainsnapshot/parent");
  obj = xd_nodes (&d, "/domainsnapshot/memory[@snapshot='external']", &k);
  if (k == 1 && memory)
    xmlSetProp (obj->nodesetval->nodeTab[0], BAD_CAST "file", BAD_CAST memory);
  xmlXPathFreeObject (obj);
  if ((k == 1) != (memory != NULL))
    goto out;
  s = xd_node_string (d.doc, xmlDocGetRootElement (d.doc));
out:
  xd_close (&d);
  return s;
}

char *
snap_xml_make (const char *name, const char *parent, long long created,
               const char *state, const char *memory,
               const struct disk_change *overlays, size_t n,
               const char *domain)
{
  xmlDocPtr doc = xmlNewDoc (BAD_CAST "1.0");
  xmlNodePtr root = xmlNewDocNode (doc, NULL, BAD_CAST "domainsnapshot", NULL);
  xmlNodePtr disks, mem;
  char when[32];
  struct doc d = { 0 };
  char *s = NULL;

  xmlDocSetRootElement (doc, root);
  xmlNewTextChild (root, NULL, BAD_CAST "name", BAD_CAST name);
  xmlNewTextChild (root, NULL, BAD_CAST "state", BAD_CAST state);
  if (parent)
    xmlNewTextChild (xmlNewChild (root, NULL, BAD_CAST "parent", NULL), NULL,
                     BAD_CAST "name", BAD_CAST parent);
  snprintf (when, sizeof when, "%lld", created);
  xmlNewTextChild (root, NULL, BAD_CAST "creationTime", BAD_CAST when);
  mem = xmlNewChild (root, NULL, BAD_CAST "memory", NULL);
  xd_set_attr (mem, "snapshot", memory ? "external" : "no");
  xd_set_attr (mem, "file", memory);
  disks = xmlNewChild (root, NULL, BAD_CAST "disks", NULL);
  for (size_t i = 0; i < n; i++)
    {
      xmlNodePtr k = xmlNewChild (disks, NULL, BAD_CAST "disk", NULL);

      xd_set_attr (k, "name", overlays[i].target);
      xd_set_attr (k, "snapshot", "external");
      xd_set_attr (xmlNewChild (k, NULL, BAD_CAST "driver", NULL), "type",
                   overlays[i].format ? overlays[i].format : "qcow2");
      xd_set_attr (xmlNewChild (k, NULL, BAD_CAST "source", NULL), "file",
                   overlays[i].source);
    }
  xmlNewChild (root, NULL, BAD_CAST "domain", NULL);
  d.doc = doc;
  d.ctx = xmlXPathNewContext (doc);
  if (d.ctx && replace_domain (&d, domain))
    s = xd_node_string (doc, root);
  xmlXPathFreeContext (d.ctx);
  xmlFreeDoc (doc);
  return s;
}

char *
snap_xml_set_overlays (const char *xml, const struct disk_change *changes,
                       size_t n)
{
  struct doc d;
  char *s = NULL;

  if (xd_open (xml, &d) < 0 || !xd_root_is (&d, "domainsnapshot"))
    goto out;
  for (size_t i = 0; i < n; i++)
    if (!edit_snap_disk (&d, &changes[i]))
      goto out;
  s = xd_node_string (d.doc, xmlDocGetRootElement (d.doc));
out:
  xd_close (&d);
  return s;
}

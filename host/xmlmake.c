/* vmsnapfs: the small XML documents made from nothing for libvirt (a
 * helper domain, a storage pool, a volume), built with libxml2 so that a
 * path or name holding '&', '<', '\'' or '"' reaches libvirt as itself.
 */
#include <inttypes.h>
#include <libxml/tree.h>
#include <stdio.h>

#include "virxml.h"
#include "xmldoc.h"

/* A new document whose root element is NAME, the root in *ROOT. */
static xmlDocPtr
new_doc (const char *name, xmlNodePtr *root)
{
  xmlDocPtr doc = xmlNewDoc (BAD_CAST "1.0");

  *root = xmlNewDocNode (doc, NULL, BAD_CAST name, NULL);
  xmlDocSetRootElement (doc, *root);
  return doc;
}

/* A child element NAME of PARENT with attribute ATTR set to VALUE. */
static xmlNodePtr
child_attr (xmlNodePtr parent, const char *name, const char *attr,
            const char *value)
{
  xmlNodePtr n = xmlNewChild (parent, NULL, BAD_CAST name, NULL);

  xd_set_attr (n, attr, value);
  return n;
}

/* A child element NAME of PARENT holding the text TEXT (escaped, never
 * parsed). */
static xmlNodePtr
child_text (xmlNodePtr parent, const char *name, const char *text)
{
  return xmlNewTextChild (parent, NULL, BAD_CAST name, BAD_CAST text);
}

/* DOC serialized (malloc'd); DOC freed. */
static char *
finish (xmlDocPtr doc)
{
  char *s = xd_node_string (doc, xmlDocGetRootElement (doc));

  xmlFreeDoc (doc);
  return s;
}

/* A helper domain NAME on file DISK of FORMAT, the disk read-only with
 * READONLY. */
static char *
domain_xml (const char *name, const char *disk, const char *format,
            bool readonly)
{
  xmlNodePtr root, devices, d;
  xmlDocPtr doc = new_doc ("domain", &root);

  xd_set_attr (root, "type", "qemu");
  child_text (root, "name", name);
  xd_set_attr (child_text (root, "memory", "64"), "unit", "MiB");
  child_text (root, "vcpu", "1");
  child_text (xmlNewChild (root, NULL, BAD_CAST "os", NULL), "type", "hvm");
  devices = xmlNewChild (root, NULL, BAD_CAST "devices", NULL);
  d = child_attr (devices, "disk", "type", "file");
  xd_set_attr (d, "device", "disk");
  xd_set_attr (child_attr (d, "driver", "name", "qemu"), "type", format);
  child_attr (d, "source", "file", disk);
  xd_set_attr (child_attr (d, "target", "dev", "vda"), "bus", "virtio");
  if (readonly)
    xmlNewChild (d, NULL, BAD_CAST "readonly", NULL);
  child_attr (devices, "memballoon", "model", "none");
  return finish (doc);
}

char *
helper_domain_xml (const char *name, const char *disk, const char *format)
{
  return domain_xml (name, disk, format, false);
}

char *
reader_domain_xml (const char *name, const char *disk, const char *format)
{
  return domain_xml (name, disk, format, true);
}

char *
backup_pull_xml (const char *server, unsigned port, const char *scratch,
                 bool tls)
{
  xmlNodePtr root, s, d;
  xmlDocPtr doc = new_doc ("domainbackup", &root);
  char p[16];

  snprintf (p, sizeof p, "%u", port);
  xd_set_attr (root, "mode", "pull");
  s = child_attr (root, "server", "transport", "tcp");
  xd_set_attr (s, "name", server);
  xd_set_attr (s, "port", p);
  if (tls)
    xd_set_attr (s, "tls", "yes");
  d = child_attr (xmlNewChild (root, NULL, BAD_CAST "disks", NULL), "disk",
                  "name", "vda");
  xd_set_attr (d, "backup", "yes");
  xd_set_attr (d, "type", "file");
  child_attr (d, "scratch", "file", scratch);
  return finish (doc);
}

char *
copy_dest_xml (const char *disk, const char *format)
{
  xmlNodePtr root;
  xmlDocPtr doc = new_doc ("disk", &root);

  xd_set_attr (root, "type", "file");
  xd_set_attr (child_attr (root, "driver", "name", "qemu"), "type", format);
  child_attr (root, "source", "file", disk);
  return finish (doc);
}

char *
dir_pool_xml (const char *name, const char *dir, unsigned mode)
{
  xmlNodePtr root, target;
  xmlDocPtr doc = new_doc ("pool", &root);
  char m[16];

  xd_set_attr (root, "type", "dir");
  child_text (root, "name", name);
  target = xmlNewChild (root, NULL, BAD_CAST "target", NULL);
  child_text (target, "path", dir);
  if (mode)
    {
      snprintf (m, sizeof m, "%04o", mode);
      child_text (xmlNewChild (target, NULL, BAD_CAST "permissions", NULL),
                  "mode", m);
    }
  return finish (doc);
}

char *
volume_xml (const char *name, uint64_t capacity, const char *format,
            const char *backing, const char *backing_format)
{
  xmlNodePtr root, target, b;
  xmlDocPtr doc = new_doc ("volume", &root);
  char c[32];

  child_text (root, "name", name);
  snprintf (c, sizeof c, "%" PRIu64, capacity);
  xd_set_attr (child_text (root, "capacity", c), "unit", "bytes");
  target = xmlNewChild (root, NULL, BAD_CAST "target", NULL);
  child_attr (target, "format", "type", format);
  /* A guest's disk or memory is its owner's alone, as the daemon's own
   * files are (its umask). */
  child_text (xmlNewChild (target, NULL, BAD_CAST "permissions", NULL),
              "mode", "0600");
  if (backing)
    {
      b = xmlNewChild (root, NULL, BAD_CAST "backingStore", NULL);
      child_text (b, "path", backing);
      child_attr (b, "format", "type", backing_format);
    }
  return finish (doc);
}

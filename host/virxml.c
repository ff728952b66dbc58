/* vmsnapfs: read libvirt's domain and snapshot XML with libxml2.
 *
 * The input comes from libvirt, but the tests also feed it garbage: every
 * lookup may find nothing, and nothing found is trusted to be well-formed
 * beyond what libxml2 checks.
 */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "util.h"
#include "virxml.h"
#include "xmldoc.h"

void
dom_disk_clear (struct dom_disk *dd)
{
  free (dd->target);
  free (dd->source);
  free (dd->format);
  for (size_t i = 0; i < dd->nbacking; i++)
    free (dd->backing[i]);
  free (dd->backing);
  memset (dd, 0, sizeof *dd);
}

void
dom_xml_free (struct dom_xml *dx)
{
  if (dx == NULL)
    return;
  for (size_t i = 0; i < dx->ndisks; i++)
    dom_disk_clear (&dx->disks[i]);
  free (dx->disks);
  vs_meta_clear (&dx->meta);
  free (dx);
}

/* Fill DD's backing chain from the <backingStore> elements under NODE, a
 * <disk>: document order is chain order. */
static void
read_backing (struct doc *d, xmlNodePtr node, struct dom_disk *dd)
{
  xmlXPathObjectPtr obj;
  int n;

  d->ctx->node = node;
  obj = xmlXPathEval (BAD_CAST ".//backingStore/source/@file", d->ctx);
  n = (obj && obj->type == XPATH_NODESET && obj->nodesetval)
          ? obj->nodesetval->nodeNr
          : 0;
  dd->backing = xcalloc (n, sizeof *dd->backing);
  for (int i = 0; i < n; i++)
    {
      xmlChar *f = xmlNodeGetContent (obj->nodesetval->nodeTab[i]);

      if (f && f[0])
        dd->backing[dd->nbacking++] = xstrdup ((const char *)f);
      xmlFree (f);
    }
  xmlXPathFreeObject (obj);
}

/* Fill DISKS from the file-backed <disk device='disk'> elements that XPATH
 * selects.  Returns how many were filled. */
static size_t
read_disks (struct doc *d, const char *xpath, struct dom_disk **disks)
{
  xmlXPathObjectPtr obj;
  size_t k = 0;
  int n;

  obj = xd_nodes (d, xpath, &n);
  *disks = xcalloc (n, sizeof **disks);
  for (int i = 0; i < n; i++)
    {
      xmlNodePtr node = obj->nodesetval->nodeTab[i];
      struct dom_disk *dd = &(*disks)[k];
      char *ready;

      dd->target = xd_string (d, node, "string(target/@dev)");
      dd->source = xd_string (d, node, "string(source/@file)");
      dd->format = xd_string (d, node, "string(driver/@type)");
      read_backing (d, node, dd);
      ready = xd_string (d, node, "string(mirror/@ready)");
      dd->mirror_ready = ready && strcmp (ready, "yes") == 0;
      free (ready);
      if (dd->target && dd->source)
        k++;
      else
        dom_disk_clear (dd);
    }
  xmlXPathFreeObject (obj);
  return k;
}

bool
dom_xml_uses (const struct dom_xml *d, const char *path)
{
  for (size_t i = 0; d && i < d->ndisks; i++)
    {
      if (d->disks[i].source && strcmp (d->disks[i].source, path) == 0)
        return true;
      for (size_t j = 0; j < d->disks[i].nbacking; j++)
        if (strcmp (d->disks[i].backing[j], path) == 0)
          return true;
    }
  return false;
}

bool
dom_edit_disk (struct doc *d, const struct disk_change *ch)
{
  xmlNodePtr disk = xd_one_named (
      d, "/domain/devices/disk[@type='file' and target/@dev='%s']",
      ch->target);

  if (disk == NULL)
    return false;
  xmlSetProp (xd_child (disk, "source"), BAD_CAST "file", BAD_CAST ch->source);
  if (ch->format)
    xmlSetProp (xd_child (disk, "driver"), BAD_CAST "type",
                BAD_CAST ch->format);
  /* libvirt reads the new chain itself. */
  xd_remove_children (disk, "backingStore");
  return true;
}

char *
dom_xml_edit (const char *xml, const struct disk_change *changes,
              size_t nchanges, const struct vs_meta *meta)
{
  struct doc d;
  char *s = NULL;

  if (xd_open (xml, &d) < 0 || !xd_root_is (&d, "domain"))
    goto out;
  for (size_t i = 0; i < nchanges; i++)
    if (!dom_edit_disk (&d, &changes[i]))
      goto out;
  if (meta)
    meta_edit_doc (&d, meta);
  s = xd_node_string (d.doc, xmlDocGetRootElement (d.doc));
out:
  xd_close (&d);
  return s;
}

int
dom_xml_parse (const char *xml, struct dom_xml **out)
{
  struct doc d;
  struct dom_xml *dx;
  int r;

  *out = NULL;
  if ((r = xd_open (xml, &d)) < 0 || !xd_root_is (&d, "domain"))
    {
      xd_close (&d);
      return r < 0 ? r : -EINVAL;
    }
  dx = xcalloc (1, sizeof *dx);
  dx->ndisks = read_disks (
      &d, "/domain/devices/disk[@device='disk' and @type='file']", &dx->disks);
  meta_read_doc (&d, &dx->meta);
  CLEANUP_FREE char *type = xd_string (&d, NULL, "string(/domain/@type)");
  dx->emulated = type != NULL && strcmp (type, "qemu") == 0;
  xd_close (&d);
  *out = dx;
  return 0;
}

void
snap_xml_free (struct snap_xml *sx)
{
  if (sx == NULL)
    return;
  free (sx->name);
  free (sx->parent);
  free (sx->state);
  free (sx->memory_file);
  free (sx->description);
  for (size_t i = 0; i < sx->ndisks; i++)
    {
      free (sx->disks[i].target);
      free (sx->disks[i].overlay);
      free (sx->disks[i].frozen);
      free (sx->disks[i].format);
      free (sx->disks[i].overlay_format);
    }
  free (sx->disks);
  free (sx->domain_xml);
  free (sx);
}

/* Serialize the snapshot's inner <domain> as a document of its own. */
char *
inner_domain (struct doc *d)
{
  xmlXPathObjectPtr obj;
  xmlBufferPtr buf;
  char *s = NULL;
  int n;

  obj = xd_nodes (d, "/domainsnapshot/domain", &n);
  if (n == 1 && (buf = xmlBufferCreate ()) != NULL)
    {
      if (xmlNodeDump (buf, d->doc, obj->nodesetval->nodeTab[0], 0, 1) > 0)
        s = xasprintf ("%s\n", (const char *)xmlBufferContent (buf));
      xmlBufferFree (buf);
    }
  xmlXPathFreeObject (obj);
  return s;
}

/* Fill the external disks of SX, with each one's frozen volume taken from
 * the inner <domain>. */
static void
read_snap_disks (struct doc *d, struct snap_xml *sx)
{
  struct dom_disk *inner = NULL;
  size_t ninner;
  xmlXPathObjectPtr obj;
  int n;

  ninner = read_disks (
      d,
      "/domainsnapshot/domain/devices/disk[@device='disk' and @type='file']",
      &inner);
  obj = xd_nodes (
      d, "/domainsnapshot/disks/disk[@snapshot='external' and source/@file]",
      &n);
  sx->disks = xcalloc (n, sizeof *sx->disks);
  for (int i = 0; i < n; i++)
    {
      xmlNodePtr node = obj->nodesetval->nodeTab[i];
      struct snap_disk *sd = &sx->disks[sx->ndisks];

      sd->target = xd_string (d, node, "string(@name)");
      sd->overlay = xd_string (d, node, "string(source/@file)");
      sd->overlay_format = xd_string (d, node, "string(driver/@type)");
      if (sd->target == NULL || strchr (sd->target, '/')
          || sd->target[0] == '.')
        {
          free (sd->target);
          free (sd->overlay);
          free (sd->overlay_format);
          memset (sd, 0, sizeof *sd);
          continue;
        }
      for (size_t j = 0; j < ninner; j++)
        if (strcmp (inner[j].target, sd->target) == 0)
          {
            sd->frozen = xstrdup (inner[j].source);
            sd->format = xstrdup_null (inner[j].format);
          }
      sx->ndisks++;
    }
  xmlXPathFreeObject (obj);
  for (size_t j = 0; j < ninner; j++)
    dom_disk_clear (&inner[j]);
  free (inner);
}

int
snap_xml_parse (const char *xml, struct snap_xml **out)
{
  CLEANUP_FREE char *created = NULL;
  struct doc d;
  struct snap_xml *sx;
  char *end;
  int r;

  *out = NULL;
  if ((r = xd_open (xml, &d)) < 0 || !xd_root_is (&d, "domainsnapshot"))
    {
      xd_close (&d);
      return r < 0 ? r : -EINVAL;
    }
  sx = xcalloc (1, sizeof *sx);
  sx->name = xd_string (&d, NULL, "string(/domainsnapshot/name)");
  sx->parent = xd_string (&d, NULL, "string(/domainsnapshot/parent/name)");
  sx->state = xd_string (&d, NULL, "string(/domainsnapshot/state)");
  sx->description
      = xd_string (&d, NULL, "string(/domainsnapshot/description)");
  sx->memory_file = xd_string (
      &d, NULL, "string(/domainsnapshot/memory[@snapshot='external']/@file)");
  created = xd_string (&d, NULL, "string(/domainsnapshot/creationTime)");
  read_snap_disks (&d, sx);
  sx->domain_xml = inner_domain (&d);
  xd_close (&d);

  errno = 0;
  sx->created = created ? strtoll (created, &end, 10) : 0;
  if (sx->name == NULL || sx->state == NULL || created == NULL || errno
      || *end != '\0' || sx->created < 0)
    {
      snap_xml_free (sx);
      return -EINVAL;
    }
  *out = sx;
  return 0;
}

char *
snap_xml_rename (const char *xml, const char *name)
{
  struct doc d;
  char *s = NULL;

  if (xd_open (xml, &d) < 0 || !xd_root_is (&d, "domainsnapshot"))
    goto out;
  if (name && !xd_set_text (&d, "/domainsnapshot/name", name))
    goto out;
  s = xd_node_string (d.doc, xmlDocGetRootElement (d.doc));
out:
  xd_close (&d);
  return s;
}

char *
snap_xml_reparent (const char *xml, const char *parent)
{
  struct doc d;
  char *s = NULL;

  if (xd_open (xml, &d) < 0 || !xd_root_is (&d, "domainsnapshot"))
    goto out;
  if (parent == NULL)
    xd_remove (&d, "/domainsnapshot/parent");
  else if (!xd_set_text (&d, "/domainsnapshot/parent/name", parent))
    goto out;
  s = xd_node_string (d.doc, xmlDocGetRootElement (d.doc));
out:
  xd_close (&d);
  return s;
}

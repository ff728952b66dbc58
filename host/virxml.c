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

/* Add to DD's backing chain the files of the <backingStore> elements under
 * NODE (a <disk>, first), as XPath's .//backingStore/source/@file: in
 * document order, which is chain order. */
static void
read_backing (xmlNodePtr node, struct dom_disk *dd, size_t *cap)
{
  for (xmlNodePtr c = node->children; c; c = c->next)
    {
      char *f;

      if (c->type != XML_ELEMENT_NODE)
        continue;
      if (xd_is (node, "backingStore") && xd_is (c, "source")
          && (f = xd_get (c, "@file")) != NULL)
        {
          if (dd->nbacking == *cap)
            dd->backing = xrealloc (dd->backing, (*cap = *cap ? *cap * 2 : 4)
                                                     * sizeof *dd->backing);
          dd->backing[dd->nbacking++] = f;
        }
      read_backing (c, dd, cap);
    }
}

/* Fill *DISKS from the file-backed <disk device='disk'> elements of the
 * <domain> DOMAIN.  Returns how many were filled. */
static size_t
read_disks (xmlNodePtr domain, struct dom_disk **disks)
{
  size_t n = 0, cap = 0;

  *disks = NULL;
  for (xmlNodePtr devs = domain->children; devs; devs = devs->next)
    for (xmlNodePtr node = xd_is (devs, "devices") ? devs->children : NULL;
         node; node = node->next)
      {
        CLEANUP_FREE char *device = NULL, *type = NULL, *ready = NULL;
        struct dom_disk dd = { 0 };
        size_t bcap = 0;

        if (!xd_is (node, "disk"))
          continue;
        device = xd_get (node, "@device");
        type = xd_get (node, "@type");
        if (device == NULL || strcmp (device, "disk") != 0 || type == NULL
            || strcmp (type, "file") != 0)
          continue;
        dd.target = xd_get (node, "target/@dev");
        dd.source = xd_get (node, "source/@file");
        dd.format = xd_get (node, "driver/@type");
        read_backing (node, &dd, &bcap);
        ready = xd_get (node, "mirror/@ready");
        dd.mirror_ready = ready && strcmp (ready, "yes") == 0;
        if (dd.target == NULL || dd.source == NULL)
          {
            dom_disk_clear (&dd);
            continue;
          }
        if (n == cap)
          *disks
              = xrealloc (*disks, (cap = cap ? cap * 2 : 4) * sizeof **disks);
        (*disks)[n++] = dd;
      }
  return n;
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
  if ((r = xd_read (xml, &d)) < 0 || !xd_root_is (&d, "domain"))
    {
      xd_close (&d);
      return r < 0 ? r : -EINVAL;
    }
  dx = xcalloc (1, sizeof *dx);
  dx->ndisks = read_disks (xmlDocGetRootElement (d.doc), &dx->disks);
  meta_read_doc (&d, &dx->meta);
  CLEANUP_FREE char *type = xd_get (xmlDocGetRootElement (d.doc), "@type");
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

/* The snapshot's one inner <domain>, or NULL. */
static xmlNodePtr
the_domain (struct doc *d)
{
  xmlNodePtr one = NULL;

  for (xmlNodePtr c = xmlDocGetRootElement (d->doc)->children; c; c = c->next)
    if (xd_is (c, "domain"))
      {
        if (one)
          return NULL;
        one = c;
      }
  return one;
}

/* Serialize the snapshot's inner <domain> as a document of its own. */
char *
inner_domain (struct doc *d)
{
  xmlNodePtr domain = the_domain (d);
  xmlBufferPtr buf;
  char *s = NULL;

  if (domain && (buf = xmlBufferCreate ()) != NULL)
    {
      if (xmlNodeDump (buf, d->doc, domain, 0, 1) > 0)
        s = xasprintf ("%s\n", (const char *)xmlBufferContent (buf));
      xmlBufferFree (buf);
    }
  return s;
}

/* The file of the snapshot's first external <memory> that names one. */
static char *
memory_file (xmlNodePtr root)
{
  for (xmlNodePtr c = root->children; c; c = c->next)
    if (xd_is (c, "memory"))
      {
        CLEANUP_FREE char *how = xd_get (c, "@snapshot");
        char *file;

        if (how && strcmp (how, "external") == 0
            && (file = xd_get (c, "@file")) != NULL)
          return file;
      }
  return NULL;
}

/* Fill the external disks of SX from the <disks> of the snapshot ROOT,
 * with each one's frozen volume taken from the inner <domain> (when there
 * is one). */
static void
read_snap_disks (struct doc *d, xmlNodePtr root, struct snap_xml *sx)
{
  xmlNodePtr domain = the_domain (d);
  struct dom_disk *inner = NULL;
  size_t ninner = domain ? read_disks (domain, &inner) : 0, cap = 0;

  for (xmlNodePtr disks = root->children; disks; disks = disks->next)
    for (xmlNodePtr node = xd_is (disks, "disks") ? disks->children : NULL;
         node; node = node->next)
      {
        CLEANUP_FREE char *how = NULL;
        struct snap_disk sd = { 0 };

        if (!xd_is (node, "disk") || xd_find (node, "source/@file") == NULL
            || (how = xd_get (node, "@snapshot")) == NULL
            || strcmp (how, "external") != 0)
          continue;
        sd.target = xd_get (node, "@name");
        sd.overlay = xd_get (node, "source/@file");
        sd.overlay_format = xd_get (node, "driver/@type");
        if (sd.target == NULL || strchr (sd.target, '/')
            || sd.target[0] == '.')
          {
            free (sd.target);
            free (sd.overlay);
            free (sd.overlay_format);
            continue;
          }
        for (size_t j = 0; j < ninner; j++)
          if (strcmp (inner[j].target, sd.target) == 0)
            {
              free (sd.frozen);
              free (sd.format);
              sd.frozen = xstrdup (inner[j].source);
              sd.format = xstrdup_null (inner[j].format);
            }
        if (sx->ndisks == cap)
          sx->disks = xrealloc (sx->disks,
                                (cap = cap ? cap * 2 : 4) * sizeof *sx->disks);
        sx->disks[sx->ndisks++] = sd;
      }
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
  xmlNodePtr root;
  char *end;
  int r;

  *out = NULL;
  if ((r = xd_read (xml, &d)) < 0 || !xd_root_is (&d, "domainsnapshot"))
    {
      xd_close (&d);
      return r < 0 ? r : -EINVAL;
    }
  root = xmlDocGetRootElement (d.doc);
  sx = xcalloc (1, sizeof *sx);
  sx->name = xd_get (root, "name");
  sx->parent = xd_get (root, "parent/name");
  sx->state = xd_get (root, "state");
  sx->description = xd_get (root, "description");
  sx->memory_file = memory_file (root);
  created = xd_get (root, "creationTime");
  read_snap_disks (&d, root, sx);
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

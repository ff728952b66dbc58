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

/* Largest XML accepted, in bytes: a domain with thousands of devices fits. */
#define MAX_XML (64 * 1024 * 1024)

struct doc
{
  xmlDocPtr doc;
  xmlXPathContextPtr ctx;
};

static int
doc_open (const char *xml, struct doc *d)
{
  size_t len;

  d->doc = NULL;
  d->ctx = NULL;
  if (xml == NULL || (len = strlen (xml)) == 0 || len > MAX_XML)
    return -EINVAL;
  d->doc = xmlReadMemory (xml, (int) len, "libvirt.xml", NULL,
                          XML_PARSE_NONET | XML_PARSE_NOERROR
                              | XML_PARSE_NOWARNING);
  if (d->doc == NULL || xmlDocGetRootElement (d->doc) == NULL)
    return -EINVAL;
  d->ctx = xmlXPathNewContext (d->doc);
  if (d->ctx == NULL)
    return -ENOMEM;
  xmlXPathRegisterNs (d->ctx, BAD_CAST VMSNAPFS_XMLNS_PREFIX,
                      BAD_CAST VMSNAPFS_XMLNS);
  return 0;
}

static void
doc_close (struct doc *d)
{
  xmlXPathFreeContext (d->ctx);
  xmlFreeDoc (d->doc);
}

/* The string value of XPATH evaluated at NODE (the root when NULL), or NULL
 * when it is empty. */
static char *
xpath_string (struct doc *d, xmlNodePtr node, const char *xpath)
{
  xmlXPathObjectPtr obj;
  char *s = NULL;

  d->ctx->node = node ? node : xmlDocGetRootElement (d->doc);
  obj = xmlXPathEval (BAD_CAST xpath, d->ctx);
  if (obj && obj->type == XPATH_STRING && obj->stringval
      && obj->stringval[0] != '\0')
    s = xstrdup ((const char *) obj->stringval);
  xmlXPathFreeObject (obj);
  return s;
}

/* The nodes XPATH selects at the root; the caller frees the object. */
static xmlXPathObjectPtr
xpath_nodes (struct doc *d, const char *xpath, int *n)
{
  xmlXPathObjectPtr obj;

  d->ctx->node = xmlDocGetRootElement (d->doc);
  obj = xmlXPathEval (BAD_CAST xpath, d->ctx);
  *n = (obj && obj->type == XPATH_NODESET && obj->nodesetval)
           ? obj->nodesetval->nodeNr
           : 0;
  return obj;
}

static bool
root_is (struct doc *d, const char *name)
{
  return xmlStrcmp (xmlDocGetRootElement (d->doc)->name, BAD_CAST name) == 0;
}

static void
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
        dd->backing[dd->nbacking++] = xstrdup ((const char *) f);
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

  obj = xpath_nodes (d, xpath, &n);
  *disks = xcalloc (n, sizeof **disks);
  for (int i = 0; i < n; i++)
    {
      xmlNodePtr node = obj->nodesetval->nodeTab[i];
      struct dom_disk *dd = &(*disks)[k];
      char *ready;

      dd->target = xpath_string (d, node, "string(target/@dev)");
      dd->source = xpath_string (d, node, "string(source/@file)");
      dd->format = xpath_string (d, node, "string(driver/@type)");
      read_backing (d, node, dd);
      ready = xpath_string (d, node, "string(mirror/@ready)");
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

static void
kept_disk_clear (struct kept_disk *k)
{
  free (k->target);
  free (k->kept);
  free (k->format);
  free (k->preview);
  memset (k, 0, sizeof *k);
}

static void
merge_disk_clear (struct merge_disk *k)
{
  free (k->target);
  free (k->top);
  free (k->base);
  free (k->format);
  free (k->top_format);
  memset (k, 0, sizeof *k);
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

void
vs_meta_clear_merge (struct vs_meta *m)
{
  free (m->merge);
  free (m->merge_memory);
  for (size_t i = 0; i < m->nmerge; i++)
    merge_disk_clear (&m->merge_disks[i]);
  free (m->merge_disks);
  m->merge = m->merge_memory = NULL;
  m->merge_disks = NULL;
  m->nmerge = 0;
  m->merge_failed = false;
}

void
vs_meta_clear (struct vs_meta *m)
{
  free (m->snapshot_mode);
  free (m->resume);
  free (m->preview);
  free (m->kept_current);
  free (m->kept_resume);
  for (size_t i = 0; i < m->ndisks; i++)
    kept_disk_clear (&m->disks[i]);
  free (m->disks);
  free (m->merge);
  free (m->merge_memory);
  for (size_t i = 0; i < m->nmerge; i++)
    merge_disk_clear (&m->merge_disks[i]);
  free (m->merge_disks);
  free (m->rename_from);
  free (m->rename_to);
  memset (m, 0, sizeof *m);
}

#define META "/domain/metadata/vmsnapfs:vmsnapfs/"

/* An attribute of a record element, and where its value goes. */
struct attr
{
  const char *name;
  char **field;
  bool required;
};

/* Read NODE's attributes A into their fields; false when a required one
 * is missing. */
static bool
read_attrs (struct doc *d, xmlNodePtr node, const struct attr *a, size_t n)
{
  bool ok = true;
  char xpath[64];

  for (size_t i = 0; i < n; i++)
    {
      snprintf (xpath, sizeof xpath, "string(@%s)", a[i].name);
      *a[i].field = xpath_string (d, node, xpath);
      if (*a[i].field == NULL && a[i].required)
        ok = false;
    }
  return ok;
}

static void
read_preview (struct doc *d, struct vs_meta *m)
{
  xmlXPathObjectPtr obj;
  int n;

  m->preview
      = xpath_string (d, NULL, "string(" META "vmsnapfs:preview/@snapshot)");
  if (m->preview == NULL)
    return;
  m->kept_current = xpath_string (
      d, NULL, "string(" META "vmsnapfs:preview/@current)");
  m->kept_resume = xpath_string (
      d, NULL, "string(" META "vmsnapfs:preview/@resume)");
  obj = xpath_nodes (d, META "vmsnapfs:preview/vmsnapfs:disk", &n);
  m->disks = xcalloc (n, sizeof *m->disks);
  for (int i = 0; i < n; i++)
    {
      struct kept_disk *k = &m->disks[m->ndisks];
      const struct attr a[] = { { "target", &k->target, true },
                                { "kept", &k->kept, true },
                                { "format", &k->format, false },
                                { "preview", &k->preview, true } };

      if (read_attrs (d, obj->nodesetval->nodeTab[i], a, 4))
        m->ndisks++;
      else
        kept_disk_clear (k);
    }
  xmlXPathFreeObject (obj);
}

static void
read_merge (struct doc *d, struct vs_meta *m)
{
  xmlXPathObjectPtr obj;
  char *state;
  int n;

  m->merge
      = xpath_string (d, NULL, "string(" META "vmsnapfs:merge/@snapshot)");
  if (m->merge == NULL)
    return;
  m->merge_memory
      = xpath_string (d, NULL, "string(" META "vmsnapfs:merge/@memory)");
  state = xpath_string (d, NULL, "string(" META "vmsnapfs:merge/@state)");
  m->merge_failed = state && strcmp (state, "failed") == 0;
  free (state);
  obj = xpath_nodes (d, META "vmsnapfs:merge/vmsnapfs:disk", &n);
  m->merge_disks = xcalloc (n, sizeof *m->merge_disks);
  for (int i = 0; i < n; i++)
    {
      struct merge_disk *k = &m->merge_disks[m->nmerge];
      const struct attr a[] = { { "target", &k->target, true },
                                { "top", &k->top, true },
                                { "base", &k->base, true },
                                { "format", &k->format, false },
                                { "top-format", &k->top_format, false } };

      if (read_attrs (d, obj->nodesetval->nodeTab[i], a, 5))
        {
          char *phase = xpath_string (d, obj->nodesetval->nodeTab[i],
                                      "string(@phase)");
          k->committed = phase && strcmp (phase, "repoint") == 0;
          free (phase);
          m->nmerge++;
        }
      else
        merge_disk_clear (k);
    }
  xmlXPathFreeObject (obj);
}

static void
read_meta (struct doc *d, struct vs_meta *m)
{
  m->snapshot_mode
      = xpath_string (d, NULL, "string(" META "vmsnapfs:snapshot-mode)");
  m->resume
      = xpath_string (d, NULL, "string(" META "vmsnapfs:resume/@snapshot)");
  read_preview (d, m);
  read_merge (d, m);
  m->rename_from
      = xpath_string (d, NULL, "string(" META "vmsnapfs:rename/@from)");
  m->rename_to = xpath_string (d, NULL, "string(" META "vmsnapfs:rename/@to)");
  if (m->rename_from == NULL || m->rename_to == NULL)
    {
      free (m->rename_from);
      free (m->rename_to);
      m->rename_from = m->rename_to = NULL;
    }
}

/* Set attribute NAME of NODE to VALUE when VALUE is not NULL. */
static void
set_attr (xmlNodePtr node, const char *name, const char *value)
{
  if (value)
    xmlNewProp (node, BAD_CAST name, BAD_CAST value);
}

/* Build META's element as a node of DOC, in vmsnapfs's namespace with NS
 * (as it stands in a domain's XML), or in none (as virDomainSetMetadata
 * takes it, adding the namespace itself). */
static xmlNodePtr
meta_node (xmlDocPtr doc, const struct vs_meta *m, bool with_ns)
{
  xmlNodePtr root = xmlNewDocNode (doc, NULL, BAD_CAST "vmsnapfs", NULL), n;
  xmlNsPtr ns = NULL;

  if (with_ns)
    {
      ns = xmlNewNs (root, BAD_CAST VMSNAPFS_XMLNS,
                     BAD_CAST VMSNAPFS_XMLNS_PREFIX);
      xmlSetNs (root, ns);
    }
  if (m->snapshot_mode)
    xmlNewTextChild (root, ns, BAD_CAST "snapshot-mode",
                     BAD_CAST m->snapshot_mode);
  if (m->resume)
    set_attr (xmlNewChild (root, ns, BAD_CAST "resume", NULL), "snapshot",
              m->resume);
  if (m->preview)
    {
      n = xmlNewChild (root, ns, BAD_CAST "preview", NULL);
      set_attr (n, "snapshot", m->preview);
      set_attr (n, "current", m->kept_current);
      set_attr (n, "resume", m->kept_resume);
      for (size_t i = 0; i < m->ndisks; i++)
        {
          xmlNodePtr k = xmlNewChild (n, ns, BAD_CAST "disk", NULL);
          set_attr (k, "target", m->disks[i].target);
          set_attr (k, "kept", m->disks[i].kept);
          set_attr (k, "format", m->disks[i].format);
          set_attr (k, "preview", m->disks[i].preview);
        }
    }
  if (m->merge)
    {
      n = xmlNewChild (root, ns, BAD_CAST "merge", NULL);
      set_attr (n, "snapshot", m->merge);
      set_attr (n, "memory", m->merge_memory);
      set_attr (n, "state", m->merge_failed ? "failed" : "running");
      for (size_t i = 0; i < m->nmerge; i++)
        {
          xmlNodePtr k = xmlNewChild (n, ns, BAD_CAST "disk", NULL);
          set_attr (k, "target", m->merge_disks[i].target);
          set_attr (k, "top", m->merge_disks[i].top);
          set_attr (k, "base", m->merge_disks[i].base);
          set_attr (k, "format", m->merge_disks[i].format);
          set_attr (k, "top-format", m->merge_disks[i].top_format);
          set_attr (k, "phase",
                    m->merge_disks[i].committed ? "repoint" : "commit");
        }
    }
  if (m->rename_from)
    {
      n = xmlNewChild (root, ns, BAD_CAST "rename", NULL);
      set_attr (n, "from", m->rename_from);
      set_attr (n, "to", m->rename_to);
    }
  return root;
}

/* Serialize NODE of DOC (malloc'd). */
static char *
node_string (xmlDocPtr doc, xmlNodePtr node)
{
  xmlBufferPtr buf = xmlBufferCreate ();
  char *s = NULL;

  if (buf && xmlNodeDump (buf, doc, node, 0, 0) > 0)
    s = xstrdup ((const char *) xmlBufferContent (buf));
  xmlBufferFree (buf);
  return s ? s : xstrdup ("");
}

char *
vs_meta_format (const struct vs_meta *m)
{
  xmlDocPtr doc = xmlNewDoc (BAD_CAST "1.0");
  xmlNodePtr root = meta_node (doc, m, false);
  char *s;

  xmlDocSetRootElement (doc, root);
  s = node_string (doc, root);
  xmlFreeDoc (doc);
  return s;
}

/* The child element NAME of PARENT, made when missing. */
static xmlNodePtr
child (xmlNodePtr parent, const char *name)
{
  for (xmlNodePtr c = parent->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && xmlStrcmp (c->name, BAD_CAST name) == 0
        && c->ns == NULL)
      return c;
  return xmlNewChild (parent, NULL, BAD_CAST name, NULL);
}

/* Remove PARENT's child elements called NAME. */
static void
remove_children (xmlNodePtr parent, const char *name)
{
  xmlNodePtr c = parent->children, next;

  for (; c; c = next)
    {
      next = c->next;
      if (c->type == XML_ELEMENT_NODE && xmlStrcmp (c->name, BAD_CAST name) == 0)
        {
          xmlUnlinkNode (c);
          xmlFreeNode (c);
        }
    }
}

/* Point the disk of D at CH's source; false when the domain has no such
 * file-backed disk. */
static bool
edit_disk (struct doc *d, const struct disk_change *ch)
{
  xmlXPathObjectPtr obj;
  char xpath[256];
  bool found = false;
  int n;

  if (strchr (ch->target, '\'') || strlen (ch->target) > 64)
    return false;
  snprintf (xpath, sizeof xpath,
            "/domain/devices/disk[@type='file' and target/@dev='%s']",
            ch->target);
  obj = xpath_nodes (d, xpath, &n);
  if (n == 1)
    {
      xmlNodePtr disk = obj->nodesetval->nodeTab[0];

      xmlSetProp (child (disk, "source"), BAD_CAST "file",
                  BAD_CAST ch->source);
      if (ch->format)
        xmlSetProp (child (disk, "driver"), BAD_CAST "type",
                    BAD_CAST ch->format);
      /* libvirt reads the new chain itself. */
      remove_children (disk, "backingStore");
      found = true;
    }
  xmlXPathFreeObject (obj);
  return found;
}

/* Make META the only vmsnapfs element of the domain's <metadata>. */
static void
edit_meta (struct doc *d, const struct vs_meta *meta)
{
  xmlNodePtr root = xmlDocGetRootElement (d->doc);
  xmlNodePtr md = child (root, "metadata");
  xmlXPathObjectPtr obj;
  int n;

  obj = xpath_nodes (d, "/domain/metadata/vmsnapfs:vmsnapfs", &n);
  for (int i = 0; i < n; i++)
    {
      xmlUnlinkNode (obj->nodesetval->nodeTab[i]);
      xmlFreeNode (obj->nodesetval->nodeTab[i]);
    }
  xmlXPathFreeObject (obj);
  xmlAddChild (md, meta_node (d->doc, meta, true));
}

char *
dom_xml_edit (const char *xml, const struct disk_change *changes,
              size_t nchanges, const struct vs_meta *meta)
{
  struct doc d;
  char *s = NULL;

  if (doc_open (xml, &d) < 0 || !root_is (&d, "domain"))
    goto out;
  for (size_t i = 0; i < nchanges; i++)
    if (!edit_disk (&d, &changes[i]))
      goto out;
  if (meta)
    edit_meta (&d, meta);
  s = node_string (d.doc, xmlDocGetRootElement (d.doc));
out:
  doc_close (&d);
  return s;
}

int
dom_xml_parse (const char *xml, struct dom_xml **out)
{
  struct doc d;
  struct dom_xml *dx;
  int r;

  *out = NULL;
  if ((r = doc_open (xml, &d)) < 0 || !root_is (&d, "domain"))
    {
      doc_close (&d);
      return r < 0 ? r : -EINVAL;
    }
  dx = xcalloc (1, sizeof *dx);
  dx->ndisks = read_disks (
      &d, "/domain/devices/disk[@device='disk' and @type='file']",
      &dx->disks);
  read_meta (&d, &dx->meta);
  doc_close (&d);
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
static char *
inner_domain (struct doc *d)
{
  xmlXPathObjectPtr obj;
  xmlBufferPtr buf;
  char *s = NULL;
  int n;

  obj = xpath_nodes (d, "/domainsnapshot/domain", &n);
  if (n == 1 && (buf = xmlBufferCreate ()) != NULL)
    {
      if (xmlNodeDump (buf, d->doc, obj->nodesetval->nodeTab[0], 0, 1) > 0)
        s = xasprintf ("%s\n", (const char *) xmlBufferContent (buf));
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
      d, "/domainsnapshot/domain/devices/disk[@device='disk' and @type='file']",
      &inner);
  obj = xpath_nodes (
      d, "/domainsnapshot/disks/disk[@snapshot='external' and source/@file]",
      &n);
  sx->disks = xcalloc (n, sizeof *sx->disks);
  for (int i = 0; i < n; i++)
    {
      xmlNodePtr node = obj->nodesetval->nodeTab[i];
      struct snap_disk *sd = &sx->disks[sx->ndisks];

      sd->target = xpath_string (d, node, "string(@name)");
      sd->overlay = xpath_string (d, node, "string(source/@file)");
      sd->overlay_format = xpath_string (d, node, "string(driver/@type)");
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
  if ((r = doc_open (xml, &d)) < 0 || !root_is (&d, "domainsnapshot"))
    {
      doc_close (&d);
      return r < 0 ? r : -EINVAL;
    }
  sx = xcalloc (1, sizeof *sx);
  sx->name = xpath_string (&d, NULL, "string(/domainsnapshot/name)");
  sx->parent = xpath_string (&d, NULL, "string(/domainsnapshot/parent/name)");
  sx->state = xpath_string (&d, NULL, "string(/domainsnapshot/state)");
  sx->description
      = xpath_string (&d, NULL, "string(/domainsnapshot/description)");
  sx->memory_file = xpath_string (
      &d, NULL,
      "string(/domainsnapshot/memory[@snapshot='external']/@file)");
  created = xpath_string (&d, NULL, "string(/domainsnapshot/creationTime)");
  read_snap_disks (&d, sx);
  sx->domain_xml = inner_domain (&d);
  doc_close (&d);

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

/* Make the text of the element at XPATH in D VALUE; false when there is
 * no such element. */
static bool
set_text (struct doc *d, const char *xpath, const char *value)
{
  xmlXPathObjectPtr obj;
  int n;
  bool found;

  obj = xpath_nodes (d, xpath, &n);
  if ((found = n == 1))
    {
      /* Added as text, not parsed for entities as a set content is. */
      xmlNodeSetContent (obj->nodesetval->nodeTab[0], NULL);
      xmlNodeAddContent (obj->nodesetval->nodeTab[0], BAD_CAST value);
    }
  xmlXPathFreeObject (obj);
  return found;
}

char *
snap_xml_rename (const char *xml, const char *name, const char *parent)
{
  struct doc d;
  char *s = NULL;

  if (doc_open (xml, &d) < 0 || !root_is (&d, "domainsnapshot"))
    goto out;
  if (name && !set_text (&d, "/domainsnapshot/name", name))
    goto out;
  if (parent && !set_text (&d, "/domainsnapshot/parent/name", parent))
    goto out;
  s = node_string (d.doc, xmlDocGetRootElement (d.doc));
out:
  doc_close (&d);
  return s;
}

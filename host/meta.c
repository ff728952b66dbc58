/* vmsnapfs: vmsnapfs's own record in a domain's <metadata>, read and
 * written: the truth about what vmsnapfs is doing to the VM, kept by
 * libvirt (preview, resume, merges, renames, clones).
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

static void
clone_disk_clear (struct clone_disk *k)
{
  free (k->target);
  free (k->source);
  free (k->format);
  free (k->copy);
  free (k->overlay);
  memset (k, 0, sizeof *k);
}

static void
branch_child_clear (struct branch_child *c)
{
  free (c->target);
  free (c->path);
  free (c->format);
  free (c->volume);
  free (c->backing);
  free (c->backing_format);
  memset (c, 0, sizeof *c);
}

void
vs_meta_clear_branch (struct vs_meta *m)
{
  for (size_t i = 0; i < m->nbranch; i++)
    branch_child_clear (&m->branch_children[i]);
  free (m->branch_children);
  free (m->branch);
  free (m->branch_memory);
  free (m->branch_parent);
  m->branch = m->branch_memory = m->branch_parent = NULL;
  m->branch_children = NULL;
  m->nbranch = 0;
}

void
vs_meta_clear_clone (struct vs_meta *m)
{
  free (m->clone_vm);
  free (m->clone_snapshot);
  free (m->clone_memory);
  free (m->clone_memory_copy);
  for (size_t i = 0; i < m->nclone; i++)
    clone_disk_clear (&m->clone_disks[i]);
  free (m->clone_disks);
  m->clone_vm = m->clone_snapshot = NULL;
  m->clone_memory = m->clone_memory_copy = NULL;
  m->clone_disks = NULL;
  m->nclone = 0;
}

void
vs_meta_add_pin (struct vs_meta *m, const char *snapshot, const char *clone,
                 const char *uuid)
{
  m->pins = xrealloc (m->pins, (m->npins + 1) * sizeof *m->pins);
  m->pins[m->npins++] = (struct clone_pin){ .snapshot = xstrdup (snapshot),
                                            .clone = xstrdup (clone),
                                            .uuid = xstrdup (uuid) };
}

void
vs_meta_drop_pin (struct vs_meta *m, size_t i)
{
  free (m->pins[i].snapshot);
  free (m->pins[i].clone);
  free (m->pins[i].uuid);
  memmove (&m->pins[i], &m->pins[i + 1],
           (m->npins - i - 1) * sizeof *m->pins);
  m->npins--;
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
  free (m->stateless);
  free (m->armed);
  vs_meta_clear_clone (m);
  vs_meta_clear_branch (m);
  while (m->npins)
    vs_meta_drop_pin (m, m->npins - 1);
  free (m->pins);
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
      *a[i].field = xd_string (d, node, xpath);
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
      = xd_string (d, NULL, "string(" META "vmsnapfs:preview/@snapshot)");
  if (m->preview == NULL)
    return;
  m->kept_current
      = xd_string (d, NULL, "string(" META "vmsnapfs:preview/@current)");
  m->kept_resume
      = xd_string (d, NULL, "string(" META "vmsnapfs:preview/@resume)");
  obj = xd_nodes (d, META "vmsnapfs:preview/vmsnapfs:disk", &n);
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

  m->merge = xd_string (d, NULL, "string(" META "vmsnapfs:merge/@snapshot)");
  if (m->merge == NULL)
    return;
  m->merge_memory
      = xd_string (d, NULL, "string(" META "vmsnapfs:merge/@memory)");
  state = xd_string (d, NULL, "string(" META "vmsnapfs:merge/@state)");
  m->merge_failed = state && strcmp (state, "failed") == 0;
  free (state);
  obj = xd_nodes (d, META "vmsnapfs:merge/vmsnapfs:disk", &n);
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
          char *phase
              = xd_string (d, obj->nodesetval->nodeTab[i], "string(@phase)");
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
read_clone (struct doc *d, struct vs_meta *m)
{
  xmlXPathObjectPtr obj;
  int n;

  m->clone_vm = xd_string (d, NULL, "string(" META "vmsnapfs:clone/@vm)");
  m->clone_snapshot
      = xd_string (d, NULL, "string(" META "vmsnapfs:clone/@snapshot)");
  if (m->clone_vm == NULL || m->clone_snapshot == NULL)
    {
      vs_meta_clear_clone (m);
      return;
    }
  m->clone_memory
      = xd_string (d, NULL, "string(" META "vmsnapfs:clone/@memory)");
  m->clone_memory_copy
      = xd_string (d, NULL, "string(" META "vmsnapfs:clone/@memory-copy)");
  obj = xd_nodes (d, META "vmsnapfs:clone/vmsnapfs:disk", &n);
  m->clone_disks = xcalloc (n, sizeof *m->clone_disks);
  for (int i = 0; i < n; i++)
    {
      struct clone_disk *k = &m->clone_disks[m->nclone];
      const struct attr a[] = { { "target", &k->target, true },
                                { "source", &k->source, true },
                                { "format", &k->format, true },
                                { "copy", &k->copy, true },
                                { "overlay", &k->overlay, true } };

      if (read_attrs (d, obj->nodesetval->nodeTab[i], a, 5))
        m->nclone++;
      else
        clone_disk_clear (k);
    }
  xmlXPathFreeObject (obj);
}

static void
read_pins (struct doc *d, struct vs_meta *m)
{
  int n;
  xmlXPathObjectPtr obj = xd_nodes (d, META "vmsnapfs:pin", &n);

  m->pins = xcalloc (n, sizeof *m->pins);
  for (int i = 0; i < n; i++)
    {
      struct clone_pin *p = &m->pins[m->npins];
      const struct attr a[] = { { "snapshot", &p->snapshot, true },
                                { "clone", &p->clone, true },
                                { "uuid", &p->uuid, true } };

      m->npins++;
      if (!read_attrs (d, obj->nodesetval->nodeTab[i], a, 3))
        vs_meta_drop_pin (m, m->npins - 1);
    }
  xmlXPathFreeObject (obj);
}

static void
read_branch (struct doc *d, struct vs_meta *m)
{
  xmlXPathObjectPtr obj;
  int n;

  m->branch = xd_string (d, NULL, "string(" META "vmsnapfs:branch/@snapshot)");
  if (m->branch == NULL)
    return;
  m->branch_memory
      = xd_string (d, NULL, "string(" META "vmsnapfs:branch/@memory)");
  m->branch_parent
      = xd_string (d, NULL, "string(" META "vmsnapfs:branch/@parent)");
  obj = xd_nodes (d, META "vmsnapfs:branch/vmsnapfs:child", &n);
  m->branch_children = xcalloc (n, sizeof *m->branch_children);
  for (int i = 0; i < n; i++)
    {
      struct branch_child *c = &m->branch_children[m->nbranch];
      char *live = NULL;
      const struct attr a[]
          = { { "target", &c->target, true },
              { "path", &c->path, true },
              { "format", &c->format, true },
              { "volume", &c->volume, true },
              { "backing", &c->backing, false },
              { "backing-format", &c->backing_format, false },
              { "live", &live, false } };

      if (read_attrs (d, obj->nodesetval->nodeTab[i], a, 7))
        {
          c->live = live && strcmp (live, "yes") == 0;
          m->nbranch++;
        }
      else
        branch_child_clear (c);
      free (live);
    }
  xmlXPathFreeObject (obj);
}

void
meta_read_doc (struct doc *d, struct vs_meta *m)
{
  m->snapshot_mode
      = xd_string (d, NULL, "string(" META "vmsnapfs:snapshot-mode)");
  m->resume = xd_string (d, NULL, "string(" META "vmsnapfs:resume/@snapshot)");
  read_preview (d, m);
  read_merge (d, m);
  read_clone (d, m);
  read_branch (d, m);
  read_pins (d, m);
  m->stateless
      = xd_string (d, NULL, "string(" META "vmsnapfs:stateless/@snapshot)");
  m->armed = xd_string (d, NULL, "string(" META "vmsnapfs:stateless/@armed)");
  m->rename_from
      = xd_string (d, NULL, "string(" META "vmsnapfs:rename/@from)");
  m->rename_to = xd_string (d, NULL, "string(" META "vmsnapfs:rename/@to)");
  if (m->rename_from == NULL || m->rename_to == NULL)
    {
      free (m->rename_from);
      free (m->rename_to);
      m->rename_from = m->rename_to = NULL;
    }
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
    xd_set_attr (xmlNewChild (root, ns, BAD_CAST "resume", NULL), "snapshot",
                 m->resume);
  if (m->preview)
    {
      n = xmlNewChild (root, ns, BAD_CAST "preview", NULL);
      xd_set_attr (n, "snapshot", m->preview);
      xd_set_attr (n, "current", m->kept_current);
      xd_set_attr (n, "resume", m->kept_resume);
      for (size_t i = 0; i < m->ndisks; i++)
        {
          xmlNodePtr k = xmlNewChild (n, ns, BAD_CAST "disk", NULL);
          xd_set_attr (k, "target", m->disks[i].target);
          xd_set_attr (k, "kept", m->disks[i].kept);
          xd_set_attr (k, "format", m->disks[i].format);
          xd_set_attr (k, "preview", m->disks[i].preview);
        }
    }
  if (m->merge)
    {
      n = xmlNewChild (root, ns, BAD_CAST "merge", NULL);
      xd_set_attr (n, "snapshot", m->merge);
      xd_set_attr (n, "memory", m->merge_memory);
      xd_set_attr (n, "state", m->merge_failed ? "failed" : "running");
      for (size_t i = 0; i < m->nmerge; i++)
        {
          xmlNodePtr k = xmlNewChild (n, ns, BAD_CAST "disk", NULL);
          xd_set_attr (k, "target", m->merge_disks[i].target);
          xd_set_attr (k, "top", m->merge_disks[i].top);
          xd_set_attr (k, "base", m->merge_disks[i].base);
          xd_set_attr (k, "format", m->merge_disks[i].format);
          xd_set_attr (k, "top-format", m->merge_disks[i].top_format);
          xd_set_attr (k, "phase",
                       m->merge_disks[i].committed ? "repoint" : "commit");
        }
    }
  if (m->branch)
    {
      n = xmlNewChild (root, ns, BAD_CAST "branch", NULL);
      xd_set_attr (n, "snapshot", m->branch);
      xd_set_attr (n, "memory", m->branch_memory);
      xd_set_attr (n, "parent", m->branch_parent);
      for (size_t i = 0; i < m->nbranch; i++)
        {
          const struct branch_child *c = &m->branch_children[i];
          xmlNodePtr k = xmlNewChild (n, ns, BAD_CAST "child", NULL);

          xd_set_attr (k, "target", c->target);
          xd_set_attr (k, "path", c->path);
          xd_set_attr (k, "format", c->format);
          xd_set_attr (k, "volume", c->volume);
          xd_set_attr (k, "backing", c->backing);
          xd_set_attr (k, "backing-format", c->backing_format);
          xd_set_attr (k, "live", c->live ? "yes" : "no");
        }
    }
  if (m->stateless)
    {
      n = xmlNewChild (root, ns, BAD_CAST "stateless", NULL);
      xd_set_attr (n, "snapshot", m->stateless);
      xd_set_attr (n, "armed", m->armed);
    }
  if (m->clone_vm)
    {
      n = xmlNewChild (root, ns, BAD_CAST "clone", NULL);
      xd_set_attr (n, "vm", m->clone_vm);
      xd_set_attr (n, "snapshot", m->clone_snapshot);
      xd_set_attr (n, "memory", m->clone_memory);
      xd_set_attr (n, "memory-copy", m->clone_memory_copy);
      for (size_t i = 0; i < m->nclone; i++)
        {
          const struct clone_disk *c = &m->clone_disks[i];
          xmlNodePtr k = xmlNewChild (n, ns, BAD_CAST "disk", NULL);

          xd_set_attr (k, "target", c->target);
          xd_set_attr (k, "source", c->source);
          xd_set_attr (k, "format", c->format);
          xd_set_attr (k, "copy", c->copy);
          xd_set_attr (k, "overlay", c->overlay);
        }
    }
  for (size_t i = 0; i < m->npins; i++)
    {
      n = xmlNewChild (root, ns, BAD_CAST "pin", NULL);
      xd_set_attr (n, "snapshot", m->pins[i].snapshot);
      xd_set_attr (n, "clone", m->pins[i].clone);
      xd_set_attr (n, "uuid", m->pins[i].uuid);
    }
  if (m->rename_from)
    {
      n = xmlNewChild (root, ns, BAD_CAST "rename", NULL);
      xd_set_attr (n, "from", m->rename_from);
      xd_set_attr (n, "to", m->rename_to);
    }
  return root;
}

char *
vs_meta_format (const struct vs_meta *m)
{
  xmlDocPtr doc = xmlNewDoc (BAD_CAST "1.0");
  xmlNodePtr root = meta_node (doc, m, false);
  char *s;

  xmlDocSetRootElement (doc, root);
  s = xd_node_string (doc, root);
  xmlFreeDoc (doc);
  return s;
}

/* Make META the only vmsnapfs element of the domain's <metadata>. */
void
meta_edit_doc (struct doc *d, const struct vs_meta *meta)
{
  xmlNodePtr root = xmlDocGetRootElement (d->doc);
  xmlNodePtr md = xd_child (root, "metadata");

  xd_remove (d, "/domain/metadata/vmsnapfs:vmsnapfs");
  xmlAddChild (md, meta_node (d->doc, meta, true));
}

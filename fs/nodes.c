/* vmsnapfs: one node type per kind of path.
 *
 * Each type says how it looks (mode), what it holds (children, content
 * rendered from the view, a host file, content generated at open, or a
 * link target), and when it exists.  This file has the types of a VM and
 * below; top.c the top's (a host's VMs, the hosts); attrs.c what a node
 * shows through its type (stat, listings, links).  The FUSE handlers in
 * ops.c only resolve a path and call through the type; the verbs that
 * change things are in verbs.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain.h"
#include "export.h"
#include "fs.h"
#include "host.h"
#include "links.h"
#include "remote.h"
#include "util.h"

#include "node-types.h"

/* --- contents --------------------------------------------------------- */

static char *
render_state (const struct node *n, size_t *len)
{
  char *s = xasprintf ("%s\n", n->vm->state);
  *len = strlen (s);
  return s;
}

static char *
render_mode (const struct node *n, size_t *len)
{
  char *s = xasprintf ("%s\n", n->vm->snapshot_mode);
  *len = strlen (s);
  return s;
}

static char *
copy_out (const char *s, size_t slen, size_t *len)
{
  char *c = xmalloc (slen + 1);
  memcpy (c, s, slen);
  c[slen] = '\0';
  *len = slen;
  return c;
}

static char *
render_info (const struct node *n, size_t *len)
{
  return copy_out (n->snap->info, n->snap->info_len, len);
}

static char *
render_info_json (const struct node *n, size_t *len)
{
  return copy_out (n->snap->info_json, n->snap->info_json_len, len);
}

static char *
render_domain_xml (const struct node *n, size_t *len)
{
  return copy_out (n->snap->domain_xml ? n->snap->domain_xml : "",
                   n->snap->domain_xml_len, len);
}

static int
generate_jobs (const struct node *n, char **out, size_t *len)
{
  return host_jobs (n->vm, JOBS_LINES, out, len);
}

static int
generate_jobs_json (const struct node *n, char **out, size_t *len)
{
  return host_jobs (n->vm, JOBS_JSON, out, len);
}

static int
generate_progress (const struct node *n, char **out, size_t *len)
{
  return host_jobs (n->vm, JOBS_PROGRESS, out, len);
}

static const char *
memory_file (const struct node *n)
{
  return n->snap->memory_file;
}

static const char *
volume_file (const struct node *n)
{
  return n->disk->volume;
}

static int
write_state (const struct node *n, const char *command)
{
  return host_vm_command (n->vm, command);
}

static int
write_mode (const struct node *n, const char *mode)
{
  return host_set_snapshot_mode (n->vm, mode);
}

static int
mkdir_snapshot (const struct node *n, const char *name)
{
  if (vm_find_snapshot (n->vm, name))
    return -EEXIST;
  return host_snapshot_create (n->vm, name);
}

static char *
link_active (const struct node *n)
{
  return xasprintf ("snapshots/%s", n->vm->current);
}

static char *
link_preview (const struct node *n)
{
  return xasprintf ("snapshots/%s", n->vm->preview);
}

static char *
link_resume (const struct node *n)
{
  return xasprintf ("snapshots/%s/memory", n->vm->resume);
}

static char *
link_stateless (const struct node *n)
{
  return xasprintf ("snapshots/%s", n->vm->stateless);
}

static char *
link_temp (const struct node *n)
{
  char *snap = temp_link_get (n->vm->uuid, n->name);
  char *target = xasprintf ("snapshots/%s", snap ? snap : "");

  free (snap);
  return target;
}

static bool
has_preview (const struct node *n)
{
  return n->vm->preview != NULL;
}

static bool
has_resume (const struct node *n)
{
  return n->vm->resume != NULL;
}

static bool
has_stateless (const struct node *n)
{
  return n->vm->stateless != NULL;
}

static int
lookup_temp_link (const char *name, struct node *n)
{
  char *snap = temp_link_get (n->vm->uuid, name);

  free (snap);
  return snap ? 0 : -ENOENT;
}

static bool
has_current (const struct node *n)
{
  return n->vm->current && vm_find_snapshot (n->vm, n->vm->current);
}

static bool
has_memory (const struct node *n)
{
  return n->snap->memory_file != NULL;
}

/* --- named children --------------------------------------------------- */

static int
lookup_snapshot (const char *name, struct node *n)
{
  return (n->snap = vm_find_snapshot (n->vm, name)) ? 0 : -ENOENT;
}

static void
list_snapshots (const struct node *n,
                int (*fill) (void *, const char *, const struct stat *),
                void *ctx)
{
  for (size_t i = 0; i < n->vm->nsnaps; i++)
    {
      struct stat st
          = { .st_ino = n->vm->snaps[i]->ino, .st_mode = S_IFDIR | 0555 };
      if (fill (ctx, n->vm->snaps[i]->name, &st))
        return;
    }
}

/* The files of each disk beside its frozen volume (TARGET.qcow2): the
 * whole disk, what changed since the parent, and the list of that. */
static const struct node_type t_img, t_delta_img, t_delta_json;
static const struct
{
  const char *suffix;
  const struct node_type *type;
} disk_files[] = {
  { ".img", &t_img },
  { ".delta.img", &t_delta_img },
  { ".delta.json", &t_delta_json },
};
#define NDISK_FILES (sizeof disk_files / sizeof disk_files[0])

/* The name of file K of disk D: "vda.img". */
static void
disk_file_name (const struct vs_disk *d, size_t k, char *buf, size_t size)
{
  snprintf (buf, size, "%s%s", d->target, disk_files[k].suffix);
}

/* The files beside the frozen volume: a remote host's disks have the
 * whole disk (.img, the first) alone when their deltas cannot be read
 * safely (remote_delta_offered). */
static size_t
disk_files_of (const struct node *n)
{
  return vm_is_local (n->vm) || remote_delta_offered (n->vm->host)
             ? NDISK_FILES
             : 1;
}

static int
lookup_disk (const char *name, struct node *n)
{
  char file[64];

  for (size_t i = 0; i < n->snap->ndisks; i++)
    {
      if (strcmp (n->snap->disks[i].file, name) == 0)
        {
          n->disk = &n->snap->disks[i];
          return 0; /* the default type: the frozen volume */
        }
      for (size_t k = 0; k < disk_files_of (n); k++)
        {
          disk_file_name (&n->snap->disks[i], k, file, sizeof file);
          if (strcmp (file, name) == 0)
            {
              n->disk = &n->snap->disks[i];
              n->type = disk_files[k].type;
              return 0;
            }
        }
    }
  return -ENOENT;
}

uint64_t
child_ino (uint64_t parent, const char *name)
{
  char p[17];

  snprintf (p, sizeof p, "%016" PRIx64, parent);
  return hash_strings (p, name, NULL);
}

static void
list_disks (const struct node *n,
            int (*fill) (void *, const char *, const struct stat *), void *ctx)
{
  for (size_t i = 0; i < n->snap->ndisks; i++)
    {
      char file[64];
      struct stat st
          = { .st_ino = child_ino (n->snap->ino, n->snap->disks[i].file),
              .st_mode = S_IFREG | 0444 };
      if (fill (ctx, n->snap->disks[i].file, &st))
        return;
      for (size_t k = 0; k < disk_files_of (n); k++)
        {
          disk_file_name (&n->snap->disks[i], k, file, sizeof file);
          st.st_ino = child_ino (n->snap->ino, file);
          if (fill (ctx, file, &st))
            return;
        }
    }
}

/* Whether the delta of N's snapshot is what changed since its parent: with
 * no parent, the delta is the whole disk. */
static bool
against_parent (const struct node *n)
{
  return n->snap->parent != NULL;
}

/* Whether N reads what changed only. */
bool
is_delta (const struct node *n)
{
  return n->type->delta && against_parent (n);
}

/* The list of what changed, from the map the delta's whole disk is read
 * by (only when it was read, without PROBE: -EAGAIN). */
static int
delta_json (const struct node *n, bool probe, char **out, size_t *len)
{
  struct extent *ext;
  size_t next;
  uint64_t changed = 0;
  json_object *o, *arr;
  int r;

  /* A remote host's: over NBD from a helper domain there. */
  r = vm_is_local (n->vm)
          ? export_extents (n->snap->ino, n->disk->target, n->disk->volume,
                            n->disk->format, probe, against_parent (n), &ext,
                            &next)
          : remote_extents (n->vm->host, n->snap->ino, n->disk->volume,
                            n->disk->format, n->disk->virtual_size,
                            against_parent (n), probe, &ext, &next);
  if (r < 0)
    return r;
  o = json_object_new_object ();
  arr = json_object_new_array ();
  for (size_t i = 0; i < next; i++)
    {
      json_object *e = json_object_new_object ();

      json_object_object_add (e, "offset",
                              json_object_new_uint64 (ext[i].start));
      json_object_object_add (e, "length",
                              json_object_new_uint64 (ext[i].length));
      json_object_array_add (arr, e);
      changed += ext[i].length;
    }
  free (ext);
  json_object_object_add (o, "snapshot",
                          json_object_new_string (n->snap->name));
  json_object_object_add (
      o, "parent",
      n->snap->parent ? json_object_new_string (n->snap->parent) : NULL);
  json_object_object_add (o, "disk", json_object_new_string (n->disk->target));
  json_object_object_add (o, "virtual_size",
                          json_object_new_uint64 (n->disk->virtual_size));
  json_object_object_add (o, "changed_bytes",
                          json_object_new_uint64 (changed));
  json_object_object_add (o, "extents", arr);
  *out = xasprintf (
      "%s\n", json_object_to_json_string_ext (
                  o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  *len = strlen (*out);
  json_object_put (o);
  return 0;
}

static int
generate_delta_json (const struct node *n, char **out, size_t *len)
{
  return delta_json (n, true, out, len);
}

/* Its true size, so that tar and rsync copy it whole. */
static int
size_delta_json (const struct node *n, bool probe, uint64_t *size)
{
  char *s;
  size_t len;
  int r = delta_json (n, probe, &s, &len);

  if (r == 0)
    {
      *size = len;
      free (s);
    }
  return r;
}

/* --- the types -------------------------------------------------------- */

/* A snapshot's info changes with a merge (its parent, its status) under
 * the same inode: never cached. */
static const struct node_type t_info = { .mode = S_IFREG | 0444,
                                         .render = render_info,
                                         .volatile_content = true };
static const struct node_type t_info_json = { .mode = S_IFREG | 0444,
                                              .render = render_info_json,
                                              .volatile_content = true };
static const struct node_type t_domain_xml
    = { .mode = S_IFREG | 0444, .render = render_domain_xml };
static const struct node_type t_memory = { .mode = S_IFREG | 0400,
                                           .exists = has_memory,
                                           .host_file = memory_file,
                                           .disk = true,
                                           .root_only = true };
static const struct node_type t_volume
    = { .mode = S_IFREG | 0444, .host_file = volume_file, .disk = true };
static const struct node_type t_img
    = { .mode = S_IFREG | 0444, .whole_disk = true, .disk = true };
/* What changed since the parent: the whole disk where the frozen volume
 * holds something itself, holes elsewhere; all of it for a snapshot with
 * no parent. */
static const struct node_type t_delta_img = {
  .mode = S_IFREG | 0444, .whole_disk = true, .delta = true, .disk = true
};
/* The list of that, for tools that want it without seeking.  A merge
 * below changes it. */
static const struct node_type t_delta_json = { .mode = S_IFREG | 0444,
                                               .generate = generate_delta_json,
                                               .size = size_delta_json,
                                               .chain_perms = true,
                                               .volatile_content = true,
                                               .disk = true };

static const struct child snapshot_children[] = {
  { "info", &t_info },
  { "info.json", &t_info_json },
  { "domain.xml", &t_domain_xml },
  { "memory", &t_memory },
  { "files", &t_files },
  { NULL, NULL },
};

const struct node_type t_snapshot = { .mode = S_IFDIR | 0555,
                                      .children = snapshot_children,
                                      .lookup = lookup_disk,
                                      .named = &t_volume,
                                      .list = list_disks };
const struct node_type t_snapshots = { .mode = S_IFDIR | 0755,
                                       .lookup = lookup_snapshot,
                                       .named = &t_snapshot,
                                       .list = list_snapshots,
                                       .mkdir = mkdir_snapshot,
                                       .verbs = true };
static const struct node_type t_state = { .mode = S_IFREG | 0644,
                                          .render = render_state,
                                          .volatile_content = true,
                                          .write = write_state,
                                          .verbs = true };
static const struct node_type t_mode = { .mode = S_IFREG | 0644,
                                         .render = render_mode,
                                         .volatile_content = true,
                                         .write = write_mode,
                                         .verbs = true };
static const struct node_type t_active
    = { .mode = S_IFLNK | 0777, .exists = has_current, .link = link_active };
static const struct node_type t_jobs = { .mode = S_IFREG | 0444,
                                         .generate = generate_jobs,
                                         .volatile_content = true };
static const struct node_type t_jobs_json = { .mode = S_IFREG | 0444,
                                              .generate = generate_jobs_json,
                                              .volatile_content = true };
static const struct node_type t_progress = { .mode = S_IFREG | 0444,
                                             .generate = generate_progress,
                                             .volatile_content = true,
                                             .unlisted = true };

static const struct node_type t_preview
    = { .mode = S_IFLNK | 0777, .exists = has_preview, .link = link_preview };
static const struct node_type t_resume
    = { .mode = S_IFLNK | 0777, .exists = has_resume, .link = link_resume };
static const struct node_type t_stateless = { .mode = S_IFLNK | 0777,
                                              .exists = has_stateless,
                                              .link = link_stateless };
const struct node_type t_temp_link
    = { .mode = S_IFLNK | 0777, .link = link_temp };

static const struct child vm_children[] = {
  { "state", &t_state },
  { "snapshot-mode", &t_mode },
  { "active", &t_active },
  { "preview", &t_preview },
  { "resume", &t_resume },
  { "stateless", &t_stateless },
  { "jobs", &t_jobs },
  { "jobs.json", &t_jobs_json },
  { "progress", &t_progress },
  { "snapshots", &t_snapshots },
  { NULL, NULL },
};

const struct node_type t_vm = { .mode = S_IFDIR | 0755,
                                .children = vm_children,
                                .lookup = lookup_temp_link,
                                .named = &t_temp_link,
                                .verbs = true };
/* --- attributes ------------------------------------------------------- */

/* The inode number of N: stable for as long as what it shows exists. */
uint64_t
node_ino (const struct node *n)
{
  if (n->type->ino) /* the top's (top.c) */
    return n->type->ino (n);
  if (n->type == &t_vm)
    return n->vm->ino;
  if (n->type == &t_snapshot)
    return n->snap->ino;
  if (n->type == &t_volume)
    return child_ino (n->snap->ino, n->disk->file);
  for (size_t k = 0; k < NDISK_FILES; k++)
    if (n->type == disk_files[k].type)
      {
        char file[64];
        disk_file_name (n->disk, k, file, sizeof file);
        return child_ino (n->snap->ino, file);
      }
  if (n->type == &t_temp_link)
    return child_ino (n->vm->ino, n->name);
  if (n->type->guest) /* the guest's own numbers come with its files */
    return child_ino (child_ino (n->snap->ino, "files"), n->name);
  for (const struct child *c = n->snap ? snapshot_children : vm_children;
       c->name; c++)
    if (c->type == n->type)
      return child_ino (n->snap ? n->snap->ino : n->vm->ino, c->name);
  return child_ino (n->vm->ino, "snapshots");
}

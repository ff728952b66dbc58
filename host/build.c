/* vmsnapfs: build the model of a VM and its snapshots from libvirt.
 *
 * Runs only in the refresh thread (and once at start).  A snapshot's record
 * is costly to build (its XML, then qemu-img for each disk), so records are
 * reused as long as libvirt's XML of the snapshot is the same.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "build.h"
#include "conn.h"
#include "files.h"
#include "vmop.h"

const char *
domain_state_word (int state)
{
  switch (state)
    {
    case VIR_DOMAIN_RUNNING:
      return "running";
    case VIR_DOMAIN_BLOCKED:
      return "blocked";
    case VIR_DOMAIN_PAUSED:
      return "paused";
    case VIR_DOMAIN_SHUTDOWN:
      return "shutdown";
    case VIR_DOMAIN_SHUTOFF:
      return "shut_off";
    case VIR_DOMAIN_CRASHED:
      return "crashed";
    case VIR_DOMAIN_PMSUSPENDED:
      return "pmsuspended";
    default:
      return "no_state";
    }
}

/* The chains read during one build of a VM.  A snapshot's overlay is in
 * the chain of the disk it was taken of, and its own chain is the tail of
 * that one: read from the VM's disks first, the chains of a line of N
 * snapshots cost one qemu-img run, not N. */
struct chains
{
  size_t n;
  struct chain **c;
};

static void
chains_free (struct chains *cc)
{
  for (size_t i = 0; i < cc->n; i++)
    chain_free (cc->c[i]);
  free (cc->c);
}

/* The whole chain of PATH (of FORMAT) into *OUT (chain_free it), from CC
 * when a chain read there holds it, else read and kept in CC.  Returns 0
 * or a negative errno (logged). */
static int
cached_chain (const struct vs_vm *v, struct chains *cc, const char *path,
              const char *format, struct chain **out)
{
  struct chain *c;
  int r;

  for (size_t i = 0; i < cc->n; i++)
    for (size_t k = 0; k < cc->c[i]->n; k++)
      if (strcmp (cc->c[i]->images[k].filename, path) == 0
          && strcmp (cc->c[i]->images[k].format, format) == 0)
        {
          *out = chain_tail (cc->c[i], k);
          return 0;
        }
  if ((r = host_chain (v->host, path, format, true, &c)) < 0)
    return r;
  cc->c = xrealloc (cc->c, (cc->n + 1) * sizeof *cc->c);
  cc->c[cc->n++] = c;
  *out = chain_tail (c, 0);
  return 0;
}

/* Read the chains of VM's disks into CC: every snapshot of the current
 * branch is in them. */
static void
prefetch_chains (const struct vs_vm *vm, struct chains *cc)
{
  for (size_t i = 0; i < vm->ndisks; i++)
    {
      struct chain *c = NULL;

      if (vm->disk_sources[i] && vm->disk_formats[i]
          && host_file_exists (vm->host, vm->disk_sources[i])
          && cached_chain (vm, cc, vm->disk_sources[i], vm->disk_formats[i],
                           &c)
                 == 0)
        chain_free (c);
    }
}

/* Find the frozen volume of disk SD: the backing file of the overlay made
 * at the snapshot, as the overlay's own header names it, of the format it
 * records.  When the overlay is gone, fall back on the volume the
 * snapshot's domain names, of the format it gives.  Formats come from
 * libvirt's XML or the images' headers, never from a guess: a disk whose
 * format nothing records is left out.  One qemu-img run reads the whole
 * chain, whose files give the whole disk its mode.  Returns 0, or 1 when
 * the overlay could not be read, or the disk is left out (logged): the
 * record is to be built again, not reused. */
static int
resolve_disk (const struct vs_vm *v, struct chains *cc, const char *snapshot,
              const struct snap_disk *sd, struct vs_disk *d)
{
  const char *vm = v->name;
  struct chain *c = NULL;
  size_t first = 0; /* the frozen volume in C */
  bool overlay = sd->overlay && host_file_exists (v->host, sd->overlay);
  bool partial = false;

  if (overlay && sd->overlay_format
      && cached_chain (v, cc, sd->overlay, sd->overlay_format, &c) == 0
      && c->n > 1)
    first = 1;
  else
    {
      chain_free (c);
      c = NULL;
      /* Transient (an overlay made a moment ago, libvirt listing the
       * snapshot before its files are there; a merge's middle) or not (a
       * revert dropped the overlay): read it again at the next build. */
      partial = true;
      if (sd->frozen && sd->format
          && cached_chain (v, cc, sd->frozen, sd->format, &c) < 0)
        c = NULL;
    }
  if (c == NULL)
    {
      log_warning ("Snapshot '%s' of VM '%s': the frozen volume of disk '%s' "
                   "cannot be found, or its format is not recorded; the disk "
                   "is left out.",
                   snapshot, vm, sd->target);
      return 1;
    }
  d->target = xstrdup (sd->target);
  d->overlay = xstrdup_null (sd->overlay);
  d->overlay_format = overlay ? xstrdup_null (sd->overlay_format) : NULL;
  d->volume = xstrdup (c->images[first].filename);
  d->format = xstrdup (c->images[first].format);
  d->virtual_size = c->images[first].virtual_size;
  d->file = xasprintf ("%s.%s", d->target, d->format);
  d->chain = xcalloc (c->n - first, sizeof *d->chain);
  for (size_t i = first; i < c->n; i++)
    d->chain[d->nchain++] = xstrdup (c->images[i].filename);
  chain_free (c);
  return partial ? 1 : 0;
}

/* What the status of snapshot NAME of VM is: "merging" or "failed" while
 * a merge deletes it, else "ok". */
static const char *
snapshot_status (const struct vs_vm *vm, const char *name)
{
  if (vm->merging == NULL || strcmp (vm->merging, name) != 0)
    return "ok";
  return vm->merge_failed ? "failed" : "merging";
}

/* The record of the snapshot whose XML, of hash KEY, SX is (taken). */
static struct vs_snapshot *
record_snapshot (const struct vs_vm *vm, struct chains *cc, uint64_t key,
                 struct snap_xml *sx)
{
  struct vs_snapshot *s;
  char *created;

  s = xcalloc (1, sizeof *s);
  s->refs = 1;
  s->key = key;
  s->name = sx->name;
  sx->name = NULL;
  s->parent = sx->parent;
  sx->parent = NULL;
  s->created = (time_t)sx->created;
  s->vm_state = vm_state_word (sx->state);
  s->quiesced = sx->description
                && strcmp (sx->description, SNAPSHOT_QUIESCED_MARK) == 0;
  s->status = snapshot_status (vm, s->name);
  s->memory_file = sx->memory_file;
  sx->memory_file = NULL;
  s->domain_xml = sx->domain_xml;
  sx->domain_xml = NULL;
  s->domain_xml_len = s->domain_xml ? strlen (s->domain_xml) : 0;
  s->disks = xcalloc (sx->ndisks, sizeof *s->disks);
  for (size_t i = 0; i < sx->ndisks; i++)
    {
      int r = resolve_disk (vm, cc, s->name, &sx->disks[i],
                            &s->disks[s->ndisks]);

      if (r > 0)
        s->partial = true;
      if (s->disks[s->ndisks].target)
        s->ndisks++;
    }
  /* Not the XML: libvirt rewrites it when a neighbour is deleted. */
  created = xasprintf ("%" PRId64, sx->created);
  s->ino = hash_strings (vm->uuid, s->name, created, NULL);
  free (created);
  snapshot_render (s);
  snap_xml_free (sx);
  return s;
}

static void
log_unreadable (const struct vs_vm *vm)
{
  log_error ("VM '%s': libvirt gave snapshot XML that cannot be read.",
             vm->name);
}

struct vs_snapshot *
snapshot_read (virDomainPtr dom, const struct vs_vm *vm, const char *name)
{
  CLEANUP_SNAPSHOT virDomainSnapshotPtr snap = NULL;
  CLEANUP_FREE char *xml = NULL;

  if ((snap = virDomainSnapshotLookupByName (dom, name, 0)) == NULL
      || (xml = virDomainSnapshotGetXMLDesc (snap, 0)) == NULL)
    {
      log_error ("VM '%s': cannot read snapshot '%s': %s", vm->name, name,
                 virt_error ());
      return NULL;
    }
  struct chains cc = { 0 };
  struct snap_xml *sx;
  struct vs_snapshot *s = NULL;

  if (snap_xml_parse (xml, &sx) < 0)
    log_unreadable (vm);
  else
    s = record_snapshot (vm, &cc, hash_strings (xml, NULL), sx);
  chains_free (&cc);
  return s;
}

static int
compare_snapshots (const void *a, const void *b)
{
  return strcmp ((*(struct vs_snapshot *const *)a)->name,
                 (*(struct vs_snapshot *const *)b)->name);
}

/* The fingerprint of a VM's snapshots: their names, in libvirt's order,
 * and the current one's. */
static uint64_t
fingerprint_of (virDomainSnapshotPtr *snaps, int n, const char *current)
{
  struct strbuf b = { 0 };
  uint64_t h;

  for (int i = 0; i < n; i++)
    strbuf_printf (&b, "%s/", virDomainSnapshotGetName (snaps[i]));
  if (current)
    strbuf_printf (&b, "current=%s", current);
  h = hash_strings (b.s ? b.s : "", NULL);
  free (b.s);
  return h;
}

/* Fill VM's snapshots from libvirt, reusing OLD's records, and its
 * fingerprint and current snapshot. */
static int
build_snapshots (virDomainPtr dom, struct vs_vm *vm, const struct vs_vm *old,
                 bool reread)
{
  virDomainSnapshotPtr *snaps = NULL;
  int n = virDomainListAllSnapshots (dom, &snaps, 0);
  struct chains cc = { 0 };
  bool prefetched = false;

  if (n < 0)
    {
      log_error ("Cannot list the snapshots of VM '%s': %s", vm->name,
                 virt_error ());
      return -EIO;
    }
  vm->current = current_snapshot_name (dom);
  vm->snap_fingerprint = fingerprint_of (snaps, n, vm->current);
  vm->snaps = xcalloc (n, sizeof *vm->snaps);
  for (int i = 0; i < n; i++)
    {
      CLEANUP_FREE char *xml = NULL;
      const struct vs_snapshot *prev;
      struct vs_snapshot *s = NULL;
      struct snap_xml *sx;
      const char *name;
      uint64_t key;

      name = virDomainSnapshotGetName (snaps[i]);
      prev = old ? vm_find_snapshot (old, name) : NULL;
      if (prev && strcmp (prev->status, snapshot_status (vm, name)) != 0)
        prev = NULL; /* a merge began or ended: render it anew */
      if (prev && prev->partial)
        prev = NULL; /* its chains could not all be read: read them again */
      if (prev && !reread)
        {
          vm->snaps[vm->nsnaps++] = snapshot_ref ((struct vs_snapshot *)prev);
          continue;
        }
      if ((xml = virDomainSnapshotGetXMLDesc (snaps[i], 0)) == NULL)
        continue; /* deleted meanwhile */
      key = hash_strings (xml, NULL);
      if (prev && prev->key == key)
        s = snapshot_ref ((struct vs_snapshot *)prev);
      else if (snap_xml_parse (xml, &sx) < 0)
        log_unreadable (vm);
      else
        {
          if (!prefetched)
            prefetch_chains (vm, &cc);
          prefetched = true;
          s = record_snapshot (vm, &cc, key, sx);
        }
      if (s)
        vm->snaps[vm->nsnaps++] = s;
    }
  for (int i = 0; i < n; i++)
    virDomainSnapshotFree (snaps[i]);
  free (snaps);
  chains_free (&cc);
  qsort (vm->snaps, vm->nsnaps, sizeof *vm->snaps, compare_snapshots);
  return 0;
}

char *
current_snapshot_name (virDomainPtr dom)
{
  /* One round trip: none is an error, VIR_ERR_NO_DOMAIN_SNAPSHOT. */
  CLEANUP_SNAPSHOT virDomainSnapshotPtr cur
      = virDomainSnapshotCurrent (dom, 0);

  return cur ? xstrdup (virDomainSnapshotGetName (cur)) : NULL;
}

uint64_t
snapshot_fingerprint (virDomainPtr dom)
{
  CLEANUP_FREE char *cur = NULL;
  virDomainSnapshotPtr *snaps = NULL;
  int n = virDomainListAllSnapshots (dom, &snaps, 0);
  uint64_t h;

  if (n < 0)
    return 0;
  cur = current_snapshot_name (dom);
  h = fingerprint_of (snaps, n, cur);
  for (int i = 0; i < n; i++)
    virDomainSnapshotFree (snaps[i]);
  free (snaps);
  return h;
}

/* Fill VM's disks and snapshot mode from its current definition.
 * build_vm_deeper copies these fields from a shallow view: a field added
 * here goes there too. */
static int
read_definition (virDomainPtr dom, struct vs_vm *vm)
{
  /* The persistent definition: vmsnapfs's record lives there (a memory
   * restore brings back the live definition of the snapshot's time). */
  CLEANUP_FREE char *xml = NULL;
  struct dom_xml *dx;

  if (read_inactive (vm->name, dom, &xml, &dx) < 0)
    return -EIO;
  vm->def_hash = hash_strings (xml, vm->state, NULL);
  vm->disk_targets = xcalloc (dx->ndisks, sizeof *vm->disk_targets);
  vm->disk_sources = xcalloc (dx->ndisks, sizeof *vm->disk_sources);
  vm->disk_formats = xcalloc (dx->ndisks, sizeof *vm->disk_formats);
  for (size_t i = 0; i < dx->ndisks; i++, vm->ndisks++)
    {
      vm->disk_targets[i] = xstrdup (dx->disks[i].target);
      vm->disk_sources[i] = xstrdup (dx->disks[i].source);
      vm->disk_formats[i] = xstrdup_null (dx->disks[i].format);
    }
  vm->snapshot_mode
      = xstrdup (dx->meta.snapshot_mode ? dx->meta.snapshot_mode : "memory");
  vm->preview = xstrdup_null (dx->meta.preview);
  vm->resume = xstrdup_null (dx->meta.resume);
  vm->merging = xstrdup_null (dx->meta.merge);
  vm->merge_failed = dx->meta.merge_failed;
  vm->renaming = dx->meta.rename_from != NULL;
  vm->cloning = dx->meta.clone_vm != NULL;
  free (vm->clone_snapshot);
  vm->clone_snapshot = xstrdup_null (dx->meta.clone_snapshot);
  vm->restoring = vm->cloning && dx->meta.clone_vm[0] == '/';
  vm->stateless = xstrdup_null (dx->meta.stateless);
  vm->branch_deleting = dx->meta.branch != NULL;
  dom_xml_free (dx);
  return 0;
}

/* Read VM's snapshots, make it deep and give it its inode number. */
static int
finish_vm (struct host *h, virDomainPtr dom, struct vs_vm *vm,
           const struct vs_vm *old, bool reread, bool deep)
{
  if (vm->merging || vm->renaming || vm->cloning || vm->branch_deleting)
    deep = true; /* the recovery reads its snapshots */
  vm->shallow = !deep;
  if (deep && build_snapshots (dom, vm, old, reread) < 0)
    return -EIO;
  vm->mtime = time (NULL);
  /* Each host's VMs apart: one VM may be defined on two. */
  vm->ino = host_several () ? hash_strings (host_name (h), vm->uuid, NULL)
                            : hash_strings (vm->uuid, NULL);
  return 0;
}

struct vs_vm *
build_vm (struct host *h, virDomainPtr dom, const struct vs_vm *old,
          bool reread, bool deep)
{
  struct vs_vm *vm = xcalloc (1, sizeof *vm);
  int state, reason;

  vm->refs = 1;
  vm->host = h;
  vm->name = xstrdup (virDomainGetName (dom));
  if (virDomainGetUUIDString (dom, vm->uuid) < 0
      || virDomainGetState (dom, &state, &reason, 0) < 0)
    {
      log_error ("Cannot read the state of VM '%s': %s", vm->name,
                 virt_error ());
      goto fail;
    }
  vm->state = domain_state_word (state);
  if (read_definition (dom, vm) < 0
      || finish_vm (h, dom, vm, old, reread, deep) < 0)
    goto fail;
  return vm;

fail:
  vm_unref (vm);
  return NULL;
}

static char **
dup_strings (char *const *a, size_t n, bool nulls)
{
  char **d = xcalloc (n ? n : 1, sizeof *d);

  for (size_t i = 0; i < n; i++)
    d[i] = nulls ? xstrdup_null (a[i]) : xstrdup (a[i]);
  return d;
}

struct vs_vm *
build_vm_deeper (struct host *h, virDomainPtr dom, const struct vs_vm *shallow)
{
  struct vs_vm *vm = xcalloc (1, sizeof *vm);

  /* What read_definition and the state give, as SHALLOW has it. */
  vm->refs = 1;
  vm->host = h;
  vm->name = xstrdup (shallow->name);
  memcpy (vm->uuid, shallow->uuid, sizeof vm->uuid);
  vm->state = shallow->state;
  vm->ndisks = shallow->ndisks;
  vm->disk_targets = dup_strings (shallow->disk_targets, vm->ndisks, false);
  vm->disk_sources = dup_strings (shallow->disk_sources, vm->ndisks, false);
  vm->disk_formats = dup_strings (shallow->disk_formats, vm->ndisks, true);
  vm->snapshot_mode = xstrdup (shallow->snapshot_mode);
  vm->preview = xstrdup_null (shallow->preview);
  vm->resume = xstrdup_null (shallow->resume);
  vm->merging = xstrdup_null (shallow->merging);
  vm->merge_failed = shallow->merge_failed;
  vm->renaming = shallow->renaming;
  vm->cloning = shallow->cloning;
  vm->clone_snapshot = xstrdup_null (shallow->clone_snapshot);
  vm->restoring = shallow->restoring;
  vm->stateless = xstrdup_null (shallow->stateless);
  vm->branch_deleting = shallow->branch_deleting;
  vm->def_hash = shallow->def_hash;
  if (finish_vm (h, dom, vm, NULL, false, true) < 0)
    {
      vm_unref (vm);
      return NULL;
    }
  return vm;
}

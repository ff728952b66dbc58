/* vmsnapfs: one step of a merge (merge.h): a look at what the VM runs on
 * and at the files, then each disk's phase taken further (merge.c's
 * comment tells the phases), the record written as each one ends.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "cleanup.h"
#include "log.h"
#include "merge.h"
#include "util.h"
#include "virxml.h"

#include "host/conn.h"
#include "host/files.h"
#include "host/helperdom.h"
#include "host/jobs.h"
#include "host/vmop.h"

#include "snapshot/delete.h"
#include "snapshot/shared.h"

/* How many times a block commit is started on one disk before the merge
 * is given up as failed. */
#define COMMIT_TRIES 3
/* Longest run of qemu-img commit or rebase. */
#define QEMU_IMG_TIMEOUT_MS (24 * 3600 * 1000)

/* --- the volumes, as the files say ------------------------------------ */

/* Run qemu-img with ARGV for M; it logs its own failure.  Stopped when
 * the daemon stops (-ESHUTDOWN): a commit is safe to run again, and the
 * record keeps the merge for the next start. */
static int
qemu_img (const struct merge *m, const char *const argv[])
{
  const struct vs_vm *vm = m->vm;
  CLEANUP_FREE char *out = NULL;
  int r = run_capture_until (argv, 65536, QEMU_IMG_TIMEOUT_MS, m->stop, &out,
                             NULL, NULL);

  if (r == -ECANCELED)
    return -ESHUTDOWN;
  if (r != 0)
    log_error ("VM '%s': the merge's qemu-img %s failed.", vm->name, argv[1]);
  return r == 0 ? 0 : -EIO;
}

/* --- what the VM runs on ------------------------------------------------ */

/* A look at the VM during a merge: its persistent definition, which holds
 * the record, and its disks' chains as they are now. */
struct look
{
  bool running;
  char *xml;           /* the persistent definition */
  struct dom_xml *def; /* parsed; def->meta is the record */
  struct dom_xml *run; /* the live definition while running, with chains */
};

static void
look_clear (struct look *l)
{
  free (l->xml);
  dom_xml_free (l->def);
  dom_xml_free (l->run);
  memset (l, 0, sizeof *l);
}

static const struct dom_disk *
find_disk (const struct dom_xml *dx, const char *target)
{
  for (size_t i = 0; i < dx->ndisks; i++)
    if (strcmp (dx->disks[i].target, target) == 0)
      return &dx->disks[i];
  return NULL;
}

/* The chain of a shut-off VM's disk SRC as the files of host H have it,
 * in DD. */
static int
probe_chain (struct host *h, const struct dom_disk *src, struct dom_disk *dd)
{
  struct chain *c = NULL;
  int r;

  if (src->format == NULL)
    {
      log_error ("Disk '%s' of the VM has no format in its definition: its "
                 "chain is not read.",
                 src->target);
      return -EIO;
    }
  if ((r = host_chain (h, src->source, src->format, true, &c)) < 0)
    return r;
  dd->target = xstrdup (src->target);
  dd->source = xstrdup (src->source);
  dd->format = xstrdup_null (src->format);
  dd->backing = xcalloc (c->n, sizeof *dd->backing);
  for (size_t i = 1; i < c->n; i++)
    dd->backing[dd->nbacking++] = xstrdup (c->images[i].filename);
  chain_free (c);
  return 0;
}

static int
look_at (const struct vs_vm *vm, virDomainPtr dom, struct look *l)
{
  int r;

  memset (l, 0, sizeof *l);
  l->running = virDomainIsActive (dom) == 1;
  if ((r = read_inactive (vm->name, dom, &l->xml, &l->def)) < 0)
    return r;
  if (l->running)
    {
      CLEANUP_FREE char *live = virDomainGetXMLDesc (dom, 0);

      if (live == NULL || dom_xml_parse (live, &l->run) < 0)
        {
          log_error ("VM '%s': cannot read its live definition: %s", vm->name,
                     virt_error ());
          return -EIO;
        }
      return 0;
    }
  /* Shut off: the chains are the files', whatever the XML recorded. */
  l->run = xcalloc (1, sizeof *l->run);
  l->run->disks = xcalloc (l->def->ndisks, sizeof *l->run->disks);
  for (size_t i = 0; i < l->def->ndisks; i++, l->run->ndisks++)
    if ((r = probe_chain (vm->host, &l->def->disks[i], &l->run->disks[i])) < 0)
      return r;
  return 0;
}

/* The disk TARGET with its chain as the VM runs it, or would run it. */
static const struct dom_disk *
look_disk (const struct look *l, const char *target)
{
  return find_disk (l->run, target);
}

static bool
in_chain (const struct dom_disk *dd, const char *path)
{
  if (dd == NULL)
    return false;
  if (strcmp (dd->source, path) == 0)
    return true;
  for (size_t i = 0; i < dd->nbacking; i++)
    if (strcmp (dd->backing[i], path) == 0)
      return true;
  return false;
}

/* --- one disk: the commit phase ------------------------------------------ */

/* Commit MD's top into its base on M's VM's remote host, where what
 * stands on the top is found by L (helperdom.c). */
static int
commit_remote (const struct merge *m, const struct look *l,
               const struct merge_disk *md)
{
  const struct vs_vm *vm = m->vm;
  size_t nvols, nkids;
  struct vol *vols = known_volumes (vm, l->def, md->target, &nvols);
  struct vol *kids = children_of (vm->host, vols, nvols, md->top, &nkids);
  int r;

  free (vols);
  if (nkids > 1)
    {
      log_error ("VM '%s': %zu volumes stand on '%s'; the merge stops.",
                 vm->name, nkids, md->top);
      free (kids);
      return -EIO;
    }
  r = helper_commit (vm, md, nkids ? kids[0].path : NULL,
                     nkids ? kids[0].format : NULL, merge_bandwidth (),
                     m->stop);
  free (kids);
  return r;
}

/* Commit MD's top into its base with qemu-img: neither is in use.  On a
 * remote host, in a helper domain there (L says what stands on TOP). */
static int
commit_offline (const struct merge *m, const struct look *l,
                const struct merge_disk *md)
{
  const struct vs_vm *vm = m->vm;
  char rate[32];
  const char *argv[16];
  size_t n = 0;

  if (md->top_format == NULL)
    {
      log_error ("VM '%s': the merge record names no format for '%s': it "
                 "is not read as any.",
                 vm->name, md->top);
      return -EIO;
    }
  if (!host_is_local (vm->host))
    return commit_remote (m, l, md);
  argv[n++] = "qemu-img";
  argv[n++] = "commit";
  argv[n++] = "-q";
  argv[n++] = "-f";
  argv[n++] = md->top_format;
  argv[n++] = "-t";
  argv[n++] = "none";
  argv[n++] = "-d"; /* TOP is deleted afterwards: don't empty it */
  argv[n++] = "-b";
  argv[n++] = md->base;
  if (merge_bandwidth ())
    {
      snprintf (rate, sizeof rate, "%luM", merge_bandwidth ());
      argv[n++] = "-r";
      argv[n++] = rate;
    }
  argv[n++] = md->top;
  argv[n] = NULL;
  log_info ("VM '%s': committing '%s' into '%s' with qemu-img.", vm->name,
            md->top, md->base);
  return qemu_img (m, argv);
}

/* Start a block commit of disk I on the running VM; ACTIVE when TOP is the
 * volume the VM writes to. */
static int
commit_live (struct merge *m, virDomainPtr dom, size_t i,
             const struct merge_disk *md, bool active)
{
  unsigned flags = active ? VIR_DOMAIN_BLOCK_COMMIT_ACTIVE : 0;

  if (++m->tries[i] > COMMIT_TRIES)
    {
      log_error ("VM '%s': block commits of disk '%s' ended %u times "
                 "without merging '%s'; giving up.",
                 m->vm->name, md->target, COMMIT_TRIES, md->top);
      return -EIO;
    }
  log_info ("VM '%s': %s commit of '%s' into '%s' on disk '%s'.", m->vm->name,
            active ? "active-layer" : "block", md->top, md->base, md->target);
  if (virDomainBlockCommit (dom, md->target, md->base, md->top,
                            merge_bandwidth (), flags)
      < 0)
    {
      log_error ("VM '%s': cannot start the block commit of disk '%s': %s",
                 m->vm->name, md->target, virt_error ());
      return -virt_errno ();
    }
  return 0;
}

/* Pivot disk DD to the base of its active commit once libvirt says it is
 * ready: the copy caught up, and the mirror ready in the XML.  A pivot
 * refused as not ready is tried again at the next look. */
static void
pivot_when_ready (const struct vs_vm *vm, virDomainPtr dom,
                  const struct dom_disk *dd, const virDomainBlockJobInfo *info)
{
  if (info->type != VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT
      || info->cur != info->end || !dd->mirror_ready)
    return;
  if (virDomainBlockJobAbort (dom, dd->target,
                              VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
      < 0)
    log_info ("VM '%s': the pivot of disk '%s' was refused (%s); trying "
              "again.",
              vm->name, dd->target, virt_error ());
  else
    log_info ("VM '%s': disk '%s' pivoted to '%s'.", vm->name, dd->target,
              dd->backing && dd->nbacking ? dd->backing[0] : "its base");
}

/* MD's top is not in DD's chain: committed live (the VM runs on BASE), or
 * TOP is on a branch the VM does not run, and then neither is in use. */
static int
commit_off_chain (const struct merge *m, const struct look *l,
                  const struct dom_disk *dd, const struct merge_disk *md)
{
  if (in_chain (dd, md->base))
    return 1;
  return commit_offline (m, l, md) < 0 ? -EIO : 1;
}

/* Take the commit phase of disk I a step further.  Returns 1 when BASE
 * holds TOP's data and the VM no longer runs on TOP, 0 while a block job
 * runs, or -errno. */
static int
step_commit (struct merge *m, virDomainPtr dom, const struct look *l, size_t i,
             const struct merge_disk *md)
{
  const struct dom_disk *dd = look_disk (l, md->target);
  struct look again = { 0 };
  virDomainBlockJobInfo info;
  int j, r;

  if (!in_chain (dd, md->top))
    return commit_off_chain (m, l, dd, md);
  if (!l->running)
    return commit_offline (m, l, md) < 0 ? -EIO : 1;
  if ((j = virDomainGetBlockJobInfo (dom, md->target, &info, 0)) < 0)
    {
      log_info ("VM '%s': cannot read the block job of disk '%s': %s",
                m->vm->name, md->target, virt_error ());
      return -virt_errno ();
    }
  if (j > 0)
    {
      job_note (m->vm->uuid, md->target, &info, NULL);
      pivot_when_ready (m->vm, dom, dd, &info);
      return 0;
    }
  /* No job: but the look came before the question, and a commit that
   * ended in between has changed the chain since.  Judge from a chain read
   * after the answer; libvirt updates the chain before it drops the job. */
  if ((r = look_at (m->vm, dom, &again)) == 0)
    {
      if (!again.running)
        r = 0; /* stopped meanwhile: the next step sees it shut off */
      else if (!in_chain ((dd = look_disk (&again, md->target)), md->top))
        r = commit_off_chain (m, &again, dd, md);
      else
        r = commit_live (m, dom, i, md, strcmp (dd->source, md->top) == 0);
    }
  look_clear (&again);
  return r;
}

/* --- one disk: the repoint phase ----------------------------------------- */

/* Point disk TARGET of the persistent definition XML at SOURCE, dropping
 * the backing chain it recorded. */
static int
define_disk (const struct vs_vm *vm, const char *xml, const char *target,
             const char *source, const char *format)
{
  const struct disk_change ch = { target, source, format };

  return define_changed (vm, xml, &ch, 1, NULL);
}

/* Point what still stands on MD's top at its base, with metadata-only
 * changes (BASE holds the data already), then delete TOP.  Each step can
 * be done again. */
static int
step_repoint (const struct merge *m, virDomainPtr dom, struct look *l,
              struct merge_disk *md)
{
  const struct vs_vm *vm = m->vm;
  struct vs_meta *rec = &l->def->meta;
  const struct dom_disk *dd = find_disk (l->def, md->target);
  size_t nvols, nkids;
  struct vol *vols = known_volumes (vm, l->def, md->target, &nvols);
  struct vol *kids = children_of (vm->host, vols, nvols, md->top, &nkids);
  int r = 0;

  free (vols);
  if (nkids > 0 && !host_is_local (vm->host))
    {
      /* The helper's commit rewrote the backing file of the one volume on
       * TOP; anything else would need qemu-img on the host. */
      log_error ("VM '%s': '%s' still stands on '%s' on the remote host.",
                 vm->name, kids[0].path, md->top);
      r = -EIO;
    }
  for (size_t k = 0; k < nkids && r == 0; k++)
    {
      const char *argv[]
          = { "qemu-img", "rebase",       "-q",         "-u",
              "-f",       kids[k].format, "-b",         md->base,
              "-F",       md->format,     kids[k].path, NULL };

      log_info ("VM '%s': '%s' now stands on '%s'.", vm->name, kids[k].path,
                md->base);
      r = qemu_img (m, argv);
    }
  free (kids);
  for (size_t k = 0; k < rec->ndisks && r == 0; k++)
    if (strcmp (rec->disks[k].kept, md->top) == 0)
      {
        free (rec->disks[k].kept);
        rec->disks[k].kept = xstrdup (md->base);
        free (rec->disks[k].format);
        rec->disks[k].format = xstrdup (md->format);
        r = meta_write (vm, dom, rec);
      }
  /* The definition: its disk on BASE, and no recorded chain naming TOP
   * (libvirt would look for TOP when it starts the VM, and an offline
   * snapshot would inherit the chain).  Read again: another disk's step
   * may have defined it since the look (found by the chaos campaign). */
  if (r == 0 && in_chain (dd, md->top))
    {
      CLEANUP_FREE char *xml = NULL;
      struct dom_xml *now = NULL;

      if ((r = read_inactive (vm->name, dom, &xml, &now)) == 0
          && (dd = find_disk (now, md->target)) && in_chain (dd, md->top))
        r = define_disk (
            vm, xml, md->target,
            strcmp (dd->source, md->top) == 0 ? md->base : dd->source,
            strcmp (dd->source, md->top) == 0 ? md->format : dd->format);
      dom_xml_free (now);
    }
  if (r < 0)
    return r;
  if ((r = host_file_unlink (vm->host, md->top)) == 0)
    log_info ("VM '%s': deleted the merged volume '%s'.", vm->name, md->top);
  else if (r != -ENOENT)
    log_warning ("VM '%s': cannot delete '%s': %s", vm->name, md->top,
                 strerror (-r));
  return 0;
}

/* --- the whole merge ------------------------------------------------------
 */

/* The snapshot's metadata, its memory file, then the record. */
static int
finish (const struct vs_vm *vm, virDomainPtr dom, struct vs_meta *rec)
{
  CLEANUP_SNAPSHOT virDomainSnapshotPtr s
      = virDomainSnapshotLookupByName (dom, rec->merge, 0);

  if (s
      && virDomainSnapshotDelete (s, VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
             < 0)
    {
      log_error ("VM '%s': cannot delete the metadata of snapshot '%s': %s",
                 vm->name, rec->merge, virt_error ());
      return -virt_errno ();
    }
  if (rec->merge_memory)
    {
      int e = host_file_unlink (vm->host, rec->merge_memory);

      if (e < 0 && e != -ENOENT)
        log_warning ("VM '%s': cannot delete '%s': %s", vm->name,
                     rec->merge_memory, strerror (-e));
    }
  log_info ("VM '%s': snapshot '%s' deleted.", vm->name, rec->merge);
  free (rec->merge);
  rec->merge = NULL;
  return meta_write (vm, dom, rec);
}

int
merge_step (struct merge *m, virDomainPtr dom)
{
  struct look l;
  struct vs_meta *rec;
  bool all = true;
  int r;

  if ((r = look_at (m->vm, dom, &l)) < 0)
    goto out;
  rec = &l.def->meta;
  if (rec->merge == NULL || strcmp (rec->merge, m->snapshot) != 0)
    {
      log_error ("VM '%s': the merge of '%s' is no longer recorded.",
                 m->vm->name, m->snapshot);
      r = -EIO;
      goto out;
    }
  if (m->tries == NULL)
    {
      m->ndisks = rec->nmerge;
      m->tries = xcalloc (m->ndisks, sizeof *m->tries);
      m->merged = xcalloc (m->ndisks, sizeof *m->merged);
    }
  for (size_t i = 0; i < m->ndisks && i < rec->nmerge && r >= 0; i++)
    {
      struct merge_disk *md = &rec->merge_disks[i];

      if (m->merged[i])
        continue;
      if (!md->committed)
        {
          if ((r = step_commit (m, dom, &l, i, md)) != 1)
            {
              all = false;
              continue;
            }
          md->committed = true;
          if ((r = meta_write (m->vm, dom, rec)) < 0)
            break;
        }
      if ((r = step_repoint (m, dom, &l, md)) == 0)
        m->merged[i] = true;
    }
  if (r >= 0 && all)
    r = finish (m->vm, dom, rec) < 0 ? -EIO : 1;
out:
  look_clear (&l);
  return r;
}

/* vmsnapfs: a clone's copy (clone-copy.h): the worker that copies a
 * snapshot's volumes and memory into the clone's files and finishes the
 * clone, or rolls it back; the copies under way, for the jobs files and
 * the daemon's stop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libvirt/virterror.h>

#include "chain.h"
#include "cleanup.h"
#include "clone-copy.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/conn.h"
#include "host/files.h"
#include "host/ops.h"
#include "host/refresh.h"
#include "host/saveimage.h"
#include "host/vmlock.h"
#include "host/vmop.h"

#include "snapshot/clone.h"
#include "snapshot/hooks.h"
#include "snapshot/shared.h"

static pthread_mutex_t clones_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t clones_cond = PTHREAD_COND_INITIALIZER;
static struct clone *clones;
static bool stopping;

bool
clone_is_stopping (void)
{
  SCOPED_LOCK (&clones_lock);
  return stopping;
}

/* The allocated bytes of PATH, 0 when it cannot be read. */
static uint64_t
allocated (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

size_t
clone_jobs (const char *uuid, size_t max, char **targets,
            virDomainBlockJobInfo *infos, char **snaps)
{
  SCOPED_LOCK (&clones_lock);
  size_t n = 0;

  for (struct clone *c = clones; c && n < max; c = c->next)
    {
      const struct clone_disk *d;
      CLEANUP_FREE char *part = NULL;

      if (strcmp (c->uuid, uuid) == 0 && c->thin && c->pulling)
        {
          targets[n] = xstrdup (c->rec.clone_disks[c->copying].target);
          snaps[n] = xstrdup (c->rec.clone_snapshot);
          infos[n++] = c->pull_info;
          continue;
        }
      if (strcmp (c->uuid, uuid) != 0 || c->thin || c->copying_memory
          || c->copying >= c->rec.nclone)
        continue;
      d = &c->rec.clone_disks[c->copying];
      part = xasprintf ("%s.part", d->copy);
      targets[n] = xstrdup (d->target);
      snaps[n] = xstrdup (c->rec.clone_snapshot);
      infos[n] = (virDomainBlockJobInfo){
        .type = VIR_DOMAIN_BLOCK_JOB_TYPE_COPY,
        .end = c->need[c->copying],
        .cur = allocated (part),
      };
      if (infos[n].cur > infos[n].end)
        infos[n].cur = infos[n].end;
      n++;
    }
  return n;
}

void
clone_show_pull (struct clone *c, size_t i, const virDomainBlockJobInfo *info)
{
  SCOPED_LOCK (&clones_lock);

  c->copying = i;
  c->pulling = true;
  c->pull_info = *info;
  c->pull_info.type = VIR_DOMAIN_BLOCK_JOB_TYPE_PULL;
}

void
clone_note_pull (void *arg, const virDomainBlockJobInfo *info)
{
  struct clone *c = arg;

  clone_show_pull (c, c->copying, info);
}

char *
clone_thin_top (const struct clone_disk *d)
{
  size_t n = strlen (d->overlay);

  if (n > 6 && strcmp (d->overlay + n - 6, ".qcow2") == 0)
    return xasprintf ("%.*s.thin.qcow2", (int)(n - 6), d->overlay);
  return xasprintf ("%s.thin", d->overlay);
}

int
clone_stands_alone (struct host *h, const char *path, bool *alone,
                    unsigned long long *size)
{
  struct chain *ch = NULL;

  if (host_chain (h, path, "qcow2", false, &ch) < 0)
    return -EIO;
  *alone = ch->images[0].backing == NULL;
  *size = ch->images[0].virtual_size;
  chain_free (ch);
  return 0;
}

char *
clone_pull_file (const struct clone_disk *d)
{
  return xasprintf ("%s.pull", d->copy);
}

void
clone_free (struct clone *c)
{
  if (c == NULL)
    return;
  if (c->host)
    vm_lock_drop (c->host, c->uuid, c->lock);
  free (c->name);
  vs_meta_clear (&c->rec);
  free (c->need);
  free (c);
}

/* --- the copy ------------------------------------------------------------ */

/* Copy disk I of C whole into its own volume, unless done. */
static int
copy_disk (struct clone *c, size_t i)
{
  const struct clone_disk *d = &c->rec.clone_disks[i];
  CLEANUP_FREE char *part = xasprintf ("%s.part", d->copy);
  char rate[32];
  const char *argv[]
      = { "qemu-img", "convert", "-q", "-f",      d->format, "-O",
          "qcow2",    "-r",      rate, d->source, part,      NULL };
  int r;

  /* -r 0 would be a limit of nothing: no limit is a huge one. */
  snprintf (rate, sizeof rate, "%luM",
            merge_bandwidth () ? merge_bandwidth () : 1024UL * 1024);
  if (!host_is_local (c->host))
    {
      /* A copy there is made again: one a killed daemon began looks
       * whole. */
      pthread_mutex_lock (&clones_lock);
      c->copying = i;
      pthread_mutex_unlock (&clones_lock);
      log_info ("VM '%s': copying '%s' of '%s' into '%s' on its host.",
                c->name, d->target, c->rec.clone_snapshot, d->copy);
      return remote_copy_whole (c->host, d->source, d->copy, "qcow2",
                                c->need[i]);
    }
  if (access (d->copy, F_OK) == 0)
    return 0;
  unlink (part); /* a copy a stopped daemon began */
  pthread_mutex_lock (&clones_lock);
  c->copying = i;
  pthread_mutex_unlock (&clones_lock);
  log_info ("VM '%s': copying '%s' of '%s' into '%s'.", c->name, d->target,
            c->rec.clone_snapshot, d->copy);
  if ((r = run_volume_tool ("The clone's qemu-img convert", argv,
                            clone_is_stopping))
          == 0
      && rename (part, d->copy) < 0)
    r = -errno;
  if (r < 0)
    unlink (part);
  return r;
}

/* The clone's domain in the memory image: its identity and disks. */
static char *
edit_saved (const char *xml, void *arg)
{
  const struct clone *c = arg;
  struct dom_identity id
      = { .name = c->name, .uuid = c->uuid, .old_name = c->rec.clone_vm };
  struct disk_change *ch = xcalloc (c->rec.nclone, sizeof *ch);
  char *s;

  for (size_t i = 0; i < c->rec.nclone; i++)
    ch[i] = (struct disk_change){ c->rec.clone_disks[i].target,
                                  c->rec.clone_disks[i].overlay, "qcow2" };
  s = dom_xml_clone (xml, &id, ch, c->rec.nclone, NULL);
  free (ch);
  return s;
}

int
clone_copy_memory (struct clone *c)
{
  const char *copy = c->rec.clone_memory_copy;
  CLEANUP_FREE char *part = NULL;
  int r;

  if (c->rec.clone_memory == NULL)
    return 0;
  if (!host_is_local (c->host))
    {
      pthread_mutex_lock (&clones_lock);
      c->copying_memory = true;
      pthread_mutex_unlock (&clones_lock);
      host_file_unlink (c->host, copy); /* begun by a killed daemon */
      return remote_save_image_copy (c->host, c->rec.clone_memory, copy,
                                     edit_saved, c);
    }
  if (access (copy, F_OK) == 0)
    return 0;
  part = xasprintf ("%s.part", copy);
  unlink (part);
  pthread_mutex_lock (&clones_lock);
  c->copying_memory = true;
  pthread_mutex_unlock (&clones_lock);
  r = save_image_copy (c->rec.clone_memory, part, edit_saved, c);
  if (r == 0 && rename (part, copy) < 0)
    r = -errno;
  if (r < 0)
    unlink (part);
  return r;
}

static int
make_overlays (struct clone *c)
{
  for (size_t i = 0; i < c->rec.nclone; i++)
    {
      const struct clone_disk *d = &c->rec.clone_disks[i];

      if (host_file_exists (c->host, d->overlay))
        continue;
      if (host_make_overlay (c->host, d->overlay, d->copy, "qcow2", c->need[i])
          < 0)
        return -EIO;
    }
  return 0;
}

/* How many of the first disks of snapshot NAME in the clone DOM name their
 * copies as their frozen volumes, into *N; *DEFINED whether NAME is
 * there.  0 or -EIO. */
static int
copies_named (const struct clone *c, virDomainPtr dom, bool *defined,
              size_t *n)
{
  CLEANUP_SNAPSHOT virDomainSnapshotPtr s = NULL;
  CLEANUP_FREE char *xml = NULL;
  struct snap_xml *sx = NULL;
  struct dom_xml *dx = NULL;
  int r = -EIO;

  *n = 0;
  s = virDomainSnapshotLookupByName (dom, c->rec.clone_snapshot, 0);
  *defined = s != NULL;
  if (s == NULL && virGetLastErrorCode () == VIR_ERR_NO_DOMAIN_SNAPSHOT)
    return 0;
  if (s == NULL)
    {
      log_error ("VM '%s': cannot look up its snapshot '%s': %s", c->name,
                 c->rec.clone_snapshot, virt_error ());
      return -EIO;
    }
  if ((xml = virDomainSnapshotGetXMLDesc (s, 0)) != NULL
      && snap_xml_parse (xml, &sx) == 0 && sx->domain_xml
      && dom_xml_parse (sx->domain_xml, &dx) == 0)
    {
      for (; *n < c->rec.nclone; (*n)++)
        {
          const struct clone_disk *d = &c->rec.clone_disks[*n];
          bool on_copy = false;

          for (size_t k = 0; k < dx->ndisks; k++)
            if (strcmp (dx->disks[k].target, d->target) == 0)
              on_copy = dx->disks[k].source
                        && strcmp (dx->disks[k].source, d->copy) == 0;
          if (!on_copy)
            break;
        }
      r = 0;
    }
  else
    log_error ("VM '%s': cannot read its snapshot '%s': %s", c->name,
               c->rec.clone_snapshot,
               xml ? "its XML is not valid" : virt_error ());
  dom_xml_free (dx);
  snap_xml_free (sx);
  return r;
}

int
clone_copies_named (struct clone *c, virDomainPtr dom, size_t *n)
{
  bool defined;

  return copies_named (c, dom, &defined, n);
}

int
clone_define_snapshot (struct clone *c, virDomainPtr dom, size_t ncopied)
{
  virConnectPtr conn = virDomainGetConnect (dom);
  CLEANUP_DOMAIN virDomainPtr src = NULL;
  CLEANUP_SNAPSHOT virDomainSnapshotPtr s = NULL, made = NULL;
  CLEANUP_FREE char *xml = NULL, *mine = NULL;
  struct dom_identity id
      = { .name = c->name, .uuid = c->uuid, .old_name = c->rec.clone_vm };
  size_t n = c->rec.nclone, named;
  struct disk_change *frozen = xcalloc (n, sizeof *frozen);
  struct disk_change *overlays = xcalloc (n, sizeof *overlays);
  bool defined;
  int r = -EIO;

  if (copies_named (c, dom, &defined, &named) < 0)
    goto out;
  if (defined && named >= ncopied)
    {
      r = 0;
      goto out;
    }
  for (size_t i = 0; i < n; i++)
    {
      const struct clone_disk *d = &c->rec.clone_disks[i];

      frozen[i]
          = i < ncopied
                ? (struct disk_change){ d->target, d->copy, "qcow2" }
                : (struct disk_change){ d->target, d->source, d->format };
      overlays[i] = (struct disk_change){ d->target, d->overlay, "qcow2" };
    }
  if ((src = virDomainLookupByUUIDString (conn, c->source_uuid)) == NULL
      || (s = virDomainSnapshotLookupByName (src, c->rec.clone_snapshot, 0))
             == NULL
      || (xml
          = virDomainSnapshotGetXMLDesc (s, VIR_DOMAIN_SNAPSHOT_XML_SECURE))
             == NULL)
    {
      log_error ("VM '%s': cannot read snapshot '%s' of '%s' any more: %s",
                 c->name, c->rec.clone_snapshot, c->rec.clone_vm,
                 virt_error ());
      goto out;
    }
  if ((mine = snap_xml_clone (xml, &id, frozen, overlays, n,
                              c->rec.clone_memory_copy))
      == NULL)
    {
      log_error ("VM '%s': snapshot '%s' of '%s' cannot be made its own.",
                 c->name, c->rec.clone_snapshot, c->rec.clone_vm);
      goto out;
    }
  made = virDomainSnapshotCreateXML (dom, mine,
                                     VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
                                         | VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT);
  if (made == NULL)
    log_error ("VM '%s': cannot define its snapshot '%s': %s", c->name,
               c->rec.clone_snapshot, virt_error ());
  else
    r = 0;
out:
  free (frozen);
  free (overlays);
  return r;
}

/* The end: the record of the clone dropped; for a clone copied first, the
 * record made "resume NAME" where there is memory (an instant clone's
 * says so from its start). */
static int
finish (struct clone *c, virDomainPtr dom)
{
  struct vs_vm v;
  struct vs_meta m = { 0 };
  int r;

  vm_stand_in (&v, c->host, c->name, c->uuid);
  if ((r = meta_read (&v, dom, &m)) < 0)
    return r;
  vs_meta_clear_clone (&m);
  if (!c->thin)
    {
      free (m.resume);
      m.resume = c->rec.clone_memory ? xstrdup (c->rec.clone_snapshot) : NULL;
    }
  r = meta_write (&v, dom, &m);
  vs_meta_clear (&m);
  return r;
}

void
clone_roll_back (struct clone *c, virDomainPtr dom)
{
  const char *files[5];

  if (dom
      && virDomainUndefineFlags (dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                                          | VIR_DOMAIN_UNDEFINE_NVRAM)
             < 0)
    log_error ("VM '%s': cannot undefine the unfinished clone: %s", c->name,
               virt_error ());
  for (size_t i = 0; i < c->rec.nclone; i++)
    {
      const struct clone_disk *d = &c->rec.clone_disks[i];
      CLEANUP_FREE char *part = xasprintf ("%s.part", d->copy);
      CLEANUP_FREE char *top = clone_thin_top (d);
      CLEANUP_FREE char *pulled = clone_pull_file (d);

      files[0] = d->copy, files[1] = part, files[2] = d->overlay;
      files[3] = top, files[4] = pulled;
      for (size_t k = 0; k < 5; k++)
        if (host_file_unlink (c->host, files[k]) == 0)
          log_info ("VM '%s': removed '%s'.", c->name, files[k]);
    }
  if (c->rec.clone_memory_copy)
    {
      CLEANUP_FREE char *part
          = xasprintf ("%s.part", c->rec.clone_memory_copy);

      if (host_is_local (c->host))
        unlink (part);
      host_file_unlink (c->host, c->rec.clone_memory_copy);
    }
}

static void
unregister (struct clone *c)
{
  SCOPED_LOCK (&clones_lock);

  for (struct clone **p = &clones; *p; p = &(*p)->next)
    if (*p == c)
      {
        *p = c->next;
        break;
      }
  pthread_cond_broadcast (&clones_cond);
}

/* Whether C's VM is still defined on CONN (an error other than no such
 * domain: taken as defined). */
static bool
still_defined (virConnectPtr conn, const struct clone *c)
{
  virDomainPtr dom = virDomainLookupByUUIDString (conn, c->uuid);
  virErrorPtr err;

  if (dom)
    {
      virDomainFree (dom);
      return true;
    }
  err = virGetLastError ();
  return err == NULL || err->code != VIR_ERR_NO_DOMAIN;
}

/* A try at C's copy and its end, on a connection of its own (*CONN) and
 * the clone's domain (*DOM), each NULL or the caller's to release.  0,
 * -ESHUTDOWN (the daemon stops; for a clone copied first, no libvirt),
 * -ENOENT (the clone is gone), -EAGAIN (no libvirt now) or -errno
 * (logged). */
static int
copy_once (struct clone *c, virConnectPtr *conn, virDomainPtr *dom)
{
  int r = 0;

  if ((*conn = host_conn (c->host)) == NULL)
    return c->thin ? -EAGAIN : -ESHUTDOWN;
  for (size_t i = 0; r == 0 && !c->thin && i < c->rec.nclone; i++)
    r = copy_disk (c, i);
  if (r == 0 && !c->thin)
    r = clone_copy_memory (c);
  if (r == 0 && !c->thin)
    r = make_overlays (c);
  if (r == 0 && (*dom = virDomainLookupByUUIDString (*conn, c->uuid)) == NULL)
    {
      bool gone = virGetLastErrorCode () == VIR_ERR_NO_DOMAIN;

      if (gone)
        log_error ("VM '%s': the clone went away while it was copied.",
                   c->name);
      else
        log_error ("VM '%s': the clone cannot be found in libvirt now: %s",
                   c->name, virt_error ());
      /* For want of libvirt (restarting), an instant clone is tried
       * again; a clone copied first is rolled back. */
      r = gone || !c->thin ? -ENOENT : -EAGAIN;
    }
  if (r == 0 && c->thin)
    r = c->thin_job (c, *dom);
  else if (r == 0)
    r = clone_define_snapshot (c, *dom, c->rec.nclone);
  if (r == 0)
    r = finish (c, *dom);
  if (r < 0 && r != -ESHUTDOWN && *dom && !still_defined (*conn, c))
    r = -ENOENT; /* what it stood on goes: a restore's server too */
  return r;
}

/* The pauses between the tries of an instant clone's job, in seconds:
 * RETRY_FIRST_S, doubled each time up to RETRY_MAX_S; after job_tries
 * failures in a row (libvirt answering), RETRY_LATE_S.  A fault that does
 * not go (a disk another client of libvirt moved, a file system left
 * full) is not tried every minute for ever. */
#define RETRY_FIRST_S 5
#define RETRY_MAX_S 60
#define RETRY_LATE_S 3600
#define DEFAULT_JOB_TRIES 8

static unsigned job_tries = DEFAULT_JOB_TRIES;

void
clone_set_tries (unsigned tries)
{
  job_tries = tries ? tries : DEFAULT_JOB_TRIES;
}

unsigned
clone_retry_pause (unsigned fails, unsigned counted)
{
  unsigned s = RETRY_FIRST_S;

  if (counted >= job_tries)
    return RETRY_LATE_S;
  for (unsigned k = 1; k < fails && s < RETRY_MAX_S; k++)
    s *= 2;
  return s > RETRY_MAX_S ? RETRY_MAX_S : s;
}

/* Wait S seconds, less when the daemon stops: whether it does not. */
static bool
pause_unless_stopping (unsigned s)
{
  SCOPED_LOCK (&clones_lock);
  struct timespec until;

  clock_gettime (CLOCK_REALTIME, &until);
  until.tv_sec += s;
  while (!stopping
         && pthread_cond_timedwait (&clones_cond, &clones_lock, &until)
                != ETIMEDOUT)
    ;
  return !stopping;
}

/* Whether the source VM of clone C is gone from its host (a restore has
 * none). */
static bool
source_gone (const struct clone *c)
{
  virConnectPtr conn;
  virDomainPtr d;
  bool gone;

  if (c->source_uuid[0] == '\0' || (conn = host_conn (c->host)) == NULL)
    return false;
  d = virDomainLookupByUUIDString (conn, c->source_uuid);
  gone = d == NULL && virGetLastErrorCode () == VIR_ERR_NO_DOMAIN;
  if (d)
    virDomainFree (d);
  virConnectClose (conn);
  return gone;
}

/* Whether what C's job stands on went meanwhile (the clone, its source,
 * a restore's server): its next try, at once, ends it. */
static bool
ended_meanwhile (struct clone *c)
{
  virConnectPtr conn = host_conn (c->host);
  bool gone = false;

  if (conn)
    {
      gone = !still_defined (conn, c);
      virResetLastError ();
      virConnectClose (conn);
    }
  return gone || source_gone (c) || (c->may_go_on && !c->may_go_on (c));
}

/* The pause of S seconds before C's next try, in steps of at most
 * RETRY_MAX_S after each of which a job whose clone, source or server went
 * is tried at once (a long pause does not keep its lock, its source's pin
 * or its server for an hour): whether the daemon does not stop. */
static bool
pause_before_try (struct clone *c, unsigned s)
{
  while (s > 0)
    {
      unsigned step = s > RETRY_MAX_S ? RETRY_MAX_S : s;

      if (!pause_unless_stopping (step))
        return false;
      s -= step;
      if (s > 0 && ended_meanwhile (c))
        break;
    }
  return true;
}

static void
release_conn (virConnectPtr *conn, virDomainPtr *dom)
{
  if (*dom)
    virDomainFree (*dom);
  if (*conn)
    virConnectClose (*conn);
  *dom = NULL;
  *conn = NULL;
}

static void *
worker_main (void *arg)
{
  struct clone *c = arg;
  virConnectPtr conn = NULL;
  virDomainPtr dom = NULL;
  unsigned fails = 0, counted = 0, wait_s;
  struct vs_vm v;
  int r;

  vm_stand_in (&v, c->host, c->name, c->uuid);
  /* An instant clone's job that fails while the clone stays (its pull's
   * helper killed, libvirtd restarted under it, the file system of its
   * copies full) is tried again here after a pause (clone_retry_pause),
   * until it ends or the daemon stops: the fault may be gone by then, and
   * a try redoes only what is missing (clone_thin_job).  Meanwhile the
   * clone may run on its source's snapshot, pinned. */
  while ((r = copy_once (c, &conn, &dom)) < 0 && c->thin && r != -ESHUTDOWN
         && r != -ENOENT)
    {
      /* A restore whose backup's server is gone cannot go on before it is
       * imported again (the log says so): left as it is, recorded. */
      if (c->may_go_on && !c->may_go_on (c))
        {
          r = -ESHUTDOWN;
          break;
        }
      /* Nor a clone whose source is gone: rolled back, as at a start. */
      if (source_gone (c))
        {
          log_error ("VM '%s': its source '%s' is gone.", c->name,
                     c->rec.clone_vm);
          break;
        }
      /* A want of libvirt (restarting) is no fault of the job's. */
      if (r != -EAGAIN)
        counted++;
      wait_s = clone_retry_pause (++fails, counted);
      if (wait_s == RETRY_LATE_S)
        log_error ("VM '%s': its job has failed %u times in a row; it stays "
                   "on '%s' snapshot '%s', and its job is tried again in an "
                   "hour, or at the next start of vmsnapfs.",
                   c->name, counted, c->rec.clone_vm, c->rec.clone_snapshot);
      else
        log_error ("VM '%s': its copy cannot be made whole now; it stays on "
                   "'%s' snapshot '%s', and its job is tried again in %u s.",
                   c->name, c->rec.clone_vm, c->rec.clone_snapshot, wait_s);
      release_conn (&conn, &dom);
      if (!pause_before_try (c, wait_s))
        {
          r = -ESHUTDOWN;
          break;
        }
    }
  if (r == 0 && c->done)
    ; /* said below */
  else if (r == 0 && c->thin)
    log_info ("VM '%s': independent of '%s' snapshot '%s'.", c->name,
              c->rec.clone_vm, c->rec.clone_snapshot);
  else if (r == 0)
    log_info ("VM '%s': cloned from snapshot '%s' of '%s'.", c->name,
              c->rec.clone_snapshot, c->rec.clone_vm);
  else if (r == -ESHUTDOWN)
    log_info ("VM '%s': the clone's copy stops here; the next start of "
              "vmsnapfs carries it on.",
              c->name);
  else if (r == -ENOENT && dom)
    log_error ("VM '%s': it was removed while its job ran; the job ends.",
               c->name);
  else
    {
      log_error ("VM '%s': the clone failed; it is removed.", c->name);
      if (dom == NULL && conn)
        dom = virDomainLookupByUUIDString (conn, c->uuid);
      clone_roll_back (c, dom);
    }
  release_conn (&conn, &dom);
  if (r != -ESHUTDOWN && c->source_uuid[0])
    clone_unpin (c->host, c->source_uuid, c->rec.clone_vm, c->uuid,
                 clone_is_stopping);
  if (r != -ESHUTDOWN && c->done)
    c->done (c, r);
  if (r != -ESHUTDOWN)
    host_sync (&v, true);
  unregister (c);
  clone_free (c);
  return NULL;
}

int
clone_copy_start (struct clone *c)
{
  int e;

  pthread_mutex_lock (&clones_lock);
  c->next = clones;
  clones = c;
  if (c->thin && c->rec.nclone)
    {
      /* The jobs file shows the pull from the start, before the worker
       * reaches it. */
      c->copying = 0;
      c->pulling = true;
      c->pull_info = (virDomainBlockJobInfo){
        .type = VIR_DOMAIN_BLOCK_JOB_TYPE_PULL,
        .end = c->need[0],
      };
    }
  pthread_mutex_unlock (&clones_lock);
  if ((e = worker_start (worker_main, c)) != 0)
    {
      log_error ("VM '%s': cannot start the clone's copy: %s", c->name,
                 strerror (e));
      unregister (c);
      return -EIO;
    }
  return 0;
}

int
clone_measure (struct host *h, const char *volume, const char *format,
               uint64_t *need)
{
  const char *argv[] = { "qemu-img", "measure", "--output=json", "-f", format,
                         "-O",       "qcow2",   volume,          NULL };
  CLEANUP_FREE char *out = NULL;
  json_object *o, *req;
  int r;

  if (!host_is_local (h))
    {
      struct chain *c = NULL;

      if ((r = host_chain (h, volume, format, false, &c)) == 0)
        *need = c->images[0].virtual_size;
      chain_free (c);
      return r;
    }
  if ((r = run_capture (argv, 65536, 60000, &out, NULL, NULL)) < 0)
    return -EIO;
  o = json_tokener_parse (out);
  if (o && json_object_object_get_ex (o, "required", &req))
    *need = (uint64_t)json_object_get_int64 (req);
  else
    r = -EIO;
  json_object_put (o);
  return r;
}

void
clone_stop (void)
{
  SCOPED_LOCK (&clones_lock);

  stopping = true;
  pthread_cond_broadcast (&clones_cond); /* a job's pause ends */
  while (clones)
    pthread_cond_wait (&clones_cond, &clones_lock);
}

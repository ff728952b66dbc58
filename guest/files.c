/* vmsnapfs: the guest's own files at a snapshot (see guestfiles.h).
 *
 * Locks: reg_lock guards the registry (the list of handles, their
 * references and states) and is never held across a libguestfs call;
 * each handle's lock serializes its calls to the appliance and guards its
 * kept answers.  The order is reg_lock, then a handle's lock, never the
 * other way.
 *
 * The handle is started, and its file systems laid out, by launch.c;
 * libguestfs is called through loader.c's table.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "guestfiles.h"
#include "handle.h"
#include "log.h"
#include "util.h"

/* Bytes one call reads (the protocol's messages stop at 4 MiB). */
#define CHUNK (2 * 1024 * 1024)
/* Names one call stats. */
#define STAT_BATCH 1000
/* After a start that failed, looks fail at once for so long. */
#define RETRY_MS 5000

struct guestfiles_file
{
  struct guestfiles *gf;
  char *path;
  pthread_mutex_t lock; /* the chunk */
  char *chunk;
  size_t chunk_len;
  off_t chunk_off;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cond = PTHREAD_COND_INITIALIZER;
static struct guestfiles *all;
static unsigned idle_seconds = 60;
static bool reaper_started, reaper_stop;
static pthread_t reaper;

/* --- the registry ----------------------------------------------------- */

static void
dirs_free (struct guestfiles *gf)
{
  for (size_t b = 0; b < DIR_BUCKETS; b++)
    while (gf->dirs[b])
      {
        struct dir *d = gf->dirs[b];
        gf->dirs[b] = d->next;
        for (size_t i = 0; i < d->n; i++)
          free (d->entries[i].name);
        free (d->entries);
        free (d->path);
        free (d);
      }
}

/* Stop GF's appliance and free it; GF is out of the registry. */
static void
gf_free (struct guestfiles *gf)
{
  if (gf->g)
    gfs.close (gf->g);
  dirs_free (gf);
  for (size_t i = 0; i < gf->ntargets; i++)
    free (gf->targets[i]);
  free (gf->targets);
  free (gf->errors);
  pthread_mutex_destroy (&gf->lock);
  free (gf);
}

static void
unlink_gf (struct guestfiles *gf)
{
  for (struct guestfiles **p = &all; *p; p = &(*p)->next)
    if (*p == gf)
      {
        *p = gf->next;
        return;
      }
}

/* Stops handles unused for idle_seconds, and failed ones after a while. */
static void *
reaper_main (void *arg)
{
  (void)arg;
  pthread_mutex_lock (&reg_lock);
  while (!reaper_stop)
    {
      struct timespec until;
      struct guestfiles *idle = NULL;
      long long now = now_ms ();

      for (struct guestfiles **p = &all; *p;)
        {
          struct guestfiles *gf = *p;
          long long limit
              = gf->state == FAILED ? RETRY_MS : idle_seconds * 1000LL;
          if (gf->state != STARTING && gf->refs == 0
              && now - gf->last_used >= limit)
            {
              *p = gf->next;
              gf->next = idle;
              idle = gf;
            }
          else
            p = &gf->next;
        }
      pthread_mutex_unlock (&reg_lock);
      while (idle)
        {
          struct guestfiles *gf = idle;
          idle = gf->next;
          if (gf->g)
            log_info ("Stopped the guest files of a snapshot: unused for "
                      "%u s.",
                      idle_seconds);
          gf_free (gf);
        }
      pthread_mutex_lock (&reg_lock);
      deadline_ms (&until, CLOCK_REALTIME, 1000);
      if (!reaper_stop)
        pthread_cond_timedwait (&reg_cond, &reg_lock, &until);
    }
  pthread_mutex_unlock (&reg_lock);
  return NULL;
}

void
guestfiles_configure (unsigned seconds)
{
  if (seconds)
    idle_seconds = seconds;
  guest_tmpdir_sweep (NULL);
}

int
guestfiles_get (uint64_t snap, const struct guest_drive *drives,
                size_t ndrives, const char *label, struct guestfiles **out)
{
  struct guestfiles *gf;
  int r;

  pthread_mutex_lock (&reg_lock);
  if (!reaper_started)
    reaper_started = pthread_create (&reaper, NULL, reaper_main, NULL) == 0;
  for (;;)
    {
      for (gf = all; gf && gf->snap != snap; gf = gf->next)
        ;
      if (gf && gf->state == STARTING)
        {
          pthread_cond_wait (&reg_cond, &reg_lock);
          continue;
        }
      if (gf && gf->state == READY)
        {
          gf->refs++;
          pthread_mutex_unlock (&reg_lock);
          *out = gf;
          return 0;
        }
      if (gf && now_ms () - gf->last_used < RETRY_MS)
        {
          pthread_mutex_unlock (&reg_lock);
          return -EIO; /* failed a moment ago */
        }
      break;
    }
  if (gf == NULL)
    {
      gf = xcalloc (1, sizeof *gf);
      gf->snap = snap;
      pthread_mutex_init (&gf->lock, NULL);
      gf->next = all;
      all = gf;
    }
  gf->state = STARTING;
  gf->refs++;
  pthread_mutex_unlock (&reg_lock);

  pthread_mutex_lock (&gf->lock);
  free (gf->errors);
  gf->errors = NULL;
  r = guest_start (gf, drives, ndrives, label);
  pthread_mutex_unlock (&gf->lock);

  pthread_mutex_lock (&reg_lock);
  gf->state = r == 0 ? READY : FAILED;
  gf->last_used = now_ms ();
  if (r < 0)
    gf->refs--;
  pthread_cond_broadcast (&reg_cond);
  pthread_mutex_unlock (&reg_lock);
  *out = r == 0 ? gf : NULL;
  return r;
}

void
guestfiles_put (struct guestfiles *gf)
{
  if (gf == NULL)
    return;
  pthread_mutex_lock (&reg_lock);
  gf->refs--;
  gf->last_used = now_ms ();
  pthread_cond_broadcast (&reg_cond);
  pthread_mutex_unlock (&reg_lock);
}

int
guestfiles_release_snapshot (uint64_t snap, long wait_ms)
{
  struct guestfiles *gf;
  struct timespec until;

  deadline_ms (&until, CLOCK_REALTIME, wait_ms);
  pthread_mutex_lock (&reg_lock);
  for (;;)
    {
      for (gf = all; gf && gf->snap != snap; gf = gf->next)
        ;
      if (gf == NULL || (gf->refs == 0 && gf->state != STARTING))
        break;
      if (pthread_cond_timedwait (&reg_cond, &reg_lock, &until) == ETIMEDOUT)
        {
          pthread_mutex_unlock (&reg_lock);
          log_error ("The guest files of the snapshot are being read: its "
                     "volumes must not change under their readers.");
          return -EBUSY;
        }
    }
  if (gf)
    unlink_gf (gf);
  pthread_mutex_unlock (&reg_lock);
  if (gf)
    gf_free (gf);
  return 0;
}

void
guestfiles_shutdown (void)
{
  struct guestfiles *list;

  pthread_mutex_lock (&reg_lock);
  reaper_stop = true;
  pthread_cond_broadcast (&reg_cond);
  list = all;
  all = NULL;
  pthread_mutex_unlock (&reg_lock);
  if (reaper_started)
    pthread_join (reaper, NULL);
  while (list)
    {
      struct guestfiles *gf = list;
      list = gf->next;
      gf_free (gf);
    }
  guest_tmpdir_remove ();
}

/* --- directories ------------------------------------------------------ */

static int
entry_cmp (const void *a, const void *b)
{
  return strcmp (((const struct entry *)a)->name,
                 ((const struct entry *)b)->name);
}

static size_t
bucket (const char *path)
{
  return (size_t)(hash_strings (path, NULL) % DIR_BUCKETS);
}

/* Directory PATH of GF, listed with its attributes the first time; call
 * with GF's lock held.  Returns 0 or -errno. */
static int
dir_get (struct guestfiles *gf, const char *path, struct dir **out)
{
  size_t b = bucket (path), n = 0;
  struct dir *d;
  char **names;

  for (d = gf->dirs[b]; d; d = d->next)
    if (strcmp (d->path, path) == 0)
      {
        *out = d;
        return 0;
      }
  if (gf->g == NULL) /* no libguestfs: an empty "/", nothing else */
    {
      if (strcmp (path, "/") != 0)
        return -ENOENT;
      names = xcalloc (1, sizeof *names);
    }
  else if ((names = gfs.ls (gf->g, path)) == NULL)
    return guest_last_errno (gf->g);
  for (; names[n]; n++)
    ;
  d = xcalloc (1, sizeof *d);
  d->path = xstrdup (path);
  d->entries = xcalloc (n ? n : 1, sizeof *d->entries);
  for (size_t i = 0; i < n; i += STAT_BATCH)
    {
      size_t k = n - i < STAT_BATCH ? n - i : STAT_BATCH;
      char *saved = names[i + k];
      struct guestfs_statns_list *l;

      names[i + k] = NULL; /* a batch of K names */
      l = gfs.lstatnslist (gf->g, path, names + i);
      names[i + k] = saved;
      for (size_t j = 0; j < k; j++)
        {
          d->entries[d->n].name = names[i + j];
          names[i + j] = NULL;
          if (l && j < l->len)
            guest_stat_from (gf->snap, &l->val[j], &d->entries[d->n].st);
          d->n++;
        }
      if (l)
        gfs.free_statns_list (l);
      else
        log_warning ("libguestfs cannot stat the entries of '%s': %s", path,
                     gfs.last_error (gf->g));
    }
  guest_free_strings (names);
  qsort (d->entries, d->n, sizeof *d->entries, entry_cmp);
  d->next = gf->dirs[b];
  gf->dirs[b] = d;
  *out = d;
  return 0;
}

int
guestfiles_stat (struct guestfiles *gf, const char *path, struct stat *st)
{
  SCOPED_LOCK (&gf->lock);
  char *parent;
  const char *name;
  struct dir *d;
  struct entry key, *e;
  int r;

  if (strcmp (path, "/") == 0)
    {
      *st = gf->root;
      return 0;
    }
  name = strrchr (path, '/') + 1;
  parent = name - 1 == path ? xstrdup ("/")
                            : strndup (path, (size_t)(name - 1 - path));
  r = dir_get (gf, parent, &d);
  free (parent);
  if (r < 0)
    return r;
  key.name = (char *)name;
  e = bsearch (&key, d->entries, d->n, sizeof *d->entries, entry_cmp);
  if (e == NULL)
    return -ENOENT;
  *st = e->st;
  return 0;
}

int
guestfiles_list (struct guestfiles *gf, const char *path,
                 int (*fill) (void *, const char *, const struct stat *),
                 void *ctx)
{
  SCOPED_LOCK (&gf->lock);
  struct dir *d;
  int r;

  if ((r = dir_get (gf, path, &d)) < 0)
    return r;
  for (size_t i = 0; i < d->n; i++)
    if (fill (ctx, d->entries[i].name, &d->entries[i].st))
      break;
  return 0;
}

char *
guestfiles_errors (struct guestfiles *gf)
{
  SCOPED_LOCK (&gf->lock);

  return gf->errors ? xstrdup (gf->errors) : NULL;
}

/* --- links ------------------------------------------------------------ */

char *
guestfiles_confine_link (const char *link, const char *target)
{
  struct strbuf out = { 0 };
  char *dir = xstrdup (link), *t = xstrdup (target), *save = NULL;
  char **comps = NULL;
  size_t n = 0, depth = 0;
  bool climbed = false;

  /* The link's directory, as components. */
  if (strrchr (dir, '/'))
    *strrchr (dir, '/') = '\0';
  for (char *c = strtok_r (dir, "/", &save); c;
       c = strtok_r (NULL, "/", &save))
    {
      comps = xrealloc (comps, (n + 1) * sizeof *comps);
      comps[n++] = c;
    }
  depth = n;
  if (target[0] == '/')
    n = 0;
  for (char *c = strtok_r (t, "/", &save); c; c = strtok_r (NULL, "/", &save))
    {
      if (strcmp (c, ".") == 0)
        continue;
      if (strcmp (c, "..") == 0)
        {
          if (n == 0)
            climbed = true;
          else
            n--;
          continue;
        }
      comps = xrealloc (comps, (n + 1) * sizeof *comps);
      comps[n++] = c;
    }
  if (target[0] != '/' && !climbed)
    strbuf_printf (&out, "%s", target); /* stays inside: as it is */
  else
    {
      for (size_t i = 0; i < depth; i++)
        strbuf_printf (&out, "%s", i ? "/.." : "..");
      for (size_t i = 0; i < n; i++)
        {
          if (depth || i)
            strbuf_printf (&out, "/");
          strbuf_printf (&out, "%s", comps[i]);
        }
      if (out.len == 0)
        strbuf_printf (&out, ".");
    }
  free (comps);
  free (dir);
  free (t);
  return strbuf_steal (&out, NULL);
}

int
guestfiles_readlink (struct guestfiles *gf, const char *path, char **out)
{
  SCOPED_LOCK (&gf->lock);
  char *target = gfs.readlink (gf->g, path);
  const char *in = path;

  if (target == NULL)
    return guest_last_errno (gf->g);
  /* Without an operating system, each file system is its own tree. */
  if (!gf->os && strchr (path + 1, '/'))
    in = strchr (path + 1, '/');
  *out = guestfiles_confine_link (in, target);
  free (target);
  return 0;
}

/* --- reading ---------------------------------------------------------- */

int
guestfiles_open (struct guestfiles *gf, const char *path,
                 struct guestfiles_file **out)
{
  struct guestfiles_file *f = xcalloc (1, sizeof *f);

  pthread_mutex_lock (&reg_lock);
  gf->refs++;
  pthread_mutex_unlock (&reg_lock);
  f->gf = gf;
  f->path = xstrdup (path);
  pthread_mutex_init (&f->lock, NULL);
  *out = f;
  return 0;
}

/* Read the chunk at OFF into F; call with F's lock held.  Returns 0 or
 * -EIO. */
static int
fill_chunk (struct guestfiles_file *f, off_t off)
{
  struct guestfiles *gf = f->gf;
  size_t len = 0;
  char *data;

  pthread_mutex_lock (&gf->lock);
  data = gfs.pread (gf->g, f->path, CHUNK, off, &len);
  if (data == NULL)
    log_error ("libguestfs cannot read '%s' at %lld: %s", f->path,
               (long long)off, gfs.last_error (gf->g));
  pthread_mutex_unlock (&gf->lock);
  if (data == NULL)
    return -EIO;
  free (f->chunk);
  f->chunk = data;
  f->chunk_len = len;
  f->chunk_off = off;
  return 0;
}

ssize_t
guestfiles_read (struct guestfiles_file *f, char *buf, size_t size, off_t off)
{
  SCOPED_LOCK (&f->lock);
  size_t done = 0;

  while (done < size)
    {
      off_t at = off + (off_t)done;
      size_t k;

      if (f->chunk == NULL || at < f->chunk_off
          || at >= f->chunk_off + (off_t)f->chunk_len)
        {
          int r = fill_chunk (f, at);
          if (r < 0)
            return done ? (ssize_t)done : r;
          if (f->chunk_len == 0)
            break; /* the end */
        }
      k = f->chunk_len - (size_t)(at - f->chunk_off);
      if (k > size - done)
        k = size - done;
      memcpy (buf + done, f->chunk + (at - f->chunk_off), k);
      done += k;
    }
  return (ssize_t)done;
}

void
guestfiles_close (struct guestfiles_file *f)
{
  if (f == NULL)
    return;
  guestfiles_put (f->gf);
  free (f->chunk);
  free (f->path);
  pthread_mutex_destroy (&f->lock);
  free (f);
}

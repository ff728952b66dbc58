/* vmsnapfs: the guest's own files at a snapshot (see guestfiles.h).
 *
 * Locks: reg_lock guards the registry (the list of handles, their
 * references and states) and is never held across a libguestfs call;
 * each handle's lock serializes its calls to the appliance and guards its
 * kept answers.  The order is reg_lock, then a handle's lock, never the
 * other way.
 */
#include <errno.h>
#include <guestfs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "guestfiles.h"
#include "log.h"
#include "util.h"

/* Bytes one call reads (the protocol's messages stop at 4 MiB). */
#define CHUNK (2 * 1024 * 1024)
/* Names one call stats. */
#define STAT_BATCH 1000
#define DIR_BUCKETS 256
/* After a start that failed, looks fail at once for so long. */
#define RETRY_MS 5000

struct entry
{
  char *name;
  struct stat st;
};

/* A directory listed once: its entries sorted by name. */
struct dir
{
  char *path;
  struct entry *entries;
  size_t n;
  struct dir *next;
};

enum state
{
  STARTING,
  READY,
  FAILED,
};

struct guestfiles
{
  uint64_t snap;
  struct guestfiles *next;
  enum state state;     /* reg_lock */
  unsigned refs;        /* reg_lock: gets and opens */
  long long last_used;  /* reg_lock */
  pthread_mutex_t lock; /* what follows */
  guestfs_h *g;
  bool os;        /* laid out by inspection */
  char **targets; /* the drives' guest names, in the order added */
  size_t ntargets;
  char *errors; /* a line per file system that shows nothing */
  struct stat root;
  struct dir *dirs[DIR_BUCKETS];
};

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
static bool tcg_only; /* KVM failed once: TCG from then on */
static pthread_t reaper;

/* --- names and attributes --------------------------------------------- */

/* The directory a file system of device DEV shows as: the guest's name of
 * its disk and the partition number ("/dev/sdb1" of the second drive is
 * "vdb1"), a logical volume's "VG-LV", else DEV without "/dev/". */
static char *
fs_dir_name (const struct guestfiles *gf, const char *dev)
{
  const char *p = dev;
  size_t index = 0, letters = 0;
  char *name, *s;

  if (strncmp (p, "/dev/sd", 7) == 0)
    {
      for (p += 7; *p >= 'a' && *p <= 'z'; p++, letters++)
        index = index * 26 + (size_t)(*p - 'a') + (letters ? 26 : 0);
      if (letters && index < gf->ntargets
          && strspn (p, "0123456789") == strlen (p))
        return xasprintf ("%s%s", gf->targets[index], p);
    }
  name = xstrdup (strncmp (dev, "/dev/", 5) == 0 ? dev + 5 : dev);
  for (s = name; *s; s++)
    if (*s == '/')
      *s = '-';
  return name;
}

/* A unique inode number for an entry of file system DEV of snapshot SNAP
 * (splitmix64 of the three): tar and rsync -H find hard links by it. */
static ino_t
entry_ino (uint64_t snap, int64_t dev, int64_t ino)
{
  uint64_t x = snap ^ ((uint64_t)dev * 0x9e3779b97f4a7c15ULL)
               ^ ((uint64_t)ino * 0xbf58476d1ce4e5b9ULL);

  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return (ino_t)(x ^ (x >> 31));
}

static void
stat_from (const struct guestfiles *gf, const struct guestfs_statns *s,
           struct stat *st)
{
  memset (st, 0, sizeof *st);
  st->st_ino = entry_ino (gf->snap, s->st_dev, s->st_ino);
  st->st_mode = (mode_t)s->st_mode;
  st->st_nlink = (nlink_t)s->st_nlink;
  st->st_uid = (uid_t)s->st_uid;
  st->st_gid = (gid_t)s->st_gid;
  st->st_rdev = 0; /* a guest's device numbers mean nothing here */
  st->st_size = (off_t)s->st_size;
  st->st_blksize = 4096;
  st->st_blocks = (blkcnt_t)s->st_blocks;
  st->st_atim.tv_sec = s->st_atime_sec;
  st->st_atim.tv_nsec = s->st_atime_nsec;
  st->st_mtim.tv_sec = s->st_mtime_sec;
  st->st_mtim.tv_nsec = s->st_mtime_nsec;
  st->st_ctim.tv_sec = s->st_ctime_sec;
  st->st_ctim.tv_nsec = s->st_ctime_nsec;
}

/* libguestfs's last error as -errno (EIO when it gives none). */
static int
last_errno (guestfs_h *g)
{
  int e = guestfs_last_errno (g);
  return e > 0 ? -e : -EIO;
}

static void
free_strings (char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free (v[i]);
  free (v);
}

static void add_error (struct guestfiles *gf, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
add_error (struct guestfiles *gf, const char *fmt, ...)
{
  va_list ap;
  char *line, *all_lines;

  va_start (ap, fmt);
  if (vasprintf (&line, fmt, ap) < 0)
    abort ();
  va_end (ap);
  all_lines = xasprintf ("%s%s\n", gf->errors ? gf->errors : "", line);
  free (line);
  free (gf->errors);
  gf->errors = all_lines;
}

/* --- starting and laying out ------------------------------------------ */

/* Mount what inspection found, "/" first. */
static void
mount_inspected (struct guestfiles *gf, const char *root)
{
  char **mps = guestfs_inspect_get_mountpoints (gf->g, root);
  size_t n = 0;

  for (; mps && mps[n]; n += 2)
    ;
  /* Shorter mount points first: "/" before "/boot". */
  for (size_t len = 1; len < 4096 && n; len++)
    for (size_t i = 0; i < n; i += 2)
      if (strlen (mps[i]) == len
          && guestfs_mount_ro (gf->g, mps[i + 1], mps[i]) < 0)
        add_error (gf, "%s (%s): %s", mps[i], mps[i + 1],
                   guestfs_last_error (gf->g));
  free_strings (mps);
}

/* An empty directory for file system NAME, and the line that says why it
 * shows nothing (TYPE: libguestfs's name of what is there). */
static void
show_unreadable (struct guestfiles *gf, const char *name, const char *type)
{
  if (strcmp (type, "crypto_LUKS") == 0)
    add_error (gf, "%s: encrypted (LUKS), and vmsnapfs has no key", name);
  else if (strcmp (type, "unknown") == 0 || type[0] == '\0')
    add_error (gf, "%s: no file system that libguestfs can read", name);
  else
    add_error (gf, "%s: %s, which libguestfs cannot read", name, type);
}

/* Mount DEV of TYPE at a directory of its own, or say why not. */
static void
mount_one (struct guestfiles *gf, const char *dev, const char *type,
           bool readable)
{
  char *name = fs_dir_name (gf, dev), *mp = xasprintf ("/%s", name);

  if (guestfs_mkmountpoint (gf->g, mp) < 0)
    add_error (gf, "%s: %s", name, guestfs_last_error (gf->g));
  else if (!readable)
    show_unreadable (gf, name, type);
  else if (guestfs_mount_ro (gf->g, dev, mp) < 0)
    add_error (gf, "%s (%s): %s", name, type, guestfs_last_error (gf->g));
  free (name);
  free (mp);
}

static bool
listed (char **fss, const char *dev)
{
  for (size_t i = 0; fss && fss[i] && fss[i + 1]; i += 2)
    if (strcmp (fss[i], dev) == 0)
      return true;
  return false;
}

/* No operating system: each file system in a directory of its own, and
 * each partition that holds none (libguestfs lists no encrypted ones)
 * empty, with its reason. */
static void
mount_each (struct guestfiles *gf)
{
  char **fss = guestfs_list_filesystems (gf->g);
  char **parts = guestfs_list_partitions (gf->g);

  if (fss == NULL)
    add_error (gf, "the disks: %s", guestfs_last_error (gf->g));
  for (size_t i = 0; fss && fss[i] && fss[i + 1]; i += 2)
    if (strcmp (fss[i + 1], "swap") != 0)
      mount_one (gf, fss[i], fss[i + 1],
                 strcmp (fss[i + 1], "unknown") != 0
                     && strcmp (fss[i + 1], "crypto_LUKS") != 0);
  for (size_t i = 0; parts && parts[i]; i++)
    if (!listed (fss, parts[i]))
      {
        /* Swap holds no files; LVM and RAID members show as the volumes
         * made of them. */
        char *type = guestfs_vfs_type (gf->g, parts[i]);
        if (type == NULL
            || (strcmp (type, "swap") != 0 && strcmp (type, "LVM2_member") != 0
                && strcmp (type, "linux_raid_member") != 0))
          mount_one (gf, parts[i], type ? type : "", false);
        free (type);
      }
  free_strings (fss);
  free_strings (parts);
}

/* A handle with the drives added, launched; TCG when asked. */
static guestfs_h *
launch (const struct guest_drive *drives, size_t n, bool tcg, char **err)
{
  guestfs_h *g = guestfs_create ();
  char *backend;

  if (g == NULL)
    {
      *err = xstrdup ("guestfs_create failed");
      return NULL;
    }
  guestfs_set_error_handler (g, NULL, NULL);
  /* The libvirt backend would show its appliance as a VM of the host. */
  if (getenv ("LIBGUESTFS_BACKEND") == NULL)
    guestfs_set_backend (g, "direct");
  /* The daemon's directory, for the direct backend (libvirt's qemu runs
   * as another user). */
  backend = guestfs_get_backend (g);
  if (backend && strcmp (backend, "direct") == 0 && guest_tmpdir ())
    guestfs_set_tmpdir (g, guest_tmpdir ());
  free (backend);
  guestfs_set_recovery_proc (g, 1);
  if (tcg)
    {
      /* A flag, not NAME=VALUE: "force_tcg=" fails the launch. */
      char *flags[] = { (char *)"force_tcg", NULL };
      guestfs_set_backend_settings (g, flags);
    }
  for (size_t i = 0; i < n; i++)
    {
      char *name = xasprintf ("/dev/%s", drives[i].target);
      int r = guestfs_add_drive_opts (
          g, drives[i].path, GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
          GUESTFS_ADD_DRIVE_OPTS_FORMAT, drives[i].format,
          GUESTFS_ADD_DRIVE_OPTS_NAME, name, -1);
      free (name);
      if (r < 0)
        goto fail;
    }
  if (guestfs_launch (g) == 0)
    return g;
fail:
  *err = xstrdup (guestfs_last_error (g) ? guestfs_last_error (g) : "?");
  guestfs_close (g);
  return NULL;
}

static int
start (struct guestfiles *gf, const struct guest_drive *drives, size_t n,
       const char *label)
{
  long long t0 = now_ms ();
  char *err = NULL, **roots;
  struct guestfs_statns *root;
  const char *settings = getenv ("LIBGUESTFS_BACKEND_SETTINGS");

  bool tcg = __atomic_load_n (&tcg_only, __ATOMIC_RELAXED);

  /* Where KVM is there but unusable (nested, say), qemu fails: once more
   * with TCG, slower but sure, and TCG from then on. */
  gf->g = launch (drives, n, tcg, &err);
  if (gf->g == NULL && !tcg && !(settings && strstr (settings, "force_tcg")))
    {
      log_warning ("%s: libguestfs did not start (%s); again without KVM.",
                   label, err);
      free (err);
      err = NULL;
      if ((gf->g = launch (drives, n, true, &err)) != NULL)
        __atomic_store_n (&tcg_only, true, __ATOMIC_RELAXED);
    }
  if (gf->g == NULL)
    {
      log_error ("%s: libguestfs did not start: %s", label, err);
      free (err);
      return -EIO;
    }
  gf->ntargets = n;
  gf->targets = xcalloc (n ? n : 1, sizeof *gf->targets);
  for (size_t i = 0; i < n; i++)
    gf->targets[i] = xstrdup (drives[i].target);

  roots = guestfs_inspect_os (gf->g);
  gf->os = roots && roots[0];
  if (gf->os)
    mount_inspected (gf, roots[0]);
  else
    mount_each (gf);
  free_strings (roots);

  /* With nothing mounted at "/", its stat is refused: a directory. */
  if ((root = guestfs_lstatns (gf->g, "/")) != NULL)
    {
      stat_from (gf, root, &gf->root);
      guestfs_free_statns (root);
    }
  else
    {
      gf->root.st_mode = S_IFDIR | 0555;
      gf->root.st_nlink = 2;
      gf->root.st_ino = entry_ino (gf->snap, 0, 0);
    }
  log_info ("%s: guest files ready in %lld ms (%s)%s%s", label, now_ms () - t0,
            gf->os ? "inspected" : "one directory per file system",
            gf->errors ? "; not shown: " : "", gf->errors ? gf->errors : "");
  return 0;
}

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
    guestfs_close (gf->g);
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
  r = start (gf, drives, ndrives, label);
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
  if ((names = guestfs_ls (gf->g, path)) == NULL)
    return last_errno (gf->g);
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
      l = guestfs_lstatnslist (gf->g, path, names + i);
      names[i + k] = saved;
      for (size_t j = 0; j < k; j++)
        {
          d->entries[d->n].name = names[i + j];
          names[i + j] = NULL;
          if (l && j < l->len)
            stat_from (gf, &l->val[j], &d->entries[d->n].st);
          d->n++;
        }
      if (l)
        guestfs_free_statns_list (l);
      else
        log_warning ("libguestfs cannot stat the entries of '%s': %s", path,
                     guestfs_last_error (gf->g));
    }
  free_strings (names);
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
  char *target = guestfs_readlink (gf->g, path);
  const char *in = path;

  if (target == NULL)
    return last_errno (gf->g);
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
  data = guestfs_pread (gf->g, f->path, CHUNK, off, &len);
  if (data == NULL)
    log_error ("libguestfs cannot read '%s' at %lld: %s", f->path,
               (long long)off, guestfs_last_error (gf->g));
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

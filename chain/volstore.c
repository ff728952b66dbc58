/* vmsnapfs: volumes' own maps kept on disk, so that a frozen volume is
 * read once in its life, across restarts of the daemon: one file a volume
 * in VOLSTORE_DIR, named by its device and inode, holding the state of the
 * file it was read from (size, modification time, format) and its map.  A
 * new state of the file replaces it.
 *
 * The files are read as untrusted input: the directory and each file must
 * be the daemon's user's and closed to others (0700, 0600), and a file is
 * taken only when whole (its length, its checksum) and its map well
 * formed; else it is ignored, and the volume read again.
 *
 * A file read is touched, once a day at most; one untouched for
 * VOLSTORE_KEEP_DAYS (its volume deleted, or never read since) is removed
 * when the daemon starts, and so is a half-written one a killed daemon
 * left. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"

#define MAGIC "VSNAPMAP1\n\0\0\0\0\0\0" /* 16 bytes */
#define HEADER_WORDS 10
/* How long a file unread is kept, and how often a read one is touched. */
#define VOLSTORE_KEEP_DAYS 30
#define TOUCH_S (24 * 3600)
/* A half-written file older than this is a killed daemon's. */
#define STALE_TMP_S 3600
/* A map this long is an attack: a volume of 4 Mi runs. */
#define MAX_SEGS (4 * 1024 * 1024)

static pthread_mutex_t dir_lock = PTHREAD_MUTEX_INITIALIZER;
static char *store_dir; /* NULL: nothing kept */

/* Writing the files.  A first walk maps thousands of volumes, and
 * creating and renaming a file each costs more than the map did: the
 * files are written by a thread of their own (saver), in the order they
 * were made, while the walk goes on.  save_lock guards the queue; it is a
 * leaf, never held across a write.  What is still queued when the daemon
 * stops is written first (volstore_set_dir (NULL)); at most SAVE_QUEUE_MAX
 * wait, and the next is written by its caller. */
#define SAVE_QUEUE_MAX 4096

struct pending
{
  struct pending *next;
  char *path;
  unsigned char *buf;
  size_t len;
};

static pthread_mutex_t save_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t save_cond = PTHREAD_COND_INITIALIZER;
static struct pending *queue_head, **queue_tail = &queue_head;
static size_t unwritten;  /* queued, and being written */
static bool saver_runs, saver_stops;
static pthread_t saver;

/* Write BUF (LEN bytes) as the file PATH, whole or not at all. */
static void
write_file (const char *path, const unsigned char *buf, size_t len)
{
  CLEANUP_FREE char *tmp = xasprintf ("%s.%d.%lx", path, (int)getpid (),
                                      (unsigned long)pthread_self ());
  int fd
      = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

  if (fd < 0)
    return;
  if (write_full (fd, buf, len) < 0 || close (fd) < 0
      || rename (tmp, path) < 0)
    {
      log_warning ("Cannot keep the map of a volume in '%s': %m", path);
      unlink (tmp);
    }
}

static void *
saver_main (void *arg)
{
  (void)arg;
  pthread_mutex_lock (&save_lock);
  for (;;)
    {
      struct pending *p = queue_head;

      if (p == NULL && saver_stops)
        break;
      if (p == NULL)
        {
          pthread_cond_wait (&save_cond, &save_lock);
          continue;
        }
      if ((queue_head = p->next) == NULL)
        queue_tail = &queue_head;
      pthread_mutex_unlock (&save_lock);
      write_file (p->path, p->buf, p->len);
      free (p->path);
      free (p->buf);
      free (p);
      pthread_mutex_lock (&save_lock);
      unwritten--;
      pthread_cond_broadcast (&save_cond);
    }
  pthread_mutex_unlock (&save_lock);
  return NULL;
}

/* Have PATH written with BUF (LEN bytes), both malloc'd and taken. */
static void
queue_file (char *path, unsigned char *buf, size_t len)
{
  struct pending *p;

  pthread_mutex_lock (&save_lock);
  if (!saver_runs && unwritten < SAVE_QUEUE_MAX)
    saver_runs = pthread_create (&saver, NULL, saver_main, NULL) == 0;
  if (!saver_runs || unwritten >= SAVE_QUEUE_MAX)
    {
      pthread_mutex_unlock (&save_lock);
      write_file (path, buf, len);
      free (path);
      free (buf);
      return;
    }
  p = xmalloc (sizeof *p);
  *p = (struct pending){ NULL, path, buf, len };
  *queue_tail = p;
  queue_tail = &p->next;
  unwritten++;
  pthread_cond_broadcast (&save_cond);
  pthread_mutex_unlock (&save_lock);
}

void
volstore_flush (void)
{
  SCOPED_LOCK (&save_lock);

  while (unwritten > 0)
    pthread_cond_wait (&save_cond, &save_lock);
}

/* Write what is queued, and end the thread. */
static void
saver_end (void)
{
  bool joined;

  pthread_mutex_lock (&save_lock);
  saver_stops = true;
  pthread_cond_broadcast (&save_cond);
  joined = saver_runs;
  pthread_mutex_unlock (&save_lock);
  if (joined)
    pthread_join (saver, NULL);
  pthread_mutex_lock (&save_lock);
  saver_runs = saver_stops = false;
  pthread_mutex_unlock (&save_lock);
}

/* Remove from DIR the maps unread for VOLSTORE_KEEP_DAYS and the
 * half-written files of killed daemons; only files named as this file
 * names them, this user's. */
static void
prune (const char *dir)
{
  DIR *d = opendir (dir);
  time_t now = time (NULL);
  struct dirent *de;
  struct stat st;
  size_t removed = 0;

  if (d == NULL)
    return;
  while ((de = readdir (d)) != NULL)
    {
      size_t n = strspn (de->d_name, "0123456789abcdef-");
      bool whole = n == 33 && de->d_name[n] == '\0';
      bool tmp = n == 33 && de->d_name[n] == '.';

      if (!(whole || tmp)
          || fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
          || !S_ISREG (st.st_mode) || st.st_uid != geteuid ())
        continue;
      if (now - st.st_mtime
              > (whole ? VOLSTORE_KEEP_DAYS * 24 * 3600 : STALE_TMP_S)
          && unlinkat (dirfd (d), de->d_name, 0) == 0)
        removed++;
    }
  closedir (d);
  if (removed)
    log_info ("Removed %zu maps of volumes unread for %d days from '%s'.",
              removed, VOLSTORE_KEEP_DAYS, dir);
}

void
volstore_set_dir (const char *dir)
{
  if (dir == NULL)
    saver_end ();
  SCOPED_LOCK (&dir_lock);

  free (store_dir);
  store_dir = NULL;
  if (dir == NULL)
    return;
  {
    /* Its parent too: /var/cache/vmsnapfs. */
    CLEANUP_FREE char *parent = xstrdup (dir);
    char *slash = strrchr (parent, '/');

    if (slash && slash != parent)
      {
        *slash = '\0';
        mkdir (parent, 0700);
      }
  }
  if (mkdir (dir, 0700) < 0 && errno != EEXIST)
    {
      log_warning ("Cannot make '%s' (%m): volumes' maps are not kept "
                   "across restarts.",
                   dir);
      return;
    }
  store_dir = xstrdup (dir);
  prune (dir);
}

/* The file of the volume DEV, INO, or NULL when none is kept; with the
 * directory checked. */
static char *
file_of (uint64_t dev, uint64_t ino)
{
  SCOPED_LOCK (&dir_lock);
  struct stat st;

  if (store_dir == NULL)
    return NULL;
  if (lstat (store_dir, &st) < 0 || !S_ISDIR (st.st_mode)
      || st.st_uid != geteuid () || (st.st_mode & 077) != 0)
    {
      log_warning ("'%s' is not a directory of this user's closed to others: "
                   "volumes' maps are not kept there.",
                   store_dir);
      free (store_dir);
      store_dir = NULL;
      return NULL;
    }
  return xasprintf ("%s/%016" PRIx64 "-%016" PRIx64, store_dir, dev, ino);
}

static void
put_le64 (unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++, v >>= 8)
    p[i] = (unsigned char)v;
}

static uint64_t
get_le64 (const unsigned char *p)
{
  uint64_t v = 0;

  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* FNV-1a, 64 bits: a torn or damaged file, not an attacker (the file is
 * the daemon's own). */
static uint64_t
checksum (const unsigned char *p, size_t len)
{
  uint64_t h = 0xcbf29ce484222325ULL;

  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* The key words of a state: device, inode, size, mtime, format. */
static void
key_words (const struct volstore_key *k, uint64_t w[6])
{
  w[0] = k->dev;
  w[1] = k->ino;
  w[2] = k->size;
  w[3] = (uint64_t)k->mtime_s;
  w[4] = (uint64_t)k->mtime_ns;
  w[5] = k->raw;
}

void
volstore_save (const struct volstore_key *k, const struct volmap *v)
{
  CLEANUP_FREE char *path = file_of (k->dev, k->ino);
  size_t blen = v->backing ? strlen (v->backing) : 0;
  size_t flen = v->backing_format ? strlen (v->backing_format) : 0;
  size_t len = 16 + HEADER_WORDS * 8 + v->n * 32 + blen + flen + 8;
  CLEANUP_FREE unsigned char *buf = NULL;
  unsigned char *p;
  uint64_t w[6];

  if (path == NULL || v->n > MAX_SEGS)
    return;
  buf = xmalloc (len);
  memcpy (buf, MAGIC, 16);
  p = buf + 16;
  key_words (k, w);
  for (int i = 0; i < 6; i++, p += 8)
    put_le64 (p, w[i]);
  put_le64 (p, v->size), p += 8;
  put_le64 (p, v->n), p += 8;
  put_le64 (p, blen | (v->backing ? 1ULL << 32 : 0)), p += 8;
  put_le64 (p, flen | (v->backing_format ? 1ULL << 32 : 0)), p += 8;
  for (size_t i = 0; i < v->n; i++, p += 32)
    {
      put_le64 (p, v->segs[i].start);
      put_le64 (p + 8, v->segs[i].length);
      put_le64 (p + 16, v->segs[i].offset);
      put_le64 (p + 24, v->segs[i].kind);
    }
  memcpy (p, v->backing ? v->backing : "", blen), p += blen;
  memcpy (p, v->backing_format ? v->backing_format : "", flen), p += flen;
  put_le64 (p, checksum (buf, len - 8));

  queue_file (path, buf, len);
  path = NULL;
  buf = NULL;
}

/* A string of LEN bytes at *P (FLAG: present), advanced. */
static char *
take_string (const unsigned char **p, uint64_t word)
{
  size_t len = (size_t)(word & 0xffffffffU);
  char *s;

  if (!(word >> 32))
    return NULL;
  s = xmalloc (len + 1);
  memcpy (s, *p, len);
  s[len] = '\0';
  *p += len;
  return s;
}

/* Parse the LEN bytes of BUF, a file of key K, into a map, or NULL. */
static struct volmap *
parse (const unsigned char *buf, size_t len, const struct volstore_key *k)
{
  const unsigned char *p = buf + 16;
  uint64_t w[6], n, bword, fword, at = 0;
  struct volmap *v;

  if (len < 16 + HEADER_WORDS * 8 + 8 || memcmp (buf, MAGIC, 16) != 0
      || checksum (buf, len - 8) != get_le64 (buf + len - 8))
    return NULL;
  key_words (k, w);
  for (int i = 0; i < 6; i++, p += 8)
    if (get_le64 (p) != w[i])
      return NULL; /* another state of the file */
  v = xcalloc (1, sizeof *v);
  v->size = get_le64 (p);
  n = get_le64 (p + 8);
  bword = get_le64 (p + 16);
  fword = get_le64 (p + 24);
  p += 32;
  if (n > MAX_SEGS || (bword >> 33) || (fword >> 33)
      || (bword & 0xffffffffU) > 4096 || (fword & 0xffffffffU) > 64
      || len
             != 16 + HEADER_WORDS * 8 + n * 32 + (bword & 0xffffffffU)
                    + (fword & 0xffffffffU) + 8)
    goto bad;
  v->segs = xmalloc (n * sizeof *v->segs + 1);
  for (v->n = 0; v->n < n; v->n++, p += 32)
    {
      struct vseg *s = &v->segs[v->n];

      s->start = get_le64 (p);
      s->length = get_le64 (p + 8);
      s->offset = get_le64 (p + 16);
      s->kind = (enum vseg_kind)get_le64 (p + 24);
      if (s->start != at || s->length == 0 || s->length > v->size - at
          || get_le64 (p + 24) > VSEG_ELSEWHERE
          || (s->kind == VSEG_DATA
              && s->offset > (uint64_t)INT64_MAX - s->length))
        goto bad;
      at += s->length;
    }
  if (at != v->size)
    goto bad;
  v->backing = take_string (&p, bword);
  v->backing_format = take_string (&p, fword);
  if ((v->backing && strlen (v->backing) != (bword & 0xffffffffU))
      || (v->backing_format
          && strlen (v->backing_format) != (fword & 0xffffffffU))
      || (v->backing && v->backing[0] == '\0')
      || (v->backing_format && v->backing_format[0] == '\0'))
    goto bad;
  return v;

bad:
  volmap_free (v);
  return NULL;
}

struct volmap *
volstore_load (const struct volstore_key *k)
{
  CLEANUP_FREE char *path = file_of (k->dev, k->ino);
  CLEANUP_FREE unsigned char *buf = NULL;
  CLEANUP_CLOSE int fd = -1;
  struct volmap *v;
  struct stat st;

  if (path == NULL || (fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0
      || fstat (fd, &st) < 0)
    return NULL;
  if (!S_ISREG (st.st_mode) || st.st_uid != geteuid ()
      || (st.st_mode & 077) != 0 || st.st_size < 16
      || (uint64_t)st.st_size
             > 16 + HEADER_WORDS * 8 + 32ULL * MAX_SEGS + 8192)
    {
      log_warning ("'%s' is not a map this daemon kept: ignored.", path);
      return NULL;
    }
  buf = xmalloc ((size_t)st.st_size);
  if (pread_full (fd, buf, (size_t)st.st_size, 0) != st.st_size)
    return NULL;
  if ((v = parse (buf, (size_t)st.st_size, k)) == NULL)
    return NULL;
  if (time (NULL) - st.st_mtime > TOUCH_S)
    futimens (fd, NULL); /* read: kept (prune) */
  return v;
}

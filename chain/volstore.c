/* vmsnapfs: volumes' own maps kept on disk, so that a frozen volume is
 * read once in its life, across restarts of the daemon.
 *
 * One log, VOLSTORE_DIR/log, of records appended one write each: the
 * state of the file a map was read from (device, inode, size, modification
 * time, format), when the record was written, and the map.  The last
 * record of a device and inode is the one that counts; an index of them in
 * memory (offset, length) is read from the log when the daemon starts, and
 * from its new end when a volume is not in it (another daemon's records).
 * A first walk keeps thousands of maps: one file each cost more in the
 * filesystem (an inode made, a rename) than the map did; an append costs
 * one write.
 *
 * The log is read as untrusted input: the directory and the log must be
 * the daemon's user's and closed to others (0700, 0600), and a record is
 * taken only when whole (its length, its checksum), of the state asked
 * for, and its map well formed; else it is ignored, and the volume read
 * again.  A record torn by a daemon killed in its write is skipped: the
 * next one is found by its magic.
 *
 * A record read is written again with the time of the read, once a day at
 * most.  A daemon that starts writes the log anew when part of it is dead
 * (records of the same volume written since, records unread for
 * VOLSTORE_KEEP_DAYS) and no other daemon has it open (each holds a shared
 * flock on it while it runs; one that opened the old log meanwhile sees it
 * unlinked and opens the new one), and removes the files of older
 * versions, which kept a file a volume, and the half-written log of a
 * daemon killed in that.
 *
 * Locking: store_lock guards the log's descriptor and the index; it is a
 * leaf, held across the reads and writes of the log (a record is a few
 * hundred bytes, in the page cache), never across the read of a volume. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/file.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"

#define MAGIC "VSNAPMAP2\n\0\0\0\0\0\0" /* 16 bytes */
#define MAGIC_LEN 16
#define HEADER_WORDS 11
#define HEADER_LEN (MAGIC_LEN + HEADER_WORDS * 8)
#define LOG_NAME "log"
/* How long a record unread is kept, and how often a read one is written
 * again. */
#define VOLSTORE_KEEP_DAYS 30
#define TOUCH_S (24 * 3600)
/* A half-written log older than this is a killed daemon's. */
#define STALE_TMP_S 3600
/* A map this long is an attack: a volume of 4 Mi runs. */
#define MAX_SEGS (4 * 1024 * 1024)
#define MAX_BACKING 4096
#define MAX_FORMAT 64
#define INDEX_BUCKETS 16384

/* The last record of a volume in the log. */
struct rec
{
  struct rec *next;
  uint64_t dev, ino;
  uint64_t off, len;
  int64_t written;
};

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static char *store_dir;     /* NULL: nothing kept */
static int log_fd = -1;     /* O_APPEND */
static uint64_t indexed_to; /* the log's bytes read into the index */
static struct rec *index_table[INDEX_BUCKETS];
static bool write_failed; /* logged once */

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

/* FNV-1a, 64 bits: it tells a torn or damaged record, not a forged one; the
 * log is kept from others by its owner and mode, and a map read from it is
 * checked well formed all the same (parse). */
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

/* The length of the record whose header is at P (HEADER_LEN bytes), or 0
 * when the header cannot be one's. */
static uint64_t
record_length (const unsigned char *p)
{
  uint64_t n = get_le64 (p + MAGIC_LEN + 64);
  uint64_t bword = get_le64 (p + MAGIC_LEN + 72);
  uint64_t fword = get_le64 (p + MAGIC_LEN + 80);

  if (memcmp (p, MAGIC, MAGIC_LEN) != 0 || n > MAX_SEGS || (bword >> 33)
      || (fword >> 33) || (bword & 0xffffffffU) > MAX_BACKING
      || (fword & 0xffffffffU) > MAX_FORMAT
      || (!(bword >> 32) && (bword & 0xffffffffU))
      || (!(fword >> 32) && (fword & 0xffffffffU)))
    return 0;
  return HEADER_LEN + n * 32 + (bword & 0xffffffffU) + (fword & 0xffffffffU)
         + 8;
}

/* The record of BUF, LEN bytes, again with WRITTEN as its time. */
static void
stamp (unsigned char *buf, size_t len, int64_t written)
{
  put_le64 (buf + MAGIC_LEN + 48, (uint64_t)written);
  put_le64 (buf + len - 8, checksum (buf, len - 8));
}

/* The record of map V of state K, written now: malloc'd, *LEN bytes. */
static unsigned char *
encode (const struct volstore_key *k, const struct volmap *v, size_t *len)
{
  size_t blen = v->backing ? strlen (v->backing) : 0;
  size_t flen = v->backing_format ? strlen (v->backing_format) : 0;
  unsigned char *buf, *p;
  uint64_t w[6];

  *len = HEADER_LEN + v->n * 32 + blen + flen + 8;
  buf = xmalloc (*len);
  memcpy (buf, MAGIC, MAGIC_LEN);
  p = buf + MAGIC_LEN;
  key_words (k, w);
  for (int i = 0; i < 6; i++, p += 8)
    put_le64 (p, w[i]);
  p += 8; /* written: stamp */
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
  memcpy (p, v->backing_format ? v->backing_format : "", flen);
  stamp (buf, *len, (int64_t)time (NULL));
  return buf;
}

/* The string of WORD (its length, and bit 32: present) at *P, advanced. */
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

/* Parse the record BUF, checked whole (record_length, checksum), into a
 * map of state K, or NULL. */
static struct volmap *
parse (const unsigned char *buf, const struct volstore_key *k)
{
  const unsigned char *p = buf + MAGIC_LEN;
  uint64_t w[6], n, bword, fword, at = 0;
  struct volmap *v;

  key_words (k, w);
  for (int i = 0; i < 6; i++, p += 8)
    if (get_le64 (p) != w[i])
      return NULL; /* another state of the file */
  p += 8;          /* written */
  v = xcalloc (1, sizeof *v);
  v->size = get_le64 (p);
  n = get_le64 (p + 8);
  bword = get_le64 (p + 16);
  fword = get_le64 (p + 24);
  p += 32;
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

static struct rec **
bucket (uint64_t dev, uint64_t ino)
{
  return &index_table[(dev * 31 + ino) % INDEX_BUCKETS];
}

static struct rec *
find (uint64_t dev, uint64_t ino)
{
  for (struct rec *r = *bucket (dev, ino); r; r = r->next)
    if (r->dev == dev && r->ino == ino)
      return r;
  return NULL;
}

/* Index the record BUF (its header), LEN bytes at OFF of the log: the
 * last of its volume. */
static void
index_record (const unsigned char *buf, uint64_t off, uint64_t len)
{
  uint64_t dev = get_le64 (buf + MAGIC_LEN);
  uint64_t ino = get_le64 (buf + MAGIC_LEN + 8);
  int64_t now = (int64_t)time (NULL);
  int64_t written = (int64_t)get_le64 (buf + MAGIC_LEN + 48);
  struct rec *r = find (dev, ino);

  if (r == NULL)
    {
      r = xcalloc (1, sizeof *r);
      r->dev = dev;
      r->ino = ino;
      r->next = *bucket (dev, ino);
      *bucket (dev, ino) = r;
    }
  r->off = off;
  r->len = len;
  /* A time to come, or none: as if written now. */
  r->written = written < 0 || written > now ? now : written;
}

static void
index_free (void)
{
  for (size_t b = 0; b < INDEX_BUCKETS; b++)
    while (index_table[b])
      {
        struct rec *r = index_table[b];

        index_table[b] = r->next;
        free (r);
      }
  indexed_to = 0;
}

/* Whether BUF (LEN bytes) holds a whole record at its start that is
 * right (length, checksum); its length then. */
static uint64_t
whole_record (const unsigned char *buf, size_t len)
{
  uint64_t rlen = len >= HEADER_LEN ? record_length (buf) : 0;

  if (rlen == 0 || rlen > len
      || checksum (buf, rlen - 8) != get_le64 (buf + rlen - 8))
    return 0;
  return rlen;
}

/* Read the log from where the index ends to its end into the index.  A
 * record that is not right is skipped to the next magic.  One that runs
 * past the end is another daemon's being written, unless a whole record
 * follows (then it was torn): the read stops before it, and takes it up
 * there next time.  Call with store_lock held. */
static void
index_tail (void)
{
  CLEANUP_FREE unsigned char *buf = NULL;
  struct stat st;
  size_t len, at = 0;

  if (fstat (log_fd, &st) < 0 || (uint64_t)st.st_size <= indexed_to)
    return;
  len = (size_t)((uint64_t)st.st_size - indexed_to);
  buf = xmalloc (len);
  if (pread_full (log_fd, buf, len, (off_t)indexed_to) != (ssize_t)len)
    return;
  while (at + HEADER_LEN <= len)
    {
      uint64_t rlen = whole_record (buf + at, len - at);
      const unsigned char *next;

      if (rlen != 0)
        {
          index_record (buf + at, indexed_to + at, rlen);
          at += rlen;
          continue;
        }
      next = memmem (buf + at + 1, len - at - 1, MAGIC, MAGIC_LEN);
      if (record_length (buf + at) > len - at)
        {
          /* Torn, or being written: torn when a whole record follows. */
          while (next && !whole_record (next, len - (size_t)(next - buf)))
            next = memmem (next + 1, len - (size_t)(next - buf) - 1, MAGIC,
                           MAGIC_LEN);
          if (next == NULL)
            break;
        }
      at = next ? (size_t)(next - buf) : len;
    }
  indexed_to += at;
}

/* Whether the directory DIR is this user's, closed to others; logged when
 * not.  Checked when the log is opened: the log cannot be replaced in it
 * but by this user, and a log replaced is opened again (usable). */
static bool
dir_trusted (const char *dir)
{
  struct stat st;

  if (lstat (dir, &st) < 0 || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ()
      || (st.st_mode & 077) != 0)
    {
      log_warning ("'%s' is not a directory of this user's closed to others: "
                   "volumes' maps are not kept there.",
                   dir);
      return false;
    }
  return true;
}

/* Whether the log of DIR, whose state is LOG, is this user's, closed to
 * others; logged when not. */
static bool
log_trusted (const char *dir, const struct stat *log)
{
  if (!S_ISREG (log->st_mode) || log->st_uid != geteuid ()
      || (log->st_mode & 077) != 0)
    {
      log_warning ("'%s/" LOG_NAME "' is not a file of this user's closed to "
                   "others: volumes' maps are not kept there.",
                   dir);
      return false;
    }
  return true;
}

/* Keep nothing: the log closed, the index and the directory forgotten.
 * Call with store_lock held. */
static void
give_up (void)
{
  if (log_fd >= 0)
    close (log_fd);
  log_fd = -1;
  index_free ();
  free (store_dir);
  store_dir = NULL;
}

/* Open the log of store_dir and read it into the index; on failure, keep
 * nothing.  Call with store_lock held. */
static void
open_log (void)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" LOG_NAME, store_dir);
  struct stat st;

  index_free ();
  if (log_fd >= 0)
    close (log_fd);
  log_fd = open (
      path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
      0600);
  if (log_fd < 0)
    log_warning ("Cannot open '%s' (%m): volumes' maps are not kept "
                 "across restarts.",
                 path);
  /* Shared while this daemon runs: another compacts only when it is
   * alone (compact). */
  if (log_fd < 0 || !dir_trusted (store_dir) || fstat (log_fd, &st) < 0
      || !log_trusted (store_dir, &st) || flock (log_fd, LOCK_SH) < 0)
    {
      give_up ();
      return;
    }
  index_tail ();
}

/* Write the log anew with its live records, those read in the last
 * VOLSTORE_KEEP_DAYS, when that leaves out a part of it and its bytes are
 * all understood; whether it did (and opened the new log).  Call with
 * store_lock held and the log locked alone. */
static bool
write_anew (void)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" LOG_NAME, store_dir);
  CLEANUP_FREE char *tmp
      = xasprintf ("%s/" LOG_NAME ".tmp.%d", store_dir, (int)getpid ());
  CLEANUP_FREE unsigned char *buf = NULL;
  int64_t oldest = (int64_t)time (NULL) - VOLSTORE_KEEP_DAYS * 24 * 3600;
  uint64_t keep = 0, dropped = 0;
  size_t cap = 0;
  struct stat st;
  int fd;

  if (fstat (log_fd, &st) < 0 || (uint64_t)st.st_size != indexed_to)
    return false;
  for (size_t b = 0; b < INDEX_BUCKETS; b++)
    for (struct rec *r = index_table[b]; r; r = r->next)
      if (r->written >= oldest)
        keep += r->len;
      else
        dropped++;
  if (dropped == 0 && indexed_to - keep <= keep / 8)
    return false; /* little to gain */
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return false;
  for (size_t b = 0; b < INDEX_BUCKETS; b++)
    for (struct rec *r = index_table[b]; r; r = r->next)
      {
        if (r->written < oldest)
          continue;
        if (r->len > cap)
          buf = xrealloc (buf, cap = r->len);
        if (pread_full (log_fd, buf, r->len, (off_t)r->off) != (ssize_t)r->len
            || write_full (fd, buf, r->len) < 0)
          goto fail;
      }
  if (close (fd) < 0)
    {
      fd = -1;
      goto fail;
    }
  fd = -1;
  if (rename (tmp, path) < 0)
    goto fail;
  log_info ("Wrote the log of volumes' maps '%s' anew: %" PRIu64
            " bytes of %" PRIu64 " kept, %" PRIu64 " maps unread for %d days "
            "left out.",
            path, keep, indexed_to, dropped, VOLSTORE_KEEP_DAYS);
  open_log ();
  return true;

fail:
  log_warning ("Cannot write the log of volumes' maps '%s' anew: %m", path);
  if (fd >= 0)
    close (fd);
  unlink (tmp);
  return false;
}

/* Write the log anew (write_anew), unless another daemon has it open: it
 * would write on in the old one.  Call with store_lock held. */
static void
compact (void)
{
  if (flock (log_fd, LOCK_EX | LOCK_NB) == 0 && !write_anew ())
    flock (log_fd, LOCK_SH);
}

/* Remove from DIR what older daemons left: the files of versions that
 * kept a file a volume (named DEV-INO, or so with a suffix when half
 * written), and logs half-written by a killed daemon; only this user's
 * regular files, named so. */
static void
sweep (const char *dir)
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
      bool old = n == 33 && (de->d_name[n] == '\0' || de->d_name[n] == '.');
      bool tmp
          = strncmp (de->d_name, LOG_NAME ".tmp.", strlen (LOG_NAME) + 5) == 0;

      if (!(old || tmp)
          || fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
          || !S_ISREG (st.st_mode) || st.st_uid != geteuid ()
          || (tmp && now - st.st_mtime <= STALE_TMP_S))
        continue;
      if (unlinkat (dirfd (d), de->d_name, 0) == 0)
        removed++;
    }
  closedir (d);
  if (removed)
    log_info ("Removed %zu files of volumes' maps an older or killed daemon "
              "left in '%s'.",
              removed, dir);
}

void
volstore_set_dir (const char *dir)
{
  SCOPED_LOCK (&store_lock);

  give_up ();
  write_failed = false;
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
  open_log ();
  if (store_dir == NULL)
    return;
  sweep (dir);
  compact ();
}

/* Whether the log is open and still to be trusted; when it is not, the
 * store is given up.  Call with store_lock held. */
static bool
usable (void)
{
  struct stat st;

  if (log_fd < 0)
    return false;
  if (fstat (log_fd, &st) < 0)
    {
      give_up ();
      return false;
    }
  /* Replaced by a daemon that wrote it anew while this one opened it. */
  if (st.st_nlink == 0)
    {
      open_log ();
      return log_fd >= 0;
    }
  if (log_trusted (store_dir, &st))
    return true;
  give_up ();
  return false;
}

/* Append the record BUF, LEN bytes, and index it.  Call with store_lock
 * held. */
static void
append (const unsigned char *buf, size_t len)
{
  ssize_t n = write (log_fd, buf, len);
  off_t end;

  if (n != (ssize_t)len)
    {
      if (!write_failed)
        log_warning ("Cannot keep the map of a volume in '%s/" LOG_NAME
                     "': %s",
                     store_dir, n < 0 ? strerror (errno) : "short write");
      write_failed = true;
      return;
    }
  /* The descriptor's offset is the end of this record, whoever appended
   * since: the index takes it, and moves on past it when nobody wrote
   * between. */
  if ((end = lseek (log_fd, 0, SEEK_CUR)) < 0)
    return;
  index_record (buf, (uint64_t)end - len, len);
  if (indexed_to == (uint64_t)end - len)
    indexed_to = (uint64_t)end;
}

void
volstore_save (const struct volstore_key *k, const struct volmap *v)
{
  CLEANUP_FREE unsigned char *buf = NULL;
  size_t len;

  if (v->n > MAX_SEGS || (v->backing && strlen (v->backing) > MAX_BACKING)
      || (v->backing_format && strlen (v->backing_format) > MAX_FORMAT))
    return;
  buf = encode (k, v, &len);
  SCOPED_LOCK (&store_lock);
  if (usable ())
    append (buf, len);
}

/* The record R, read and checked whole, into *BUF (LEN bytes; malloc'd,
 * NULL when it is not right).  Call with store_lock held. */
static unsigned char *
read_record (const struct rec *r)
{
  unsigned char *buf = xmalloc (r->len);

  if (pread_full (log_fd, buf, r->len, (off_t)r->off) != (ssize_t)r->len
      || whole_record (buf, r->len) != r->len)
    {
      free (buf);
      return NULL;
    }
  return buf;
}

/* The map of state K the index has, or NULL; its record into *BUF. */
static struct volmap *
lookup (const struct volstore_key *k, struct rec **r, unsigned char **buf)
{
  struct volmap *v;

  *buf = NULL;
  if ((*r = find (k->dev, k->ino)) == NULL
      || (*buf = read_record (*r)) == NULL)
    return NULL;
  if ((v = parse (*buf, k)) == NULL)
    {
      free (*buf);
      *buf = NULL;
    }
  return v;
}

struct volmap *
volstore_load (const struct volstore_key *k)
{
  SCOPED_LOCK (&store_lock);
  CLEANUP_FREE unsigned char *buf = NULL;
  struct volmap *v;
  struct rec *r;

  if (!usable ())
    return NULL;
  /* Not there, or of another state: perhaps another daemon's, written
   * since. */
  if ((v = lookup (k, &r, &buf)) == NULL)
    {
      index_tail ();
      if ((v = lookup (k, &r, &buf)) == NULL)
        return NULL;
    }
  if ((int64_t)time (NULL) - r->written > TOUCH_S)
    {
      stamp (buf, r->len, (int64_t)time (NULL)); /* read: kept (compact) */
      append (buf, r->len);
    }
  return v;
}

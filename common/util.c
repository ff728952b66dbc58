/* vmsnapfs: small helpers shared by every module: memory, strings,
 * names, times.  The lowest file of common/: it calls no other (the
 * log, the children and run_capture are in log.c, child.c and run.c). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void *
check_alloc (void *p)
{
  if (p == NULL)
    {
      fputs ("vmsnapfs: out of memory\n", stderr);
      abort ();
    }
  return p;
}

void *
xmalloc (size_t size)
{
  return check_alloc (malloc (size ? size : 1));
}

void *
xcalloc (size_t n, size_t size)
{
  return check_alloc (calloc (n ? n : 1, size ? size : 1));
}

void *
xrealloc (void *ptr, size_t size)
{
  return check_alloc (realloc (ptr, size ? size : 1));
}

char *
xstrdup (const char *s)
{
  return check_alloc (strdup (s));
}

char *
xstrdup_null (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

char *
xasprintf (const char *fmt, ...)
{
  va_list ap;
  char *s;

  va_start (ap, fmt);
  if (vasprintf (&s, fmt, ap) < 0)
    s = NULL;
  va_end (ap);
  return check_alloc (s);
}

void
strbuf_printf (struct strbuf *b, const char *fmt, ...)
{
  va_list ap;
  int n;

  for (;;)
    {
      size_t room = b->cap - b->len;
      va_start (ap, fmt);
      n = vsnprintf (b->s ? b->s + b->len : NULL, room, fmt, ap);
      va_end (ap);
      if (n < 0)
        abort ();
      if ((size_t) n < room)
        break;
      b->cap = (b->cap + n + 1) * 2;
      b->s = xrealloc (b->s, b->cap);
    }
  b->len += n;
}

char *
strbuf_steal (struct strbuf *b, size_t *len)
{
  char *s = b->s ? b->s : xstrdup ("");

  if (len)
    *len = b->len;
  b->s = NULL;
  b->len = b->cap = 0;
  return s;
}

uint64_t
hash_strings (const char *first, ...)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  va_list ap;

  va_start (ap, first);
  for (const char *s = first; s; s = va_arg (ap, const char *))
    {
      for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
      h = (h ^ 0xff) * 0x100000001b3ULL; /* separator */
    }
  va_end (ap);
  return h > 1 ? h : h + 2;
}

char *
safe_file_name (const char *name)
{
  char *s = xstrdup (name);
  bool changed = false;

  for (char *p = s; *p; p++)
    if (!(isalnum ((unsigned char) *p) && isascii ((unsigned char) *p))
        && !(*p == '_' || ((*p == '.' || *p == '-') && p > s)))
      {
        *p = '_';
        changed = true;
      }
  if (changed || *s == '\0')
    {
      char *t = xasprintf ("%s-%08" PRIx32, *s ? s : "_",
                           (uint32_t) hash_strings (name, NULL));
      free (s);
      s = t;
    }
  return s;
}

char *
file_name_part (const char *name)
{
  struct strbuf b = { 0 };

  for (const unsigned char *p = (const unsigned char *) name; *p; p++)
    if ((isalnum (*p) && isascii (*p)) || *p == '_'
        || (*p == '-' && p > (const unsigned char *) name))
      strbuf_printf (&b, "%c", *p);
    else
      strbuf_printf (&b, "%%%02X", *p);
  return strbuf_steal (&b, NULL);
}

void
format_iso8601 (time_t t, char buf[static 32])
{
  struct tm tm;

  if (gmtime_r (&t, &tm) == NULL
      || strftime (buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    strcpy (buf, "1970-01-01T00:00:00Z");
}

bool
utf8_text_ok (const char *s)
{
  const unsigned char *p = (const unsigned char *) s;

  while (*p)
    {
      uint32_t c;
      int more;

      if (*p < 0x80)
        c = *p, more = 0;
      else if ((*p & 0xe0) == 0xc0)
        c = *p & 0x1f, more = 1;
      else if ((*p & 0xf0) == 0xe0)
        c = *p & 0x0f, more = 2;
      else if ((*p & 0xf8) == 0xf0)
        c = *p & 0x07, more = 3;
      else
        return false; /* a continuation byte first, or 0xf8 and up */
      p++;
      for (int i = 0; i < more; i++, p++)
        {
          if ((*p & 0xc0) != 0x80)
            return false; /* cut short (the NUL too) */
          c = (c << 6) | (*p & 0x3f);
        }
      /* The shortest form only, no surrogates, nothing past U+10FFFF. */
      if ((more == 1 && c < 0x80) || (more == 2 && c < 0x800)
          || (more == 3 && c < 0x10000) || (c >= 0xd800 && c <= 0xdfff)
          || c > 0x10ffff)
        return false;
      /* Control characters: C0, DEL and C1. */
      if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
        return false;
    }
  return true;
}

char *
printable (const char *s)
{
  struct strbuf b = { 0 };

  if (utf8_text_ok (s))
    return xstrdup (s);
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    if (*p < 0x20 || *p >= 0x7f || *p == '\\')
      strbuf_printf (&b, "\\x%02x", *p);
    else
      strbuf_printf (&b, "%c", *p);
  return strbuf_steal (&b, NULL);
}

void
format_size (uint64_t bytes, char buf[static 16])
{
  static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
  double v = (double) bytes;
  size_t u = 0;

  if (bytes < 1024)
    {
      snprintf (buf, 16, "%uB", (unsigned) bytes);
      return;
    }
  for (v /= 1024; v >= 1023.95 && u + 1 < sizeof units / sizeof *units; u++)
    v /= 1024;
  snprintf (buf, 16, "%.1f%s", v, units[u]);
}

void
format_duration (uint64_t secs, char buf[static 16])
{
  if (secs < 60)
    snprintf (buf, 16, "%us", (unsigned) secs);
  else if (secs < 3600)
    snprintf (buf, 16, "%um%02us", (unsigned) (secs / 60),
              (unsigned) (secs % 60));
  else if (secs < 86400)
    snprintf (buf, 16, "%uh%02um", (unsigned) (secs / 3600),
              (unsigned) (secs / 60 % 60));
  else
    snprintf (buf, 16, "%ud%02uh", (unsigned) (secs / 86400 % 100000),
              (unsigned) (secs / 3600 % 24));
}

void
deadline_ms (struct timespec *until, clockid_t clock, long ms)
{
  clock_gettime (clock, until);
  until->tv_sec += ms / 1000;
  until->tv_nsec += ms % 1000 * 1000000L;
  until->tv_sec += until->tv_nsec / 1000000000L;
  until->tv_nsec %= 1000000000L;
}

long long
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

ssize_t
pread_full (int fd, void *buf, size_t size, off_t off)
{
  size_t done = 0;

  while (done < size)
    {
      ssize_t n = pread (fd, (char *) buf + done, size - done,
                         off + (off_t) done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      done += (size_t) n;
    }
  return (ssize_t) done;
}

int
write_full (int fd, const void *buf, size_t len)
{
  const char *p = buf;

  while (len > 0)
    {
      ssize_t w = write (fd, p, len);

      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return -1;
      p += w;
      len -= (size_t)w;
    }
  return 0;
}

static int
pwrite_full (int fd, const char *p, size_t len, off_t off)
{
  while (len > 0)
    {
      ssize_t w = pwrite (fd, p, len, off);

      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return -1;
      p += w;
      off += w;
      len -= (size_t)w;
    }
  return 0;
}

/* The bytes copied between two looks at the caller's CANCEL. */
#define COPY_CHUNK (64 * 1024 * 1024)

int
copy_fd (int in, int out, bool (*cancel) (void))
{
  return copy_fd_max (in, out, UINT64_MAX, cancel);
}

int
copy_fd_max (int in, int out, uint64_t max, bool (*cancel) (void))
{
  char buf[1 << 16];
  size_t since = 0;

  while (max > 0)
    {
      ssize_t n;

      if (cancel && cancel ())
        goto cancelled;
      n = copy_file_range (in, NULL, out, NULL,
                           max < COPY_CHUNK ? (size_t)max : COPY_CHUNK, 0);
      if (n == 0)
        return 0;
      if (n > 0)
        {
          max -= (uint64_t)n;
          continue;
        }
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS
          && errno != EOPNOTSUPP)
        return -1;
      break; /* not between these files: by hand */
    }
  while (max > 0)
    {
      ssize_t n = read (in, buf, max < sizeof buf ? (size_t)max : sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        return 0;
      if (write_full (out, buf, (size_t)n) < 0)
        return -1;
      max -= (uint64_t)n;
      if ((since += (size_t)n) >= COPY_CHUNK)
        {
          since = 0;
          if (cancel && cancel ())
            goto cancelled;
        }
    }
  return 0;
cancelled:
  errno = ECANCELED;
  return -1;
}

/* The end of the data that starts at or after OFF in FD, below SIZE, in
 * *END; the data's start returned (SIZE: none left).  A file system that
 * cannot tell: all data. */
static uint64_t
next_data (int fd, uint64_t off, uint64_t size, uint64_t *end)
{
  off_t d = lseek (fd, (off_t)off, SEEK_DATA), h;

  *end = size;
  if (d < 0)
    return errno == ENXIO ? size : off;
  if ((uint64_t)d >= size)
    return size;
  h = lseek (fd, d, SEEK_HOLE);
  if (h > d && (uint64_t)h < size)
    *end = (uint64_t)h;
  return (uint64_t)d;
}

uint64_t
data_bytes (int fd, uint64_t size)
{
  uint64_t sum = 0, off = 0, end;

  while ((off = next_data (fd, off, size, &end)) < size)
    {
      sum += end - off;
      off = end;
    }
  return sum;
}

#define ZERO_BLOCK 4096

static bool
all_zero (const char *p, size_t n)
{
  static const char zero[ZERO_BLOCK];

  return memcmp (p, zero, n) == 0;
}

int
copy_sparse (int in, int out, uint64_t size, uint64_t max_data,
             bool (*cancel) (void))
{
  char buf[1 << 16];
  uint64_t off = 0, end, written = 0, since = 0;

  /* Asked at the start too: a caller who gave up while the file was being
   * opened stops a small copy as well as a large one. */
  if (cancel && cancel ())
    {
      errno = ECANCELED;
      return -1;
    }
  while ((off = next_data (in, off, size, &end)) < size)
    while (off < end)
      {
        size_t want = end - off < sizeof buf ? (size_t)(end - off) : sizeof buf;
        ssize_t n = pread_full (in, buf, want, (off_t)off);

        if (n < 0)
          return -1;
        if ((size_t)n < want)
          {
            errno = EIO; /* shorter than SIZE */
            return -1;
          }
        for (size_t k = 0; k < want; k += ZERO_BLOCK)
          {
            size_t b = want - k < ZERO_BLOCK ? want - k : ZERO_BLOCK;

            if (all_zero (buf + k, b))
              continue;
            if ((written += b) > max_data)
              {
                errno = EFBIG;
                return -1;
              }
            if (pwrite_full (out, buf + k, b, (off_t)(off + k)) < 0)
              return -1;
          }
        off += want;
        if ((since += want) >= COPY_CHUNK)
          {
            since = 0;
            if (cancel && cancel ())
              {
                errno = ECANCELED;
                return -1;
              }
          }
      }
  return ftruncate (out, (off_t)size);
}

long
pid_file_read (const char *path)
{
  FILE *f = fopen (path, "r");
  long pid = 0;

  if (f == NULL)
    return 0;
  if (fscanf (f, "%ld", &pid) != 1 || pid < 0)
    pid = 0;
  fclose (f);
  return pid;
}

/* A command line longer than this is not read further. */
#define PID_CMDLINE_MAX (1024 * 1024)

bool
pid_runs (long pid, const char *prog, const char *arg)
{
  char path[64], *cmdline;
  size_t n = 0, size = 8192;
  bool runs;
  FILE *f;

  snprintf (path, sizeof path, "/proc/%ld/cmdline", pid);
  if (pid <= 0 || (f = fopen (path, "r")) == NULL)
    return false;
  /* Whole: a server of many disks has a long one, its socket last. */
  cmdline = xmalloc (size);
  while ((n += fread (cmdline + n, 1, size - 1 - n, f)) == size - 1
         && size < PID_CMDLINE_MAX)
    cmdline = xrealloc (cmdline, size *= 2);
  fclose (f);
  for (size_t i = 0; i < n; i++)
    if (cmdline[i] == '\0')
      cmdline[i] = ' ';
  cmdline[n] = '\0';
  runs = strstr (cmdline, prog) && strstr (cmdline, arg);
  free (cmdline);
  return runs;
}

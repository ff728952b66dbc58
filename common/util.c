/* vmsnapfs: small helpers shared by every module. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "log.h"
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

/* Read what is there from FD into B, at most MAX bytes in all.  Returns 1
 * on EOF, 0 when more may come, -E2BIG past MAX. */
static int
drain (int fd, struct strbuf *b, size_t max)
{
  char chunk[65536];
  ssize_t r = read (fd, chunk, sizeof chunk);

  if (r < 0)
    return errno == EINTR || errno == EAGAIN ? 0 : 1;
  if (r == 0)
    return 1;
  if (b->len + r > max)
    return -E2BIG;
  strbuf_printf (b, "%.*s", (int) r, chunk);
  return 0;
}

int
run_capture (const char *const argv[], size_t max_out, int timeout_ms,
             char **out, size_t *out_len, char **err)
{
  return run_capture_until (argv, max_out, timeout_ms, NULL, out, out_len,
                            err);
}

/* How often a child that runs long looks whether it is to be stopped. */
#define CANCEL_POLL_MS 200

int
run_capture_until (const char *const argv[], size_t max_out, int timeout_ms,
                   bool (*cancel) (void), char **out, size_t *out_len,
                   char **err)
{
  return run_capture_keep (argv, -1, max_out, timeout_ms, cancel, out,
                           out_len, err);
}

int
run_capture_keep (const char *const argv[], int keep, size_t max_out,
                  int timeout_ms, bool (*cancel) (void), char **out,
                  size_t *out_len, char **err)
{
  int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
  struct strbuf ob = { 0 }, eb = { 0 };
  pid_t pid;
  int status, r = 0, open_fds = 2;
  long long deadline = now_ms () + timeout_ms;

  *out = NULL;
  if (err)
    *err = NULL;
  if (pipe2 (outp, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0)
    {
      r = -errno;
      log_error ("Cannot make a pipe for '%s': %s.", argv[0], strerror (-r));
      goto cleanup;
    }
  r = child_spawn_keep (argv, NULL, outp[1], errp[1], keep, &pid);
  close (outp[1]);
  close (errp[1]);
  outp[1] = errp[1] = -1;
  if (r != 0)
    {
      log_error ("Cannot run '%s': %s.", argv[0], strerror (-r));
      r = -EIO;
      goto cleanup;
    }

  while (open_fds > 0 && r == 0)
    {
      struct pollfd p[2] = { { outp[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } };
      long long left = deadline - now_ms ();
      if (left <= 0)
        {
          r = -ETIMEDOUT;
          break;
        }
      if (cancel && cancel ())
        {
          r = -ECANCELED;
          break;
        }
      if (cancel && left > CANCEL_POLL_MS)
        left = CANCEL_POLL_MS;
      if (poll (p, 2, (int) left) < 0 && errno != EINTR)
        {
          /* Not left running: killed and waited for below. */
          r = -errno;
          log_error ("Cannot wait for '%s': %s.", argv[0], strerror (-r));
          break;
        }
      for (int i = 0; i < 2; i++)
        if (p[i].fd >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR)))
          {
            int d = drain (p[i].fd, i == 0 ? &ob : &eb,
                           i == 0 ? max_out : 65536);
            if (d < 0 && i == 0)
              r = d;
            if (d != 0)
              {
                close (i == 0 ? outp[0] : errp[0]);
                (i == 0 ? outp : errp)[0] = -1;
                open_fds--;
              }
          }
    }
  if (r != 0)
    kill (pid, SIGKILL);
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (r == -ETIMEDOUT)
    log_error ("'%s' did not finish within %d ms; it was killed.", argv[0],
               timeout_ms);
  else if (r == -ECANCELED)
    log_info ("'%s' was stopped before its end.", argv[0]);
  else if (r == -E2BIG)
    log_error ("'%s' printed more than %zu bytes.", argv[0], max_out);
  else if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    r = -EIO;

  if (eb.s)
    eb.s[strcspn (eb.s, "\n")] = '\0';
  if (r == -EIO)
    log_error ("'%s' failed: %s", argv[0], eb.s ? eb.s : "no message");
  if (r == 0)
    *out = strbuf_steal (&ob, out_len);
  if (err)
    *err = eb.s ? strbuf_steal (&eb, NULL) : NULL;

cleanup:
  for (int i = 0; i < 2; i++)
    {
      if (outp[i] >= 0)
        close (outp[i]);
      if (errp[i] >= 0)
        close (errp[i]);
    }
  free (ob.s);
  free (eb.s);
  return r;
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

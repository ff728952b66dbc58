/* vmsnapfs: small helpers shared by every module.
 *
 * Allocation failure aborts, as it does in libvirt (GLib): the x* functions
 * never return NULL.
 */
#ifndef VMSNAPFS_UTIL_H
#define VMSNAPFS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* malloc, calloc, realloc and strdup that abort when memory runs out. */
void *xmalloc (size_t size);
void *xcalloc (size_t n, size_t size);
void *xrealloc (void *ptr, size_t size);
char *xstrdup (const char *s);
/* xstrdup, but NULL for NULL. */
char *xstrdup_null (const char *s);
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* A growable string. */
struct strbuf
{
  char *s; /* NUL-terminated; NULL while empty */
  size_t len;
  size_t cap;
};

/* Append to B, printf-style. */
void strbuf_printf (struct strbuf *b, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
/* Take B's string (never NULL: "" when empty), leaving B empty. */
char *strbuf_steal (struct strbuf *b, size_t *len);

/* A 64-bit FNV-1a hash of the NULL-terminated list of strings, for stable
 * inode numbers.  Never returns 0 or 1 (1 is the root). */
uint64_t hash_strings (const char *first, ...) __attribute__ ((sentinel));

/* NAME as a host file name that no shell or tool trips over (malloc'd):
 * bytes outside [A-Za-z0-9._-], and a leading '.' or '-', become '_', and
 * where anything changed, '-' and 8 hex digits of NAME's hash follow, so
 * that two names never meet in one. */
char *safe_file_name (const char *name);

/* NAME as the first part of a host file name, before a '.' (malloc'd):
 * bytes outside [A-Za-z0-9_-], and a leading '-', as %XX (upper-case hex).
 * It holds no '.', and two names never give one part: the files of two
 * VMs never meet, whatever follows (VM "x" with snapshot "vda.s", VM
 * "x.vda" with snapshot "s"). */
char *file_name_part (const char *name);

/* Format T as ISO 8601 in UTC: "2026-11-23T17:48:07Z". */
void format_iso8601 (time_t t, char buf[static 32]);
/* Whether S is valid UTF-8 (shortest forms, no surrogates) without
 * control characters (C0, DEL, C1). */
bool utf8_text_ok (const char *s);

/* S for a log line: S itself when utf8_text_ok, else with every byte
 * that is not printable ASCII (and the backslash) as \xNN.  Malloc'd. */
char *printable (const char *s);

/* BYTES for people, in binary units with one decimal: "900B", "512.0MiB",
 * "1.0GiB". */
void format_size (uint64_t bytes, char buf[static 16]);
/* SECS for people: "6s", "2m05s", "1h02m", "3d04h". */
void format_duration (uint64_t secs, char buf[static 16]);

/* pread(2) until SIZE bytes are read, the end of the file, or an error:
 * the count read, or -1 with errno set. */
ssize_t pread_full (int fd, void *buf, size_t size, off_t off);

/* write(2) until LEN bytes are written: 0, or -1 with errno set. */
int write_full (int fd, const void *buf, size_t len);

/* Copy the rest of IN (from its offset) to OUT (at its offset), with
 * copy_file_range where the kernel can, else by hand; stopped (-1, errno
 * ECANCELED) when CANCEL (may be NULL) says so, every 64 MiB.  0, or -1
 * with errno set. */
int copy_fd (int in, int out, bool (*cancel) (void));

/* The same for at most MAX bytes of IN. */
int copy_fd_max (int in, int out, uint64_t max, bool (*cancel) (void));

/* The bytes of data (not holes) in the first SIZE bytes of FD, as
 * SEEK_DATA and SEEK_HOLE tell; SIZE where the file system cannot tell. */
uint64_t data_bytes (int fd, uint64_t size);

/* Copy the first SIZE bytes of IN to OUT (empty), made SIZE bytes long:
 * IN's holes and its blocks of zeros left holes, no more than MAX_DATA
 * bytes written; CANCEL (may be NULL) asked every 64 MiB.  0, or -1 with
 * errno: EIO when IN ends before SIZE, EFBIG when its data passes
 * MAX_DATA, ECANCELED, or a read's or write's. */
int copy_sparse (int in, int out, uint64_t size, uint64_t max_data,
                 bool (*cancel) (void));

/* Programs run to their end (common/run.c, above child.c and log.c). */

/* Run ARGV (no shell), with no stdin.  Capture at most MAX_OUT bytes of its
 * stdout in *OUT (NUL-terminated, length in *OUT_LEN) and the first line of
 * its stderr in *ERR (may be NULL).  Returns 0 when it exits 0, -EIO when it
 * fails (logged), -E2BIG when stdout exceeds MAX_OUT, -ETIMEDOUT when it
 * runs longer than TIMEOUT_MS (it is killed). */
int run_capture (const char *const argv[], size_t max_out, int timeout_ms,
                 char **out, size_t *out_len, char **err);

/* run_capture, and every 200 ms CANCEL (may be NULL) is asked whether to
 * stop: when it says so, the child is killed and -ECANCELED returned. */
int run_capture_until (const char *const argv[], size_t max_out,
                       int timeout_ms, bool (*cancel) (void), char **out,
                       size_t *out_len, char **err);

/* run_capture_until, the child given descriptor KEEP (> 2; -1: none) open
 * under its number, as /dev/fd/KEEP, though it is close-on-exec here. */
int run_capture_keep (const char *const argv[], int keep, size_t max_out,
                      int timeout_ms, bool (*cancel) (void), char **out,
                      size_t *out_len, char **err);

/* Set *UNTIL to MS milliseconds from now on CLOCK, for
 * pthread_cond_timedwait. */
void deadline_ms (struct timespec *until, clockid_t clock, long ms);

/* Milliseconds on CLOCK_MONOTONIC. */
long long now_ms (void);

/* The pid pid file PATH names, or 0. */
long pid_file_read (const char *path);

/* Whether process PID runs, its command line naming PROG and ARG (a pid
 * may have been reused: only the process that was started so). */
bool pid_runs (long pid, const char *prog, const char *arg);

#endif /* VMSNAPFS_UTIL_H */

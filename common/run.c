/* vmsnapfs: programs run to their end, their output captured (util.h).
 *
 * Above child.c, which starts them, and log.c, which tells their failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "util.h"

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

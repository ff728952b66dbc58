/* vmsnapfs: a chain of descriptors served over NBD by a
 * qemu-storage-daemon.  See serve.h.
 *
 * The server is started with --daemonize: the program the daemon runs
 * forks the server into a session of its own and exits once it serves,
 * and the server, no child of the daemon's, takes no signal at its death.
 * Each layer is two nodes: the file (/dev/fd/N, read-only, no lock: the
 * backup's owner may read it meanwhile) and its format, whose backing is
 * the layer below or null.  Each export is read-only. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "log.h"
#include "serve.h"
#include "util.h"

/* How long a stopped server may take to go, in milliseconds. */
#define STOP_TIMEOUT_MS 5000

char *
serve_sock (const char *id)
{
  return xasprintf ("%s/%s.sock", SERVE_RUN_DIR, id);
}

char *
serve_pidfile (const char *sock)
{
  return xasprintf ("%s.pid", sock);
}

char *
serve_backing (const char *sock, const char *name)
{
  return xasprintf ("nbd+unix:///%s?socket=%s", name, sock);
}

/* The pid the pid file of SOCK names, or 0. */
static pid_t
read_pid (const char *sock)
{
  CLEANUP_FREE char *pidfile = serve_pidfile (sock);

  return (pid_t)pid_file_read (pidfile);
}

bool
serve_alive (pid_t pid, const char *sock)
{
  if (pid <= 0)
    pid = read_pid (sock);
  /* The pid may have been reused: only a server on this socket. */
  return pid_runs (pid, "qemu-storage-daemon", sock);
}

void
serve_stop (pid_t pid, const char *sock)
{
  CLEANUP_FREE char *pidfile = serve_pidfile (sock);
  struct timespec t = { 0, 50 * 1000 * 1000 };

  if (pid <= 0)
    pid = read_pid (sock);
  if (serve_alive (pid, sock))
    {
      kill (pid, SIGTERM);
      for (int k = 0; k < STOP_TIMEOUT_MS / 50 && serve_alive (pid, sock); k++)
        nanosleep (&t, NULL);
      if (serve_alive (pid, sock))
        kill (pid, SIGKILL); /* read-only: nothing to flush */
      log_info ("Stopped the server of '%s' (pid %ld).", sock, (long)pid);
    }
  unlink (sock);
  unlink (pidfile);
}

/* The server's command line for L (N layers) on SOCK, its pid file
 * PIDFILE, into *ARGV (each string malloc'd, NULL-terminated). */
static void
command (const char *sock, const char *pidfile, const struct serve_layer *l,
         size_t n, char ***argv)
{
  size_t k = 0, exports = 0;
  char **a;

  for (size_t i = 0; i < n; i++)
    exports += l[i].name != NULL;
  a = xcalloc (4 * n + 2 * exports + 8, sizeof *a);
  a[k++] = xstrdup ("qemu-storage-daemon");
  for (size_t i = 0; i < n; i++)
    {
      CLEANUP_FREE char *below
          = l[i].below >= 0 ? xasprintf ("\"l%zd\"", l[i].below)
                            : xstrdup ("null");

      a[k++] = xstrdup ("--blockdev");
      a[k++] = xasprintf ("{\"driver\":\"file\",\"node-name\":\"f%zu\","
                          "\"filename\":\"/dev/fd/%d\",\"read-only\":true,"
                          "\"locking\":\"off\"}",
                          i, l[i].fd);
      a[k++] = xstrdup ("--blockdev");
      if (strcmp (l[i].format, "raw") == 0 && l[i].size)
        a[k++] = xasprintf ("{\"driver\":\"raw\",\"node-name\":\"l%zu\","
                            "\"file\":\"f%zu\",\"read-only\":true,"
                            "\"size\":%" PRIu64 "}",
                            i, i, l[i].size);
      else if (strcmp (l[i].format, "raw") == 0)
        a[k++] = xasprintf ("{\"driver\":\"raw\",\"node-name\":\"l%zu\","
                            "\"file\":\"f%zu\",\"read-only\":true}",
                            i, i);
      else
        a[k++] = xasprintf ("{\"driver\":\"qcow2\",\"node-name\":\"l%zu\","
                            "\"file\":\"f%zu\",\"read-only\":true,"
                            "\"backing\":%s}",
                            i, i, below);
    }
  a[k++] = xstrdup ("--nbd-server");
  a[k++] = xasprintf ("addr.type=unix,addr.path=%s", sock);
  for (size_t i = 0; i < n; i++)
    if (l[i].name)
      {
        a[k++] = xstrdup ("--export");
        a[k++] = xasprintf ("type=nbd,id=e%zu,node-name=l%zu,name=%s,"
                            "writable=off",
                            i, i, l[i].name);
      }
  a[k++] = xstrdup ("--daemonize");
  a[k++] = xstrdup ("--pidfile");
  a[k++] = xstrdup (pidfile);
  *argv = a;
}

int
serve_start (const char *sock, gid_t gid, const struct serve_layer *l,
             size_t n, pid_t *pid)
{
  CLEANUP_FREE char *pidfile = serve_pidfile (sock);
  CLEANUP_FREE int *keep = xcalloc (n ? n : 1, sizeof *keep);
  CLEANUP_FREE char *dir = xstrdup (sock);
  char **argv = NULL;
  pid_t child;
  int r, status = 0;

  *pid = 0;
  *strrchr (dir, '/') = '\0';
  if ((mkdir (dir, 0710) < 0 && errno != EEXIST)
      || chown (dir, (uid_t)-1, gid) < 0 || chmod (dir, 0710) < 0)
    {
      log_error ("Cannot make '%s', entered by group %ld: %m", dir,
                 (long)gid);
      return -EIO;
    }
  for (size_t i = 0; i < n; i++)
    keep[i] = l[i].fd;
  unlink (sock);
  unlink (pidfile);
  command (sock, pidfile, l, n, &argv);
  /* stderr stays the daemon's, for the server's own messages. */
  r = child_spawn_keepv ((const char *const *)argv, NULL, -1, 2, keep, n,
                         &child);
  for (char **p = argv; *p; p++)
    free (*p);
  free (argv);
  if (r == 0)
    while ((r = waitpid (child, &status, 0)) < 0 && errno == EINTR)
      ;
  if (r < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0
      || (*pid = read_pid (sock)) <= 0)
    {
      log_error ("qemu-storage-daemon does not serve '%s'.", sock);
      serve_stop (*pid, sock);
      *pid = 0;
      return -EIO;
    }
  if (chown (sock, (uid_t)-1, gid) < 0 || chmod (sock, 0660) < 0)
    {
      log_error ("Cannot give '%s' to group %ld: %m", sock, (long)gid);
      serve_stop (*pid, sock);
      *pid = 0;
      return -EIO;
    }
  log_info ("qemu-storage-daemon (pid %ld) serves %zu layers on '%s'.",
            (long)*pid, n, sock);
  return 0;
}

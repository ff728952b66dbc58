/* vmsnapfs: the qemu-nbd helper of a whole disk: started on the first
 * read that only qemu can serve (compressed clusters, say), read through
 * libnbd over a few connections, stopped when idle or at exit; and the
 * helpers a daemon that died left, stopped at the start.  See export.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libnbd.h>
#include <pthread.h>
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
#include "export-internal.h"
#include "log.h"
#include "util.h"

/* glibc hands out a buffer at least as large as its mmap threshold
 * (128 KiB, raised to the size of the largest block freed) with mmap, and
 * qemu-nbd allocates one per read of the size of the read: each 512 KiB
 * read mapped fresh zeroed pages, and took 2 ms instead of 70 us.  The
 * helper runs with buffers up to 4 MiB kept in its heap. */
#define HELPER_TUNABLES                                                      \
  "glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=33554432"

/* How long a new helper may take to answer on its socket. */
#define START_TIMEOUT_MS 10000

/* --- the helper --------------------------------------------------------- */

/* Stop E's helper and close its connections; call with E->lock held, or
 * E out of the list (export_free), and no connection in use. */
void
stop_helper (struct export *e)
{
  for (int i = 0; i < e->nconn; i++)
    nbd_close (e->conn[i]);
  e->nconn = 0;
  if (e->pid > 0)
    {
      kill (e->pid, SIGTERM);
      while (waitpid (e->pid, NULL, 0) < 0 && errno == EINTR)
        ;
      log_debug ("Stopped the qemu-nbd of '%s'.", e->volume);
    }
  e->pid = 0;
  if (e->sock)
    unlink (e->sock);
  if (e->pidfile)
    unlink (e->pidfile);
}

static struct nbd_handle *
connect_helper (struct export *e)
{
  struct nbd_handle *h = nbd_create ();

  if (h == NULL)
    return NULL;
  /* libnbd zeroes a read's buffer first, lest a failed read show stale
   * memory; a failed read here is EIO and its buffer is never served. */
  nbd_set_pread_initialize (h, false);
  if (nbd_connect_unix (h, e->sock) < 0)
    {
      nbd_close (h);
      return NULL;
    }
  return h;
}

/* E's volume as qemu-nbd's --image-opts: the format given, never probed;
 * force-share, for a volume qemu may have open (qemu-nbd 7.2 has no -U);
 * and no lock on the file, whose bits would stop a block commit of the
 * volume (a merge of the snapshot below) with "Failed to get shared
 * 'consistent read' lock".  Commas in the path are doubled, as qemu's
 * option syntax wants. */
static char *
image_opts (const struct export *e)
{
  struct strbuf b = { 0 };

  strbuf_printf (&b, "driver=%s,read-only=on,force-share=on,"
                     "file.driver=file,file.locking=off,file.filename=",
                 e->format);
  for (const char *p = e->volume; *p; p++)
    strbuf_printf (&b, *p == ',' ? ",," : "%c", *p);
  return strbuf_steal (&b, NULL);
}

/* The daemon's environment with HELPER_TUNABLES added to GLIBC_TUNABLES;
 * free with free_environ. */
static char **
helper_environ (void)
{
  size_t n = 0, k = 0;
  const char *tunables = getenv ("GLIBC_TUNABLES");
  char **env;

  while (environ[n])
    n++;
  env = xcalloc (n + 2, sizeof *env);
  for (size_t i = 0; i < n; i++)
    if (strncmp (environ[i], "GLIBC_TUNABLES=", 15) != 0)
      env[k++] = xstrdup (environ[i]);
  env[k] = tunables && *tunables ? xasprintf ("GLIBC_TUNABLES=%s:%s",
                                              tunables, HELPER_TUNABLES)
                                 : xstrdup ("GLIBC_TUNABLES=" HELPER_TUNABLES);
  return env;
}

static void
free_environ (char **env)
{
  for (char **p = env; *p; p++)
    free (*p);
  free (env);
}

/* Start E's helper and its first connection; call with E->lock held. */
static int
start_helper (struct export *e)
{
  char shared[16];
  CLEANUP_FREE char *opts = image_opts (e);
  const char *argv[] = { "qemu-nbd", "--read-only", "--persistent",
                         "--shared", shared, "--socket", e->sock,
                         "--image-opts", opts, NULL };
  char **env = helper_environ ();
  struct nbd_handle *h = NULL;
  long waited = 0;
  FILE *f;
  int r;

  snprintf (shared, sizeof shared, "%d", EXPORT_CONNECTIONS + 1);
  unlink (e->sock);
  /* stderr stays the daemon's, for qemu-nbd's own messages. */
  r = child_spawn (argv, env, -1, 2, &e->pid);
  free_environ (env);
  if (r != 0)
    {
      e->pid = 0;
      log_error ("Cannot run qemu-nbd: %s.", strerror (-r));
      return -EIO;
    }
  /* For the next daemon, should this one die without stopping it. */
  if ((f = fopen (e->pidfile, "w")) != NULL)
    {
      fprintf (f, "%d\n", (int) e->pid);
      fclose (f);
    }
  while ((h = connect_helper (e)) == NULL)
    {
      if (waitpid (e->pid, NULL, WNOHANG) == e->pid
          || waited >= START_TIMEOUT_MS)
        {
          log_error ("qemu-nbd does not serve '%s'.", e->volume);
          if (waited < START_TIMEOUT_MS)
            e->pid = 0; /* reaped */
          stop_helper (e);
          return -EIO;
        }
      usleep (10000);
      waited += 10;
    }
  e->conn[0] = h;
  e->busy[0] = false;
  e->nconn = 1;
  log_debug ("qemu-nbd (pid %d) serves '%s'.", (int) e->pid, e->volume);
  return 0;
}

/* A connection for one read, started as needed; -EIO when none can be. */
int
take_conn (struct export *e, int *slot)
{
  SCOPED_LOCK (&e->lock);

  for (;;)
    {
      if (e->pid == 0)
        {
          int r = start_helper (e);
          if (r < 0)
            return r;
        }
      for (int i = 0; i < e->nconn; i++)
        if (!e->busy[i])
          {
            e->busy[i] = true;
            *slot = i;
            return 0;
          }
      if (e->nconn < EXPORT_CONNECTIONS)
        {
          struct nbd_handle *h = connect_helper (e);

          if (h)
            {
              e->conn[e->nconn] = h;
              e->busy[e->nconn] = true;
              *slot = e->nconn++;
              return 0;
            }
        }
      pthread_cond_wait (&e->cond, &e->lock);
    }
}

void
give_conn (struct export *e, int slot, bool broken)
{
  SCOPED_LOCK (&e->lock);

  e->busy[slot] = false;
  if (broken)
    {
      /* The helper died or the connection broke: start anew once no read
       * is in flight. */
      bool idle = true;
      for (int i = 0; i < e->nconn; i++)
        idle &= !e->busy[i];
      if (idle)
        stop_helper (e);
    }
  pthread_cond_broadcast (&e->cond);
}

/* Whether PID is a running vmsnapfs (another daemon: its helpers are its
 * own). */
static bool
is_vmsnapfs (long pid)
{
  char path[64], comm[32] = "";
  FILE *f;

  snprintf (path, sizeof path, "/proc/%ld/comm", pid);
  if ((f = fopen (path, "r")) == NULL)
    return false;
  if (fgets (comm, sizeof comm, f) == NULL)
    comm[0] = '\0';
  fclose (f);
  return strncmp (comm, "vmsnapfs", 8) == 0;
}

/* Stop the helper that pid file NAME (in the run directory) names, unless
 * the daemon that started it still runs. */
static void
sweep_stray (const char *name)
{
  CLEANUP_FREE char *pidfile = xasprintf ("%s/%s", EXPORT_RUN_DIR, name);
  CLEANUP_FREE char *sock = NULL;
  long daemon = strtol (name, NULL, 10), helper;

  if (daemon == getpid () || is_vmsnapfs (daemon))
    return;
  sock = xasprintf ("%.*s.sock", (int)(strlen (pidfile) - 4), pidfile);
  helper = pid_file_read (pidfile);
  /* The pid may have been reused: only a qemu-nbd on our socket. */
  if (pid_runs (helper, "qemu-nbd", sock))
    {
      kill ((pid_t)helper, SIGKILL); /* read-only: nothing to flush */
      log_info ("Stopped a qemu-nbd (pid %ld) left by a daemon that died.",
                helper);
    }
  unlink (pidfile);
  unlink (sock);
}

void
sweep_strays (void)
{
  DIR *d;
  struct dirent *de;

  if ((d = opendir (EXPORT_RUN_DIR)) != NULL)
    {
      while ((de = readdir (d)) != NULL)
        {
          size_t len = strlen (de->d_name);
          if (len > 4 && strcmp (de->d_name + len - 4, ".pid") == 0)
            sweep_stray (de->d_name);
        }
      closedir (d);
    }
}

/* vmsnapfs: what the kernel holds of a VM, dropped when the VM changes.
 *
 * When a VM's view changes (a snapshot made or deleted elsewhere, a merge
 * done) or an operation through the mount changed it, the kernel is told
 * to drop what it holds of that VM: attributes and pages, from the thread
 * that published the view or that did the operation, and again a moment
 * later from a thread of its own (redrop_main), for the replies that a
 * change overtook (see changes_at_begin in request.c).  Only inodes are
 * dropped, never names (see lowlevel.c).
 *
 * Lock: redrop_lock guards the list of second drops to make and the
 * thread's stop; held briefly, and alone.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "changes.h"
#include "drop.h"
#include "host.h"
#include "inodes.h"
#include "util.h"

static struct fuse_session *session;

void
drop_set_session (struct fuse_session *se)
{
  session = se;
}

/* Drop what the kernel holds of VM (of directory HOST with several
 * hosts): each id under it, the VM's directory included, loses its
 * attributes and pages.  Ids the kernel forgot meanwhile answer ENOENT,
 * which is fine. */
static void
drop_ids (const char *host, const char *vm, uint64_t born_before)
{
  uint64_t *ids;
  size_t n = inodes_below (host, vm, born_before, &ids);

  for (size_t i = 0; i < n; i++)
    fuse_lowlevel_notify_inval_inode (session, ids[i], 0, 0);
  free (ids);
}

/* The second drops: VMs dropped once, dropped again by redrop_main a
 * moment later, when every reply sent before the first is in. */
#define REDROP_MS 200

struct redrop
{
  char *host, *vm;
  uint64_t change; /* its number */
  struct redrop *next;
};

static pthread_mutex_t redrop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t redrop_cond = PTHREAD_COND_INITIALIZER;
static struct redrop *redrops;
static bool redrop_stop, redrop_running;
static pthread_t redrop_thread;

/* Free the list from R on, dropping each VM first with DROP_FIRST. */
static void
redrop_free (struct redrop *r, bool drop_first)
{
  for (struct redrop *next; r; r = next)
    {
      next = r->next;
      if (drop_first)
        drop_ids (r->host, r->vm, r->change);
      free (r->host);
      free (r->vm);
      free (r);
    }
}

static void *
redrop_main (void *arg)
{
  (void)arg;
  pthread_mutex_lock (&redrop_lock);
  while (!redrop_stop)
    {
      struct redrop *batch = redrops;

      if (batch == NULL)
        {
          pthread_cond_wait (&redrop_cond, &redrop_lock);
          continue;
        }
      redrops = NULL;
      pthread_mutex_unlock (&redrop_lock);
      usleep (REDROP_MS * 1000);
      redrop_free (batch, true);
      pthread_mutex_lock (&redrop_lock);
    }
  pthread_mutex_unlock (&redrop_lock);
  return NULL;
}

/* VM changed (see host_on_vm_change): dropped now, and again a moment
 * later (see request.c: changes_at_begin). */
void
drop_vm (const char *host, const char *vm)
{
  struct redrop *r = xmalloc (sizeof *r);

  r->change = changes_count (fs_vm_key (host, vm));
  drop_ids (host, vm, UINT64_MAX);
  r->host = xstrdup_null (host);
  r->vm = xstrdup (vm);
  pthread_mutex_lock (&redrop_lock);
  r->next = redrops;
  redrops = r;
  pthread_cond_signal (&redrop_cond);
  pthread_mutex_unlock (&redrop_lock);
}

/* An operation through the mount changed what is under PATH: the VM it is
 * in (a path at the top, a clone's, names one) is dropped before the reply,
 * so that the caller's next look sees the change. */
void
drop_touched (const char *path)
{
  struct vs_fleet *f = fleet_get ();
  bool several = f->nhosts > 1;
  char *p = xstrdup (path + (path[0] == '/')), *vm = p, *host = NULL;

  fleet_put (f);
  if (several)
    {
      host = p;
      vm = strchr (p, '/');
      if (vm)
        *vm++ = '\0';
    }
  if (vm && *vm)
    {
      vm[strcspn (vm, "/")] = '\0';
      drop_vm (host, vm);
    }
  free (p);
}

void
drop_start (void)
{
  redrop_running
      = pthread_create (&redrop_thread, NULL, redrop_main, NULL) == 0;
}

void
drop_stop (void)
{
  pthread_mutex_lock (&redrop_lock);
  redrop_stop = true;
  pthread_cond_signal (&redrop_cond);
  pthread_mutex_unlock (&redrop_lock);
  if (redrop_running)
    pthread_join (redrop_thread, NULL);
  redrop_free (redrops, false);
  redrops = NULL;
}

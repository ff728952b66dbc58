/* vmsnapfs: an inotify instance and the thread that reads it.
 *
 * host/snapwatch.c (libvirt's snapshot files) and fs/hostwatch.c (the
 * host files a snapshot shows) each add their own watches and make their
 * own sense of the events; the waiting, reading and stopping are here. */
#ifndef VMSNAPFS_WATCHER_H
#define VMSNAPFS_WATCHER_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/inotify.h>

/* What a watcher hands on, on its thread: each event read (E), then E NULL
 * once all that was ready is read.  When it stops of itself (it cannot
 * wait any more, which is not known to happen), a last call with E NULL
 * and FAILED, after which nothing is watched. */
typedef void watcher_fn (void *opaque, const struct inotify_event *e,
                         bool failed);

struct watcher
{
  int ifd;    /* the inotify instance, for inotify_add_watch */
  int stopfd; /* an eventfd, written by watcher_stop */
  bool running;
  pthread_t thread;
  watcher_fn *fn;
  void *opaque;
};

/* Make W's inotify instance, to add watches to before watcher_start.
 * Returns 0, or -errno (W then holds nothing). */
int watcher_init (struct watcher *w);

/* Start reading W's events for FN.  Returns 0, or -errno. */
int watcher_start (struct watcher *w, watcher_fn *fn, void *opaque);

/* Stop the thread (no call of FN once this returns) and close W's
 * instance, with its watches.  W may never have been started. */
void watcher_stop (struct watcher *w);

#endif /* VMSNAPFS_WATCHER_H */

/* vmsnapfs: an inotify instance and the thread that reads it (see
 * watcher.h). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "watcher.h"

static void *
watcher_main (void *arg)
{
  struct watcher *w = arg;
  char buf[64 * (sizeof (struct inotify_event) + NAME_MAX + 1)]
      __attribute__ ((aligned (__alignof__(struct inotify_event))));

  for (;;)
    {
      struct pollfd p[2] = { { .fd = w->ifd, .events = POLLIN },
                             { .fd = w->stopfd, .events = POLLIN } };
      ssize_t n;

      if (poll (p, 2, -1) < 0 && errno != EINTR)
        {
          log_warning ("Cannot wait for file changes any more (%s).",
                       strerror (errno));
          w->fn (w->opaque, NULL, true);
          break;
        }
      if (p[1].revents)
        break;
      while ((n = read (w->ifd, buf, sizeof buf)) > 0)
        for (char *q = buf; q < buf + n;)
          {
            const struct inotify_event *e = (const void *)q;

            w->fn (w->opaque, e, false);
            q += sizeof *e + e->len;
          }
      w->fn (w->opaque, NULL, false);
    }
  return NULL;
}

int
watcher_init (struct watcher *w)
{
  w->running = false;
  w->stopfd = -1;
  w->ifd = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
  return w->ifd < 0 ? -errno : 0;
}

int
watcher_start (struct watcher *w, watcher_fn *fn, void *opaque)
{
  int r;

  w->fn = fn;
  w->opaque = opaque;
  if ((w->stopfd = eventfd (0, EFD_CLOEXEC)) < 0)
    return -errno;
  if ((r = pthread_create (&w->thread, NULL, watcher_main, w)) != 0)
    return -r;
  w->running = true;
  return 0;
}

void
watcher_stop (struct watcher *w)
{
  uint64_t one = 1;

  if (w->running && write (w->stopfd, &one, sizeof one) == sizeof one)
    pthread_join (w->thread, NULL);
  w->running = false;
  if (w->ifd >= 0)
    close (w->ifd);
  if (w->stopfd >= 0)
    close (w->stopfd);
  w->ifd = w->stopfd = -1;
}

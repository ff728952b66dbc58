/* vmsnapfs: scope-bound cleanup, after nbdkit's common/utils/cleanup.h.
 *
 * A variable declared with one of these attributes is released when it goes
 * out of scope, on every return path.  Assign NULL (or -1) to it to keep the
 * object past the scope.
 */
#ifndef VMSNAPFS_CLEANUP_H
#define VMSNAPFS_CLEANUP_H

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static inline void
cleanup_free (void *ptr)
{
  free (*(void **)ptr);
}
#define CLEANUP_FREE __attribute__ ((cleanup (cleanup_free)))

static inline void
cleanup_close (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}
#define CLEANUP_CLOSE __attribute__ ((cleanup (cleanup_close)))

static inline void
cleanup_unlock (pthread_mutex_t **mutex)
{
  pthread_mutex_unlock (*mutex);
}
#define CLEANUP_UNLOCK __attribute__ ((cleanup (cleanup_unlock)))

/* Hold MUTEX until the end of the enclosing scope. */
#define SCOPED_LOCK_CONCAT2(a, b) a##b
#define SCOPED_LOCK_CONCAT(a, b) SCOPED_LOCK_CONCAT2 (a, b)
#define SCOPED_LOCK(mutex)                                                    \
  CLEANUP_UNLOCK pthread_mutex_t *SCOPED_LOCK_CONCAT (scoped_lock_, __LINE__) \
      = (pthread_mutex_lock (mutex), (mutex))

#endif /* VMSNAPFS_CLEANUP_H */

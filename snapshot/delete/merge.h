/* vmsnapfs: a merge under way, between its worker (merge.c) and its
 * steps (merge-step.c); nothing else sees it. */
#ifndef VMSNAPFS_SNAPSHOT_MERGE_H
#define VMSNAPFS_SNAPSHOT_MERGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <libvirt/libvirt.h>

struct vs_vm;

/* One merge under way, shared by its worker and the rmdir waiting for it. */
struct merge
{
  struct merge *next; /* in merge.c's workers */
  int refs;
  struct vs_vm *vm;
  char *snapshot;
  bool (*stop) (void); /* whether the daemon stops: the merge waits */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool done;
  int result;
  size_t ndisks;
  unsigned *tries; /* block commits started, per disk of the record */
  bool *merged;    /* the disk is done: TOP gone, nothing names it */
};

/* Take merge M of VM (DOM, libvirt's) a step further.  Returns 1 when it
 * is over and the record gone, 0 to look again later, or -errno. */
int merge_step (struct merge *m, virDomainPtr dom);

#endif /* VMSNAPFS_SNAPSHOT_MERGE_H */

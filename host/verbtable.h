/* vmsnapfs: the verbs' hooks into the model (verbtable.c).  The model
 * (host/) names no verb: at the moments where a verb has work of its own
 * (a host connected for the first time, a VM stopped, a block job event,
 * the daemon starting or stopping, a jobs file read), it calls the hook
 * the verbs registered, if any.  snapshot/verbs.c fills the table once,
 * before host_start, and says there in which order the verbs run. */
#ifndef VMSNAPFS_HOST_VERBTABLE_H
#define VMSNAPFS_HOST_VERBTABLE_H

#include <stddef.h>

#include <libvirt/libvirt.h>

struct host;
struct vs_host;

struct verb_table
{
  /* Carry on the operations a previous daemon left under way on host H,
   * whose view is V: once, after H's first connection (a thread of its
   * own, or host_start for a host that answers then). */
  void (*recover) (struct host *h, const struct vs_host *v);
  /* The daemon starts (after the event thread, before the refresh
   * threads) and stops (before the refresh threads stop). */
  void (*start) (void);
  void (*stop) (void);
  /* VM UUID of H stopped (an event of DETAIL,
   * virDomainEventStoppedDetailType), from the event thread. */
  void (*vm_stopped) (struct host *h, const char *uuid, int detail);
  /* A block job event on any VM, from the event thread. */
  void (*block_job) (void);
  /* The jobs of the verbs' own (copies) on VM UUID for its jobs file: up
   * to MAX into TARGETS (malloc'd), INFOS and SNAPS (malloc'd), their count
   * returned. */
  size_t (*jobs) (const char *uuid, size_t max, char **targets,
                  virDomainBlockJobInfo *infos, char **snaps);
};

/* Register the verbs' table T (kept, not copied): once, before
 * host_start. */
void verb_table_register (const struct verb_table *t);

/* The model's calls of the hooks: nothing where none is registered (the
 * unit tests link the model alone). */
void verbs_recover (struct host *h, const struct vs_host *v);
void verbs_start (void);
void verbs_stop (void);
void verbs_vm_stopped (struct host *h, const char *uuid, int detail);
void verbs_block_job (void);
size_t verbs_jobs (const char *uuid, size_t max, char **targets,
                   virDomainBlockJobInfo *infos, char **snaps);

#endif /* VMSNAPFS_HOST_VERBTABLE_H */

/* vmsnapfs: the block jobs' progress, for the jobs files (jobs.c). */
#ifndef VMSNAPFS_HOST_JOBS_H
#define VMSNAPFS_HOST_JOBS_H

#include <libvirt/libvirt.h>

/* Note where the block job on disk TARGET of VM UUID is, for the rate the
 * jobs files show; when P is not NULL, tell how it goes. */
struct progress;
void job_note (const char *uuid, const char *target,
               const virDomainBlockJobInfo *info, struct progress *p);

#endif /* VMSNAPFS_HOST_JOBS_H */

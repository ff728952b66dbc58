/* vmsnapfs: waiting for the refresh thread (events.c; host.c runs the thread). */
#ifndef VMSNAPFS_HOST_REFRESH_H
#define VMSNAPFS_HOST_REFRESH_H

#include <stdbool.h>

#include "host.h"

/* Longest wait of host_sync, in milliseconds. */
#define HOST_SYNC_WAIT_MS 30000

/* Wait until the refresh thread has published a view built after this
 * call, with VM rebuilt: its new snapshots read, known ones kept, or all
 * read again with REREAD (a merge changed what their overlays stand on);
 * at most HOST_SYNC_WAIT_MS (logged). */
void host_sync (const struct vs_vm *vm, bool reread);

#endif /* VMSNAPFS_HOST_REFRESH_H */

/* vmsnapfs: free space (space.c). */
#ifndef VMSNAPFS_HOST_SPACE_H
#define VMSNAPFS_HOST_SPACE_H

#include <stdbool.h>
#include <stdint.h>

/* Whether the file system of PATH's directory has NEED bytes free; true
 * when it cannot be measured. */
bool room_beside (const char *path, uint64_t need);

#endif /* VMSNAPFS_HOST_SPACE_H */

/* vmsnapfs: a remote snapshot's disk read over NBD from a helper domain on
 * its host, for its delta files (remotedelta.c); remote.c calls it. */
#ifndef VMSNAPFS_HOST_REMOTEDELTA_H
#define VMSNAPFS_HOST_REMOTEDELTA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct host;
struct delta_reader;

/* Open the disk of H whose frozen volume is VOLUME (of FORMAT, SIZE
 * bytes; KEY names it with VOLUME): with DELTA, what VOLUME holds itself
 * (data or zeros), zeros elsewhere; without, the whole disk.  Returns 0,
 * or -EIO (logged). */
int delta_open (struct host *h, uint64_t key, const char *volume,
                const char *format, uint64_t size, bool delta,
                struct delta_reader **out);
void delta_close (struct delta_reader *r);
/* Read as pread(2): the count, short only at the end, or -EIO. */
ssize_t delta_pread (struct delta_reader *r, char *buf, size_t size,
                     uint64_t off);
/* lseek(SEEK_DATA) with DATA, (SEEK_HOLE) without: the offset, or
 * -ENXIO. */
int64_t delta_seek (struct delta_reader *r, uint64_t off, bool data);

#endif /* VMSNAPFS_HOST_REMOTEDELTA_H */

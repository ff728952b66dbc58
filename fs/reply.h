/* vmsnapfs: the replies to reads (fs/reply.c). */
#ifndef VMSNAPFS_REPLY_H
#define VMSNAPFS_REPLY_H

#include "fs.h" /* first: it picks the FUSE API version */

/* The reply to a read of SIZE bytes at OFF of H in *BUFP (malloc'd, as
 * libfuse's read_buf wants it): H's host file's descriptor, this thread's
 * reply area, or memory.  Returns 0 or -errno. */
int reply_read (struct handle *h, struct fuse_bufvec **bufp, size_t size,
                off_t off);

#endif /* VMSNAPFS_REPLY_H */

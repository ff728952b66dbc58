/* vmsnapfs: the FUSE request each worker thread serves (fs/request.c).
 * The lowest file of fs/'s handlers: lowlevel.c begins each request
 * here; ops.c, resolve.c and verbs.c ask it who the caller is, whether
 * the request was interrupted, and renew it (fs.h: fs_request,
 * fs_request_renew, caller_current). */
#ifndef VMSNAPFS_REQUEST_H
#define VMSNAPFS_REQUEST_H

#include "fs.h" /* first: it picks the FUSE API version */

#include <stdint.h>

/* This thread begins to serve REQ: it notes the count of VM changes told
 * so far (changes.h). */
void fs_request_begin (fuse_req_t req);

/* The count of VM changes told when this thread's request began, or was
 * renewed (fs_request_renew). */
uint64_t fs_request_changes (void);

#endif /* VMSNAPFS_REQUEST_H */

/* vmsnapfs: the FUSE request each worker thread serves, and its caller.
 *
 * Each handler of lowlevel.c runs on a worker thread of libfuse's loop;
 * the request it serves is kept for the thread (fs_request), where the
 * files above find its caller and whether it was interrupted.
 */
#include <stdbool.h>

#include "access.h"
#include "changes.h"
#include "log.h"
#include "request.h"

static __thread fuse_req_t current;

/* The count of VM changes told (changes.h) when this thread's request
 * began: a reply that a change of its VM may have overtaken gets a
 * moment's cache time, not an hour's.  What is left: a reply that was
 * sent before the change, for a name the kernel did not hold yet, and that
 * the kernel takes in after the drop.  The second drop, REDROP_MS later
 * (drop.c), catches it: it drops the ids born of requests that began
 * before the change (an id is born with the count its request began at),
 * not those given since, from the view after it.  (A reply for an id the
 * kernel holds needs no second drop: the kernel drops attributes that a
 * drop overtook.)  A change of one VM (each VM's first look makes a
 * deeper view of it) costs the cache nothing of the others. */
static __thread uint64_t changes_at_begin;

void
fs_request_begin (fuse_req_t req)
{
  current = req;
  changes_at_begin = changes_now ();
}

uint64_t
fs_request_changes (void)
{
  return changes_at_begin;
}

fuse_req_t
fs_request (void)
{
  return current;
}

void
fs_request_renew (void)
{
  changes_at_begin = changes_now ();
}

void
caller_current (struct caller *c, bool groups)
{
  const struct fuse_ctx *ctx = fuse_req_ctx (fs_request ());

  c->uid = ctx->uid;
  c->gid = ctx->gid;
  c->ngroups = 0;
  /* Root needs none; for anyone else libfuse reads them from /proc. */
  if (groups && c->uid != 0)
    {
      c->ngroups
          = fuse_req_getgroups (fs_request (), ACCESS_MAX_GROUPS, c->groups);
      if (c->ngroups > ACCESS_MAX_GROUPS)
        c->ngroups = ACCESS_MAX_GROUPS;
      else if (c->ngroups < 0)
        {
          log_warning ("Cannot read the groups of process %d (uid %u): "
                       "only its own group counts.",
                       (int)ctx->pid, (unsigned)c->uid);
          c->ngroups = 0;
        }
    }
}

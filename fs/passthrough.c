/* vmsnapfs: frozen files read by the kernel straight from the host.
 *
 * Linux 6.9 can pass the reads of an open FUSE file through to a file of
 * the daemon's (FUSE passthrough): the kernel reads the host file itself,
 * through its page cache, and the daemon sees no read at all.  libfuse
 * learned it in 3.16; Debian 12 has 3.14.  So this module does what 3.16
 * does, on the wire: libfuse reads requests and writes replies through
 * the hooks below (fuse_session_custom_io), which
 *
 *   - see the kernel offer passthrough in its INIT request, and accept it
 *     in libfuse's INIT reply (FUSE_PASSTHROUGH, with a stack depth);
 *   - add FOPEN_PASSTHROUGH and the backing file to the reply to an OPEN
 *     that passthrough_reply chose a backing file for.
 *
 * A request is answered by the thread that read it (lowlevel.c
 * answers before it returns), so a thread remembers the last request it
 * read, and an OPEN reply is recognised by its unique number.  Anything
 * that does not fit (an older kernel, no CAP_SYS_ADMIN, a host file on a
 * stack too deep) leaves reads to the daemon, as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"
#include "log.h"

/* The parts of <linux/fuse.h> (protocol 7.40) that Debian 12's lacks. */
#define INIT_EXT (1u << 30)
#define INIT_PASSTHROUGH_HI (1u << (37 - 32)) /* FUSE_PASSTHROUGH, flags2 */
#define OPEN_PASSTHROUGH (1u << 7)            /* FOPEN_PASSTHROUGH */
#define OPCODE_OPEN 14
#define OPCODE_INIT 26

struct backing_map
{
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
#define IOC_BACKING_OPEN _IOW (229, 1, struct backing_map)
#define IOC_BACKING_CLOSE _IOW (229, 2, uint32_t)

struct in_header
{
  uint32_t len, opcode;
  uint64_t unique, nodeid;
  uint32_t uid, gid, pid;
  uint16_t total_extlen, padding;
};

struct out_header
{
  uint32_t len;
  int32_t error;
  uint64_t unique;
};

struct init_in
{
  uint32_t major, minor, max_readahead, flags, flags2;
};

struct init_out
{
  uint32_t major, minor, max_readahead, flags;
  uint16_t max_background, congestion_threshold;
  uint32_t max_write, time_gran;
  uint16_t max_pages, map_alignment;
  uint32_t flags2, max_stack_depth;
  uint32_t unused[6];
};

struct open_out
{
  uint64_t fh;
  uint32_t open_flags;
  int32_t backing_id;
};

/* How deep the host files' file system may be stacked: 2 lets them lie
 * on overlayfs (the kernel's limit is 2 in all). */
#define STACK_DEPTH 2

static int dev_fd = -1;      /* the session's /dev/fuse */
static uint64_t init_unique; /* the INIT request, while unanswered */
static bool offered;         /* by the kernel at INIT */
static atomic_bool enabled;  /* and accepted: read by every thread */
static bool refused;         /* -o passthrough=off */

/* The last request this thread read, and the backing file its reply
 * names (0: none). */
static __thread uint64_t cur_unique;
static __thread uint32_t cur_opcode;
static __thread int cur_backing;

static ssize_t
hook_read (int fd, void *buf, size_t len, void *userdata)
{
  ssize_t n = read (fd, buf, len);
  struct in_header in;

  (void)userdata;
  if (n < (ssize_t)sizeof in)
    return n;
  memcpy (&in, buf, sizeof in);
  cur_unique = in.unique;
  cur_opcode = in.opcode;
  cur_backing = 0;
  if (in.opcode == OPCODE_INIT
      && (size_t)n >= sizeof in + sizeof (struct init_in))
    {
      struct init_in init;

      memcpy (&init, (char *)buf + sizeof in, sizeof init);
      init_unique = in.unique;
      offered = (init.flags & INIT_EXT) && (init.flags2 & INIT_PASSTHROUGH_HI);
    }
  return n;
}

/* Whether this process may give the kernel backing files. */
static bool
has_sys_admin (void)
{
  char line[128];
  unsigned long long caps = 0;
  FILE *f = fopen ("/proc/self/status", "r");

  if (f == NULL)
    return false;
  while (fgets (line, sizeof line, f))
    if (sscanf (line, "CapEff: %llx", &caps) == 1)
      break;
  fclose (f);
  return caps & (1ULL << 21); /* CAP_SYS_ADMIN */
}

/* Accept passthrough in libfuse's INIT reply, in OUT. */
static void
accept_passthrough (struct iovec *out)
{
  struct init_out *init = out->iov_base;

  if (refused || !offered || out->iov_len < sizeof *init
      || !has_sys_admin ())
    {
      log_info ("No FUSE passthrough (%s): the daemon reads frozen files.",
                refused    ? "-o passthrough=off"
                : offered ? "it needs CAP_SYS_ADMIN"
                          : "the kernel has none");
      return;
    }
  init->flags |= INIT_EXT;
  init->flags2 |= INIT_PASSTHROUGH_HI;
  init->max_stack_depth = STACK_DEPTH;
  enabled = true;
  log_info ("Frozen files are read by the kernel from the host's files "
            "(FUSE passthrough).");
}

static ssize_t
hook_writev (int fd, struct iovec *iov, int count, void *userdata)
{
  struct out_header h;

  (void)userdata;
  if (count >= 2 && iov[0].iov_len == sizeof h)
    {
      memcpy (&h, iov[0].iov_base, sizeof h);
      if (h.error == 0 && init_unique && h.unique == init_unique)
        {
          accept_passthrough (&iov[1]);
          init_unique = 0;
        }
      else if (h.error == 0 && h.unique == cur_unique
               && cur_opcode == OPCODE_OPEN && cur_backing > 0
               && iov[1].iov_len == sizeof (struct open_out))
        {
          struct open_out *open = iov[1].iov_base;

          open->open_flags |= OPEN_PASSTHROUGH;
          open->backing_id = cur_backing;
        }
    }
  return writev (fd, iov, count);
}

static ssize_t
hook_splice_send (int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
                  unsigned int flags, void *userdata)
{
  (void)userdata;
  return splice (fdin, offin, fdout, offout, len, flags);
}

const struct fuse_custom_io *
passthrough_io (int dev)
{
  static const struct fuse_custom_io io = {
    .read = hook_read,
    .writev = hook_writev,
    .splice_send = hook_splice_send,
  };

  dev_fd = dev;
  return &io;
}

int
passthrough_setup (struct fuse_session *se)
{
  int dev = fuse_session_fd (se);

  return fuse_session_custom_io (se, passthrough_io (dev), dev) < 0 ? -EIO : 0;
}

int
passthrough_open (int fd)
{
  struct backing_map map = { .fd = fd };
  int id;

  if (!enabled)
    return 0;
  if ((id = ioctl (dev_fd, IOC_BACKING_OPEN, &map)) <= 0)
    {
      log_debug ("No passthrough for an open: %s.", strerror (errno));
      return 0;
    }
  return id;
}

void
passthrough_reply (int backing)
{
  cur_backing = backing;
}

void
passthrough_close (int backing)
{
  uint32_t id = (uint32_t)backing;

  if (backing > 0 && ioctl (dev_fd, IOC_BACKING_CLOSE, &id) < 0)
    log_warning ("Closing a passthrough backing file: %s.", strerror (errno));
}

void
passthrough_refuse (void)
{
  refused = true;
}

bool
passthrough_enabled (void)
{
  return enabled;
}

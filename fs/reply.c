/* vmsnapfs: the replies to reads, built without a copy where they can be.
 *
 * A frozen file is served from the host file's descriptor (a buffer of
 * FUSE_BUF_IS_FD): libfuse splices its pages to the kernel.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "reply.h"
#include "util.h"

/* Replies built in memory (whole disks, read through qemu-nbd) are
 * written into a per-thread area backed by a memfd and handed to FUSE as
 * a file: libfuse splices a file's pages to the kernel, but copies a
 * memory buffer into a pipe first, in freshly allocated pages; that second
 * copy was a quarter of the daemon's time on a cold read.  A worker thread
 * replies before it takes its next request, so one area per thread is
 * enough; it goes with the thread. */
#define REPLY_AREA_SIZE (1024 * 1024)

struct reply_area
{
  int fd;
  char *mem;
};

static pthread_key_t reply_area_key;
static pthread_once_t reply_area_once = PTHREAD_ONCE_INIT;

static void
reply_area_free (void *p)
{
  struct reply_area *a = p;

  munmap (a->mem, REPLY_AREA_SIZE);
  close (a->fd);
  free (a);
}

static void
reply_area_key_init (void)
{
  if (pthread_key_create (&reply_area_key, reply_area_free) != 0)
    abort ();
}

/* This thread's area, or NULL when one cannot be made. */
static struct reply_area *
reply_area (void)
{
  struct reply_area *a;
  int fd;
  void *mem;

  pthread_once (&reply_area_once, reply_area_key_init);
  if ((a = pthread_getspecific (reply_area_key)))
    return a;
  if ((fd = memfd_create ("vmsnapfs-reply", MFD_CLOEXEC)) < 0)
    return NULL;
  if (ftruncate (fd, REPLY_AREA_SIZE) < 0
      || (mem = mmap (NULL, REPLY_AREA_SIZE, PROT_READ | PROT_WRITE,
                      MAP_SHARED, fd, 0))
             == MAP_FAILED)
    {
      close (fd);
      return NULL;
    }
  a = xmalloc (sizeof *a);
  a->fd = fd;
  a->mem = mem;
  pthread_setspecific (reply_area_key, a);
  return a;
}

int
reply_read (struct handle *h, struct fuse_bufvec **bufp, size_t size,
            off_t off)
{
  struct fuse_bufvec *bv = xmalloc (sizeof *bv);
  struct reply_area *a;
  ssize_t n;

  *bv = FUSE_BUFVEC_INIT (size);
  if (h->fd >= 0)
    {
      bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
      bv->buf[0].fd = h->fd;
      bv->buf[0].pos = off;
    }
  else if (size <= REPLY_AREA_SIZE && (a = reply_area ()))
    {
      if ((n = handle_read (h, a->mem, size, off)) < 0)
        goto fail;
      bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
      bv->buf[0].fd = a->fd;
      bv->buf[0].pos = 0;
      bv->buf[0].size = (size_t)n;
    }
  else
    {
      /* libfuse frees a memory buffer once it has replied. */
      bv->buf[0].mem = xmalloc (size ? size : 1);
      if ((n = handle_read (h, bv->buf[0].mem, size, off)) < 0)
        {
          free (bv->buf[0].mem);
          goto fail;
        }
      bv->buf[0].size = (size_t)n;
    }
  *bufp = bv;
  return 0;

fail:
  free (bv);
  return (int)n;
}

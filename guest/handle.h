/* vmsnapfs: a snapshot's libguestfs handle, inside guest/ (files.c keeps
 * the handles and answers from them; launch.c starts one and lays out its
 * file systems).
 */
#ifndef VMSNAPFS_GUEST_HANDLE_H
#define VMSNAPFS_GUEST_HANDLE_H

#include <pthread.h>
#include <stdbool.h>

#include "guestfiles.h"
#include "loader.h"

#define DIR_BUCKETS 256

struct entry
{
  char *name;
  struct stat st;
};

/* A directory listed once: its entries sorted by name. */
struct dir
{
  char *path;
  struct entry *entries;
  size_t n;
  struct dir *next;
};

enum state
{
  STARTING,
  READY,
  FAILED,
};

struct guestfiles
{
  uint64_t snap;
  struct guestfiles *next;
  enum state state;     /* reg_lock */
  unsigned refs;        /* reg_lock: gets and opens */
  long long last_used;  /* reg_lock */
  pthread_mutex_t lock; /* what follows */
  guestfs_h *g;         /* NULL without libguestfs: "/" is empty */
  bool os;              /* laid out by inspection */
  char **targets;       /* the drives' guest names, in the order added */
  size_t ntargets;
  char *errors; /* a line per file system that shows nothing */
  struct stat root;
  struct dir *dirs[DIR_BUCKETS];
};

/* Start GF's appliance on the N DRIVES and mount its file systems, with
 * GF's lock held; LABEL names the snapshot in the log.  Without libguestfs,
 * GF shows an empty "/" and an error line saying what to install.  Returns
 * 0, or -EIO when libguestfs did not start (logged). */
int guest_start (struct guestfiles *gf, const struct guest_drive *drives,
                 size_t n, const char *label);

#endif /* VMSNAPFS_GUEST_HANDLE_H */

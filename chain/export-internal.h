/* vmsnapfs: what the files of chain/ that serve whole disks share: an
 * export (export.c), its reads (read.c) and its qemu-nbd helper
 * (helper.c).  Locking: see export.c. */
#ifndef VMSNAPFS_EXPORT_INTERNAL_H
#define VMSNAPFS_EXPORT_INTERNAL_H

#include <libnbd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "chain.h"
#include "export.h"

/* Largest read served in one call (FUSE asks for 512 KiB at most), and
 * the size of the requests it is split into. */
#define EXPORT_MAX_READ (1024 * 1024)
#define EXPORT_CHUNK (256 * 1024)

struct export
{
  struct export *next;
  struct export *hnext; /* in its bucket of the index by snapshot */
  struct export *vnext; /* in its bucket of the index by volume */
  uint64_t snap;
  char *target, *volume, *format;
  uint64_t size;
  struct map *map; /* read once */
  /* The state of VOLUME's file when MAP was made (mapped_ok): a disk
   * composed on MAP (find_below) must have its backing file as it was. */
  struct stat mapped;
  bool mapped_ok;
  struct map *changes; /* what the frozen volume itself holds: the delta */

  /* Direct reads: where the disk's bytes lie in the chain's files, and
   * those files by depth, kept open.  Made at the first open, dropped with
   * the helper; NULL when they cannot be (see open_direct). */
  struct map *place;
  int *fds;
  uint32_t nfds;
  bool direct_tried; /* since the last drop: open_direct is not retried */

  pthread_mutex_t lock; /* the fields below */
  pthread_cond_t cond;  /* a connection came free */
  int readers;          /* opens not closed since they last read (flush) */
  int opens;            /* opens not yet released */
  int pins;             /* stats reading its map (export.c's pin) */
  time_t idle_since;
  pid_t pid; /* the helper, or 0 */
  char *sock, *pidfile;
  int nconn;
  struct nbd_handle *conn[EXPORT_CONNECTIONS];
  bool busy[EXPORT_CONNECTIONS];
};

/* The helper of E (helper.c).  Stop it and close its connections: with
 * E->lock held, or E out of the list, and no connection in use. */
void stop_helper (struct export *e);
/* A connection to E's helper, started when there is none: its slot in
 * *SLOT, held until give_conn.  Returns 0 or -EIO (logged). */
int take_conn (struct export *e, int *slot);
/* Give back the connection in SLOT, closed when BROKEN. */
void give_conn (struct export *e, int slot, bool broken);
/* Stop the helpers that pid files of the run directory name, left by a
 * daemon that died (helper.c). */
void sweep_strays (void);

/* The direct reads of E (read.c): open its chain's files and map them
 * (with E->lock held; on any doubt E has none), close them, and whether
 * every run of its data can be read so. */
void open_direct (struct export *e);
void drop_direct (struct export *e);
bool all_direct (const struct export *e);
/* Read SIZE bytes of E's disk at OFF, all within it, into BUF: directly
 * where it can, else through the helper.  Returns 0 or -EIO. */
int read_disk (struct export *e, void *buf, size_t size, uint64_t off);

#endif /* VMSNAPFS_EXPORT_INTERNAL_H */

/* vmsnapfs: a clone under way, between the verb (clone.c) and its copy
 * (clone-copy.c); nothing else sees it. */
#ifndef VMSNAPFS_SNAPSHOT_CLONE_COPY_H
#define VMSNAPFS_SNAPSHOT_CLONE_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "host.h"
#include "virxml.h"

/* A clone under way. */
struct clone
{
  struct clone *next;
  char uuid[VIR_UUID_STRING_BUFLEN];        /* the clone's */
  char source_uuid[VIR_UUID_STRING_BUFLEN]; /* its source VM's */
  char *name;
  struct host *host;  /* where both are */
  struct vs_meta rec; /* the clone's record, as written */
  uint64_t *need;     /* bytes each copy will take (qemu-img measure) */
  size_t copying;     /* the disk being copied */
  bool copying_memory;
  int lock;  /* on the clone, against other daemons (vm_lock_take) */
  bool thin; /* an instant clone (clone-pull.c): NEWVM runs on its thin
                tops while its copies are filled by a pull, the job
                THIN_JOB (clone_thin_job) that the worker runs */
  int (*thin_job) (struct clone *c, virDomainPtr dom);
  /* At the end (R: 0, whole; else rolled back), or NULL: a restore's. */
  void (*done) (struct clone *c, int r);
  /* Whether a job that failed may be tried again, or NULL (yes): a
   * restore's, whose server must run. */
  bool (*may_go_on) (struct clone *c);
  bool pulling; /* PULL_INFO tells where disk COPYING is */
  virDomainBlockJobInfo pull_info;
};

/* Free C (NULL: nothing), its lock dropped. */
void clone_free (struct clone *c);

/* Register C and start its copy's worker, which frees it: 0, or -EIO
 * (logged; C is the caller's). */
int clone_copy_start (struct clone *c);

/* Remove what C made, and the clone itself (DOM, or NULL). */
void clone_roll_back (struct clone *c, virDomainPtr dom);

/* Whether the daemon stops (the copies and pulls end there). */
bool clone_is_stopping (void);

/* Copy the snapshot's memory for C into its memory copy, unless there.
 * 0 or -errno (logged). */
int clone_copy_memory (struct clone *c);
/* Define snapshot NAME in the clone DOM, as the source has it, made the
 * clone's: the frozen volume of each of its first NCOPIED disks its copy,
 * of each other the source's own frozen volume (a remote clone's, until
 * its copy is whole: clone-remote.c); unless it is so already.  0 or
 * -errno (logged). */
int clone_define_snapshot (struct clone *c, virDomainPtr dom, size_t ncopied);
/* How many of the first disks of C's snapshot NAME in the clone DOM name
 * their copies as their frozen volumes, into *N (0: NAME is not there).
 * 0 or -EIO (logged). */
int clone_copies_named (struct clone *c, virDomainPtr dom, size_t *n);

/* The temporary top of an instant clone's disk D, on which the clone runs
 * until its copy is whole (malloc'd). */
struct clone_disk;
char *clone_thin_top (const struct clone_disk *d);

/* Whether qcow2 volume PATH of H stands alone (no backing file), into
 * *ALONE, with its virtual size in *SIZE.  0 or -EIO. */
int clone_stands_alone (struct host *h, const char *path, bool *alone,
                        unsigned long long *size);

/* The file an instant clone's pull fills for disk D, renamed onto its copy
 * once whole (malloc'd). */
char *clone_pull_file (const struct clone_disk *d);

/* The instant clone (clone-pull.c). */
/* How many of C's disks its snapshot NAME names the copies of from the
 * start: all here; none on a remote host, where each is named once whole
 * (clone-remote.c). */
size_t clone_copies_at_start (const struct clone *c);
/* Make what is missing of C's files for an instant clone: each copy, a
 * thin volume over the snapshot's frozen volume, and each top; the
 * memory copy.  0 or -errno (logged). */
int clone_make_thin (struct clone *c);
/* An instant clone's job, with the clone's domain DOM: make what is
 * missing of its files and its snapshot (a daemon killed before), fill its
 * copies, then move its disks onto them.  0, -ESHUTDOWN (the daemon
 * stops) or -errno (logged). */
int clone_thin_job (struct clone *c, virDomainPtr dom);
/* Note where C's pull is (INFO), for the jobs file: of disk I; of the
 * disk under way (a helper_note_fn). */
void clone_show_pull (struct clone *c, size_t i,
                      const virDomainBlockJobInfo *info);
void clone_note_pull (void *c, const virDomainBlockJobInfo *info);

/* The bytes a whole copy of VOLUME (FORMAT) of H takes as qcow2, in *NEED:
 * on a remote host, its virtual size (no qemu-img measure there).  0 or
 * -errno. */
int clone_measure (struct host *h, const char *volume, const char *format,
                   uint64_t *need);

/* On a remote host (clone-remote.c): fill the copy of disk I of C, whose
 * domain is DOM, unless its snapshot NAME names it already, then define
 * NAME again naming it; move disk D of the shut-off clone V from its top
 * TOP onto its overlay, made over its copy, which is then the clone's
 * disk to define.  0, -ESHUTDOWN or -errno (logged). */
int clone_remote_pull (struct clone *c, virDomainPtr dom, size_t i);
int clone_remote_move (const struct vs_vm *v, const struct clone_disk *d,
                       const char *top);

/* An instant restore's job (clone-restore.c). */
/* Carry on restore C, whose server must run: 0, or -errno (logged; C is
 * the caller's). */
int clone_restore_carry (struct clone *c);
/* Stop the servers, left by daemons that were killed, of restores of H
 * (CONN) that no daemon runs and no VM is recorded as: cut short before
 * their VM was defined, or ended, or whose VM is gone. */
void clone_restore_sweep (struct host *h, virConnectPtr conn);

#endif /* VMSNAPFS_SNAPSHOT_CLONE_COPY_H */

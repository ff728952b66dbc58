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
  int lock; /* on the clone, against other daemons (vm_lock_take) */
};

/* Free C (NULL: nothing), its lock dropped. */
void clone_free (struct clone *c);

/* Register C and start its copy's worker, which frees it: 0, or -EIO
 * (logged; C is the caller's). */
int clone_copy_start (struct clone *c);

/* Remove what C made, and the clone itself (DOM, or NULL). */
void clone_roll_back (struct clone *c, virDomainPtr dom);

/* The bytes a whole copy of VOLUME (FORMAT) of H takes as qcow2, in *NEED:
 * on a remote host, its virtual size (no qemu-img measure there).  0 or
 * -errno. */
int clone_measure (struct host *h, const char *volume, const char *format,
                   uint64_t *need);

#endif /* VMSNAPFS_SNAPSHOT_CLONE_COPY_H */

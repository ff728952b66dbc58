/* vmsnapfs: volume chains, as qemu-img sees them.
 *
 * A chain is the list of images from a top volume down to its base, read
 * from `qemu-img info --output=json --backing-chain`.  This module knows
 * nothing of FUSE or libvirt.
 */
#ifndef VMSNAPFS_CHAIN_H
#define VMSNAPFS_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest chain accepted: deeper is taken as a loop or an attack. */
#define CHAIN_MAX_DEPTH 256
/* Most output of qemu-img info accepted, in bytes. */
#define CHAIN_MAX_JSON (16 * 1024 * 1024)

struct chain_image
{
  char *filename;       /* as qemu-img names it */
  char *format;         /* "qcow2", "raw", ... */
  uint64_t virtual_size;
  uint64_t actual_size; /* bytes used on the host; 0 when unknown */
  char *backing;        /* full name of the backing file, or NULL */
  char *backing_format; /* its format as recorded in the image, or NULL */
};

struct chain
{
  size_t n;                   /* at least 1 */
  struct chain_image *images; /* images[0] is the top, images[n-1] the base */
};

/* Parse and check LEN bytes of JSON from qemu-img into *OUT.  Each image's
 * backing file must be the next image.  Returns 0, or -EINVAL (not the
 * JSON of a chain), -ELOOP (an image repeats, or deeper than
 * CHAIN_MAX_DEPTH), -ENOENT (a backing file is missing from the chain), or
 * -EOVERFLOW (a size out of range). */
int chain_parse (const char *json, size_t len, struct chain **out);

/* Parse the JSON of one image (qemu-img info without --backing-chain) into
 * a chain of one image, whose backing file is named but not checked.
 * Returns 0, -EINVAL or -EOVERFLOW. */
int chain_parse_image (const char *json, size_t len, struct chain **out);

/* Run qemu-img on PATH, an absolute path of an image of FORMAT, and parse
 * its chain into *OUT: the whole chain with WHOLE, else PATH's image only
 * (quicker: its cost does not grow with the chain).  Reads with
 * force-share (-U), so images in use by a running VM can be read.  Returns
 * 0 or a negative errno (logged). */
int chain_probe (const char *path, const char *format, bool whole,
                 struct chain **out);

/* Free a chain; NULL is fine. */
void chain_free (struct chain *c);

#endif /* VMSNAPFS_CHAIN_H */

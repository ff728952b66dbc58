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
  char *filename; /* as qemu-img names it */
  char *format;   /* "qcow2", "raw", ... */
  uint64_t virtual_size;
  uint64_t actual_size; /* bytes used on the host; 0 when unknown */
  char *backing;        /* full name of the backing file, or NULL */
  char *backing_format; /* its format as recorded in the image, or NULL */
  bool own_data;        /* raw, or qcow2 with neither a separate data file
                           nor encryption: the offsets qemu-img map gives
                           for it are of plain bytes in its own file */
};

struct chain
{
  size_t n;                   /* at least 1 */
  struct chain_image *images; /* images[0] is the top, images[n-1] the base */
};

/* Parse and check LEN bytes of JSON from qemu-img into *OUT.  Each image's
 * backing file must be the next image, of the format the image records.
 * Returns 0, or -EINVAL (not the JSON of a chain), -ELOOP (an image repeats,
 * or deeper than CHAIN_MAX_DEPTH), -ENOENT (a backing file is missing from the
 * chain), or -EOVERFLOW (a size out of range). */
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

/* A copy of C from its image FROM (< C->n) down: the chain of that
 * image, since each image names its own backing file. */
struct chain *chain_tail (const struct chain *c, size_t from);

/* --- what a whole disk holds, for sparse reads --------------------------- */

/* Most extents accepted in a map: more is taken as an attack. */
#define MAP_MAX_EXTENTS (4 * 1024 * 1024)

/* A run of the flattened disk that reads as data, or as zeros (a hole). */
struct extent
{
  uint64_t start;
  uint64_t length;
  bool data;
};

/* Where a run of the flattened disk is stored, as qemu-img map reports it:
 * zeros, or plain bytes at OFFSET in the file of image DEPTH of the chain
 * (0 the top), or RUN_ELSEWHERE, data qemu gives no offset for (compressed
 * clusters, say), which only qemu can read. */
#define RUN_ZERO UINT32_MAX
#define RUN_ELSEWHERE (UINT32_MAX - 1)

struct run
{
  uint64_t start;
  uint64_t length;
  uint64_t offset;
  uint32_t depth; /* or RUN_ZERO, RUN_ELSEWHERE */
};

struct map
{
  size_t n;
  struct extent *extents; /* in order, contiguous from 0, neighbours of
                             different kinds */
  uint64_t size;          /* the end of the last extent */
  uint64_t data_bytes;    /* how much of it is data */
  size_t nruns;
  struct run *runs; /* in order, contiguous from 0, neighbours that
                       continue each other joined */
  uint32_t depths;  /* one more than the deepest DEPTH of a run */
  /* What the top image of the chain holds itself, data or zeros (qemu's
   * depth 0): what changed since the image below it was frozen.  As
   * EXTENTS, with DATA for "changed". */
  size_t nchanged;
  struct extent *changed;
  uint64_t changed_bytes;
};

/* Parse the JSON of `qemu-img map --output=json` into *OUT: what reads as
 * zeros is a hole, the rest data, and where it is stored.  Returns 0,
 * -EINVAL (not such JSON, or extents that are not contiguous from 0),
 * -EOVERFLOW or -E2BIG. */
int map_parse (const char *json, size_t len, struct map **out);

/* A copy of M. */
struct map *map_dup (const struct map *m);

/* The map of what changed in M's top image (M's CHANGED as extents, no
 * runs): a delta's holes and data, for map_seek. */
struct map *map_changes (const struct map *m);

/* Run qemu-img map on PATH, an image of FORMAT, through its backing chain,
 * with force-share.  Returns 0 or -errno (logged). */
int map_probe (const char *path, const char *format, struct map **out);

/* The first offset at or after OFF in DATA (true) or in a hole (false):
 * lseek's SEEK_DATA and SEEK_HOLE.  -ENXIO past the data, or OFF at or
 * past the end; the end of the map counts as a hole. */
int64_t map_seek (const struct map *m, uint64_t off, bool data);

/* The runs of M that [OFF, OFF + LEN) lies in: the first in *FIRST, the
 * count returned (OFF and OFF + LEN within the map). */
size_t map_runs (const struct map *m, uint64_t off, uint64_t len,
                 const struct run **first);

void map_free (struct map *m);

/* --- what one volume holds itself (volmap.c) ----------------------------- */

/* A run of a volume's guest offsets: not there (its backing file's),
 * zeros, plain bytes at OFFSET of its file, or data only qemu can read
 * (a compressed cluster). */
enum vseg_kind
{
  VSEG_UNALLOC,
  VSEG_ZERO,
  VSEG_DATA,
  VSEG_ELSEWHERE
};

struct vseg
{
  uint64_t start;
  uint64_t length;
  uint64_t offset; /* VSEG_DATA only */
  enum vseg_kind kind;
};

struct volmap
{
  int refs;          /* volcache.c's */
  uint64_t dev, ino; /* the file's, when read through volcache.c */
  uint64_t size;     /* virtual */
  size_t n;
  struct vseg *segs;    /* in order, contiguous from 0 to SIZE, neighbours
                           that continue each other joined */
  char *backing;        /* its backing file as the header names it, or NULL */
  char *backing_format; /* as the header records it, or NULL */
};

/* Read what the volume open on FD, of FORMAT ("qcow2" or "raw"), holds
 * itself into *OUT (REFS 0).  Returns 0, -ENOTSUP (qemu must read it:
 * extended L2, a data file, encryption, a dirty image...), -EINVAL (not a
 * valid image), -EOVERFLOW, -EIO. */
int volmap_read (int fd, const char *format, struct volmap **out);

/* The same, the header only: its size and backing file, no segments.
 * Returns 0 or -errno as volmap_read. */
int volmap_header (int fd, const char *format, struct volmap **out);

/* The chain of PATH, of FORMAT, as chain_probe gives it (WHOLE: through
 * its backing files), from the images' headers, with no process.
 * Returns 0, or -errno: -ENOTSUP where qemu must read an image (not
 * logged). */
int chain_read_headers (const char *path, const char *format, bool whole,
                        struct chain **out);

/* Add a segment to V (room for *CAP), joined to the last when it
 * continues it. */
void volmap_add (struct volmap *v, size_t *cap, uint64_t start, uint64_t len,
                 enum vseg_kind kind, uint64_t offset);

void volmap_free (struct volmap *v);

/* The map of the volume at PATH of FORMAT, read once for each state of
 * the file (device, inode, size, modification time) for the daemon's
 * life (volcache.c): a reference in *OUT, for volmap_put.  Returns 0 or
 * -errno as volmap_read; -ENOENT etc. when it cannot be opened. */
int volmap_get (const char *path, const char *format, struct volmap **out);
void volmap_put (struct volmap *v);

/* The state of a volume's file a map was read from (volcache.c). */
struct volstore_key
{
  uint64_t dev, ino, size;
  int64_t mtime_s, mtime_ns;
  bool raw; /* read as raw, else as qcow2 */
};

/* Keep volumes' maps in DIR (made 0700 when missing), in one log there,
 * across restarts; NULL: keep none.  Default: none; fs/main.c sets
 * VOLSTORE_DIR.  Maps unread for 30 days are left out of the log then. */
#define VOLSTORE_DIR "/var/cache/vmsnapfs/maps"
void volstore_set_dir (const char *dir);

/* The map kept for state K of a volume, or NULL (none, another state, or
 * a log not to be trusted: ignored). */
struct volmap *volstore_load (const struct volstore_key *k);

/* Keep V as the map of state K of its volume, appended to the log; on
 * failure, nothing kept (logged once). */
void volstore_save (const struct volstore_key *k, const struct volmap *v);

/* Forget every map read in memory (not those kept on disk): at exit, and
 * for tests. */
void volcache_forget (void);

/* The whole disk of the N volumes LAYERS (0 the top, each backed by the
 * next) as qemu-img map reports it, into *OUT: the union of their data, a
 * zero run of a layer hiding the layers below it, zeros past a backing
 * file's end, and where each run is stored.  Returns 0 or -EINVAL (no
 * layer). */
int map_compose (struct volmap *const *layers, size_t n, struct map **out);

/* The same, of the volume TOP over BELOW, the map of the whole disk of
 * TOP's backing file (as map_compose or qemu-img gave it): what map_compose
 * gives for TOP and the layers under it, with one volume's map read
 * instead of every one's.  Returns 0 or -EINVAL. */
int map_compose_over (const struct volmap *top, const struct map *below,
                      struct map **out);

/* The name qemu opens for the backing file of V, the volume at PATH
 * (malloc'd), or NULL when it has none or names a protocol. */
char *volmap_backing_path (const char *path, const struct volmap *v);

/* The map of the whole disk of PATH, of FORMAT, composed from its
 * volumes' own maps (volmap_get), following the backing files their
 * headers name.  Returns 0 or -errno: -ENOTSUP where qemu must read a
 * volume, -ELOOP, -EINVAL... (not logged). */
int map_compose_file (const char *path, const char *format, struct map **out);

/* The map of the whole disk of PATH, of FORMAT: composed from its
 * volumes' own maps (volmap_get), with no process; where a volume needs
 * qemu, from qemu-img map (map_probe).  Returns 0 or -errno (logged). */
int map_whole (const char *path, const char *format, struct map **out);

#endif /* VMSNAPFS_CHAIN_H */

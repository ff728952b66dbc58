/* vmsnapfs: what one volume holds itself, read from its own file: a qcow2
 * volume's L1 and L2 tables, a raw one's holes (SEEK_DATA, SEEK_HOLE).
 * map.c composes the volumes of a chain into a whole disk's map, as
 * `qemu-img map` reports it, without a process.
 *
 * The file is untrusted input (a guest may have made it, and anyone who
 * may write the pool): every offset and size read is checked against the
 * file and the format's limits.  Whatever qemu would read in a way this
 * parser does not (extended L2, an external data file, encryption, a
 * dirty or corrupt image, metadata preallocation, unknown features, a
 * backing file probed or behind a protocol) is -ENOTSUP: the caller asks
 * qemu-img instead. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "util.h"

#define QCOW2_MAGIC 0x514649fbU /* "QFI\xfb" */
#define QCOW2_V2_HEADER 72
#define QCOW2_V3_HEADER 104
#define EXT_END 0
#define EXT_BACKING_FORMAT 0xe2792acaU
/* Incompatible features this parser reads: the compression type only
 * (compressed clusters are data qemu gives no offset for, whatever their
 * type).  Dirty (0), corrupt (1), data file (2), extended L2 (4): qemu. */
#define INCOMPAT_COMPRESSION (1ULL << 3)
#define L1E_OFFSET 0x00fffffffffffe00ULL
#define L2E_OFFSET 0x00fffffffffffe00ULL
#define L2E_COMPRESSED (1ULL << 62)
#define L2E_ZERO 1ULL
#define REFT_OFFSET 0xfffffffffffffe00ULL
/* qemu's own limits: the L1 table (QCOW_MAX_L1_SIZE), a backing name,
 * the refcount table (QCOW_MAX_REFTABLE_SIZE). */
#define MAX_L1_BYTES (32 * 1024 * 1024)
#define MAX_BACKING_NAME 1023
#define MAX_REFTABLE_BYTES (8 * 1024 * 1024)
/* How much of the first cluster is read first. */
#define HEAD_GUESS 4096

static uint32_t
be32 (const unsigned char *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8
         | p[3];
}

static uint64_t
be64 (const unsigned char *p)
{
  return (uint64_t)be32 (p) << 32 | be32 (p + 4);
}

void
volmap_free (struct volmap *v)
{
  if (v == NULL)
    return;
  free (v->segs);
  free (v->backing);
  free (v->backing_format);
  free (v);
}

/* Add [START, START+LEN) of KIND stored at OFFSET to V, joining the last
 * segment when it continues it. */
void
volmap_add (struct volmap *v, size_t *cap, uint64_t start, uint64_t len,
            enum vseg_kind kind, uint64_t offset)
{
  struct vseg *last = v->n ? &v->segs[v->n - 1] : NULL;

  if (len == 0)
    return;
  if (last && last->kind == kind
      && (kind != VSEG_DATA || last->offset + last->length == offset))
    {
      last->length += len;
      return;
    }
  if (v->n == *cap)
    {
      *cap = *cap ? *cap * 2 : 16;
      v->segs = xrealloc (v->segs, *cap * sizeof *v->segs);
    }
  v->segs[v->n++]
      = (struct vseg){ start, len, kind == VSEG_DATA ? offset : 0, kind };
}

/* Read exactly LEN bytes at OFF of FD, all within its SIZE. */
static int
read_at (int fd, uint64_t size, void *buf, size_t len, uint64_t off)
{
  if (off > size || len > size - off)
    return -EINVAL;
  return pread_full (fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -EIO;
}

struct qcow2
{
  int fd;
  uint64_t file_size, file_blocks; /* bytes, 512-byte blocks allocated */
  uint32_t version, cluster_bits;
  uint64_t cs; /* cluster size */
  uint64_t size;
  uint32_t l1_size;
  uint64_t l1_offset, reft_offset;
  uint32_t reft_clusters, refcount_order;
  bool prealloc; /* qemu takes it for preallocated metadata */
};

/* The header's extensions, from OFF to the end of the first cluster
 * HEAD of LEN bytes: the backing file's format into V. */
static int
read_extensions (const unsigned char *head, size_t len, size_t off,
                 struct volmap *v)
{
  while (off + 8 <= len)
    {
      uint32_t type = be32 (head + off), elen = be32 (head + off + 4);

      off += 8;
      if (type == EXT_END)
        return 0;
      if (elen > len - off)
        return -EINVAL;
      if (type == EXT_BACKING_FORMAT && v->backing_format == NULL)
        {
          if (elen == 0 || memchr (head + off, '\0', elen) != NULL)
            return -EINVAL;
          v->backing_format = xmalloc (elen + 1);
          memcpy (v->backing_format, head + off, elen);
          v->backing_format[elen] = '\0';
        }
      off += ((uint64_t)elen + 7) & ~7ULL;
    }
  return -EINVAL; /* no end */
}

/* Parse the header of Q's file into Q and V (size, backing file). */
static int
read_header (struct qcow2 *q, struct volmap *v)
{
  unsigned char fixed[QCOW2_V3_HEADER + 8];
  CLEANUP_FREE unsigned char *head = NULL;
  uint64_t backing_off, incompat, hlen = QCOW2_V2_HEADER;
  uint32_t backing_len;
  size_t len;
  int r;

  if ((r = read_at (q->fd, q->file_size, fixed, QCOW2_V2_HEADER, 0)) < 0)
    return r;
  if (be32 (fixed) != QCOW2_MAGIC)
    return -EINVAL;
  q->version = be32 (fixed + 4);
  backing_off = be64 (fixed + 8);
  backing_len = be32 (fixed + 16);
  q->cluster_bits = be32 (fixed + 20);
  q->size = be64 (fixed + 24);
  q->l1_size = be32 (fixed + 36);
  q->l1_offset = be64 (fixed + 40);
  q->reft_offset = be64 (fixed + 48);
  q->reft_clusters = be32 (fixed + 56);
  q->refcount_order = 4;
  if (q->version != 2 && q->version != 3)
    return -ENOTSUP;
  if (q->cluster_bits < 9 || q->cluster_bits > 21)
    return -EINVAL;
  q->cs = 1ULL << q->cluster_bits;
  if (be32 (fixed + 32) != 0) /* encrypted */
    return -ENOTSUP;
  if (q->size > (uint64_t)INT64_MAX / 2)
    return -EOVERFLOW;
  if (q->version == 3)
    {
      if ((r = read_at (q->fd, q->file_size, fixed, QCOW2_V3_HEADER, 0)) < 0)
        return r;
      incompat = be64 (fixed + 72);
      q->refcount_order = be32 (fixed + 96);
      hlen = be32 (fixed + 100);
      if ((incompat & ~INCOMPAT_COMPRESSION) != 0)
        return -ENOTSUP;
      if (q->refcount_order > 6 || hlen < QCOW2_V3_HEADER || hlen > q->cs
          || hlen % 8 != 0)
        return -EINVAL;
    }
  /* The extensions and the backing file's name lie in the first cluster;
   * its first 4 KiB hold them all but in odd images (read whole then). */
  len = (size_t)(q->cs < q->file_size ? q->cs : q->file_size);
  if (len > HEAD_GUESS && backing_off + backing_len <= HEAD_GUESS)
    len = HEAD_GUESS;
  head = xmalloc (q->cs);
  if ((r = read_at (q->fd, q->file_size, head, len, 0)) < 0)
    return r;
  if (q->version == 3 && (r = read_extensions (head, len, hlen, v)) == -EINVAL
      && len < q->cs && len < q->file_size)
    {
      free (v->backing_format);
      v->backing_format = NULL;
      len = (size_t)(q->cs < q->file_size ? q->cs : q->file_size);
      if ((r = read_at (q->fd, q->file_size, head, len, 0)) == 0)
        r = read_extensions (head, len, hlen, v);
    }
  if (r < 0)
    return r;
  if (backing_off != 0)
    {
      if (backing_len == 0 || backing_len > MAX_BACKING_NAME
          || backing_off > len || backing_len > len - backing_off
          || memchr (head + backing_off, '\0', backing_len) != NULL)
        return -EINVAL;
      v->backing = xmalloc (backing_len + 1);
      memcpy (v->backing, head + backing_off, backing_len);
      v->backing[backing_len] = '\0';
    }
  v->size = q->size;
  return 0;
}

/* Whether qemu would take Q for an image with preallocated metadata
 * (qcow2_detect_metadata_preallocation): far more clusters in use than
 * the file has blocks.  It then reports a data cluster over a hole of the
 * file, or past its end, as zeros (add_data).  Returns 1, 0 or -errno. */
static int
check_preallocation (const struct qcow2 *q)
{
  uint64_t real_clusters = q->file_blocks * 512 / q->cs;
  uint64_t threshold = real_clusters * 10 / 9 > real_clusters + 2
                           ? real_clusters * 10 / 9
                           : real_clusters + 2;
  uint64_t end = (q->file_size + q->cs - 1) / q->cs, count = 0;
  uint64_t bits = 1ULL << q->refcount_order, per_block = q->cs * 8 / bits;
  uint64_t reft_bytes = (uint64_t)q->reft_clusters * q->cs;
  CLEANUP_FREE unsigned char *reft = NULL, *block = NULL;
  int r;

  if (end < threshold)
    return 0; /* not even every cluster of the file in use would do */
  if (q->reft_offset % q->cs != 0 || reft_bytes > MAX_REFTABLE_BYTES)
    return -EINVAL;
  reft = xmalloc (reft_bytes + 1);
  block = xmalloc (q->cs);
  if ((r = read_at (q->fd, q->file_size, reft, reft_bytes, q->reft_offset))
      < 0)
    return r;
  for (uint64_t i = 0; i < end && count < threshold; i += per_block)
    {
      uint64_t at = i / per_block, off;

      if (at >= reft_bytes / 8
          || (off = be64 (reft + at * 8) & REFT_OFFSET) == 0)
        continue; /* no refcount block: zeros */
      if (off % q->cs != 0
          || (r = read_at (q->fd, q->file_size, block, q->cs, off)) < 0)
        return off % q->cs != 0 ? -EINVAL : r;
      for (uint64_t j = 0; j < per_block && i + j < end; j++)
        {
          const unsigned char *p = block + j * bits / 8;
          bool used = false;

          /* Below a byte, packed from the low bits (qemu's
           * get_refcount_ro0..2); a byte or more: any byte set. */
          if (bits < 8)
            used = (*p >> (bits * (j % (8 / bits)))) & ((1U << bits) - 1);
          for (uint64_t b = 0; bits >= 8 && b < bits / 8; b++)
            used |= p[b] != 0;
          count += used;
        }
    }
  return count >= threshold;
}

/* A data cluster at guest offset AT, LEN bytes, stored at OFF of Q's
 * file, into V: with preallocated metadata, what lies over a hole of the
 * file or past its end as zeros, as qemu asks the file there. */
static int
add_data (const struct qcow2 *q, struct volmap *v, size_t *cap, uint64_t at,
          uint64_t len, uint64_t off)
{
  uint64_t end = off + len;

  if (!q->prealloc)
    {
      if (off >= q->file_size)
        return -ENOTSUP; /* past the end of the file: qemu's business */
      volmap_add (v, cap, at, len, VSEG_DATA, off);
      return 0;
    }
  while (off < end)
    {
      off_t data
          = off < q->file_size ? lseek (q->fd, (off_t)off, SEEK_DATA) : -1;
      uint64_t to;
      bool is_data;

      if (data < 0 && off < q->file_size && errno != ENXIO)
        return -ENOTSUP;
      is_data = data >= 0 && (uint64_t)data == off;
      if (is_data)
        {
          off_t hole = lseek (q->fd, (off_t)off, SEEK_HOLE);
          if (hole < 0)
            return -ENOTSUP;
          /* qemu rounds a run of data at the end up to a sector. */
          to = ((uint64_t)hole + 511) & ~511ULL;
        }
      else
        to = data >= 0 ? (uint64_t)data : end;
      if (to > end || to <= off)
        to = end;
      volmap_add (v, cap, at, to - off, is_data ? VSEG_DATA : VSEG_ZERO, off);
      at += to - off;
      off = to;
    }
  return 0;
}

/* One L2 entry at guest offset AT, LEN bytes, into V. */
static int
add_l2_entry (const struct qcow2 *q, struct volmap *v, size_t *cap,
              uint64_t entry, uint64_t at, uint64_t len)
{
  uint64_t off = entry & L2E_OFFSET;

  if (entry & L2E_COMPRESSED)
    volmap_add (v, cap, at, len, VSEG_ELSEWHERE, 0);
  else if (entry & L2E_ZERO)
    {
      if (q->version < 3)
        return -ENOTSUP;
      volmap_add (v, cap, at, len, VSEG_ZERO, 0);
    }
  else if (off == 0)
    volmap_add (v, cap, at, len, VSEG_UNALLOC, 0);
  else if (off % q->cs != 0)
    return -EINVAL;
  else
    return add_data (q, v, cap, at, len, off);
  return 0;
}

/* The L1 and L2 tables of Q into V's segments. */
static int
read_tables (const struct qcow2 *q, struct volmap *v)
{
  uint64_t per_l2 = q->cs / 8, span = q->cs * per_l2;
  uint64_t need = (q->size + span - 1) / span;
  CLEANUP_FREE unsigned char *l1 = NULL, *l2 = NULL;
  size_t cap = 0;
  int r;

  if (q->l1_size < need || (uint64_t)q->l1_size * 8 > MAX_L1_BYTES
      || (q->l1_size > 0 && q->l1_offset % q->cs != 0))
    return -EINVAL;
  l1 = xmalloc ((size_t)need * 8 + 1);
  l2 = xmalloc (q->cs);
  if ((r = read_at (q->fd, q->file_size, l1, need * 8, q->l1_offset)) < 0)
    return r;
  for (uint64_t i = 0; i < need; i++)
    {
      uint64_t base = i * span, l2_off = be64 (l1 + i * 8) & L1E_OFFSET;
      uint64_t in = q->size - base < span ? q->size - base : span;

      if (l2_off == 0)
        {
          volmap_add (v, &cap, base, in, VSEG_UNALLOC, 0);
          continue;
        }
      if (l2_off % q->cs != 0)
        return -EINVAL;
      if ((r = read_at (q->fd, q->file_size, l2, q->cs, l2_off)) < 0)
        return r;
      for (uint64_t j = 0; j * q->cs < in; j++)
        {
          uint64_t len = in - j * q->cs < q->cs ? in - j * q->cs : q->cs;

          if ((r = add_l2_entry (q, v, &cap, be64 (l2 + j * 8),
                                 base + j * q->cs, len))
              < 0)
            return r;
        }
    }
  return 0;
}

static int
read_qcow2 (int fd, const struct stat *st, struct volmap *v)
{
  struct qcow2 q = { .fd = fd,
                     .file_size = (uint64_t)st->st_size,
                     .file_blocks = (uint64_t)st->st_blocks };
  int r;

  if ((r = read_header (&q, v)) < 0 || (r = check_preallocation (&q)) < 0)
    return r;
  q.prealloc = r == 1;
  if (v->backing && v->backing_format == NULL)
    return -ENOTSUP; /* qemu would probe it */
  return read_tables (&q, v);
}

/* A raw file: its data and holes, as the file system tells them. */
static int
read_raw (int fd, const struct stat *st, struct volmap *v)
{
  uint64_t size = (uint64_t)st->st_size, at = 0;
  size_t cap = 0;

  if (size % 512 != 0)
    return -ENOTSUP; /* qemu rounds its size up to a sector */
  v->size = size;
  while (at < size)
    {
      off_t data = lseek (fd, (off_t)at, SEEK_DATA), hole;

      if (data < 0 && errno != ENXIO)
        return -ENOTSUP;
      if (data < 0 || (uint64_t)data >= size)
        data = (off_t)size;
      volmap_add (v, &cap, at, (uint64_t)data - at, VSEG_ZERO, 0);
      if ((uint64_t)data >= size)
        break;
      if ((hole = lseek (fd, data, SEEK_HOLE)) < 0)
        return -ENOTSUP;
      if ((uint64_t)hole > size)
        hole = (off_t)size;
      volmap_add (v, &cap, (uint64_t)data, (uint64_t)hole - (uint64_t)data,
                  VSEG_DATA, (uint64_t)data);
      at = (uint64_t)hole;
    }
  return 0;
}

int
volmap_header (int fd, const char *format, struct volmap **out)
{
  struct volmap *v = xcalloc (1, sizeof *v);
  struct stat st;
  int r = 0;

  *out = NULL;
  if (fstat (fd, &st) < 0)
    r = -errno;
  else if (!S_ISREG (st.st_mode))
    r = -ENOTSUP;
  else if (strcmp (format, "qcow2") == 0)
    {
      struct qcow2 q = { .fd = fd, .file_size = (uint64_t)st.st_size };

      if ((r = read_header (&q, v)) == 0 && v->backing
          && v->backing_format == NULL)
        r = -ENOTSUP; /* qemu would probe it */
    }
  else if (strcmp (format, "raw") == 0 && st.st_size % 512 == 0)
    v->size = (uint64_t)st.st_size;
  else
    r = -ENOTSUP;
  if (r < 0)
    {
      volmap_free (v);
      return r;
    }
  *out = v;
  return 0;
}

int
volmap_read (int fd, const char *format, struct volmap **out)
{
  struct volmap *v = xcalloc (1, sizeof *v);
  struct stat st;
  int r;

  *out = NULL;
  if (fstat (fd, &st) < 0)
    r = -errno;
  else if (!S_ISREG (st.st_mode))
    r = -ENOTSUP;
  else if (strcmp (format, "qcow2") == 0)
    r = read_qcow2 (fd, &st, v);
  else if (strcmp (format, "raw") == 0)
    r = read_raw (fd, &st, v);
  else
    r = -ENOTSUP;
  if (r == 0 && v->n == 0 && v->size != 0)
    r = -EINVAL;
  if (r < 0)
    {
      volmap_free (v);
      return r;
    }
  *out = v;
  return 0;
}

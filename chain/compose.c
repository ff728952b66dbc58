/* vmsnapfs: a whole disk's map composed from the maps of its volumes
 * (volmap.c), as `qemu-img map` would report it, with no process: the
 * first walk of a fleet stats thousands of whole disks.
 *
 * For each offset, qemu asks the top image, then each backing file in
 * turn, until one holds data or zeros there: that one's depth.  An image
 * with no backing file reads as zeros where it holds nothing, and so does
 * an image past its backing file's end (qemu's bdrv_co_do_block_status):
 * both at that image's depth. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include "chain.h"
#include "cleanup.h"
#include "log.h"
#include "map-internal.h"
#include "util.h"

/* The segment of V holding OFF (< V->size). */
static const struct vseg *
find_seg (const struct volmap *v, uint64_t off)
{
  size_t lo = 0, hi = v->n;

  while (hi - lo > 1)
    {
      size_t mid = (lo + hi) / 2;

      if (v->segs[mid].start <= off)
        lo = mid;
      else
        hi = mid;
    }
  return &v->segs[lo];
}

/* Whether V's segments cover [0, V->size) in order. */
static bool
well_formed (const struct volmap *v)
{
  uint64_t at = 0;

  for (size_t i = 0; i < v->n; i++)
    {
      if (v->segs[i].start != at || v->segs[i].length == 0
          || v->segs[i].length > v->size - at)
        return false;
      at += v->segs[i].length;
    }
  return at == v->size;
}

int
map_compose (struct volmap *const *layers, size_t n, struct map **out)
{
  struct map_caps caps = { 0, 0, 0 };
  struct map *m;
  uint64_t end;

  *out = NULL;
  if (n == 0 || n > CHAIN_MAX_DEPTH || layers[0]->size == 0)
    return -EINVAL;
  for (size_t d = 0; d < n; d++)
    if (!well_formed (layers[d]))
      return -EINVAL;
  end = layers[0]->size;
  m = xcalloc (1, sizeof *m);
  while (m->size < end)
    {
      uint64_t at = m->size, len = end - at, offset = 0;
      uint32_t depth = 0;
      enum vseg_kind kind = VSEG_ZERO;

      for (size_t d = 0; d < n; d++)
        {
          const struct vseg *s;

          if (at >= layers[d]->size)
            {
              depth = (uint32_t)d - 1; /* past its backing file's end */
              break;
            }
          s = find_seg (layers[d], at);
          if (s->start + s->length - at < len)
            len = s->start + s->length - at;
          depth = (uint32_t)d;
          if (s->kind != VSEG_UNALLOC)
            {
              kind = s->kind;
              offset = s->offset + (at - s->start);
              break;
            }
        }
      map_append (m, &caps, len, kind == VSEG_DATA || kind == VSEG_ELSEWHERE,
                  kind == VSEG_DATA        ? depth
                  : kind == VSEG_ELSEWHERE ? RUN_ELSEWHERE
                                           : RUN_ZERO,
                  offset, depth == 0);
    }
  *out = m;
  return 0;
}

/* The name qemu opens for the backing file BACKING of the image at PATH
 * (its path_combine): BACKING itself when absolute, else beside PATH.
 * NULL for a protocol ("nbd:...", "json:{...}"). */
static char *
backing_path (const char *path, const char *backing)
{
  const char *slash = strchr (backing, '/'), *colon = strchr (backing, ':');
  const char *dir_end = strrchr (path, '/');

  if (backing[0] == '/')
    return xstrdup (backing);
  if (colon && (slash == NULL || colon < slash))
    return NULL;
  return xasprintf ("%.*s%s", (int)(dir_end ? dir_end - path + 1 : 0), path,
                    backing);
}

char *
volmap_backing_path (const char *path, const struct volmap *v)
{
  return v->backing ? backing_path (path, v->backing) : NULL;
}

int
map_compose_over (const struct volmap *top, const struct map *below,
                  struct map **out)
{
  struct map_caps caps = { 0, 0, 0 };
  struct map *m;

  *out = NULL;
  if (top->size == 0 || !well_formed (top))
    return -EINVAL;
  m = xcalloc (1, sizeof *m);
  for (size_t i = 0; i < top->n; i++)
    {
      const struct vseg *s = &top->segs[i];
      uint64_t end = s->start + s->length;

      if (s->kind != VSEG_UNALLOC)
        {
          /* Its own, as map_compose appends a run found at depth 0. */
          map_append (m, &caps, s->length,
                      s->kind == VSEG_DATA || s->kind == VSEG_ELSEWHERE,
                      s->kind == VSEG_DATA        ? 0
                      : s->kind == VSEG_ELSEWHERE ? RUN_ELSEWHERE
                                                  : RUN_ZERO,
                      s->offset, true);
          continue;
        }
      /* The backing file's, one level deeper. */
      for (uint64_t at = s->start; at < end && at < below->size;)
        {
          const struct run *r;
          uint64_t len;

          map_runs (below, at, 1, &r);
          len = r->start + r->length - at;
          if (len > end - at)
            len = end - at;
          map_append (m, &caps, len, r->depth != RUN_ZERO,
                      r->depth < RUN_ELSEWHERE ? r->depth + 1 : r->depth,
                      r->offset + (at - r->start), false);
          at += len;
        }
      /* Past the backing file's end: zeros, of its own. */
      if (end > below->size && m->size < end)
        map_append (m, &caps, end - m->size, false, RUN_ZERO, 0, true);
    }
  *out = m;
  return 0;
}

/* The volumes of the chain of PATH, of FORMAT, into LAYERS (room for
 * CHAIN_MAX_DEPTH): their count, or -errno. */
static int
get_layers (const char *path, const char *format, struct volmap **layers)
{
  CLEANUP_FREE char *next = xstrdup (path);
  CLEANUP_FREE char *next_format = xstrdup (format);
  size_t n = 0;
  int r = 0;

  while (next && r == 0)
    {
      struct volmap *v;
      char *p, *f;

      if (n == CHAIN_MAX_DEPTH)
        r = -ELOOP;
      else if ((r = volmap_get (next, next_format, &v)) == 0)
        {
          layers[n++] = v;
          for (size_t i = 0; i + 1 < n; i++)
            if (layers[i]->dev == v->dev && layers[i]->ino == v->ino)
              r = -ELOOP;
          p = v->backing ? backing_path (next, v->backing) : NULL;
          f = v->backing_format ? xstrdup (v->backing_format) : NULL;
          if (v->backing && p == NULL)
            r = -ENOTSUP;
          free (next);
          free (next_format);
          next = p;
          next_format = f;
        }
    }
  if (r < 0)
    {
      while (n > 0)
        volmap_put (layers[--n]);
      return r;
    }
  return (int)n;
}

int
map_compose_file (const char *path, const char *format, struct map **out)
{
  struct volmap *layers[CHAIN_MAX_DEPTH] = { NULL };
  int n, r;

  *out = NULL;
  if (path == NULL || path[0] != '/' || format == NULL)
    return -EINVAL;
  if ((n = get_layers (path, format, layers)) < 0)
    return n;
  r = map_compose (layers, (size_t)n, out);
  for (int i = 0; i < n; i++)
    volmap_put (layers[i]);
  return r;
}

int
map_whole (const char *path, const char *format, struct map **out)
{
  int r = map_compose_file (path, format, out);

  if (r == 0)
    return 0;
  log_info ("The map of '%s' is asked of qemu-img: %s.", path, strerror (-r));
  return map_probe (path, format, out);
}

int
chain_read_headers (const char *path, const char *format, bool whole,
                    struct chain **out)
{
  struct chain *c = xcalloc (1, sizeof *c);
  char *next = xstrdup (path), *next_format = xstrdup (format);
  dev_t devs[CHAIN_MAX_DEPTH];
  ino_t inos[CHAIN_MAX_DEPTH];
  int r = 0;

  *out = NULL;
  c->images = xcalloc (CHAIN_MAX_DEPTH, sizeof *c->images);
  while (next && r == 0)
    {
      struct chain_image *img = &c->images[c->n];
      struct volmap *v = NULL;
      struct stat st;
      int fd;

      if (c->n == CHAIN_MAX_DEPTH)
        {
          r = -ELOOP;
          break;
        }
      img->filename = next;
      img->format = next_format;
      next = next_format = NULL;
      c->n++;
      if ((fd = open (img->filename, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
        r = -errno;
      else
        {
          if (fstat (fd, &st) < 0)
            r = -errno;
          else
            r = volmap_header (fd, img->format, &v);
          close (fd);
        }
      if (r < 0)
        break;
      devs[c->n - 1] = st.st_dev;
      inos[c->n - 1] = st.st_ino;
      for (size_t i = 0; i + 1 < c->n; i++)
        if (devs[i] == st.st_dev && inos[i] == st.st_ino)
          r = -ELOOP;
      img->virtual_size = v->size;
      img->actual_size = (uint64_t)st.st_blocks * 512;
      img->own_data = true; /* else volmap_header refused it */
      if (v->backing)
        {
          if ((img->backing = backing_path (img->filename, v->backing))
              == NULL)
            r = -ENOTSUP;
          img->backing_format = xstrdup (v->backing_format);
          if (whole && r == 0)
            {
              next = xstrdup (img->backing);
              next_format = xstrdup (img->backing_format);
            }
        }
      volmap_free (v);
    }
  free (next);
  free (next_format);
  if (r < 0)
    {
      chain_free (c);
      return r;
    }
  *out = c;
  return 0;
}

/* vmsnapfs: which parts of a whole disk are data and which are holes, from
 * `qemu-img map`: qemu's own block layer reads the chain, not a parser of
 * ours.  The JSON is checked as untrusted input. */
#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <string.h>

#include "chain.h"
#include "map-internal.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"

/* Mapping a chain reads its metadata only: a minute means a hang. */
#define MAP_TIMEOUT_MS 60000
/* Most JSON accepted: about 100 bytes an extent. */
#define MAP_MAX_JSON ((size_t) MAP_MAX_EXTENTS * 128)

void
map_free (struct map *m)
{
  if (m == NULL)
    return;
  free (m->extents);
  free (m->runs);
  free (m->changed);
  free (m);
}

struct map *
map_dup (const struct map *m)
{
  struct map *d = xmalloc (sizeof *d);

  *d = *m;
  d->extents = xmalloc (m->n * sizeof *m->extents + 1);
  memcpy (d->extents, m->extents, m->n * sizeof *m->extents);
  d->runs = xmalloc (m->nruns * sizeof *m->runs + 1);
  memcpy (d->runs, m->runs, m->nruns * sizeof *m->runs);
  d->changed = xmalloc (m->nchanged * sizeof *m->changed + 1);
  memcpy (d->changed, m->changed, m->nchanged * sizeof *m->changed);
  return d;
}

struct map *
map_changes (const struct map *m)
{
  struct map *d = xcalloc (1, sizeof *d);

  d->n = m->nchanged;
  d->extents = xmalloc (m->nchanged * sizeof *m->changed + 1);
  memcpy (d->extents, m->changed, m->nchanged * sizeof *m->changed);
  d->size = m->size;
  d->data_bytes = m->changed_bytes;
  return d;
}

/* A member KEY of OBJ of TYPE, or NULL. */
static json_object *
member (json_object *obj, const char *key, json_type type)
{
  json_object *v;

  if (!json_object_object_get_ex (obj, key, &v) || v == NULL
      || !json_object_is_type (v, type))
    return NULL;
  return v;
}

static int
get_u64 (json_object *obj, const char *key, uint64_t *out)
{
  json_object *v = member (obj, key, json_type_int);

  if (v == NULL)
    return -EINVAL;
  if (json_object_get_int64 (v) < 0
      || json_object_get_uint64 (v) > (uint64_t) INT64_MAX)
    return -EOVERFLOW;
  *out = json_object_get_uint64 (v);
  return 0;
}

/* Add [START, START+LEN) of kind DATA to the list *V of *N (room for
 * *CAP), joining a neighbour of the same kind; count data in *BYTES. */
static void
add_extent (struct extent **v, size_t *n, size_t *cap, uint64_t *bytes,
            uint64_t start, uint64_t len, bool data)
{
  struct extent *last = *n ? &(*v)[*n - 1] : NULL;

  if (data)
    *bytes += len;
  if (last && last->data == data)
    last->length += len;
  else
    {
      if (*n == *cap)
        {
          *cap = *cap ? *cap * 2 : 16;
          *v = xrealloc (*v, *cap * sizeof **v);
        }
      (*v)[(*n)++] = (struct extent){ start, len, data };
    }
}

/* Add the run [START, START+LEN) stored at OFFSET of DEPTH to M, joining
 * the last run when it continues it. */
static void
add_run (struct map *m, size_t *cap, uint64_t start, uint64_t len,
         uint32_t depth, uint64_t offset)
{
  struct run *last = m->nruns ? &m->runs[m->nruns - 1] : NULL;

  if (depth < RUN_ELSEWHERE && depth >= m->depths)
    m->depths = depth + 1;
  if (last && last->depth == depth
      && (depth >= RUN_ELSEWHERE || last->offset + last->length == offset))
    {
      last->length += len;
      return;
    }
  if (m->nruns == *cap)
    {
      *cap = *cap ? *cap * 2 : 16;
      m->runs = xrealloc (m->runs, *cap * sizeof *m->runs);
    }
  m->runs[m->nruns++] = (struct run){ start, len, offset, depth };
}

void
map_append (struct map *m, struct map_caps *caps, uint64_t len, bool data,
            uint32_t depth, uint64_t offset, bool in_top)
{
  add_run (m, &caps->runs, m->size, len, depth, offset);
  add_extent (&m->extents, &m->n, &caps->extents, &m->data_bytes, m->size,
              len, data);
  add_extent (&m->changed, &m->nchanged, &caps->changed, &m->changed_bytes,
              m->size, len, in_top);
  m->size += len;
}

/* Where the extent E of the disk is stored: *DEPTH and *OFFSET. */
static int
get_place (json_object *e, bool zero, uint32_t *depth, uint64_t *offset)
{
  uint64_t d;
  int r;

  *depth = zero ? RUN_ZERO : RUN_ELSEWHERE;
  *offset = 0;
  if (zero || !json_object_object_get_ex (e, "offset", NULL))
    return 0;
  if ((r = get_u64 (e, "offset", offset)) < 0
      || (r = get_u64 (e, "depth", &d)) < 0)
    return r;
  if (d >= CHAIN_MAX_DEPTH)
    return -EINVAL;
  *depth = (uint32_t) d;
  return 0;
}

/* Whether qemu says the top image holds extent E itself (depth 0), data
 * or zeros. */
static bool
in_top (json_object *e)
{
  json_object *d = member (e, "depth", json_type_int);

  return d != NULL && json_object_get_int64 (d) == 0;
}

int
map_parse (const char *json, size_t len, struct map **out)
{
  json_tokener *tok;
  json_object *root;
  struct map *m;
  struct map_caps caps = { 0, 0, 0 };
  size_t n;
  int r = 0;

  *out = NULL;
  if (json == NULL || len == 0 || len > MAP_MAX_JSON || len > INT32_MAX)
    return -EINVAL;
  tok = json_tokener_new ();
  root = json_tokener_parse_ex (tok, json, (int) len);
  json_tokener_free (tok);
  if (root == NULL || !json_object_is_type (root, json_type_array))
    {
      json_object_put (root);
      return -EINVAL;
    }
  n = json_object_array_length (root);
  if (n > MAP_MAX_EXTENTS)
    {
      json_object_put (root);
      return -E2BIG;
    }
  m = xcalloc (1, sizeof *m);
  for (size_t i = 0; i < n && r == 0; i++)
    {
      json_object *e = json_object_array_get_idx (root, i);
      json_object *zero;
      uint64_t start, length, offset;
      uint32_t depth;

      if (!json_object_is_type (e, json_type_object)
          || (zero = member (e, "zero", json_type_boolean)) == NULL)
        r = -EINVAL;
      else if ((r = get_u64 (e, "start", &start)) < 0
               || (r = get_u64 (e, "length", &length)) < 0)
        ;
      else if (start != m->size || length == 0
               || length > (uint64_t) INT64_MAX - start)
        r = start != m->size || length == 0 ? -EINVAL : -EOVERFLOW;
      else if ((r = get_place (e, json_object_get_boolean (zero), &depth,
                               &offset))
               < 0)
        ;
      else if (depth < RUN_ELSEWHERE
               && length > (uint64_t) INT64_MAX - offset)
        r = -EOVERFLOW;
      else
        map_append (m, &caps, length, !json_object_get_boolean (zero),
                    depth, offset, in_top (e));
    }
  json_object_put (root);
  if (r == 0 && m->n == 0)
    r = -EINVAL;
  if (r < 0)
    {
      map_free (m);
      return r;
    }
  *out = m;
  return 0;
}

int
map_probe (const char *path, const char *format, struct map **out)
{
  CLEANUP_FREE char *json = NULL;
  size_t len;
  int r;

  *out = NULL;
  if (path == NULL || path[0] != '/' || format == NULL || format[0] == '\0'
      || format[0] == '-')
    return -EINVAL;
  const char *argv[] = { "qemu-img", "map", "--output=json", "-U",
                         "-f", format, path, NULL };
  if ((r = run_capture (argv, MAP_MAX_JSON, MAP_TIMEOUT_MS, &json, &len,
                        NULL))
      < 0)
    return r;
  if ((r = map_parse (json, len, out)) < 0)
    log_error ("The map of '%s' from qemu-img is not valid: %s.", path,
               strerror (-r));
  return r;
}

/* The index of the item holding OFF among N items in order from 0, each
 * SIZE bytes long and starting with its start (an extent, a run). */
static size_t
find_item (const void *items, size_t n, size_t size, uint64_t off)
{
  size_t lo = 0, hi = n;

  while (hi - lo > 1)
    {
      size_t mid = (lo + hi) / 2;
      uint64_t start;

      memcpy (&start, (const char *) items + mid * size, sizeof start);
      if (start <= off)
        lo = mid;
      else
        hi = mid;
    }
  return lo;
}

_Static_assert (offsetof (struct extent, start) == 0, "find_item");
_Static_assert (offsetof (struct run, start) == 0, "find_item");

int64_t
map_seek (const struct map *m, uint64_t off, bool data)
{
  size_t at;

  if (off >= m->size)
    return -ENXIO;
  at = find_item (m->extents, m->n, sizeof *m->extents, off);
  for (size_t i = at; i < m->n; i++)
    if (m->extents[i].data == data)
      return (int64_t) (i == at ? off : m->extents[i].start);
  return data ? -ENXIO : (int64_t) m->size;
}

size_t
map_runs (const struct map *m, uint64_t off, uint64_t len,
          const struct run **first)
{
  size_t at = find_item (m->runs, m->nruns, sizeof *m->runs, off), n = 0;

  *first = &m->runs[at];
  while (at + n < m->nruns && m->runs[at + n].start < off + len)
    n++;
  return n;
}

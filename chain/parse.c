/* vmsnapfs: parse the JSON of `qemu-img info --backing-chain`.
 *
 * The input is untrusted (an image's header names its backing file), so the
 * parser checks everything it keeps: types, ranges, and that the images
 * form one chain with no loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

#include "chain.h"
#include "util.h"

void
chain_free (struct chain *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n; i++)
    {
      free (c->images[i].filename);
      free (c->images[i].format);
      free (c->images[i].backing);
      free (c->images[i].backing_format);
    }
  free (c->images);
  free (c);
}

struct chain *
chain_tail (const struct chain *c, size_t from)
{
  struct chain *t = xcalloc (1, sizeof *t);

  t->images = xcalloc (c->n - from, sizeof *t->images);
  for (size_t i = from; i < c->n; i++, t->n++)
    {
      const struct chain_image *s = &c->images[i];
      struct chain_image *d = &t->images[t->n];

      *d = *s;
      d->filename = xstrdup (s->filename);
      d->format = xstrdup (s->format);
      d->backing = xstrdup_null (s->backing);
      d->backing_format = xstrdup_null (s->backing_format);
    }
  return t;
}

/* Copy the string member KEY of OBJ into *OUT.  A missing member gives
 * *OUT = NULL and 0 unless REQUIRED; an empty string, a non-string or one
 * with a NUL inside gives -EINVAL. */
static int
get_string (json_object *obj, const char *key, bool required, char **out)
{
  json_object *v;
  const char *s;

  *out = NULL;
  if (!json_object_object_get_ex (obj, key, &v) || v == NULL)
    return required ? -EINVAL : 0;
  if (!json_object_is_type (v, json_type_string))
    return -EINVAL;
  s = json_object_get_string (v);
  if (s[0] == '\0' || strlen (s) != (size_t)json_object_get_string_len (v))
    return -EINVAL;
  *out = xstrdup (s);
  return 0;
}

/* Read the size member KEY of OBJ: a JSON integer from 0 to INT64_MAX. */
static int
get_size (json_object *obj, const char *key, bool required, uint64_t *out)
{
  json_object *v;

  *out = 0;
  if (!json_object_object_get_ex (obj, key, &v) || v == NULL)
    return required ? -EINVAL : 0;
  if (!json_object_is_type (v, json_type_int))
    return -EINVAL;
  /* json-c keeps integers above INT64_MAX as unsigned; reject them and
   * negative ones alike. */
  if (json_object_get_int64 (v) < 0
      || json_object_get_uint64 (v) > (uint64_t)INT64_MAX)
    return -EOVERFLOW;
  *out = json_object_get_uint64 (v);
  return 0;
}

/* Whether the image OBJ of FORMAT keeps plain bytes in its own file at the
 * offsets qemu-img map reports: raw, or qcow2 with no separate data file,
 * not encrypted.  Anything else, or anything unclear, is no. */
static bool
own_data (json_object *obj, const char *format)
{
  json_object *v, *spec, *data;

  if (json_object_object_get_ex (obj, "encrypted", &v)
      && (!json_object_is_type (v, json_type_boolean)
          || json_object_get_boolean (v)))
    return false;
  if (strcmp (format, "raw") == 0)
    return true;
  if (strcmp (format, "qcow2") != 0)
    return false;
  if (!json_object_object_get_ex (obj, "format-specific", &spec))
    return true; /* qemu-img too old to have data files */
  if (!json_object_is_type (spec, json_type_object)
      || !json_object_object_get_ex (spec, "data", &data)
      || !json_object_is_type (data, json_type_object))
    return false;
  return !json_object_object_get_ex (data, "data-file", &v)
         && !json_object_object_get_ex (data, "encrypt", &v);
}

static int
parse_image (json_object *obj, struct chain_image *img)
{
  int r;

  if (!json_object_is_type (obj, json_type_object))
    return -EINVAL;
  if ((r = get_string (obj, "filename", true, &img->filename)) < 0
      || (r = get_string (obj, "format", true, &img->format)) < 0
      || (r = get_size (obj, "virtual-size", true, &img->virtual_size)) < 0
      || (r = get_size (obj, "actual-size", false, &img->actual_size)) < 0
      || (r = get_string (obj, "full-backing-filename", false, &img->backing))
             < 0
      || (r = get_string (obj, "backing-filename-format", false,
                          &img->backing_format))
             < 0)
    return r;
  /* Older qemu-img gives only backing-filename. */
  if (img->backing == NULL)
    r = get_string (obj, "backing-filename", false, &img->backing);
  img->own_data = own_data (obj, img->format);
  return r;
}

/* Check that the images form one chain: each one's backing file is the next
 * image, of the format recorded in it, the base has none, and no image
 * appears twice. */
static int
check_links (const struct chain *c)
{
  for (size_t i = 0; i < c->n; i++)
    {
      const struct chain_image *img = &c->images[i];

      for (size_t j = 0; j < i; j++)
        if (strcmp (c->images[j].filename, img->filename) == 0)
          return -ELOOP;
      if (img->backing == NULL)
        {
          if (i + 1 != c->n)
            return -EINVAL; /* images below a base */
          continue;
        }
      if (i + 1 == c->n)
        return -ENOENT; /* the backing file was not found */
      if (strcmp (img->backing, c->images[i + 1].filename) != 0)
        return -EINVAL;
      /* A backing file of no recorded format was probed: qemu read its
       * first bytes, which a guest may have written, as a header. */
      if (img->backing_format == NULL
          || strcmp (img->backing_format, c->images[i + 1].format) != 0)
        return -EINVAL;
    }
  return 0;
}

/* Parse LEN bytes of JSON, all of it, into *ROOT. */
static int
parse_json (const char *json, size_t len, json_object **root)
{
  json_tokener *tok;
  int r = 0;

  *root = NULL;
  if (json == NULL || len == 0 || len > CHAIN_MAX_JSON)
    return -EINVAL;
  tok = json_tokener_new ();
  if (tok == NULL)
    return -ENOMEM;
  *root = json_tokener_parse_ex (tok, json, (int)len);
  if (*root == NULL || json_tokener_get_error (tok) != json_tokener_success)
    r = -EINVAL;
  else
    {
      /* Nothing but white space may follow. */
      for (size_t i = json_tokener_get_parse_end (tok); i < len; i++)
        if (!strchr (" \t\r\n", json[i]))
          r = -EINVAL;
    }
  json_tokener_free (tok);
  if (r < 0)
    {
      json_object_put (*root);
      *root = NULL;
    }
  return r;
}

/* Parse the N image objects of ITEMS (an array, or one object when
 * N == 1 and it is not an array) into *OUT; CHECK the links between them. */
static int
parse_images (json_object *items, size_t n, bool check, struct chain **out)
{
  struct chain *c = xcalloc (1, sizeof *c);
  bool array = json_object_is_type (items, json_type_array);
  int r = 0;

  c->images = xcalloc (n, sizeof *c->images);
  c->n = n;
  for (size_t i = 0; i < n && r == 0; i++)
    r = parse_image (array ? json_object_array_get_idx (items, i) : items,
                     &c->images[i]);
  if (r == 0 && check)
    r = check_links (c);
  if (r == 0)
    *out = c;
  else
    chain_free (c);
  return r;
}

int
chain_parse_image (const char *json, size_t len, struct chain **out)
{
  json_object *root;
  int r;

  *out = NULL;
  if ((r = parse_json (json, len, &root)) < 0)
    return r;
  r = json_object_is_type (root, json_type_object)
          ? parse_images (root, 1, false, out)
          : -EINVAL;
  json_object_put (root);
  return r;
}

int
chain_parse (const char *json, size_t len, struct chain **out)
{
  json_object *root;
  size_t n;
  int r;

  *out = NULL;
  if ((r = parse_json (json, len, &root)) < 0)
    return r;

  if (!json_object_is_type (root, json_type_array)
      || (n = json_object_array_length (root)) == 0)
    {
      r = -EINVAL;
      goto out;
    }
  if (n > CHAIN_MAX_DEPTH)
    {
      r = -ELOOP;
      goto out;
    }

  r = parse_images (root, n, true, out);

out:
  json_object_put (root);
  return r;
}

/* vmsnapfs: the kernel's inodes (see inodes.h).
 *
 * An inode is a name in its parent; its node id is its address (the root
 * is FUSE's id 1).  A table hashes the named ones by parent and name.  An
 * inode holds a reference on its parent, so that a path can always be
 * built from it, and is freed when the kernel has forgotten it and no
 * inode below it remains.  Each knows its children, so that what is below
 * a VM is found without a look at the rest (a drop, at each change of a
 * VM, must not cost more with more VMs).  One lock, table_lock, guards it all;
 * it is held briefly and calls nothing outside this file.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "inodes.h"
#include "util.h"

#define ROOT_ID 1 /* FUSE_ROOT_ID */

struct inode
{
  struct inode *parent; /* NULL for the root */
  char *name;           /* NULL once unhashed */
  mode_t type;
  uint64_t nlookup;                  /* the kernel's lookups */
  uint64_t born;                     /* see inodes_lookup */
  struct inode *next;                /* in its hash chain */
  struct inode *first_child;         /* inodes whose parent this is */
  struct inode *prev_sib, *next_sib; /* among the parent's children */
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct inode root = { .type = S_IFDIR, .nlookup = 1 };
static struct inode **buckets;
static size_t nbuckets, hashed, count;

static struct inode *
from_id (uint64_t id)
{
  return id == ROOT_ID ? &root : (struct inode *)(uintptr_t)id;
}

static uint64_t
to_id (const struct inode *i)
{
  return i == &root ? ROOT_ID : (uint64_t)(uintptr_t)i;
}

static size_t
bucket_of (const struct inode *parent, const char *name)
{
  uint64_t h = 14695981039346656037ULL ^ (uintptr_t)parent;

  for (const char *p = name; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  return h % nbuckets;
}

static struct inode **
find (const struct inode *parent, const char *name)
{
  struct inode **p;

  if (nbuckets == 0)
    return NULL;
  for (p = &buckets[bucket_of (parent, name)]; *p; p = &(*p)->next)
    if ((*p)->parent == parent && strcmp ((*p)->name, name) == 0)
      return p;
  return NULL;
}

static void
insert (struct inode *i)
{
  size_t b;

  if (hashed + 1 > nbuckets)
    {
      size_t old = nbuckets;
      struct inode **was = buckets;

      nbuckets = old ? old * 2 : 1024;
      buckets = xcalloc (nbuckets, sizeof *buckets);
      for (size_t k = 0; k < old; k++)
        for (struct inode *j = was[k], *next; j; j = next)
          {
            next = j->next;
            b = bucket_of (j->parent, j->name);
            j->next = buckets[b];
            buckets[b] = j;
          }
      free (was);
    }
  b = bucket_of (i->parent, i->name);
  i->next = buckets[b];
  buckets[b] = i;
  hashed++;
}

/* Make I a child of PARENT. */
static void
adopt (struct inode *parent, struct inode *i)
{
  i->parent = parent;
  i->prev_sib = NULL;
  i->next_sib = parent->first_child;
  if (parent->first_child)
    parent->first_child->prev_sib = i;
  parent->first_child = i;
}

/* Take I out of its parent's children; it keeps the pointer to it. */
static void
disown (struct inode *i)
{
  if (i->prev_sib)
    i->prev_sib->next_sib = i->next_sib;
  else
    i->parent->first_child = i->next_sib;
  if (i->next_sib)
    i->next_sib->prev_sib = i->prev_sib;
}

/* The inode after I in a walk of TOP and what is below it (TOP first,
 * each parent before its children), or NULL at the end. */
static struct inode *
walk_next (struct inode *i, const struct inode *top)
{
  if (i->first_child)
    return i->first_child;
  for (; i != top; i = i->parent)
    if (i->next_sib)
      return i->next_sib;
  return NULL;
}

/* Take the inode at *P out of the table; it keeps its parent. */
static void
unhash_at (struct inode **p)
{
  struct inode *i = *p;

  *p = i->next;
  i->next = NULL;
  free (i->name);
  i->name = NULL;
  hashed--;
}

/* Free I and the parents it held, as far as nothing holds them. */
static void
release (struct inode *i)
{
  while (i != &root && i->nlookup == 0 && i->first_child == NULL)
    {
      struct inode *parent = i->parent;
      struct inode **p;

      if (i->name && (p = find (parent, i->name)))
        unhash_at (p);
      disown (i);
      free (i);
      count--;
      i = parent;
    }
}

uint64_t
inodes_lookup (uint64_t parent_id, const char *name, mode_t type,
               uint64_t born)
{
  SCOPED_LOCK (&table_lock);
  struct inode *parent = from_id (parent_id), *i;
  struct inode **p = name ? find (parent, name) : NULL;

  type &= S_IFMT;
  if (p && (*p)->type == type)
    {
      (*p)->nlookup++;
      return to_id (*p);
    }
  if (p)
    unhash_at (p); /* another file now: another inode */
  i = xcalloc (1, sizeof *i);
  adopt (parent, i);
  i->born = born;
  i->type = type;
  i->nlookup = 1;
  count++;
  if (name)
    {
      i->name = xstrdup (name);
      insert (i);
    }
  return to_id (i);
}

void
inodes_forget (uint64_t id, uint64_t n)
{
  SCOPED_LOCK (&table_lock);
  struct inode *i = from_id (id);

  if (i == &root)
    return;
  i->nlookup = n < i->nlookup ? i->nlookup - n : 0;
  release (i);
}

char *
inodes_path (uint64_t id, const char *name)
{
  SCOPED_LOCK (&table_lock);
  struct inode *i = from_id (id);
  size_t len = name ? strlen (name) + 1 : 0;
  char *path, *end;

  for (struct inode *j = i; j != &root; j = j->parent)
    {
      if (j->name == NULL)
        return NULL;
      len += strlen (j->name) + 1;
    }
  if (len == 0)
    return xstrdup ("/");
  path = xmalloc (len + 1);
  end = path + len;
  *end = '\0';
  if (name)
    {
      end -= strlen (name);
      memcpy (end, name, strlen (name));
      *--end = '/';
    }
  for (struct inode *j = i; j != &root; j = j->parent)
    {
      end -= strlen (j->name);
      memcpy (end, j->name, strlen (j->name));
      *--end = '/';
    }
  return path;
}

void
inodes_unhash (uint64_t parent, const char *name)
{
  SCOPED_LOCK (&table_lock);
  struct inode **p = find (from_id (parent), name);

  if (p)
    {
      struct inode *i = *p;

      unhash_at (p);
      release (i);
    }
}

void
inodes_rename (uint64_t parent, const char *name, uint64_t newparent,
               const char *newname)
{
  SCOPED_LOCK (&table_lock);
  struct inode *to = from_id (newparent);
  struct inode **p = find (to, newname), *i;

  if (p)
    {
      i = *p;
      unhash_at (p);
      release (i);
    }
  if ((p = find (from_id (parent), name)) == NULL)
    return;
  i = *p;
  unhash_at (p);
  /* The old parent may go now; I does not (it is still looked up, or
   * it would not be in the table). */
  {
    struct inode *old = i->parent;

    disown (i);
    adopt (to, i);
    release (old);
  }
  i->name = xstrdup (newname);
  insert (i);
}

size_t
inodes_below (const char *host, const char *name, uint64_t born_before,
              uint64_t **ids)
{
  SCOPED_LOCK (&table_lock);
  struct inode *top = &root, **p;
  size_t n = 0, room = 16;

  *ids = NULL;
  if (host && (p = find (top, host)))
    top = *p;
  else if (host)
    return 0;
  if ((p = find (top, name)) == NULL)
    return 0;
  top = *p;
  *ids = xmalloc (room * sizeof **ids);
  for (struct inode *i = top; i; i = walk_next (i, top))
    {
      if (i->born >= born_before)
        continue;
      if (n == room)
        *ids = xrealloc (*ids, (room *= 2) * sizeof **ids);
      (*ids)[n++] = to_id (i);
    }
  return n;
}

size_t
inodes_count (void)
{
  SCOPED_LOCK (&table_lock);

  return count;
}

void
inodes_clear (void)
{
  SCOPED_LOCK (&table_lock);

  /* Leaves first: each inode goes once it has no child left. */
  for (struct inode *i = root.first_child; i;)
    {
      struct inode *parent = i->parent;

      if (i->first_child)
        {
          i = i->first_child;
          continue;
        }
      disown (i);
      free (i->name);
      free (i);
      i = parent == &root ? root.first_child : parent;
    }
  free (buckets);
  buckets = NULL;
  nbuckets = hashed = count = 0;
}

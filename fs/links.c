/* vmsnapfs: links made under a temporary name in a VM directory.
 *
 * `ln -sfn snapshots/NAME VM/active` makes its link as VM/CuXXXXXX and
 * renames it over VM/active.  The temporary link is no state of the VM: it
 * lives here, in memory, until it is renamed or removed, or for a minute.
 * Guarded by its own lock, taken alone.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "links.h"
#include "util.h"

/* How long a temporary link lives, in seconds. */
#define TEMP_LINK_TTL 60

struct temp_link
{
  char *vm_uuid;
  char *name;
  char *snapshot;
  time_t made;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct temp_link *links;
static size_t nlinks;

static void
drop (size_t i)
{
  free (links[i].vm_uuid);
  free (links[i].name);
  free (links[i].snapshot);
  links[i] = links[--nlinks];
}

/* The index of (UUID, NAME), dropping expired links; -1 when absent. */
static ssize_t
find (const char *uuid, const char *name)
{
  time_t now = time (NULL);

  for (size_t i = 0; i < nlinks;)
    if (now - links[i].made > TEMP_LINK_TTL)
      drop (i);
    else
      i++;
  for (size_t i = 0; i < nlinks; i++)
    if (strcmp (links[i].vm_uuid, uuid) == 0
        && strcmp (links[i].name, name) == 0)
      return (ssize_t)i;
  return -1;
}

int
temp_link_add (const char *uuid, const char *name, const char *snapshot)
{
  SCOPED_LOCK (&lock);

  if (find (uuid, name) >= 0)
    return -EEXIST;
  links = xrealloc (links, (nlinks + 1) * sizeof *links);
  links[nlinks++] = (struct temp_link){ xstrdup (uuid), xstrdup (name),
                                        xstrdup (snapshot), time (NULL) };
  return 0;
}

char *
temp_link_get (const char *uuid, const char *name)
{
  SCOPED_LOCK (&lock);
  ssize_t i = find (uuid, name);

  return i < 0 ? NULL : xstrdup (links[i].snapshot);
}

int
temp_link_remove (const char *uuid, const char *name)
{
  SCOPED_LOCK (&lock);
  ssize_t i = find (uuid, name);

  if (i < 0)
    return -ENOENT;
  drop ((size_t)i);
  return 0;
}

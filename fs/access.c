/* vmsnapfs: who may do what through the mount (see access.h).
 *
 * The groups are set once, before the mount, and only read afterwards:
 * no lock.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"

static bool has_readers, has_operators;
static gid_t readers_gid, operators_gid;

/* The group NAME (a name or a number) into *GID: 0, or -1 after saying
 * why on stderr. */
static int
group_lookup (const char *option, const char *name, gid_t *gid)
{
  struct group *g = getgrnam (name);
  char *end;
  unsigned long n;

  if (g == NULL && name[0] >= '0' && name[0] <= '9')
    {
      n = strtoul (name, &end, 10);
      if (*end == '\0' && n == (gid_t)n)
        g = getgrgid ((gid_t)n);
    }
  if (g == NULL)
    {
      fprintf (stderr, "vmsnapfs: %s: no group '%s' on this host\n", option,
               name);
      return -1;
    }
  *gid = g->gr_gid;
  return 0;
}

int
access_configure (const char *readers, const char *operators)
{
  has_readers = has_operators = false;
  if (readers)
    {
      if (group_lookup ("readers", readers, &readers_gid) < 0)
        return -1;
      has_readers = true;
    }
  if (operators)
    {
      if (group_lookup ("operators", operators, &operators_gid) < 0)
        return -1;
      has_operators = true;
    }
  return 0;
}

bool
caller_in_group (const struct caller *c, gid_t g)
{
  if (c->gid == g)
    return true;
  for (int i = 0; i < c->ngroups; i++)
    if (c->groups[i] == g)
      return true;
  return false;
}

int
access_verb (const struct caller *c)
{
  if (c->uid == 0 || (has_operators && caller_in_group (c, operators_gid)))
    return 0;
  return -EACCES;
}

int
access_mode (const struct caller *c, const struct stat *st, mode_t want)
{
  mode_t bits;

  if (c->uid == 0)
    return 0;
  if (c->uid == st->st_uid)
    bits = want << 6;
  else if (caller_in_group (c, st->st_gid))
    bits = want << 3;
  else
    bits = want;
  return (st->st_mode & bits) == bits ? 0 : -EACCES;
}

int
access_read (const struct caller *c, const struct stat *st)
{
  return access_mode (c, st, 04);
}

void
access_disk_attrs (uid_t host_uid, gid_t host_gid, mode_t host_mode,
                   struct stat *st)
{
  mode_t perm = host_mode & 0444;

  st->st_uid = host_uid;
  st->st_gid = host_gid;
  if (has_readers)
    {
      st->st_gid = readers_gid;
      perm |= S_IRUSR | S_IRGRP;
    }
  st->st_mode = (st->st_mode & S_IFMT) | perm;
}

void
access_files_attrs (struct stat *st)
{
  st->st_uid = 0;
  st->st_gid = has_readers ? readers_gid : 0;
  st->st_mode = (st->st_mode & S_IFMT) | (has_readers ? 0550 : 0500);
}

int
access_files (const struct caller *c)
{
  if (c->uid == 0 || (has_readers && caller_in_group (c, readers_gid)))
    return 0;
  return -EACCES;
}

void
access_verb_attrs (struct stat *st)
{
  if (!has_operators)
    return;
  st->st_gid = operators_gid;
  if (st->st_mode & S_IWUSR)
    st->st_mode |= S_IWGRP;
}

/* vmsnapfs: who may do what through the mount.
 *
 * The mount never shows anyone more than the host's files do.  Files of
 * disk bytes (frozen volumes, whole disks, memory) carry their host files'
 * owner and mode less write bits (whole disks and memory are root's); the
 * verbs (mkdir, rmdir, rename, links, commands written to files) are
 * root's.  Two groups widen that, as libvirt's unix_sock_group does:
 * readers may read disk bytes, operators may use the verbs.  Metadata
 * (info, domain.xml, state, jobs) is readable by all and holds no secret.
 *
 * The kernel enforces the modes (default_permissions); the daemon asks
 * again, with the caller's own uid and groups, before it reads disk bytes,
 * starts qemu, or calls libvirt for a verb; an import reads a directory
 * with the caller's uid and groups (snapshot/import/import-open.c).  No FUSE, no libvirt: the unit tests drive it with
 * made-up callers.
 */
#ifndef VMSNAPFS_ACCESS_H
#define VMSNAPFS_ACCESS_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Most supplementary groups of a caller looked at. */
#define ACCESS_MAX_GROUPS 256

/* Who asks: the process behind a FUSE request. */
struct caller
{
  uid_t uid;
  gid_t gid;
  int ngroups; /* supplementary groups; -1 when they cannot be read */
  gid_t groups[ACCESS_MAX_GROUPS];
};

/* Name the readers and operators groups (NULL: none).  A name or a
 * number of a group that exists.  Returns 0, or -1 after one line on
 * stderr naming the group that does not exist. */
int access_configure (const char *readers, const char *operators);

/* Whether C is root or in group G (its primary group or another). */
bool caller_in_group (const struct caller *c, gid_t g);

/* Whether C may use the verbs: 0 or -EACCES. */
int access_verb (const struct caller *c);

/* Whether C may read a file that shows ST's owner, group and mode: 0 or
 * -EACCES.  Root may. */
int access_read (const struct caller *c, const struct stat *st);

/* Whether C may do WANT (04 read, 02 write, 01 search or run, or'ed) to a
 * file of ST's owner, group and mode: 0 or -EACCES.  Root may. */
int access_mode (const struct caller *c, const struct stat *st, mode_t want);

/* What a file of disk bytes shows, whose host file is of HOST_UID,
 * HOST_GID and HOST_MODE: the same less write bits, and with readers,
 * their group with read.  Sets ST's owner, group and permission bits. */
void access_disk_attrs (uid_t host_uid, gid_t host_gid, mode_t host_mode,
                        struct stat *st);

/* What a snapshot's files/ shows (the guest's files: guest owners mean
 * nothing on the host): root's, and the readers' with read and search.
 * Sets ST's owner, group and permission bits. */
void access_files_attrs (struct stat *st);

/* Whether C may read the guest's files: root and the readers.  0 or
 * -EACCES. */
int access_files (const struct caller *c);

/* What a directory or file that takes verbs shows: with operators, their
 * group with ST's owner's write.  Sets ST's group and permission bits. */
void access_verb_attrs (struct stat *st);

#endif /* VMSNAPFS_ACCESS_H */

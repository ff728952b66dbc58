/* vmsnapfs: the guest's own files at a snapshot, read with libguestfs.
 *
 * One libguestfs handle per snapshot serves every reader of its files/:
 * started at the first look inside, from the snapshot's frozen volumes
 * added read-only with their format, and stopped after it was idle
 * (guestfiles_configure), before a merge changes the volumes
 * (guestfiles_release_snapshot) and at unmount (guestfiles_shutdown).  Its
 * appliance runs under libguestfs's recovery process, which kills it when
 * the daemon dies, even by SIGKILL.
 *
 * The tree is the guest's as inspection lays it out ("/" and what the
 * guest's fstab mounts under it), or, where no operating system is found,
 * one directory per file system named after the guest's disk ("vdb1",
 * "vdb", a logical volume's "VG-LV").  Every file system is mounted
 * read-only; a snapshot is frozen, so every answer is kept for the life of
 * the handle: a directory is listed with its attributes in one call, a
 * file read in large chunks.
 *
 * libguestfs is optional: loaded at the first look when it is installed
 * (guest/loader.c), the daemon never linked with it.  Without it, each
 * snapshot's handle shows an empty "/", and guestfiles_errors the line
 * that says what to install.
 *
 * Paths are the guest's, "/" first.  No FUSE here, no libvirt.
 */
#ifndef VMSNAPFS_GUESTFILES_H
#define VMSNAPFS_GUESTFILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* A disk of the snapshot, as the guest knows it. */
struct guest_drive
{
  const char *path;   /* the frozen volume */
  const char *format; /* "qcow2", "raw" */
  const char *target; /* "vda" */
};

/* The directory where this daemon's handles keep libguestfs's temporary
 * files, made at the first call; NULL when it cannot be made (libguestfs
 * then uses its own).  Removed by guest_tmpdir_remove. */
const char *guest_tmpdir (void);
void guest_tmpdir_remove (void);
/* Remove from BASE ($TMPDIR when NULL) the directories of daemons that no
 * longer run (by SIGKILL: no guestfs_close removed theirs). */
void guest_tmpdir_sweep (const char *base);

/* The snapshot's handle, started if need be: a reference the caller puts
 * back with guestfiles_put.  SNAP names the snapshot (its inode), LABEL
 * it in the log.  Returns 0 (also without libguestfs), or -EIO when
 * libguestfs cannot start (logged; a look 5 s later tries again). */
struct guestfiles;
int guestfiles_get (uint64_t snap, const struct guest_drive *drives,
                    size_t ndrives, const char *label,
                    struct guestfiles **out);
void guestfiles_put (struct guestfiles *gf);

/* The attributes of PATH, as in the guest (st_ino made unique across the
 * snapshot's file systems, st_rdev 0).  Returns 0, -ENOENT or -ENOTDIR. */
int guestfiles_stat (struct guestfiles *gf, const char *path, struct stat *st);

/* Call FILL (name, stat) for each entry of directory PATH until it returns
 * nonzero.  Returns 0, -ENOENT or -ENOTDIR. */
int guestfiles_list (struct guestfiles *gf, const char *path,
                     int (*fill) (void *, const char *, const struct stat *),
                     void *ctx);

/* The target of link PATH, made relative and kept inside the guest's tree
 * (guestfiles_confine_link; the tree of the link's own file system where
 * no operating system was found): malloc'd in *OUT.  Returns 0 or
 * -errno. */
int guestfiles_readlink (struct guestfiles *gf, const char *path, char **out);

/* Read SIZE bytes at OFF of regular file PATH of SIZE_ALL bytes into BUF,
 * through a chunk kept per open (struct guestfiles_file).  Returns the
 * count or -EIO. */
struct guestfiles_file;
int guestfiles_open (struct guestfiles *gf, const char *path,
                     struct guestfiles_file **out);
ssize_t guestfiles_read (struct guestfiles_file *f, char *buf, size_t size,
                         off_t off);
void guestfiles_close (struct guestfiles_file *f);

/* Why some of the guest's file systems show no files, one line each, or
 * NULL: malloc'd. */
char *guestfiles_errors (struct guestfiles *gf);

/* Stop the handle of snapshot SNAP before its volumes change: -EBUSY when
 * one of its files is open (after waiting up to WAIT_MS for opens being
 * closed), logged; else 0. */
int guestfiles_release_snapshot (uint64_t snap, long wait_ms);

/* How long an unused handle lives, in seconds (0: the default, 60); and
 * the temporary directories of daemons that died, removed now
 * (guest_tmpdir_sweep). */
void guestfiles_configure (unsigned idle_seconds);

/* Stop every handle (unmount). */
void guestfiles_shutdown (void);

/* A guest path's link target as a path relative to the link's directory
 * that stays inside the guest's tree: "/etc/passwd" at "/a/b/link" is
 * "../../etc/passwd", and ".." past the root stops at it, as in the
 * guest.  LINK is the link's path in the tree, "/" first.  Malloc'd. */
char *guestfiles_confine_link (const char *link, const char *target);

#endif /* VMSNAPFS_GUESTFILES_H */

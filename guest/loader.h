/* vmsnapfs: libguestfs, loaded when it is installed (guest/loader.c).
 *
 * The daemon does not link libguestfs: the library pulls qemu-system,
 * supermin and more onto a host, and its appliance needs a kernel image,
 * all for files/ alone.  So the first look inside a snapshot's files/
 * opens libguestfs.so.0, if it is there, and fills GFS with the functions
 * guest/ calls, typed by <guestfs.h>: gfs.launch (g) is guestfs_launch (g).
 * Without it, files/ holds only .vmsnapfs-error saying what to install.
 *
 * Also here: what guest/ makes of libguestfs's types.
 */
#ifndef VMSNAPFS_GUEST_LOADER_H
#define VMSNAPFS_GUEST_LOADER_H

#include <guestfs.h>
#include <stdint.h>
#include <sys/stat.h>

/* Every libguestfs function guest/ calls, without "guestfs_". */
#define GUESTFS_FUNCTIONS(F)                                                  \
  F (create)                                                                  \
  F (close)                                                                   \
  F (last_error)                                                              \
  F (last_errno)                                                              \
  F (set_error_handler)                                                       \
  F (set_backend)                                                             \
  F (get_backend)                                                             \
  F (set_backend_settings)                                                    \
  F (set_tmpdir)                                                              \
  F (set_recovery_proc)                                                       \
  F (add_drive_opts)                                                          \
  F (launch)                                                                  \
  F (inspect_os)                                                              \
  F (inspect_get_mountpoints)                                                 \
  F (list_filesystems)                                                        \
  F (list_partitions)                                                         \
  F (vfs_type)                                                                \
  F (mkmountpoint)                                                            \
  F (mount_ro)                                                                \
  F (ls)                                                                      \
  F (lstatns)                                                                 \
  F (lstatnslist)                                                             \
  F (free_statns)                                                             \
  F (free_statns_list)                                                        \
  F (readlink)                                                                \
  F (pread)

struct guestfs_functions
{
#define GUESTFS_FIELD(name) __typeof__ (guestfs_##name) *name;
  GUESTFS_FUNCTIONS (GUESTFS_FIELD)
#undef GUESTFS_FIELD
};

/* Filled by guest_lib_load; called only once it returned 0. */
extern struct guestfs_functions gfs;

/* Load libguestfs, the first time.  Returns 0, or -ENOENT when it cannot
 * be loaded: *WHY then says what to install, a line (static), and the log
 * said why, once. */
int guest_lib_load (const char **why);

/* A unique inode number for entry INO of file system DEV of snapshot SNAP:
 * tar and rsync -H find hard links by it. */
ino_t guest_ino (uint64_t snap, int64_t dev, int64_t ino);

/* S as a stat of snapshot SNAP's files (st_ino by guest_ino, st_rdev 0). */
void guest_stat_from (uint64_t snap, const struct guestfs_statns *s,
                      struct stat *st);

/* libguestfs's last error on G as -errno (-EIO when it gives none). */
int guest_last_errno (guestfs_h *g);

/* Free a NULL-terminated list of strings libguestfs returned (or NULL). */
void guest_free_strings (char **v);

#endif /* VMSNAPFS_GUEST_LOADER_H */

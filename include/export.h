/* vmsnapfs: whole disks at a snapshot, read through qemu.
 *
 * An export is one snapshot's disk flattened through its backing chain.
 * qemu's block layer does all the reading of qcow2: vmsnapfs parses none
 * of it.  `qemu-img map` says which parts are holes (once per export) and
 * where the bytes of the rest lie: plain bytes at an offset of one file of
 * the chain, which are read from that file, or somewhere only qemu can
 * read them (compressed clusters).  For those, a qemu-nbd (read-only,
 * force-share) serves the frozen volume on a Unix socket in the run
 * directory, and libnbd reads it.  The files and the helper are opened on
 * the first open (the helper only for a disk that needs it), shared by
 * every reader, and closed once idle for EXPORT_IDLE_S seconds, when the
 * snapshot goes, and at exit.
 *
 * This module knows nothing of FUSE or libvirt.
 */
#ifndef VMSNAPFS_EXPORT_H
#define VMSNAPFS_EXPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Seconds a helper with no reader lives on. */
#define EXPORT_IDLE_S 20
/* How long an rmdir waits for the kernel to release whole disks closed
 * just before, in milliseconds. */
#define EXPORT_RELEASE_WAIT_MS 2000
/* Connections to one helper: how many reads of one disk run at once. */
#define EXPORT_CONNECTIONS 4
/* Where the helpers' sockets and pid files live. */
#define EXPORT_RUN_DIR "/run/vmsnapfs"

struct export_reader; /* one open of a whole disk */

/* Stop the helpers a daemon that died left running, and start the thread
 * that stops idle ones.  Returns 0 or -errno (logged). */
int export_init (void);

/* Stop every helper: at exit. */
void export_shutdown (void);

/* Open the whole disk TARGET of the snapshot SNAP (its inode: unique on
 * the host), whose frozen volume is VOLUME of FORMAT, of SIZE bytes; with
 * DELTA, what changed in it since the volume below was frozen (what VOLUME
 * holds itself, data or zeros), holes elsewhere.  Returns 0 and a reader's
 * reference in *OUT, or -errno (logged). */
int export_open (uint64_t snap, const char *target, const char *volume,
                 const char *format, uint64_t size, bool delta,
                 struct export_reader **out);

/* A close(2) of a descriptor of R (the flush comes before close(2)
 * returns; the release, when it was the last, just after): R stops
 * counting as a reader until it reads again, through a duplicate. */
void export_flush (struct export_reader *r);

/* The release of R: the last close of the open. */
void export_close (struct export_reader *r);

/* Read SIZE bytes at OFF into BUF, short at the end.  Returns the count or
 * -EIO. */
ssize_t export_pread (struct export_reader *r, void *buf, size_t size,
                      uint64_t off);

/* lseek(SEEK_DATA) with DATA, lseek(SEEK_HOLE) without: the offset, or
 * -ENXIO. */
int64_t export_seek (struct export_reader *r, uint64_t off, bool data);

/* How many bytes of the disk are data (with DELTA, of what changed), for
 * st_blocks; read once and kept for the life of the snapshot.  Without
 * PROBE, only what was read: qemu is not run.  Returns 0, -EAGAIN (not
 * read, without PROBE) or -errno. */
int export_data_bytes (uint64_t snap, const char *target, const char *volume,
                       const char *format, bool probe, bool delta,
                       uint64_t *bytes);

/* Make the disk's map in the daemon, from its volumes' own headers and
 * tables (map_compose_file), when nobody is making it: never qemu-img.
 * Returns 0 (the map is known), -EAGAIN (busy, or the volumes need
 * qemu-img: left to export_data_bytes with PROBE) or -errno. */
int export_map_parse (uint64_t snap, const char *target, const char *volume,
                      const char *format);

/* The data extents of the disk (with DELTA, of what changed), in order,
 * from the same map as export_data_bytes (PROBE as there): a malloc'd
 * array in *OUT of *N.  Returns 0, -EAGAIN or -errno (logged). */
struct extent;
int export_extents (uint64_t snap, const char *target, const char *volume,
                    const char *format, bool probe, bool delta,
                    struct extent **out, size_t *n);

/* Stop the helpers of snapshot SNAP before its volumes change: -EBUSY when
 * one of its whole disks is open, or with VOLUMES one of its frozen
 * volumes (a merge writes into them), logged; else 0.  Opens closed but
 * not yet released are waited for, up to EXPORT_RELEASE_WAIT_MS. */
int export_release_snapshot (uint64_t snap, bool volumes);

/* An open of a frozen volume of snapshot SNAP, and its release: held, the
 * snapshot is not merged (export_release_snapshot). */
void export_hold (uint64_t snap);
void export_unhold (uint64_t snap);

#endif /* VMSNAPFS_EXPORT_H */

/* vmsnapfs: the files of a host that the daemon cannot open, read
 * through libvirt's storage API (host/remote.c).
 *
 * A VM of a remote host (a URI with a host name: qemu+ssh://, qemu+tcp://)
 * has its volumes and memory images on that host.  Each directory that
 * holds one is made a libvirt storage pool (a transient "dir" pool, unless
 * one already has it as its target), its files are volumes of the pool,
 * and their bytes come in libvirt streams.
 */
#ifndef VMSNAPFS_REMOTE_H
#define VMSNAPFS_REMOTE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "host.h"

/* Whether VM's files are on the machine the daemon runs on. */
bool vm_is_local (const struct vs_vm *vm);

/* The size of file PATH of H, in bytes, and the bytes it takes there.
 * Returns 0, -ENOENT, or -EIO (libvirt cannot be asked; logged). */
int remote_stat (struct host *h, const char *path, uint64_t *size,
                 uint64_t *allocation);

/* An open remote file: reads follow one download stream while they go
 * front to back, and start another where they jump. */
struct remote_file;

/* Open file PATH of H.  Returns 0, -ENOENT or -EIO. */
int remote_open (struct host *h, const char *path, struct remote_file **out);

/* Read SIZE bytes at OFF of F into BUF (holes read as zeros).  Returns the
 * count (short only at the end) or -EIO. */
ssize_t remote_read (struct remote_file *f, char *buf, size_t size, off_t off);

void remote_close (struct remote_file *f);

/* Open the whole disk of H whose frozen volume is VOLUME, raw: a copy of
 * VOLUME's chain made on H by libvirt (virStorageVolCreateXMLFrom, which
 * runs qemu-img convert there), beside VOLUME, shared by every open of
 * KEY and removed at the last close.  The first open waits for the copy.
 * Returns 0, -ENOSPC, -ENOENT or -EIO. */
int remote_open_disk (struct host *h, uint64_t key, const char *volume,
                      uint64_t virtual_size, struct remote_file **out);

/* Open what changed in the disk of H whose frozen volume is VOLUME (of
 * FORMAT, SIZE bytes; KEY, with VOLUME, names it), since the volume below
 * it was frozen, with DELTA; without, the whole disk.  Read over NBD from
 * a helper domain on H, while open.  Returns 0 or -EIO. */
int remote_open_delta (struct host *h, uint64_t key, const char *volume,
                       const char *format, uint64_t size, bool delta,
                       struct remote_file **out);

/* How remote delta files are read (-o nbd_tls=DIR): over NBD with TLS,
 * this machine's x509 certificates in DIR (ca-cert.pem, client-cert.pem,
 * client-key.pem); the host's NBD server takes its own from its qemu.conf
 * (backup_tls_x509_cert_dir).  Without DIR (NULL), the NBD server has no
 * authentication: delta files are offered only by a host whose URI names
 * a loopback address (localhost, 127.0.0.0/8, ::1), and its NBD server
 * listens there.  Returns 0, or -errno when a file of DIR cannot be read
 * (said on stderr: called before the mount). */
int remote_delta_tls (const char *dir);
/* Log, once at the mount, each host of URIS (N) that shows no delta
 * files for want of -o nbd_tls. */
void remote_delta_note (const char *const *uris, size_t n);
/* Whether the disks of remote host H show their delta files. */
bool remote_delta_offered (const struct host *h);

/* lseek(SEEK_DATA) with DATA, (SEEK_HOLE) without, on F opened so: the
 * offset, or -ENXIO; -EOPNOTSUPP for another remote file. */
int64_t remote_seek (struct remote_file *f, uint64_t off, bool data);

/* The data extents of that disk, as export_extents gives a local one;
 * read once and kept.  Without PROBE, only what was read.  Returns 0,
 * -EAGAIN or -EIO. */
struct extent;
int remote_extents (struct host *h, uint64_t key, const char *volume,
                    const char *format, uint64_t size, bool delta, bool probe,
                    struct extent **out, size_t *n);

#endif /* VMSNAPFS_REMOTE_H */

/* vmsnapfs: a chain of files open by descriptor, served read-only over NBD
 * by a qemu-storage-daemon of its own (chain/serve.c).
 *
 * The files of a backup being restored are opened with their owner's
 * rights (snapshot/import/), never by name as root: the server inherits
 * each one's descriptor and opens it as /dev/fd/N, and each layer's
 * backing is the one its caller names (or none): never one a file's
 * header names.  The server runs in a session of its own, so that it
 * outlives the daemon (a VM reads through it); its socket, in
 * SERVE_RUN_DIR, is root's and the qemu user's only, and its pid file
 * beside it names it for the next daemon.
 *
 * This module knows nothing of FUSE or libvirt.
 */
#ifndef VMSNAPFS_SERVE_H
#define VMSNAPFS_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Where the servers' sockets and pid files are: root's, entered by the
 * qemu user's group. */
#define SERVE_RUN_DIR "/run/vmsnapfs-serve"

/* A layer of a served chain. */
struct serve_layer
{
  int fd;             /* its file, open to read */
  const char *format; /* "qcow2" or "raw" */
  ssize_t below;      /* the layer it stands on (an index, lower), or -1 */
  const char *name;   /* the export of the chain from here down, or NULL */
  uint64_t size;      /* a raw layer's size (0: its file's), fixed so that
                         a file that grows later serves no more */
};

/* Serve the N layers L (each one's below before it) on socket SOCK (an
 * absolute path; its directory, made if need be, and the socket given to
 * group GID: the daemon's and GID's processes may connect), and its pid into
 * *PID, recorded in serve_pidfile (SOCK) too.  Returns 0 once the server
 * answers, or -EIO (logged). */
int serve_start (const char *sock, gid_t gid, const struct serve_layer *l,
                 size_t n, pid_t *pid);

/* The socket of the server of ID (a VM's UUID), in SERVE_RUN_DIR
 * (malloc'd). */
char *serve_sock (const char *id);

/* The pid file of the server on SOCK (malloc'd). */
char *serve_pidfile (const char *sock);

/* Whether the server PID on SOCK runs (0: read its pid file). */
bool serve_alive (pid_t pid, const char *sock);

/* Stop the server PID on SOCK (0: read its pid file), if it runs, and
 * remove its socket and pid file. */
void serve_stop (pid_t pid, const char *sock);

/* The backing file name of a volume over export NAME on SOCK, for
 * qemu-img and libvirt (format raw) (malloc'd). */
char *serve_backing (const char *sock, const char *name);

#endif /* VMSNAPFS_SERVE_H */

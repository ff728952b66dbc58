/* vmsnapfs: a file of host H, wherever H is: on this machine, or through
 * libvirt's storage API for a remote host (files.c, on remote.c's pools). */
#ifndef VMSNAPFS_HOST_FILES_H
#define VMSNAPFS_HOST_FILES_H

#include <stdbool.h>
#include <stdint.h>

struct host;
struct chain;

/* Whether PATH exists; the backing chain of PATH (of FORMAT) as
 * chain_probe gives it (with WHOLE, or its first image; a remote host's is
 * read whole).  Return as access() == 0 and chain_probe do. */
bool host_file_exists (struct host *h, const char *path);
int host_chain (struct host *h, const char *path, const char *format,
                bool whole, struct chain **out);
int remote_chain (struct host *h, const char *path, const char *format,
                  struct chain **out);
/* Remove file PATH of H: 0 or -errno. */
int host_file_unlink (struct host *h, const char *path);
/* Make PATH on H a new qcow2 volume of SIZE bytes (0: the backing's) over
 * BACKING (of FORMAT): 0 or -EIO (logged). */
int host_make_overlay (struct host *h, const char *path, const char *backing,
                       const char *format, uint64_t size);

/* A remote host's: memory image SRC copied into DST there, both files of
 * H, with the domain XML of its header replaced by EDIT (XML, ARG) as
 * save_image_copy does (saveimage.h); and a whole copy of frozen volume
 * SRC's chain into DST, as FORMAT of CAPACITY bytes, made there by
 * libvirt. */
int remote_save_image_copy (struct host *h, const char *src, const char *dst,
                            char *(*edit) (const char *xml, void *arg),
                            void *arg);
int remote_copy_whole (struct host *h, const char *src, const char *dst,
                       const char *format, uint64_t capacity);
/* Make directory DIR on remote host H (a pool's build); copy file LOCAL of
 * this machine into a new file PATH there.  0 or -EIO (logged). */
int remote_make_dir (struct host *h, const char *dir);
int remote_upload (struct host *h, const char *local, const char *path);

#endif /* VMSNAPFS_HOST_FILES_H */

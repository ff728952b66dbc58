/* vmsnapfs: libvirt's memory images, copied with another domain XML in
 * their header (saveimage.c). */
#ifndef VMSNAPFS_HOST_SAVEIMAGE_H
#define VMSNAPFS_HOST_SAVEIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy libvirt's memory image SRC to DST, a new file, with the domain XML
 * of its header replaced by EDIT (XML, ARG) (malloc'd, or NULL to fail),
 * and the rest unchanged.  Returns 0, -ENOSPC or -EIO (logged); nothing is
 * left at DST on a failure. */
int save_image_copy (const char *src, const char *dst,
                     char *(*edit) (const char *xml, void *arg), void *arg);
/* The same from IN, open on the image SRC (named in messages), no more
 * than its first SIZE bytes (UINT64_MAX: to its end); DST made already
 * (empty) when EXISTS; stopped when CANCEL (may be NULL) says so, looked
 * at every 64 MiB: -ESHUTDOWN, and nothing left at DST. */
int save_image_copy_fd (int in, const char *src, const char *dst,
                        bool exists, uint64_t size, bool (*cancel) (void),
                        char *(*edit) (const char *xml, void *arg),
                        void *arg);
/* The same for the first LEN bytes HDR of an image: its new header into
 * *OUT (malloc'd), *OUT_LEN bytes, and in *SKIP the length of the old one,
 * where the stream starts.  Returns 0, 1 when HDR is shorter than *SKIP
 * bytes (read that many and call again), or -EIO (logged). */
int save_image_header (const char *hdr, size_t len,
                       char *(*edit) (const char *xml, void *arg), void *arg,
                       char **out, size_t *out_len, size_t *skip);

#endif /* VMSNAPFS_HOST_SAVEIMAGE_H */

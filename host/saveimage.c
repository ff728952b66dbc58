/* vmsnapfs: a copy of a memory image with another domain in its header.
 *
 * libvirt keeps a VM's memory (virDomainSave, or a snapshot's external
 * memory) in a file that starts with a header of its own: a magic string,
 * a version, the length of the data that follows, and in that data the
 * domain's XML and a migration cookie; qemu's migration stream comes
 * after.  libvirt 9.0 lets the XML be changed (virDomainSaveImageDefineXML,
 * or the dxml of a restore) only where the VM stays the same one: another
 * name or UUID is refused ("Target domain uuid ... does not match
 * source").  A clone is another VM, so its copy of the memory is written
 * here with the clone's XML in the header, the stream copied unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"

#include "saveimage.h"

#define SAVE_MAGIC "LibvirtQemudSave"
#define SAVE_HEADER_SIZE 92 /* magic, 5 words, 14 unused */
#define SAVE_DATA_MAX (16 * 1024 * 1024)

struct save_header
{
  char magic[16];
  uint32_t version;
  uint32_t data_len;
  uint32_t was_running;
  uint32_t compressed;
  uint32_t cookie_offset; /* in the data; 0: no cookie (version 1) */
  uint32_t unused[14];
};
_Static_assert(sizeof (struct save_header) == SAVE_HEADER_SIZE,
               "libvirt's save image header is 92 bytes");


int
save_image_header (const char *hdr, size_t len,
                   char *(*edit) (const char *xml, void *arg), void *arg,
                   char **out, size_t *out_len, size_t *skip)
{
  CLEANUP_FREE char *data = NULL, *xml = NULL;
  struct save_header h;
  const char *cookie = "";
  size_t xml_len, cookie_len, need, new_len;

  *out = NULL;
  if (len < sizeof h)
    {
      *skip = sizeof h;
      return 1;
    }
  memcpy (&h, hdr, sizeof h);
  if (memcmp (h.magic, SAVE_MAGIC, 16) != 0 || h.version < 1 || h.version > 2
      || h.data_len == 0 || h.data_len > SAVE_DATA_MAX)
    {
      log_error ("Not a memory image libvirt wrote whole (version 1 or 2).");
      return -EIO;
    }
  *skip = sizeof h + h.data_len;
  if (len < *skip)
    return 1;
  data = xmalloc (h.data_len + 1);
  memcpy (data, hdr + sizeof h, h.data_len);
  data[h.data_len] = '\0';
  if (h.version >= 2 && h.cookie_offset > 0 && h.cookie_offset < h.data_len)
    cookie = data + h.cookie_offset;
  if ((xml = edit (data, arg)) == NULL)
    {
      log_error ("The domain in a memory image cannot be edited.");
      return -EIO;
    }
  /* The new data: the XML and the cookie, each ended by a NUL, in at least
   * the old length (libvirt leaves room to grow). */
  xml_len = strlen (xml);
  cookie_len = strlen (cookie);
  need = xml_len + 1 + (cookie_len ? cookie_len + 1 : 0);
  new_len = need > h.data_len ? need : h.data_len;
  if (new_len > SAVE_DATA_MAX)
    return -EIO;
  h.cookie_offset = cookie_len ? (uint32_t)(xml_len + 1) : 0;
  h.data_len = (uint32_t)new_len;
  *out_len = sizeof h + new_len;
  *out = xcalloc (1, *out_len);
  memcpy (*out, &h, sizeof h);
  memcpy (*out + sizeof h, xml, xml_len);
  if (cookie_len)
    memcpy (*out + sizeof h + xml_len + 1, cookie, cookie_len);
  return 0;
}

int
save_image_copy (const char *src, const char *dst,
                 char *(*edit) (const char *xml, void *arg), void *arg)
{
  int in = open (src, O_RDONLY | O_CLOEXEC), r;

  if (in < 0)
    {
      r = -errno;
      log_error ("Cannot open the memory image '%s': %m.", src);
      return r;
    }
  r = save_image_copy_fd (in, src, dst, false, UINT64_MAX, NULL, edit, arg);
  close (in);
  return r;
}

int
save_image_copy_fd (int in, const char *src, const char *dst, bool exists,
                    uint64_t size, bool (*cancel) (void),
                    char *(*edit) (const char *xml, void *arg), void *arg)
{
  CLEANUP_FREE char *head = NULL, *out = NULL;
  size_t len = SAVE_HEADER_SIZE, out_len, skip;
  int fd = -1, r;

  /* The fixed header, then its data as it says. */
  for (;;)
    {
      head = xrealloc (head, len);
      if (pread_full (in, head, len, 0) != (ssize_t)len)
        {
          log_error ("The memory image '%s' is cut short.", src);
          r = -EIO;
          goto out;
        }
      if ((r = save_image_header (head, len, edit, arg, &out, &out_len, &skip))
          <= 0)
        break;
      len = skip;
    }
  if (r < 0)
    {
      log_error ("'%s' cannot be copied as a memory image.", src);
      goto out;
    }
  if ((fd = open (dst,
                  O_WRONLY | O_CLOEXEC | O_NOFOLLOW
                      | (exists ? O_TRUNC : O_CREAT | O_EXCL),
                  0600))
      < 0)
    {
      r = -errno;
      log_error ("Cannot create '%s': %m.", dst);
      goto out;
    }
  if (lseek (in, (off_t)skip, SEEK_SET) < 0
      || write_full (fd, out, out_len) < 0
      || copy_fd_max (in, fd, size > skip ? size - skip : 0, cancel) < 0
      || fsync (fd) < 0)
    goto write_failed;
  r = 0;
out:
  if (fd >= 0)
    close (fd);
  return r;
write_failed:
  r = errno == ENOSPC ? -ENOSPC : errno == ECANCELED ? -ESHUTDOWN : -EIO;
  if (r != -ESHUTDOWN)
    log_error ("Cannot write '%s': %m.", dst);
  unlink (dst);
  goto out;
}

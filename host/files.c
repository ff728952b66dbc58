/* vmsnapfs: a file of host H, wherever H is (files.h): on this machine,
 * or through libvirt's storage API for a remote host (the pools and
 * volumes of remote.c); a remote host's memory images, uploads and
 * chains. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "log.h"
#include "remote.h"
#include "util.h"

#include "conn.h"
#include "files.h"
#include "saveimage.h"
#include "storage.h"
#include "xmldoc.h"

/* --- files of a host, local or remote ---------------------------------- */

bool
host_file_exists (struct host *h, const char *path)
{
  uint64_t size, allocation;

  if (host_is_local (h))
    return access (path, F_OK) == 0;
  return remote_stat (h, path, &size, &allocation) == 0;
}

int
host_chain (struct host *h, const char *path, const char *format, bool whole,
            struct chain **out)
{
  if (host_is_local (h))
    return chain_probe (path, format, whole, out);
  return remote_chain (h, path, format, out);
}

int
host_make_overlay (struct host *h, const char *path, const char *backing,
                   const char *format, uint64_t size)
{
  CLEANUP_FREE char *copy = xstrdup (path), *xml = NULL;
  virStoragePoolPtr pool = NULL;
  virStorageVolPtr v = NULL;
  virConnectPtr c;

  if (host_is_local (h))
    {
      const char *argv[] = { "qemu-img", "create", "-q",   "-f", "qcow2", "-b",
                             backing,    "-F",     format, path, NULL };
      char *out = NULL;
      int r = run_capture (argv, 65536, 60000, &out, NULL, NULL);

      free (out);
      return r < 0 ? -EIO : 0;
    }
  if ((c = host_conn (h)) == NULL)
    return -EIO;
  if (size == 0)
    {
      /* The backing volume's size. */
      struct chain *ch = NULL;

      if (remote_chain (h, backing, format, &ch) == 0)
        size = ch->images[0].virtual_size;
      chain_free (ch);
    }
  xml = volume_xml (strrchr (path, '/') + 1, size, "qcow2", backing, format);
  if ((pool = pool_for_dir (c, dirname (copy))) != NULL)
    v = virStorageVolCreateXML (pool, xml, 0);
  if (v == NULL)
    log_error ("Cannot make remote volume '%s': %s", path, virt_error ());
  if (v)
    virStorageVolFree (v);
  if (pool)
    virStoragePoolFree (pool);
  virConnectClose (c);
  return v ? 0 : -EIO;
}

/* --- memory images --------------------------------------------------------
 */

/* Send LEN bytes of BUF on upload stream ST. */
static int
send_all (virStreamPtr st, const char *buf, size_t len)
{
  while (len > 0)
    {
      int n = virStreamSend (st, buf, len);

      if (n <= 0)
        return -1;
      buf += n;
      len -= (size_t)n;
    }
  return 0;
}

/* Upload into volume V the new header OUT (OUT_LEN bytes), then the rest
 * of F from SKIP on (SIZE bytes in all). */
static int
upload_image (virConnectPtr c, virStorageVolPtr v, struct remote_file *f,
              const char *out, size_t out_len, uint64_t skip, uint64_t size)
{
  CLEANUP_FREE char *buf = xmalloc (RECV_CHUNK);
  virStreamPtr st = virStreamNew (c, 0);
  uint64_t off = skip;

  if (st == NULL
      || virStorageVolUpload (v, st, 0, out_len + (size - skip), 0) < 0
      || send_all (st, out, out_len) < 0)
    goto fail;
  while (off < size)
    {
      ssize_t n = remote_read (f, buf, RECV_CHUNK, (off_t)off);

      if (n <= 0 || send_all (st, buf, (size_t)n) < 0)
        goto fail;
      off += (uint64_t)n;
    }
  if (virStreamFinish (st) < 0)
    goto fail;
  virStreamFree (st);
  return 0;
fail:
  if (st)
    {
      virStreamAbort (st);
      virStreamFree (st);
    }
  return -EIO;
}

int
remote_save_image_copy (struct host *h, const char *src, const char *dst,
                        char *(*edit) (const char *xml, void *arg), void *arg)
{
  CLEANUP_FREE char *head = NULL, *out = NULL, *dir = xstrdup (dst);
  CLEANUP_FREE char *xml = NULL;
  struct remote_file *f = NULL;
  virStoragePoolPtr pool = NULL;
  virStorageVolPtr v = NULL;
  size_t len = 0, want = 92, out_len = 0, skip = 0;
  uint64_t size, allocation;
  int r;

  if ((r = remote_stat (h, src, &size, &allocation)) < 0
      || (r = remote_open (h, src, &f)) < 0)
    return r;
  /* The header, then its data as it says: read on one stream. */
  while ((r = save_image_header (head, len, edit, arg, &out, &out_len, &skip))
         == 1)
    {
      ssize_t n;

      want = skip;
      head = xrealloc (head, want);
      n = remote_read (f, head + len, want - len, (off_t)len);
      if (n != (ssize_t)(want - len))
        {
          r = -EIO;
          break;
        }
      len = want;
    }
  if (r < 0 || skip > size)
    {
      log_error ("'%s' cannot be copied as a memory image.", src);
      remote_close (f);
      return -EIO;
    }
  xml = volume_xml (strrchr (dst, '/') + 1, out_len + (size - skip), "raw",
                    NULL, NULL);
  if ((pool = pool_for_dir (f->conn, dirname (dir))) == NULL
      || (v = virStorageVolCreateXML (pool, xml, 0)) == NULL
      || (r = upload_image (f->conn, v, f, out, out_len, skip, size)) < 0)
    {
      log_error ("Cannot write '%s' on its host: %s", dst, virt_error ());
      if (v)
        virStorageVolDelete (v, 0);
      r = -EIO;
    }
  if (v)
    virStorageVolFree (v);
  if (pool)
    virStoragePoolFree (pool);
  remote_close (f);
  return r;
}

/* --- files from here ------------------------------------------------------
 */

int
remote_make_dir (struct host *h, const char *dir)
{
  CLEANUP_FREE char *xml = NULL;
  virConnectPtr c = host_conn (h);
  virStoragePoolPtr p;
  char name[32];

  if (c == NULL)
    return -EIO;
  if ((p = virStoragePoolLookupByTargetPath (c, dir)) == NULL)
    {
      /* A transient pool whose build makes the directory. */
      snprintf (name, sizeof name, "vmsnapfs-%016" PRIx64,
                hash_strings (dir, NULL));
      xml = dir_pool_xml (name, dir, 0711);
      p = virStoragePoolCreateXML (c, xml, VIR_STORAGE_POOL_CREATE_WITH_BUILD);
      if (p == NULL)
        log_error ("Cannot make the directory '%s' on its host: %s", dir,
                   virt_error ());
    }
  if (p)
    virStoragePoolFree (p);
  virConnectClose (c);
  return p ? 0 : -EIO;
}

int
remote_upload (struct host *h, const char *local, const char *path)
{
  CLEANUP_FREE char *xml = NULL, *dir = xstrdup (path);
  CLEANUP_FREE char *buf = xmalloc (RECV_CHUNK);
  virConnectPtr c = host_conn (h);
  virStoragePoolPtr pool = NULL;
  virStorageVolPtr v = NULL;
  virStreamPtr st = NULL;
  struct stat sb;
  int fd = -1, r = -EIO;

  if (c == NULL)
    return -EIO;
  if ((fd = open (local, O_RDONLY | O_CLOEXEC)) < 0 || fstat (fd, &sb) < 0)
    {
      log_error ("Cannot read '%s': %m.", local);
      goto out;
    }
  xml = volume_xml (strrchr (path, '/') + 1, (uint64_t)sb.st_size, "raw",
                    NULL, NULL);
  if ((pool = pool_for_dir (c, dirname (dir))) == NULL
      || (v = virStorageVolCreateXML (pool, xml, 0)) == NULL
      || (st = virStreamNew (c, 0)) == NULL
      || virStorageVolUpload (v, st, 0, (unsigned long long)sb.st_size, 0) < 0)
    goto fail;
  for (;;)
    {
      ssize_t n = read (fd, buf, RECV_CHUNK);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 || (n > 0 && send_all (st, buf, (size_t)n) < 0))
        goto fail;
      if (n == 0)
        break;
    }
  if (virStreamFinish (st) < 0)
    goto fail;
  r = 0;
  goto out;
fail:
  log_error ("Cannot copy '%s' into '%s' on its host: %s", local, path,
             virt_error ());
  if (st)
    virStreamAbort (st);
  if (v)
    virStorageVolDelete (v, 0);
out:
  if (st)
    virStreamFree (st);
  if (v)
    virStorageVolFree (v);
  if (pool)
    virStoragePoolFree (pool);
  if (fd >= 0)
    close (fd);
  virConnectClose (c);
  return r;
}

/* --- chains -------------------------------------------------------------- */

/* Read volume PATH's description into IMG: its format, virtual size and
 * backing file.  Returns 0 or -errno. */
static int
describe (virConnectPtr c, const char *path, struct chain_image *img)
{
  virStorageVolPtr v;
  CLEANUP_FREE char *xml = NULL;
  struct doc d = { 0 };
  char *cap;
  int r = -EIO;

  if ((v = volume_of (c, path, &r)) == NULL)
    return r;
  xml = virStorageVolGetXMLDesc (v, 0);
  virStorageVolFree (v);
  if (xml == NULL || xd_open (xml, &d) < 0)
    {
      xd_close (&d);
      return -EIO;
    }
  img->filename = xstrdup (path);
  img->format = xd_string (&d, NULL, "string(/volume/target/format/@type)");
  cap = xd_string (&d, NULL, "string(/volume/capacity)");
  img->virtual_size = cap ? strtoull (cap, NULL, 10) : 0;
  free (cap);
  img->backing = xd_string (&d, NULL, "string(/volume/backingStore/path)");
  img->backing_format
      = xd_string (&d, NULL, "string(/volume/backingStore/format/@type)");
  xd_close (&d);
  return img->format ? 0 : -EIO;
}

/* Refresh the pool of PATH's directory on C: libvirt reads a volume's
 * backing file when its pool is refreshed, and a block job on another
 * volume (a commit below it) changes it since. */
static void
refresh_pool_of (virConnectPtr c, const char *path)
{
  CLEANUP_FREE char *dir = xstrdup (path);
  virStoragePoolPtr pool = pool_for_dir (c, dirname (dir));

  if (pool && virStoragePoolRefresh (pool, 0) < 0)
    log_warning ("Cannot refresh the pool of '%s': %s", path, virt_error ());
  if (pool)
    virStoragePoolFree (pool);
}

int
remote_chain (struct host *h, const char *path, const char *format,
              struct chain **out)
{
  virConnectPtr c = host_conn (h);
  struct chain *ch;
  const char *next = path;
  int r = 0;

  (void)format; /* libvirt probes each volume's format itself */
  if (c == NULL)
    return -EIO;
  refresh_pool_of (c, path);
  ch = xcalloc (1, sizeof *ch);
  ch->images = xcalloc (CHAIN_MAX_DEPTH, sizeof *ch->images);
  while (next && r == 0)
    {
      if (ch->n == CHAIN_MAX_DEPTH)
        {
          r = -ELOOP;
          break;
        }
      /* Counted either way: chain_free frees what it filled. */
      r = describe (c, next, &ch->images[ch->n++]);
      next = ch->images[ch->n - 1].backing;
    }
  virConnectClose (c);
  if (r < 0 || ch->n == 0)
    {
      chain_free (ch);
      return r < 0 ? r : -EIO;
    }
  *out = ch;
  return 0;
}

/* vmsnapfs: what changed in a remote snapshot's disk, TARGET.delta.img and
 * TARGET.delta.json of a remote host, read through libvirt and NBD.
 *
 * libvirt says where no cluster of a remote file lies, and the daemon
 * opens no file there.  So qemu on that host reads the frozen volume: a
 * helper domain (its name starts with HELPER_PREFIX, which the views hide;
 * transient, started paused, AUTODESTROY: gone with our connection) whose
 * one disk is the volume, read-only, on its backing chain; libvirt's
 * backup API (virDomainBackupBegin, pull mode) starts its NBD server on
 * TCP at the host's name, and libnbd reads there.  libvirt 9.0 exports its
 * scratch node with base:allocation only, which cannot tell a cluster the
 * volume holds as zeros from one it does not hold; qemu's
 * "qemu:allocation-depth" can (1: the volume itself, as qemu-img map's
 * depth 0 that a local delta is cut by).  So one more export, of the
 * volume's own node with allocation depth, is added on that server with
 * libvirt's QEMU monitor passthrough.  What changed is then where the
 * depth is 1, the whole disk's data where base:allocation says no zeros:
 * the same extents as qemu-img map gives a local host, and the bytes are
 * those of the disk through its chain.
 *
 * A map is read once per frozen volume and kept (a frozen volume never
 * changes); an open has its own helper, destroyed at its close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <libnbd.h>
#include <libvirt/libvirt-qemu.h>
#include <libxml/uri.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "conn.h"
#include "helperdom.h"
#include "hostdef.h"
#include "remote.h"
#include "remotedelta.h"
#include "xmldoc.h"

/* The export with allocation depth, and the ports its server is tried
 * on. */
#define DELTA_EXPORT "vmsnapfs-delta"
#define PORT_FIRST 20000
#define PORT_SPAN 10000
#define PORT_TRIES 8
/* The most bytes one block status asks about. */
#define STATUS_MAX (1ULL << 30)

struct delta_reader
{
  virConnectPtr conn;
  virDomainPtr dom;
  struct nbd_handle *nbd;
  const struct map *map; /* what is data: kept in the list below */
  bool delta;
  uint64_t size;
};

/* The maps read, for the daemon's life. */
struct known
{
  struct known *next;
  struct host *host;
  uint64_t key;
  char *volume;
  bool delta;
  struct map *map;
};
static pthread_mutex_t known_lock = PTHREAD_MUTEX_INITIALIZER;
static struct known *known;
static unsigned helpers; /* names of helpers, under known_lock */
/* -o nbd_tls=DIR, absolute; NULL: NBD on loopback alone, no TLS. */
static char *tls_dir;

/* The map kept for KEY, or NULL; under known_lock. */
static struct known *
find_known (struct host *h, uint64_t key, const char *volume, bool delta)
{
  for (struct known *k = known; k; k = k->next)
    if (k->host == h && k->key == key && k->delta == delta
        && strcmp (k->volume, volume) == 0)
      return k;
  return NULL;
}

static const struct map *
known_map (struct host *h, uint64_t key, const char *volume, bool delta)
{
  SCOPED_LOCK (&known_lock);
  struct known *k = find_known (h, key, volume, delta);

  return k ? k->map : NULL;
}

/* Keep M as the map of KEY; the one kept first when two were read (the
 * lookup and the insertion under one lock: two readers keep one). */
static const struct map *
keep_map (struct host *h, uint64_t key, const char *volume, bool delta,
          struct map *m)
{
  SCOPED_LOCK (&known_lock);
  struct known *k = find_known (h, key, volume, delta);

  if (k)
    {
      map_free (m);
      return k->map;
    }
  k = xcalloc (1, sizeof *k);
  *k = (struct known){ known, h, key, xstrdup (volume), delta, m };
  known = k;
  return m;
}

/* --- the helper and its NBD export ------------------------------------- */

/* The host name of URI (an IPv6 address without its brackets), or
 * NULL. */
static char *
uri_server (const char *uri)
{
  xmlURIPtr u = xmlParseURI (uri);
  const char *n = u && u->server ? u->server : "";
  size_t len = strlen (n);
  char *s = NULL;

  if (len > 2 && n[0] == '[' && n[len - 1] == ']')
    s = xasprintf ("%.*s", (int)(len - 2), n + 1);
  else if (len > 0)
    s = xstrdup (n);
  xmlFreeURI (u);
  return s;
}

/* The loopback address NAME names (written as an address; "localhost":
 * 127.0.0.1), or NULL. */
static const char *
loopback (const char *name)
{
  struct in_addr a4;
  struct in6_addr a6;

  if (strcasecmp (name, "localhost") == 0)
    return "127.0.0.1";
  if (inet_pton (AF_INET, name, &a4) == 1)
    return (ntohl (a4.s_addr) >> 24) == 127 ? name : NULL;
  if (inet_pton (AF_INET6, name, &a6) == 1)
    return IN6_IS_ADDR_LOOPBACK (&a6) ? name : NULL;
  return NULL;
}

/* Where the NBD server of the host of URI listens: its name with TLS,
 * its loopback address without; NULL when it may not (no delta files). */
static char *
nbd_server (const char *uri)
{
  char *s = uri_server (uri);
  const char *lo;

  if (s == NULL || tls_dir)
    return s;
  lo = loopback (s);
  if (lo && lo != s)
    lo = xstrdup (lo);
  if (lo != s)
    free (s);
  return (char *)lo;
}

int
remote_delta_tls (const char *dir)
{
  static const char *const files[] = { "ca-cert.pem", "client-cert.pem",
                                       "client-key.pem" };
  char real[PATH_MAX];

  if (realpath (dir, real) == NULL)
    {
      int e = errno;

      fprintf (stderr, "vmsnapfs: nbd_tls=%s: %s\n", dir, strerror (e));
      return -e;
    }
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    {
      CLEANUP_FREE char *f = xasprintf ("%s/%s", real, files[i]);

      if (access (f, R_OK) < 0)
        {
          int e = errno;

          fprintf (stderr, "vmsnapfs: nbd_tls=%s: cannot read %s: %s\n",
                   dir, files[i], strerror (e));
          return -e;
        }
    }
  free (tls_dir);
  tls_dir = xstrdup (real);
  return 0;
}

void
remote_delta_note (const char *const *uris, size_t n)
{
  for (size_t i = 0; i < n && tls_dir == NULL; i++)
    {
      CLEANUP_FREE char *s = uri_server (uris[i]), *lo = nbd_server (uris[i]);

      if (s && lo == NULL)
        log_info ("'%s' shows no delta files: their NBD server would "
                  "listen on '%s', not a loopback address, with no "
                  "authentication.  -o nbd_tls=DIR (this machine's TLS "
                  "certificates) offers them.",
                  uris[i], s);
    }
}

bool
remote_delta_offered (const struct host *h)
{
  CLEANUP_FREE char *s = nbd_server (h->uri);

  return s != NULL;
}

static void
reader_end (struct delta_reader *r)
{
  if (r->nbd)
    {
      nbd_shutdown (r->nbd, 0);
      nbd_close (r->nbd);
    }
  if (r->dom)
    {
      if (virDomainDestroy (r->dom) < 0)
        log_warning ("Cannot destroy a reader domain: %s", virt_error ());
      virDomainFree (r->dom);
    }
  if (r->conn)
    virConnectClose (r->conn);
  free (r);
}

/* Start R's NBD server on SERVER (the backup's; its scratch file beside
 * VOLUME, named after the helper NAME) on a free port, in *PORT. */
static int
begin_backup (struct delta_reader *r, const char *name, const char *volume,
              const char *server, unsigned *port)
{
  CLEANUP_FREE char *dir = xstrdup (volume), *scratch = NULL;
  /* Another daemon, or one before, tries other ports first. */
  unsigned seed = (unsigned)getpid () ^ (unsigned)time (NULL)
                  ^ (unsigned)hash_strings (name, NULL);

  scratch = xasprintf ("%s/%s.scratch", dirname (dir), name);
  for (int i = 0; i < PORT_TRIES; i++)
    {
      CLEANUP_FREE char *xml = NULL;

      *port = PORT_FIRST + (unsigned)rand_r (&seed) % PORT_SPAN;
      xml = backup_pull_xml (server, *port, scratch, tls_dir != NULL);
      if (virDomainBackupBegin (r->dom, xml, NULL, 0) == 0)
        return 0;
      log_debug ("An NBD server on %s:%u for '%s' cannot start: %s", server,
                 *port, volume, virt_error ());
    }
  log_error ("Cannot start an NBD server on %s for '%s': %s", server, volume,
             virt_error ());
  return -EIO;
}

/* Export the node of R's disk (its index in the live XML) with its
 * allocation depth, on the backup's server. */
static int
export_depth (struct delta_reader *r, const char *volume)
{
  CLEANUP_FREE char *xml = virDomainGetXMLDesc (r->dom, 0), *index = NULL,
                    *cmd = NULL, *reply = NULL;
  struct doc d;

  if (xml && xd_open (xml, &d) == 0)
    {
      index = xd_string (&d, NULL, "string(/domain/devices/disk/source/@index)");
      xd_close (&d);
    }
  if (index == NULL || strspn (index, "0123456789") != strlen (index))
    {
      log_error ("The reader domain of '%s' shows no index of its disk.",
                 volume);
      return -EIO;
    }
  cmd = xasprintf ("{\"execute\":\"block-export-add\",\"arguments\":{"
                   "\"type\":\"nbd\",\"id\":\"" DELTA_EXPORT "\","
                   "\"node-name\":\"libvirt-%s-format\",\"name\":\"" DELTA_EXPORT
                   "\",\"allocation-depth\":true}}",
                   index);
  if (virDomainQemuMonitorCommand (r->dom, cmd, &reply, 0) < 0
      || strstr (reply, "\"error\""))
    {
      log_error ("Cannot export '%s' with its allocation depth: %s", volume,
                 reply ? reply : virt_error ());
      return -EIO;
    }
  return 0;
}

/* Connect R's libnbd to the export on SERVER:PORT. */
static int
connect_nbd (struct delta_reader *r, const char *volume, const char *server,
             unsigned port)
{
  char p[16];

  snprintf (p, sizeof p, "%u", port);
  if ((r->nbd = nbd_create ()) == NULL
      || (tls_dir
          && (nbd_set_tls (r->nbd, LIBNBD_TLS_REQUIRE) < 0
              || nbd_set_tls_certificates (r->nbd, tls_dir) < 0))
      || nbd_set_export_name (r->nbd, DELTA_EXPORT) < 0
      || nbd_add_meta_context (r->nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0
      || nbd_add_meta_context (r->nbd, "qemu:allocation-depth") < 0
      || nbd_connect_tcp (r->nbd, server, p) < 0)
    {
      log_error ("Cannot read '%s' over NBD at %s:%s: %s", volume, server, p,
                 nbd_get_error ());
      return -EIO;
    }
  if (nbd_can_meta_context (r->nbd, "qemu:allocation-depth") != 1)
    {
      log_error ("The NBD export of '%s' gives no allocation depth.", volume);
      return -EIO;
    }
  return 0;
}

/* A helper domain on H reading VOLUME (of FORMAT), its export connected,
 * in *OUT.  Returns 0 or -EIO (logged). */
static int
reader_start (struct host *h, const char *volume, const char *format,
              struct delta_reader **out)
{
  struct delta_reader *r = xcalloc (1, sizeof *r);
  CLEANUP_FREE char *name = NULL, *xml = NULL, *server = NULL;
  unsigned port = 0;
  int e = -EIO;

  pthread_mutex_lock (&known_lock);
  name = xasprintf ("%sread-%d-%u", HELPER_PREFIX, (int)getpid (),
                    helpers++);
  pthread_mutex_unlock (&known_lock);
  if ((server = nbd_server (h->uri)) == NULL)
    log_error ("Host '%s' cannot be read over NBD: its URI names no "
               "loopback address and -o nbd_tls is not given.",
               h->name);
  else if ((r->conn = host_open_own (h)) != NULL)
    {
      xml = reader_domain_xml (name, volume, format);
      r->dom = virDomainCreateXML (r->conn, xml,
                                   VIR_DOMAIN_START_PAUSED
                                       | VIR_DOMAIN_START_AUTODESTROY);
      if (r->dom == NULL)
        log_error ("Cannot start a reader domain for '%s' on its host: %s",
                   volume, virt_error ());
      else if ((e = begin_backup (r, name, volume, server, &port)) == 0
               && (e = export_depth (r, volume)) == 0)
        e = connect_nbd (r, volume, server, port);
    }
  if (e < 0)
    {
      reader_end (r);
      return e;
    }
  log_debug ("Reading '%s' through NBD at %s:%u (helper '%s').", volume,
             server, port, name);
  *out = r;
  return 0;
}

/* --- the map ----------------------------------------------------------- */

struct status
{
  const char *context;
  bool delta;
  uint64_t end; /* the disk's size */
  struct map *m;
  size_t cap;
};

/* Append [M->size, +LEN) of kind DATA to M, joined to its last extent
 * when of the same kind. */
static void
append (struct status *s, uint64_t len, bool data)
{
  struct map *m = s->m;
  struct extent *last = m->n ? &m->extents[m->n - 1] : NULL;

  if (data)
    m->data_bytes += len;
  if (last && last->data == data)
    last->length += len;
  else
    {
      if (m->n == s->cap)
        {
          s->cap = s->cap ? s->cap * 2 : 16;
          m->extents = xrealloc (m->extents, s->cap * sizeof *m->extents);
        }
      m->extents[m->n++] = (struct extent){ m->size, len, data };
    }
  m->size += len;
}

static int
on_extents (void *opaque, const char *context, uint64_t offset,
            uint32_t *entries, size_t n, int *error)
{
  struct status *s = opaque;

  (void)error;
  if (strcmp (context, s->context) != 0 || offset != s->m->size)
    return 0;
  for (size_t i = 0; i + 1 < n && s->m->size < s->end; i += 2)
    {
      uint64_t len = entries[i];
      bool data = s->delta ? entries[i + 1] == 1
                           : !(entries[i + 1] & LIBNBD_STATE_ZERO);

      if (len > s->end - s->m->size)
        len = s->end - s->m->size;
      if (len > 0)
        append (s, len, data);
    }
  return 0;
}

/* Read R's map: with DELTA, where the volume holds clusters itself; else
 * where the disk does not read as zeros. */
static int
read_map (struct delta_reader *r, const char *volume, struct map **out)
{
  struct status s = { r->delta ? "qemu:allocation-depth"
                               : LIBNBD_CONTEXT_BASE_ALLOCATION,
                      r->delta, r->size, xcalloc (1, sizeof *s.m), 0 };
  int64_t size = nbd_get_size (r->nbd);

  if (size < 0 || (uint64_t)size != r->size)
    {
      log_error ("The NBD export of '%s' is %" PRId64 " bytes, not %" PRIu64
                 ".",
                 volume, size, r->size);
      map_free (s.m);
      return -EIO;
    }
  while (s.m->size < r->size)
    {
      uint64_t at = s.m->size, want = r->size - at;

      if (want > STATUS_MAX)
        want = STATUS_MAX;
      if (nbd_block_status (r->nbd, want, at,
                            (nbd_extent_callback){ .callback = on_extents,
                                                   .user_data = &s },
                            0)
              < 0
          || s.m->size == at)
        {
          log_error ("The block status of '%s' at %" PRIu64
                     " cannot be read: %s",
                     volume, at, nbd_get_error ());
          map_free (s.m);
          return -EIO;
        }
    }
  *out = s.m;
  return 0;
}

/* --- what remote.c calls ----------------------------------------------- */

int
delta_open (struct host *h, uint64_t key, const char *volume,
            const char *format, uint64_t size, bool delta,
            struct delta_reader **out)
{
  struct delta_reader *r;
  struct map *m;
  int e;

  if ((e = reader_start (h, volume, format, &r)) < 0)
    return e;
  r->delta = delta;
  r->size = size;
  if ((r->map = known_map (h, key, volume, delta)) == NULL)
    {
      if ((e = read_map (r, volume, &m)) < 0)
        {
          reader_end (r);
          return e;
        }
      r->map = keep_map (h, key, volume, delta, m);
    }
  *out = r;
  return 0;
}

void
delta_close (struct delta_reader *r)
{
  if (r)
    reader_end (r);
}

int
remote_extents (struct host *h, uint64_t key, const char *volume,
               const char *format, uint64_t size, bool delta, bool probe,
               struct extent **out, size_t *n)
{
  const struct map *m = known_map (h, key, volume, delta);
  struct delta_reader *r;
  int e;

  *out = NULL;
  *n = 0;
  if (m == NULL && !probe)
    return -EAGAIN;
  if (m == NULL)
    {
      if ((e = delta_open (h, key, volume, format, size, delta, &r)) < 0)
        return e;
      m = r->map;
      delta_close (r);
    }
  *out = xmalloc (m->n * sizeof **out + 1);
  for (size_t i = 0; i < m->n; i++)
    if (m->extents[i].data)
      (*out)[(*n)++] = m->extents[i];
  return 0;
}

/* Read SIZE bytes at OFF (within the disk) of R's disk into BUF. */
static int
read_disk (struct delta_reader *r, char *buf, size_t size, uint64_t off)
{
  if (size > 0 && nbd_pread (r->nbd, buf, size, off, 0) < 0)
    {
      log_error ("Reading a remote disk over NBD at %" PRIu64 " failed: %s",
                 off, nbd_get_error ());
      return -EIO;
    }
  return 0;
}

ssize_t
delta_pread (struct delta_reader *r, char *buf, size_t size, uint64_t off)
{
  uint64_t end;

  if (off >= r->size)
    return 0;
  if (size > r->size - off)
    size = r->size - off;
  end = off + size;
  if (!r->delta)
    return read_disk (r, buf, size, off) < 0 ? -EIO : (ssize_t)size;
  /* What changed is read; zeros elsewhere. */
  for (uint64_t at = off; at < end;)
    {
      int64_t data = map_seek (r->map, at, true), hole;

      if (data < 0 || (uint64_t)data >= end)
        data = (int64_t)end;
      memset (buf + (at - off), 0, (uint64_t)data - at);
      if ((uint64_t)data >= end)
        break;
      hole = map_seek (r->map, (uint64_t)data, false);
      if (hole < 0 || (uint64_t)hole > end)
        hole = (int64_t)end;
      if (read_disk (r, buf + ((uint64_t)data - off),
                     (uint64_t)hole - (uint64_t)data, (uint64_t)data)
          < 0)
        return -EIO;
      at = (uint64_t)hole;
    }
  return (ssize_t)size;
}

int64_t
delta_seek (struct delta_reader *r, uint64_t off, bool data)
{
  return map_seek (r->map, off, data);
}

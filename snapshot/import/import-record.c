/* vmsnapfs: the record of an import under way, and its recovery
 * (import.h).
 *
 * An import makes files before the VM they belong to is defined, so a
 * daemon killed during it (kill -9, a crash, a reboot) would leave them
 * with nothing that names them.  So the import keeps a record in the new
 * VM's directory, IMPORT_RECORD: its name, the UUID it gives the VM,
 * whether it made the directory, and each file it made, written (and
 * synced) once the file is made (O_EXCL: the file is this import's), before
 * a byte is copied into it.  The record goes when the VM is whole, or when
 * a failure has removed what it made.  A record found later (by the next
 * daemon's recovery, or by the next import of that name) is of an import
 * that was cut short: its VM, if it got as far as being defined, and its
 * files are removed.  Either the whole VM or nothing.  Local hosts only:
 * a remote host's files are made there by libvirt, one at a time.  See
 * doc/DESIGN.md, Crash models.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"

#include "host/conn.h"
#include "host/vmlock.h"

#include "snapshot/hooks.h"

#include "import.h"

#define IMPORT_RECORD ".vmsnapfs-import"
#define DEFAULT_IMAGES "/var/lib/libvirt/images"

char *
import_images_base (virConnectPtr conn)
{
  virStoragePoolPtr pool = virStoragePoolLookupByName (conn, "default");
  CLEANUP_FREE char *xml = pool ? virStoragePoolGetXMLDesc (pool, 0) : NULL;
  char *a, *b;

  if (pool)
    virStoragePoolFree (pool);
  if (xml && (a = strstr (xml, "<path>")) && (b = strstr (a, "</path>")))
    return xasprintf ("%.*s", (int)(b - a - 6), a + 6);
  virResetLastError ();
  return xstrdup (DEFAULT_IMAGES);
}

/* The names being imported by this daemon (the lock file of each name
 * tells other daemons). */
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static char **names;
static size_t nnames;

int
import_name_take (struct host *h, const char *name)
{
  char key[32];
  int lock;

  pthread_mutex_lock (&names_lock);
  for (size_t i = 0; i < nnames; i++)
    if (strcmp (names[i], name) == 0)
      {
        pthread_mutex_unlock (&names_lock);
        log_error ("Import: another import of '%s' is under way.", name);
        return -EEXIST;
      }
  names = xrealloc (names, (nnames + 1) * sizeof *names);
  names[nnames++] = xstrdup (name);
  pthread_mutex_unlock (&names_lock);
  snprintf (key, sizeof key, "import-%016" PRIx64, hash_strings (name, NULL));
  if ((lock = vm_lock_take (h, key, name)) == -EBUSY)
    {
      import_name_drop (h, name, VM_LOCK_NONE);
      return -EEXIST;
    }
  return lock;
}

void
import_name_drop (struct host *h, const char *name, int lock)
{
  char key[32];

  snprintf (key, sizeof key, "import-%016" PRIx64, hash_strings (name, NULL));
  vm_lock_drop (h, key, lock);
  SCOPED_LOCK (&names_lock);
  for (size_t i = 0; i < nnames; i++)
    if (strcmp (names[i], name) == 0)
      {
        free (names[i]);
        names[i] = names[--nnames];
        break;
      }
}

/* Append LINE to IM's record, and sync it: 0 or -EIO (logged). */
static int
record_line (struct import *im, const char *line)
{
  size_t n = strlen (line);

  if (write (im->record, line, n) != (ssize_t)n || fdatasync (im->record) < 0)
    {
      log_error ("Import: cannot write its record in '%s': %m.", im->dir);
      return -EIO;
    }
  return 0;
}

int
import_record_begin (struct import *im)
{
  CLEANUP_FREE char *path = NULL, *head = NULL;

  im->record = -1;
  if (im->stage)
    return 0;
  path = xasprintf ("%s/" IMPORT_RECORD, im->dir);
  im->record = open (
      path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (im->record < 0)
    {
      log_error ("Import: cannot make its record '%s': %m.", path);
      return -EIO;
    }
  head = xasprintf ("vmsnapfs-import 1\nname %s\nuuid %s\ndir %s\n", im->name,
                    im->uuid, im->made_dir ? "made" : "found");
  return record_line (im, head);
}

int
import_record_file (struct import *im, const char *path)
{
  CLEANUP_FREE char *line = NULL;

  if (im->record < 0)
    return 0;
  line = xasprintf ("file %s\n", path);
  return record_line (im, line);
}

void
import_record_end (struct import *im)
{
  CLEANUP_FREE char *path = NULL;

  if (im->record < 0)
    return;
  path = xasprintf ("%s/" IMPORT_RECORD, im->dir);
  unlink (path);
  close (im->record);
  im->record = -1;
}

/* Undefine the VM of UUID that a cut-short import of NAME defined, unless
 * it runs: 0, or -EBUSY when it runs (it is kept). */
static int
undefine_cut (struct host *h, const char *name, const char *uuid)
{
  virConnectPtr conn = host_conn (h);
  virDomainPtr dom = conn ? virDomainLookupByUUIDString (conn, uuid) : NULL;
  int r = 0;

  if (dom == NULL)
    {
      virResetLastError ();
      return 0;
    }
  if (strcmp (virDomainGetName (dom), name) != 0)
    ; /* not the import's */
  else if (virDomainIsActive (dom) == 1)
    r = -EBUSY;
  else if (virDomainUndefineFlags (dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                                            | VIR_DOMAIN_UNDEFINE_NVRAM)
           < 0)
    log_error ("Import of '%s' cut short: cannot undefine it: %s", name,
               virt_error ());
  virDomainFree (dom);
  return r;
}

int
import_recover_dir (struct host *h, const char *dir, bool lock)
{
  CLEANUP_FREE char *path = xasprintf ("%s/" IMPORT_RECORD, dir);
  CLEANUP_FREE char *text = NULL;
  char name[256] = "", uuid[VIR_UUID_STRING_BUFLEN] = "", made[8] = "";
  char *line, *save = NULL;
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), held = -1;
  size_t files = 0, n = strlen (dir);
  struct stat st;
  int r = 0;

  if (fd < 0)
    return 0;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_uid != 0
      || st.st_size > IMPORT_MAX_FILE)
    {
      close (fd);
      return 0;
    }
  text = xcalloc (1, (size_t)st.st_size + 1);
  if (pread_full (fd, text, (size_t)st.st_size, 0) != st.st_size
      || sscanf (text, "vmsnapfs-import 1\nname %255[^\n]\nuuid %36s\ndir %7s",
                 name, uuid, made)
             != 3)
    {
      close (fd);
      log_warning ("'%s' is not a record of an import: left.", path);
      return 0;
    }
  if (lock && (held = import_name_take (h, name)) == -EEXIST)
    {
      close (fd);
      return 0; /* under way */
    }
  /* Read before the lock: the daemon that held it may have ended the
   * import since, and removed the record, its files now the VM's; or
   * named more files in it before it died. */
  if (lock && (fstat (fd, &st) < 0 || st.st_nlink == 0))
    {
      close (fd);
      log_info ("Import of '%s' is no longer under way (another vmsnapfs "
                "ended it meanwhile); nothing to roll back.",
                name);
      import_name_drop (h, name, held);
      return 0;
    }
  if (lock && st.st_size <= IMPORT_MAX_FILE)
    {
      free (text);
      text = xcalloc (1, (size_t)st.st_size + 1);
      if (pread_full (fd, text, (size_t)st.st_size, 0) != st.st_size)
        text[0] = '\0'; /* its files kept: only its VM goes */
    }
  close (fd);
  if (undefine_cut (h, name, uuid) == -EBUSY)
    log_warning ("Import of '%s' cut short, but the VM it defined runs: "
                 "kept.",
                 name);
  else
    {
      for (line = strtok_r (text, "\n", &save); line;
           line = strtok_r (NULL, "\n", &save))
        if (strncmp (line, "file ", 5) == 0 && strncmp (line + 5, dir, n) == 0
            && line[5 + n] == '/' && !strchr (line + 6 + n, '/')
            && unlink (line + 5) == 0)
          files++; /* only files of DIR's own */
      log_info ("Import of '%s' into '%s' was cut short (the daemon "
                "stopped): rolled back, %zu files removed.",
                name, dir, files);
    }
  unlink (path);
  if (strcmp (made, "made") == 0)
    rmdir (dir); /* when empty */
  /* Of DIR's own name: its import may take DIR again. */
  if (strcmp (name, strrchr (dir, '/') ? strrchr (dir, '/') + 1 : dir) == 0)
    r = strcmp (made, "made") == 0 ? 2 : 1;
  if (lock)
    import_name_drop (h, name, held);
  return r;
}

void
import_recover (struct host *h)
{
  virConnectPtr conn;
  CLEANUP_FREE char *base = NULL;
  struct dirent *e;
  DIR *d;

  if (!host_is_local (h) || (conn = host_conn (h)) == NULL)
    return;
  base = import_images_base (conn);
  if ((d = opendir (base)) == NULL)
    return;
  while ((e = readdir (d)) != NULL)
    if (e->d_name[0] != '.')
      {
        CLEANUP_FREE char *dir = xasprintf ("%s/%s", base, e->d_name);

        import_recover_dir (h, dir, true);
      }
  closedir (d);
}

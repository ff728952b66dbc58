/* vmsnapfs: a snapshot's libguestfs handle started, and its file systems
 * laid out (see guestfiles.h): as inspection finds the guest's operating
 * system, else one directory per file system, each with the reason it
 * shows nothing when it does not.  Without libguestfs, no appliance: an
 * empty "/" and the line that says what to install.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestfiles.h"
#include "handle.h"
#include "log.h"
#include "util.h"

static bool tcg_only; /* KVM failed once: TCG from then on */

/* The directory a file system of device DEV shows as: the guest's name of
 * its disk and the partition number ("/dev/sdb1" of the second drive is
 * "vdb1"), a logical volume's "VG-LV", else DEV without "/dev/". */
static char *
fs_dir_name (const struct guestfiles *gf, const char *dev)
{
  const char *p = dev;
  size_t index = 0, letters = 0;
  char *name, *s;

  if (strncmp (p, "/dev/sd", 7) == 0)
    {
      for (p += 7; *p >= 'a' && *p <= 'z'; p++, letters++)
        index = index * 26 + (size_t)(*p - 'a') + (letters ? 26 : 0);
      if (letters && index < gf->ntargets
          && strspn (p, "0123456789") == strlen (p))
        return xasprintf ("%s%s", gf->targets[index], p);
    }
  name = xstrdup (strncmp (dev, "/dev/", 5) == 0 ? dev + 5 : dev);
  for (s = name; *s; s++)
    if (*s == '/')
      *s = '-';
  return name;
}

/* Add a line to GF's errors: why a file system shows nothing. */
static void add_error (struct guestfiles *gf, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
add_error (struct guestfiles *gf, const char *fmt, ...)
{
  va_list ap;
  char *line, *all_lines;

  va_start (ap, fmt);
  if (vasprintf (&line, fmt, ap) < 0)
    abort ();
  va_end (ap);
  all_lines = xasprintf ("%s%s\n", gf->errors ? gf->errors : "", line);
  free (line);
  free (gf->errors);
  gf->errors = all_lines;
}

/* --- starting and laying out ------------------------------------------ */

/* Mount what inspection found, "/" first. */
static void
mount_inspected (struct guestfiles *gf, const char *root)
{
  char **mps = gfs.inspect_get_mountpoints (gf->g, root);
  size_t n = 0;

  for (; mps && mps[n]; n += 2)
    ;
  /* Shorter mount points first: "/" before "/boot". */
  for (size_t len = 1; len < 4096 && n; len++)
    for (size_t i = 0; i < n; i += 2)
      if (strlen (mps[i]) == len
          && gfs.mount_ro (gf->g, mps[i + 1], mps[i]) < 0)
        add_error (gf, "%s (%s): %s", mps[i], mps[i + 1],
                   gfs.last_error (gf->g));
  guest_free_strings (mps);
}

/* An empty directory for file system NAME, and the line that says why it
 * shows nothing (TYPE: libguestfs's name of what is there). */
static void
show_unreadable (struct guestfiles *gf, const char *name, const char *type)
{
  if (strcmp (type, "crypto_LUKS") == 0)
    add_error (gf, "%s: encrypted (LUKS), and vmsnapfs has no key", name);
  else if (strcmp (type, "unknown") == 0 || type[0] == '\0')
    add_error (gf, "%s: no file system that libguestfs can read", name);
  else
    add_error (gf, "%s: %s, which libguestfs cannot read", name, type);
}

/* Mount DEV of TYPE at a directory of its own, or say why not. */
static void
mount_one (struct guestfiles *gf, const char *dev, const char *type,
           bool readable)
{
  char *name = fs_dir_name (gf, dev), *mp = xasprintf ("/%s", name);

  if (gfs.mkmountpoint (gf->g, mp) < 0)
    add_error (gf, "%s: %s", name, gfs.last_error (gf->g));
  else if (!readable)
    show_unreadable (gf, name, type);
  else if (gfs.mount_ro (gf->g, dev, mp) < 0)
    add_error (gf, "%s (%s): %s", name, type, gfs.last_error (gf->g));
  free (name);
  free (mp);
}

static bool
listed (char **fss, const char *dev)
{
  for (size_t i = 0; fss && fss[i] && fss[i + 1]; i += 2)
    if (strcmp (fss[i], dev) == 0)
      return true;
  return false;
}

/* No operating system: each file system in a directory of its own, and
 * each partition that holds none (libguestfs lists no encrypted ones)
 * empty, with its reason. */
static void
mount_each (struct guestfiles *gf)
{
  char **fss = gfs.list_filesystems (gf->g);
  char **parts = gfs.list_partitions (gf->g);

  if (fss == NULL)
    add_error (gf, "the disks: %s", gfs.last_error (gf->g));
  for (size_t i = 0; fss && fss[i] && fss[i + 1]; i += 2)
    if (strcmp (fss[i + 1], "swap") != 0)
      mount_one (gf, fss[i], fss[i + 1],
                 strcmp (fss[i + 1], "unknown") != 0
                     && strcmp (fss[i + 1], "crypto_LUKS") != 0);
  for (size_t i = 0; parts && parts[i]; i++)
    if (!listed (fss, parts[i]))
      {
        /* Swap holds no files; LVM and RAID members show as the volumes
         * made of them. */
        char *type = gfs.vfs_type (gf->g, parts[i]);
        if (type == NULL
            || (strcmp (type, "swap") != 0 && strcmp (type, "LVM2_member") != 0
                && strcmp (type, "linux_raid_member") != 0))
          mount_one (gf, parts[i], type ? type : "", false);
        free (type);
      }
  guest_free_strings (fss);
  guest_free_strings (parts);
}

/* A handle with the drives added, launched; TCG when asked. */
static guestfs_h *
launch (const struct guest_drive *drives, size_t n, bool tcg, char **err)
{
  guestfs_h *g = gfs.create ();
  char *backend;

  if (g == NULL)
    {
      *err = xstrdup ("guestfs_create failed");
      return NULL;
    }
  gfs.set_error_handler (g, NULL, NULL);
  /* The libvirt backend would show its appliance as a VM of the host. */
  if (getenv ("LIBGUESTFS_BACKEND") == NULL)
    gfs.set_backend (g, "direct");
  /* The daemon's directory, for the direct backend (libvirt's qemu runs
   * as another user). */
  backend = gfs.get_backend (g);
  if (backend && strcmp (backend, "direct") == 0 && guest_tmpdir ())
    gfs.set_tmpdir (g, guest_tmpdir ());
  free (backend);
  gfs.set_recovery_proc (g, 1);
  if (tcg)
    {
      /* A flag, not NAME=VALUE: "force_tcg=" fails the launch. */
      char *flags[] = { (char *)"force_tcg", NULL };
      gfs.set_backend_settings (g, flags);
    }
  for (size_t i = 0; i < n; i++)
    {
      char *name = xasprintf ("/dev/%s", drives[i].target);
      int r = gfs.add_drive_opts (
          g, drives[i].path, GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
          GUESTFS_ADD_DRIVE_OPTS_FORMAT, drives[i].format,
          GUESTFS_ADD_DRIVE_OPTS_NAME, name, -1);
      free (name);
      if (r < 0)
        goto fail;
    }
  if (gfs.launch (g) == 0)
    return g;
fail:
  *err = xstrdup (gfs.last_error (g) ? gfs.last_error (g) : "?");
  gfs.close (g);
  return NULL;
}

/* "/" as an empty directory: nothing is mounted there. */
static void
empty_root (struct guestfiles *gf)
{
  gf->root.st_mode = S_IFDIR | 0555;
  gf->root.st_nlink = 2;
  gf->root.st_ino = guest_ino (gf->snap, 0, 0);
}

int
guest_start (struct guestfiles *gf, const struct guest_drive *drives, size_t n,
             const char *label)
{
  long long t0 = now_ms ();
  char *err = NULL, **roots;
  struct guestfs_statns *root;
  const char *settings = getenv ("LIBGUESTFS_BACKEND_SETTINGS"), *why;
  bool tcg = __atomic_load_n (&tcg_only, __ATOMIC_RELAXED);

  if (guest_lib_load (&why) < 0)
    {
      add_error (gf, "%s", why);
      empty_root (gf);
      return 0;
    }
  /* Where KVM is there but unusable (nested, say), qemu fails: once more
   * with TCG, slower but sure, and TCG from then on. */
  gf->g = launch (drives, n, tcg, &err);
  if (gf->g == NULL && !tcg && !(settings && strstr (settings, "force_tcg")))
    {
      log_warning ("%s: libguestfs did not start (%s); again without KVM.",
                   label, err);
      free (err);
      err = NULL;
      if ((gf->g = launch (drives, n, true, &err)) != NULL)
        __atomic_store_n (&tcg_only, true, __ATOMIC_RELAXED);
    }
  if (gf->g == NULL)
    {
      log_error ("%s: libguestfs did not start: %s", label, err);
      free (err);
      return -EIO;
    }
  gf->ntargets = n;
  gf->targets = xcalloc (n ? n : 1, sizeof *gf->targets);
  for (size_t i = 0; i < n; i++)
    gf->targets[i] = xstrdup (drives[i].target);

  roots = gfs.inspect_os (gf->g);
  gf->os = roots && roots[0];
  if (gf->os)
    mount_inspected (gf, roots[0]);
  else
    mount_each (gf);
  guest_free_strings (roots);

  /* With nothing mounted at "/", its stat is refused. */
  if ((root = gfs.lstatns (gf->g, "/")) != NULL)
    {
      guest_stat_from (gf->snap, root, &gf->root);
      gfs.free_statns (root);
    }
  else
    empty_root (gf);
  log_info ("%s: guest files ready in %lld ms (%s)%s%s", label, now_ms () - t0,
            gf->os ? "inspected" : "one directory per file system",
            gf->errors ? "; not shown: " : "", gf->errors ? gf->errors : "");
  return 0;
}

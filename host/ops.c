/* vmsnapfs: what every operation on a VM shares: one at a time per VM,
 * errors mapped to SPEC.md's errnos, and the commands of the state and
 * snapshot-mode files. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pthread.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"
#include "serve.h"
#include "util.h"
#include "virxml.h"

#include "conn.h"
#include "files.h"
#include "ops.h"
#include "refresh.h"
#include "vmop.h"

int
snapshot_name_check (const char *name)
{
  size_t len = strlen (name);

  if (len > SNAPSHOT_NAME_MAX)
    return -ENAMETOOLONG;
  if (len == 0 || name[0] == '.' || strchr (name, '/') || !utf8_text_ok (name))
    return -EINVAL;
  return 0;
}

static const struct
{
  const char *word;
  int (*run) (virDomainPtr dom);
} commands[] = {
  { "start", virDomainCreate },
  { "shutdown", virDomainShutdown }, /* ACPI: the guest decides */
  { "destroy", virDomainDestroy },
};

/* Start VM by restoring the memory of its resume snapshot onto its
 * current disks, and forget the pending restore. */
static int
restore_memory (const struct vs_vm *vm, virDomainPtr dom)
{
  virConnectPtr c = NULL;
  CLEANUP_FREE char *saved = NULL, *xml = NULL;
  const struct vs_snapshot *snap;
  struct disk_change *ch = NULL;
  struct dom_xml *dx = NULL;
  int r = -EIO;

  if ((snap = vm_find_snapshot (vm, vm->resume)) == NULL
      || snap->memory_file == NULL)
    {
      log_error ("VM '%s': the memory of snapshot '%s' is gone; remove "
                 "'resume' to boot instead.",
                 vm->name, vm->resume);
      return -EIO;
    }
  if (read_inactive (vm->name, dom, NULL, &dx) < 0)
    return -EIO;
  if ((c = vm_conn (vm)) == NULL
      || (saved = virDomainSaveImageGetXMLDesc (
              c, snap->memory_file, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE))
             == NULL)
    {
      log_error ("VM '%s': cannot read the memory of '%s': %s", vm->name,
                 snap->name, virt_error ());
      goto out;
    }
  /* The saved domain names the volumes of the snapshot's time: point it
   * at the VM's disks now. */
  ch = xcalloc (dx->ndisks, sizeof *ch);
  for (size_t i = 0; i < dx->ndisks; i++)
    ch[i] = (struct disk_change){ dx->disks[i].target, dx->disks[i].source,
                                  dx->disks[i].format };
  if ((xml = dom_xml_edit (saved, ch, dx->ndisks, NULL)) == NULL)
    {
      log_error ("VM '%s': the memory of '%s' is of other disks.", vm->name,
                 snap->name);
      goto out;
    }
  if (virDomainRestoreFlags (c, snap->memory_file, xml,
                             VIR_DOMAIN_SAVE_RUNNING)
      < 0)
    {
      r = -virt_errno ();
      log_error ("VM '%s': cannot restore the memory of '%s': %s", vm->name,
                 snap->name, virt_error ());
      goto out;
    }
  /* Restored once: the next start boots. */
  free (dx->meta.resume);
  dx->meta.resume = NULL;
  r = meta_write (vm, dom, &dx->meta);
  log_info ("VM '%s': restored the memory of snapshot '%s'.", vm->name,
            snap->name);
out:
  if (c)
    virConnectClose (c);
  free (ch);
  dom_xml_free (dx);
  return r;
}

int
host_vm_command (const struct vs_vm *vm, const char *command)
{
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  size_t i;
  int r;

  for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (command, commands[i].word) == 0)
      break;
  if (i == sizeof commands / sizeof commands[0])
    {
      log_error ("VM '%s': '%s' is not a command of the state file "
                 "(start, shutdown, destroy).",
                 vm->name, command);
      return -EINVAL;
    }
  /* A clone may start once its snapshot is defined in it (an instant
   * one's, made in `ln` over its tops: snapshot/clone/); a clone copied
   * first, by an older vmsnapfs, defines it at its end. */
  if (strcmp (command, "start") == 0 && vm->restoring)
    {
      CLEANUP_FREE char *sock = serve_sock (vm->uuid);

      if (!serve_alive (0, sock))
        {
          log_error ("VM '%s': the backup's export is gone; it starts once "
                     "the backup is imported again (remove the VM, mount "
                     "the backup, re-run the import).",
                     vm->name);
          return -EBUSY;
        }
    }
  else if (strcmp (command, "start") == 0 && vm->cloning
           && (vm->clone_snapshot == NULL
               || vm_find_snapshot (vm, vm->clone_snapshot) == NULL))
    {
      log_error ("VM '%s': it is a clone still being copied (see its jobs); "
                 "it starts once the copy is whole.",
                 vm->name);
      return -EBUSY;
    }
  if ((r = vm_op_begin (vm)) < 0)
    return r;
  if ((r = lookup_domain (vm, &dom)) < 0)
    ;
  /* A managed save image is a run to resume, as virsh start resumes it:
   * the memory of a snapshot restored instead would meet volumes that run
   * changed, and the image would be lost. */
  else if (strcmp (command, "start") == 0 && vm->resume
           && virDomainIsActive (dom) == 0
           && virDomainHasManagedSaveImage (dom, 0) == 0)
    r = restore_memory (vm, dom);
  else if (commands[i].run (dom) < 0)
    {
      r = -virt_errno ();
      log_error ("VM '%s': '%s' failed: %s", vm->name, command, virt_error ());
    }
  else
    log_info ("VM '%s': %s.", vm->name, command);
  host_sync (vm, false); /* failed or not: libvirt may have shown a part */
  vm_op_end (vm);
  return r;
}

int
meta_update (const struct vs_vm *vm,
             int (*change) (struct vs_meta *m, const char *arg),
             const char *arg)
{
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  struct vs_meta meta = { 0 };
  int r;

  if ((r = vm_op_begin (vm)) < 0)
    return r;
  if ((r = lookup_domain (vm, &dom)) < 0)
    ;
  else if ((r = meta_read (vm, dom, &meta)) == 0
           && (r = change (&meta, arg)) == 0)
    r = meta_write (vm, dom, &meta);
  vs_meta_clear (&meta);
  host_sync (vm, false); /* failed or not: libvirt may have shown a part */
  vm_op_end (vm);
  return r;
}

static int
set_mode (struct vs_meta *m, const char *mode)
{
  free (m->snapshot_mode);
  m->snapshot_mode = xstrdup (mode);
  return 0;
}

int
host_set_snapshot_mode (const struct vs_vm *vm, const char *mode)
{
  if (strcmp (mode, "memory") != 0 && strcmp (mode, "disk") != 0
      && strcmp (mode, "quiesce") != 0)
    {
      log_error ("VM '%s': '%s' is not a snapshot mode (memory, disk, "
                 "quiesce).",
                 vm->name, mode);
      return -EINVAL;
    }
  return meta_update (vm, set_mode, mode);
}

char *
new_volume_in (struct host *h, const char *dir, const char *vm,
               const char *stem, const char *ext)
{
  CLEANUP_FREE char *part = file_name_part (vm);
  CLEANUP_FREE char *safe = safe_file_name (stem);
  char *p = xasprintf ("%s/%s.%s.%s", dir, part, safe, ext);

  for (int i = 1; host_file_exists (h, p); i++)
    {
      free (p);
      p = xasprintf ("%s/%s.%s-%d.%s", dir, part, safe, i, ext);
    }
  return p;
}

char *
new_volume_path (struct host *h, const char *beside, const char *vm,
                 const char *stem, const char *ext)
{
  CLEANUP_FREE char *copy = xstrdup (beside);

  return new_volume_in (h, dirname (copy), vm, stem, ext);
}

int
make_vm_dir (const char *dir)
{
  if (mkdir (dir, 0700) < 0)
    return -errno;
  /* Wider than the umask: qemu, as libvirt's user, goes through it to the
   * files libvirt gives it, and sees no others. */
  if (chmod (dir, 0711) < 0)
    {
      int e = errno;

      rmdir (dir);
      return -e;
    }
  return 0;
}

int
create_private (const char *path)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0600);

  if (fd < 0)
    return -errno;
  close (fd);
  return 0;
}

int
run_volume_tool (const char *what, const char *const argv[],
                 bool (*cancel) (void))
{
  return run_volume_tool_fd (what, argv, -1, cancel);
}

int
run_volume_tool_fd (const char *what, const char *const argv[], int keep,
                    bool (*cancel) (void))
{
  CLEANUP_FREE char *out = NULL, *err = NULL;
  int r = run_capture_keep (argv, keep, 65536, 24 * 3600 * 1000, cancel, &out,
                            NULL, &err);

  if (r == -ECANCELED)
    return -ESHUTDOWN;
  if (r != 0)
    {
      log_error ("%s failed%s%s.", what, err ? ": " : "", err ? err : "");
      return err && strstr (err, "No space") ? -ENOSPC : -EIO;
    }
  return 0;
}

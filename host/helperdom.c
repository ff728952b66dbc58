/* vmsnapfs: block jobs on the volumes of a shut-off VM of a remote host,
 * and the block pull that fills a clone's copy and the block copy that
 * moves a shut-off remote clone's disk onto it (snapshot/clone/).
 *
 * On this machine an offline merge runs qemu-img on the files.  A remote
 * host's files are reached through libvirt alone, and libvirt runs no
 * qemu-img commit; it runs qemu's block jobs on a running domain.  So the
 * commit runs in a helper: a transient domain with nothing but the one
 * disk, started paused (no guest code ever runs) and destroyed after,
 * libvirt's block commit as for a live merge:
 *
 *   - TOP with a volume CHILD standing on it: the helper's disk is CHILD,
 *     and a commit of TOP into BASE rewrites CHILD's backing file to BASE,
 *     as in a running VM;
 *   - TOP with none: the helper's disk is TOP, and the active-layer commit
 *     ends with a pivot to BASE.
 *
 * The helper is started with AUTODESTROY: if the daemon dies, libvirt
 * destroys it with the connection, the commit stops, and the merge, still
 * recorded in its "commit" phase, is done again at the next start (a
 * commit redone is harmless: nothing else writes BASE while TOP stands on
 * it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "conn.h"
#include "helperdom.h"
#include "vmop.h"

/* How often the helper's block job is looked at, in milliseconds. */
#define HELPER_POLL_MS 200

/* Destroy the helper NAME of C, left by an earlier try. */
static void
destroy_leftover (virConnectPtr c, const char *name)
{
  virDomainPtr d = virDomainLookupByName (c, name);

  if (d)
    {
      virDomainDestroy (d);
      virDomainFree (d);
    }
}

/* Whether disk vda of helper D has a mirror ready to pivot. */
static bool
mirror_ready (virDomainPtr d)
{
  CLEANUP_FREE char *xml = virDomainGetXMLDesc (d, 0);
  struct dom_xml *dx = NULL;
  bool ready = false;

  if (xml && dom_xml_parse (xml, &dx) == 0 && dx->ndisks > 0)
    ready = dx->disks[0].mirror_ready;
  dom_xml_free (dx);
  return ready;
}

/* Start the helper of VM for disk TARGET on volume DISK (of FORMAT), paused,
 * into *D (its connection's reference in *C).  Returns 0 or -EIO
 * (logged). */
static int
helper_start (const struct vs_vm *vm, const char *target, const char *disk,
              const char *format, virConnectPtr *c, virDomainPtr *d)
{
  CLEANUP_FREE char *name = NULL, *xml = NULL;

  *d = NULL;
  if ((*c = vm_conn (vm)) == NULL)
    return -EIO;
  name = xasprintf ("%s%.8s-%s", HELPER_PREFIX, vm->uuid, target);
  destroy_leftover (*c, name);
  xml = helper_domain_xml (name, disk, format);
  *d = virDomainCreateXML (
      *c, xml, VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_AUTODESTROY);
  if (*d == NULL)
    {
      log_error ("VM '%s': cannot start a helper domain on its host: %s",
                 vm->name, virt_error ());
      virConnectClose (*c);
      return -EIO;
    }
  return 0;
}

/* Stop helper D (of connection C) and release both: gracefully, so that
 * its qemu writes what it holds of its disk before it exits (a pull's or
 * copy's destination is whole only then).  0, or -EIO when it would not
 * stop so (logged; the next try's helper_start destroys it). */
static int
helper_end (const struct vs_vm *vm, virConnectPtr c, virDomainPtr d)
{
  int r = 0;

  if (virDomainDestroyFlags (d, VIR_DOMAIN_DESTROY_GRACEFUL) < 0)
    {
      log_error ("VM '%s': its helper domain would not stop: %s", vm->name,
                 virt_error ());
      r = -EIO;
    }
  virDomainFree (d);
  virConnectClose (c);
  return r;
}

/* What ends a helper's job: its own end (a commit, a pull); a pivot once
 * in step (an active commit); or, once in step, an end without a pivot (a
 * block copy, whose destination then holds a consistent copy). */
enum job_end
{
  JOB_ENDS,
  JOB_PIVOT,
  JOB_CANCEL,
};

/* Wait for the block job on helper D to end as END says: 0, -ESHUTDOWN
 * when STOP says so first, or -EIO.  NOTE (unless NULL) is told where the
 * job is, with ARG, at each look. */
static int
wait_job (const struct vs_vm *vm, virDomainPtr d, enum job_end end,
          bool (*stop) (void), helper_note_fn note, void *arg)
{
  virDomainBlockJobInfo info;
  int j;

  for (;;)
    {
      struct timespec pause = { 0, (long)HELPER_POLL_MS * 1000 * 1000 };

      if (stop && stop ())
        return -ESHUTDOWN;
      if ((j = virDomainGetBlockJobInfo (d, "vda", &info, 0)) < 0)
        {
          log_error ("VM '%s': the helper's block job cannot be followed: "
                     "%s",
                     vm->name, virt_error ());
          return -EIO;
        }
      if (j == 0 && end == JOB_ENDS)
        return 0; /* over */
      if (j == 0)
        {
          /* A copy or an active commit ends only by our call below: gone
           * before, it failed (its destination full, an I/O error). */
          log_error ("VM '%s': the helper's block job ended before it was "
                     "in step: it failed.",
                     vm->name);
          return -EIO;
        }
      if (note)
        note (arg, &info);
      if (end != JOB_ENDS && info.cur == info.end && mirror_ready (d))
        {
          if (virDomainBlockJobAbort (
                  d, "vda",
                  end == JOB_PIVOT ? VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT : 0)
              == 0)
            return 0;
          log_debug ("VM '%s': the helper's job would not end (%s); again.",
                     vm->name, virt_error ());
        }
      nanosleep (&pause, NULL);
    }
}

int
helper_commit (const struct vs_vm *vm, const struct merge_disk *md,
               const char *child, const char *child_format,
               unsigned long bandwidth, bool (*stop) (void))
{
  virConnectPtr c;
  virDomainPtr d;
  bool active = child == NULL;
  int r;

  log_info ("VM '%s': committing '%s' into '%s' in a paused helper domain "
            "on its host (%s%s).",
            vm->name, md->top, md->base,
            child ? "its disk on " : "its disk on the top, then a pivot",
            child ? child : "");
  if (helper_start (vm, md->target, active ? md->top : child,
                    active ? md->top_format : child_format, &c, &d)
      < 0)
    return -EIO;
  if (virDomainBlockCommit (d, "vda", md->base, md->top, bandwidth,
                            active ? VIR_DOMAIN_BLOCK_COMMIT_ACTIVE : 0)
      < 0)
    {
      log_error ("VM '%s': the helper cannot commit '%s' into '%s': %s",
                 vm->name, md->top, md->base, virt_error ());
      r = -EIO;
    }
  else
    r = wait_job (vm, d, active ? JOB_PIVOT : JOB_ENDS, stop, NULL, NULL);
  if (helper_end (vm, c, d) < 0 && r == 0)
    r = -EIO;
  return r;
}

int
helper_pull (const struct vs_vm *vm, const char *target, const char *path,
             const char *format, const char *base, unsigned long bandwidth,
             bool (*stop) (void), helper_note_fn note, void *arg)
{
  virConnectPtr c;
  virDomainPtr d;
  int r;

  log_info ("VM '%s': pulling into '%s' down to '%s' in a paused helper "
            "domain on its host.",
            vm->name, path, base ? base : "nothing");
  if (helper_start (vm, target, path, format, &c, &d) < 0)
    return -EIO;
  if (virDomainBlockRebase (d, "vda", base, bandwidth, 0) < 0)
    {
      log_error ("VM '%s': the helper cannot pull into '%s': %s", vm->name,
                 path, virt_error ());
      r = -EIO;
    }
  else
    r = wait_job (vm, d, JOB_ENDS, stop, note, arg);
  if (helper_end (vm, c, d) < 0 && r == 0)
    r = -EIO;
  return r;
}

int
helper_copy (const struct vs_vm *vm, const char *target, const char *top,
             const char *format, const char *dest, bool (*stop) (void))
{
  CLEANUP_FREE char *xml = copy_dest_xml (dest, "qcow2");
  virConnectPtr c;
  virDomainPtr d;
  int r;

  log_info ("VM '%s': copying what '%s' holds into '%s' in a paused helper "
            "domain on its host.",
            vm->name, top, dest);
  if (helper_start (vm, target, top, format, &c, &d) < 0)
    return -EIO;
  if (virDomainBlockCopy (d, "vda", xml, NULL, 0,
                          VIR_DOMAIN_BLOCK_COPY_SHALLOW
                              | VIR_DOMAIN_BLOCK_COPY_REUSE_EXT)
      < 0)
    {
      log_error ("VM '%s': the helper cannot copy '%s' into '%s': %s",
                 vm->name, top, dest, virt_error ());
      r = -EIO;
    }
  else
    r = wait_job (vm, d, JOB_CANCEL, stop, NULL, NULL);
  if (helper_end (vm, c, d) < 0 && r == 0)
    r = -EIO;
  return r;
}

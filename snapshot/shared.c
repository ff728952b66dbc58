/* vmsnapfs: what several verbs share, below them all (shared.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "host.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/conn.h"
#include "host/refresh.h"
#include "host/vmop.h"

#include "snapshot/shared.h"

static unsigned long bandwidth_mib; /* 0: unlimited */

unsigned long
merge_bandwidth (void)
{
  return bandwidth_mib;
}

void
merge_set_bandwidth (unsigned long mib_per_s)
{
  bandwidth_mib = mib_per_s;
}

int
worker_start (void *(*fn) (void *), void *arg)
{
  pthread_attr_t attr;
  pthread_t t;
  int e;

  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  e = pthread_create (&t, &attr, fn, arg);
  pthread_attr_destroy (&attr);
  return e;
}

int
snapshot_name_valid (const struct vs_vm *vm, const char *name)
{
  int r;

  if ((r = snapshot_name_check (name)) < 0)
    {
      CLEANUP_FREE char *shown = printable (name);

      log_error ("VM '%s': '%s' is not a valid snapshot name: 1 to %d "
                 "bytes of UTF-8 without '/' or control characters, not "
                 "starting with '.'.",
                 vm->name, shown, SNAPSHOT_NAME_MAX);
    }
  return r;
}

int
clone_job_check (const struct vs_vm *vm, const char *what)
{
  if (!vm->cloning)
    return 0;
  log_error ("VM '%s': %s while it is a clone still being made independent "
             "of its source (see its jobs).",
             vm->name, what);
  return -EBUSY;
}

void
vm_stand_in (struct vs_vm *v, struct host *h, const char *name,
             const char *uuid)
{
  memset (v, 0, sizeof *v);
  v->name = (char *)name;
  v->host = h;
  snprintf (v->uuid, sizeof v->uuid, "%s", uuid);
}

void
recover_each (const struct vs_host *h,
              bool (*pending) (const struct vs_vm *vm),
              bool (*recorded) (const struct vs_meta *m), const char *what,
              void (*carry) (const struct vs_vm *vm, virDomainPtr dom))
{
  for (size_t i = 0; i < h->nvms; i++)
    {
      const struct vs_vm *vm = h->vms[i];
      CLEANUP_DOMAIN virDomainPtr dom = NULL;
      struct vs_meta m = { 0 };

      if (!pending (vm) || vm_op_begin (vm) < 0)
        continue;
      /* The view was read before the lock: the daemon that held it may
       * have ended the operation since.  A record that cannot be read is
       * left to CARRY, which reads it too. */
      if (lookup_domain (vm, &dom) == 0 && meta_read (vm, dom, &m) == 0
          && !recorded (&m))
        log_info ("VM '%s': an operation its record named is no longer "
                  "under way (another vmsnapfs ended it meanwhile); nothing "
                  "to carry on.",
                  vm->name);
      else
        {
          log_info ("VM '%s': %s", vm->name, what);
          if (dom)
            carry (vm, dom);
        }
      vs_meta_clear (&m);
      host_sync (vm, true);
      vm_op_end (vm);
    }
}

/* vmsnapfs: the block jobs of a VM, as the jobs files show them. */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "cleanup.h"
#include "internal.h"
#include "log.h"
#include "util.h"

static const char *
job_type_word (int type)
{
  switch (type)
    {
    case VIR_DOMAIN_BLOCK_JOB_TYPE_PULL: return "pull";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_COPY: return "copy";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT: return "commit";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT: return "active-commit";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP: return "backup";
    default: return "unknown";
    }
}

int
host_jobs (const struct vs_vm *vm, bool json, char **out, size_t *len)
{
  virConnectPtr c = host_conn ();
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  json_object *arr = json_object_new_array ();
  struct strbuf b = { 0 };
  int r = 0;

  *out = NULL;
  if (c == NULL)
    {
      log_error ("Cannot read the jobs of VM '%s': libvirt is not connected.",
                 vm->name);
      r = -EIO;
      goto out;
    }
  dom = virDomainLookupByUUIDString (c, vm->uuid);
  virConnectClose (c);
  if (dom == NULL || virDomainIsActive (dom) != 1)
    goto out; /* gone, or not running: no jobs */

  for (size_t i = 0; i < vm->ndisks; i++)
    {
      virDomainBlockJobInfo info;
      unsigned pct;
      int j = virDomainGetBlockJobInfo (dom, vm->disk_targets[i], &info, 0);

      if (j <= 0)
        continue; /* none, or the disk went away */
      pct = info.end ? (unsigned) (info.cur * 100 / info.end) : 0;
      strbuf_printf (&b, "%s %s %llu %llu %u%% %s\n", vm->disk_targets[i],
                     job_type_word (info.type), info.cur, info.end, pct,
                     vm->merging ? vm->merging : "-");
      json_object *o = json_object_new_object ();
      json_object_object_add (o, "disk",
                              json_object_new_string (vm->disk_targets[i]));
      json_object_object_add (o, "type",
                              json_object_new_string (job_type_word (info.type)));
      json_object_object_add (o, "current", json_object_new_uint64 (info.cur));
      json_object_object_add (o, "end", json_object_new_uint64 (info.end));
      json_object_object_add (o, "percent", json_object_new_int ((int) pct));
      json_object_object_add (o, "snapshot", json_object_new_string (vm->merging ? vm->merging : ""));
      json_object_array_add (arr, o);
    }

out:
  if (r == 0 && json)
    {
      free (b.s);
      *out = xasprintf ("%s\n", json_object_to_json_string_ext (
                                    arr, JSON_C_TO_STRING_PLAIN
                                             | JSON_C_TO_STRING_NOSLASHESCAPE));
      *len = strlen (*out);
    }
  else if (r == 0)
    *out = strbuf_steal (&b, len);
  else
    free (b.s);
  json_object_put (arr);
  return r;
}

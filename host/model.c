/* vmsnapfs: the lifetime of the model, its lookups, and the rendering of a
 * snapshot's info files. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "util.h"

#include "build.h"

struct vs_snapshot *
snapshot_ref (struct vs_snapshot *s)
{
  __atomic_add_fetch (&s->refs, 1, __ATOMIC_RELAXED);
  return s;
}

void
snapshot_unref (struct vs_snapshot *s)
{
  if (s == NULL || __atomic_sub_fetch (&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
    return;
  free (s->name);
  free (s->parent);
  free (s->memory_file);
  for (size_t i = 0; i < s->ndisks; i++)
    {
      free (s->disks[i].target);
      free (s->disks[i].file);
      free (s->disks[i].overlay);
      free (s->disks[i].volume);
      free (s->disks[i].overlay_format);
      for (size_t j = 0; j < s->disks[i].nchain; j++)
        free (s->disks[i].chain[j]);
      free (s->disks[i].chain);
      free (s->disks[i].format);
    }
  free (s->disks);
  free (s->domain_xml);
  free (s->info);
  free (s->info_json);
  free (s);
}

struct vs_vm *
vm_ref (struct vs_vm *vm)
{
  __atomic_add_fetch (&vm->refs, 1, __ATOMIC_RELAXED);
  return vm;
}

void
vm_unref (struct vs_vm *vm)
{
  if (vm == NULL || __atomic_sub_fetch (&vm->refs, 1, __ATOMIC_ACQ_REL) > 0)
    return;
  free (vm->name);
  free (vm->snapshot_mode);
  free (vm->current);
  free (vm->preview);
  free (vm->resume);
  free (vm->clone_snapshot);
  free (vm->stateless);
  free (vm->merging);
  for (size_t i = 0; i < vm->ndisks; i++)
    {
      free (vm->disk_targets[i]);
      free (vm->disk_sources[i]);
      free (vm->disk_formats[i]);
    }
  free (vm->disk_targets);
  free (vm->disk_sources);
  free (vm->disk_formats);
  for (size_t i = 0; i < vm->nsnaps; i++)
    snapshot_unref (vm->snaps[i]);
  free (vm->snaps);
  free (vm);
}

void
host_unref (struct vs_host *h)
{
  if (h == NULL || __atomic_sub_fetch (&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
    return;
  for (size_t i = 0; i < h->nvms; i++)
    vm_unref (h->vms[i]);
  free (h->vms);
  free (h->status);
  free (h);
}

/* Binary search in an array of pointers to structs sorted by the string
 * member at NAME_OFFSET: the index of NAME, or -1. */
static ssize_t
find_by_name (void *const *items, size_t n, size_t name_offset,
              const char *name)
{
  size_t lo = 0, hi = n;

  while (lo < hi)
    {
      size_t mid = (lo + hi) / 2;
      const char *mid_name
          = *(const char *const *)((const char *)items[mid] + name_offset);
      int c = strcmp (name, mid_name);
      if (c == 0)
        return (ssize_t)mid;
      if (c < 0)
        hi = mid;
      else
        lo = mid + 1;
    }
  return -1;
}

ssize_t
vm_slot (const struct vs_host *h, const char *name)
{
  return find_by_name ((void *const *)h->vms, h->nvms,
                       offsetof (struct vs_vm, name), name);
}

const struct vs_vm *
host_find_vm (const struct vs_host *h, const char *name)
{
  ssize_t i = vm_slot (h, name);

  return i < 0 ? NULL : h->vms[i];
}

const struct vs_snapshot *
vm_find_snapshot (const struct vs_vm *vm, const char *name)
{
  ssize_t i = find_by_name ((void *const *)vm->snaps, vm->nsnaps,
                            offsetof (struct vs_snapshot, name), name);

  return i < 0 ? NULL : vm->snaps[i];
}

const char *
vm_state_word (const char *w)
{
  static const struct
  {
    const char *libvirt, *ours;
  } words[] = {
    { "running", "running" },
    { "blocked", "blocked" },
    { "paused", "paused" },
    { "shutdown", "shutdown" },
    { "shutoff", "shut_off" },
    { "crashed", "crashed" },
    { "pmsuspended", "pmsuspended" },
    /* libvirt's word for a disk-only snapshot of an active VM */
    { "disk-snapshot", "running" },
  };

  for (size_t i = 0; w && i < sizeof words / sizeof words[0]; i++)
    if (strcmp (w, words[i].libvirt) == 0)
      return words[i].ours;
  return "no_state";
}

void
snapshot_render (struct vs_snapshot *s)
{
  struct strbuf b = { 0 };
  json_object *o = json_object_new_object (),
              *disks = json_object_new_array ();
  char created[32];

  format_iso8601 (s->created, created);
  strbuf_printf (&b,
                 "name: %s\ncreated: %s\nparent: %s\nvm_state: %s\n"
                 "memory: %s\nquiesced: %s\nstatus: %s\nmemory_file: %s\n",
                 s->name, created, s->parent ? s->parent : "", s->vm_state,
                 s->memory_file ? "yes" : "no", s->quiesced ? "yes" : "no",
                 s->status, s->memory_file ? s->memory_file : "");
  strbuf_printf (&b, "disks:");
  for (size_t i = 0; i < s->ndisks; i++)
    strbuf_printf (&b, " %s", s->disks[i].target);
  strbuf_printf (&b, "\n");

  json_object_object_add (o, "name", json_object_new_string (s->name));
  json_object_object_add (o, "created", json_object_new_string (created));
  json_object_object_add (o, "parent",
                          json_object_new_string (s->parent ? s->parent : ""));
  json_object_object_add (o, "vm_state", json_object_new_string (s->vm_state));
  json_object_object_add (
      o, "memory", json_object_new_string (s->memory_file ? "yes" : "no"));
  json_object_object_add (o, "quiesced",
                          json_object_new_string (s->quiesced ? "yes" : "no"));
  json_object_object_add (o, "status", json_object_new_string (s->status));
  json_object_object_add (
      o, "memory_file",
      json_object_new_string (s->memory_file ? s->memory_file : ""));

  for (size_t i = 0; i < s->ndisks; i++)
    {
      const struct vs_disk *d = &s->disks[i];
      json_object *dj = json_object_new_object ();

      strbuf_printf (&b,
                     "disk.%s.volume: %s\ndisk.%s.format: %s\n"
                     "disk.%s.virtual_size: %llu\n",
                     d->target, d->volume, d->target, d->format, d->target,
                     (unsigned long long)d->virtual_size);
      json_object_object_add (dj, "target",
                              json_object_new_string (d->target));
      json_object_object_add (dj, "volume",
                              json_object_new_string (d->volume));
      json_object_object_add (dj, "format",
                              json_object_new_string (d->format));
      json_object_object_add (dj, "virtual_size",
                              json_object_new_uint64 (d->virtual_size));
      json_object_array_add (disks, dj);
    }
  json_object_object_add (o, "disks", disks);

  free (s->info);
  s->info = strbuf_steal (&b, &s->info_len);
  free (s->info_json);
  s->info_json
      = xasprintf ("%s\n", json_object_to_json_string_ext (
                               o, JSON_C_TO_STRING_PRETTY
                                      | JSON_C_TO_STRING_NOSLASHESCAPE));
  s->info_json_len = strlen (s->info_json);
  json_object_put (o);
}

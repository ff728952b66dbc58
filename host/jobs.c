/* vmsnapfs: the block jobs of a VM, as the jobs files show them.
 *
 * libvirt tells where a job is (bytes done of bytes to do), not how fast
 * it goes.  The rate comes from samples: each time a job is looked at
 * (the merge workers look twice a second at the jobs they run, readers of
 * the jobs files whenever they read), its position is noted with the
 * time, and the rate is the bytes done since the first sample over the
 * time since.  A job is known from its first sample on: one vmsnapfs
 * started from its start, one found running (started by someone else, or
 * before the daemon's restart) from when it was found.
 */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"

#include "conn.h"
#include "jobs.h"
#include "verbtable.h"
#include "vmop.h"

static const char *
job_type_word (int type)
{
  switch (type)
    {
    case VIR_DOMAIN_BLOCK_JOB_TYPE_PULL:
      return "pull";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_COPY:
      return "copy";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT:
      return "commit";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT:
      return "active-commit";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP:
      return "backup";
    default:
      return "unknown";
    }
}

/* --- samples ------------------------------------------------------------ */

/* A job not looked at for so long is taken for gone: a job seen after it
 * on the same disk is another one. */
#define JOB_FORGET_MS 30000

struct tracked
{
  char key[128]; /* "UUID/TARGET"; "" for a free slot */
  int type;
  unsigned long long first_cur, last_cur;
  long long first_at, last_at; /* now_ms () */
  time_t started;              /* wall clock of the first sample */
};

static pthread_mutex_t tracked_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tracked *tracked;
static size_t ntracked;

struct progress
{
  time_t started;
  unsigned long long rate; /* bytes a second; 0: not known yet */
  long long left;          /* seconds left; -1: not known */
};

/* The slot of KEY, or a free or forgotten one made KEY's; call locked. */
static struct tracked *
tracked_slot (const char *key, long long now)
{
  struct tracked *free_slot = NULL;

  for (size_t i = 0; i < ntracked; i++)
    {
      if (tracked[i].key[0] && now - tracked[i].last_at > JOB_FORGET_MS)
        tracked[i].key[0] = '\0';
      if (strcmp (tracked[i].key, key) == 0)
        return &tracked[i];
      if (!tracked[i].key[0] && free_slot == NULL)
        free_slot = &tracked[i];
    }
  if (free_slot == NULL)
    {
      tracked = xrealloc (tracked, (ntracked + 1) * sizeof *tracked);
      free_slot = &tracked[ntracked++];
    }
  memset (free_slot, 0, sizeof *free_slot);
  snprintf (free_slot->key, sizeof free_slot->key, "%s", key);
  return free_slot;
}

/* Note where the job on disk TARGET of VM UUID is, and tell how it goes
 * into *P (when P is not NULL). */
void
job_note (const char *uuid, const char *target,
          const virDomainBlockJobInfo *info, struct progress *p)
{
  SCOPED_LOCK (&tracked_lock);
  char key[128];
  long long now = now_ms ();
  struct tracked *t;

  snprintf (key, sizeof key, "%s/%s", uuid, target);
  t = tracked_slot (key, now);
  /* A new job: none seen here before, another type, or one that went
   * backwards (a commit that ended, and another that began). */
  if (t->first_at == 0 || t->type != info->type || info->cur < t->last_cur)
    {
      t->type = info->type;
      t->first_cur = info->cur;
      t->first_at = now;
      t->started = time (NULL);
    }
  t->last_cur = info->cur;
  t->last_at = now;
  if (p == NULL)
    return;
  p->started = t->started;
  p->rate = 0;
  p->left = -1;
  if (now - t->first_at >= 500 && info->cur > t->first_cur)
    p->rate = (unsigned long long)((double)(info->cur - t->first_cur) * 1000.0
                                   / (double)(now - t->first_at));
  if (p->rate > 0)
    p->left = (long long)((info->end - info->cur + p->rate - 1) / p->rate);
  if (info->end > 0 && info->cur >= info->end)
    p->left = 0;
}

/* --- the files ---------------------------------------------------------- */

static void
add_line (struct strbuf *b, enum jobs_view view, const char *target,
          const virDomainBlockJobInfo *info, const struct progress *p,
          const char *snap)
{
  unsigned pct = info->end ? (unsigned)(info->cur * 100 / info->end) : 0;
  char cur[16], end[16], rate[24], left[16];

  if (view == JOBS_LINES)
    {
      strbuf_printf (b, "%s %s %llu %llu %u%% %s\n", target,
                     job_type_word (info->type), info->cur, info->end, pct,
                     snap);
      return;
    }
  format_size (info->cur, cur);
  format_size (info->end, end);
  strcpy (rate, "-");
  strcpy (left, "-");
  if (p->rate > 0)
    {
      format_size (p->rate, rate);
      strcat (rate, "/s");
    }
  if (p->left >= 0)
    format_duration ((uint64_t)p->left, left);
  strbuf_printf (b, "%s %s %s/%s %u%% %s %s %s\n", target,
                 job_type_word (info->type), cur, end, pct, rate, left, snap);
}

static json_object *
json_job (const char *target, const virDomainBlockJobInfo *info,
          const struct progress *p, const char *snap)
{
  json_object *o = json_object_new_object ();
  char started[32];

  format_iso8601 (p->started, started);
  json_object_object_add (o, "disk", json_object_new_string (target));
  json_object_object_add (o, "type",
                          json_object_new_string (job_type_word (info->type)));
  json_object_object_add (o, "current", json_object_new_uint64 (info->cur));
  json_object_object_add (o, "end", json_object_new_uint64 (info->end));
  json_object_object_add (
      o, "percent",
      json_object_new_int (info->end ? (int)(info->cur * 100 / info->end)
                                     : 0));
  json_object_object_add (o, "snapshot", json_object_new_string (snap));
  json_object_object_add (o, "bytes_per_second",
                          p->rate ? json_object_new_uint64 (p->rate) : NULL);
  json_object_object_add (o, "seconds_left",
                          p->left >= 0 ? json_object_new_int64 (p->left)
                                       : NULL);
  json_object_object_add (o, "started", json_object_new_string (started));
  return o;
}

/* The copies of a clone under way (the verbs' jobs), as jobs of type
 * "copy". */
static void
add_clone_jobs (const struct vs_vm *vm, enum jobs_view view, json_object *arr,
                struct strbuf *b)
{
  char *targets[16], *snaps[16];
  virDomainBlockJobInfo infos[16];
  size_t n = verbs_jobs (vm->uuid, 16, targets, infos, snaps);

  for (size_t i = 0; i < n; i++)
    {
      struct progress p;

      job_note (vm->uuid, targets[i], &infos[i], &p);
      if (view == JOBS_JSON)
        json_object_array_add (arr,
                               json_job (targets[i], &infos[i], &p, snaps[i]));
      else
        add_line (b, view, targets[i], &infos[i], &p, snaps[i]);
      free (targets[i]);
      free (snaps[i]);
    }
}

int
host_jobs (const struct vs_vm *vm, enum jobs_view view, char **out,
           size_t *len)
{
  virConnectPtr c = vm_conn (vm);
  CLEANUP_DOMAIN virDomainPtr dom = NULL;
  json_object *arr = json_object_new_array ();
  struct strbuf b = { 0 };
  const char *snap = vm->merging ? vm->merging : "";
  int r = 0;

  *out = NULL;
  if (c == NULL)
    {
      log_error ("Cannot read the jobs of VM '%s': libvirt is not connected.",
                 vm->name);
      r = -EIO;
      goto out;
    }
  /* Whatever the view says of the record: the verbs know their own jobs
   * (the view of a clone being started may lag behind its record). */
  add_clone_jobs (vm, view, arr, &b);
  dom = virDomainLookupByUUIDString (c, vm->uuid);
  virConnectClose (c);
  if (dom == NULL || virDomainIsActive (dom) != 1)
    goto out; /* gone, or not running: no jobs */

  for (size_t i = 0; i < vm->ndisks; i++)
    {
      virDomainBlockJobInfo info;
      struct progress p;
      int j = virDomainGetBlockJobInfo (dom, vm->disk_targets[i], &info, 0);

      if (j <= 0)
        continue; /* none, or the disk went away */
      job_note (vm->uuid, vm->disk_targets[i], &info, &p);
      if (view == JOBS_JSON)
        json_object_array_add (
            arr, json_job (vm->disk_targets[i], &info, &p, snap));
      else
        add_line (&b, view, vm->disk_targets[i], &info, &p,
                  *snap ? snap : "-");
    }

out:
  if (r == 0 && view == JOBS_JSON)
    {
      free (b.s);
      *out
          = xasprintf ("%s\n", json_object_to_json_string_ext (
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

/* vmsnapfs: the table through which the model calls the verbs
 * (verbtable.h). */
#include "verbtable.h"

static const struct verb_table *table;

void
verb_table_register (const struct verb_table *t)
{
  table = t;
}

void
verbs_recover (struct host *h, const struct vs_host *v)
{
  if (table && table->recover)
    table->recover (h, v);
}

void
verbs_start (void)
{
  if (table && table->start)
    table->start ();
}

void
verbs_stop (void)
{
  if (table && table->stop)
    table->stop ();
}

void
verbs_vm_stopped (struct host *h, const char *uuid, int detail)
{
  if (table && table->vm_stopped)
    table->vm_stopped (h, uuid, detail);
}

void
verbs_block_job (void)
{
  if (table && table->block_job)
    table->block_job ();
}

size_t
verbs_jobs (const char *uuid, size_t max, char **targets,
            virDomainBlockJobInfo *infos, char **snaps)
{
  if (table && table->jobs)
    return table->jobs (uuid, max, targets, infos, snaps);
  return 0;
}

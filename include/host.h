/* vmsnapfs: the host as the file system shows it, and the libvirt side
 * that keeps it up to date.
 *
 * The model is immutable and reference-counted: host_get() returns the
 * current view, which stays valid and unchanged until host_put(), however
 * libvirt changes meanwhile.  A background thread builds a new view when
 * libvirt reports a change (events) or when the cheap check it runs every
 * HOST_POLL_MS finds one (libvirt has no snapshot events), and publishes it
 * in one pointer swap.  Reading the model costs no libvirt round trip.
 */
#ifndef VMSNAPFS_HOST_H
#define VMSNAPFS_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

/* How often the background thread checks for snapshots made or deleted
 * outside vmsnapfs, in milliseconds. */
#define HOST_POLL_MS 300

/* One disk of a snapshot. */
struct vs_disk
{
  char *target;  /* "vda" */
  char *file;    /* its file name in the snapshot directory: "vda.qcow2" */
  char *overlay; /* the volume created at the snapshot */
  char *overlay_format; /* its format, or NULL when gone */
  char *volume; /* the frozen volume: the disk's state at the snapshot */
  char *format; /* the frozen volume's format */
  uint64_t virtual_size;
  size_t nchain;
  char **chain; /* the files the whole disk is read from: VOLUME and its
                   backing chain, as the view was built */
};

struct vs_snapshot
{
  int refs;
  uint64_t key; /* hash of the snapshot's XML: a change makes a new one */
  char *name;
  char *parent; /* NULL for a root */
  time_t created;
  const char *vm_state; /* the VM's state when taken: "running", ... */
  bool quiesced;
  const char *status; /* "ok", "creating", "merging", "failed" */
  char *memory_file;  /* NULL when taken without memory */
  size_t ndisks;
  struct vs_disk *disks;
  char *domain_xml; /* the domain at the snapshot */
  size_t domain_xml_len;
  char *info; /* rendered "key: value" lines */
  size_t info_len;
  char *info_json;
  size_t info_json_len;
  uint64_t ino; /* base of the inode numbers of its files */
  bool partial; /* a chain could not be read when it was built: the next
                   build reads it again rather than reuse this record */
};

struct vs_vm
{
  int refs;
  char *name;
  char uuid[37];
  const char *state;    /* "running", "shut_off", ... */
  char *snapshot_mode;  /* "memory", "disk" or "quiesce" */
  char *current;        /* libvirt's current snapshot, or NULL */
  char *preview;        /* the snapshot being previewed, or NULL */
  char *resume;         /* the snapshot whose memory the next start
                           restores, or NULL */
  char *merging;        /* the snapshot a merge is deleting, or NULL */
  bool merge_failed;    /* that merge stopped on an error */
  bool renaming;        /* a rename of a snapshot is recorded, not over */
  bool cloning;         /* this VM is a clone still being copied */
  char *clone_snapshot; /* ... of this snapshot (its own, once defined) */
  bool restoring;       /* ... a restore, on its backup's server */
  char *stateless;      /* every start begins at this snapshot, or NULL */
  bool branch_deleting; /* a branch point's deletion is recorded */
  size_t ndisks;
  char **disk_targets; /* the VM's file-backed disks, for the jobs file */
  char **disk_sources; /* their volumes now, where new overlays go */
  char **disk_formats; /* their formats (NULL when not given) */
  size_t nsnaps;
  struct vs_snapshot **snaps; /* sorted by name */
  uint64_t snap_fingerprint;  /* hash of the snapshot names and current */
  time_t mtime;               /* when this view of the VM was built */
  uint64_t ino;
  struct host *host; /* the connection it was read from (host.c) */
  bool shallow;      /* state and definition only: no snapshots read yet */
  bool ahead;        /* read whole ahead of a walk and not looked into since
                        (host_walk_on; atomic) */
  /* Its definition and state as read (a hash), and, read whole, how many
   * full refreshes of its host had begun when that read did: a refresh
   * keeps a VM read whole since it began, of the same definition. */
  uint64_t def_hash;
  uint64_t deep_since;
};

/* One libvirt connection (host/host.c). */
struct host;

/* The view of one host. */
struct vs_host
{
  int refs;
  struct host *host; /* its connection */
  const char *name;  /* the host's directory, with several */
  bool reachable;
  char *status; /* the status file: "key: value" lines */
  size_t status_len;
  size_t nvms;
  struct vs_vm **vms; /* sorted by name; none while unreachable */
  time_t mtime;
  uint64_t ino;
};

/* Every host's view at one moment, in the order they were given: one
 * reference on each. */
struct vs_fleet
{
  size_t nhosts;
  struct vs_host *hosts[];
};

/* Check that URI answers, without keeping the connection.  Returns 0, or -1
 * after printing why on stderr. */
int host_check_uri (const char *uri);

/* Connect to the N hosts URIS[i], named NAMES[i] (NULL: libvirt's host
 * name), build their first views, and start the event thread and each
 * host's refresh thread.  With one host it must answer; with several, a
 * host that does not is shown so and tried again with backoff.  Returns 0
 * or -1 (logged). */
int host_start (const char *const *names, const char *const *uris, size_t n);

/* Stop the threads and close the connections.  Views still held stay
 * valid. */
void host_stop (void);

/* FN is called after each new view of a host, on the thread that
 * published it, for each VM whose view changed or went: with the host's
 * directory name when there are several hosts (else NULL), and the VM's
 * name in the view before.  Set before host_start. */
void host_on_vm_change (void (*fn) (const char *host, const char *vm));

/* Every host's current view (fleet_put drops it); never NULL after
 * host_start. */
struct vs_fleet *fleet_get (void);
void fleet_put (struct vs_fleet *f);

/* The current view of host H, with a reference; host_put drops it. */
struct vs_host *host_get (struct host *h);
void host_put (struct vs_host *h);

/* Someone looks inside VM (a path below its directory, a listing of it):
 * for a few seconds its view is checked against libvirt at every poll.
 * VMs nobody looks at cost nothing until an event names them. */
void vm_looked (const struct vs_vm *vm);

/* VM was built shallow (vm->shallow: the top of the tree needs no more):
 * read the rest now and publish it, waiting for that at most the
 * connection's keepalive time.  Returns 0 when the view now holds VM in
 * full (look it up again), -ENOENT when libvirt has it no more, or -EIO
 * (logged): libvirt failed, or has not answered yet. */
int host_deepen (const struct vs_vm *vm);

/* A look into VM, whole already: when it was read ahead of a walk and
 * nobody has looked into it since, the walk has come to it, and the next
 * VMs are read ahead as host_deepen does for a shallow one, so that the
 * reads keep ahead of the walk. */
void host_walk_on (struct vs_vm *vm);

/* Lookups in a view; NULL when absent. */
const struct vs_vm *host_find_vm (const struct vs_host *h, const char *name);
const struct vs_snapshot *vm_find_snapshot (const struct vs_vm *vm,
                                            const char *name);

/* The running block jobs of VM, asking libvirt now: as SPEC.md's jobs
 * lines, as jobs.json, or as the progress file's lines for people (sizes,
 * rate, time left).  *OUT is malloc'd.  Returns 0 or -EIO. */
enum jobs_view
{
  JOBS_LINES,
  JOBS_JSON,
  JOBS_PROGRESS,
};
int host_jobs (const struct vs_vm *vm, enum jobs_view view, char **out,
               size_t *len);

/* The free space where snapshots of VM would be written (of every VM when
 * VM is NULL): the file system of the VM's current volumes, or of those
 * volumes' that has the least room when they lie on several.  Returns 0,
 * or -ENOENT when there is no local file to measure (no disks, a remote
 * host). */
int host_statfs (const struct vs_host *h, const struct vs_vm *vm,
                 struct statvfs *st);
/* The same for the top of several hosts: the one with least room. */
int fleet_statfs (const struct vs_fleet *f, struct statvfs *st);

/* --- operations ----------------------------------------------------------
 * Each returns 0 or -errno (the errno of SPEC.md), logs its failure once,
 * and leaves the VM as it was when it fails.  One operation runs at a time
 * on a VM: another one meanwhile gets -EBUSY.  Each returns once the
 * published view shows its result.  The verbs (snapshots made, deleted,
 * renamed, previewed, cloned, imported) are in verbs.h. */

/* Longest snapshot name, in bytes. */
#define SNAPSHOT_NAME_MAX 128

/* Check a snapshot name: 1 to SNAPSHOT_NAME_MAX bytes of UTF-8, no '/'
 * and no control characters, not starting with '.'.  Returns 0, -EINVAL
 * or -ENAMETOOLONG. */
int snapshot_name_check (const char *name);

/* Run COMMAND ("start", "shutdown" or "destroy") on VM. */
int host_vm_command (const struct vs_vm *vm, const char *command);

/* Set VM's snapshot mode: "memory", "disk" or "quiesce". */
int host_set_snapshot_mode (const struct vs_vm *vm, const char *mode);

/* Whether an operation on VM under way is about to change snapshot SNAP's
 * volumes (a merge, a rename): its whole disks, frozen volumes and guest
 * files are not opened meanwhile (EBUSY). */
bool snapshot_readers_held (const struct vs_vm *vm, uint64_t snap);

/* Model lifetime, for the builder and the unit tests. */
struct vs_snapshot *snapshot_ref (struct vs_snapshot *s);
void snapshot_unref (struct vs_snapshot *s);
struct vs_vm *vm_ref (struct vs_vm *vm);
void vm_unref (struct vs_vm *vm);
void host_unref (struct vs_host *h);

/* Render S's info and info.json from its fields (into S). */
void snapshot_render (struct vs_snapshot *s);

/* libvirt's snapshot state word as SPEC.md spells a VM state. */
const char *vm_state_word (const char *libvirt_word);

#include "verbs.h"

#endif /* VMSNAPFS_HOST_H */

/* vmsnapfs: what the files of snapshot/ share, and nothing else sees. */
#ifndef VMSNAPFS_SNAPSHOT_INTERNAL_H
#define VMSNAPFS_SNAPSHOT_INTERNAL_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "host.h"

static inline void
cleanup_domain (virDomainPtr *d)
{
  if (*d)
    virDomainFree (*d);
}
#define CLEANUP_DOMAIN __attribute__ ((cleanup (cleanup_domain)))

static inline void
cleanup_snapshot (virDomainSnapshotPtr *s)
{
  if (*s)
    virDomainSnapshotFree (*s);
}
#define CLEANUP_SNAPSHOT __attribute__ ((cleanup (cleanup_snapshot)))

/* libvirt's last error in this thread, as a sentence fragment. */
static inline const char *
virt_error (void)
{
  const char *m = virGetLastErrorMessage ();
  return m ? m : "unknown libvirt error";
}

/* libvirt's virDomainState as SPEC.md spells it: "running", "shut_off"... */
const char *domain_state_word (int state);

/* Build the view of DOM.  OLD is the previous view of the same VM (or
 * NULL): its snapshot records are reused when their XML is unchanged, or,
 * without REREAD, whenever the snapshot still exists.  Without DEEP, only
 * its state and definition are read (vm->shallow, no snapshots): what the
 * top of the tree shows; the rest when someone looks inside (host_deepen).
 * A VM whose record says an operation is under way is built deep all the
 * same, for the recovery.  Returns a new reference, or NULL (logged). */
struct vs_vm *build_vm (struct host *h, virDomainPtr dom,
                        const struct vs_vm *old, bool reread, bool deep);

/* The name of DOM's current snapshot (malloc'd), or NULL. */
char *current_snapshot_name (virDomainPtr dom);

/* Snapshot NAME of VM (libvirt's DOM) as libvirt and the files have it
 * now, not as the view last saw it: a record of its own (unref it), or
 * NULL when there is no such snapshot (logged). */
struct vs_snapshot *snapshot_read (virDomainPtr dom, const struct vs_vm *vm,
                                   const char *name);

/* Change VM's record with CHANGE (ARG passed on), under VM's operation
 * lock: read, change, write.  CHANGE returns 0 or -errno; on an error
 * nothing is written. */
struct vs_meta;
int meta_update (const struct vs_vm *vm,
                 int (*change) (struct vs_meta *m, const char *arg),
                 const char *arg);

/* A cheap fingerprint of DOM's snapshots: their names and the current one.
 * Two round trips.  Returns 0 on error. */
uint64_t snapshot_fingerprint (virDomainPtr dom);

/* The errno for libvirt's last error in this thread: ENOSPC, EEXIST,
 * EAGAIN (guest agent), EBUSY (VM state), or EIO. */
int virt_errno (void);

/* Look VM up again in libvirt, into *DOM.  Returns 0, -ENOENT when libvirt
 * has no such VM (undefined meanwhile), or -EIO when libvirt cannot be
 * asked (not connected); logged. */
int lookup_domain (const struct vs_vm *vm, virDomainPtr *dom);

/* Stop what reads snapshot SNAP's files before they change: its whole
 * disks' helpers, with VOLUMES its frozen volumes' opens, and the reader
 * of its guest files (export.h, guestfiles.h); VM's operation, under way,
 * keeps new ones out until it ends (snapshot_readers_held).  0, or -EBUSY
 * (logged) when one of them is open. */
int release_readers (const struct vs_vm *vm, uint64_t snap, bool volumes);

/* Begin an operation on VM: -EBUSY when another one is under way.  End
 * it after host_sync: the next operation may plan from the view, which
 * then shows this one's result. */
int vm_op_begin (const struct vs_vm *vm);
void vm_op_end (const struct vs_vm *vm);
/* Whether an operation on VM is under way. */
bool vm_op_busy (const struct vs_vm *vm);

/* Longest wait of host_sync, in milliseconds. */
#define HOST_SYNC_WAIT_MS 30000

/* Wait until the refresh thread has published a view built after this
 * call, with VM rebuilt: its new snapshots read, known ones kept, or all
 * read again with REREAD (a merge changed what their overlays stand on);
 * at most HOST_SYNC_WAIT_MS (logged). */
void host_sync (const struct vs_vm *vm, bool reread);

/* A path for a new file of VM (named so) in directory DIR of host H:
 * DIR/VM.STEM.EXT, or DIR/VM.STEM-N.EXT where that exists there, VM's
 * name per file_name_part and STEM per safe_file_name, so that no two VMs
 * are given one name (malloc'd). */
char *new_volume_in (struct host *h, const char *dir, const char *vm,
                     const char *stem, const char *ext);

/* new_volume_in, in the directory of BESIDE (a file of host H). */
char *new_volume_path (struct host *h, const char *beside, const char *vm,
                       const char *stem, const char *ext);

/* Make DIR for a VM's files, mode 0711: libvirt's qemu user goes through
 * it to the files libvirt gives it.  Returns 0 or -errno (-EEXIST: it is
 * there, left as it is). */
int make_vm_dir (const char *dir);

/* Create PATH empty, mode 0600, where nothing is: for a tool that would
 * give its copy the mode of what it copies (cp).  Returns 0 or -errno
 * (-EEXIST where something is). */
int create_private (const char *path);

struct vs_meta;
struct dom_xml;

/* Read and parse DOM's persistent definition into *DX, and keep its XML in
 * *XML unless XML is NULL.  Returns 0 or -EIO (logged). */
int read_inactive (const char *vm, virDomainPtr dom, char **xml,
                   struct dom_xml **dx);

/* Read vmsnapfs's record from DOM's persistent definition into META. */
int meta_read (const struct vs_vm *vm, virDomainPtr dom, struct vs_meta *meta);

/* Make META vmsnapfs's record in DOM (persistent, and live if running). */
int meta_write (const struct vs_vm *vm, virDomainPtr dom,
                const struct vs_meta *meta);

struct disk_change;

/* Define VM anew from its persistent XML: disks per CHANGES (N of them),
 * and vmsnapfs's record META unless NULL.  Returns 0 or -EIO (logged). */
int define_changed (const struct vs_vm *vm, const char *xml,
                    const struct disk_change *changes, size_t n,
                    const struct vs_meta *meta);

/* Host H's connection, or VM's host's, with a reference the caller drops
 * with virConnectClose; NULL while disconnected. */
virConnectPtr host_conn (struct host *h);
virConnectPtr vm_conn (const struct vs_vm *vm);

/* A connection to H of the caller's own (closed with virConnectClose), or
 * NULL when H is not connected or refuses.  With libvirt 9.0's client, a
 * call made on a connection while another thread waits there for a long
 * call (a snapshot of a VM whose qemu hangs, a copy of a whole volume) can
 * wait for the keepalive's next tick, 5 s: long calls go on connections
 * of their own, and the shared one carries short calls and events.  Each
 * operation on a VM (vm_op_begin to vm_op_end) has one, which vm_conn
 * gives for that VM meanwhile (vm_op_conn), in any thread. */
virConnectPtr host_open_own (struct host *h);
virConnectPtr vm_op_conn (const struct vs_vm *vm);

/* One daemon at a time on a VM, across the daemons of this machine
 * (vmlock.c): the lock on VM UUID of host H, for the operations that
 * vm_op_begin starts and for a clone's copy.  Returns the lock's
 * descriptor, VM_LOCK_NONE when no lock could be made (logged; go on), or
 * -EBUSY when another daemon holds it (logged).  vm_lock_drop takes
 * either of the first two. */
#define VM_LOCK_NONE (-1)
int vm_lock_take (const struct host *h, const char *uuid, const char *name);
void vm_lock_drop (const struct host *h, const char *uuid, int fd);

/* Snapshots made, deleted or changed by others, seen in libvirt's files
 * on this machine (snapwatch.c).  The directory where libvirt at URI keeps
 * them (malloc'd), or NULL when it is not on this machine or not known.
 * Watch DIR: FN (OPAQUE, VM) is called from a thread of the watch, VM the
 * name of a VM whose snapshots changed, or NULL for "any".  Returns NULL
 * when DIR cannot be watched (logged).  snapwatch_complete: whether every
 * change is still seen (else poll). */
typedef void snapwatch_fn (void *opaque, const char *vm);
struct snapwatch;
char *snapwatch_dir_for (const char *uri);
struct snapwatch *snapwatch_start (const char *dir, snapwatch_fn *fn,
                                   void *opaque);
bool snapwatch_complete (const struct snapwatch *w);
void snapwatch_stop (struct snapwatch *w);

/* Whether the mount shows several hosts, one directory each; H's
 * directory name. */
bool host_several (void);
const char *host_name (const struct host *h);

/* A file of host H, wherever H is (remote.c for a remote host): whether
 * PATH exists; the backing chain of PATH (of FORMAT) as chain_probe gives
 * it (with WHOLE, or its first image; a remote host's is read whole).  Return
 * as access() == 0 and chain_probe do. */
struct chain;
bool host_file_exists (struct host *h, const char *path);
/* Remove file PATH of H: 0 or -errno. */
int host_file_unlink (struct host *h, const char *path);
/* Make PATH on H a new qcow2 volume of SIZE bytes (0: the backing's) over
 * BACKING (of FORMAT): 0 or -EIO (logged). */
int host_make_overlay (struct host *h, const char *path, const char *backing,
                       const char *format, uint64_t size);
int host_chain (struct host *h, const char *path, const char *format,
                bool whole, struct chain **out);
int remote_chain (struct host *h, const char *path, const char *format,
                  struct chain **out);

/* Note where the block job on disk TARGET of VM UUID is, for the rate the
 * jobs files show (jobs.c); when P is not NULL, tell how it goes. */
struct progress;
void job_note (const char *uuid, const char *target,
               const virDomainBlockJobInfo *info, struct progress *p);

/* Whether the file system of PATH's directory has NEED bytes free
 * (space.c); true when it cannot be measured. */
bool room_beside (const char *path, uint64_t need);

/* Run ARGV, a tool that writes volumes (qemu-img, cp), for as long as it
 * takes, stopped when CANCEL (may be NULL) says so (ops.c).  Returns 0,
 * -ESHUTDOWN (stopped), -ENOSPC (the tool said "No space"), or -EIO; a
 * failure is logged as "WHAT failed: <the tool's first error line>". */
int run_volume_tool (const char *what, const char *const argv[],
                     bool (*cancel) (void));
/* The same, the tool given descriptor KEEP as /dev/fd/KEEP. */
int run_volume_tool_fd (const char *what, const char *const argv[], int keep,
                        bool (*cancel) (void));

/* Whether H's URI names this machine: the host files its view names can
 * be looked at here. */
bool host_is_local (const struct host *h);

/* Merges (merge.c): wake the workers on a block job event; carry on the
 * merges a previous daemon recorded; stop the workers, their merges left
 * recorded for the next start. */
void merge_wake (void);

/* A merge's worker (merge.c), for rmdir (delete.c): start one for the
 * merge recorded for VM, which holds VM's operation lock and drops it when
 * done (a reference for the caller, or NULL, the lock dropped); the one
 * under way for snapshot NAME of VM (a reference, or NULL); wait for M to
 * end, or for INTERRUPTED to say so (-EINTR), dropping the reference. */
struct merge;
struct merge *merge_start (const struct vs_vm *vm, const char *snapshot);
struct merge *merge_find (const struct vs_vm *vm, const char *name);
int merge_wait (struct merge *m, bool (*interrupted) (void));
/* The limit merge_set_bandwidth set, in MiB/s (0: none); clones' copies
 * keep to it too. */
unsigned long merge_bandwidth (void);
void merge_recover (const struct vs_host *h);
void merge_stop (void);

/* A volume of a disk, and its backing file where the view knows it. */
struct vol
{
  const char *path;
  const char *format;  /* NULL: unknown, never read */
  const char *backing; /* NULL: unknown, to be read from the file */
};

/* Every volume of disk TARGET that vmsnapfs knows of (plan.c): the
 * volumes of all the VM's snapshots (an overlay's backing file is its
 * snapshot's frozen volume, read when the view was built), the disk's
 * source in the definition DX, and the volumes a preview keeps.  May
 * repeat; *N set; a malloc'd array of their strings. */
struct vol *known_volumes (const struct vs_vm *vm, const struct dom_xml *dx,
                           const char *target, size_t *n);

/* The volumes among VOLS whose backing file is PARENT, without repeats,
 * each with its format (a malloc'd array of VOLS's strings), *N set.  The
 * view tells which may be; the file has the last word. */
struct vol *children_of (struct host *h, const struct vol *vols, size_t nvols,
                         const char *parent, size_t *n);

/* Fill the record M for deleting SNAP (as libvirt and the files have it
 * now), checking that no branch but TOP's stands on any BASE.  Returns 0,
 * -EMLINK when another does (a branch point: branch.c deletes it), or
 * -EIO (logged). */
int merge_plan (const struct vs_vm *vm, const struct vs_snapshot *snap,
                const struct dom_xml *dx, struct vs_meta *m);

/* Commit MD's top into its base on VM's remote host, VM shut off, in a
 * paused helper domain (helperdom.c): its disk CHILD (of CHILD_FORMAT),
 * the one volume standing on the top, whose backing file the commit
 * rewrites; or with none, the top itself, pivoted to the base.  Returns
 * 0, -ESHUTDOWN when STOP says so first, or -EIO (logged). */
#define HELPER_PREFIX "vmsnapfs-commit-" /* their names; never shown */
/* The same for a block pull into volume PATH (FORMAT) of disk TARGET, down
 * to BASE (NULL: everything): PATH then reads as before, standing on BASE
 * (a branch point's deletion, branch.c).  0 or -EIO (logged). */
int helper_pull (const struct vs_vm *vm, const char *target, const char *path,
                 const char *format, const char *base,
                 unsigned long bandwidth);
struct merge_disk;
int helper_commit (const struct vs_vm *vm, const struct merge_disk *md,
                   const char *child, const char *child_format,
                   unsigned long bandwidth, bool (*stop) (void));

/* Copy libvirt's memory image SRC to DST, a new file, with the domain XML
 * of its header replaced by EDIT (XML, ARG) (malloc'd, or NULL to fail),
 * and the rest unchanged (saveimage.c).  Returns 0, -ENOSPC or -EIO
 * (logged); nothing is left at DST on a failure. */
int save_image_copy (const char *src, const char *dst,
                     char *(*edit) (const char *xml, void *arg), void *arg);
/* The same from IN, open on the image SRC (named in messages); DST made
 * already (empty) when EXISTS; stopped when CANCEL (may be NULL) says so,
 * looked at every 64 MiB: -ESHUTDOWN, and nothing left at DST. */
int save_image_copy_fd (int in, const char *src, const char *dst,
                        bool exists, bool (*cancel) (void),
                        char *(*edit) (const char *xml, void *arg),
                        void *arg);
/* The same for the first LEN bytes HDR of an image: its new header into
 * *OUT (malloc'd), *OUT_LEN bytes, and in *SKIP the length of the old one,
 * where the stream starts.  Returns 0, 1 when HDR is shorter than *SKIP
 * bytes (read that many and call again), or -EIO (logged). */
/* A remote host's (remote.c): SRC copied into DST there, both files of H;
 * and a whole copy of frozen volume SRC's chain into DST, as FORMAT of
 * CAPACITY bytes, made there by libvirt. */
int remote_save_image_copy (struct host *h, const char *src, const char *dst,
                            char *(*edit) (const char *xml, void *arg),
                            void *arg);
int remote_copy_whole (struct host *h, const char *src, const char *dst,
                       const char *format, uint64_t capacity);
/* Make directory DIR on remote host H (a pool's build); copy file LOCAL of
 * this machine into a new file PATH there.  0 or -EIO (logged). */
int remote_make_dir (struct host *h, const char *dir);
int remote_upload (struct host *h, const char *local, const char *path);
int save_image_header (const char *hdr, size_t len,
                       char *(*edit) (const char *xml, void *arg), void *arg,
                       char **out, size_t *out_len, size_t *skip);

/* Clones (clone.c): carry on the clones a previous daemon began; and the
 * copies' progress for the jobs files of the clone with UUID: up to MAX
 * jobs into TARGETS (malloc'd), INFOS and SNAPS (malloc'd), their count
 * returned. */
/* A new random UUID (version 4) for a new VM. */
void clone_new_uuid (char out[VIR_UUID_STRING_BUFLEN]);
void clone_recover (struct host *h);
/* Roll back every import of local host H cut short (import-record.c). */
void import_recover (struct host *h);
void clone_stop (void);
size_t clone_jobs (const char *uuid, size_t max, char **targets,
                   virDomainBlockJobInfo *infos, char **snaps);

/* A clone's pin on its source VM (clonepin.c), which keeps the source's
 * snapshots from being merged or renamed while the clone copies from one.
 * With VM's operation under way (DOM, VM's domain): pin snapshot SNAPSHOT
 * for the clone NAME of UUID, before the clone is defined; drop that pin
 * again (a clone that failed at once); and check VM's record M for a pin
 * that holds, for a verb that would do WHAT ("snapshot 's1' cannot be
 * deleted"): -EBUSY (logged, naming the clone) when one does, 0 when none
 * does, the stale ones (their clones gone or finished) dropped from M for
 * the caller's next write of it, or -EIO.  Without the operation: drop the
 * pin of the clone of UUID from the record of its source (SOURCE_UUID,
 * SOURCE_NAME) when the clone is over, waiting for the source's other
 * operation to end or for STOP (a stale pin is left when it does not);
 * make sure the source of a clone being carried on is pinned; drop the
 * stale pins of DOM at the start (the recovery). */
int clone_pin (const struct vs_vm *vm, virDomainPtr dom, const char *snapshot,
               const char *name, const char *uuid);
int clone_unpin_locked (const struct vs_vm *vm, virDomainPtr dom,
                        const char *uuid);
int clone_pins_check (const struct vs_vm *vm, virDomainPtr dom,
                      struct vs_meta *m, const char *what);
void clone_unpin (struct host *h, const char *source_uuid,
                  const char *source_name, const char *uuid,
                  bool (*stop) (void));
int clone_pin_ensure (struct host *h, const char *source_uuid,
                      const char *source_name, const char *snapshot,
                      const char *name, const char *uuid);
void clone_pins_prune (struct host *h, virDomainPtr dom);

/* The index of VM UUID in view H, or -1 (view.c). */
ssize_t vm_index (const struct vs_host *h, const char *uuid);

/* V was built from view BASE while CUR was published (view.c): where V
 * took a VM as BASE had it, shallow, and CUR has it deep under the same
 * name (host_deepen read its snapshots meanwhile), put CUR's in V.  A VM
 * V built anew (an event named it) stays as built: a deep one read
 * before the event would show what was.  Returns how many were put. */
size_t view_keep_deep (const struct vs_host *base, const struct vs_host *cur,
                       struct vs_host *v);

/* Stateless VMs (stateless.c): revert VM UUID of host H to its snapshot
 * after a stop (an event of DETAIL, virDomainEventStoppedDetailType; -1:
 * not known) that ends its run; start the thread that does it; queue the
 * stateless VMs of view V that stopped while the daemon was away; stop the
 * thread. */
void stateless_stopped (struct host *h, const char *uuid, int detail);
void stateless_start (void);
void stateless_recover (const struct vs_host *v);
void stateless_stop (void);

/* Whether a stop of DETAIL (virDomainEventStoppedDetailType), or a VM
 * shut off for REASON (virDomainShutoffReason), ends the VM's run: a
 * shutdown, a destroy, a crash, a failure (and an unknown reason, which
 * is what libvirtd gives every shut-off VM after its restart); not a save
 * or a migration, whose run resumes on the VM's volumes, nor libvirt's
 * revert to a snapshot.  Why a VM stopped, for a log line: "by ...". */
bool stop_ends_run (int detail);
bool shutoff_ends_run (int reason);
const char *stop_cause (int reason);

/* A stamp of the volumes DX gives VM (each one's path, inode, size and
 * modification time: a run that writes to one changes it), malloc'd; NULL
 * when one cannot be read or VM is on another host. */
char *stateless_stamp (const struct vs_vm *vm, const struct dom_xml *dx);

/* Revert stateless VM (shut off) to its snapshot again, unless it is there
 * already: its volumes are those the last revert left (the stamp it
 * recorded) and, for a snapshot with memory, the restore is pending.
 * Returns 0 when reverted, 1 when it was there already, 2 when it is left
 * as it is because its run goes on (a managed save image, or a stop that
 * does not end a run: logged), -ENOENT when it is no longer stateless, or
 * another -errno (revert.c). */
int host_rearm (const struct vs_vm *vm);

/* Branch points (branch.c): plan the deletion of SNAP, whose frozen
 * volumes other branches stand on, into M (its branch fields): -EBUSY,
 * -ENOSPC or -EIO (logged) when it cannot be done; run the deletion M's
 * record in DOM says (again); finish the deletions a previous daemon
 * began. */
int branch_plan (const struct vs_vm *vm, virDomainPtr dom,
                 const struct vs_snapshot *snap, const struct dom_xml *dx,
                 struct vs_meta *m);
int branch_run (const struct vs_vm *vm, virDomainPtr dom);
void branch_recover (const struct vs_host *h);

/* Give every child of snapshot FROM the parent TO, or none when TO is
 * NULL (rename.c; a rename's step 2, and a branch point's deletion). */
int move_children (const struct vs_vm *vm, virDomainPtr dom, const char *from,
                   const char *to);

/* Finish the renames of snapshots a previous daemon recorded (rename.c). */
void rename_recover (const struct vs_host *h);

#endif /* VMSNAPFS_SNAPSHOT_INTERNAL_H */

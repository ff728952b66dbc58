/* vmsnapfs: the VM and snapshot model built from libvirt (build.c), and
 * the views' index of it (view.c). */
#ifndef VMSNAPFS_HOST_BUILD_H
#define VMSNAPFS_HOST_BUILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <libvirt/libvirt.h>

#include "host.h"

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

/* SHALLOW, a VM's view without snapshots, deep: its snapshots read from
 * DOM, its state and definition taken as SHALLOW has them (read with it,
 * and kept fresh by events: a change builds the VM anew, and its deep
 * view is not swapped in then, view_put_deep).  Two calls to libvirt and
 * a parse of the domain's XML less than build_vm; NULL (logged). */
struct vs_vm *build_vm_deeper (struct host *h, virDomainPtr dom,
                               const struct vs_vm *shallow);

/* The name of DOM's current snapshot (malloc'd), or NULL. */
char *current_snapshot_name (virDomainPtr dom);

/* Snapshot NAME of VM (libvirt's DOM) as libvirt and the files have it
 * now, not as the view last saw it: a record of its own (unref it), or
 * NULL when there is no such snapshot (logged). */
struct vs_snapshot *snapshot_read (virDomainPtr dom, const struct vs_vm *vm,
                                   const char *name);

/* A cheap fingerprint of DOM's snapshots: their names and the current one.
 * Two round trips.  Returns 0 on error. */
uint64_t snapshot_fingerprint (virDomainPtr dom);

/* The index of VM UUID in view H, or -1 (view.c). */
ssize_t vm_index (const struct vs_host *h, const char *uuid);

/* The index of VM NAME in H (sorted by name), or -1 (model.c). */
ssize_t vm_slot (const struct vs_host *h, const char *name);

/* V was built from view BASE while CUR was published (view.c): where V
 * took a VM as BASE had it, shallow, and CUR has it deep under the same
 * name (host_deepen read its snapshots meanwhile), put CUR's in V.  A VM
 * V built anew (an event named it) stays as built: a deep one read
 * before the event would show what was.  Returns how many were put. */
size_t view_keep_deep (const struct vs_host *base, const struct vs_host *cur,
                       struct vs_host *v);

/* V was read whole from libvirt by a refresh, the host's SINCE-th full
 * one, while CUR was published: where V has a VM shallow that CUR has
 * deep from a read begun since (host_deepen; its deep_since), of the same
 * definition and state as V read (def_hash), put CUR's in V.  A read begun
 * before may not show what the refresh is for.  Returns how many were
 * put. */
size_t view_keep_read_since (const struct vs_host *cur, struct vs_host *v,
                             uint64_t since);

/* How many full refreshes of H have begun (view.c). */
uint64_t host_refreshes (struct host *h);

#endif /* VMSNAPFS_HOST_BUILD_H */

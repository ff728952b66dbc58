/* vmsnapfs: what the verbs share of the model's work on a VM (ops.c): a
 * change of its record, new files for it, the tools that write volumes. */
#ifndef VMSNAPFS_HOST_OPS_H
#define VMSNAPFS_HOST_OPS_H

#include <stdbool.h>

#include "host.h"

struct vs_meta;

/* Change VM's record with CHANGE (ARG passed on), under VM's operation
 * lock: read, change, write.  CHANGE returns 0 or -errno; on an error
 * nothing is written. */
int meta_update (const struct vs_vm *vm,
                 int (*change) (struct vs_meta *m, const char *arg),
                 const char *arg);

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

/* Run ARGV, a tool that writes volumes (qemu-img, cp), for as long as it
 * takes, stopped when CANCEL (may be NULL) says so.  Returns 0,
 * -ESHUTDOWN (stopped), -ENOSPC (the tool said "No space"), or -EIO; a
 * failure is logged as "WHAT failed: <the tool's first error line>". */
int run_volume_tool (const char *what, const char *const argv[],
                     bool (*cancel) (void));
/* The same, the tool given descriptor KEEP as /dev/fd/KEEP. */
int run_volume_tool_fd (const char *what, const char *const argv[], int keep,
                        bool (*cancel) (void));

#endif /* VMSNAPFS_HOST_OPS_H */

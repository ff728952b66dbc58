/* vmsnapfs: what a node type is, for the files of fs/ (nodes.c has the
 * types of a VM and below, top.c the top's, attrs.c what each shows in
 * stat and listings, verbs.c the verbs that change things). */
#ifndef VMSNAPFS_NODE_TYPES_H
#define VMSNAPFS_NODE_TYPES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "access.h"
#include "fs.h"

struct child
{
  const char *name; /* a fixed name, or NULL for the named entries */
  const struct node_type *type;
};

struct node_type
{
  mode_t mode;
  /* Whether it exists in this parent (NULL: always). */
  bool (*exists) (const struct node *n);
  /* Directories: fixed children, and named ones (VMs, snapshots, disks). */
  const struct child *children;
  int (*lookup) (const char *name, struct node *n);
  /* The type of the named children LOOKUP finds, unless it chose. */
  const struct node_type *named;
  void (*list) (const struct node *n,
                int (*fill) (void *, const char *, const struct stat *),
                void *ctx);
  /* Files: content rendered from the view (malloc'd) ... */
  char *(*render) (const struct node *n, size_t *len);
  /* ... or read from the host at open: size 0 in stat (a status file,
   * as /proc's), unless SIZE gives the length of what GENERATE gives
   * (only from what is known without PROBE: -EAGAIN) ... */
  int (*generate) (const struct node *n, char **out, size_t *len);
  int (*size) (const struct node *n, bool probe, uint64_t *size);
  /* ... or a host file, read straight ... */
  const char *(*host_file) (const struct node *n);
  /* ... or the whole disk of a snapshot, read through qemu (with DELTA,
   * what changed since the parent snapshot only). */
  bool whole_disk;
  bool delta;
  /* Modes from the files of the disk's chain, as a whole disk's. */
  bool chain_perms;
  /* Whether the content may change between opens. */
  bool volatile_content;
  /* Bytes of a disk or of memory (access.h): the mode comes from the host
   * files, and the daemon checks the caller before it reads or runs qemu.
   * ROOT_ONLY: root's whatever the host file's mode (memory). */
  bool disk;
  bool root_only;
  /* Takes verbs (mkdir, rmdir, links, commands): operators may write. */
  bool verbs;
  /* Opened by name, not listed, as ZFS's hidden .zfs: for files the
   * mount's contract does not list, so that a listing stays what it says. */
  bool unlisted;
  /* Listed only while *LISTED_IF is true (a mount option), else as
   * UNLISTED. */
  const bool *listed_if;
  /* Files that take a command (one word) written to them. */
  int (*write) (const struct node *n, const char *command);
  /* Directories where mkdir makes something. */
  int (*mkdir) (const struct node *n, const char *name);
  /* Links. */
  char *(*link) (const struct node *n);
  /* Below a snapshot's files/: the guest's (files.c). */
  bool guest;
  /* The name used for the inode number of a fixed child. */
  const char *ino_name;
  /* The inode number, for the top's types (top.c): else node_ino's. */
  uint64_t (*ino) (const struct node *n);
};

/* The types the verbs act on (nodes.c); a link of ln -sfn, before its
 * rename (nodes.c); the top: the VMs of a host (t_root), and with several
 * hosts one directory (t_root) each and its status (top.c). */
extern const struct node_type t_vm, t_snapshots, t_snapshot, t_temp_link;
extern const struct node_type t_root, t_fleet, t_host_status;

/* A snapshot's files/ (files.c); the attributes of a node of the guest's
 * (INO: its inode number where the guest gives none) and its open. */
extern const struct node_type t_files;
extern bool files_listed; /* -o files=visible */
int guest_getattr (const struct node *n, struct stat *st, uint64_t ino);
int guest_open (const struct node *n, const struct caller *c,
                struct handle *h);

/* N's inode number; whether it reads what changed only (nodes.c). */
uint64_t node_ino (const struct node *n);
bool is_delta (const struct node *n);
/* The inode number of NAME in the directory of inode number PARENT
 * (nodes.c). */
uint64_t child_ino (uint64_t parent, const char *name);

/* The owner, group and mode N shows into ST, and for a host file its stat
 * into *HS (0 or -errno): for the opens of open.c (attrs.c). */
int node_perms (const struct node *n, struct stat *st, struct stat *hs);

#endif /* VMSNAPFS_NODE_TYPES_H */

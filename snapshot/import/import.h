/* vmsnapfs: what the files of an import share (import.c, import-copy.c,
 * import-open.c, import-read.c, import-policy.c, import-record.c), and
 * nothing else sees.
 *
 * An export directory is read with its importer's rights: every name in it
 * is opened by a thread that runs with the caller's file-system uid, gid
 * and groups, relative to the directory, never through a link that leaves
 * it, and only regular files are taken.  What is read is read through the
 * descriptor opened so; the tools that copy are given it as /dev/fd/N.
 */
#ifndef VMSNAPFS_IMPORT_H
#define VMSNAPFS_IMPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "access.h"
#include <libvirt/libvirt.h>

#include "host.h"

struct disk_change; /* virxml.h */
struct vs_meta;

#define IMPORT_MAX_SNAPSHOTS 4096
#define IMPORT_MAX_FILE (64 * 1024 * 1024)
/* A domain.xml or info.json of the export, at most; and all of them. */
#define IMPORT_MAX_TEXT (1024 * 1024)
#define IMPORT_MAX_READ (64 * 1024 * 1024)

/* The directory being imported, open with its caller's rights. */
struct import_dir
{
  int fd;
  const char *path; /* as the caller named it, for messages */
  const struct caller *who;
  size_t *read_left; /* of IMPORT_MAX_READ: the import's, while it reads */
};

/* A file of the export: its name in it, and the file it was when read. */
struct xfile
{
  char *rel;   /* relative to the export's directory */
  char *shown; /* the export's path and REL, for messages */
  dev_t dev;
  ino_t ino;
  uint64_t size;  /* its length when read: no more is copied */
  uint64_t bytes; /* room its copy takes: its data, holes left out */
};

struct idisk
{
  char *target;
  struct xfile file; /* in the export */
  char *format;      /* of FILE */
  bool convert;      /* a whole raw disk: made a qcow2 volume */
  uint64_t size;
  char *copy;              /* NEWVM's */
  char *overlay;           /* the volume made at the snapshot, in NEWVM */
  bool made, overlay_made; /* by this import: removed on a failure */
};

struct isnap
{
  char *name;
  char *parent;
  long long created;
  const char *state; /* libvirt's word */
  char *domain_xml;
  struct xfile memory; /* rel NULL: none */
  char *memory_copy;
  bool memory_made;
  size_t ndisks;
  struct idisk *disks;
  bool done; /* redefined */
};

/* A host file the domain boots from (a kernel...), and its copy in NEWVM's
 * directory (import-boot.c). */
struct iboot
{
  char *kind; /* the element: kernel, initrd, dtb, table */
  char *from;
  char *copy;
  uint64_t size; /* FROM's length when planned: no more is copied */
  bool made;     /* by this import: removed on a failure */
};

struct import
{
  struct host *host;
  struct import_dir x;
  char *stage; /* a remote host's: where its files are made here first */
  const char *name;
  char uuid[VIR_UUID_STRING_BUFLEN];
  char *old_name; /* the source VM's, from the active domain.xml */
  char *dir;      /* NEWVM's, for its files */
  bool made_dir;
  size_t nsnaps;
  struct isnap *snaps;
  size_t active;
  int refused; /* a memory image's domain the caller may not define */
  bool (*cancel) (void); /* whether the caller gave up (may be NULL) */
  int record;            /* import-record.c's, or -1 */
  size_t nboots;         /* a caller's who is not root: the copies */
  struct iboot *boots;
  bool boots_copied;  /* no copy planned after */
  char **emulators;   /* libvirt's, for a caller who is not root */
  virConnectPtr conn; /* the import's, borrowed: its networks looked up */
  size_t read_left;   /* what import_read may still read into memory */
  char *nvram;        /* NEWVM's NVRAM file, in DIR, when its domain has one */
  struct instant *instant; /* an instant restore's (import-pull.c) */
};

/* --- opened with the caller's rights (import-open.c) --- */

/* Run FN (ARG) in a thread of its own with C's file-system rights (its
 * uid, gid and groups; root's as they are): what FN returns, or -EACCES
 * when the rights cannot be taken. */
int as_caller (const struct caller *c, int (*fn) (void *), void *arg);

/* Open directory PATH as its caller WHO into X (X->fd), through no link
 * (nor /proc's): 0, or -EACCES (not readable, or a link on the way),
 * -EINVAL (not a directory, or missing), logged. */
int import_open_dir (struct import_dir *x, const char *path,
                     const struct caller *who);

/* Open the regular file REL of X with X's caller's rights, and fill ST:
 * the descriptor (close-on-exec), -ENOENT (not logged), or -EACCES (not
 * readable, or a link that leaves X), -EINVAL (not a regular file), -EIO,
 * logged. */
int import_open (const struct import_dir *x, const char *rel, struct stat *st);

/* The same with FLAGS added (O_DIRECTORY: a directory, which is then not
 * refused as no regular file). */
int import_open_beneath (const struct import_dir *x, const char *rel,
                         int flags, struct stat *st);

/* Open F of X again, as import_open does, and check that it is the file
 * read before: the descriptor, or a negative errno (logged). */
int import_reopen (const struct import_dir *x, const struct xfile *f);

/* Whether file SHOWN, open on FD and copied, still has the length SIZE it
 * had when measured: 0, or -EIO (logged: it changed during the copy). */
int import_same_size (int fd, const char *shown, uint64_t size);

/* Whether PATH, a host file a domain boots from (a kernel...), may be
 * named by the domain of caller ARG (a struct caller): absolute, with no
 * link, '.' or '..' on its way, each directory down to it root's and
 * writable by no one else (so that the name stands for this file for
 * good: its owner may change its bytes, not make it another file), a
 * regular file ARG may open to read.  0 or -EPERM. */
int import_host_file_ok (const char *path, void *arg);

/* Open host file PATH, one import_host_file_ok accepts, to read it with
 * WHO's rights: the descriptor, or -EPERM. */
int import_host_open (const char *path, const struct caller *who);

/* --- the export read (import-read.c) --- */

/* The virtual size of the qcow2 image open on FD into *SIZE, and whether
 * its header names a backing file into *BACKING, read by hand (no file it
 * names is opened): 0, or -EINVAL for what is not a qcow2 image of its
 * own (an external data file is another file: refused). */
int import_qcow2_header (int fd, uint64_t *size, bool *backing);

/* Read export X into IM: a whole VM's (snapshots/, active) or one
 * snapshot's, NAME the directory's own.  0, -EINVAL, -EACCES (logged). */
int import_read (struct import *im, const char *name);

/* The index of snapshot NAME in IM, or -1. */
ssize_t import_find_snap (const struct import *im, const char *name);

/* Free what IM holds. */
void import_free (struct import *im);

/* --- an instant restore (import-pull.c) --- */

/* Whether IM may be restored at once, NEWVM on its backup's files served
 * over NBD: on this machine, one snapshot, an absolute directory. */
bool import_can_serve (const struct import *im);

/* Serve the active snapshot's disks of IM, and make NEWVM's copies and
 * thin tops over them (recorded), NEWVM's lock held from before the
 * server starts: 0 or -errno (logged). */
int import_serve (struct import *im, virConnectPtr conn);

/* NEWVM's disks (CH, one a disk: its tops) and the record of its restore
 * into M (its strings IM's; free M->clone_disks only). */
void import_served_disks (const struct import *im, struct disk_change *ch,
                          struct vs_meta *m);

/* Start the job of IM's restore, recorded as M, NEWVM's lock the job's
 * from here: 0 or -errno (logged). */
int import_pull_start (struct import *im, const struct vs_meta *m);

/* IM failed: its served disks' tops removed, the server stopped. */
void import_serve_stop (struct import *im);

/* Forget IM's served disks, NEWVM's lock dropped unless the job has it:
 * last, after a failed import's VM is removed. */
void import_serve_end (struct import *im);

/* --- the record of an import under way (import-record.c) --- */

/* The directory of libvirt's default storage pool (malloc'd), else
 * /var/lib/libvirt/images: where imports make their VMs' directories. */
char *import_images_base (virConnectPtr conn);

/* Take NAME for an import, in this daemon and every daemon of this
 * machine: the lock's descriptor (or VM_LOCK_NONE), or -EEXIST when an
 * import of NAME is under way (logged).  Drop it with import_name_drop. */
int import_name_take (struct host *h, const char *name);
void import_name_drop (struct host *h, const char *name, int lock);

/* Start IM's record in IM->dir (a local host's; else nothing): 0 or -EIO
 * (logged). */
int import_record_begin (struct import *im);

/* Record file PATH, just made by IM (O_EXCL): 0 or -EIO (logged). */
int import_record_file (struct import *im, const char *path);

/* The VM whole, or its files removed: the record goes. */
void import_record_end (struct import *im);

/* Roll back the import cut short whose record is in DIR, if any: its VM
 * (unless it runs) and the files it made; LOCK: take its name first (left
 * when an import of it is under way).  2 when a record of DIR's own
 * name was rolled back, of an import that made DIR; 1 when of one that
 * found DIR; else 0. */
int import_recover_dir (struct host *h, const char *dir, bool lock);

/* What a domain of a caller who is not root may name: OWN_DIR, the new
 * VM's directory; MAY_READ (PATH, ARG), whether the caller may read a
 * host file the domain boots from (0 or -errno); EMULATORS, libvirt's
 * (NULL-terminated); NETWORK (NAME, NETWORK_ARG), whether an interface
 * may join libvirt network NAME: 0, -EPERM, or -ENOENT (no such network:
 * refused too). */
struct import_rules
{
  const char *own_dir;
  int (*may_read) (const char *path, void *arg);
  void *arg;
  char *const *emulators;
  int (*network) (const char *name, void *arg);
  void *network_arg;
};

/* Whether a caller who is not root may define domain XML (as the import
 * edited it: its files in the new VM's directory, the files it boots from
 * copied there): 0, or -EPERM with the refused element named in WHY
 * (WHY_LEN bytes), or -EINVAL for XML that is not a domain.
 * (import-policy.c) */
int import_policy (const char *xml, const struct import_rules *rules,
                   char *why, size_t why_len);

/* Whether a libvirt network of XML reaches no host device: its forward
 * mode nat, route, open or none, or no <forward> (isolated): 0, else
 * -EPERM (bridge, private, vepa, passthrough, hostdev, or not a network). */
int import_network_xml_ok (const char *xml);

/* import_rules' NETWORK for libvirt connection ARG: the network NAME
 * looked up (virNetworkLookupByName) and its XML judged so; -ENOENT when
 * there is none. */
int import_network_ok (const char *name, void *arg);

/* The emulators libvirt's capabilities list (NULL-terminated, malloc'd;
 * empty when they cannot be read). */
char **import_emulators (virConnectPtr conn);

/* Whether IM's caller may define domain XML, made NEWVM's, of snapshot S:
 * root may; anyone else, only a domain that names no host resource other
 * than what the import makes (import_policy).  0, or -EPERM (logged). */
int import_domain_ok (const struct import *im, const struct isnap *s,
                      const char *xml);

/* --- the files booted from (import-boot.c) --- */

/* Domain XML made NEWVM's (dom_xml_clone: its name, UUID, console files,
 * the disks per CHANGES, META), and for a caller who is not root each
 * file it boots from (kernel, initrd, dtb, ACPI table) its copy's, planned
 * here: malloc'd, or NULL. */
char *import_domain_xml (struct import *im, const char *xml,
                         const struct disk_change *changes, size_t n,
                         const struct vs_meta *meta);

/* Whether IM's NVRAM file (if any) is free: 0, or -EEXIST (logged). */
int import_nvram_free (const struct import *im);

/* Remove the copies this import made; free their plan. */
void import_boots_remove (struct import *im);
void import_boots_free (struct import *im);

/* --- the copies (import-copy.c) --- */

/* Make the copies of the files booted from planned (import-boot.c), made
 * O_EXCL and recorded, read with the caller's rights: 0 or -errno
 * (logged).  No copy is planned after. */
int import_copy_boots (struct import *im);

/* The disks of snapshot S as its frozen volumes' copies (malloc'd). */
struct disk_change *import_frozen_disks (const struct isnap *s);

/* Whether IM's caller gave up: -EINTR (logged) or 0. */
int import_interrupted (const struct import *im);

/* Make file PATH of NEWVM, a name no one else has (O_EXCL), mode 0600, so
 * that another import or anyone else's file of that name is never written
 * or removed, and record it (import-record.c), *MADE set: 0, or -EEXIST or
 * another -errno (logged).  A remote host's files are made there later, by
 * libvirt. */
int import_claim (struct import *im, const char *path, bool *made);

/* Copy the files of snapshot S, and give its volumes their parent's: the
 * backing file a volume's header names is never used.  0, or -EINTR when
 * the caller gave up, or another -errno (logged). */
int import_copy_snapshot (struct import *im, struct isnap *s);

#endif /* VMSNAPFS_IMPORT_H */

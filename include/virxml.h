/* vmsnapfs: what vmsnapfs reads from libvirt's domain and snapshot XML.
 *
 * Pure parsing, no libvirt calls: the unit tests feed it tables of XML.
 */
#ifndef VMSNAPFS_VIRXML_H
#define VMSNAPFS_VIRXML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The XML namespace of vmsnapfs's own element in a domain's <metadata>. */
#define VMSNAPFS_XMLNS "https://vmsnapfs.org/xmlns/domain/1"
#define VMSNAPFS_XMLNS_PREFIX "vmsnapfs"

/* A file-backed disk of a domain. */
struct dom_disk
{
  char *target; /* "vda" */
  char *source; /* the volume the disk is on now */
  char *format; /* the driver type, "qcow2" (NULL when not given) */
  size_t nbacking;
  char **backing;    /* the backing chain below source, top first, as the
                        live XML records it (empty in a persistent XML) */
  bool mirror_ready; /* a block job's mirror is ready to pivot */
};

/* A disk as a preview found it: its volume then, and the preview's. */
struct kept_disk
{
  char *target;
  char *kept;    /* the volume the disk was on before the preview */
  char *format;  /* its format, or NULL */
  char *preview; /* the new volume made for the preview */
};

/* A disk of a merge: TOP is committed into BASE, its backing file. */
struct merge_disk
{
  char *target;
  char *top;
  char *base;
  char *format;     /* BASE's format */
  char *top_format; /* TOP's */
  bool committed;   /* BASE holds TOP's data: what is left is to point what
                       stands on TOP at BASE, and delete TOP */
};

/* A disk of a clone being made: the snapshot's frozen volume SOURCE (of
 * format FORMAT), read through its chain, is copied whole into COPY, and
 * the clone's disk is OVERLAY, a new volume over COPY. */
struct clone_disk
{
  char *target;
  char *source;
  char *format;
  char *copy;
  char *overlay;
};

/* A branch volume PATH (of FORMAT) that stands on VOLUME, the frozen
 * volume of a branch point being deleted, on disk TARGET: it is made to
 * stand on BACKING (of BACKING_FORMAT; NULL: none), VOLUME's backing
 * file, reading as before; LIVE when it is the running VM's active
 * volume. */
struct branch_child
{
  char *target;
  char *path;
  char *format;
  char *volume;
  char *backing;
  char *backing_format;
  bool live;
};

/* A clone being copied from snapshot SNAPSHOT of the VM whose record has
 * the pin: the clone CLONE, of UUID.  The VM's snapshots are not merged or
 * renamed while it holds (clonepin.c). */
struct clone_pin
{
  char *snapshot;
  char *clone;
  char *uuid;
};

/* vmsnapfs's own record in a domain's <metadata>: the truth about what
 * vmsnapfs has done to the VM, kept by libvirt. */
struct vs_meta
{
  char *snapshot_mode; /* or NULL: "memory" */
  char *resume;        /* the snapshot whose memory the next start
                          restores, or NULL */
  char *preview;       /* the snapshot being previewed, or NULL */
  char *kept_current;  /* libvirt's current snapshot before it, or NULL */
  char *kept_resume;   /* resume before it, or NULL */
  size_t ndisks;
  struct kept_disk *disks;
  char *merge;         /* the snapshot being deleted by a merge, or NULL */
  char *merge_memory;  /* its memory file, or NULL */
  bool merge_failed;   /* the merge stopped on an error; rmdir retries it */
  char *stateless;     /* every start begins at this snapshot, or NULL */
  char *armed;         /* the stamp of the VM's volumes when a revert last
                          left it at that snapshot (stateless.c), or NULL */
  char *branch;        /* a branch point being deleted, or NULL; */
  char *branch_memory; /* its memory file, or NULL */
  char *branch_parent; /* its parent, whose volumes made at it change */
  size_t nbranch;
  struct branch_child *branch_children;
  char *rename_from; /* a rename of a snapshot under way: its old name, */
  char *rename_to;   /* and its new one; or both NULL */
  size_t nmerge;
  struct merge_disk *merge_disks;
  char *clone_vm;          /* a clone being made of this VM: the VM and */
  char *clone_snapshot;    /* the snapshot it is copied from; or both NULL */
  char *clone_memory;      /* that snapshot's memory file, or NULL */
  char *clone_memory_copy; /* the clone's copy of it */
  size_t nclone;
  struct clone_disk *clone_disks;
  size_t npins; /* clones copied from this VM's snapshots */
  struct clone_pin *pins;
};

struct dom_xml
{
  size_t ndisks;
  struct dom_disk *disks;
  struct vs_meta meta;
  bool emulated; /* <domain type='qemu'>: QEMU emulates the CPU (TCG) */
};

/* One external disk of a snapshot. */
struct snap_disk
{
  char *target;  /* "vda" */
  char *overlay; /* the new volume made at the snapshot: the disk's <source> */
  char *frozen;  /* the volume the inner <domain> names: the disk's state at
                    the snapshot (NULL when the XML has none) */
  char *format;  /* the frozen volume's format per the inner <domain> */
  char *overlay_format; /* the overlay's, per the snapshot's <driver> */
};

/* The description of a snapshot vmsnapfs took with the guest's file
 * systems frozen. */
#define SNAPSHOT_QUIESCED_MARK                                                \
  "Taken by vmsnapfs, guest file systems quiesced."

struct snap_xml
{
  char *name;
  char *parent;      /* NULL for a root snapshot */
  int64_t created;   /* seconds since the epoch */
  char *state;       /* libvirt's word: "running", "shutoff",
                        "disk-snapshot"... */
  char *memory_file; /* external memory state, or NULL */
  char *description; /* or NULL */
  size_t ndisks;
  struct snap_disk *disks; /* external disks only */
  char *domain_xml;        /* the inner <domain>, as a document */
};

/* Parse a domain's XML (virDomainGetXMLDesc).  Returns 0 or -EINVAL. */
int dom_xml_parse (const char *xml, struct dom_xml **out);
void dom_xml_free (struct dom_xml *d);

/* Whether PATH is a volume of D: a disk's source, or in the backing chain
 * its live XML records. */
bool dom_xml_uses (const struct dom_xml *d, const char *path);

/* Forget M's deletion of a branch point. */
void vs_meta_clear_branch (struct vs_meta *m);

/* Forget M's clone. */
void vs_meta_clear_clone (struct vs_meta *m);

/* Add a pin to M (copies of the strings); forget pin I of M. */
void vs_meta_add_pin (struct vs_meta *m, const char *snapshot,
                      const char *clone, const char *uuid);
void vs_meta_drop_pin (struct vs_meta *m, size_t i);

/* Forget M's merge. */
void vs_meta_clear_merge (struct vs_meta *m);

/* Free what M holds (not M itself). */
void vs_meta_clear (struct vs_meta *m);

/* The <vmsnapfs> element that records M, in no namespace, as
 * virDomainSetMetadata takes it (malloc'd). */
char *vs_meta_format (const struct vs_meta *m);

/* A change of one disk's volume. */
struct disk_change
{
  const char *target;
  const char *source;
  const char *format;
};

/* Edit a domain's XML: point each disk of CHANGES at its new source (and
 * format), forgetting the backing chain libvirt recorded, and, with META,
 * make vmsnapfs's metadata element META's.  Returns the new XML
 * (malloc'd), or NULL when XML is not a domain or a disk is missing. */
char *dom_xml_edit (const char *xml, const struct disk_change *changes,
                    size_t nchanges, const struct vs_meta *meta);

/* What makes a clone another VM than its source: its name and UUID,
 * replacing the source's OLD_NAME. */
struct dom_identity
{
  const char *name;
  const char *uuid;
  const char *old_name;
  const char *dir; /* an import's own directory, where its files go, named
                     there anew; NULL (a clone): beside the source's */
};

/* Edit a domain's XML into a clone's (clone-xml.c): ID's name and UUID; a
 * MAC address of its own for each interface, made from the UUID (the same
 * for the same UUID); each file a character device writes (console, serial
 * log) and each socket one binds moved to one of its own, in the same
 * directory, the source's name replaced by the clone's (or prefixed), or
 * for an import (ID's dir) named console.log, channel.sock... there;
 * disks per CHANGES, and META as vmsnapfs's record unless NULL (else
 * none).  Returns the new XML (malloc'd), or NULL. */
char *dom_xml_clone (const char *xml, const struct dom_identity *id,
                     const struct disk_change *changes, size_t nchanges,
                     const struct vs_meta *meta);

/* Domain XML with the graphics passwords (VNC, SPICE) that domain FROM
 * holds and XML lacks, the Nth display of a type taking the Nth's of FROM
 * (clone-xml.c): XML shown without secrets (an export's domain.xml), FROM
 * a memory image's header.  Returns the new XML (malloc'd), or NULL when
 * either is not a domain. */
char *dom_xml_add_secrets (const char *xml, const char *from);

/* A snapshot's XML made the clone's, to redefine in it: its <domain> as
 * dom_xml_clone makes it, with disks per FROZEN; the volume made at the
 * snapshot for each disk per OVERLAYS (N of each); its memory file MEMORY
 * (or none); no parent.  Returns the new XML (malloc'd), or NULL. */
char *snap_xml_clone (const char *xml, const struct dom_identity *id,
                      const struct disk_change *frozen,
                      const struct disk_change *overlays, size_t n,
                      const char *memory);

/* A snapshot's XML to redefine an imported snapshot with: NAME, child of
 * PARENT (NULL: a root), taken at
 * CREATED (seconds since the epoch) with the VM in libvirt's STATE
 * ("running", "shutoff", "disk-snapshot"), its memory in MEMORY (or
 * none), the volume made at it for each disk per OVERLAYS (N), and the
 * domain DOMAIN (its disks naming the frozen volumes).  Returns the XML
 * (malloc'd), or NULL when DOMAIN is not a domain. */
char *snap_xml_make (const char *name, const char *parent, long long created,
                     const char *state, const char *memory,
                     const struct disk_change *overlays, size_t n,
                     const char *domain);

/* A snapshot's XML with the volume made at it on each disk of CHANGES
 * made CHANGES's source (malloc'd), or NULL when XML is not a snapshot's
 * or a disk is missing. */
char *snap_xml_set_overlays (const char *xml,
                             const struct disk_change *changes, size_t n);

/* Parse a snapshot's XML (virDomainSnapshotGetXMLDesc).  Returns 0 or
 * -EINVAL. */
int snap_xml_parse (const char *xml, struct snap_xml **out);

/* A snapshot's XML (virDomainSnapshotGetXMLDesc) with its name made NAME
 * unless NULL: the XML to redefine it with (malloc'd), or NULL when XML is
 * not a snapshot's. */
char *snap_xml_rename (const char *xml, const char *name);

/* A snapshot's XML with its parent's name made PARENT, or with no parent
 * when PARENT is NULL (a root): the XML to redefine it with (malloc'd), or
 * NULL when XML is not a snapshot's, or has no parent to rename. */
char *snap_xml_reparent (const char *xml, const char *parent);
void snap_xml_free (struct snap_xml *s);

/* The XML of a transient domain NAME (xmlmake.c) with nothing but one
 * virtio disk, vda, on file DISK of FORMAT: a helper for a block job. */
char *helper_domain_xml (const char *name, const char *disk,
                         const char *format);
/* The same with the disk read-only: a reader of a frozen volume. */
char *reader_domain_xml (const char *name, const char *disk,
                         const char *format);
/* The XML of a backup in pull mode of disk vda, its NBD server on TCP at
 * SERVER:PORT (with TLS: x509 from the host's qemu.conf), its
 * scratch file SCRATCH (virDomainBackupBegin). */
char *backup_pull_xml (const char *server, unsigned port,
                       const char *scratch, bool tls);

/* The XML of the destination of a block copy (virDomainBlockCopy): file
 * DISK of FORMAT. */
char *copy_dest_xml (const char *disk, const char *format);

/* The XML of a "dir" storage pool NAME on directory DIR, which its build
 * makes with MODE (0: libvirt's default). */
char *dir_pool_xml (const char *name, const char *dir, unsigned mode);

/* The XML of a volume NAME of CAPACITY bytes in FORMAT, mode 0600, standing on
 * BACKING (of BACKING_FORMAT) unless BACKING is NULL. */
char *volume_xml (const char *name, uint64_t capacity, const char *format,
                  const char *backing, const char *backing_format);

#endif /* VMSNAPFS_VIRXML_H */

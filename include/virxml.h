/* vmsnapfs: what vmsnapfs reads from libvirt's domain and snapshot XML.
 *
 * Pure parsing, no libvirt calls: the unit tests feed it tables of XML.
 */
#ifndef VMSNAPFS_VIRXML_H
#define VMSNAPFS_VIRXML_H

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
};

struct dom_xml
{
  size_t ndisks;
  struct dom_disk *disks;
  char *snapshot_mode; /* from vmsnapfs's metadata, or NULL */
};

/* One external disk of a snapshot. */
struct snap_disk
{
  char *target;  /* "vda" */
  char *overlay; /* the new volume made at the snapshot: the disk's <source> */
  char *frozen;  /* the volume the inner <domain> names: the disk's state at
                    the snapshot (NULL when the XML has none) */
  char *format;  /* the frozen volume's format per the inner <domain> */
};

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

/* Parse a snapshot's XML (virDomainSnapshotGetXMLDesc).  Returns 0 or
 * -EINVAL. */
int snap_xml_parse (const char *xml, struct snap_xml **out);
void snap_xml_free (struct snap_xml *s);

#endif /* VMSNAPFS_VIRXML_H */

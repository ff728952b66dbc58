/* vmsnapfs: the libxml2 helpers shared by the files that read and edit
 * libvirt's XML (virxml.c, meta.c, clone-xml.c), and nothing else sees. */
#ifndef VMSNAPFS_XMLDOC_H
#define VMSNAPFS_XMLDOC_H

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdbool.h>

#include "virxml.h"

/* Largest XML accepted, in bytes: a domain with thousands of devices fits. */
#define MAX_XML (64 * 1024 * 1024)

/* A parsed document and an XPath context on it, with vmsnapfs's
 * namespace registered, made when first used. */
struct doc
{
  xmlDocPtr doc;
  xmlXPathContextPtr ctx;
};

/* Parse XML into D.  Returns 0 or -EINVAL; close D either way. */
int xd_open (const char *xml, struct doc *d);

/* The same, to read only: D's tree must not be changed (libxml2 keeps
 * small texts compact). */
int xd_read (const char *xml, struct doc *d);
void xd_close (struct doc *d);

/* The string value of XPATH evaluated at NODE (the root when NULL), or NULL
 * when it is empty. */
char *xd_string (struct doc *d, xmlNodePtr node, const char *xpath);

/* Read without XPath, for what is read thousands of times (a snapshot's
 * XML): names in no namespace, as XPath's unprefixed ones. */

/* Whether NODE is an element called NAME. */
bool xd_is (xmlNodePtr node, const char *name);

/* The first element (in document order) that PATH reaches from NODE,
 * "a/b/c" a child's child's child, or NULL.  A last step "@x" asks for an
 * element that has attribute x. */
xmlNodePtr xd_find (xmlNodePtr node, const char *path);

/* The string of PATH from NODE as XPath's string() gives it (the text of
 * the element, or the attribute's value), malloc'd, or NULL when empty. */
char *xd_get (xmlNodePtr node, const char *path);

/* The nodes XPATH selects at the root, their count in *N; the caller frees
 * the object. */
xmlXPathObjectPtr xd_nodes (struct doc *d, const char *xpath, int *n);

/* The one element of D that XPath FMT selects with NAME (a disk's target
 * name, in FMT's one %s), or NULL: none, several, or a NAME that cannot be
 * quoted in XPath. */
xmlNodePtr xd_one_named (struct doc *d, const char *fmt, const char *name);

/* Whether the root element is called NAME. */
bool xd_root_is (struct doc *d, const char *name);

/* Set attribute NAME of NODE to VALUE when VALUE is not NULL. */
void xd_set_attr (xmlNodePtr node, const char *name, const char *value);

/* Serialize NODE of DOC (malloc'd). */
char *xd_node_string (xmlDocPtr doc, xmlNodePtr node);

/* The child element NAME (in no namespace) of PARENT, made when missing. */
xmlNodePtr xd_child (xmlNodePtr parent, const char *name);

/* Remove the nodes XPATH selects in D. */
void xd_remove (struct doc *d, const char *xpath);

/* Remove PARENT's child elements called NAME. */
void xd_remove_children (xmlNodePtr parent, const char *name);

/* Make the text of the element at XPATH in D VALUE; false when there is
 * no such element. */
bool xd_set_text (struct doc *d, const char *xpath, const char *value);

/* Free what DD holds (dom_xml_parse's disks). */
void dom_disk_clear (struct dom_disk *dd);

/* Point the disk of domain D at CH's source (and format), forgetting the
 * backing chain libvirt recorded; false when D has no such file-backed
 * disk. */
bool dom_edit_disk (struct doc *d, const struct disk_change *ch);

/* The inner <domain> of snapshot document D as a document of its own
 * (malloc'd), or NULL. */
char *inner_domain (struct doc *d);

/* Read vmsnapfs's record from a domain document into M (meta.c). */
void meta_read_doc (struct doc *d, struct vs_meta *m);

/* Make META the only vmsnapfs element of the domain's <metadata>. */
void meta_edit_doc (struct doc *d, const struct vs_meta *meta);

#endif /* VMSNAPFS_XMLDOC_H */

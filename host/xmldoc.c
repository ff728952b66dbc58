/* vmsnapfs: the libxml2 helpers that the readers and editors of libvirt's
 * XML share (xmldoc.h). */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "util.h"
#include "virxml.h"
#include "xmldoc.h"

/* Parse XML into D with libxml2's OPTIONS. */
static int
parse (const char *xml, struct doc *d, int options)
{
  size_t len;

  d->doc = NULL;
  d->ctx = NULL;
  if (xml == NULL || (len = strlen (xml)) == 0 || len > MAX_XML)
    return -EINVAL;
  d->doc = xmlReadMemory (xml, (int)len, "libvirt.xml", NULL,
                          XML_PARSE_NONET | XML_PARSE_NOERROR
                              | XML_PARSE_NOWARNING | options);
  if (d->doc == NULL || xmlDocGetRootElement (d->doc) == NULL)
    return -EINVAL;
  return 0;
}

int
xd_open (const char *xml, struct doc *d)
{
  return parse (xml, d, 0);
}

int
xd_read (const char *xml, struct doc *d)
{
  return parse (xml, d, XML_PARSE_COMPACT);
}

/* D's XPath context, made at the first use (a snapshot's XML is read
 * without), or NULL. */
static xmlXPathContextPtr
context (struct doc *d)
{
  if (d->ctx == NULL && (d->ctx = xmlXPathNewContext (d->doc)) != NULL)
    xmlXPathRegisterNs (d->ctx, BAD_CAST VMSNAPFS_XMLNS_PREFIX,
                        BAD_CAST VMSNAPFS_XMLNS);
  return d->ctx;
}

void
xd_close (struct doc *d)
{
  xmlXPathFreeContext (d->ctx);
  xmlFreeDoc (d->doc);
}

/* The string value of XPATH evaluated at NODE (the root when NULL), or NULL
 * when it is empty. */
char *
xd_string (struct doc *d, xmlNodePtr node, const char *xpath)
{
  xmlXPathObjectPtr obj;
  char *s = NULL;

  if (context (d) == NULL)
    return NULL;
  d->ctx->node = node ? node : xmlDocGetRootElement (d->doc);
  obj = xmlXPathEval (BAD_CAST xpath, d->ctx);
  if (obj && obj->type == XPATH_STRING && obj->stringval
      && obj->stringval[0] != '\0')
    s = xstrdup ((const char *)obj->stringval);
  xmlXPathFreeObject (obj);
  return s;
}

bool
xd_is (xmlNodePtr node, const char *name)
{
  return node->type == XML_ELEMENT_NODE && node->ns == NULL
         && xmlStrcmp (node->name, BAD_CAST name) == 0;
}

xmlNodePtr
xd_find (xmlNodePtr node, const char *path)
{
  const char *slash = strchr (path, '/');
  size_t len = slash ? (size_t)(slash - path) : strlen (path);

  if (path[0] == '@')
    return xmlHasNsProp (node, BAD_CAST path + 1, NULL) ? node : NULL;
  for (xmlNodePtr c = node->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && c->ns == NULL
        && xmlStrncmp (c->name, BAD_CAST path, (int)len) == 0
        && c->name[len] == '\0')
      {
        xmlNodePtr found = slash ? xd_find (c, slash + 1) : c;

        if (found)
          return found;
      }
  return NULL;
}

char *
xd_get (xmlNodePtr node, const char *path)
{
  const char *at = strrchr (path, '@');
  xmlNodePtr found = xd_find (node, path);
  xmlChar *v;
  char *s = NULL;

  if (found == NULL)
    return NULL;
  v = at ? xmlGetNoNsProp (found, BAD_CAST at + 1) : xmlNodeGetContent (found);
  if (v && v[0] != '\0')
    s = xstrdup ((const char *)v);
  xmlFree (v);
  return s;
}

/* The nodes XPATH selects at the root; the caller frees the object. */
xmlXPathObjectPtr
xd_nodes (struct doc *d, const char *xpath, int *n)
{
  xmlXPathObjectPtr obj;

  *n = 0;
  if (context (d) == NULL)
    return NULL;
  d->ctx->node = xmlDocGetRootElement (d->doc);
  obj = xmlXPathEval (BAD_CAST xpath, d->ctx);
  *n = (obj && obj->type == XPATH_NODESET && obj->nodesetval)
           ? obj->nodesetval->nodeNr
           : 0;
  return obj;
}

xmlNodePtr
xd_one_named (struct doc *d, const char *fmt, const char *name)
{
  xmlXPathObjectPtr obj;
  xmlNodePtr one = NULL;
  char xpath[256];
  int n;

  if (strchr (name, '\'') || strlen (name) > 64)
    return NULL;
  snprintf (xpath, sizeof xpath, fmt, name);
  obj = xd_nodes (d, xpath, &n);
  if (n == 1)
    one = obj->nodesetval->nodeTab[0];
  xmlXPathFreeObject (obj);
  return one;
}

bool
xd_root_is (struct doc *d, const char *name)
{
  return xmlStrcmp (xmlDocGetRootElement (d->doc)->name, BAD_CAST name) == 0;
}

/* Set attribute NAME of NODE to VALUE when VALUE is not NULL. */
void
xd_set_attr (xmlNodePtr node, const char *name, const char *value)
{
  if (value)
    xmlNewProp (node, BAD_CAST name, BAD_CAST value);
}

/* Serialize NODE of DOC (malloc'd). */
char *
xd_node_string (xmlDocPtr doc, xmlNodePtr node)
{
  xmlBufferPtr buf = xmlBufferCreate ();
  char *s = NULL;

  if (buf && xmlNodeDump (buf, doc, node, 0, 0) > 0)
    s = xstrdup ((const char *)xmlBufferContent (buf));
  xmlBufferFree (buf);
  return s ? s : xstrdup ("");
}

/* The child element NAME of PARENT, made when missing. */
xmlNodePtr
xd_child (xmlNodePtr parent, const char *name)
{
  for (xmlNodePtr c = parent->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && xmlStrcmp (c->name, BAD_CAST name) == 0
        && c->ns == NULL)
      return c;
  return xmlNewChild (parent, NULL, BAD_CAST name, NULL);
}

/* Remove PARENT's child elements called NAME. */
void
xd_remove_children (xmlNodePtr parent, const char *name)
{
  xmlNodePtr c = parent->children, next;

  for (; c; c = next)
    {
      next = c->next;
      if (c->type == XML_ELEMENT_NODE
          && xmlStrcmp (c->name, BAD_CAST name) == 0)
        {
          xmlUnlinkNode (c);
          xmlFreeNode (c);
        }
    }
}

/* Make the text of the element at XPATH in D VALUE; false when there is
 * no such element. */
bool
xd_set_text (struct doc *d, const char *xpath, const char *value)
{
  xmlXPathObjectPtr obj;
  int n;
  bool found;

  obj = xd_nodes (d, xpath, &n);
  if ((found = n == 1))
    {
      /* Added as text, not parsed for entities as a set content is. */
      xmlNodeSetContent (obj->nodesetval->nodeTab[0], NULL);
      xmlNodeAddContent (obj->nodesetval->nodeTab[0], BAD_CAST value);
    }
  xmlXPathFreeObject (obj);
  return found;
}

void
xd_remove (struct doc *d, const char *xpath)
{
  int n;
  xmlXPathObjectPtr obj = xd_nodes (d, xpath, &n);

  for (int i = 0; i < n; i++)
    {
      xmlUnlinkNode (obj->nodesetval->nodeTab[i]);
      xmlFreeNode (obj->nodesetval->nodeTab[i]);
    }
  xmlXPathFreeObject (obj);
}

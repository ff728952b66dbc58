/* vmsnapfs: the host files an operator's imported domain boots from,
 * copied into the new VM's directory (import.h).
 *
 * libvirt gives qemu the kernel, initrd, device tree and ACPI tables a
 * domain names by making them qemu's while it runs (dynamic_ownership),
 * which clears a setuid bit for good: a domain whose initrd is /usr/bin/sudo
 * would break sudo.  So for a caller who is not root each such file is
 * copied, read with the caller's rights (only a file import_host_file_ok
 * accepts: in directories only root may change, readable by the caller),
 * into a file of the new VM's made O_EXCL, mode 0600 and recorded like the
 * other copies (KIND.boot, KIND-N.boot: never a volume's, a memory
 * image's, a console file's nor the record's name), and the domain names
 * the copy.  A path not planned before the copies are made is left as it
 * is, and the policy refuses it.  Every importer's domain that keeps UEFI
 * variables gets an NVRAM file of its own, nvram.fd in the new VM's
 * directory (edit_nvram).  Each copy counts in the room the import
 * checks, by the file's length when planned, and no more is copied.
 * Root's domains name the host's files.
 */
#include <errno.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "import.h"
#include "log.h"
#include "util.h"
#include "virxml.h"

#include "host/files.h"
#include "host/xmldoc.h"

/* The copy planned for host file PATH, named by KIND (kernel...), planned
 * now if need be (before the copies are made, and when the caller may
 * read it): the copy's path, or NULL. */
static const char *
boot_copy_of (struct import *im, const char *kind, const char *path)
{
  struct iboot *b;
  struct stat st;
  int same_kind = 0;

  for (size_t i = 0; i < im->nboots; i++)
    {
      if (strcmp (im->boots[i].from, path) == 0)
        return im->boots[i].copy;
      same_kind += strcmp (im->boots[i].kind, kind) == 0;
    }
  if (im->boots_copied || import_host_file_ok (path, (void *)im->x.who) < 0
      || stat (path, &st) < 0)
    return NULL;
  im->boots = xrealloc (im->boots, (im->nboots + 1) * sizeof *im->boots);
  b = &im->boots[im->nboots++];
  b->kind = xstrdup (kind);
  b->from = xstrdup (path);
  b->copy = same_kind ? xasprintf ("%s/%s-%d.boot", im->dir, kind, same_kind)
                      : xasprintf ("%s/%s.boot", im->dir, kind);
  b->size = (uint64_t)st.st_size; /* counted in the room, copied so */
  b->made = false;
  return b->copy;
}

/* Point each file domain document D boots from at its copy. */
static void
edit_boots (struct import *im, struct doc *d)
{
  int n;
  xmlXPathObjectPtr obj
      = xd_nodes (d,
                  "/domain/os/kernel | /domain/os/initrd | /domain/os/dtb"
                  " | /domain/os/acpi/table",
                  &n);

  for (int i = 0; i < n; i++)
    {
      xmlNodePtr e = obj->nodesetval->nodeTab[i];
      CLEANUP_FREE char *text = (char *)xmlNodeGetContent (e);
      CLEANUP_FREE char *path = NULL;
      const char *t = text ? text + strspn (text, " \t\r\n") : "";
      const char *copy;

      path = xasprintf ("%.*s", (int)strcspn (t, " \t\r\n"), t);
      if (path[0] == '/'
          && (copy = boot_copy_of (im, (const char *)e->name, path)) != NULL)
        {
          xmlNodeSetContent (e, NULL);
          xmlNodeAddContent (e, BAD_CAST copy);
        }
    }
  xmlXPathFreeObject (obj);
}

/* Give a domain document D that keeps UEFI variables (firmware='efi', a
 * pflash loader, or an <nvram>) an NVRAM file of the new VM's own,
 * IM->nvram in its directory: never the source VM's, nor one an earlier VM
 * of NEWVM's name left at libvirt's default path.  libvirt makes it from
 * the template at the first start. */
static void
edit_nvram (struct import *im, struct doc *d)
{
  xmlNodePtr os = xd_child (xmlDocGetRootElement (d->doc), "os"), nv;
  CLEANUP_FREE char *fw = NULL, *loader = NULL, *has = NULL;

  if (os == NULL)
    return;
  fw = (char *)xmlGetNoNsProp (os, BAD_CAST "firmware");
  loader = xd_string (d, os, "string(loader/@type)");
  has = xd_string (d, os, "string(name(nvram))");
  if (!(fw && strcmp (fw, "efi") == 0)
      && !(loader && strcmp (loader, "pflash") == 0) && has == NULL)
    return;
  if (im->nvram == NULL)
    im->nvram = xasprintf ("%s/nvram.fd", im->dir);
  if ((nv = xd_child (os, "nvram")) == NULL)
    nv = xmlNewChild (os, NULL, BAD_CAST "nvram", NULL);
  xmlUnsetProp (nv, BAD_CAST "type");
  xd_remove_children (nv, "source");
  xmlNodeSetContent (nv, NULL);
  xmlNodeAddContent (nv, BAD_CAST im->nvram);
}

char *
import_domain_xml (struct import *im, const char *xml,
                   const struct disk_change *changes, size_t n,
                   const struct vs_meta *meta)
{
  struct dom_identity id = { im->name, im->uuid, im->old_name, im->dir };
  char *clone = dom_xml_clone (xml, &id, changes, n, meta);
  struct doc d;
  char *s = NULL;

  if (clone == NULL)
    return NULL;
  if (xd_open (clone, &d) == 0)
    {
      edit_nvram (im, &d);
      if (im->x.who->uid != 0)
        edit_boots (im, &d);
      s = xd_node_string (d.doc, xmlDocGetRootElement (d.doc));
    }
  xd_close (&d);
  free (clone);
  return s;
}

int
import_nvram_free (const struct import *im)
{
  struct stat st;

  if (im->nvram == NULL || lstat (im->nvram, &st) < 0)
    return 0;
  log_error ("Import: '%s' exists: the new VM's NVRAM file would be one it "
             "did not make; nothing is imported.",
             im->nvram);
  return -EEXIST;
}

void
import_boots_remove (struct import *im)
{
  for (size_t i = 0; i < im->nboots; i++)
    if (im->boots[i].made)
      host_file_unlink (im->host, im->boots[i].copy);
}

void
import_boots_free (struct import *im)
{
  for (size_t i = 0; i < im->nboots; i++)
    {
      free (im->boots[i].kind);
      free (im->boots[i].from);
      free (im->boots[i].copy);
    }
  free (im->boots);
  im->boots = NULL;
  im->nboots = 0;
  free (im->nvram);
  im->nvram = NULL;
}

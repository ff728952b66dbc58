/* vmsnapfs: what an imported domain may name when its importer is not root
 * (import.h).
 *
 * libvirt defines and starts a domain as root, and gives qemu every host
 * file the domain names.  So an import by a caller who is not root takes
 * a domain that reaches nothing on the host but what the import itself
 * makes, checked on the XML as the import edited it (its disks, console
 * files and sockets moved into the new VM's directory).  An allow-list,
 * walked over every element:
 *
 *   - the elements of <domain> that configure the guest itself; no element
 *     of another namespace (<qemu:commandline>...) outside <metadata>, no
 *     entity reference, no <blkiotune>, <idmap>, <encryption> or <secret>;
 *   - devices: file disks (cdroms and floppies empty), controllers,
 *     inputs (mouse, tablet, keyboard), VNC and SPICE graphics, video,
 *     sound, audio none/spice, interfaces of type user, or network to a
 *     libvirt network whose forward mode reaches no host device (NAT,
 *     routed, open, isolated; NETWORK looks it up), with no <script>,
 *     <virtualport>, <vlan> or <portForward>, no tap name but libvirt's
 *     own vnetN; character devices
 *     of type pty, null, vc, spicevmc, spiceport, qemu-vdagent, dbus, file
 *     and unix (bind), watchdog, balloon, rng from /dev/urandom or
 *     /dev/random (or builtin), panic, hub, iommu, vsock, crypto, an
 *     emulated TPM, dimm and virtio-mem memory, spicevmc redirection;
 *   - every path it names (any attribute or text that starts with '/',
 *     and the attributes file, path, socket, dir, evdev, template,
 *     rendernode, whatever they start with) in the new VM's directory
 *     (<kernel>, <initrd>, <dtb> and ACPI tables too: the import's copies,
 *     import-boot.c), but for an <emulator> libvirt's capabilities list,
 *     and a read-only <loader> and an NVRAM template: host files MAY_READ
 *     accepts (import-open.c: in directories that are root's all along
 *     the path, and readable by the caller).  No <nvram> file but the
 *     new VM's own, which the import names (import-boot.c): qemu writes
 *     it.  No <smbios mode='host'/> (the host's serial numbers
 *     and the like): emulate and sysinfo only.
 *
 * import_domain_ok applies it to an import: root imports any domain.
 */
#include <errno.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "import.h"
#include "log.h"
#include "util.h"

#include "host/conn.h"
#include "host/xmldoc.h"

struct pol
{
  const char *own;
  int (*may_read) (const char *path, void *arg);
  void *arg;
  char *const *emulators;
  int (*network) (const char *name, void *arg);
  void *network_arg;
  char *why;
  size_t why_len;
};

static bool
is (const xmlNode *n, const char *name)
{
  return n && n->type == XML_ELEMENT_NODE && n->ns == NULL
         && strcmp ((const char *)n->name, name) == 0;
}

static bool
in_list (const char *s, const char *const *list)
{
  for (; s && *list; list++)
    if (strcmp (s, *list) == 0)
      return true;
  return false;
}

/* Attribute NAME of N (malloc'd by libxml2), or NULL. */
static char *
attr (const xmlNode *n, const char *name)
{
  return (char *)xmlGetNoNsProp (n, BAD_CAST name);
}

static bool
attr_in (const xmlNode *n, const char *name, const char *const *list)
{
  CLEANUP_FREE char *v = attr (n, name);

  return in_list (v, list);
}

/* Refuse element N, and say why: -EPERM. */
static int
refuse (struct pol *p, const xmlNode *n, const char *what)
{
  CLEANUP_FREE char *type = attr (n, "type");

  snprintf (p->why, p->why_len, "<%s%s%s%s%s>%s%s",
            n->ns && n->ns->prefix ? (const char *)n->ns->prefix : "",
            n->ns && n->ns->prefix ? ":" : "", (const char *)n->name,
            type ? " type=" : "", type ? type : "", what ? " " : "",
            what ? what : "");
  return -EPERM;
}

/* Whether PATH lies in the new VM's own directory: no '.' or '..' on the
 * way out of it. */
static bool
own_path (const struct pol *p, const char *path)
{
  size_t n = strlen (p->own);

  return strncmp (path, p->own, n) == 0 && path[n] == '/'
         && !strstr (path, "/../") && !strstr (path, "/./")
         && !strstr (path + n, "//")
         && strcmp (path + strlen (path) - 3, "/..")
         && strcmp (path + strlen (path) - 2, "/.");
}

static const char *const chardevs[]
    = { "serial", "parallel", "console", "channel", NULL };

/* Whether N is a character device. */
static bool
chardev (const xmlNode *n)
{
  return n && n->type == XML_ELEMENT_NODE && n->ns == NULL
         && in_list ((const char *)n->name, chardevs);
}

/* Whether N names a file the import gives the new VM: a disk's source (the
 * import makes every file disk's), a character device's file or socket
 * (made there by qemu), its log. */
static bool
given (const xmlNode *n)
{
  return (is (n, "source") && (is (n->parent, "disk") || chardev (n->parent)))
         || (is (n, "log") && chardev (n->parent));
}

/* N is within a character device of type pty (qemu makes its host side). */
static bool
pty (const xmlNode *n)
{
  for (; n && n->type == XML_ELEMENT_NODE; n = n->parent)
    if (n->ns == NULL && in_list ((const char *)n->name, chardevs))
      return attr_in (n, "type", (const char *const[]){ "pty", NULL });
  return false;
}

/* The elements whose text is a host file qemu boots from or runs. */
static const char *const boots[]
    = { "emulator", "kernel", "initrd", "dtb", "loader", "table", NULL };

/* Those of them libvirt makes qemu's while it runs (a setuid bit lost):
 * the import copies them into the new VM's directory. */
static const char *const copied[]
    = { "kernel", "initrd", "dtb", "table", NULL };

/* Whether VALUE, a path named by element N (in attribute NAME, or its text
 * when NULL), may stand: 0 or -EPERM. */
static int
check_path (struct pol *p, const xmlNode *n, const char *name,
            const char *value)
{
  const char *el = (const char *)n->name;
  char what[200];

  if (name == NULL && is (n, "emulator"))
    {
      for (char *const *e = p->emulators; e && *e; e++)
        if (strcmp (*e, value) == 0)
          return 0;
      snprintf (what, sizeof what,
                "naming '%.100s', not an emulator libvirt lists", value);
      return refuse (p, n, what);
    }
  if (name == NULL && in_list (el, copied))
    {
      if (value[0] == '/' && own_path (p, value))
        return 0; /* the import's copy */
      snprintf (what, sizeof what,
                "naming '%.100s', not a file the caller may read in "
                "directories only root may change",
                value);
      return refuse (p, n, what);
    }
  if ((name == NULL && in_list (el, boots))
      || (is (n, "nvram") && name && strcmp (name, "template") == 0))
    {
      if (value[0] == '/' && p->may_read (value, p->arg) == 0)
        return 0;
      snprintf (what, sizeof what,
                "naming '%.100s', not a file the caller may read in "
                "directories only root may change",
                value);
      return refuse (p, n, what);
    }
  if (is (n, "nvram") && name == NULL && value[0] == '/'
      && own_path (p, value))
    return 0; /* the import's own (import-boot.c) */
  if (is (n, "nvram"))
    return refuse (p, n, "naming a file (qemu writes it)");
  if (is (n, "backend") && is (n->parent, "rng") && name == NULL
      && (strcmp (value, "/dev/urandom") == 0
          || strcmp (value, "/dev/random") == 0))
    return 0;
  if (is (n, "partition") && is (n->parent, "resource") && name == NULL
      && strcmp (value, "/machine") == 0)
    return 0;
  if (pty (n) && strncmp (value, "/dev/pts/", 9) == 0
      && !strstr (value, "/.."))
    return 0;
  if (value[0] == '/' && own_path (p, value) && given (n))
    return 0;
  snprintf (what, sizeof what, "naming '%.150s'", value);
  return refuse (p, n, what);
}

/* Whether N is a child of the domain itself. */
static bool
top_level (const xmlNode *n)
{
  return n->parent && n->parent->type == XML_ELEMENT_NODE
         && n->parent->parent && n->parent->parent->type == XML_DOCUMENT_NODE;
}

/* The first element below N (N itself too) named NAME whose attribute A
 * is VALUE (any, when A is NULL), or NULL. */
static const xmlNode *
find_attr (const xmlNode *n, const char *name, const char *a,
           const char *value)
{
  if (is (n, name)
      && (a == NULL || attr_in (n, a, (const char *const[]){ value, NULL })))
    return n;
  for (const xmlNode *c = n->children; c; c = c->next)
    {
      const xmlNode *f
          = c->type == XML_ELEMENT_NODE ? find_attr (c, name, a, value) : NULL;

      if (f)
        return f;
    }
  return NULL;
}

/* Every path under N (attributes and text), and no element of another
 * namespace nor an entity reference: 0 or -EPERM. */
static int
check_paths (struct pol *p, const xmlNode *n)
{
  static const char *const path_attrs[]
      = { "file",  "path",     "socket",     "dir",
          "evdev", "template", "rendernode", NULL };
  static const char *const secret[] = { "encryption", "secret", NULL };
  int r = 0;

  if (n->ns)
    return refuse (p, n, NULL);
  if (in_list ((const char *)n->name, secret))
    return refuse (p, n, "(a host secret)");
  if (is (n, "host"))
    return refuse (p, n, "(a network host: qemu reaches it from the host)");
  if (is (n, "baselabel"))
    return refuse (p, n, "(only libvirt's own labels)");
  if (is (n, "seclabel") && !top_level (n))
    return refuse (p, n, "(a device's own label)");
  for (const xmlAttr *a = n->properties; a && r == 0; a = a->next)
    {
      CLEANUP_FREE char *v = (char *)xmlNodeGetContent ((xmlNodePtr)a);

      if (a->ns)
        r = refuse (p, n, "with an attribute of another namespace");
      else if (strcmp ((const char *)a->name, "protocol") == 0)
        r = refuse (p, n, "with a network protocol");
      else if (v
               && (v[0] == '/' || in_list ((const char *)a->name, path_attrs)))
        r = check_path (p, n, (const char *)a->name, v);
    }
  for (const xmlNode *c = n->children; c && r == 0; c = c->next)
    {
      if (c->type == XML_ELEMENT_NODE)
        r = check_paths (p, c);
      else if (c->type == XML_ENTITY_REF_NODE || c->type == XML_ENTITY_NODE)
        r = refuse (p, n, "with an entity reference");
      else if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)
        {
          const char *t = (const char *)c->content;

          t += strspn (t, " \t\r\n");
          if (*t == '/'
              || (*t
                  && (in_list ((const char *)n->name, boots)
                      || is (n, "nvram"))))
            {
              CLEANUP_FREE char *v = strndup (t, strcspn (t, " \t\r\n"));

              r = check_path (p, n, NULL, v);
            }
        }
    }
  return r;
}

/* Whether N, an element of <os>, may stand: 0 or -EPERM. */
static int
check_os (struct pol *p, const xmlNode *n)
{
  static const char *const allowed[]
      = { "type",    "boot",   "bootmenu", "smbios", "bios",
          "nvram",   "loader", "kernel",   "initrd", "dtb",
          "cmdline", "acpi",   "firmware", NULL };

  if (!in_list ((const char *)n->name, allowed))
    return refuse (p, n, NULL);
  if (is (n, "nvram") && (attr_in (n, "type", (const char *const[]){
                                                   "file", "block", "network",
                                                   NULL })
                          || xmlFirstElementChild ((xmlNodePtr)n)))
    return refuse (p, n, "(a host's block device or network target)");
  if (is (n, "smbios")
      && !attr_in (n, "mode", (const char *const[]){ "emulate", "sysinfo",
                                                      NULL }))
    return refuse (p, n, "(the host's own SMBIOS tables shown to the guest)");
  if (is (n, "loader") && n->children
      && !attr_in (n, "readonly", (const char *const[]){ "yes", NULL })
      && !attr_in (n, "type", (const char *const[]){ "rom", NULL }))
    return refuse (p, n, "that qemu may write");
  return 0;
}

/* Whether N, a child of the domain, claims more of the host than a VM's
 * share: real-time or pinned caches, locked memory, core dumps: 0 or
 * -EPERM. */
static int
check_share (struct pol *p, const xmlNode *n)
{
  static const char *const scheds[]
      = { "vcpusched", "iothreadsched", "emulatorsched", NULL };
  static const char *const realtime[] = { "fifo", "rr", NULL };
  static const char *const tunes[] = { "cachetune", "memorytune", NULL };
  const xmlNode *t;

  if (is (n, "cputune"))
    for (const xmlNode *c = n->children; c; c = c->next)
      if (c->type == XML_ELEMENT_NODE
          && ((in_list ((const char *)c->name, scheds)
               && attr_in (c, "scheduler", realtime))
              || in_list ((const char *)c->name, tunes)))
        return refuse (p, c, "(more of the host than a VM's share)");
  if (is (n, "memoryBacking") && (t = find_attr (n, "locked", NULL, NULL)))
    return refuse (p, t, "(memory the host cannot reclaim)");
  if (is (n, "on_crash") && n->children && n->children->content
      && strstr ((const char *)n->children->content, "coredump"))
    return refuse (p, n, "(a core dump in the host's files)");
  return 0;
}

/* Whether N, a child of <interface>, may stand: 0 or -EPERM.  Only
 * user-mode networking, and libvirt networks that reach no host device
 * (NETWORK says which); no switch port, VLAN, host port or script. */
static int
check_interface (struct pol *p, const xmlNode *n)
{
  static const char *const host_side[]
      = { "virtualport", "vlan", "portForward", NULL };
  bool network = attr_in (n, "type", (const char *const[]){ "network", NULL });
  bool named = false;

  if (!network && !attr_in (n, "type", (const char *const[]){ "user", NULL }))
    return refuse (p, n, "(only type network or user)");
  for (const xmlNode *c = n->children; c; c = c->next)
    {
      CLEANUP_FREE char *dev = is (c, "target") ? attr (c, "dev") : NULL;
      CLEANUP_FREE char *net
          = network && is (c, "source") ? attr (c, "network") : NULL;
      char what[200];
      int e;

      if (is (c, "script") || is (c, "downscript"))
        return refuse (p, c, "(a host command)");
      if (c->type == XML_ELEMENT_NODE && c->ns == NULL
          && in_list ((const char *)c->name, host_side))
        return refuse (p, c, "(the host's switch ports or ports)");
      if (dev && strncmp (dev, "vnet", 4) != 0)
        return refuse (p, c, "naming a host network device");
      if (net == NULL)
        continue;
      named = true;
      e = p->network ? p->network (net, p->network_arg) : -ENOENT;
      snprintf (what, sizeof what, "naming network '%.100s', %s", net,
                e == -ENOENT ? "which does not exist here"
                             : "whose forward mode reaches host devices");
      if (e < 0)
        return refuse (p, c, what);
    }
  if (network && !named)
    return refuse (p, n, "naming no network");
  return 0;
}

int
import_network_xml_ok (const char *xml)
{
  static const char *const modes[] = { "nat", "route", "open", "none", NULL };
  CLEANUP_FREE char *mode = NULL;
  struct doc d;
  int r = -EPERM;

  if (xd_open (xml, &d) == 0 && xd_root_is (&d, "network"))
    {
      mode = xd_string (&d, NULL, "string(/network/forward/@mode)");
      /* No <forward>: isolated; a <forward> without a mode: NAT. */
      r = mode == NULL || in_list (mode, modes) ? 0 : -EPERM;
    }
  xd_close (&d);
  return r;
}

int
import_network_ok (const char *name, void *arg)
{
  virConnectPtr conn = arg;
  virNetworkPtr net = conn ? virNetworkLookupByName (conn, name) : NULL;
  CLEANUP_FREE char *xml = NULL;

  if (net == NULL)
    {
      virResetLastError ();
      return -ENOENT;
    }
  xml = virNetworkGetXMLDesc (net, 0);
  virNetworkFree (net);
  if (xml == NULL)
    {
      log_warning ("Import: the XML of network '%s' cannot be read: %s",
                   name, virt_error ());
      virResetLastError ();
      return -EPERM;
    }
  return import_network_xml_ok (xml);
}

/* Whether N, the child of element PARENT named NAME, carries ATTR in
 * LIST; absent counts as FALLBACK. */
static bool
child_attr_in (const xmlNode *parent, const char *name, const char *a,
               const char *const *list, bool fallback)
{
  for (const xmlNode *c = parent->children; c; c = c->next)
    if (is (c, name))
      {
        CLEANUP_FREE char *v = attr (c, a);

        return v ? in_list (v, list) : fallback;
      }
  return fallback;
}

/* Whether device N may stand: 0 or -EPERM. */
static int
check_device (struct pol *p, const xmlNode *n)
{
  static const char *const plain[]
      = { "emulator", "controller",  "video", "watchdog", "memballoon",
          "panic",    "hub",         "iommu", "vsock",    "crypto",
          "sound",    "redirfilter", NULL };
  static const char *const char_types[]
      = { "pty",          "null", "vc",   "spicevmc", "spiceport",
          "qemu-vdagent", "dbus", "file", "unix",     NULL };
  const char *name = (const char *)n->name;
  const xmlNode *gpu;

  if (n->ns)
    return refuse (p, n, NULL);
  if ((gpu = find_attr (n, "gl", "enable", "yes"))
      || (gpu = find_attr (n, "acceleration", "accel3d", "yes"))
      || (gpu = find_attr (n, "driver", "name", "vhostuser")))
    return refuse (p, gpu, "(the host's GPU)");
  if (in_list (name, plain))
    return 0;
  if (strcmp (name, "disk") == 0)
    {
      CLEANUP_FREE char *type = attr (n, "type"), *device = attr (n, "device");
      bool source = false;

      for (const xmlNode *c = n->children; c; c = c->next)
        source |= is (c, "source");
      /* Both given: the import makes every disk of type='file' and
       * device='disk', and no other. */
      if (type == NULL || strcmp (type, "file") != 0 || device == NULL)
        return refuse (p, n, "(only file disks the import makes)");
      if (strcmp (device, "disk") != 0
          && (strcmp (device, "lun") == 0 || source))
        return refuse (p, n, "with a host file (only empty drives)");
      return 0;
    }
  if (strcmp (name, "interface") == 0)
    return check_interface (p, n);
  if (in_list (name, chardevs))
    {
      if (!attr_in (n, "type", char_types))
        return refuse (p, n, NULL);
      if (attr_in (n, "type", (const char *const[]){ "unix", NULL })
          && !child_attr_in (n, "source", "mode",
                             (const char *const[]){ "bind", NULL }, true))
        return refuse (p, n, "connecting to a host socket");
      return 0;
    }
  if (strcmp (name, "input") == 0)
    return attr_in (
               n, "type",
               (const char *const[]){ "mouse", "tablet", "keyboard", NULL })
               ? 0
               : refuse (p, n, NULL);
  if (strcmp (name, "graphics") == 0)
    return attr_in (n, "type", (const char *const[]){ "vnc", "spice", NULL })
               ? 0
               : refuse (p, n, NULL);
  if (strcmp (name, "audio") == 0)
    return attr_in (n, "type", (const char *const[]){ "none", "spice", NULL })
               ? 0
               : refuse (p, n, NULL);
  if (strcmp (name, "redirdev") == 0)
    return attr_in (n, "type", (const char *const[]){ "spicevmc", NULL })
               ? 0
               : refuse (p, n, NULL);
  if (strcmp (name, "rng") == 0)
    return child_attr_in (n, "backend", "model",
                          (const char *const[]){ "random", "builtin", NULL },
                          false)
               ? 0
               : refuse (p, n, "but from /dev/urandom or /dev/random");
  if (strcmp (name, "tpm") == 0)
    return child_attr_in (n, "backend", "type",
                          (const char *const[]){ "emulator", NULL }, false)
               ? 0
               : refuse (p, n, "but an emulated one");
  if (strcmp (name, "memory") == 0)
    return attr_in (n, "model",
                    (const char *const[]){ "dimm", "virtio-mem", NULL })
               ? 0
               : refuse (p, n, NULL);
  return refuse (p, n, NULL);
}

int
import_policy (const char *xml, const struct import_rules *rules, char *why,
               size_t why_len)
{
  static const char *const top[]
      = { "name",          "uuid",           "genid",       "title",
          "description",   "metadata",       "maxMemory",   "memory",
          "currentMemory", "memoryBacking",  "memtune",     "vcpu",
          "vcpus",         "iothreads",      "iothreadids", "defaultiothread",
          "cputune",       "numatune",       "os",          "features",
          "cpu",           "clock",          "on_poweroff", "on_reboot",
          "on_crash",      "on_lockfailure", "pm",          "perf",
          "devices",       "seclabel",       "keywrap",     "launchSecurity",
          "sysinfo",       "resource",       NULL };
  struct pol p = { rules->own_dir,  rules->may_read,    rules->arg,
                   rules->emulators, rules->network,     rules->network_arg,
                   why,              why_len };
  xmlNodePtr root;
  struct doc d;
  int r = 0;

  why[0] = '\0';
  if (xd_open (xml, &d) < 0 || !xd_root_is (&d, "domain")
      || (root = xmlDocGetRootElement (d.doc))->ns)
    {
      xd_close (&d);
      return -EINVAL;
    }
  for (const xmlNode *c = root->children; c && r == 0; c = c->next)
    {
      if (c->type == XML_ENTITY_REF_NODE)
        r = refuse (&p, root, "with an entity reference");
      if (c->type != XML_ELEMENT_NODE || r < 0)
        continue;
      if (c->ns || !in_list ((const char *)c->name, top))
        r = refuse (&p, c, NULL);
      else if (is (c, "metadata") || is (c, "description") || is (c, "title"))
        continue; /* applications' data: libvirt does not act on it */
      else if (is (c, "seclabel")
               && (!attr_in (c, "type",
                             (const char *const[]){ "dynamic", NULL })
                   || attr_in (c, "relabel", (const char *const[]){ "no", NULL })))
        r = refuse (&p, c, "(only libvirt's own labels)");
      else
        r = check_share (&p, c);
      for (const xmlNode *k = c->children; k && r == 0; k = k->next)
        if (k->type == XML_ELEMENT_NODE)
          r = is (c, "os")        ? check_os (&p, k)
              : is (c, "devices") ? check_device (&p, k)
                                  : 0;
      if (r == 0)
        r = check_paths (&p, c);
    }
  xd_close (&d);
  return r;
}

int
import_domain_ok (const struct import *im, const struct isnap *s,
                  const char *xml)
{
  struct import_rules rules
      = { im->dir,       import_host_file_ok, (void *)im->x.who,
          im->emulators, import_network_ok,   im->conn };
  char why[256];
  int r;

  if (im->x.who->uid == 0)
    return 0;
  r = import_policy (xml, &rules, why, sizeof why);
  if (r == -EPERM)
    log_error ("Import: uid %u may not import a domain with %s (snapshot "
               "'%s'): only root may.",
               (unsigned)im->x.who->uid, why, s->name);
  else if (r < 0)
    log_error ("Import: the domain of snapshot '%s' cannot be read.", s->name);
  return r;
}

char **
import_emulators (virConnectPtr conn)
{
  CLEANUP_FREE char *caps = virConnectGetCapabilities (conn);
  char **list = xcalloc (1, sizeof *list);
  size_t k = 0;
  struct doc d;
  int n;

  if (caps == NULL)
    {
      log_warning ("Import: libvirt's capabilities cannot be read: %s",
                   virt_error ());
      virResetLastError ();
      return list;
    }
  if (xd_open (caps, &d) == 0)
    {
      xmlXPathObjectPtr obj = xd_nodes (
          &d, "//guest/arch/emulator | //guest/arch/domain/emulator", &n);

      list = xrealloc (list, ((size_t)n + 1) * sizeof *list);
      for (int i = 0; i < n; i++)
        {
          char *t = (char *)xmlNodeGetContent (obj->nodesetval->nodeTab[i]);

          if (t && t[0] == '/')
            list[k++] = xstrdup (t);
          xmlFree (t);
        }
      list[k] = NULL;
      xmlXPathFreeObject (obj);
    }
  xd_close (&d);
  return list;
}

/* vmsnapfs: command line, start-up and shut-down. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "access.h"
#include "export.h"
#include "guestfiles.h"
#include "fs.h"
#include "host.h"
#include "log.h"

#include "node-types.h"
#include "remote.h"

#ifndef VMSNAPFS_VERSION
#define VMSNAPFS_VERSION "0.1.0"
#endif

#define DEFAULT_URI "qemu:///system"

/* FUSE worker threads, unless -o max_threads says otherwise.  An rmdir
 * holds its worker for the whole merge, and merges of different VMs run
 * at once: libfuse's default of 10 would leave none for anything else
 * (the releases that an rmdir waits for among them) with 10 merges. */
#define DEFAULT_MAX_THREADS 64

/* Most hosts one mount shows. */
#define MAX_HOSTS 64

struct options
{
  size_t nhosts;          /* -o uri=URI (repeated), -o hosts=FILE */
  char *names[MAX_HOSTS]; /* NULL: libvirt's host name */
  char *uris[MAX_HOSTS];
  char *readers;   /* the group that may read disks and memory */
  char *operators; /* the group that may use the verbs */
  unsigned long merge_bandwidth;
  unsigned job_tries;  /* a clone's job's failures before hourly tries */
  unsigned files_idle; /* seconds a snapshot's files/ lives unused */
  char *files;         /* "visible": list files/ (else opened by name) */
  char *passthrough;   /* "off": the daemon reads frozen files itself */
  char *nbd_tls;       /* remote deltas over NBD with TLS, certificates */
  int help;
  int version;
  char *words[2]; /* the arguments that are no options: [SOURCE] MOUNTPOINT */
};

#define OPT(t, p)                                                             \
  {                                                                           \
    t, offsetof (struct options, p), 1                                        \
  }
enum
{
  KEY_URI,
  KEY_HOSTS,
};

static const struct fuse_opt option_spec[] = {
  FUSE_OPT_KEY ("uri=", KEY_URI),
  FUSE_OPT_KEY ("hosts=", KEY_HOSTS),
  OPT ("readers=%s", readers),
  OPT ("operators=%s", operators),
  OPT ("merge_bandwidth=%lu", merge_bandwidth),
  OPT ("job_tries=%u", job_tries),
  OPT ("files_idle=%u", files_idle),
  OPT ("files=%s", files),
  OPT ("passthrough=%s", passthrough),
  OPT ("nbd_tls=%s", nbd_tls),
  OPT ("-h", help),
  OPT ("--help", help),
  OPT ("-V", version),
  OPT ("--version", version),
  FUSE_OPT_END,
};

/* Add host NAME (NULL: libvirt's name) at URI: 0, or -1 after saying
 * why. */
static int
add_host (struct options *opts, const char *name, const char *uri)
{
  if (opts->nhosts == MAX_HOSTS)
    {
      fprintf (stderr, "vmsnapfs: more than %d hosts\n", MAX_HOSTS);
      return -1;
    }
  for (size_t i = 0; name && i < opts->nhosts; i++)
    if (opts->names[i] && strcmp (opts->names[i], name) == 0)
      {
        fprintf (stderr, "vmsnapfs: two hosts named '%s'\n", name);
        return -1;
      }
  opts->names[opts->nhosts] = name ? strdup (name) : NULL;
  opts->uris[opts->nhosts++] = strdup (uri);
  return 0;
}

/* Read the hosts of FILE: one "NAME URI" a line; blank lines and lines
 * starting with '#' are skipped.  Returns 0, or -1 after saying why. */
static int
read_hosts (struct options *opts, const char *file)
{
  FILE *f = fopen (file, "re");
  char line[4096];
  int lineno = 0, r = 0;

  if (f == NULL)
    {
      fprintf (stderr, "vmsnapfs: cannot read hosts file '%s': %s\n", file,
               strerror (errno));
      return -1;
    }
  while (r == 0 && fgets (line, sizeof line, f))
    {
      char name[256], uri[2048], extra[2];
      int n = sscanf (line, " %255s %2047s %1s", name, uri, extra);

      lineno++;
      if (n <= 0 || name[0] == '#')
        continue;
      if (n != 2 || strchr (name, '/') || name[0] == '.')
        {
          fprintf (stderr,
                   "vmsnapfs: %s:%d: expected 'NAME URI' (a NAME with no "
                   "'/', not starting with '.')\n",
                   file, lineno);
          r = -1;
        }
      else
        r = add_host (opts, name, uri);
    }
  fclose (f);
  if (r == 0 && opts->nhosts == 0)
    {
      fprintf (stderr, "vmsnapfs: no host in '%s'\n", file);
      r = -1;
    }
  return r;
}

/* Take the hosts (-o uri=, -o hosts=) and keep the arguments that are no
 * options: mount(8), through mount.fuse3, runs "vmsnapfs SOURCE MOUNTPOINT
 * -o OPTIONS", SOURCE being an fstab line's first field: the URI. */
static int
keep_words (void *data, const char *arg, int key, struct fuse_args *outargs)
{
  struct options *opts = data;

  (void)outargs;
  if (key == KEY_URI)
    return add_host (opts, NULL, arg + strlen ("uri="));
  if (key == KEY_HOSTS)
    return read_hosts (opts, arg + strlen ("hosts="));
  if (key != FUSE_OPT_KEY_NONOPT)
    return 1;
  for (size_t i = 0; i < 2; i++)
    if (opts->words[i] == NULL)
      {
        opts->words[i] = strdup (arg);
        return 0;
      }
  fprintf (stderr, "vmsnapfs: too many arguments: '%s'\n", arg);
  return -1;
}

static void
usage (const char *prog)
{
  printf ("usage: %s [-o OPTION[,OPTION...]] [-f] [-d] [-s] [URI] "
          "MOUNTPOINT\n"
          "\n"
          "Mount the VMs of a libvirt host as directories, and their\n"
          "snapshots as directories of frozen disks.\n"
          "\n"
          "options:\n"
          "    -o uri=URI          libvirt connection (default: %s); given\n"
          "                        more than once, one directory per host\n"
          "    -o hosts=FILE       the hosts: one 'NAME URI' a line\n"
          "    -o merge_bandwidth=N  merge snapshots (and copy clones) at N "
          "MiB/s at most\n"
          "    -o job_tries=N      try a clone's failed job N times (default\n"
          "                        8), then every hour\n"
          "    -o files=visible    list each snapshot's files/ (the guest's\n"
          "                        files); hidden, but there, by default\n"
          "    -o files_idle=S     stop a snapshot's files/ reader (a\n"
          "                        libguestfs appliance) unused for S s\n"
          "                        (default 60)\n"
          "    -o passthrough=off  the daemon reads frozen files, not the\n"
          "                        kernel from the host's (FUSE passthrough)\n"
          "    -o nbd_tls=DIR      read a remote host's delta files over NBD\n"
          "                        with TLS, this machine's certificates in\n"
          "                        DIR (ca-cert.pem, client-cert.pem,\n"
          "                        client-key.pem; the host's qemu.conf has\n"
          "                        its own); without, only a host whose URI\n"
          "                        names a loopback address (localhost,\n"
          "                        127.0.0.1, ::1) shows delta files\n"
          "    -f                  stay in the foreground, log to stderr\n"
          "    -d                  debug: foreground, with debug messages\n"
          "    -s                  single-threaded\n"
          "    -o allow_other      let other users in (permissions apply)\n"
          "    -o readers=GROUP    GROUP may read disks and memory files\n"
          "    -o operators=GROUP  GROUP may take, delete and rename\n"
          "                        snapshots, move links, drive the VM\n"
          "    -o auto_unmount     unmount when the daemon dies\n"
          "    -h, --help          print this help and exit\n"
          "    -V, --version       print the version and exit\n"
          "\n"
          "Who may do what: without allow_other, only root sees the mount.\n"
          "With it, everyone may list the tree and read info, domain.xml,\n"
          "state and jobs (no secrets in them); frozen volumes show their\n"
          "host file's owner and mode less write bits, whole disks and\n"
          "memory are root's; only root uses the verbs.  readers and\n"
          "operators widen that to a group each.\n"
          "\n"
          "URI, before the mount point, is the libvirt connection, as\n"
          "mount(8) passes an fstab line's source: 'mount -t fuse.vmsnapfs\n"
          "qemu:///system /mnt/vms'.\n"
          "\n"
          "Unmount with 'fusermount3 -u MOUNTPOINT'.  See vmsnapfs(1) and\n"
          "vmsnapfs(5).\n",
          prog, DEFAULT_URI);
}

/* The mount point must be an empty directory: returns 0, or -1 after
 * saying why. */
static int
check_mountpoint (const char *path)
{
  DIR *d = opendir (path);
  struct dirent *e;
  int entries = 0;

  if (d == NULL)
    {
      fprintf (stderr, "vmsnapfs: cannot use mount point '%s': %s\n", path,
               strerror (errno));
      return -1;
    }
  while ((e = readdir (d)) != NULL)
    if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0)
      entries++;
  closedir (d);
  if (entries > 0)
    {
      fprintf (stderr, "vmsnapfs: mount point '%s' is not empty\n", path);
      return -1;
    }
  return 0;
}

/* Let the kernel read ahead READAHEAD_KB on the mount, as it does on a
 * local disk: a FUSE mount starts at 128 KiB whatever the daemon asks, and
 * backup tools read frozen volumes front to back.  The mount's device
 * number comes from mountinfo, so the mount itself is not touched before
 * the loop serves it.  Needs root; without it the default stays. */
#define READAHEAD_KB 1024

static void
tune_readahead (const char *mountpoint)
{
  char line[4096], dev[32] = "", path[PATH_MAX], bdi[96];
  FILE *f = fopen ("/proc/self/mountinfo", "re"), *ra = NULL;

  if (f == NULL || realpath (mountpoint, path) == NULL)
    goto out;
  /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...": the last match is ours. */
  while (fgets (line, sizeof line, f))
    {
      char d[32], mp[PATH_MAX];
      if (sscanf (line, "%*s %*s %31s %*s %4095s", d, mp) == 2
          && strcmp (mp, path) == 0)
        strcpy (dev, d);
    }
  if (dev[0] == '\0')
    goto out;
  snprintf (bdi, sizeof bdi, "/sys/class/bdi/%s/read_ahead_kb", dev);
  ra = fopen (bdi, "we");
  if (ra == NULL || fprintf (ra, "%d\n", READAHEAD_KB) < 0)
    log_debug ("Cannot set the read-ahead of the mount in '%s'.", bdi);
out:
  if (ra)
    fclose (ra);
  if (f)
    fclose (f);
}

/* SIGPIPE: a write to a socket or pipe whose reader went (libvirt's
 * connection, an NBD export, a helper) fails with EPIPE and is handled
 * there.  libfuse catches the signal only while the loop runs, and its
 * fuse_remove_signal_handlers puts back the default, which kills: the
 * start and the stop (recovery, the merges' workers, libvirt's connections
 * closed, libguestfs's directory removed) write to sockets too.  So the
 * daemon catches it for its whole life, with a handler of its own, which
 * libfuse leaves in place (it sets and removes only its own) and which,
 * unlike SIG_IGN, no program it starts inherits. */
static void
on_sigpipe (int sig)
{
  (void)sig;
}

static void
catch_sigpipe (void)
{
  struct sigaction sa = { .sa_handler = on_sigpipe, .sa_flags = SA_RESTART };

  sigemptyset (&sa.sa_mask);
  sigaction (SIGPIPE, &sa, NULL);
}

int
main (int argc, char *argv[])
{
  struct fuse_args args = FUSE_ARGS_INIT (argc, argv);
  struct fuse_cmdline_opts cmd = { 0 };
  struct options opts = { 0 };
  struct fuse_session *se = NULL;
  int status = 1, r;
  bool max_threads_given = false;

  /* Every file made for a VM (volumes, memory images, copies, their
   * ".part"), by the daemon or by the qemu-img and cp it runs, is its
   * owner's alone: a guest's disk is not for other users of the host to
   * read.  Directories made for a VM's files are given their mode
   * (make_vm_dir). */
  umask (077);
  catch_sigpipe ();
  for (int i = 1; i < argc; i++)
    if (strstr (argv[i], "max_threads="))
      max_threads_given = true;
  if (fuse_opt_parse (&args, &opts, option_spec, keep_words) < 0)
    goto out;
  /* With two, the first is the source: the URI, unless -o uri says it. */
  if (opts.words[1])
    {
      if (opts.nhosts == 0 && add_host (&opts, NULL, opts.words[0]) < 0)
        goto out;
      fuse_opt_add_arg (&args, opts.words[1]);
    }
  else if (opts.words[0])
    fuse_opt_add_arg (&args, opts.words[0]);
  if (opts.help)
    {
      usage (argv[0]);
      status = 0;
      goto out;
    }
  if (opts.version)
    {
      printf ("vmsnapfs %s (libfuse %s)\n", VMSNAPFS_VERSION,
              fuse_pkgversion ());
      status = 0;
      goto out;
    }
  if (fuse_parse_cmdline (&args, &cmd) < 0)
    goto out;
  if (cmd.mountpoint == NULL)
    {
      fprintf (stderr, "vmsnapfs: no mount point given; see '%s --help'\n",
               argv[0]);
      goto out;
    }
  if (check_mountpoint (cmd.mountpoint) < 0)
    goto out;
  if (access_configure (opts.readers, opts.operators) < 0)
    goto out;
  if (opts.nhosts == 0 && add_host (&opts, NULL, DEFAULT_URI) < 0)
    goto out;
  merge_set_bandwidth (opts.merge_bandwidth);
  clone_set_tries (opts.job_tries);
  guestfiles_configure (opts.files_idle);
  if (opts.files && strcmp (opts.files, "visible") == 0)
    files_listed = true;
  else if (opts.files && strcmp (opts.files, "hidden") != 0)
    {
      fprintf (stderr, "vmsnapfs: files=%s: 'visible' or 'hidden'\n",
               opts.files);
      goto out;
    }
  if (opts.passthrough && strcmp (opts.passthrough, "off") == 0)
    passthrough_refuse ();
  else if (opts.passthrough && strcmp (opts.passthrough, "on") != 0)
    {
      fprintf (stderr, "vmsnapfs: passthrough=%s: 'on' or 'off'\n",
               opts.passthrough);
      goto out;
    }
  if (opts.nbd_tls && remote_delta_tls (opts.nbd_tls) < 0)
    goto out;

  /* Permissions are checked by the kernel from the modes the tree shows. */
  fuse_opt_add_arg (&args, "-odefault_permissions");
  /* A guest's device nodes are shown (files/), never opened as the
   * host's devices. */
  fuse_opt_add_arg (&args, "-onodev");
  fuse_opt_add_arg (&args, "-onosuid");
  fuse_opt_add_arg (&args, "-ofsname=vmsnapfs");
  fuse_opt_add_arg (&args, "-osubtype=vmsnapfs");

  /* Check everything that can fail before mounting. */
  se = fs_session_new (&args);
  if (se == NULL)
    goto out; /* libfuse said which option it did not know */
  /* One host must answer; of several, those that do not are shown so. */
  if (opts.nhosts == 1 && host_check_uri (opts.uris[0]) < 0)
    goto out;
  if (fuse_session_mount (se, cmd.mountpoint) < 0)
    goto out;
  tune_readahead (cmd.mountpoint);
  {
    char real[PATH_MAX];

    node_set_mountpoint (realpath (cmd.mountpoint, real) ? real
                                                         : cmd.mountpoint);
  }
  if (fuse_daemonize (cmd.foreground) < 0)
    goto unmount;

  /* Threads and the libvirt connection start after the fork.  Requests to
   * the mount wait in the kernel until the loop runs, so nobody sees the
   * tree before its first view is built. */
  log_init (cmd.foreground, cmd.debug);
  verbs_init ();
  remote_delta_note ((const char *const *)opts.uris, opts.nhosts);
  if (export_init () < 0
      || host_start ((const char *const *)opts.names,
                     (const char *const *)opts.uris, opts.nhosts)
             < 0)
    goto stop;
  if (fuse_set_signal_handlers (se) < 0)
    goto stop;
  if (passthrough_setup (se) < 0)
    goto stop;
  log_info ("Mounted '%s'%s on '%s'.", opts.uris[0],
            opts.nhosts > 1 ? " and other hosts" : "", cmd.mountpoint);

  if (cmd.singlethread)
    r = fuse_session_loop (se);
  else
    {
      struct fuse_loop_config *cfg = fuse_loop_cfg_create ();

      if (cfg == NULL)
        goto stop;
      fuse_loop_cfg_set_clone_fd (cfg, cmd.clone_fd);
      fuse_loop_cfg_set_max_threads (
          cfg, max_threads_given ? cmd.max_threads : DEFAULT_MAX_THREADS);
      /* UINT_MAX is "not given"; libfuse 3.14 would log it as invalid. */
      if (cmd.max_idle_threads != UINT_MAX)
        fuse_loop_cfg_set_idle_threads (cfg, cmd.max_idle_threads);
      r = fuse_session_loop_mt (se, cfg);
      fuse_loop_cfg_destroy (cfg);
    }
  status = r < 0 ? 1 : 0;
  fuse_remove_signal_handlers (se);
  log_info ("Unmounted '%s'.", cmd.mountpoint);

stop:
  host_stop ();
  export_shutdown ();
  guestfiles_shutdown ();
unmount:
  fuse_session_unmount (se);
out:
  if (se)
    fuse_session_destroy (se);
  free (cmd.mountpoint);
  for (size_t i = 0; i < opts.nhosts; i++)
    {
      free (opts.names[i]);
      free (opts.uris[i]);
    }
  free (opts.readers);
  free (opts.operators);
  free (opts.files);
  free (opts.passthrough);
  free (opts.nbd_tls);
  free (opts.words[0]);
  free (opts.words[1]);
  fuse_opt_free_args (&args);
  return status;
}

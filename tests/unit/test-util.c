/* Unit tests of common/util.c: host file names made from names people and
 * guests choose; sizes and durations for people.  And of common/statcache.c:
 * the stat of host files, kept a moment. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "guestfiles.h"
#include "statcache.h"
#include "util.h"

struct name_case
{
  const char *name;
  const char *expect; /* the whole result, or the part before the hash */
  bool hashed;
};

static const struct name_case names[] = {
  { "web", "web", false },
  { "web-01.prod_2", "web-01.prod_2", false },
  { "a b", "a_b", true },
  { "../../etc/passwd", "_._.._etc_passwd", true },
  { ".hidden", "_hidden", true },
  { "-rf", "_rf", true },
  { "$(reboot)", "__reboot_", true },
  { "caf\xc3\xa9", "caf__", true },
  { "new\nline", "new_line", true },
  { "", "_", true },
};

static void
test_safe_file_name (void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    {
      char *s = safe_file_name (names[i].name);
      size_t len = strlen (names[i].expect);

      if (!names[i].hashed)
        assert_string_equal (s, names[i].expect);
      else
        {
          /* NAME's safe form, '-', 8 hex digits. */
          if (strncmp (s, names[i].expect, len) != 0 || s[len] != '-'
              || strlen (s + len + 1) != 8
              || strspn (s + len + 1, "0123456789abcdef") != 8)
            fail_msg ("'%s' became '%s'", names[i].name, s);
        }
      assert_null (strpbrk (s, "/ \n$();&|'\"\\"));
      assert_true (s[0] != '.' && s[0] != '-');
      free (s);
    }
}

/* Two names that differ only where they are not safe stay apart. */
static void
test_safe_file_name_distinct (void **state)
{
  char *a = safe_file_name ("a b"), *b = safe_file_name ("a/b");

  (void)state;
  assert_string_not_equal (a, b);
  free (a);
  free (b);
}

/* The first part of a file name, a VM's: as is where safe, else %XX; no
 * dot, and two names never give one part. */
static void
test_file_name_part (void **state)
{
  static const char *const cases[][2] = {
    { "web", "web" },
    { "web-01_prod", "web-01_prod" },
    { "x.vda", "x%2Evda" },
    { "x_vda", "x_vda" },
    { "x%2Evda", "x%252Evda" },
    { "-rf", "%2Drf" },
    { ".hidden", "%2Ehidden" },
    { "../etc", "%2E%2E%2Fetc" },
    { "a b", "a%20b" },
    { "caf\xc3\xa9", "caf%C3%A9" },
    { "$(reboot)", "%24%28reboot%29" },
  };
  /* Names whose files met before: VM.TARGET.NAME made one of these. */
  static const char *const apart[] = { "x", "x.vda", "x.vda.vdb", "x_vda",
                                       "x-vda", "x%2Evda", "x vda", "-x" };

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char *s = file_name_part (cases[i][0]);

      assert_string_equal (s, cases[i][1]);
      assert_null (strchr (s, '.'));
      assert_null (strchr (s, '/'));
      free (s);
    }
  for (size_t i = 0; i < sizeof apart / sizeof apart[0]; i++)
    for (size_t j = i + 1; j < sizeof apart / sizeof apart[0]; j++)
      {
        char *a = file_name_part (apart[i]), *b = file_name_part (apart[j]);

        assert_string_not_equal (a, b);
        free (a);
        free (b);
      }
}

struct text_case
{
  const char *s;
  bool ok;
};

/* Snapshot names as people and file managers type them, and bytes that
 * are no text. */
static void
test_utf8_text_ok (void **state)
{
  static const struct text_case cases[] = {
    { "New Folder", true },
    { "Untitled Folder 2", true },
    { "caf\xc3\xa9", true },              /* é */
    { "\xe5\xbf\xab\xe7\x85\xa7", true }, /* 快照 */
    { "\xf0\x9f\x93\xb8 photo", true },   /* U+1F4F8 */
    { "star* quote' semi;colon back\\slash", true },
    { "", true },
    { "tab\tx", false },
    { "new\nline", false },
    { "del\x7f", false },
    { "c1\xc2\x85", false }, /* U+0085, a C1 control */
    { "bad\xff\xfe", false },
    { "cut\xc3", false },
    { "cut\xe5\xbf", false },
    { "overlong\xc0\xaf", false }, /* '/' in two bytes */
    { "overlong\xe0\x80\xaf", false },
    { "surrogate\xed\xa0\x80", false }, /* U+D800 */
    { "past\xf4\x90\x80\x80", false },  /* U+110000 */
    { "lone\x80", false },
  };

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    if (utf8_text_ok (cases[i].s) != cases[i].ok)
      fail_msg ("utf8_text_ok(\"%s\") is not %d", cases[i].s, cases[i].ok);
}

static void
test_printable (void **state)
{
  char *a = printable ("caf\xc3\xa9 ok"), *b = printable ("new\nline\xff\\");

  (void)state;
  assert_string_equal (a, "caf\xc3\xa9 ok");
  assert_string_equal (b, "new\\x0aline\\xff\\x5c");
  free (a);
  free (b);
}

struct human_case
{
  uint64_t n;
  const char *expect;
};

static void
test_format_size (void **state)
{
  static const struct human_case cases[] = {
    { 0, "0B" },
    { 1023, "1023B" },
    { 1024, "1.0KiB" },
    { 1536, "1.5KiB" },
    { 512ULL << 20, "512.0MiB" },
    { (1ULL << 30) - 1, "1.0GiB" }, /* not "1024.0MiB" */
    { 1ULL << 30, "1.0GiB" },
    { 89128960, "85.0MiB" },
    { 5ULL << 50, "5.0PiB" },
    { UINT64_MAX, "16384.0PiB" },
  };
  char buf[16];

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      format_size (cases[i].n, buf);
      assert_string_equal (buf, cases[i].expect);
    }
}

static void
test_format_duration (void **state)
{
  static const struct human_case cases[] = {
    { 0, "0s" },        { 6, "6s" },         { 59, "59s" },
    { 60, "1m00s" },    { 125, "2m05s" },    { 3599, "59m59s" },
    { 3600, "1h00m" },  { 3720, "1h02m" },   { 86399, "23h59m" },
    { 86400, "1d00h" }, { 273600, "3d04h" },
  };
  char buf[16];

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      format_duration (cases[i].n, buf);
      assert_string_equal (buf, cases[i].expect);
    }
}

/* The cache answers as stat does, for files and for names that are not
 * there, and never gives one path's answer for another's, however many
 * paths share its slots. */
static void
test_stat_cached (void **state)
{
  char dir[] = "/tmp/vmsnapfs-statcache.XXXXXX";
  char *file, *missing;
  struct stat want, got;

  (void)state;
  assert_non_null (mkdtemp (dir));
  file = xasprintf ("%s/f", dir);
  fclose (fopen (file, "w"));
  assert_int_equal (chmod (file, 0640), 0);
  assert_int_equal (stat (file, &want), 0);

  for (int i = 0; i < 20000; i++)
    {
      missing = xasprintf ("%s/missing-%d", dir, i);
      assert_int_equal (stat_cached (missing, &got), -ENOENT);
      free (missing);
      assert_int_equal (stat_cached (file, &got), 0);
      assert_int_equal (got.st_ino, want.st_ino);
      assert_int_equal (got.st_mode, want.st_mode);
    }

  /* A change shows once the answer kept is forgotten. */
  assert_int_equal (chmod (file, 0600), 0);
  stat_cache_clear ();
  assert_int_equal (stat_cached (file, &got), 0);
  assert_int_equal (got.st_mode & 07777, 0600);

  unlink (file);
  stat_cache_clear ();
  assert_int_equal (stat_cached (file, &got), -ENOENT);
  rmdir (dir);
  free (file);
}

/* A guest's link is read inside the guest's tree: absolute targets and
 * ".." past the root are made relative to the link's directory. */
static void
test_confine_link (void **state)
{
  static const struct
  {
    const char *link, *target, *expect;
  } cases[] = {
    { "/dir/sub/pw", "/etc/passwd", "../../etc/passwd" },
    { "/pw", "/etc/passwd", "etc/passwd" },
    { "/a/l", "b", "b" },                    /* inside: as it is */
    { "/a/l", "../x/./y", "../x/./y" },      /* inside: as it is */
    { "/a/l", "../../../../etc", "../etc" }, /* ".." stops at the root */
    { "/a/b/l", "/", "../.." },
    { "/l", "/", "." },
  };

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      char *got = guestfiles_confine_link (cases[i].link, cases[i].target);
      assert_string_equal (got, cases[i].expect);
      free (got);
    }
}

static void
make_dir (const char *base, const char *name, const char *file)
{
  char *dir = xasprintf ("%s/%s", base, name);
  assert_int_equal (mkdir (dir, 0700), 0);
  if (file)
    {
      char *f = xasprintf ("%s/%s", dir, file);
      int fd = open (f, O_CREAT | O_WRONLY, 0600);
      assert_true (fd >= 0);
      close (fd);
      free (f);
    }
  free (dir);
}

static bool
exists_in (const char *base, const char *name)
{
  char *p = xasprintf ("%s/%s", base, name);
  struct stat st;
  bool r = lstat (p, &st) == 0;

  free (p);
  return r;
}

static int
rm_entry (const char *p, const struct stat *st, int type, struct FTW *f)
{
  (void)st;
  (void)f;
  return type == FTW_DP ? rmdir (p) : unlink (p);
}

/* libguestfs's temporary directories: those whose daemon died go, those of
 * a running one (its lock held) stay, and so does anything else. */
static void
test_guest_tmpdir (void **state)
{
  char base[] = "/tmp/vmsnapfs-unit.XXXXXX";
  char *p;
  const char *ours;
  int held;

  (void)state;
  assert_non_null (mkdtemp (base));
  make_dir (base, "vmsnapfs-guestfs.dead", "lock");
  make_dir (base, "vmsnapfs-guestfs.dead/libguestfsAbc", "overlay1");
  make_dir (base, "vmsnapfs-guestfs.live", "lock");
  make_dir (base, "vmsnapfs-guestfs.making", NULL);
  make_dir (base, "other", "lock");
  p = xasprintf ("%s/other", base);
  char *link = xasprintf ("%s/vmsnapfs-guestfs.link", base);
  assert_int_equal (symlink (p, link), 0);
  free (p);
  free (link);
  p = xasprintf ("%s/vmsnapfs-guestfs.live/lock", base);
  held = open (p, O_RDONLY);
  free (p);
  assert_true (held >= 0);
  assert_int_equal (flock (held, LOCK_EX), 0);

  guest_tmpdir_sweep (base);
  assert_false (exists_in (base, "vmsnapfs-guestfs.dead"));
  assert_true (exists_in (base, "vmsnapfs-guestfs.live/lock"));
  assert_true (exists_in (base, "vmsnapfs-guestfs.making"));
  assert_true (exists_in (base, "other/lock"));
  assert_true (exists_in (base, "vmsnapfs-guestfs.link"));

  /* This daemon's own: made under $TMPDIR, locked, kept by a sweep, gone
   * at the end. */
  setenv ("TMPDIR", base, 1);
  ours = guest_tmpdir ();
  assert_non_null (ours);
  assert_memory_equal (ours, base, strlen (base));
  p = xasprintf ("%s/lock", ours);
  assert_int_equal (access (p, F_OK), 0);
  guest_tmpdir_sweep (base);
  assert_int_equal (access (p, F_OK), 0);
  guest_tmpdir_remove ();
  assert_int_equal (access (p, F_OK), -1);
  free (p);
  unsetenv ("TMPDIR");

  close (held);
  assert_int_equal (nftw (base, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* A process is found by what its command line names, however long: a
 * restore's server of many disks names its socket after 8 KiB of them. */
static void
test_pid_runs_long (void **state)
{
  char *filler = malloc (20000);
  pid_t pid;
  int status;

  (void)state;
  memset (filler, 'x', 19999);
  filler[19999] = '\0';
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      execlp ("sh", "sh", "-c", "sleep 30; :", filler, "the-marker-arg",
              (char *)NULL);
      _exit (127);
    }
  /* Until the exec has replaced the test's own command line. */
  for (int i = 0; i < 500 && !pid_runs (pid, "sh", "sleep 30"); i++)
    usleep (10000);
  assert_true (pid_runs (pid, "sh", "the-marker-arg"));
  assert_false (pid_runs (pid, "sh", "not-the-marker"));
  kill (pid, SIGKILL);
  waitpid (pid, &status, 0);
  assert_false (pid_runs (pid, "sh", "the-marker-arg"));
  free (filler);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_pid_runs_long),
    cmocka_unit_test (test_safe_file_name),
    cmocka_unit_test (test_safe_file_name_distinct),
    cmocka_unit_test (test_file_name_part),
    cmocka_unit_test (test_utf8_text_ok),
    cmocka_unit_test (test_printable),
    cmocka_unit_test (test_format_size),
    cmocka_unit_test (test_format_duration),
    cmocka_unit_test (test_stat_cached),
    cmocka_unit_test (test_confine_link),
    cmocka_unit_test (test_guest_tmpdir),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}

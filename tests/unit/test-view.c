/* Unit tests of host/view.c: a VM read whole (host_deepen) while the
 * refresh thread builds a new view never puts back what an event changed.
 * view_keep_deep: the refresh publishes a view built from an older one; a
 * VM it took as it was keeps its deepened form, one it built anew stays
 * as built.  view_keep_read_since: a refresh that read every VM keeps
 * those read whole since it began, where it read the same.  view_put_deep:
 * the VM read whole goes in only in place of the shallow VM it was read
 * for. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../host/hostdef.h"
#include "../../host/build.h"
#include "util.h"

static struct vs_vm *
vm (const char *name, const char *uuid, bool shallow)
{
  struct vs_vm *v = xcalloc (1, sizeof *v);

  v->refs = 1;
  v->name = xstrdup (name);
  snprintf (v->uuid, sizeof v->uuid, "%s", uuid);
  v->shallow = shallow;
  return v;
}

/* A view of the N VMs given (sorted by name), each one more reference. */
static struct vs_host *
view (size_t n, ...)
{
  struct vs_host *h = xcalloc (1, sizeof *h);
  va_list ap;

  h->refs = 1;
  h->vms = xcalloc (n + 1, sizeof *h->vms);
  va_start (ap, n);
  for (size_t i = 0; i < n; i++)
    h->vms[h->nvms++] = vm_ref (va_arg (ap, struct vs_vm *));
  va_end (ap);
  return h;
}

#define UX "00000000-0000-4000-8000-00000000000x"
#define UY "00000000-0000-4000-8000-00000000000y"
#define UZ "00000000-0000-4000-8000-00000000000z"
#define UW "00000000-0000-4000-8000-00000000000w"

static void
test_keep_deep (void **state)
{
  /* x: taken as it was, read whole meanwhile: deep wins.
   * y: read whole meanwhile from its old state, and built anew by the
   *    refresh for an event: the refresh's wins (the bug).
   * z: deep all along.  w: renamed (w2) while read whole under w. */
  struct vs_vm *x0 = vm ("x", UX, true), *xd = vm ("x", UX, false);
  struct vs_vm *y0 = vm ("y", UY, true), *yd = vm ("y", UY, false);
  struct vs_vm *y1 = vm ("y", UY, true);
  struct vs_vm *z0 = vm ("z", UZ, false);
  struct vs_vm *w0 = vm ("w2", UW, true), *wd = vm ("w", UW, false);
  struct vs_host *base = view (4, w0, x0, y0, z0);
  struct vs_host *cur = view (4, wd, xd, yd, z0);
  struct vs_host *v = view (4, w0, x0, y1, z0);

  (void)state;
  assert_int_equal (view_keep_deep (base, cur, v), 1);
  assert_ptr_equal (v->vms[0], w0);
  assert_ptr_equal (v->vms[1], xd);
  assert_ptr_equal (v->vms[2], y1);
  assert_ptr_equal (v->vms[3], z0);
  assert_int_equal (xd->refs, 3); /* cur, v, ours */
  assert_int_equal (x0->refs, 2); /* base, ours */

  /* Nothing read whole meanwhile: the same. */
  assert_int_equal (view_keep_deep (base, base, v), 0);
  assert_ptr_equal (v->vms[2], y1);

  host_unref (base);
  host_unref (cur);
  host_unref (v);
  for (struct vs_vm **p
       = (struct vs_vm *[]){ x0, xd, y0, yd, y1, z0, w0, wd, NULL };
       *p; p++)
    {
      assert_int_equal ((*p)->refs, 1);
      vm_unref (*p);
    }
}

/* VM NAME read whole, from a read begun when SINCE full refreshes had,
 * of a definition whose hash is DEF. */
static struct vs_vm *
deep_vm (const char *name, const char *uuid, uint64_t since, uint64_t def)
{
  struct vs_vm *v = vm (name, uuid, false);

  v->deep_since = since;
  v->def_hash = def;
  return v;
}

static void
test_keep_read_since (void **state)
{
  /* The refresh is the host's 5th: it read every VM shallow, while...
   * x: read whole by a read begun since, same definition: kept.
   * y: read whole by a read begun before it: not kept (it may miss what
   *    the refresh is for).
   * z: read whole since, but the refresh read another definition or state
   *    (it started, say): not kept.
   * w: read whole since under w, and the refresh found w renamed to w2: the
   *    refresh's.  u: another VM of the same name (another UUID). */
  struct vs_vm *x1 = vm ("x", UX, true), *xd = deep_vm ("x", UX, 5, 7);
  struct vs_vm *y1 = vm ("y", UY, true), *yd = deep_vm ("y", UY, 4, 7);
  struct vs_vm *z1 = vm ("z", UZ, true), *zd = deep_vm ("z", UZ, 6, 7);
  struct vs_vm *w1 = vm ("w2", UW, true), *wd = deep_vm ("w", UW, 5, 7);
  struct vs_vm *u1 = vm ("u", UX, true), *ud = deep_vm ("u", UY, 5, 7);
  struct vs_host *cur, *v;

  (void)state;
  x1->def_hash = y1->def_hash = w1->def_hash = u1->def_hash = 7;
  z1->def_hash = 8;
  cur = view (5, ud, wd, xd, yd, zd);
  v = view (5, u1, w1, x1, y1, z1);
  assert_int_equal (view_keep_read_since (cur, v, 5), 1);
  assert_ptr_equal (v->vms[0], u1);
  assert_ptr_equal (v->vms[1], w1);
  assert_ptr_equal (v->vms[2], xd);
  assert_ptr_equal (v->vms[3], y1);
  assert_ptr_equal (v->vms[4], z1);
  assert_int_equal (xd->refs, 3); /* cur, v, ours */
  assert_int_equal (x1->refs, 1); /* ours */

  host_unref (cur);
  host_unref (v);
  for (struct vs_vm **p
       = (struct vs_vm *[]){ x1, xd, y1, yd, z1, zd, w1, wd, u1, ud, NULL };
       *p; p++)
    {
      assert_int_equal ((*p)->refs, 1);
      vm_unref (*p);
    }
}

static void
test_put_deep (void **state)
{
  struct host h = { .name = (char *)"here", .uri = (char *)"test:///" };
  struct vs_vm *x0 = vm ("x", UX, true), *xd = vm ("x", UX, false);
  struct vs_vm *x1 = vm ("x", UX, true), *xd2 = vm ("x", UX, false);
  struct vs_vm *z0 = vm ("z", UZ, false);
  struct vs_host *v;

  (void)state;
  pthread_mutex_init (&h.lock, NULL);

  /* Read whole for the shallow x0 of the view: put in. */
  h.view = view (2, x0, z0);
  assert_int_equal (view_put_deep (&h, x0, xd), 1);
  assert_ptr_equal (h.view->vms[0], xd);
  assert_ptr_equal (h.view->vms[1], z0);

  /* Built anew (x1, an event) after x0 was read whole: not put in. */
  host_unref (h.view);
  h.view = view (2, x1, z0);
  assert_int_equal (view_put_deep (&h, x0, xd2), -EAGAIN);
  assert_ptr_equal (h.view->vms[0], x1);
  /* Read again for x1: put in. */
  assert_int_equal (view_put_deep (&h, x1, xd2), 1);
  assert_ptr_equal (h.view->vms[0], xd2);

  /* Deep already, or gone: nothing to do. */
  v = h.view;
  assert_int_equal (view_put_deep (&h, x1, xd), 0);
  assert_ptr_equal (h.view, v);
  host_unref (h.view);
  h.view = view (1, z0);
  assert_int_equal (view_put_deep (&h, x1, xd), 0);
  assert_int_equal (h.view->nvms, 1);

  host_unref (h.view);
  for (struct vs_vm **p = (struct vs_vm *[]){ x0, xd, x1, xd2, z0, NULL }; *p;
       p++)
    {
      assert_int_equal ((*p)->refs, 1);
      vm_unref (*p);
    }
  pthread_mutex_destroy (&h.lock);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_keep_deep),
    cmocka_unit_test (test_keep_read_since),
    cmocka_unit_test (test_put_deep),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}

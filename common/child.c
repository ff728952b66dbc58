/* vmsnapfs: child processes that die with the daemon (child.h).
 *
 * One thread, started on the first child and never ended, forks them all:
 * the parent-death signal follows the thread that forked.  A request
 * waits on the lock below for its turn and its answer.  The forked child
 * calls only async-signal-safe functions until it runs the program.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "log.h"

extern char **environ;

struct request
{
  const char *const *argv;
  char *const *envp;
  int out_fd, err_fd;
  const int *keep; /* inherited as they are */
  size_t nkeep;
  pid_t pid;
  int err; /* -errno, once done */
  bool done;
  struct request *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct request *queue;
/* The process the forking thread runs in: none in a process forked since
 * (fuse_daemonize), which starts its own. */
static pid_t forker_pid;

/* Point descriptor TARGET at FD, or at NULLFD when FD is -1. */
static int
redirect (int fd, int nullfd, int target)
{
  if (fd < 0)
    fd = nullfd;
  return fd == target ? 0 : dup2 (fd, target);
}

/* In the child: die with the daemon (PARENT), set up R's descriptors and
 * signals, run R's program; on failure write errno to REPORT. */
static void __attribute__ ((noreturn))
child_main (const struct request *r, pid_t parent, int report)
{
  struct sigaction dfl;
  sigset_t none;
  int nullfd, e;

  /* The daemon may have died before the prctl: then its init or
   * subreaper is the parent now. */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid () != parent)
    _exit (127);
  if ((nullfd = open ("/dev/null", O_RDWR | O_CLOEXEC)) < 0
      || redirect (-1, nullfd, 0) < 0 || redirect (r->out_fd, nullfd, 1) < 0
      || redirect (r->err_fd, nullfd, 2) < 0)
    goto fail;
  /* Only the descriptors asked for: every other one, the daemon's own or
   * one it inherited without O_CLOEXEC (a caller's lock file), closed at
   * the exec (REPORT too, once the exec succeeded), so that a child that
   * outlives the daemon (a restore's server) holds none of them. */
  if (close_range (3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    {
      struct rlimit lim;
      int top = getrlimit (RLIMIT_NOFILE, &lim) == 0
                        && lim.rlim_cur != RLIM_INFINITY
                        && lim.rlim_cur < (1 << 20)
                    ? (int)lim.rlim_cur
                    : 1 << 20;

      for (int fd = 3; fd < top; fd++)
        fcntl (fd, F_SETFD, FD_CLOEXEC); /* EBADF where none is */
    }
  for (size_t i = 0; i < r->nkeep; i++)
    if (r->keep[i] > 2 && fcntl (r->keep[i], F_SETFD, 0) < 0)
      goto fail;
  memset (&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP)
      sigaction (s, &dfl, NULL); /* glibc's own signals: EINVAL */
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  execvpe (r->argv[0], (char *const *)r->argv,
           r->envp ? r->envp : environ);
fail:
  e = errno;
  while (write (report, &e, sizeof e) < 0 && errno == EINTR)
    ;
  _exit (127);
}

/* Fork R's child; on the forking thread. */
static void
fork_one (struct request *r)
{
  pid_t parent = getpid ();
  int report[2], e = 0;
  ssize_t n;

  if (pipe2 (report, O_CLOEXEC) < 0)
    {
      r->err = -errno;
      return;
    }
  if ((r->pid = fork ()) == 0)
    child_main (r, parent, report[1]);
  close (report[1]);
  if (r->pid < 0)
    r->err = -errno;
  else
    {
      /* Nothing to read: the program runs (the pipe closed at its exec). */
      while ((n = read (report[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
      if (n == (ssize_t)sizeof e)
        {
          r->err = e > 0 ? -e : -EIO;
          while (waitpid (r->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        }
    }
  close (report[0]);
}

static void *
forker_main (void *arg)
{
  (void)arg;
  pthread_mutex_lock (&lock);
  for (;;)
    {
      struct request *r;

      while (queue == NULL)
        pthread_cond_wait (&cond, &lock);
      r = queue;
      queue = r->next;
      pthread_mutex_unlock (&lock);
      fork_one (r);
      pthread_mutex_lock (&lock);
      r->done = true;
      pthread_cond_broadcast (&cond);
    }
  return NULL;
}

/* Start the forking thread in this process unless it runs; call with the
 * lock held.  Its signals are all blocked: none of the daemon's handlers
 * runs on it, nor in a child before it resets them. */
static int
start_forker (void)
{
  pthread_attr_t attr;
  pthread_t t;
  sigset_t all, old;
  int e;

  if (forker_pid == getpid ())
    return 0;
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  e = pthread_create (&t, &attr, forker_main, NULL);
  pthread_attr_destroy (&attr);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (e != 0)
    {
      log_error ("Cannot start the thread that runs programs: %s.",
                 strerror (e));
      return -e;
    }
  forker_pid = getpid ();
  return 0;
}

int
child_spawn (const char *const argv[], char *const envp[], int out_fd,
             int err_fd, pid_t *pid)
{
  return child_spawn_keep (argv, envp, out_fd, err_fd, -1, pid);
}

int
child_spawn_keep (const char *const argv[], char *const envp[], int out_fd,
                  int err_fd, int keep_fd, pid_t *pid)
{
  return child_spawn_keepv (argv, envp, out_fd, err_fd, &keep_fd,
                            keep_fd < 0 ? 0 : 1, pid);
}

int
child_spawn_keepv (const char *const argv[], char *const envp[], int out_fd,
                   int err_fd, const int *keep, size_t nkeep, pid_t *pid)
{
  struct request r = { .argv = argv, .envp = envp, .out_fd = out_fd,
                       .err_fd = err_fd, .keep = keep, .nkeep = nkeep };
  struct request **tail;
  int e;

  pthread_mutex_lock (&lock);
  if ((e = start_forker ()) < 0)
    {
      pthread_mutex_unlock (&lock);
      return e;
    }
  for (tail = &queue; *tail; tail = &(*tail)->next)
    ;
  *tail = &r;
  pthread_cond_broadcast (&cond);
  while (!r.done)
    pthread_cond_wait (&cond, &lock);
  pthread_mutex_unlock (&lock);
  *pid = r.pid;
  return r.err;
}

/* vmsnapfs: child processes that die with the daemon.
 *
 * Every program the daemon runs (qemu-img, cp, qemu-nbd) is started here,
 * with PR_SET_PDEATHSIG SIGKILL: a daemon killed with SIGKILL leaves no
 * child writing a volume behind the next daemon's recovery.  The kernel
 * sends that signal when the THREAD that forked the child ends, not the
 * process; a FUSE worker may end when idle, while a qemu-nbd it started
 * serves on.  So every child is forked by one thread of this module's
 * own, which lives as long as the process.
 */
#ifndef VMSNAPFS_CHILD_H
#define VMSNAPFS_CHILD_H

#include <stddef.h>
#include <sys/types.h>

/* Start ARGV (argv[0] looked up in PATH) with environment ENVP (NULL: the
 * daemon's), stdin on /dev/null, stdout on OUT_FD and stderr on ERR_FD (-1:
 * /dev/null; 2 for ERR_FD: the daemon's own), signals unblocked and at
 * their defaults, and no other descriptor (those the daemon has without
 * O_CLOEXEC, its own or inherited, are closed in the child).  It gets
 * SIGKILL when the daemon dies.  The caller waits for
 * *PID with waitpid.  Returns 0, or -errno (-ENOENT: no such program)
 * and nothing runs. */
int child_spawn (const char *const argv[], char *const envp[], int out_fd,
                 int err_fd, pid_t *pid);

/* child_spawn, the child also keeping descriptor KEEP_FD (above 2; -1:
 * none) open across its exec, though close-on-exec here: no other child
 * sees it. */
int child_spawn_keep (const char *const argv[], char *const envp[],
                      int out_fd, int err_fd, int keep_fd, pid_t *pid);

/* The same with the NKEEP descriptors KEEP. */
int child_spawn_keepv (const char *const argv[], char *const envp[],
                       int out_fd, int err_fd, const int *keep, size_t nkeep,
                       pid_t *pid);

#endif /* VMSNAPFS_CHILD_H */

/* vmsnapfs: the one log of the daemon.
 *
 * In the foreground messages go to stderr, in the background to syslog.
 * Debug messages are kept only with -d.  Every failure is logged once, where
 * it happens, as a whole sentence naming its cause; a verb's failure in
 * one line with the verb's (log_verb_begin).
 */
#ifndef VMSNAPFS_LOG_H
#define VMSNAPFS_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Choose where messages go; before this call they go to stderr. */
void log_init (bool foreground, bool debug);

/* Log one message at syslog priority PRIO (LOG_ERR ... LOG_DEBUG). */
void log_msg (int prio, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* A verb through the mount (mkdir, rmdir, a link, a write...) on VM
 * (NULL: none) begins in this thread: its errors and warnings are held
 * until it ends, and then told in one line that names the VM, VERB, WHAT
 * it acted on, the errno and the cause, when it failed with -errno R:
 *
 *   VM 'web': mkdir snapshots/.x: EINVAL: '.x' is not a valid snapshot name...
 *
 * When it did not fail, what was held is logged as it was. */
void log_verb_begin (const char *vm);
void log_verb_end (int r, const char *verb, const char *what);

#define log_error(...) log_msg (LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg (LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg (LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg (LOG_DEBUG, __VA_ARGS__)

#endif /* VMSNAPFS_LOG_H */

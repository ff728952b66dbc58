/* vmsnapfs: the one log of the daemon.
 *
 * In the foreground messages go to stderr, in the background to syslog.
 * Debug messages are kept only with -d.  Every failure is logged once, where
 * it happens, as a whole sentence naming its cause.
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

#define log_error(...) log_msg (LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg (LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg (LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg (LOG_DEBUG, __VA_ARGS__)

#endif /* VMSNAPFS_LOG_H */

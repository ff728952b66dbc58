/* vmsnapfs: the verbs (snapshot/), as the filesystem calls them. */
#ifndef VMSNAPFS_VERBS_H
#define VMSNAPFS_VERBS_H

/* Register the verbs' hooks with the model (snapshot/verbs.c): once,
 * before host_start. */
void verbs_init (void);

#endif /* VMSNAPFS_VERBS_H */

/* vmsnapfs: the storage pools and volumes through which a remote host's
 * files are reached (remote.c), for remote.c and files.c. */
#ifndef VMSNAPFS_HOST_STORAGE_H
#define VMSNAPFS_HOST_STORAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

/* The bytes each call on a download stream asks for. */
#define RECV_CHUNK (1024 * 1024)

/* The pool whose target is DIR on C, made when there is none.  NULL when
 * it cannot be (logged). */
virStoragePoolPtr pool_for_dir (virConnectPtr c, const char *dir);

/* The volume of file PATH on C, or NULL: -ENOENT or -EIO in *ERR. */
virStorageVolPtr volume_of (virConnectPtr c, const char *path, int *err);

/* A file of a remote host open for reading (remote.h): remote.c reads
 * it, files.c copies a memory image from it. */
struct remote_disk;
struct delta_reader;

struct remote_file
{
  struct remote_disk *disk; /* the whole disk this reads, or NULL */
  struct delta_reader *delta; /* or its changes over NBD, or NULL */
  pthread_mutex_t lock;
  pthread_cond_t moved; /* POS moved */
  char *path;
  virConnectPtr conn;
  virStorageVolPtr vol;
  virStreamPtr st; /* the download under way, or NULL */
  uint64_t pos;    /* where ST is */
  uint64_t hole;   /* bytes of a hole at POS not yet given */
  bool eof;
};

#endif /* VMSNAPFS_HOST_STORAGE_H */

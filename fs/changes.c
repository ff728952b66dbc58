/* vmsnapfs: the changes of VMs told to the kernel, counted (changes.h). */
#include <pthread.h>

#include "changes.h"
#include "fs.h"
#include "util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t changes;
/* The latest change of the VMs whose keys fall in each slot. */
static uint64_t latest[CHANGE_SLOTS];

uint64_t
fs_vm_key (const char *host, const char *vm)
{
  uint64_t key = hash_strings (host ? host : "", vm, NULL);

  return key ? key : 1;
}

uint64_t
changes_count (uint64_t key)
{
  uint64_t k;

  pthread_mutex_lock (&lock);
  k = changes + 1;
  /* The slot first: whoever sees the count sees the slot. */
  __atomic_store_n (&latest[key % CHANGE_SLOTS], k, __ATOMIC_RELEASE);
  __atomic_store_n (&changes, k, __ATOMIC_RELEASE);
  pthread_mutex_unlock (&lock);
  return k;
}

uint64_t
changes_now (void)
{
  return __atomic_load_n (&changes, __ATOMIC_ACQUIRE);
}

bool
changes_since (uint64_t since, uint64_t key)
{
  if (changes_now () == since)
    return false;
  if (key == 0)
    return true;
  return __atomic_load_n (&latest[key % CHANGE_SLOTS], __ATOMIC_ACQUIRE)
         > since;
}

/* vmsnapfs: how map.c's parser and compose.c build a map, run by run. */
#ifndef VMSNAPFS_MAP_INTERNAL_H
#define VMSNAPFS_MAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain.h"

/* The room in a map's three arrays. */
struct map_caps
{
  size_t runs, extents, changed;
};

/* Append the next LEN bytes of M (from M->size): data or a hole, stored
 * at OFFSET of image DEPTH (or RUN_ZERO, RUN_ELSEWHERE), held by the top
 * image itself when IN_TOP; neighbours of a kind joined. */
void map_append (struct map *m, struct map_caps *caps, uint64_t len, bool data,
                 uint32_t depth, uint64_t offset, bool in_top);

#endif /* VMSNAPFS_MAP_INTERNAL_H */

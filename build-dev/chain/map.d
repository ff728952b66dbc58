build-dev/chain/map.o: chain/map.c include/chain.h include/cleanup.h \
 include/log.h include/util.h
include/chain.h:
include/cleanup.h:
include/log.h:
include/util.h:

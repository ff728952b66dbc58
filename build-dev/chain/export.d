build-dev/chain/export.o: chain/export.c include/chain.h \
 include/cleanup.h include/export.h include/log.h include/util.h
include/chain.h:
include/cleanup.h:
include/export.h:
include/log.h:
include/util.h:

build-dev/chain/probe.o: chain/probe.c include/chain.h include/cleanup.h \
 include/log.h include/util.h
include/chain.h:
include/cleanup.h:
include/log.h:
include/util.h:

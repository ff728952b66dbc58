build-dev/snapshot/build.o: snapshot/build.c include/chain.h \
 include/cleanup.h snapshot/internal.h include/host.h include/log.h \
 include/util.h include/virxml.h
include/chain.h:
include/cleanup.h:
snapshot/internal.h:
include/host.h:
include/log.h:
include/util.h:
include/virxml.h:

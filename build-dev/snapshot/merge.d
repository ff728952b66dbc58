build-dev/snapshot/merge.o: snapshot/merge.c include/chain.h \
 include/cleanup.h include/export.h snapshot/internal.h include/host.h \
 include/log.h include/util.h include/virxml.h
include/chain.h:
include/cleanup.h:
include/export.h:
snapshot/internal.h:
include/host.h:
include/log.h:
include/util.h:
include/virxml.h:

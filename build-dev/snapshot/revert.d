build-dev/snapshot/revert.o: snapshot/revert.c include/cleanup.h \
 snapshot/internal.h include/host.h include/log.h include/util.h \
 include/virxml.h
include/cleanup.h:
snapshot/internal.h:
include/host.h:
include/log.h:
include/util.h:
include/virxml.h:

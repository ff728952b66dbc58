build-dev/snapshot/rename.o: snapshot/rename.c include/cleanup.h \
 include/export.h snapshot/internal.h include/host.h include/log.h \
 include/util.h include/virxml.h
include/cleanup.h:
include/export.h:
snapshot/internal.h:
include/host.h:
include/log.h:
include/util.h:
include/virxml.h:

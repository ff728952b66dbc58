build-dev/snapshot/jobs.o: snapshot/jobs.c include/cleanup.h \
 snapshot/internal.h include/host.h include/log.h include/util.h
include/cleanup.h:
snapshot/internal.h:
include/host.h:
include/log.h:
include/util.h:

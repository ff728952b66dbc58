build-dev/snapshot/model.o: snapshot/model.c include/host.h \
 include/util.h
include/host.h:
include/util.h:

build-dev/common/util.o: common/util.c include/cleanup.h include/log.h \
 include/util.h
include/cleanup.h:
include/log.h:
include/util.h:

build-dev/fs/links.o: fs/links.c include/cleanup.h include/links.h \
 include/util.h
include/cleanup.h:
include/links.h:
include/util.h:

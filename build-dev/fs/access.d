build-dev/fs/access.o: fs/access.c include/access.h
include/access.h:

build-dev/common/log.o: common/log.c include/log.h
include/log.h:

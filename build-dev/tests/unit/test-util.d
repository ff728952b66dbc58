build-dev/tests/unit/test-util.o: tests/unit/test-util.c include/util.h
include/util.h:

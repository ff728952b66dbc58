build-dev/tests/unit/test-virxml.o: tests/unit/test-virxml.c \
 include/virxml.h
include/virxml.h:

build-dev/tests/unit/test-chain.o: tests/unit/test-chain.c \
 include/chain.h include/util.h
include/chain.h:
include/util.h:

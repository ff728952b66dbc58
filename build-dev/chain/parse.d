build-dev/chain/parse.o: chain/parse.c include/chain.h include/util.h
include/chain.h:
include/util.h:

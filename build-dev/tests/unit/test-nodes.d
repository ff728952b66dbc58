build-dev/tests/unit/test-nodes.o: tests/unit/test-nodes.c \
 include/access.h include/fs.h /usr/include/fuse3/fuse.h \
 /usr/include/fuse3/fuse_common.h /usr/include/fuse3/libfuse_config.h \
 /usr/include/fuse3/fuse_opt.h /usr/include/fuse3/fuse_log.h \
 /usr/include/fuse3/fuse_lowlevel.h include/access.h include/host.h \
 include/util.h
include/access.h:
include/fs.h:
/usr/include/fuse3/fuse.h:
/usr/include/fuse3/fuse_common.h:
/usr/include/fuse3/libfuse_config.h:
/usr/include/fuse3/fuse_opt.h:
/usr/include/fuse3/fuse_log.h:
/usr/include/fuse3/fuse_lowlevel.h:
include/access.h:
include/host.h:
include/util.h:

build-dev/fs/main.o: fs/main.c include/access.h include/export.h \
 include/fs.h /usr/include/fuse3/fuse.h /usr/include/fuse3/fuse_common.h \
 /usr/include/fuse3/libfuse_config.h /usr/include/fuse3/fuse_opt.h \
 /usr/include/fuse3/fuse_log.h /usr/include/fuse3/fuse_lowlevel.h \
 include/access.h include/host.h include/host.h include/log.h
include/access.h:
include/export.h:
include/fs.h:
/usr/include/fuse3/fuse.h:
/usr/include/fuse3/fuse_common.h:
/usr/include/fuse3/libfuse_config.h:
/usr/include/fuse3/fuse_opt.h:
/usr/include/fuse3/fuse_log.h:
/usr/include/fuse3/fuse_lowlevel.h:
include/access.h:
include/host.h:
include/host.h:
include/log.h:

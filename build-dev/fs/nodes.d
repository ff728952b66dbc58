build-dev/fs/nodes.o: fs/nodes.c include/access.h include/cleanup.h \
 include/export.h include/fs.h /usr/include/fuse3/fuse.h \
 /usr/include/fuse3/fuse_common.h /usr/include/fuse3/libfuse_config.h \
 /usr/include/fuse3/fuse_opt.h /usr/include/fuse3/fuse_log.h \
 /usr/include/fuse3/fuse_lowlevel.h include/access.h include/host.h \
 include/links.h include/log.h include/util.h
include/access.h:
include/cleanup.h:
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
include/links.h:
include/log.h:
include/util.h:

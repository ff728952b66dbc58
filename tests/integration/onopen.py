#!/usr/bin/env python3
# onopen.py FILE N SIZE: hold the Nth open of FILE (fanotify's permission
# event, root's) until FILE is made SIZE bytes long, then let it go on;
# every other open goes on at once.  Prints "ready" once it watches.
import ctypes, os, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
FAN_CLASS_CONTENT, FAN_CLOEXEC, FAN_OPEN_PERM = 0x4, 0x1, 0x10000
FAN_MARK_ADD, FAN_ALLOW, AT_FDCWD = 0x1, 0x1, -100
path, nth, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fan = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, os.O_RDONLY)
if fan < 0:
    sys.exit("fanotify_init: " + os.strerror(ctypes.get_errno()))
libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64,
                               ctypes.c_int, ctypes.c_char_p]
if libc.fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD,
                      path.encode()) < 0:
    sys.exit("fanotify_mark: " + os.strerror(ctypes.get_errno()))
print("ready", flush=True)
seen = 0
while seen < nth:
    buf = os.read(fan, 4096)
    off = 0
    while off + 24 <= len(buf):
        ev_len, _v, _r, _ml, mask, fd, pid = struct.unpack_from("IBBHQii", buf, off)
        off += ev_len
        if mask & FAN_OPEN_PERM:
            seen += 1
            if seen == nth:
                os.truncate(path, size)
        os.write(fan, struct.pack("iI", fd, FAN_ALLOW))
        if fd >= 0:
            os.close(fd)

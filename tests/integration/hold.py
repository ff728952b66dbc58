#!/usr/bin/env python3
# hold.py FILE N FLAG: while FLAG exists, hold the Nth open of FILE and
# every one after (fanotify's permission event, root's), and write "held"
# into FLAG.held; once FLAG is gone, let each go on, and every open after.
# Prints "ready" once it watches; ends when FLAG is gone and its held
# opens are let go.
import ctypes, os, select, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
FAN_CLASS_CONTENT, FAN_CLOEXEC, FAN_OPEN_PERM = 0x4, 0x1, 0x10000
FAN_MARK_ADD, FAN_ALLOW, AT_FDCWD = 0x1, 0x1, -100
path, nth, flag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fan = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, os.O_RDONLY)
if fan < 0:
    sys.exit("fanotify_init: " + os.strerror(ctypes.get_errno()))
libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64,
                               ctypes.c_int, ctypes.c_char_p]
if libc.fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD,
                      path.encode()) < 0:
    sys.exit("fanotify_mark: " + os.strerror(ctypes.get_errno()))
print("ready", flush=True)
held = []
seen = 0


def allow(fd):
    os.write(fan, struct.pack("iI", fd, FAN_ALLOW))
    os.close(fd)


while os.path.exists(flag):
    if not select.select([fan], [], [], 0.1)[0]:
        continue
    buf = os.read(fan, 4096)
    off = 0
    while off + 24 <= len(buf):
        ev_len, _v, _r, _ml, mask, fd, _pid = struct.unpack_from("IBBHQii", buf, off)
        off += ev_len
        if fd < 0:
            continue
        if mask & FAN_OPEN_PERM:
            seen += 1
        if mask & FAN_OPEN_PERM and seen >= nth and os.path.exists(flag):
            held.append(fd)
            with open(flag + ".held", "w") as f:
                f.write("held\n")
        else:
            allow(fd)
for fd in held:
    allow(fd)

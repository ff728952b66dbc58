#!/usr/bin/env python3
"""Make one system call and print the errno name it fails with, or OK.

    errno.py open PATH r|w|rw|trunc
    errno.py create|mkdir|rmdir|unlink|truncate|chmod|readlink PATH
    errno.py symlink|rename|rename-noreplace|link FROM TO
    errno.py write PATH DATA
    errno.py rmdir-interrupted SECONDS PATH
    errno.py symlink-interrupted SECONDS FROM TO

rmdir-interrupted sends the process SIGALRM after SECONDS, with a handler
that does nothing, and makes the one rmdir(2) call itself (Python would
retry an EINTR): it prints EINTR when the file system gave up the call.
symlink-interrupted does the same for symlink(2).
"""
import ctypes
import errno
import os
import signal
import sys


def interrupted(seconds, call, *paths):
    libc = ctypes.CDLL(None, use_errno=True)
    signal.signal(signal.SIGALRM, lambda *_: None)
    signal.siginterrupt(signal.SIGALRM, True)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    if getattr(libc, call)(*[p.encode() for p in paths]) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def rename_noreplace(src, dst):
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_noreplace_flag = -100, 1
    if libc.renameat2(at_fdcwd, src.encode(), at_fdcwd, dst.encode(),
                      rename_noreplace_flag) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def call(op, args):
    if op == "open":
        flags = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR,
                 "trunc": os.O_RDONLY | os.O_TRUNC}[args[1]]
        os.close(os.open(args[0], flags))
    elif op == "write":
        fd = os.open(args[0], os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, args[1].encode())
        finally:
            os.close(fd)
    elif op == "create":
        os.close(os.open(args[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    elif op == "mkdir":
        os.mkdir(args[0])
    elif op == "rmdir":
        os.rmdir(args[0])
    elif op == "rmdir-interrupted":
        interrupted(args[0], "rmdir", args[1])
    elif op == "symlink-interrupted":
        interrupted(args[0], "symlink", args[1], args[2])
    elif op == "unlink":
        os.unlink(args[0])
    elif op == "truncate":
        os.truncate(args[0], 0)
    elif op == "chmod":
        os.chmod(args[0], 0o644)
    elif op == "readlink":
        os.readlink(args[0])
    elif op == "symlink":
        os.symlink(args[0], args[1])
    elif op == "rename":
        os.rename(args[0], args[1])
    elif op == "rename-noreplace":
        rename_noreplace(args[0], args[1])
    elif op == "link":
        os.link(args[0], args[1])
    else:
        raise SystemExit("errno.py: unknown call " + op)


try:
    call(sys.argv[1], sys.argv[2:])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))

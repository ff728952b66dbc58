#!/usr/bin/env python3
"""Helpers of the whole-disk tests.

    readimg.py seek FILE OFFSET data|hole   print lseek(SEEK_DATA|SEEK_HOLE)
                                            or the errno name
    readimg.py slowcmp FILE REF SECONDS     read FILE in 1 MiB pieces over
                                            about SECONDS, compare with REF;
                                            print OK or the first bad offset
"""
import errno
import os
import sys
import time


def seek(path, off, what):
    fd = os.open(path, os.O_RDONLY)
    try:
        whence = os.SEEK_DATA if what == "data" else os.SEEK_HOLE
        print(os.lseek(fd, int(off), whence))
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
    finally:
        os.close(fd)


def slowcmp(path, ref, seconds):
    chunk = 1 << 20
    size = os.path.getsize(ref)
    pause = float(seconds) / max(1, size // chunk)
    with open(path, "rb") as f, open(ref, "rb") as r:
        off = 0
        while True:
            a, b = f.read(chunk), r.read(chunk)
            if a != b:
                print("differs at", off)
                return
            if not a:
                break
            off += len(a)
            time.sleep(pause)
    print("OK")


if sys.argv[1] == "seek":
    seek(*sys.argv[2:5])
elif sys.argv[1] == "slowcmp":
    slowcmp(*sys.argv[2:5])
else:
    raise SystemExit("readimg.py: unknown command " + sys.argv[1])

#!/usr/bin/env python3
"""Helpers of the whole-disk tests.

    readimg.py seek FILE OFFSET data|hole   print lseek(SEEK_DATA|SEEK_HOLE)
                                            or the errno name
    readimg.py slowcmp FILE REF SECONDS     read FILE in 1 MiB pieces over
                                            about SECONDS, compare with REF;
                                            print OK or the first bad offset
    readimg.py duphold FILE                 open FILE twice over (dup), read,
                                            close one, print "closed one";
                                            after a line on stdin, read 4 KiB
                                            at 128 MiB with the other: print
                                            OK or the errno name
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


def duphold(path):
    fd = os.open(path, os.O_RDONLY)
    dup = os.dup(fd)
    os.read(fd, 4096)
    os.close(fd)
    print("closed one", flush=True)
    sys.stdin.readline()
    try:
        os.pread(dup, 4096, 128 << 20)
        print("OK", flush=True)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
    os.close(dup)


if sys.argv[1] == "seek":
    seek(*sys.argv[2:5])
elif sys.argv[1] == "slowcmp":
    slowcmp(*sys.argv[2:5])
elif sys.argv[1] == "duphold":
    duphold(sys.argv[2])
else:
    raise SystemExit("readimg.py: unknown command " + sys.argv[1])

#!/usr/bin/env python3
"""Run the table of bad inputs (data/bad-inputs.table) against a mount.

    badinput.py TABLE

The environment names the places: MNT (the mount), VM (the shut-off VM,
with snapshots s1 and s2), OTHER (a second VM, with snapshot o1), GONE_XML
(the XML of a VM to define and undefine for "gone:" lines), GONE_DIR (its
directory) and TOP (the source tree, for "down:" lines).  For each line it
makes the call, checks the errno, then checks that nothing changed.  Prints
one line per failure and a summary; exits 1 when any line failed.
"""
import errno
import mmap
import os
import re
import subprocess
import sys
import time

MNT = os.environ["MNT"]
VM = os.environ["VM"]
OTHER = os.environ["OTHER"]
GONE = "vmsnapfs-test-badgone"


def virsh(*args, check=False):
    p = subprocess.run(["virsh", "-q"] + list(args), capture_output=True,
                       text=True)
    if check and p.returncode != 0:
        raise SystemExit("virsh %s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def state():
    """What must not change: snapshots, current, state, disks, mode, files."""
    out = []
    for vm in (VM, OTHER):
        # One virsh for the five questions (a command line of commands
        # split by ';'): it runs each one even after one fails, and costs
        # one connection, not five, on each of the table's lines.
        out.append(virsh("; ".join(c % vm for c in (
            "snapshot-list %s --tree", "snapshot-current %s --name",
            "domstate %s", "domblklist %s",
            "metadata %s https://vmsnapfs.org/xmlns/domain/1"))))
        d = "/var/lib/libvirt/images/" + vm
        out.append(" ".join(sorted(os.listdir(d))))
    return "\n".join(out)


def expand(arg, names):
    """Placeholders and \\xNN escapes, into bytes."""
    arg = re.sub(r"\{a\*(\d+)\}", lambda m: "a" * int(m.group(1)), arg)
    for k, v in names.items():
        arg = arg.replace("{%s}" % k, v)
    return re.sub(rb"\\x([0-9a-fA-F]{2})",
                  lambda m: bytes([int(m.group(1), 16)]), arg.encode())


def write_all(path, chunks, flags=os.O_WRONLY | os.O_TRUNC, offset=None):
    fd = os.open(path, flags)
    try:
        for c in chunks:
            if offset is None:
                os.write(fd, c)
            else:
                os.pwrite(fd, c, offset)
    finally:
        os.close(fd)


def call(op, a):
    if op == "mkdir":
        os.mkdir(a[0])
    elif op == "rmdir":
        os.rmdir(a[0])
    elif op == "unlink":
        os.unlink(a[0])
    elif op == "symlink":
        os.symlink(a[0], a[1])
    elif op == "rename":
        os.rename(a[0], a[1])
    elif op == "link":
        os.link(a[0], a[1])
    elif op == "write":
        write_all(a[0], [a[1]])
    elif op == "write2":
        write_all(a[0], [a[1], a[2]])
    elif op == "writebig":
        write_all(a[0], [b"x" * int(a[1])])
    elif op == "pwrite":
        write_all(a[0], [a[1]], os.O_WRONLY, int(a[2]))
    elif op == "append":
        write_all(a[0], [a[1]], os.O_WRONLY | os.O_APPEND)
    elif op == "truncate":
        os.truncate(a[0], 0)
    elif op == "fallocate":
        fd = os.open(a[0], os.O_WRONLY)
        try:
            os.posix_fallocate(fd, 0, 4096)
        finally:
            os.close(fd)
    elif op == "chmod":
        os.chmod(a[0], 0o777)
    elif op == "chown":
        os.chown(a[0], 65534, 65534)
    elif op == "utime":
        os.utime(a[0], (0, 0))
    elif op == "mknod-fifo":
        os.mkfifo(a[0])
    elif op == "mknod-reg":
        os.mknod(a[0], 0o644 | 0o100000)
    elif op == "setxattr":
        os.setxattr(a[0], b"user.vmsnapfs", b"x")
    elif op == "removexattr":
        os.removexattr(a[0], b"user.vmsnapfs")
    elif op == "open":
        flags = {b"creat": os.O_WRONLY | os.O_CREAT,
                 b"creat-excl": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                 b"direct": os.O_RDONLY | os.O_DIRECT}[a[1]]
        fd = os.open(a[0], flags, 0o644)
        try:
            if a[1] == b"direct":
                buf = mmap.mmap(-1, 65536)
                os.preadv(fd, [buf], 0)
        finally:
            os.close(fd)
    elif op == "mmap":
        fd = os.open(a[0], os.O_RDONLY)
        try:
            size = min(os.fstat(fd).st_size, 65536)
            m = mmap.mmap(fd, size, prot=mmap.PROT_READ)
            m[:size]
            m.close()
        finally:
            os.close(fd)
    else:
        raise SystemExit("badinput.py: unknown call " + op)


def errno_of(op, args):
    try:
        call(op, args)
        return "OK"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def wait_for(pred, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def make_gone():
    """Define the VM of "gone:" lines, with snapshot g1, and wait for it."""
    virsh("define", os.environ["GONE_XML"], check=True)
    d = os.environ["GONE_DIR"]
    virsh("snapshot-create-as", GONE, "g1", "--disk-only", "--atomic",
          "--diskspec", "vda,snapshot=external,file=%s/vda.g1.qcow2" % d,
          check=True)
    if not wait_for(lambda: os.path.isdir(MNT + "/" + GONE + "/snapshots/g1"),
                    5):
        raise SystemExit("the VM of gone: lines does not show")


def undefine_gone():
    virsh("undefine", GONE, "--snapshots-metadata")
    d = os.environ["GONE_DIR"]
    for f in os.listdir(d):
        if f.startswith("vda.g1"):
            os.unlink(os.path.join(d, f))


def libvirtd_pid():
    p = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True,
                       text=True)
    return int(p.stdout.split()[0]) if p.stdout.strip() else None


def libvirtd_stop():
    pid = libvirtd_pid()
    if pid:
        os.kill(pid, 15)
        wait_for(lambda: not os.path.exists("/proc/%d" % pid), 20)


def libvirtd_start():
    subprocess.run(["sh", os.environ["TOP"] + "/scripts/start-libvirtd.sh"],
                   check=True)


def main():
    names = {"V": MNT + "/" + VM, "S": MNT + "/" + VM + "/snapshots/s1",
             "O": MNT + "/" + OTHER, "M": MNT, "G": MNT + "/" + GONE,
             "V-name": VM, "O-name": OTHER}
    rows = failed = 0
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f]
    before = state()
    for n, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        expect, op, args = fields[0], fields[1], fields[2:]
        args = [expand(a, names) for a in args]
        rows += 1
        where, _, op = op.rpartition(":")
        if where == "gone":
            make_gone()
            undefine_gone()
        elif where == "down":
            libvirtd_stop()
        t0 = time.time()
        got = errno_of(op, args)
        secs = time.time() - t0
        if where == "down":
            libvirtd_start()
            # The daemon reconnects on its own: wait until a verb works
            # through it again (a valid mode, written as it is).
            mode = names["V"] + "/snapshot-mode"
            ok = wait_for(lambda: errno_of("write", [mode.encode(),
                                                     b"memory"]) == "OK", 30)
            if not ok:
                print("line %d: the daemon did not reconnect" % n)
                failed += 1
        problems = []
        if got not in expect.split("|"):
            problems.append("expected %s, got %s" % (expect, got))
        if where == "down" and secs > 20:
            problems.append("took %.1f s, longer than the keepalive" % secs)
        after = state()
        if after != before:
            problems.append("something changed:\n--- before\n%s\n--- after\n%s"
                            % (before, after))
            before = after
        if problems:
            failed += 1
            print("line %d: %s %s: %s" % (n, op, " ".join(
                a.decode(errors="replace")[:60] for a in args),
                "; ".join(problems)))
    print("bad inputs: %d lines, %d failed" % (rows, failed))
    return 1 if failed else 0


sys.exit(main())

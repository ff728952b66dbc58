#!/usr/bin/env python3
"""A seeded, randomized campaign over the mount contract, with faults.

    chaos.py [--ops N] [--seed S] [--fault-rate P]

Two real guests that keep writing (one with two disks) are defined, the
daemon is mounted, and N steps are chosen at random among the verbs:
mkdir in each snapshot mode, rmdir of an inner, the newest or any
snapshot, mv, preview, commit, undo and revert, rm resume, writes to state,
and reads of whole disks and frozen volumes while merges run.  At random
moments inside a step, one fault: kill -9 of the daemon (and a restart), a
restart of libvirtd, or kill -9 of the VM's qemu.

It keeps a model: each VM's snapshots, each one's parent, and the checksum
of each snapshot's disks taken when it was made.  After every fault, every
tenth step and at the end it checks the invariants:

  - the mount's tree is libvirt's (names, parents), and the model's;
  - every snapshot's disks read as they did when it was made;
  - no volume or memory file in the VMs' directories is referenced by
    nothing;
  - every chain passes qemu-img check;
  - a VM that is shut off starts;
  - a step that a fault interrupted either finished or left no trace.

The seed comes first in the output.  A failure prints the seed and the last
ten steps: --seed S replays the same choices.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
VMSNAPFS = os.environ.get("VMSNAPFS", TOP + "/vmsnapfs")
WRAPPER = os.environ.get("VMSNAPFS_WRAPPER", "").split()
IMAGES = "/var/lib/libvirt/images"
PREFIX = "vmsnapfs-test-chaos"
NS = "https://vmsnapfs.org/xmlns/domain/1"
MODES = ("memory", "disk")


class Failure(Exception):
    pass


def sh(*args, timeout=120, check=True, **kw):
    p = subprocess.run(list(args), capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise Failure("%s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def virsh(*args, check=True, timeout=120):
    return sh("virsh", "-q", *args, check=check, timeout=timeout)


def wait_for(pred, seconds, step=0.1):
    end = time.time() + seconds
    while time.time() < end:
        try:
            if pred():
                return True
        except (OSError, Failure, subprocess.TimeoutExpired):
            pass
        time.sleep(step)
    return False


def errno_name(e):
    import errno
    return errno.errorcode.get(e.errno, str(e.errno))


def sha_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


# --- the host -------------------------------------------------------------

class Guest:
    def __init__(self, name, ndisks):
        self.name = PREFIX + "-" + name
        self.dir = IMAGES + "/" + self.name
        self.targets = ["vda", "vdb"][:ndisks]

    def define(self):
        self.remove()
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        for t in self.targets:
            sh("qemu-img", "create", "-q", "-f", "qcow2",
               "%s/%s.qcow2" % (self.dir, t), "64M")
        xml = sh("sh", TOP + "/tests/guest/domain-xml.sh", self.name,
                 self.dir, str(len(self.targets)))
        with open(self.dir + "/domain.xml", "w") as f:
            f.write(xml)
        virsh("define", self.dir + "/domain.xml")

    def remove(self):
        virsh("destroy", self.name, check=False)
        for s in virsh("snapshot-list", self.name, "--name",
                       check=False).split():
            virsh("snapshot-delete", self.name, s, "--metadata", check=False)
        virsh("undefine", self.name, "--snapshots-metadata", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def state(self):
        return virsh("domstate", self.name).strip()

    def counting(self):
        try:
            with open(self.dir + "/console.log", errors="replace") as f:
                return "count " in f.read()[-4000:]
        except OSError:
            return False

    def console_size(self):
        try:
            return os.path.getsize(self.dir + "/console.log")
        except OSError:
            return 0

    def counts_since(self, mark):
        with open(self.dir + "/console.log", errors="replace") as f:
            f.seek(mark)
            return "count " in f.read()

    def qemu_pid(self):
        try:
            with open("/run/libvirt/qemu/%s.pid" % self.name) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None


class Daemon:
    def __init__(self, log):
        self.mnt = tempfile.mkdtemp(prefix="vmsnapfs-chaos.")
        self.log = log
        self.proc = None

    def start(self):
        out = open(self.log, "a")
        self.proc = subprocess.Popen(
            WRAPPER + [VMSNAPFS, "-f", "-o", "uri=qemu:///system", self.mnt],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        if not wait_for(lambda: os.path.ismount(self.mnt), 20):
            raise Failure("the daemon did not mount")

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        sh("umount", "-l", self.mnt, check=False)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            sh("fusermount3", "-u", self.mnt, check=False)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.ismount(self.mnt):
            sh("umount", "-l", self.mnt, check=False)


def libvirtd_restart():
    p = sh("pgrep", "-x", "libvirtd", check=False).split()
    for pid in p:
        os.kill(int(pid), signal.SIGTERM)
    wait_for(lambda: not sh("pgrep", "-x", "libvirtd", check=False).strip(),
             30)
    sh("sh", TOP + "/scripts/start-libvirtd.sh")


# --- the model --------------------------------------------------------------

class Model:
    """VM name -> {snapshot: {"parent": name or None, "sums": {t: sha}}}."""

    def __init__(self, guests):
        self.vms = {g.name: {} for g in guests}

    def copy(self):
        return json.loads(json.dumps(self.vms))

    def truth(self, vm):
        """libvirt's snapshots of VM and their parents."""
        names = virsh("snapshot-list", vm, "--name").split()
        return {n: (virsh("snapshot-parent", vm, n, check=False).strip()
                    or None) for n in names}

    def shape(self, vms, vm):
        return {n: s["parent"] for n, s in vms[vm].items()}


# --- the campaign -------------------------------------------------------------

class Chaos:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.seed = args.seed
        self.ops = args.ops
        self.fault_rate = args.fault_rate
        self.guests = [Guest("a", 1), Guest("b", 2)]
        self.log = tempfile.mktemp(prefix="vmsnapfs-chaos.", suffix=".log")
        self.daemon = Daemon(self.log)
        self.model = Model(self.guests)
        self.steps = []
        self.counter = 0
        self.figures = {"steps": 0, "kill-daemon": 0, "restart-libvirtd": 0,
                        "kill-qemu": 0, "checks": 0, "outcomes": {}}

    # -- helpers
    def path(self, g, *parts):
        return os.path.join(self.daemon.mnt, g.name, *parts)

    def note(self, text):
        self.steps.append(text)
        print("  " + text, flush=True)

    def new_name(self):
        self.counter += 1
        return "c%d" % self.counter

    def outcome(self, what):
        o = self.figures["outcomes"]
        o[what] = o.get(what, 0) + 1

    def disk_sums(self, g, snap):
        return {t: sha_of(self.path(g, "snapshots", snap, t + ".img"))
                for t in g.targets}

    def current(self, g):
        try:
            return os.readlink(self.path(g, "active")).split("/", 1)[1]
        except OSError:
            return None

    def wait_quiet(self, g, seconds=180):
        """No merge under way on G, as libvirt's metadata says."""
        def quiet():
            m = virsh("metadata", g.name, NS, check=False)
            return "<merge" not in m or 'state="failed"' in m
        if not wait_for(quiet, seconds, 0.5):
            raise Failure("%s: a merge did not end within %d s"
                          % (g.name, seconds))

    # -- the verbs: each returns the errno name, or OK
    def run(self, fn, *args):
        try:
            fn(*args)
            return "OK"
        except OSError as e:
            return errno_name(e)

    def verb(self, g):
        snaps = list(self.model.vms[g.name])
        choice = self.rng.choice(
            ["mkdir"] * 5 + ["rmdir"] * 4 + ["mv", "preview", "undo",
                                             "commit", "revert", "rm-resume",
                                             "state", "state"])
        if choice == "mkdir":
            mode = self.rng.choice(MODES)
            name = self.new_name()
            return ("mkdir %s (%s)" % (name, mode), self.do_mkdir, g, name,
                    mode)
        if not snaps:
            return ("state start", self.do_state, g, "start")
        if choice == "rmdir":
            kind = self.rng.choice(["inner", "newest", "any"])
            name = self.pick(g, kind)
            return ("rmdir %s (%s)" % (name, kind), self.do_rmdir, g, name)
        if choice == "mv":
            old, new = self.rng.choice(snaps), self.new_name()
            return ("mv %s %s" % (old, new), self.do_mv, g, old, new)
        if choice in ("preview", "revert", "commit"):
            name = self.rng.choice(snaps)
            if choice == "commit":
                # A commit is of the snapshot previewed, when there is one.
                try:
                    name = os.readlink(self.path(g, "preview")).split("/")[1]
                except OSError:
                    pass
            return ("%s %s" % (choice, name), self.do_link, g, choice, name)
        if choice == "undo":
            return ("undo", self.do_undo, g)
        if choice == "rm-resume":
            return ("rm resume", self.do_rm_resume, g)
        running = g.state() == "running"
        cmd = ("destroy" if running else "start") \
            if self.rng.random() < 0.8 else self.rng.choice(["start",
                                                             "destroy"])
        return ("state %s (%s)" % (cmd, g.state()), self.do_state, g, cmd)

    def pick(self, g, kind):
        snaps = self.model.vms[g.name]
        parents = {s["parent"] for s in snaps.values()}
        inner = [n for n in snaps if n in parents]
        newest = [n for n in snaps if n not in parents]
        pool = {"inner": inner, "newest": newest}.get(kind) or list(snaps)
        return self.rng.choice(pool)

    def do_mkdir(self, g, name, mode):
        with open(self.path(g, "snapshot-mode"), "w") as f:
            f.write(mode)
        parent = self.current(g)
        os.mkdir(self.path(g, "snapshots", name))
        self.model.vms[g.name][name] = {"parent": parent,
                                         "sums": self.disk_sums(g, name)}

    def do_rmdir(self, g, name):
        # A reader of another snapshot's disks while the merge runs: its
        # bytes must not change.
        others = [n for n in self.model.vms[g.name]
                  if n != name and self.model.vms[g.name][n]["sums"]]
        reader = None
        if others:
            other = self.rng.choice(others)
            reader = threading.Thread(target=self.read_during, args=(g, other))
            reader.start()
        try:
            os.rmdir(self.path(g, "snapshots", name))
            snaps = self.model.vms[g.name]
            parent = snaps.pop(name)["parent"]
            for s in snaps.values():
                if s["parent"] == name:
                    s["parent"] = parent
        finally:
            if reader:
                reader.join()

    def read_during(self, g, snap):
        want = self.model.vms[g.name].get(snap, {}).get("sums", {})
        t = self.rng.choice(g.targets)
        try:
            got = sha_of(self.path(g, "snapshots", snap, t + ".img"))
        except OSError:
            return  # renamed, or the daemon killed: not a wrong byte
        if want.get(t) and got != want[t]:
            self.read_errors.append("%s/%s/%s.img read during a merge "
                                    "differs" % (g.name, snap, t))

    def do_mv(self, g, old, new):
        os.rename(self.path(g, "snapshots", old),
                  self.path(g, "snapshots", new))
        snaps = self.model.vms[g.name]
        snaps[new] = snaps.pop(old)
        for s in snaps.values():
            if s["parent"] == old:
                s["parent"] = new

    def do_link(self, g, kind, name):
        link = "preview" if kind == "preview" else "active"
        tmp = self.path(g, "CuChaos")
        os.symlink("snapshots/" + name, tmp)
        try:
            os.rename(tmp, self.path(g, link))
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def do_undo(self, g):
        os.unlink(self.path(g, "preview"))

    def do_rm_resume(self, g):
        os.unlink(self.path(g, "resume"))

    def do_state(self, g, cmd):
        with open(self.path(g, "state"), "w") as f:
            f.write(cmd)

    # -- faults
    def fault(self, g):
        kind = self.rng.choice(["kill-daemon", "restart-libvirtd",
                                "kill-qemu"])
        if kind == "kill-qemu" and g.qemu_pid() is None:
            kind = "kill-daemon"
        self.figures[kind] += 1
        self.note("  fault: %s" % kind)
        if kind == "kill-daemon":
            self.daemon.kill()
        elif kind == "restart-libvirtd":
            libvirtd_restart()
        else:
            pid = g.qemu_pid()
            try:
                if pid:
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                # The verb running meanwhile (a destroy) ended it first.
                self.note("  (its qemu had already exited)")
        return kind

    def recover(self, kind):
        if kind == "kill-daemon":
            self.daemon.start()
        if not wait_for(lambda: sh("virsh", "-c", "qemu:///system",
                                   "version") is not None, 30):
            raise Failure("libvirtd does not answer")
        for g in self.guests:
            self.wait_quiet(g)
            # The daemon reconnects on its own: until then verbs are EIO.
            # Its mode, written back as it is, is a verb that changes
            # nothing.
            mode_file = self.path(g, "snapshot-mode")
            def answers():
                with open(mode_file) as f:
                    mode = f.read().strip()
                return self.run(self.do_write, mode_file, mode) == "OK"
            if not wait_for(answers, 60, 0.5):
                raise Failure("the daemon does not act on %s after a %s"
                              % (g.name, kind))

    def do_write(self, path, text):
        with open(path, "w") as f:
            f.write(text)

    # -- the invariants
    def check(self, why, before=None):
        self.figures["checks"] += 1
        errors = list(self.read_errors)
        self.read_errors = []
        for g in self.guests:
            self.wait_quiet(g)
            truth = self.model.truth(g.name)
            # The tree shows it within a second.
            def shown():
                names = set(os.listdir(self.path(g, "snapshots")))
                return names == set(truth)
            if not wait_for(shown, 5):
                errors.append("%s: the mount shows %s, libvirt %s" % (
                    g.name, sorted(os.listdir(self.path(g, "snapshots"))),
                    sorted(truth)))
            for n, p in truth.items():
                info = self.path(g, "snapshots", n, "info")
                try:
                    with open(info) as f:
                        par = re.search(r"^parent: (.*)$", f.read(), re.M)
                    if (par.group(1) or None) != p:
                        errors.append("%s/%s: info says parent %s, libvirt %s"
                                      % (g.name, n, par.group(1), p))
                except OSError as e:
                    errors.append("%s/%s: info: %s" % (g.name, n, e))
            # The model, or what it was before an interrupted step.
            have = {n: p for n, p in truth.items()}
            if have != self.model.shape(self.model.vms, g.name):
                if before and have == self.model.shape(before, g.name):
                    self.model.vms[g.name] = before[g.name]
                    self.outcome("interrupted step left no trace")
                else:
                    self.adopt_or_fail(g, have, errors)
            for n, s in self.model.vms[g.name].items():
                if n not in truth or not s["sums"]:
                    continue
                try:
                    got = self.disk_sums(g, n)
                except OSError as e:
                    errors.append("%s/%s: cannot read: %s" % (g.name, n, e))
                    continue
                status = self.status(g, n)
                if got != s["sums"] and status == "ok":
                    errors.append("%s/%s: its disks changed since it was "
                                  "made" % (g.name, n))
            errors += self.orphans(g)
            errors += self.chains_check(g)
        if errors:
            raise Failure("%s:\n    %s" % (why, "\n    ".join(errors)))

    def status(self, g, n):
        try:
            with open(self.path(g, "snapshots", n, "info")) as f:
                return re.search(r"^status: (.*)$", f.read(), re.M).group(1)
        except (OSError, AttributeError):
            return "?"

    def adopt_or_fail(self, g, have, errors):
        """A step a fault interrupted finished: the model takes libvirt's
        names and parents where they are one step away from it."""
        want = self.model.shape(self.model.vms, g.name)
        added = set(have) - set(want)
        gone = set(want) - set(have)
        if len(added) <= 1 and len(gone) <= 1:
            snaps = self.model.vms[g.name]
            for n in gone:
                snaps.pop(n)
            for n in added:
                snaps[n] = {"parent": have[n], "sums": {}}
            for n, p in have.items():
                snaps[n]["parent"] = p
            self.outcome("interrupted step finished")
        else:
            errors.append("%s: libvirt has %s, the model %s" % (
                g.name, sorted(have.items(), key=str),
                sorted(want.items(), key=str)))

    def referenced(self, g):
        """Every file of G's directory that something stands on."""
        refs = set()
        tops = set()
        for src in virsh("domblklist", g.name, "--details").splitlines():
            f = src.split()
            if len(f) >= 4 and f[1] == "disk":
                tops.add(f[3])
        xml = virsh("dumpxml", "--inactive", g.name)
        tops.update(re.findall(r"source file='([^']+)'", xml))
        for n in virsh("snapshot-list", g.name, "--name").split():
            sx = virsh("snapshot-dumpxml", g.name, n)
            refs.update(re.findall(r"<memory [^>]*file='([^']+)'", sx))
            tops.update(re.findall(r"source file='([^']+)'", sx))
        meta = virsh("metadata", g.name, NS, check=False)
        tops.update(re.findall(r'(?:kept|preview|top|base)="([^"]+)"', meta))
        refs.update(re.findall(r'memory="([^"]+)"', meta))
        for t in tops:
            if not os.path.exists(t):
                continue
            out = sh("qemu-img", "info", "-U", "--backing-chain",
                     "--output=json", "-f", "qcow2" if t.endswith(".qcow2")
                     else "raw", t, check=False)
            try:
                for img in json.loads(out):
                    refs.add(img["filename"])
            except ValueError:
                refs.add(t)
        return refs

    def orphans(self, g):
        refs = self.referenced(g)
        errors = []
        for f in os.listdir(g.dir):
            p = os.path.join(g.dir, f)
            if not (f.endswith(".qcow2") or f.endswith(".mem")):
                continue
            if p not in refs:
                errors.append("%s: %s is referenced by nothing" % (g.name, f))
        return errors

    def chains_check(self, g):
        errors = []
        for inactive in ([], ["--inactive"]):
            for src in virsh("domblklist", g.name, "--details",
                             *inactive).splitlines():
                f = src.split()
                if len(f) >= 4 and f[1] == "disk" and not os.path.exists(f[3]):
                    errors.append("%s: disk %s is on %s, which is gone%s" % (
                        g.name, f[2], f[3], " (persistent definition)"
                        if inactive else ""))
        for src in virsh("domblklist", g.name, "--details").splitlines():
            f = src.split()
            if len(f) >= 4 and f[1] == "disk" and os.path.exists(f[3]):
                p = subprocess.run(["qemu-img", "check", "-U", "-q", "-f",
                                    "qcow2", f[3]], capture_output=True,
                                   text=True, timeout=120)
                if p.returncode not in (0,):
                    errors.append("%s: qemu-img check %s: %s" % (
                        g.name, f[3], (p.stdout + p.stderr).strip()))
        return errors

    def starts(self, g):
        if g.state() != "shut off":
            return
        mark = g.console_size()
        r = self.run(self.do_state, g, "start")
        if r == "OK" and not wait_for(lambda: g.counts_since(mark), 60):
            raise Failure("%s: started, but the guest does not count"
                          % g.name)
        if r != "OK":
            raise Failure("%s: does not start: %s (libvirt: %s)" % (
                g.name, r, virsh("domstate", g.name, "--reason",
                                 check=False).strip()))

    def sanitizers(self):
        """Under ASan and UBSan, a report in the daemon's log fails."""
        with open(self.log, errors="replace") as f:
            text = f.read()
        m = re.search(r"Sanitizer|runtime error:", text)
        if m:
            raise Failure("the daemon's sanitizers reported errors:\n"
                          + text[m.start():m.start() + 3000])

    # -- the loop
    def step(self, i):
        g = self.rng.choice(self.guests)
        text, fn, *args = self.verb(g)
        fault_at = (self.rng.uniform(0, 1.5)
                    if self.rng.random() < self.fault_rate else None)
        self.note("step %d: %s: %s" % (i, g.name[len(PREFIX) + 1:], text))
        before = self.model.copy()
        result = {}

        def go():
            try:
                result["r"] = self.run(fn, *args)
            except Exception as e:  # a bug of the campaign, not an errno
                result["r"] = "exception: %r" % e
        t = threading.Thread(target=go)
        t.start()
        kind = None
        if fault_at is not None:
            t.join(fault_at)
            kind = self.fault(g)
        t.join(600)
        if t.is_alive():
            raise Failure("the step did not return within 600 s")
        self.note("  -> %s" % result["r"])
        self.outcome(result["r"])
        if kind:
            self.recover(kind)
            self.check("after %s in step %d" % (kind, i), before)
            for gg in self.guests:
                self.starts(gg)
        elif result["r"].startswith("exception"):
            raise Failure("step %d raised %s" % (i, result["r"]))
        elif result["r"] not in ("OK", "EBUSY", "EINVAL", "ENOENT"):
            self.check("after step %d returned %s" % (i, result["r"]),
                       before)
        elif i % 10 == 0:
            self.check("at step %d" % i)
        self.figures["steps"] += 1

    def main(self):
        print("chaos: seed %d, %d steps, fault rate %.2f" % (
            self.seed, self.ops, self.fault_rate), flush=True)
        self.read_errors = []
        try:
            for g in self.guests:
                g.define()
                virsh("start", g.name)
            for g in self.guests:
                if not wait_for(g.counting, 60):
                    raise Failure("%s does not count" % g.name)
            self.daemon.start()
            for i in range(1, self.ops + 1):
                self.step(i)
            self.check("at the end")
            for g in self.guests:
                if g.state() == "running":
                    self.run(self.do_state, g, "destroy")
                self.starts(g)
            self.daemon.stop()
            self.sanitizers()
        except (Failure, subprocess.TimeoutExpired) as e:
            print("\nFAIL: chaos, seed %d: %s" % (self.seed, e))
            print("the last steps:")
            for s in self.steps[-10:]:
                print("    " + s)
            print("the daemon's log ends with:")
            try:
                with open(self.log, errors="replace") as f:
                    for line in f.readlines()[-40:]:
                        print("    " + line.rstrip())
            except OSError:
                pass
            print("replay: tests/chaos/run.sh --ops %d --seed %d"
                  % (self.ops, self.seed))
            return 1
        finally:
            self.daemon.stop()
            for g in self.guests:
                if not os.environ.get("CHAOS_KEEP"):
                    g.remove()
            try:
                os.rmdir(self.daemon.mnt)
                if os.environ.get("CHAOS_KEEP_LOG"):
                    print("the daemon's log: " + self.log)
                else:
                    os.unlink(self.log)
            except OSError:
                pass
        f = self.figures
        print("chaos: seed %d: %d steps, %d daemon kills, %d libvirtd "
              "restarts, %d qemu kills, %d invariant checks, 0 failures"
              % (self.seed, f["steps"], f["kill-daemon"],
                 f["restart-libvirtd"], f["kill-qemu"], f["checks"]))
        print("chaos: outcomes: %s" % ", ".join(
            "%s %d" % kv for kv in sorted(f["outcomes"].items())))
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--fault-rate", type=float, default=0.2)
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    return Chaos(args).main()


sys.exit(main())

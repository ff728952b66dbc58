# vmsnapfs
#
#   make            build ./vmsnapfs
#   make check      install what is missing, start libvirtd, run every test,
#                   as built and under AddressSanitizer and UBSan
#   make asan       only the run under AddressSanitizer and UBSan
#   make desktop-check   PCManFM under Xvfb on the mount, screenshots kept
#   make demo       install, start libvirtd and a small VM, mount it
#   make unit       build and run the unit tests only
#   make layers     print the layers; fail on a loop of files or a call upward
#   make install    the daemon, manual pages, systemd unit, examples, in PREFIX
#                   (/usr/local), DESTDIR for staging; make uninstall
#   make deb        a Debian package: build/deb/vmsnapfs_VERSION_ARCH.deb
#   make chaos      the long chaos campaign: CHAOS_OPS (300) random steps
#                   with faults, invariants checked (SEED=S replays one)

VERSION = 0.1.0
PKGS = fuse3 libvirt libvirt-qemu json-c libxml-2.0 libnbd
# Compiled against, never linked: guest/loader.c loads it when installed.
PKGS_OPTIONAL = libguestfs

SANITIZE ?=
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS =
endif

# Where make install puts things (GNU conventions; DESTDIR for staging).
PREFIX ?= /usr/local
prefix = $(PREFIX)
exec_prefix = $(prefix)
sbindir = $(exec_prefix)/sbin
datarootdir = $(prefix)/share
mandir = $(datarootdir)/man
unitdir = $(prefix)/lib/systemd/system
docdir = $(datarootdir)/doc/vmsnapfs
examplesdir = $(docdir)/examples

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS = -Wall -Wextra -Werror -Wshadow -Wvla -Wstrict-prototypes \
           -Wmissing-prototypes -Wmissing-declarations -Wwrite-strings \
           -Wformat=2 -Wno-format-nonliteral
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(PKGS_OPTIONAL) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=gnu11 $(CPPFLAGS) $(CFLAGS) $(WARNINGS) $(SAN_FLAGS) -D_GNU_SOURCE \
             -DVMSNAPFS_VERSION='"$(VERSION)"' -Iinclude -I. $(PKG_CFLAGS) \
             -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS)
LIBS = $(PKG_LIBS) -lpthread -ldl

LIB_SRCS = $(wildcard common/*.c chain/*.c guest/*.c host/*.c snapshot/*.c snapshot/*/*.c) $(filter-out fs/main.c,$(wildcard fs/*.c))
LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ = $(BUILD)/fs/main.o
UNIT_SRCS = $(wildcard tests/unit/test-*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: deb desktop-check all binaries check check-only layers unit integration asan demo deps libvirtd \
        guest clean format chaos install uninstall

all: $(BUILD)/vmsnapfs
ifneq ($(SANITIZE),1)
all: vmsnapfs
vmsnapfs: $(BUILD)/vmsnapfs
	ln -sf $(BUILD)/vmsnapfs $@
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libvmsnapfs.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/vmsnapfs: $(MAIN_OBJ) $(BUILD)/libvmsnapfs.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libvmsnapfs.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# Installing packages and starting libvirtd come first, in a make of their
# own, so that this one's pkg-config flags are read once they exist.  The
# suite runs twice: as built, and with AddressSanitizer and UBSan.
# Each pass builds first with every CPU, then runs its tests.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

check: deps libvirtd
	$(MAKE) -j$(JOBS) binaries
	$(MAKE) check-only
	$(MAKE) -j$(JOBS) binaries SANITIZE=1
	$(MAKE) check-only SANITIZE=1

check-only: layers unit integration

binaries: all $(UNIT_BINS)

# The layers: no loop of files, no call from a lower layer to a higher one.
layers: all
	sh tests/layers/run.sh
	python3 scripts/check-layers $(BUILD)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: all
	VMSNAPFS=$(abspath $(BUILD)/vmsnapfs) sh tests/integration/run.sh

# A real file manager under Xvfb on the mount (tests/desktop): X packages
# that make check does not pull.
desktop-check: deps libvirtd all
	sh scripts/install-deps.sh --desktop
	VMSNAPFS=$(abspath $(BUILD)/vmsnapfs) sh tests/desktop/run.sh

asan: deps libvirtd
	$(MAKE) -j$(JOBS) binaries SANITIZE=1
	$(MAKE) check-only SANITIZE=1

# The daemon (mount.fuse3 runs it, found in PATH, for mount -t
# fuse.vmsnapfs and fstab lines), its two manual pages, the systemd unit.
EXAMPLES = progress.sh nightly-snapshots.sh newest-snapshot.sh \
           backup-restic.sh backup-borg.sh undo-upgrade.sh \
           incremental-backup.sh
EXAMPLE_UNITS = vmsnapfs-nightly@.service vmsnapfs-nightly@.timer
INSTALLED = $(sbindir)/vmsnapfs $(mandir)/man1/vmsnapfs.1 \
            $(mandir)/man5/vmsnapfs.5 $(unitdir)/vmsnapfs@.service \
            $(addprefix $(examplesdir)/,$(EXAMPLES)) \
            $(addprefix $(examplesdir)/systemd/,$(EXAMPLE_UNITS))

install: $(BUILD)/vmsnapfs
	install -D -m 0755 $(BUILD)/vmsnapfs $(DESTDIR)$(sbindir)/vmsnapfs
	install -D -m 0644 doc/vmsnapfs.1 $(DESTDIR)$(mandir)/man1/vmsnapfs.1
	install -D -m 0644 doc/vmsnapfs.5 $(DESTDIR)$(mandir)/man5/vmsnapfs.5
	mkdir -p $(DESTDIR)$(unitdir)
	sed 's|@SBINDIR@|$(sbindir)|g' systemd/vmsnapfs@.service.in \
	    > $(DESTDIR)$(unitdir)/vmsnapfs@.service
	chmod 0644 $(DESTDIR)$(unitdir)/vmsnapfs@.service
	mkdir -p $(DESTDIR)$(examplesdir)/systemd
	install -m 0755 $(addprefix examples/,$(EXAMPLES)) $(DESTDIR)$(examplesdir)
	for u in $(EXAMPLE_UNITS); do \
	    sed 's|@EXAMPLESDIR@|$(examplesdir)|g' examples/systemd/$$u \
	        > $(DESTDIR)$(examplesdir)/systemd/$$u && \
	    chmod 0644 $(DESTDIR)$(examplesdir)/systemd/$$u || exit 1; \
	done

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(examplesdir)/systemd $(DESTDIR)$(examplesdir) \
	    $(DESTDIR)$(docdir) 2>/dev/null

# The Debian package (debian/), built by dpkg-buildpackage in a copy of
# the tree, since it writes its results beside the source.
DEB_DIR = build/deb
deb: deps
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/vmsnapfs-$(VERSION)
	tar -c --exclude-vcs --exclude='./build*' --exclude=./vmsnapfs . | \
	    tar -x -C $(DEB_DIR)/vmsnapfs-$(VERSION)
	cd $(DEB_DIR)/vmsnapfs-$(VERSION) && \
	    DEB_BUILD_OPTIONS="$${DEB_BUILD_OPTIONS-parallel=$$(nproc)}" \
	    dpkg-buildpackage -b -us -uc
	ls $(DEB_DIR)/*.deb

CHAOS_OPS ?= 300
chaos: deps libvirtd
	$(MAKE) all
	VMSNAPFS=$(abspath $(BUILD)/vmsnapfs) sh tests/chaos/run.sh \
	    --ops $(CHAOS_OPS) $(if $(SEED),--seed $(SEED))

deps:
	sh scripts/install-deps.sh

libvirtd:
	sh scripts/start-libvirtd.sh

guest:
	sh tests/guest/build.sh

demo: deps libvirtd
	$(MAKE) all
	sh examples/demo.sh

format:
	clang-format -i $(wildcard */*.c */*.h tests/unit/*.c)

clean:
	rm -rf build build-asan vmsnapfs

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d)

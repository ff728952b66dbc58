#!/bin/sh
# The desktop tests (make desktop-check): a real file manager under Xvfb on
# the mount.  They need X packages that make check does not install
# (scripts/install-deps.sh --desktop does), so they run on their own.
here=$(cd "$(dirname "$0")" && pwd)
TEST_LOGDIR=${TEST_LOGDIR:-$here/../../build/test-logs} \
    exec sh "$here/../integration/run.sh" "$here"/test-*.sh

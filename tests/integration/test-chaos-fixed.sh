#!/bin/bash
# A short chaos campaign (tests/chaos/chaos.py) with a fixed seed: random
# verbs on two writing guests, faults at random moments, the invariants
# checked after each.  The long one is 'make chaos'.
# alone: restarts libvirtd and kills qemu
. "$(dirname "$0")/functions.sh"
VMSNAPFS=$VMSNAPFS python3 "$TOP/tests/chaos/chaos.py" --ops 20 --seed 20261130 ||
    fail "the chaos campaign found a fault (its replay line is above)"

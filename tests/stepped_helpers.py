"""The time-stepped simulator in tests: a small Loihi-like chip, and the kernel against its
NumPy twin."""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.backends.accum import HardwareSpec
from snncompile.simulator import stepped_kernels as K


def small_hw(**kw):
    """The `loihi1` preset with some fields replaced (smaller cores, more lanes...)."""
    return dataclasses.replace(HardwareSpec.load("loihi1"), **kw)


def kernel_matches_twin(net, x):
    """Run `run_network` and `run_network_ref` on the same arguments, assert every state and
    output array equal, and return the kernel's (state, outputs) lists."""
    a_args, a_state, a_out = net.kernel_args(x, potentials=True)
    b_args, b_state, b_out = net.kernel_args(x, potentials=True)
    K.run_network(*a_args, *a_state, *a_out)
    K.run_network_ref(*b_args, *b_state, *b_out)
    for a, b in zip(a_state + a_out, b_state + b_out):
        np.testing.assert_array_equal(a, b)
    return a_state, a_out

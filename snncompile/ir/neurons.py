"""Spike-neuron facts the IR owns: the neuron kinds and their integer level ranges.

    lif    s in {0, 1}      (D = 1)
    ilif   s in {0 .. D}
    silif  s in {-D .. D}   (signed multi-level, SpikingMamba's SI-LIF)

The model (`snncompile.models.config`) and every backend read these from here.
"""

from __future__ import annotations

NEURON_KINDS = ("lif", "ilif", "silif")
# The largest spike level D (micro-steps per token): keeps every counter of a run inside int64
# (the reasoning is in backends/accum/hardware.py's range table).
MAX_SPIKE_LEVEL = 32


def level_range(kind: str, D: int) -> tuple[int, int]:
    """(lo, hi) spike levels of a neuron kind: silif {-D..D}, ilif {0..D}, lif {0..1} (D=1)."""
    return (-D if kind == "silif" else 0), D

"""Tiling: cut one spiked projection into a grid of tiles that each fit one core.

The weights are input-major, WT (d_in, d_out). A tile is a block of `rows` inputs (axons)
by `cols` outputs (neurons): it needs `cols <= neurons`, `rows <= axons`,
`rows * row_bytes(cols) <= weight_sram_bytes`, and its partial sums must fit the core's
accumulators: rows * q_max * D <= 2^(state_bits - 1) - 1 (q_max = 2^(weight_bits-1) - 1), so
no accumulator can overflow whatever the spikes. The grid is R row blocks x C column blocks,
both split as evenly as possible (block sizes differ by at most one).

Choice of (R, C). For each column count C (cols = ceil(d_out / C)) the widest row block is
rows_max(C) = min(d_in, axons, weight_sram_bytes // row_bytes(cols)) (each row segment padded
to whole bytes, as partition.tile_sram counts it), so R = ceil(d_in / rows_max).
Among grids using at most (1 + slack) times the fewest tiles, pick the one with the fewest
expected NoC messages per token:

    messages(R, C) = C * d_in * spikes_per_input   (each spike is sent to the C column tiles)
                   + R * d_out                      (each row block reads out its partial sums)

so sparse spikes favour tall tiles (few column blocks) and dense spikes wide ones; ties go to
fewer tiles, then to fewer column blocks. The arithmetic is the shared
`snncompile.backends.tiling.min_traffic_grid`, called with this core's limits (`core_limits`).
"""

from __future__ import annotations

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.tiling import (CoreLimits, TileGrid, balanced_splits, ceil_div,
                                        expected_messages, inputs_within_accumulator,
                                        min_traffic_grid)
from snncompile.errors import HardwareFitError

__all__ = ["TileGrid", "balanced_splits", "ceil_div", "core_limits", "expected_messages",
           "max_rows_for_state", "tile_projection"]


def max_rows_for_state(hw: HardwareSpec, D: int) -> int:
    """Most inputs whose summed contributions fit a state_bits accumulator."""
    return inputs_within_accumulator(hw.state_bits, (1 << (hw.weight_bits - 1)) - 1, D)


def core_limits(hw: HardwareSpec, D: int = 1) -> CoreLimits:
    """What one tile may use of a core of `hw` at spike level D (the shared tiling's terms)."""
    return CoreLimits(max_inputs=min(hw.axons_per_core, max_rows_for_state(hw, D)),
                      max_outputs=hw.neurons_per_core, weight_bytes=hw.weight_sram_bytes,
                      weight_bits=hw.weight_bits)


def tile_projection(d_in: int, d_out: int, hw: HardwareSpec, spikes_per_input: float,
                    slack: float = 0.1, D: int = 1, name: str = "projection") -> TileGrid:
    """The (R, C) grid for a d_in x d_out projection with spike levels up to D on `hw`
    (see the module docstring)."""
    if max_rows_for_state(hw, D) < 1:
        raise HardwareFitError(
            f"layer {name!r}: a {hw.state_bits}-bit accumulator cannot hold even one "
            f"{hw.weight_bits}-bit weight times spike level {D}; needs core.state_bits >= "
            f"{((1 << (hw.weight_bits - 1)) - 1).bit_length() + D.bit_length() + 1}")
    return min_traffic_grid(d_in, d_out, core_limits(hw, D), spikes_per_input, slack, name)

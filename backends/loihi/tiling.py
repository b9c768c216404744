"""Split one spiked projection W (d_out, d_in) into Dense blocks that each fit a virtual core.

With f = spec.max_fan_in(D) (fan-in limit and 24-bit partial sums, see `spec.py`):

    C         = ceil(d_in / f)                            column blocks (input slices)
    c         = ceil(d_in / C)                            widest column block
    r_max     = min(outputs_per_core, weight_bytes_per_core // c)
    R         = ceil(d_out / r_max)                       row blocks (output slices)

Blocks are balanced (sizes differ by at most one). Block (i, j) holds W[rows_i, cols_j] in one
Lava Dense process; the binary encoding doubles it (two rails, see `encoding.py`), and every
Dense process is one virtual core. A column block's partial sums go back to the host, which
adds the C partials of each output in int64. The arithmetic is the shared
`snncompile.backends.tiling.fewest_input_blocks`, called with this target's limits.
"""

from __future__ import annotations

from snncompile.backends.loihi.spec import LoihiSpec
from snncompile.backends.tiling import CoreLimits, balanced_ranges, fewest_input_blocks
from snncompile.errors import HardwareFitError

Ranges = tuple[tuple[int, int], ...]


def balanced(n: int, parts: int) -> Ranges:
    """`parts` consecutive (start, stop) ranges covering 0..n, sizes differing by <= 1."""
    return balanced_ranges(n, parts)


def core_limits(spec: LoihiSpec, D: int) -> CoreLimits:
    """What one Dense block may use of a virtual core at spike level D (the shared tiling's
    terms: inputs = fan-in, outputs = compartments)."""
    return CoreLimits(max_inputs=spec.max_fan_in(D), max_outputs=spec.outputs_per_core,
                      weight_bytes=spec.weight_bytes_per_core, weight_bits=spec.weight_bits)


def split_layer(name: str, d_in: int, d_out: int, D: int, spec: LoihiSpec) -> tuple[Ranges, Ranges]:
    """(row ranges, column ranges) of layer `name` (module docstring)."""
    limits = core_limits(spec, D)
    if limits.max_inputs < 1:
        raise HardwareFitError(
            f"layer {name!r}: spike level D={D} with int8 weights overflows a "
            f"{spec.message_bits}-bit partial sum even for one input")
    grid = fewest_input_blocks(d_in, d_out, limits, name)
    return grid.output_ranges, grid.input_ranges

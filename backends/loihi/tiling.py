"""Split one spiked projection W (d_out, d_in) into Dense blocks that each fit a virtual core.

With f = spec.max_fan_in(D) (fan-in limit and 24-bit partial sums, see `spec.py`):

    C         = ceil(d_in / f)                            column blocks (input slices)
    c         = ceil(d_in / C)                            widest column block
    r_max     = min(outputs_per_core, weight_bytes_per_core // c)
    R         = ceil(d_out / r_max)                       row blocks (output slices)

Blocks are balanced (sizes differ by at most one). Block (i, j) holds W[rows_i, cols_j] in one
Lava Dense process; the binary encoding doubles it (two rails, see `encoding.py`), and every
Dense process is one virtual core. A column block's partial sums go back to the host, which
adds the C partials of each output in int64.
"""

from __future__ import annotations

from snncompile.backends.loihi.spec import LoihiSpec
from snncompile.errors import HardwareFitError


def balanced(n: int, parts: int) -> tuple[tuple[int, int], ...]:
    """`parts` consecutive (start, stop) ranges covering 0..n, sizes differing by <= 1."""
    q, r = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + q + (1 if i < r else 0)
        out.append((start, stop))
        start = stop
    return tuple(out)


def split_layer(name: str, d_in: int, d_out: int, D: int, spec: LoihiSpec
                ) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """(row ranges, column ranges) of layer `name` (module docstring)."""
    fan_in = spec.max_fan_in(D)
    if fan_in < 1:
        raise HardwareFitError(
            f"layer {name!r}: spike level D={D} with int8 weights overflows a "
            f"{spec.message_bits}-bit partial sum even for one input")
    n_cols = -(-d_in // fan_in)
    widest = -(-d_in // n_cols)
    rows_max = min(spec.outputs_per_core, spec.weight_bytes_per_core // widest)
    if rows_max < 1:
        raise HardwareFitError(
            f"layer {name!r}: {widest} inputs of 8-bit weights need more than "
            f"{spec.weight_bytes_per_core} bytes per output row")
    n_rows = -(-d_out // rows_max)
    return balanced(d_out, n_rows), balanced(d_in, n_cols)

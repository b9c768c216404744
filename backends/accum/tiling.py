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
fewer tiles, then to fewer column blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.errors import HardwareFitError


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def balanced_splits(n: int, parts: int) -> tuple[int, ...]:
    """Boundaries 0 = b_0 < ... < b_parts = n of `parts` blocks whose sizes differ by <= 1."""
    q, r = divmod(n, parts)
    out = [0]
    for i in range(parts):
        out.append(out[-1] + q + (1 if i < r else 0))
    return tuple(out)


@dataclass(frozen=True)
class TileGrid:
    """The tiles of one projection: row blocks (inputs) x column blocks (outputs)."""

    d_in: int
    d_out: int
    row_splits: tuple[int, ...]
    col_splits: tuple[int, ...]

    @property
    def R(self) -> int:
        return len(self.row_splits) - 1

    @property
    def C(self) -> int:
        return len(self.col_splits) - 1

    @property
    def n_tiles(self) -> int:
        return self.R * self.C

    def tiles(self) -> list[tuple[int, int, int, int]]:
        """(r, c, rows, cols) of every tile, row block major."""
        rs, cs = self.row_splits, self.col_splits
        return [(r, c, rs[r + 1] - rs[r], cs[c + 1] - cs[c])
                for r in range(self.R) for c in range(self.C)]


def expected_messages(R: int, C: int, d_in: int, d_out: int, spikes_per_input: float) -> float:
    """Spike messages plus partial-sum read-outs per token (module docstring)."""
    return C * d_in * spikes_per_input + R * d_out


def max_rows_for_state(hw: HardwareSpec, D: int) -> int:
    """Most inputs whose summed contributions fit a state_bits accumulator."""
    qmax = (1 << (hw.weight_bits - 1)) - 1
    return ((1 << (hw.state_bits - 1)) - 1) // (qmax * D)


def tile_projection(d_in: int, d_out: int, hw: HardwareSpec, spikes_per_input: float,
                    slack: float = 0.1, D: int = 1, name: str = "projection") -> TileGrid:
    """The (R, C) grid for a d_in x d_out projection with spike levels up to D on `hw`
    (see the module docstring)."""
    state_rows = max_rows_for_state(hw, D)
    if state_rows < 1:
        raise HardwareFitError(
            f"layer {name!r}: a {hw.state_bits}-bit accumulator cannot hold even one "
            f"{hw.weight_bits}-bit weight times spike level {D}; needs core.state_bits >= "
            f"{((1 << (hw.weight_bits - 1)) - 1).bit_length() + D.bit_length() + 1}")
    axons = min(hw.axons_per_core, state_rows)
    cmax = min(hw.neurons_per_core, hw.weights_per_core, d_out)
    c_lo = ceil_div(d_out, cmax)
    cands: list[tuple[int, int, int]] = []  # (tiles, R, C)
    best = None
    C = c_lo
    while C <= d_out:
        cols = ceil_div(d_out, C)
        C_eff = ceil_div(d_out, cols)
        if C_eff == C:
            rows_max = min(d_in, axons, hw.weight_sram_bytes // hw.row_bytes(cols))
            R = ceil_div(d_in, rows_max)
            n = R * C
            cands.append((n, R, C))
            best = n if best is None else min(best, n)
        if best is not None and C > best * (1 + slack):
            break
        C += 1
    # C = c_lo always yields a candidate: cols = ceil(d_out/c_lo) <= cmax, so best is set.
    limit = best * (1 + slack)
    pick = min((c for c in cands if c[0] <= limit),
               key=lambda c: (expected_messages(c[1], c[2], d_in, d_out, spikes_per_input),
                              c[0], c[2]))
    _, R, C = pick
    return TileGrid(d_in, d_out, balanced_splits(d_in, R), balanced_splits(d_out, C))

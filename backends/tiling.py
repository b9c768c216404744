"""Tiling arithmetic shared by the backends: cut one projection into a grid of blocks that
each fit one core.

A projection maps `d_in` inputs to `d_out` outputs with weights stored input-major (one row of
weights per input, as an axon reads them). A block ("tile") is `inputs` rows by `outputs`
columns of that matrix; it fits a core described by `CoreLimits` when

    inputs  <= max_inputs                       (axons / fan-in / accumulator width)
    outputs <= max_outputs                      (neurons / compartments)
    inputs * row_bytes(outputs) <= weight_bytes (each row segment padded to whole bytes)

A grid is R input blocks x C output blocks, both split evenly (`balanced_splits`: block sizes
differ by at most one). Two choices of (R, C) are offered; each backend calls the one that
matches its cost model with its own limits:

  `min_traffic_grid`     enumerate C (output blocks), give each the fewest R; among grids using
                         at most (1 + slack) times the fewest tiles pick the fewest expected
                         messages C * d_in * spikes_per_input + R * d_out (each spike goes to
                         the C column blocks, each row block reads out its partial sums); ties
                         go to fewer tiles, then fewer column blocks.   (accum)
  `fewest_input_blocks`  R = ceil(d_in / max_inputs), then the fewest C that fits the widest
                         input block.                                       (loihi)

`inputs_within_accumulator` gives the input limit set by a signed accumulator of `bits` bits:
the worst-case partial sum of n inputs is n * max|w| * D.
"""

from __future__ import annotations

from dataclasses import dataclass

from snncompile.errors import HardwareFitError


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for integers (b > 0)."""
    return -(-a // b)


def balanced_splits(n: int, parts: int) -> tuple[int, ...]:
    """Boundaries 0 = b_0 < ... < b_parts = n of `parts` blocks whose sizes differ by <= 1
    (the first n % parts blocks are the larger ones)."""
    q, r = divmod(n, parts)
    out = [0]
    for i in range(parts):
        out.append(out[-1] + q + (1 if i < r else 0))
    return tuple(out)


def balanced_ranges(n: int, parts: int) -> tuple[tuple[int, int], ...]:
    """`balanced_splits` as `parts` consecutive (start, stop) ranges covering 0..n."""
    b = balanced_splits(n, parts)
    return tuple(zip(b[:-1], b[1:]))


def inputs_within_accumulator(bits: int, max_weight: int, D: int) -> int:
    """Most inputs whose summed contributions (each up to max_weight * D in magnitude) fit a
    signed `bits`-bit accumulator: (2^(bits-1) - 1) // (max_weight * D); 0 when not even one."""
    return ((1 << (bits - 1)) - 1) // (max_weight * D)


@dataclass(frozen=True)
class CoreLimits:
    """What one block may use of a core (module docstring)."""

    max_inputs: int
    max_outputs: int
    weight_bytes: int
    weight_bits: int

    def row_bytes(self, outputs: int) -> int:
        """Bytes of one input's row segment of `outputs` weights (padded to whole bytes)."""
        return (outputs * self.weight_bits + 7) // 8

    def block_bytes(self, inputs: int, outputs: int) -> int:
        return inputs * self.row_bytes(outputs)

    def fits(self, inputs: int, outputs: int) -> bool:
        return (inputs <= self.max_inputs and outputs <= self.max_outputs
                and self.block_bytes(inputs, outputs) <= self.weight_bytes)

    def inputs_fitting(self, outputs: int) -> int:
        """Most inputs of a block `outputs` wide."""
        return min(self.max_inputs, self.weight_bytes // self.row_bytes(outputs))

    def outputs_fitting(self, inputs: int) -> int:
        """Most outputs of a block `inputs` tall."""
        return min(self.max_outputs, (self.weight_bytes // inputs) * 8 // self.weight_bits)


@dataclass(frozen=True)
class TileGrid:
    """The blocks of one projection: row blocks (inputs) x column blocks (outputs), as split
    boundaries (0 = b_0 < ... < b_k = d_in or d_out)."""

    d_in: int
    d_out: int
    row_splits: tuple[int, ...]
    col_splits: tuple[int, ...]

    @classmethod
    def balanced(cls, d_in: int, d_out: int, R: int, C: int) -> "TileGrid":
        """R x C evenly split blocks."""
        return cls(d_in, d_out, balanced_splits(d_in, R), balanced_splits(d_out, C))

    @property
    def R(self) -> int:
        return len(self.row_splits) - 1

    @property
    def C(self) -> int:
        return len(self.col_splits) - 1

    @property
    def n_tiles(self) -> int:
        return self.R * self.C

    @property
    def input_ranges(self) -> tuple[tuple[int, int], ...]:
        """(start, stop) of every row block."""
        return tuple(zip(self.row_splits[:-1], self.row_splits[1:]))

    @property
    def output_ranges(self) -> tuple[tuple[int, int], ...]:
        """(start, stop) of every column block."""
        return tuple(zip(self.col_splits[:-1], self.col_splits[1:]))

    def tiles(self) -> list[tuple[int, int, int, int]]:
        """(r, c, rows, cols) of every tile, row block major."""
        rs, cs = self.row_splits, self.col_splits
        return [(r, c, rs[r + 1] - rs[r], cs[c + 1] - cs[c])
                for r in range(self.R) for c in range(self.C)]


def expected_messages(R: int, C: int, d_in: int, d_out: int, spikes_per_input: float) -> float:
    """Spike messages plus partial-sum read-outs per token of an R x C grid."""
    return C * d_in * spikes_per_input + R * d_out


def min_traffic_grid(d_in: int, d_out: int, limits: CoreLimits, spikes_per_input: float,
                     slack: float = 0.1, name: str = "projection") -> TileGrid:
    """The grid with the fewest expected messages among near-fewest-tile grids (module
    docstring). HardwareFitError naming `name` when not even a single weight fits a block."""
    cmax = min(limits.outputs_fitting(1), d_out)
    if cmax < 1 or limits.max_inputs < 1:
        raise HardwareFitError(f"layer {name!r}: a core cannot hold even one "
                               f"{limits.weight_bits}-bit weight")
    c_lo = ceil_div(d_out, cmax)
    cands: list[tuple[int, int, int]] = []  # (tiles, R, C)
    best = None
    C = c_lo
    while C <= d_out:
        cols = ceil_div(d_out, C)
        if ceil_div(d_out, cols) == C:       # C blocks of at most `cols` outputs exist
            R = ceil_div(d_in, min(d_in, limits.inputs_fitting(cols)))
            n = R * C
            cands.append((n, R, C))
            best = n if best is None else min(best, n)
        if best is not None and C > best * (1 + slack):
            break
        C += 1
    # C = c_lo always yields a candidate: cols = ceil(d_out/c_lo) <= cmax, so best is set.
    limit = best * (1 + slack)
    _, R, C = min((c for c in cands if c[0] <= limit),
                  key=lambda c: (expected_messages(c[1], c[2], d_in, d_out, spikes_per_input),
                                 c[0], c[2]))
    return TileGrid.balanced(d_in, d_out, R, C)


def fewest_input_blocks(d_in: int, d_out: int, limits: CoreLimits,
                        name: str = "projection") -> TileGrid:
    """R = ceil(d_in / max_inputs) input blocks, then the fewest output blocks that fit the
    widest of them (module docstring); HardwareFitError naming `name` when none fits."""
    if limits.max_inputs < 1:
        raise HardwareFitError(f"layer {name!r}: a core takes no inputs")
    R = ceil_div(d_in, limits.max_inputs)
    widest = ceil_div(d_in, R)
    per_block = limits.outputs_fitting(widest)
    if per_block < 1:
        raise HardwareFitError(
            f"layer {name!r}: {widest} inputs of {limits.weight_bits}-bit weights need more "
            f"than {limits.weight_bytes} bytes per output row")
    return TileGrid.balanced(d_in, d_out, R, ceil_div(d_out, per_block))

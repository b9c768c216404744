"""Placement: put the packed cores (bins) on the mesh and choose each block's host (SNEAP's
second half: minimise spike hops).

Traffic model. A block's spikes all come from its host (where its spike encoders and dense
ops run) and every tile sends its partial sums back to that host, so the traffic of a block
is a star around its host; consecutive blocks exchange only the residual stream (d_model
values per token). A bin's weight w_b is its expected messages per token:
sum over its tiles of rows * spikes_per_input + cols. The objective is
sum_b w_b * hops(core_b, host_b) (+ the host-to-host residual transfers).

Algorithms (deterministic):
- `shared` dense unit: every host is the dense unit's position p. The objective is
  sum_b w_b * dist(core_b, p), minimised exactly by the rearrangement inequality: sort cores by
  distance to p (ties by core id), bins by weight (heaviest first, ties by graph order) and
  pair them up.
- `per_core` dense units: cores are visited along a banded snake (boustrophedon) curve: the
  mesh is cut into vertical bands of width b = round(sqrt(bins per block)), each band walked
  row by row, alternating direction, so consecutive positions are mesh neighbours and any run
  of n consecutive bins occupies a compact ~b x n/b patch. Bins are laid on the curve in graph
  order (block 0 first), keeping a block contiguous and next to the following block. Each
  block's host is then the weighted 1-median of its bins under the Manhattan metric: the
  weighted median row and the weighted median column, which is the exact minimiser of
  sum_b w_b * hops(core_b, host) for the given bin positions. Nodes outside blocks use the
  nearest block's host (embedding -> block 0, norm_f / lm_head -> the last block).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.accum.partition import Bin, LayerTiles
from snncompile.errors import HardwareFitError


@dataclass(frozen=True)
class Placement:
    """bin index -> core id, and block -> host core id (None: nodes outside blocks)."""

    bin_core: tuple[int, ...]
    block_host: dict[int | None, int]


def bin_weights(bins: list[Bin], layers: list[LayerTiles],
                spikes_per_input: float) -> list[float]:
    """Expected messages per token of each bin (spikes in + partial sums out)."""
    tiles = [layer.grid.tiles() for layer in layers]
    out = []
    for b in bins:
        w = 0.0
        for li, ti in b.tiles:
            _r, _c, rows, cols = tiles[li][ti]
            w += rows * spikes_per_input + cols
        out.append(w)
    return out


def snake_order(rows: int, cols: int, band: int,
                limit: int | None = None) -> list[tuple[int, int]]:
    """The banded boustrophedon curve over a rows x cols mesh (module docstring); only its
    first `limit` positions when given (the bins never need more: work O(bins), not O(cores))."""
    band = max(1, min(band, cols))
    limit = rows * cols if limit is None else limit
    order: list[tuple[int, int]] = []
    for k, c0 in enumerate(range(0, cols, band)):
        cs = list(range(c0, min(c0 + band, cols)))
        rs = range(rows) if k % 2 == 0 else range(rows - 1, -1, -1)
        for i, r in enumerate(rs):
            if len(order) >= limit:
                return order[:limit]
            order.extend((r, c) for c in (cs if i % 2 == 0 else cs[::-1]))
    return order[:limit]


def nearest_cores(hw: HardwareSpec, p: int, n: int) -> list[int]:
    """The `n` core ids nearest to core `p` in mesh hops, ties by core id (vectorised: the
    mesh may have up to 2^20 cores)."""
    import numpy as np
    ids = np.arange(hw.cores, dtype=np.int64)
    pr, pc = hw.coord(p)
    dist = np.abs(ids // hw.mesh[1] - pr) + np.abs(ids % hw.mesh[1] - pc)
    return [int(c) for c in np.lexsort((ids, dist))[:n]]


def weighted_median(values: list[int], weights: list[float]) -> int:
    """The smallest v with at least half of the total weight at or below it."""
    pairs = sorted(zip(values, weights))
    total = sum(weights)
    acc = 0.0
    for v, w in pairs:
        acc += w
        if acc >= total / 2:
            return v
    return pairs[-1][0]


def place(bins: list[Bin], layers: list[LayerTiles], hw: HardwareSpec,
          spikes_per_input: float, blocks: list[int | None],
          strategy: str = "optimized") -> Placement:
    """Cores for the bins and hosts for `blocks` (every block index that has nodes).

    strategy "optimized" is the algorithm of the module docstring; "row_major" puts bin i on
    core i (hosts chosen by the same rule): the naive baseline the mapping report compares to.
    """
    weights = bin_weights(bins, layers, spikes_per_input)
    rows, cols = hw.mesh
    if len(bins) > hw.cores:
        raise HardwareFitError(f"{len(bins)} cores needed, the mesh has {hw.cores}")
    if strategy == "row_major":
        curve = [hw.coord(c) for c in range(max(1, len(bins)))]
        if hw.dense_placement == "shared":
            p = hw.core_id(*hw.dense_position)
            return Placement(tuple(range(len(bins))), {b: p for b in blocks})
        return _with_hosts(bins, weights, [hw.core_id(*curve[i]) for i in range(len(bins))],
                           hw, blocks, curve)
    if hw.dense_placement == "shared":
        p = hw.core_id(*hw.dense_position)
        cores = nearest_cores(hw, p, len(bins))
        order = sorted(range(len(bins)), key=lambda i: (-weights[i], i))
        bin_core = [0] * len(bins)
        for rank, i in enumerate(order):
            bin_core[i] = cores[rank]
        return Placement(tuple(bin_core), {b: p for b in blocks})
    # per_core
    n_blocks = len({b.block for b in bins}) or 1
    band = max(1, round(math.sqrt(len(bins) / n_blocks)))
    curve = snake_order(rows, cols, band, limit=max(1, len(bins)))
    return _with_hosts(bins, weights, [hw.core_id(*curve[i]) for i in range(len(bins))],
                       hw, blocks, curve)


def _with_hosts(bins: list[Bin], weights: list[float], bin_core: list[int], hw: HardwareSpec,
                blocks: list[int | None], curve: list[tuple[int, int]]) -> Placement:
    """Per-core dense units: each block's host is the weighted 1-median of its bins."""
    hosts: dict[int | None, int] = {}
    by_block: dict[int | None, list[int]] = {}
    for i, b in enumerate(bins):
        by_block.setdefault(b.block, []).append(i)
    for blk, idx in by_block.items():
        rc = [hw.coord(bin_core[i]) for i in idx]
        w = [weights[i] for i in idx]
        hosts[blk] = hw.core_id(weighted_median([r for r, _ in rc], w),
                                weighted_median([c for _, c in rc], w))
    numbered = sorted(b for b in hosts if b is not None)
    default = hosts[numbered[0]] if numbered else hw.core_id(*curve[0])
    out: dict[int | None, int] = {}
    for blk in blocks:
        if blk in hosts:
            out[blk] = hosts[blk]
        elif blk is None or not numbered:
            out[blk] = default
        else:  # a block without spiked projections: the nearest placed block's host
            near = min(numbered, key=lambda b: (abs(b - blk), b))
            out[blk] = hosts[near]
    return Placement(tuple(bin_core), out)

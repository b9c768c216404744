"""Partitioning: pack the tiles of all spiked projections into cores (SNEAP's first half).

Tiles are the atoms; a core (a "bin") may hold several tiles as long as the sums of their
neurons (cols), axons (rows) and weight bytes (rows * row_bytes(cols)) stay within the core's
limits. Packing is first-fit over the bins opened for the same block, tiles taken in graph
order: a block's tiles share their spike source and their host, so keeping them in the same
bins never adds traffic, while mixing blocks would spread one block over another's region.
Full-size tiles get a bin each; the remainders of uneven grids share bins.

`pack` raises HardwareFitError when the bins outnumber the cores, naming the first layer that
does not fit and what the whole model would need. Before packing, `min_cores` bounds the bins
from below by the summed tile resources (weight bytes, neurons, axons: a bin holds at most a
core's worth of each); when that bound already exceeds the mesh the error comes at once,
without packing (first-fit is quadratic in the tiles, and a tiny core, e.g. a 1-byte SRAM,
cuts a model into millions of them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.accum.tiling import TileGrid
from snncompile.errors import HardwareFitError


@dataclass(frozen=True)
class LayerTiles:
    """One spiked projection to place: node name, block index, its grid."""

    name: str
    block: int | None
    grid: TileGrid


@dataclass
class Bin:
    """The tiles packed into one core, and what they use of it."""

    block: int | None
    tiles: list[tuple[int, int]] = field(default_factory=list)  # (layer index, tile index)
    neurons: int = 0
    axons: int = 0
    sram: int = 0


def tile_sram(rows: int, cols: int, hw: HardwareSpec) -> int:
    """Weight bytes of a rows x cols tile (each row segment padded to whole bytes)."""
    return rows * hw.row_bytes(cols)


def min_cores(layers: list[LayerTiles], hw: HardwareSpec) -> list[int]:
    """Lower bounds on the bins needed by layers[:i+1], for every i (module docstring).

    O(R + C) per layer: a grid's tiles need sum_t rows_t * row_bytes(cols_t) = d_in *
    sum_c row_bytes(cols_c) weight bytes, R * d_out neurons and C * d_in axons in all."""
    out: list[int] = []
    sram = neurons = axons = 0
    for layer in layers:
        g = layer.grid
        sram += g.d_in * sum(hw.row_bytes(b - a) for a, b in g.output_ranges)
        neurons += g.R * g.d_out
        axons += g.C * g.d_in
        out.append(max(-(-sram // hw.weight_sram_bytes), -(-neurons // hw.neurons_per_core),
                       -(-axons // hw.axons_per_core)))
    return out


def pack(layers: list[LayerTiles], hw: HardwareSpec) -> list[Bin]:
    """First-fit packing per block (module docstring); HardwareFitError if > hw.cores bins."""
    bounds = min_cores(layers, hw)
    if bounds and bounds[-1] > hw.cores:
        li = next(i for i, n in enumerate(bounds) if n > hw.cores)
        layer = layers[li]
        raise HardwareFitError(
            f"layer {layer.name!r} ({layer.grid.d_in}x{layer.grid.d_out} weights, "
            f"{layer.grid.n_tiles:,} tiles) does not fit on {hw.name!r}: the layers up to it "
            f"need at least {bounds[li]:,} cores and the whole model needs at least "
            f"{bounds[-1]:,} cores of {hw.weight_sram_bytes} B weight SRAM, "
            f"{hw.neurons_per_core} neurons and {hw.axons_per_core} axons, but the mesh has "
            f"{hw.cores:,} (use a larger mesh, e.g. --hw large)")
    bins: list[Bin] = []
    open_bins: list[Bin] = []
    current_block: object = object()
    first_over: tuple[int, int] | None = None  # (layer index, bins used before it)
    for li, layer in enumerate(layers):
        if layer.block != current_block:
            current_block = layer.block
            open_bins = []
        for ti, (_r, _c, rows, cols) in enumerate(layer.grid.tiles()):
            sram = tile_sram(rows, cols, hw)
            target = None
            for b in open_bins:
                if (b.neurons + cols <= hw.neurons_per_core and b.axons + rows <= hw.axons_per_core
                        and b.sram + sram <= hw.weight_sram_bytes):
                    target = b
                    break
            if target is None:
                if len(bins) == hw.cores and first_over is None:
                    first_over = (li, _bins_before(bins, li))
                target = Bin(block=layer.block)
                bins.append(target)
                open_bins.append(target)
            target.tiles.append((li, ti))
            target.neurons += cols
            target.axons += rows
            target.sram += sram
    if first_over is not None:
        li, before = first_over
        layer = layers[li]
        own = sum(1 for b in bins if any(t[0] == li for t in b.tiles))
        rows_max = max(r for _, _, r, _ in layer.grid.tiles())
        cols_max = max(c for _, _, _, c in layer.grid.tiles())
        raise HardwareFitError(
            f"layer {layer.name!r} ({layer.grid.d_in}x{layer.grid.d_out} weights, "
            f"{layer.grid.n_tiles} tiles of up to {rows_max}x{cols_max}) does not fit on "
            f"{hw.name!r}: it needs {own} cores of {hw.weight_sram_bytes} B weight SRAM and "
            f"{hw.neurons_per_core} neurons, but earlier layers already use {before} of the "
            f"{hw.cores} cores; the whole model needs {len(bins)} cores "
            f"(use a larger mesh, e.g. --hw large)")
    return bins


def _bins_before(bins: list[Bin], li: int) -> int:
    return sum(1 for b in bins if all(t[0] < li for t in b.tiles))

"""The result of mapping: where every tile and every node sits, and what that costs.

`LayerMap` (one spiked projection): its row/column splits (see tiling) and the core of each
tile, row block major. `Mapping`: the layer maps, the host core of every node (where its dense
work and spike encoders run), and the firing-rate estimate used to choose tiles and
placement. `mapping.json` in a Program folder is `Mapping.to_json()`.

Estimates (per token, at the mapping's rate; the simulator measures the real values):
spike messages of a layer = sum_r rows_r * spikes_per_input * (distinct cores of row block r),
read-out messages = sum_t cols_t, hops = each message times its Manhattan distance to/from
the host, plus the residual/dense values that cross between hosts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.accum.tiling import TileGrid
from snncompile.errors import HardwareFitError, SimulationError

MAPPING_FORMAT = "snncompile-mapping/1"


@dataclass(frozen=True)
class LayerMap:
    """Tiles of one spiked projection; tile (r, c) is on core tile_cores[r * C + c]."""

    name: str
    block: int | None
    d_in: int
    d_out: int
    D: int
    row_splits: tuple[int, ...]
    col_splits: tuple[int, ...]
    tile_cores: tuple[int, ...]

    @property
    def grid(self) -> TileGrid:
        """The tiling alone (without placement)."""
        return TileGrid(self.d_in, self.d_out, self.row_splits, self.col_splits)

    @property
    def R(self) -> int:
        return self.grid.R

    @property
    def C(self) -> int:
        return self.grid.C

    def tiles(self) -> list[tuple[int, int, int, int, int]]:
        """(r, c, rows, cols, core) of every tile, row block major."""
        C = self.C
        return [(r, c, rows, cols, self.tile_cores[r * C + c])
                for r, c, rows, cols in self.grid.tiles()]

    def dest_cores(self, r: int) -> list[int]:
        """Distinct cores receiving the spikes of row block r (order of first tile)."""
        seen: dict[int, None] = {}
        for c in range(self.C):
            seen.setdefault(self.tile_cores[r * self.C + c], None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "block": self.block, "d_in": self.d_in, "d_out": self.d_out,
                "D": self.D, "row_splits": list(self.row_splits),
                "col_splits": list(self.col_splits), "tile_cores": list(self.tile_cores)}

    @classmethod
    def from_dict(cls, d: Any) -> "LayerMap":
        try:
            lm = cls(str(d["name"]), None if d["block"] is None else int(d["block"]),
                     int(d["d_in"]), int(d["d_out"]), int(d["D"]),
                     tuple(int(x) for x in d["row_splits"]), tuple(int(x) for x in d["col_splits"]),
                     tuple(int(x) for x in d["tile_cores"]))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise SimulationError(
                f"mapping.json: bad layer entry ({type(exc).__name__}: {exc})") from None
        lm.check()
        return lm

    def check(self) -> None:
        """Sizes and D are positive, the block is an index or None, splits are increasing
        from 0 to d_in / d_out and there is one core (an index >= 0) per tile."""
        for what, v in (("d_in", self.d_in), ("d_out", self.d_out), ("D", self.D)):
            if v < 1:
                raise SimulationError(f"mapping.json: layer {self.name!r}: field {what!r} must "
                                      f"be a positive integer, got {v}")
        if self.block is not None and self.block < 0:
            raise SimulationError(f"mapping.json: layer {self.name!r}: field 'block' must be "
                                  f"a block index >= 0 or null, got {self.block}")
        if any(c < 0 for c in self.tile_cores):
            raise SimulationError(f"mapping.json: layer {self.name!r}: field 'tile_cores' holds "
                                  f"a negative core id")
        for what, sp, n in (("row_splits", self.row_splits, self.d_in),
                            ("col_splits", self.col_splits, self.d_out)):
            if len(sp) < 2 or sp[0] != 0 or sp[-1] != n or any(b <= a for a, b in zip(sp, sp[1:])):
                raise SimulationError(f"mapping.json: layer {self.name!r}: {what} {list(sp)} "
                                      f"must increase from 0 to {n}")
        if len(self.tile_cores) != self.R * self.C:
            raise SimulationError(f"mapping.json: layer {self.name!r}: {len(self.tile_cores)} "
                                  f"tile cores for {self.R}x{self.C} tiles")


@dataclass(frozen=True)
class CoreUse:
    """What one core holds."""

    core: int
    tiles: int = 0
    neurons: int = 0
    axons: int = 0
    sram: int = 0
    layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mapping:
    """Layer maps (graph order), node -> host core, and the estimate the mapping used."""

    layers: tuple[LayerMap, ...]
    hosts: dict[str, int]
    rate: float
    slack: float
    estimate: dict[str, Any] = field(default_factory=dict)

    def layer(self, name: str) -> LayerMap:
        for lm in self.layers:
            if lm.name == name:
                return lm
        raise SimulationError(f"mapping has no spiked layer {name!r}")

    # -- JSON --------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"format": MAPPING_FORMAT, "rate": self.rate, "slack": self.slack,
                           "layers": [lm.to_dict() for lm in self.layers],
                           "hosts": self.hosts, "estimate": self.estimate}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Mapping":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SimulationError(f"mapping.json: invalid JSON: {exc}") from None
        if not isinstance(d, dict) or d.get("format") != MAPPING_FORMAT:
            raise SimulationError(f"mapping.json: format is not {MAPPING_FORMAT!r}")
        try:
            hosts = {str(k): int(v) for k, v in d["hosts"].items()}
            m = cls(tuple(LayerMap.from_dict(x) for x in d["layers"]), hosts,
                    float(d["rate"]), float(d["slack"]), dict(d.get("estimate") or {}))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise SimulationError(f"mapping.json: {type(exc).__name__}: {exc}") from None
        if not 0 < m.rate <= 1:  # also refuses NaN
            raise SimulationError(f"mapping.json: field 'rate' must be in (0, 1], got {m.rate}")
        if not 0 <= m.slack < math.inf:
            raise SimulationError(f"mapping.json: field 'slack' must be a finite number >= 0, "
                                  f"got {m.slack}")
        # estimate: {"row_major" | "optimized": {figure: number}, "cores_used": int}, each
        # number finite and >= 0 (the mapping report divides and formats them)
        for key, v in m.estimate.items():
            for fld, x in (v.items() if isinstance(v, dict) else [(None, v)]):
                name = f"estimate.{key}" + (f".{fld}" if fld is not None else "")
                if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x < math.inf:
                    raise SimulationError(f"mapping.json: field {name!r} must be a finite "
                                          f"number >= 0, got {x!r:.40}")
        return m

    # -- checks and statistics ---------------------------------------------------------------
    def core_usage(self, hw: HardwareSpec) -> dict[int, CoreUse]:
        """Per used core: tiles, neurons, axons, weight bytes, layers."""
        use: dict[int, dict[str, Any]] = {}
        for lm in self.layers:
            for _r, _c, rows, cols, core in lm.tiles():
                u = use.setdefault(core, {"tiles": 0, "neurons": 0, "axons": 0, "sram": 0,
                                          "layers": []})
                u["tiles"] += 1
                u["neurons"] += cols
                u["axons"] += rows
                u["sram"] += rows * hw.row_bytes(cols)
                if lm.name not in u["layers"]:
                    u["layers"].append(lm.name)
        return {c: CoreUse(c, u["tiles"], u["neurons"], u["axons"], u["sram"], tuple(u["layers"]))
                for c, u in sorted(use.items())}

    def check(self, hw: HardwareSpec, node_names: list[str]) -> None:
        """Every core id is on the mesh and no core exceeds its capacity; hosts cover nodes."""
        for lm in self.layers:
            for core in lm.tile_cores:
                if not 0 <= core < hw.cores:
                    raise HardwareFitError(f"layer {lm.name!r}: tile on core {core}, the mesh has "
                                           f"{hw.cores} cores")
        for u in self.core_usage(hw).values():
            for what, used, cap in (("neurons", u.neurons, hw.neurons_per_core),
                                    ("axons", u.axons, hw.axons_per_core),
                                    ("weight SRAM bytes", u.sram, hw.weight_sram_bytes)):
                if used > cap:
                    raise HardwareFitError(f"core {u.core} (layers {', '.join(u.layers)}) needs "
                                           f"{used} {what}, the core has {cap}")
        missing = [n for n in node_names if n not in self.hosts]
        if missing:
            raise SimulationError(f"mapping.json: no host core for node {missing[0]!r}")
        for n, core in self.hosts.items():
            if not 0 <= core < hw.cores:
                raise HardwareFitError(f"node {n!r}: host core {core} is not on the mesh")


def spikes_per_input(rate: float, D: int, encoding: str) -> float:
    """Expected events per input per token: rate*D spikes (binary), P(s != 0) <= min(1, rate*D)
    events (graded)."""
    x = rate * D
    return x if encoding == "binary" else min(1.0, x)


def estimate_traffic(layers: tuple[LayerMap, ...] | list[LayerMap], hosts: dict[str, int],
                     hw: HardwareSpec, rate: float,
                     transfers: list[tuple[str, str, int]] = ()) -> dict[str, float]:
    """Expected messages and hops per token (module docstring).

    `transfers` lists (producer node, consumer node, values) of dense values passed between
    nodes; they count when the two hosts differ.
    """
    msgs = hops = 0.0
    max_hops = 0
    for lm in layers:
        host = hosts[lm.name]
        spi = spikes_per_input(rate, lm.D, hw.spike_encoding)
        for r in range(lm.R):
            rows = lm.row_splits[r + 1] - lm.row_splits[r]
            for core in lm.dest_cores(r):
                h = hw.hops(host, core)
                msgs += rows * spi
                hops += rows * spi * h
                max_hops = max(max_hops, h)
        for _r, _c, _rows, cols, core in lm.tiles():
            h = hw.hops(core, host)
            msgs += cols
            hops += cols * h
            max_hops = max(max_hops, h)
    for src, dst, n in transfers:
        h = hw.hops(hosts[src], hosts[dst])
        if h:
            msgs += n
            hops += n * h
            max_hops = max(max_hops, h)
    return {"messages": msgs, "hops": hops, "max_hops": max_hops,
            "mean_hops": hops / msgs if msgs else 0.0}

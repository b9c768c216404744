"""Counter records: what the energy model prices, from the simulator (measured) or from the
IR's per-op accounting at a firing rate (analytic).

`LayerCounters` holds one graph node's counters summed over all `tokens` of a run, with the
field names of the `snncompile-sim/1` layer record (docs/architecture.md, "Simulator
counters") plus the dense (ANN) baseline of the same node:

  dense_macs, dense_acs         the node's arithmetic in the dense Mamba2 model
  dense_weight_bytes_read       the weight bytes the dense model reads (None: not known)
  dense_state_bytes_read/written the state traffic of the dense model (conv and SSM state;
                                 a spike neuron's or accumulator's state has no dense twin)

`CounterSet` is a whole run: layers in graph order, tokens, simulated time (None in analytic
mode), and `meta` (mode, D, LM-head choice, firing rate, ...) carried into the report.

`read_sim_json(path)` parses a `sim.json`; a missing or malformed field raises
`SimulationError` naming it. The simulator's schema has no dense-model memory fields, so
when a layer record lacks them they are derived (each may be given explicitly instead):
  dense_acs                an op the SNN executes exactly as the dense model
                           (`macs == dense_macs`) has `dense_acs = acs` (the residual adds);
                           a spiked op has none
  dense_weight_bytes_read  unchanged ops: their measured bytes; spiked ops (macs != dense_macs):
                           every weight read once per token in the chip's weight format,
                           dense_macs * hardware core.weight_bits / 8; unknown (None) when the
                           sim.json has no hardware description
  dense_state_bytes_*      ops that still multiply (macs == dense_macs > 0): their measured
                           state traffic; spike encoders and spiked projections: 0
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from snncompile.errors import SimulationError

SIM_FORMAT = "snncompile-sim/1"
# counters of a sim.json layer record, in schema order
SIM_COUNTERS = ("acs", "macs", "dense_macs", "spikes", "neuron_updates", "weight_bytes_read",
                "state_bytes_read", "state_bytes_written", "spike_messages", "noc_hops", "cycles")


@dataclass(frozen=True)
class LayerCounters:
    """One node's counters over a run (ints when measured, floats when expected)."""

    name: str
    op: str
    block: int | None = None
    acs: float = 0
    macs: float = 0
    dense_macs: float = 0
    dense_acs: float = 0
    spikes: float = 0
    neuron_updates: float = 0
    weight_bytes_read: float = 0
    dense_weight_bytes_read: float | None = 0
    state_bytes_read: float = 0
    state_bytes_written: float = 0
    dense_state_bytes_read: float = 0
    dense_state_bytes_written: float = 0
    spike_messages: float = 0
    noc_hops: float = 0
    cycles: float = 0

    def counter(self, key: str) -> float:
        return getattr(self, key)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class CounterSet:
    """All nodes of one run. `time_s` is the simulated time (None: not simulated)."""

    layers: tuple[LayerCounters, ...]
    tokens: int = 1
    time_s: float | None = None
    clock_hz: float | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def without_ops(self, op_types: Iterable[str]) -> "CounterSet":
        """The same run with every node of the given op types left out."""
        drop = set(op_types)
        return replace(self, layers=tuple(l for l in self.layers if l.op not in drop))

    def total(self, key: str) -> float:
        return sum(l.counter(key) for l in self.layers)


# -- sim.json ---------------------------------------------------------------------------------
def _count(rec: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> float | None:
    if key not in rec:
        if optional:
            return None
        raise SimulationError(f"{where}: counter {key!r} is missing")
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise SimulationError(f"{where}: counter {key!r} must be a number >= 0, got {v!r}")
    return v


def layer_from_record(rec: Any, index: int, where: str,
                      weight_bits: int | None = None) -> LayerCounters:
    """One `layers[i]` record of a sim.json -> LayerCounters (SimulationError naming it).
    `weight_bits`: the chip's spiked-weight width, for the dense weight-read rule."""
    here = f"{where}: layers[{index}]"
    if not isinstance(rec, Mapping):
        raise SimulationError(f"{here} is not an object")
    name, op = rec.get("name"), rec.get("op")
    if not isinstance(name, str) or not name:
        raise SimulationError(f"{here}.name must be a non-empty string, got {name!r}")
    if not isinstance(op, str) or not op:
        raise SimulationError(f"{here} ({name}).op must be a non-empty string, got {op!r}")
    here = f"{where}: layer {name!r}"
    block = rec.get("block")
    if block is not None and (isinstance(block, bool) or not isinstance(block, int)):
        raise SimulationError(f"{here}: block must be an int or null, got {block!r}")
    vals = {k: _count(rec, k, here) for k in SIM_COUNTERS}
    unchanged = vals["macs"] == vals["dense_macs"]
    dense_acs = _count(rec, "dense_acs", here, optional=True)
    if dense_acs is None:
        dense_acs = vals["acs"] if unchanged else 0
    dense_wb = _count(rec, "dense_weight_bytes_read", here, optional=True)
    if dense_wb is None:
        if unchanged:
            dense_wb = vals["weight_bytes_read"]
        elif weight_bits is not None:
            dense_wb = vals["dense_macs"] * weight_bits / 8
    still_dense = unchanged and vals["macs"] > 0
    dense_state = {}
    for k in ("state_bytes_read", "state_bytes_written"):
        v = _count(rec, f"dense_{k}", here, optional=True)
        dense_state[f"dense_{k}"] = v if v is not None else (vals[k] if still_dense else 0)
    return LayerCounters(name=name, op=op, block=block, dense_acs=dense_acs,
                         dense_weight_bytes_read=dense_wb, **dense_state, **vals)


def parse_sim(data: Any, where: str = "sim.json") -> CounterSet:
    """A parsed sim.json document -> CounterSet (mode "measured")."""
    if not isinstance(data, Mapping):
        raise SimulationError(f"{where}: top level is not an object")
    if data.get("format") != SIM_FORMAT:
        raise SimulationError(f"{where}: format must be {SIM_FORMAT!r}, got {data.get('format')!r}")
    layers = data.get("layers")
    if not isinstance(layers, list) or not layers:
        raise SimulationError(f"{where}: 'layers' must be a non-empty list")
    hardware = data.get("hardware") if isinstance(data.get("hardware"), Mapping) else {}
    core = hardware.get("core") if isinstance(hardware.get("core"), Mapping) else {}
    bits = core.get("weight_bits")
    bits = bits if isinstance(bits, int) and not isinstance(bits, bool) and bits > 0 else None
    recs = tuple(layer_from_record(r, i, where, bits) for i, r in enumerate(layers))
    tokens = data.get("tokens")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise SimulationError(f"{where}: 'tokens' must be a positive int, got {tokens!r}")
    time_s = _count(data, "time_s", where, optional=True)
    clock_hz = _count(data, "clock_hz", where, optional=True)
    meta = {"mode": "measured", "source": where, "program": data.get("program"),
            "hardware": dict(hardware), "text": data.get("text")}
    return CounterSet(recs, tokens=tokens, time_s=time_s, clock_hz=clock_hz, meta=meta)


def read_sim_json(path: str | Path) -> CounterSet:
    """Read a simulator's `sim.json` (SimulationError for a missing or malformed file)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise SimulationError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SimulationError(f"{p.name}: not a readable JSON file ({exc})") from None
    return parse_sim(data, where=p.name)

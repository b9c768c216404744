"""sim.json: a simulated run's counters on disk. This module owns the format (`snncompile-sim/1`,
docs/architecture.md): its schema, its one writer and its one reader.

    {"format": "snncompile-sim/1", "program": ..., "hardware": {HardwareSpec.to_dict()},
     "tokens": n, "text": ..., "clock_hz": f,
     "layers": [{"name", "op", "block", <LAYER_KEYS>, <DENSE_KEYS>}, ...],
     "totals": {<LAYER_KEYS>}, "cycles": int, "time_s": float,
     # extensions (readers may ignore them):
     "encoding": "binary" | "graded", "prompt": ..., "continuation": ...,
     "wall_time_s": float (host seconds the simulation took),
     "cores": [{"core", "row", "col", <CORE_KEYS>}, ...]}

`time_s` is simulated time, cycles / clock_hz. A layer record's DENSE_KEYS are its dense
(ANN) twin (`Simulator.counters`). A file without them (an older writer) gets them derived
on reading: an op the SNN runs as the dense model does (`macs == dense_macs`) keeps its
measured traffic and ACs; a spiked op reads every weight once per token at the hardware's
`core.weight_bits` (unknown, None, without a hardware description) and keeps no state.

`sim_json(counters: RunCounts, ...)` builds the document; `write_sim_json` checks it
(`validate`: every required field, integer counters, totals the sums of the layers) and
writes it atomically. `parse_sim` is the one reading path: `read_sim_json` gives the
`RunCounts`, `read_sim_doc` the checked document (SimulationError naming the field).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from snncompile.atomic import write_text_atomic
from snncompile.errors import SimulationError
from snncompile.ir.counts import Counts, NodeCounts, RunCounts
from snncompile.simulator.counters import LAYER_KEYS

SIM_FORMAT = "snncompile-sim/1"
DENSE_KEYS = ("dense_acs", "dense_weight_bytes_read", "dense_state_bytes_read",
              "dense_state_bytes_written")


def sim_json(counters: RunCounts, *, text: str = "", prompt: str | None = None,
             continuation: str | None = None, wall_time_s: float | None = None
             ) -> dict[str, Any]:
    """The sim.json document of a simulated run (`Simulator.counters`)."""
    meta = counters.meta
    layers = []
    for n in counters.nodes:
        rec: dict[str, Any] = {"name": n.name, "op": n.op, "block": n.block}
        rec.update({k: n.counter(k) for k in LAYER_KEYS})
        rec.update({k: n.counter(k) for k in DENSE_KEYS})
        layers.append(rec)
    totals = {k: sum(r[k] for r in layers) for k in LAYER_KEYS}
    doc: dict[str, Any] = {
        "format": SIM_FORMAT, "program": str(meta.get("program") or ""),
        "hardware": dict(meta.get("hardware") or {}), "tokens": counters.tokens, "text": text,
        "clock_hz": counters.clock_hz, "layers": layers, "totals": totals,
        "cycles": totals["cycles"], "time_s": counters.time_s,
        "encoding": meta.get("encoding"),
    }
    if prompt is not None:
        doc["prompt"] = prompt
    if continuation is not None:
        doc["continuation"] = continuation
    if wall_time_s is not None:
        doc["wall_time_s"] = wall_time_s
    doc["cores"] = [dict(c) for c in counters.cores]
    return doc


def write_sim_json(path: str | Path, doc: dict[str, Any]) -> Path:
    validate(doc)
    write_text_atomic(path, json.dumps(doc, indent=1))
    return Path(path)


def read_sim_doc(path: str | Path) -> dict[str, Any]:
    """The sim.json document at `path`, checked as `parse_sim` checks it."""
    return _load(path)[0]


def read_sim_json(path: str | Path) -> RunCounts:
    """The RunCounts of the sim.json at `path`."""
    return _load(path)[1]


def _load(path: str | Path) -> tuple[dict[str, Any], RunCounts]:
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise SimulationError(f"{p}: no such file") from None
    except OSError as exc:
        raise SimulationError(f"cannot read {str(p)!r}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SimulationError(f"{p.name}: not a readable JSON file ({exc})") from None
    return doc, parse_sim(doc, where=p.name)


def validate(doc: Any) -> None:
    """Check the schema's required fields and that totals are the sums of the layers."""
    if not isinstance(doc, dict):
        raise SimulationError("sim.json: top level is not an object")
    if doc.get("format") != SIM_FORMAT:
        raise SimulationError(f"sim.json: format is {doc.get('format')!r}, expected {SIM_FORMAT!r}")
    for key, typ in (("program", str), ("hardware", dict), ("tokens", int), ("text", str),
                     ("clock_hz", (int, float)), ("layers", list), ("totals", dict),
                     ("cycles", int), ("time_s", (int, float))):
        if not isinstance(doc.get(key), typ) or isinstance(doc.get(key), bool):
            raise SimulationError(f"sim.json: field {key!r} is missing or has the wrong type")
    if doc["tokens"] < 1:
        raise SimulationError(f"sim.json: 'tokens' must be a positive int, got {doc['tokens']!r}")
    if not doc["layers"]:
        raise SimulationError("sim.json: 'layers' must be a non-empty list")
    sums = dict.fromkeys(LAYER_KEYS, 0)
    for i, layer in enumerate(doc["layers"]):
        if not isinstance(layer, dict):
            raise SimulationError(f"sim.json: layers[{i}] is not an object")
        for key in ("name", "op", "block", *LAYER_KEYS):
            if key not in layer:
                raise SimulationError(f"sim.json: layers[{i}] has no field {key!r}")
        for key in LAYER_KEYS:
            v = layer[key]
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise SimulationError(f"sim.json: layers[{i}].{key} must be a non-negative int")
            sums[key] += v
    for key in LAYER_KEYS:
        if doc["totals"].get(key) != sums[key]:
            raise SimulationError(f"sim.json: totals.{key} is not the sum over layers")
    if doc["cycles"] != sums["cycles"]:
        raise SimulationError("sim.json: cycles is not totals.cycles")


# -- reading into the counter record ------------------------------------------------------------
def _count(rec: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> float | None:
    if key not in rec or (optional and rec[key] is None):
        if optional:
            return None
        raise SimulationError(f"{where}: counter {key!r} is missing")
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise SimulationError(f"{where}: counter {key!r} must be a number >= 0, got {v!r}")
    return v


def _node(rec: Any, index: int, where: str, weight_bits: int | None) -> NodeCounts:
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
    vals = {k: _count(rec, k, here) for k in LAYER_KEYS}
    unchanged = vals["macs"] == vals["dense_macs"]
    dense = {k: _count(rec, k, here, optional=True) for k in DENSE_KEYS}
    if dense["dense_acs"] is None:
        dense["dense_acs"] = vals["acs"] if unchanged else 0
    if dense["dense_weight_bytes_read"] is None:
        if unchanged:
            dense["dense_weight_bytes_read"] = vals["weight_bytes_read"]
        elif weight_bits is not None:
            dense["dense_weight_bytes_read"] = vals["dense_macs"] * weight_bits / 8
    still_dense = unchanged and vals["macs"] > 0
    for k in ("state_bytes_read", "state_bytes_written"):
        if dense[f"dense_{k}"] is None:
            dense[f"dense_{k}"] = vals[k] if still_dense else 0
    return NodeCounts(name, op, block, Counts(**vals, **dense))


def parse_sim(data: Any, where: str = "sim.json") -> RunCounts:
    """A parsed sim.json document -> RunCounts (meta mode "measured"); SimulationError naming
    the field for anything malformed, and when `totals` is not the sum over the layers."""
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
    nodes = tuple(_node(r, i, where, bits) for i, r in enumerate(layers))
    tokens = data.get("tokens")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise SimulationError(f"{where}: 'tokens' must be a positive int, got {tokens!r}")
    totals = data.get("totals")
    if not isinstance(totals, Mapping):
        raise SimulationError(f"{where}: field 'totals' is missing or not an object")
    for key in LAYER_KEYS:
        if totals.get(key) != sum(n.counter(key) for n in nodes):
            raise SimulationError(f"{where}: totals.{key} is not the sum over layers")
    if "cycles" in data and data["cycles"] != totals.get("cycles"):
        raise SimulationError(f"{where}: cycles is not totals.cycles")
    time_s = _count(data, "time_s", where, optional=True)
    clock_hz = _count(data, "clock_hz", where, optional=True)
    meta = {"mode": "measured", "source": where, "program": data.get("program"),
            "hardware": dict(hardware), "text": data.get("text"),
            "encoding": data.get("encoding")}
    cores = tuple(c for c in data.get("cores") or () if isinstance(c, Mapping))
    return RunCounts(nodes, tokens=tokens, time_s=time_s, clock_hz=clock_hz, cores=cores,
                     meta=meta)

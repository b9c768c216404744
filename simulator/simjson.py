"""sim.json: a simulated run's counters on disk. This module owns the format (`snncompile-sim/2`,
docs/output-formats.md): its schema, its one writer and its one reader.

    {"format": "snncompile-sim/2", "program": ..., "hardware": {HardwareSpec.to_dict()},
     "encoding": "binary" | "graded", "clock_hz": f,
     "prompt": str, "continuation": str, "token_ids": [generated ids],
     "tokens": n (decoding steps counted: prompt + new - 1),
     "nodes": [{"name", "op", "block", <LAYER_KEYS>, <DENSE_KEYS>}, ...],   # totals over n
     "total": {<LAYER_KEYS>, "time_s"}, "per_token": {<LAYER_KEYS>, "time_s"},
     "wall_time_s": float (host seconds the simulation took),
     "steps", "tiles_used", "sync_cycles": ints (time-stepped network runs only; tokens =
     steps, per_token = per step),
     "cores": [{"core", "row", "col", <CORE_KEYS>}, ...]}

`time_s` is simulated time, cycles / clock_hz. A node record's DENSE_KEYS are its dense
(ANN) twin (`Simulator.counters`). A file without them (an older writer) gets them derived
on reading: an op the SNN runs as the dense model does (`macs == dense_macs`) keeps its
measured traffic and ACs; a spiked op reads every weight once per token at the hardware's
`core.weight_bits` (unknown, None, without a hardware description) and keeps no state.

The reader also accepts version 1 (`snncompile-sim/1`: "layers" for the nodes, "totals",
top-level "cycles" and "time_s", "text" = prompt + continuation) and upgrades it to the
version 2 shape (`upgrade`).

`sim_json(counters: RunCounts, ...)` builds the document; `write_sim_json` checks it
(`validate`: every required field, integer counters, totals the sums of the nodes) and
writes it atomically. `parse_sim` is the one reading path: `read_sim_json` gives the
`RunCounts`, `read_sim_doc` the checked (version 2) document (SimulationError naming the field).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from snncompile.atomic import write_text_atomic
from snncompile.errors import SimulationError
from snncompile.ir.counts import Counts, NodeCounts, RunCounts
from snncompile.simulator.counters import LAYER_KEYS, OPTIONAL_LAYER_KEYS

SIM_FORMAT = "snncompile-sim/2"
SIM_FORMAT_V1 = "snncompile-sim/1"
FORMATS = (SIM_FORMAT, SIM_FORMAT_V1)
DENSE_KEYS = ("dense_acs", "dense_weight_bytes_read", "dense_state_bytes_read",
              "dense_state_bytes_written")


def sim_json(counters: RunCounts, *, prompt: str = "", continuation: str = "",
             token_ids: list[int] | tuple[int, ...] = (), wall_time_s: float | None = None
             ) -> dict[str, Any]:
    """The sim.json document of a simulated run (`Simulator.counters`)."""
    meta = counters.meta
    nodes = []
    for n in counters.nodes:
        rec: dict[str, Any] = {"name": n.name, "op": n.op, "block": n.block}
        rec.update({k: n.counter(k) for k in LAYER_KEYS})
        rec.update({k: n.counter(k) for k in DENSE_KEYS})
        nodes.append(rec)
    total: dict[str, Any] = {k: sum(r[k] for r in nodes) for k in LAYER_KEYS}
    total["time_s"] = counters.time_s
    n_tok = max(counters.tokens, 1)
    per_token = {k: (None if v is None else v / n_tok) for k, v in total.items()}
    doc: dict[str, Any] = {
        "format": SIM_FORMAT, "program": str(meta.get("program") or ""),
        "hardware": dict(meta.get("hardware") or {}), "encoding": meta.get("encoding"),
        "clock_hz": counters.clock_hz, "prompt": prompt, "continuation": continuation,
        "token_ids": [int(t) for t in token_ids], "tokens": counters.tokens,
        "nodes": nodes, "total": total, "per_token": per_token,
    }
    if "steps" in meta:   # a time-stepped network run
        doc["steps"] = int(meta["steps"])
        doc["tiles_used"] = int(meta.get("tiles_used", 0))
        doc["sync_cycles"] = int(meta.get("sync_cycles", 0))
    if wall_time_s is not None:
        doc["wall_time_s"] = wall_time_s
    doc["cores"] = [dict(c) for c in counters.cores]
    return doc


def upgrade(doc: Any) -> Any:
    """A version 1 document in the version 2 shape (anything else unchanged)."""
    if not isinstance(doc, dict) or doc.get("format") != SIM_FORMAT_V1:
        return doc
    new = {k: v for k, v in doc.items() if k not in ("layers", "totals", "cycles", "time_s",
                                                     "text")}
    new["format"] = SIM_FORMAT
    new["nodes"] = doc.get("layers")
    totals = doc.get("totals")
    if isinstance(totals, dict):
        total = dict(totals)
        if "cycles" in doc and doc["cycles"] != totals.get("cycles"):
            total["cycles"] = doc["cycles"]  # caught by the check: cycles is not the sum
        total["time_s"] = doc.get("time_s")
        tokens = doc.get("tokens")
        n = tokens if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0 \
            else 1
        new["per_token"] = {k: v / n if isinstance(v, (int, float)) and not isinstance(v, bool)
                            else v for k, v in total.items()}
    else:
        total = totals
    new["total"] = total
    text, prompt = doc.get("text"), doc.get("prompt")
    new.setdefault("prompt", prompt if isinstance(prompt, str) else "")
    if "continuation" not in new:
        new["continuation"] = (text[len(prompt):] if isinstance(text, str)
                               and isinstance(prompt, str) and text.startswith(prompt) else "")
    new.setdefault("token_ids", [])
    return new


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
    doc = upgrade(doc)
    return doc, parse_sim(doc, where=p.name)


def validate(doc: Any) -> None:
    """Check the schema's required fields and that totals are the sums of the nodes."""
    if not isinstance(doc, dict):
        raise SimulationError("sim.json: top level is not an object")
    if doc.get("format") != SIM_FORMAT:
        raise SimulationError(f"sim.json: format is {doc.get('format')!r}, expected {SIM_FORMAT!r}")
    for key, typ in (("program", str), ("hardware", dict), ("tokens", int), ("prompt", str),
                     ("continuation", str), ("token_ids", list), ("clock_hz", (int, float)),
                     ("nodes", list), ("total", dict), ("per_token", dict)):
        if not isinstance(doc.get(key), typ) or isinstance(doc.get(key), bool):
            raise SimulationError(f"sim.json: field {key!r} is missing or has the wrong type")
    if doc["tokens"] < 1:
        raise SimulationError(f"sim.json: 'tokens' must be a positive int, got {doc['tokens']!r}")
    if not doc["nodes"]:
        raise SimulationError("sim.json: 'nodes' must be a non-empty list")
    sums = dict.fromkeys(LAYER_KEYS, 0)
    for i, node in enumerate(doc["nodes"]):
        if not isinstance(node, dict):
            raise SimulationError(f"sim.json: nodes[{i}] is not an object")
        for key in ("name", "op", "block", *LAYER_KEYS):
            if key not in node and key not in OPTIONAL_LAYER_KEYS:
                raise SimulationError(f"sim.json: nodes[{i}] has no field {key!r}")
        for key in LAYER_KEYS:
            v = node.get(key, 0)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise SimulationError(f"sim.json: nodes[{i}].{key} must be a non-negative int")
            sums[key] += v
    for key in LAYER_KEYS:
        if key in OPTIONAL_LAYER_KEYS and key not in doc["total"]:
            continue
        if doc["total"].get(key) != sums[key]:
            raise SimulationError(f"sim.json: total.{key} is not the sum over nodes")
    if not isinstance(doc["total"].get("time_s"), (int, float)):
        raise SimulationError("sim.json: field 'total.time_s' is missing or has the wrong type")


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
    here = f"{where}: nodes[{index}]"
    if not isinstance(rec, Mapping):
        raise SimulationError(f"{here} is not an object")
    name, op = rec.get("name"), rec.get("op")
    if not isinstance(name, str) or not name:
        raise SimulationError(f"{here}.name must be a non-empty string, got {name!r}")
    if not isinstance(op, str) or not op:
        raise SimulationError(f"{here} ({name}).op must be a non-empty string, got {op!r}")
    here = f"{where}: node {name!r}"
    block = rec.get("block")
    if block is not None and (isinstance(block, bool) or not isinstance(block, int)):
        raise SimulationError(f"{here}: block must be an int or null, got {block!r}")
    vals = {k: (_count(rec, k, here) if k in rec or k not in OPTIONAL_LAYER_KEYS else 0)
            for k in LAYER_KEYS}
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
    """A parsed sim.json document (version 2, or version 1, upgraded) -> RunCounts (meta mode
    "measured"); SimulationError naming the field for anything malformed, and when `total` is
    not the sum over the nodes."""
    data = upgrade(data)
    if not isinstance(data, Mapping):
        raise SimulationError(f"{where}: top level is not an object")
    if data.get("format") not in FORMATS:
        raise SimulationError(f"{where}: format must be {SIM_FORMAT!r} (or {SIM_FORMAT_V1!r}), "
                              f"got {data.get('format')!r}")
    nodes_in = data.get("nodes")
    if not isinstance(nodes_in, list) or not nodes_in:
        raise SimulationError(f"{where}: 'nodes' must be a non-empty list")
    hardware = data.get("hardware") if isinstance(data.get("hardware"), Mapping) else {}
    core = hardware.get("core") if isinstance(hardware.get("core"), Mapping) else {}
    bits = core.get("weight_bits")
    bits = bits if isinstance(bits, int) and not isinstance(bits, bool) and bits > 0 else None
    nodes = tuple(_node(r, i, where, bits) for i, r in enumerate(nodes_in))
    tokens = data.get("tokens")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise SimulationError(f"{where}: 'tokens' must be a positive int, got {tokens!r}")
    total = data.get("total")
    if not isinstance(total, Mapping):
        raise SimulationError(f"{where}: field 'total' is missing or not an object")
    for key in LAYER_KEYS:
        if key in OPTIONAL_LAYER_KEYS and key not in total:
            continue   # an older writer's total: the key was not counted then
        if total.get(key) != sum(n.counter(key) for n in nodes):
            raise SimulationError(f"{where}: total.{key} is not the sum over nodes")
    time_s = _count(total, "time_s", where, optional=True)
    clock_hz = _count(data, "clock_hz", where, optional=True)
    prompt, continuation = data.get("prompt"), data.get("continuation")
    meta = {"mode": "measured", "source": where, "program": data.get("program"),
            "hardware": dict(hardware), "encoding": data.get("encoding"),
            "prompt": prompt if isinstance(prompt, str) else None,
            "continuation": continuation if isinstance(continuation, str) else None}
    if "steps" in data:   # a time-stepped network run: its tokens are steps
        steps = _count(data, "steps", where)
        if steps != tokens:
            raise SimulationError(f"{where}: steps ({steps}) differs from tokens ({tokens})")
        meta["steps"] = steps
    cores = tuple(c for c in data.get("cores") or () if isinstance(c, Mapping))
    return RunCounts(nodes, tokens=tokens, time_s=time_s, clock_hz=clock_hz, cores=cores,
                     meta=meta)

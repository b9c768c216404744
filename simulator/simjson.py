"""sim.json: the simulator's counters on disk (format `snncompile-sim/1`, docs/architecture.md).

    {"format": "snncompile-sim/1", "program": ..., "hardware": {HardwareSpec.to_dict()},
     "tokens": n, "text": ..., "clock_hz": f,
     "layers": [{"name", "op", "block", <LAYER_KEYS>}, ...], "totals": {<LAYER_KEYS>},
     "cycles": int, "time_s": float,
     # extensions (readers may ignore them):
     "encoding": "binary" | "graded", "prompt": ..., "continuation": ...,
     "wall_time_s": float (host seconds the simulation took),
     "cores": [{"core", "row", "col", <CORE_KEYS>}, ...]}

`time_s` is simulated time, cycles / clock_hz. `sim_json(...)` builds the document,
`write_sim_json` writes it atomically, `read_sim_json` loads and checks it (SimulationError
naming the field).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from snncompile.atomic import write_text_atomic
from snncompile.errors import SimulationError
from snncompile.simulator.counters import LAYER_KEYS, SimCounters

SIM_FORMAT = "snncompile-sim/1"


def sim_json(counters: SimCounters, hw, program: str, text: str = "", *,
             encoding: str | None = None, prompt: str | None = None,
             continuation: str | None = None, wall_time_s: float | None = None) -> dict[str, Any]:
    cycles = counters.cycles
    doc: dict[str, Any] = {
        "format": SIM_FORMAT, "program": program, "hardware": hw.to_dict(),
        "tokens": counters.tokens, "text": text, "clock_hz": hw.clock_hz,
        "layers": counters.layer_dicts(), "totals": counters.totals(),
        "cycles": cycles, "time_s": cycles / hw.clock_hz,
        "encoding": encoding or hw.spike_encoding,
    }
    if prompt is not None:
        doc["prompt"] = prompt
    if continuation is not None:
        doc["continuation"] = continuation
    if wall_time_s is not None:
        doc["wall_time_s"] = wall_time_s
    doc["cores"] = counters.core_dicts(hw)
    return doc


def write_sim_json(path: str | Path, doc: dict[str, Any]) -> Path:
    validate(doc)
    write_text_atomic(path, json.dumps(doc, indent=1))
    return Path(path)


def read_sim_json(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except OSError as exc:
        raise SimulationError(f"cannot read {str(p)!r}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SimulationError(f"{p}: not a JSON file ({exc})") from None
    try:
        validate(doc)
    except SimulationError as exc:
        raise SimulationError(f"{p}: {exc}") from None
    return doc


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

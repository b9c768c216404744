"""Dense baselines: the dense accelerator an SNN is compared with, as data, and its pricing.

A baseline is a TOML file (format `snncompile-dense/1`, bundled ones in energy/baselines/,
docs/baselines.md). Every number is `{ value = X, source = "..." }`: a citation, "[derived] ..."
(arithmetic on cited numbers) or "ASSUMPTION ..." (our own choice):

    format = "snncompile-dense/1"
    name = "dense-45nm"
    description = "..."
    technology = "45nm"                  # compared only with cost tables of this technology
    twin_of = { tables = ["horowitz-45nm"], presets = [] }   # whose dense twin it is

    [mac_array]                          # the arithmetic of one accelerator unit
    lanes = { value = 256, source = "..." }           # MACs per cycle
    precision = { value = "fp32", source = "..." }
    clock_hz = { value = 1e9, source = "..." }
    pipeline_depth = { value = 8, source = "..." }    # cycles to fill, once per node and token
    mac_pj = { value = 4.6, source = "..." }          # one multiply-accumulate
    add_pj = { value = 0.9, source = "..." }          # one addition (residual adds: dense_acs)

    [memory.weight_sram]                 # named levels, each of a kind: register, sram, dram
    kind = "sram"
    size_bytes = { value = 1048576, source = "..." }
    bandwidth_bytes_per_s = { value = 8e9, source = "..." }
    pj_per_access = { value = 100.0, source = "..." }  # with bytes_per_access, or pj_per_byte
    bytes_per_access = { value = 8, source = "..." }

    [dataflow]
    weights = "weight_sram"              # the level the weights live in and stream from
    state = "state_sram"                     # conv/SSM state (omit: not priced, say why below)
    activations = "register"             # activations stay in the register level

    [not_priced]                         # optional {what: reason}: state, static_power
    static_power = "..."
    # optional: static_watts = { value = W, source = "..." }

Dataflow (batch-1 decoding, one token; docs/baselines.md). Nodes run one after another. A
node's weights stream from the level they live in into the MAC array, double-buffered, so the
stream and the arithmetic overlap; its state is read and written at the state level:

    E_node  = mac_pj * dense_macs + add_pj * dense_acs                       (arithmetic)
              + pj_per_byte(weights) * dense_weight_bytes_read                (weight reads)
              + pj_per_byte(state) * (dense_state_bytes_read + _written)      (state traffic)
              + static_watts * t_node                                         (when given)
    n_node  = max(1, ceil(node weight bytes per token / size(weights)))   units holding them
    t_node  = max((dense_macs + dense_acs) / (n_node * lanes),
                  dense_weight_bytes_read / (n_node * BW(weights)) * clock_hz,
                  dense_state_bytes / BW(state) * clock_hz) + pipeline_depth   [cycles]
              / clock_hz
Activations live in the register level; Horowitz's per-operation energies already read their
operands from registers, so activations add no energy (spike/message buffers: 0 on this side).
The description is one unit; a model whose weights exceed the weight level's size runs on
ceil(W / size) units (`units`), split by layers, and a node whose own weights exceed it is
split over n_node units that stream in parallel, as the SNN chip spreads a layer over the
cores its weights need. At batch 1 a token passes the nodes in sequence.

Comparisons (`compare`): an SNN report (its cost table) against a baseline. Refused with
`BaselineError` when the technologies differ, or when one side prices memory (weight reads,
state traffic) or static power that the other does not, except with the paper's
arithmetic-only method (`method="arithmetic"`, AC + MAC on both sides, labelled
`ARITHMETIC_ONLY` wherever it appears), which a table that prices no memory at all gets by
default. ratio = E_dense / E_SNN; latency_ratio = latency_dense / latency_SNN (above 1: the
SNN is faster).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from snncompile.energy.price import Energy, EnergyReport, has_spike_inputs, sum_energy
from snncompile.energy.table import CostTable
from snncompile.errors import BaselineError
from snncompile.ir.counts import NodeCounts, RunCounts

FORMAT = "snncompile-dense/1"
BASELINES_DIR = Path(__file__).resolve().parent / "baselines"
LEVELS = ("register", "sram", "dram")
METHODS = ("twin", "arithmetic")
ARITHMETIC_ONLY = "arithmetic only (the paper's method: AC + MAC, no memory)"
TWIN = "dense twin (arithmetic, weight reads, state traffic as both sides price them)"
MAX_VALUE = 1e30


@dataclass(frozen=True)
class Sourced:
    """One number of a baseline with its source."""

    value: Any
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source}


@dataclass(frozen=True)
class MemoryLevel:
    name: str
    kind: str
    size_bytes: Sourced
    bandwidth_bytes_per_s: Sourced
    pj_per_byte: float
    energy_source: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "size_bytes": self.size_bytes.value,
                "bandwidth_bytes_per_s": self.bandwidth_bytes_per_s.value,
                "energy_per_byte_j": self.pj_per_byte * 1e-12, "source": self.energy_source}


@dataclass(frozen=True)
class DenseBaseline:
    """A validated dense-accelerator description (module docstring)."""

    name: str
    description: str
    technology: str
    path: str
    twin_tables: tuple[str, ...]
    twin_presets: tuple[str, ...]
    lanes: Sourced
    precision: Sourced
    clock_hz: Sourced
    pipeline_depth: Sourced
    mac_pj: Sourced
    add_pj: Sourced
    levels: Mapping[str, MemoryLevel]
    weights_level: str
    state_level: str | None
    activations_level: str
    static_watts: Sourced | None = None
    not_priced: Mapping[str, str] = field(default_factory=dict)

    @property
    def prices_state(self) -> bool:
        return self.state_level is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "path": self.path, "description": self.description,
            "technology": self.technology,
            "twin_of": {"tables": list(self.twin_tables), "presets": list(self.twin_presets)},
            "mac_array": {k: getattr(self, k).as_dict() for k in
                          ("lanes", "precision", "clock_hz", "pipeline_depth")}
            | {"mac_energy_j": self.mac_pj.value * 1e-12, "add_energy_j": self.add_pj.value * 1e-12,
               "mac_source": self.mac_pj.source, "add_source": self.add_pj.source},
            "memory": {k: v.as_dict() for k, v in self.levels.items()},
            "dataflow": {"weights": self.weights_level, "state": self.state_level,
                         "activations": self.activations_level},
            "static_watts": None if self.static_watts is None else self.static_watts.as_dict(),
            "not_priced": dict(self.not_priced),
        }


# -- loading ------------------------------------------------------------------------------------
def list_baselines() -> list[str]:
    """Names of the bundled baselines (files in energy/baselines/)."""
    return sorted(p.stem for p in BASELINES_DIR.glob("*.toml"))


def baseline_path(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    p = Path(text)
    if p.suffix == ".toml" or p.parent != Path("."):
        if not _is_file(p):
            raise BaselineError(f"dense baseline file {text[:120]!r} does not exist")
        return p
    bundled = BASELINES_DIR / f"{text}.toml"
    if not _is_file(bundled):
        raise BaselineError(f"unknown dense baseline {text[:120]!r}: choose one of "
                            f"{list_baselines()} or give a .toml path")
    return bundled


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except (OSError, ValueError):
        return False


def load_baseline(name_or_path: str | Path) -> DenseBaseline:
    """Read and validate a baseline (bundled name or file path); raises BaselineError."""
    path = baseline_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BaselineError(f"dense baseline {path.name}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"dense baseline {path.name}: cannot be read ({exc})") from None
    return parse_baseline(data, where=path.name, path=str(path))


def _str(where: str, f: str, v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise BaselineError(f"dense baseline {where}: {f} must be a non-empty string, got {v!r:.60}")
    return v


def _table(where: str, f: str, v: Any) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise BaselineError(f"dense baseline {where}: [{f}] must be a table")
    return v


def _sourced(where: str, f: str, v: Any, *, kind: str = "number", positive: bool = False,
             integer: bool = False) -> Sourced:
    if not isinstance(v, Mapping) or set(v) != {"value", "source"}:
        raise BaselineError(f"dense baseline {where}: {f} must be {{ value = ..., source = "
                            "\"...\" }: every number needs its source")
    src = _str(where, f"{f}.source", v["source"])
    x = v["value"]
    if kind == "string":
        return Sourced(_str(where, f"{f}.value", x), src)
    ok = (isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
          and 0 <= x <= MAX_VALUE and (x > 0 or not positive)
          and (not integer or float(x).is_integer()))
    if not ok:
        what = ("a positive integer" if integer else
                "a positive finite number" if positive else "a finite number >= 0")
        raise BaselineError(f"dense baseline {where}: {f}.value must be {what}, got {x!r:.60}")
    return Sourced(int(x) if integer else float(x), src)


def _level(where: str, name: str, raw: Any) -> MemoryLevel:
    f = f"memory.{name}"
    t = _table(where, f, raw)
    known = {"kind", "size_bytes", "bandwidth_bytes_per_s", "pj_per_access", "bytes_per_access",
             "pj_per_byte"}
    kind = t.get("kind")
    if kind not in LEVELS:
        raise BaselineError(f"dense baseline {where}: {f}.kind must be one of {list(LEVELS)}, "
                            f"got {kind!r:.40}")
    extra = set(t) - known
    if extra:
        raise BaselineError(f"dense baseline {where}: {f}.{sorted(extra)[0]} is not a known "
                            f"field (known: {sorted(known)})")
    for k in ("size_bytes", "bandwidth_bytes_per_s"):
        if k not in t:
            raise BaselineError(f"dense baseline {where}: {f}.{k} is missing")
    size = _sourced(where, f"{f}.size_bytes", t["size_bytes"], positive=True)
    bw = _sourced(where, f"{f}.bandwidth_bytes_per_s", t["bandwidth_bytes_per_s"], positive=True)
    if "pj_per_byte" in t:
        if "pj_per_access" in t or "bytes_per_access" in t:
            raise BaselineError(f"dense baseline {where}: {f}: give pj_per_byte or "
                                "pj_per_access with bytes_per_access, not both")
        e = _sourced(where, f"{f}.pj_per_byte", t["pj_per_byte"])
        return MemoryLevel(name, kind, size, bw, e.value, e.source)
    if "pj_per_access" not in t or "bytes_per_access" not in t:
        raise BaselineError(f"dense baseline {where}: {f} needs pj_per_byte, or pj_per_access "
                            "with bytes_per_access")
    acc = _sourced(where, f"{f}.pj_per_access", t["pj_per_access"])
    bpa = _sourced(where, f"{f}.bytes_per_access", t["bytes_per_access"], positive=True,
                   integer=True)
    return MemoryLevel(name, kind, size, bw, float(f"{acc.value / bpa.value:.12g}"),
                       f"{acc.source}; per access of {bpa.value} bytes ({bpa.source})")


def parse_baseline(data: Mapping[str, Any], *, where: str = "<baseline>",
                   path: str = "") -> DenseBaseline:
    """Validate a parsed TOML document into a `DenseBaseline` (raises BaselineError)."""
    if not isinstance(data, Mapping):
        raise BaselineError(f"dense baseline {where}: top level must be a table")
    known = {"format", "name", "description", "technology", "twin_of", "mac_array", "memory",
             "dataflow", "static_watts", "not_priced"}
    extra = set(data) - known
    if extra:
        raise BaselineError(f"dense baseline {where}: {sorted(extra)[0]} is not a known field")
    if data.get("format") != FORMAT:
        raise BaselineError(f"dense baseline {where}: format must be {FORMAT!r}, got "
                            f"{data.get('format')!r:.60}")
    name = _str(where, "name", data.get("name"))
    description = _str(where, "description", data.get("description"))
    technology = _str(where, "technology", data.get("technology"))
    twin = _table(where, "twin_of", data.get("twin_of", {}))
    twins: dict[str, tuple[str, ...]] = {}
    for k in ("tables", "presets"):
        v = twin.get(k, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise BaselineError(f"dense baseline {where}: twin_of.{k} must be a list of names")
        twins[k] = tuple(v)
    extra = set(twin) - {"tables", "presets"}
    if extra:
        raise BaselineError(f"dense baseline {where}: twin_of.{sorted(extra)[0]} is not a "
                            "known field (tables, presets)")

    mac = _table(where, "mac_array", data.get("mac_array"))
    mac_keys = {"lanes", "precision", "clock_hz", "pipeline_depth", "mac_pj", "add_pj"}
    for k in sorted(mac_keys):
        if k not in mac:
            raise BaselineError(f"dense baseline {where}: mac_array.{k} is missing")
    extra = set(mac) - mac_keys
    if extra:
        raise BaselineError(f"dense baseline {where}: mac_array.{sorted(extra)[0]} is not a "
                            f"known field (known: {sorted(mac_keys)})")
    lanes = _sourced(where, "mac_array.lanes", mac["lanes"], positive=True, integer=True)
    precision = _sourced(where, "mac_array.precision", mac["precision"], kind="string")
    clock = _sourced(where, "mac_array.clock_hz", mac["clock_hz"], positive=True)
    pipe = _sourced(where, "mac_array.pipeline_depth", mac["pipeline_depth"])
    mac_pj = _sourced(where, "mac_array.mac_pj", mac["mac_pj"])
    add_pj = _sourced(where, "mac_array.add_pj", mac["add_pj"])

    mem = _table(where, "memory", data.get("memory"))
    if not mem:
        raise BaselineError(f"dense baseline {where}: [memory] needs at least one level")
    levels: dict[str, MemoryLevel] = {}
    for lname, raw in mem.items():
        levels[lname] = _level(where, lname, raw)

    flow = _table(where, "dataflow", data.get("dataflow"))
    extra = set(flow) - {"weights", "state", "activations"}
    if extra:
        raise BaselineError(f"dense baseline {where}: dataflow.{sorted(extra)[0]} is not a "
                            "known field (weights, state, activations)")
    not_priced_raw = _table(where, "not_priced", data.get("not_priced", {}))
    not_priced = {k: _str(where, f"not_priced.{k}", v) for k, v in not_priced_raw.items()}
    extra = set(not_priced) - {"state", "static_power"}
    if extra:
        raise BaselineError(f"dense baseline {where}: not_priced.{sorted(extra)[0]} is not "
                            "known (state, static_power)")

    def level_of(key: str, required: bool) -> str | None:
        v = flow.get(key)
        if v is None:
            if required:
                raise BaselineError(f"dense baseline {where}: dataflow.{key} is missing (the "
                                    "level it lives in)")
            return None
        if v not in levels:
            raise BaselineError(f"dense baseline {where}: dataflow.{key} = {v!r:.40} is not a "
                                f"memory level of this file (have: {sorted(levels)})")
        return v

    weights = level_of("weights", True)
    activations = level_of("activations", True)
    state = level_of("state", False)
    if state is None and "state" not in not_priced:
        raise BaselineError(f"dense baseline {where}: dataflow.state is missing; give its level "
                            "or say why it is not priced (not_priced.state)")
    if state is not None and "state" in not_priced:
        raise BaselineError(f"dense baseline {where}: not_priced.state: dataflow.state prices it")
    static = None
    if "static_watts" in data:
        static = _sourced(where, "static_watts", data["static_watts"])
        if "static_power" in not_priced:
            raise BaselineError(f"dense baseline {where}: not_priced.static_power: "
                                "static_watts prices it")
    elif "static_power" not in not_priced:
        raise BaselineError(f"dense baseline {where}: give static_watts or say why it is not "
                            "priced (not_priced.static_power)")
    assert weights is not None and activations is not None
    return DenseBaseline(name, description, technology, path, twins["tables"],
                         twins["presets"], lanes, precision, clock, pipe, mac_pj, add_pj,
                         levels, weights, state, activations, static, not_priced)


def twin_of_table(table: CostTable | str) -> str | None:
    """The bundled baseline that names `table` (a CostTable or a table name) as its twin."""
    name = table if isinstance(table, str) else table.name
    for b in list_baselines():
        if name in load_baseline(b).twin_tables:
            return b
    return None


def twin_of_preset(preset: str) -> str | None:
    """The bundled baseline that names the accum hardware preset `preset` as its twin."""
    for b in list_baselines():
        if preset in load_baseline(b).twin_presets:
            return b
    return None


# -- pricing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DenseNode:
    """One node on the dense baseline: energy (pJ) and time (s) over the run's tokens."""

    counters: NodeCounts
    energy: Energy
    time_s: float
    bound: str  # "compute" | "weights" | "state" | "none"

    @property
    def name(self) -> str:
        return self.counters.name


@dataclass(frozen=True)
class DenseRun:
    """The dense model priced and timed on a baseline (module docstring)."""

    baseline: DenseBaseline
    nodes: tuple[DenseNode, ...]
    tokens: int
    units: int

    @property
    def energy(self) -> Energy:
        return sum_energy(n.energy for n in self.nodes)

    @property
    def time_s(self) -> float:
        return sum(n.time_s for n in self.nodes)


def price_dense(counters: RunCounts, baseline: DenseBaseline, *,
                memory: bool = True) -> DenseRun:
    """Energy and time of the dense model of `counters` on `baseline` (pure). `memory=False`
    prices arithmetic only (the paper's method); the time is the full dataflow's either way.
    Raises BaselineError when the dense weight reads of a node are unknown and memory is
    priced."""
    b = baseline
    lanes, clock = b.lanes.value, b.clock_hz.value
    wl = b.levels[b.weights_level]
    sl = b.levels[b.state_level] if b.state_level is not None else None
    k = max(counters.tokens, 1)
    nodes: list[DenseNode] = []
    total_wb = 0.0
    for c in counters.nodes:
        wb = c.dense_weight_bytes_read
        if wb is None:
            if memory:
                raise BaselineError(f"dense weight reads unknown for node {c.name!r} (an old "
                                    "sim.json?): the dense twin cannot price its weight reads; "
                                    "use the arithmetic-only method")
            wb = 0.0
        sb = c.dense_state_bytes_read + c.dense_state_bytes_written
        work = c.dense_macs + c.dense_acs
        n = max(1, math.ceil(wb / k / wl.size_bytes.value))
        cyc = {"compute": work / (n * lanes),
               "weights": wb / (n * wl.bandwidth_bytes_per_s.value) * clock,
               "state": (sb / sl.bandwidth_bytes_per_s.value * clock) if sl is not None else 0.0}
        bound = max(cyc, key=lambda key: cyc[key])
        busy = cyc[bound]
        if busy <= 0:
            bound = "none"
        cycles = busy + (b.pipeline_depth.value * k if busy > 0 else 0.0)
        t = cycles / clock
        weights = wl.pj_per_byte * wb if memory else 0.0
        state = sl.pj_per_byte * sb if (memory and sl is not None) else 0.0
        static = (b.static_watts.value * t * 1e12) if (memory and b.static_watts) else 0.0
        e = Energy(ac=b.add_pj.value * c.dense_acs, mac=b.mac_pj.value * c.dense_macs,
                   memory=weights + state, memory_weights=weights, memory_state=state,
                   static=static)
        nodes.append(DenseNode(c, e, t, bound))
        total_wb += wb / k
    units = max(1, math.ceil(total_wb / wl.size_bytes.value))
    return DenseRun(b, tuple(nodes), counters.tokens, units)


# -- SNN latency --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Latency:
    """The SNN side's time over the run's tokens: per node (graph order) and in total.
    basis: "simulated" (the simulator's cycles) or "analytic estimate" (`snn_latency`)."""

    per_node_s: tuple[float, ...]
    total_s: float
    basis: str
    hardware: str


def _hw(hw: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = hw
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            if default is not None:
                return default
            raise BaselineError(f"hardware description has no field {dotted!r}")
        node = node[part]
    return node


def _sync_cycles(hw: Mapping[str, Any], cores: int) -> float:
    table = _hw(hw, "sync.sync_table", [])
    if table:
        th, tw = _hw(hw, "chip.tile", [1, 1])
        tiles = max(1, math.ceil(cores / max(1, th * tw)))
        best = table[0][1]
        for n, cyc in table:
            if tiles >= n:
                best = cyc
        return float(best)
    return float(_hw(hw, "sync.barrier_cycles"))


def snn_latency(counters: RunCounts, hardware: Mapping[str, Any] | None = None) -> Latency | None:
    """The SNN's time: the simulator's when `counters` were simulated (per node `cycles` /
    clock), else an analytic estimate on `hardware` (a HardwareSpec dict), else None.

    Analytic estimate, per token, for a node with spike inputs (its weights on
    n = ceil(dense weight bytes / core.weight_sram_bytes) cores, load balanced, S = D
    micro-steps for binary spikes, 1 for graded):
        cycles = acs * synapse_cycles / (n * ac_lanes) + S * (sync + pipeline_depth)
    sync = the sync table's entry for the tiles in use, or sync.barrier_cycles; every other
    node on the dense unit of each of the m = max(1, ceil(dense weight bytes / (chip.cores *
    core.weight_sram_bytes))) chips its weights need (as the dense twin scales out):
        cycles = (macs + acs + neuron_updates) / (m * mac_lanes) + pipeline_depth
    NoC latency is left out: a lower bound on the simulated time."""
    if counters.time_s is not None and counters.clock_hz:
        per = tuple(n.cycles / counters.clock_hz for n in counters.nodes)
        name = (counters.meta.get("hardware") or {}).get("chip", {}).get("name", "simulated")
        return Latency(per, float(counters.time_s), "simulated", str(name))
    if hardware is None:
        return None
    clock = float(_hw(hardware, "chip.clock_hz"))
    sram = float(_hw(hardware, "core.weight_sram_bytes"))
    ac_lanes = float(_hw(hardware, "core.ac_lanes"))
    pipe = float(_hw(hardware, "core.pipeline_depth"))
    syn = float(_hw(hardware, "timing.synapse_cycles", 1) or 1)
    mac_lanes = float(_hw(hardware, "dense_unit.mac_lanes"))
    dpipe = float(_hw(hardware, "dense_unit.pipeline_depth"))
    binary = _hw(hardware, "spikes.encoding") == "binary"
    D = counters.meta.get("D") or 1
    D = max(D) if isinstance(D, (list, tuple)) else int(D)
    k = max(counters.tokens, 1)
    per: list[float] = []
    for c in counters.nodes:
        if has_spike_inputs(c.op):
            wb = (c.dense_weight_bytes_read or c.dense_macs * _hw(hardware, "core.weight_bits") / 8)
            cores = max(1, math.ceil(wb / k / sram))
            S = D if binary else 1
            cyc = (c.acs / k * syn / (cores * ac_lanes)
                   + S * (_sync_cycles(hardware, cores) + pipe))
        else:
            work = (c.macs + c.acs + c.neuron_updates) / k
            chips = max(1, math.ceil((c.dense_weight_bytes_read or 0) / k
                                     / (sram * float(_hw(hardware, "chip.cores")))))
            cyc = work / (chips * mac_lanes) + (dpipe if work > 0 else 0.0)
        per.append(cyc * k / clock)
    return Latency(tuple(per), sum(per), "analytic estimate",
                   str(_hw(hardware, "chip.name", "hardware")))


# -- comparison ---------------------------------------------------------------------------------
def memory_coverage(table: CostTable) -> dict[str, bool]:
    """What a cost table prices beyond arithmetic: weight reads, state traffic, static power."""
    p = table.prices
    return {"weights": "weight_read" in p, "state": "state_read" in p or "state_write" in p,
            "static": "static_power" in p}


def baseline_coverage(b: DenseBaseline) -> dict[str, bool]:
    return {"weights": True, "state": b.prices_state, "static": b.static_watts is not None}


def choose_method(table: CostTable, baseline: DenseBaseline, method: str | None = None) -> str:
    """The comparison method, or BaselineError when the sides are not comparable.

    Technologies must match. method=None: "arithmetic" for a table that prices no memory
    (the paper's method), else "twin", which needs the same coverage on both sides."""
    if method is not None and method not in METHODS:
        raise BaselineError(f"comparison method must be one of {METHODS}, got {method!r}")
    if not table.technology:
        raise BaselineError(f"cost table {table.name!r} declares no technology: cannot compare "
                            f"it with dense baseline {baseline.name!r} (add technology = ...)")
    if table.technology != baseline.technology:
        raise BaselineError(
            f"refused: cost table {table.name!r} is {table.technology}, dense baseline "
            f"{baseline.name!r} is {baseline.technology}: a ratio across technologies compares "
            "the technologies, not SNN and dense")
    cov, bcov = memory_coverage(table), baseline_coverage(baseline)
    if method is None:
        method = "arithmetic" if not (cov["weights"] or cov["state"]) else "twin"
    if method == "twin":
        diff = [k for k in ("weights", "state", "static") if cov[k] != bcov[k]]
        if diff:
            what = {"weights": "weight reads", "state": "state traffic", "static": "static power"}

            def side(c: Mapping[str, bool]) -> str:
                got = [what[k] for k in what if c[k]]
                return ", ".join(got) if got else "arithmetic only"
            raise BaselineError(
                f"refused: cost table {table.name!r} prices {side(cov)}, dense baseline "
                f"{baseline.name!r} prices {side(bcov)} ({what[diff[0]]} on one side only); "
                "use a matching pair, or --method arithmetic for the paper's arithmetic-only "
                "method")
    return method


@dataclass(frozen=True)
class Comparison:
    """An SNN report against a named dense baseline (module docstring)."""

    method: str
    report: EnergyReport
    dense: DenseRun
    latency: Latency | None

    @property
    def label(self) -> str:
        return ARITHMETIC_ONLY if self.method == "arithmetic" else TWIN

    def snn_node_energy(self, i: int) -> Energy:
        e = self.report.layers[i].snn
        return e if self.method == "twin" else Energy(ac=e.ac, mac=e.mac)

    @property
    def snn_energy(self) -> Energy:
        return sum_energy(self.snn_node_energy(i) for i in range(len(self.report.layers)))

    @property
    def dense_energy(self) -> Energy:
        return self.dense.energy

    @property
    def ratio(self) -> float | None:
        """E_dense / E_SNN."""
        s = self.snn_energy.total
        return self.dense_energy.total / s if s > 0 else None

    @property
    def latency_ratio(self) -> float | None:
        """latency_dense / latency_SNN (above 1: the SNN is faster)."""
        if self.latency is None or self.latency.total_s <= 0:
            return None
        return self.dense.time_s / self.latency.total_s

    @property
    def snn_hardware(self) -> str:
        return self.latency.hardware if self.latency is not None else "none (cost table only)"


def compare(report: EnergyReport, baseline: DenseBaseline, *, method: str | None = None,
            hardware: Mapping[str, Any] | None = None) -> Comparison:
    """`report` (the SNN priced with its table) against `baseline`; `hardware` (a HardwareSpec
    dict) gives the SNN's analytic latency when the counters were not simulated. Raises
    BaselineError when the sides are not comparable (`choose_method`). Without a `method`,
    counters whose dense weight reads are unknown (an old sim.json) get the arithmetic-only
    method, as `EnergyReport.ratio` falls back to it."""
    m = choose_method(report.table, baseline, method)
    if method is None and not report.ann_memory_known:
        m = "arithmetic"   # the dense weight reads are unknown (an old sim.json): labelled
    dense = price_dense(report.counters, baseline, memory=(m == "twin"))
    return Comparison(m, report, dense, snn_latency(report.counters, hardware))

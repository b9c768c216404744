"""Cost tables: energy constants of one technology or chip, each with its source, and the
mapping from simulator counters to those constants.

A table is a TOML file (format `snncompile-cost/1`):

    format = "snncompile-cost/1"
    name = "paper-45nm"
    description = "..."            # what the table models, its assumptions
    technology = "45nm"            # optional: the technology it prices (energy/baseline.py
                                   # compares it only with a dense baseline of the same one)

    [constants.fp32_add]           # one constant: exactly one value key, and a source
    pj = 0.9                       #   pj     energy per event, picojoules
    source = "Horowitz, ISSCC 2014: ..."
    [constants.fp32_mac]
    sum_of = ["fp32_mult", "fp32_add"]   # derived constants: sum_of / mean_of other constants
    source = "[derived] ..."
    [constants.idle]
    watts = 0.02                   #   watts  a power (only for `static_power`)
    source = "..."
    [constants.hop]
    from_hardware = "noc.hop_energy_pj"  # a pJ value read from a hardware description
    source = "..."

A table whose constants use `from_hardware` names its default accumulate-core preset at the
top (`hardware = "default"`); the value is read from the hardware description given to
`load_table(..., hardware=...)` as data (a HardwareSpec dict; in measured mode the `hardware`
entry of sim.json, so the table follows the simulated chip). The energy package never loads a
hardware preset itself: `hardware_preset(name)` tells the caller (CLI, demo, sweep) which
preset the table defaults to, and the caller resolves it. One number, one place: the hardware
file.

    [prices]                       # which constant prices which counter
    ac = "fp32_add"
    mac = "fp32_mac"
    weight_read = { constant = "sram_1mb_64b", bytes_per_access = 8 }

Price keys (the closed set `PRICES`): each names the counter it multiplies and the component
of the report it adds to. Memory prices are per access of `bytes_per_access` bytes, so
energy = bytes / bytes_per_access * pj. `static_power` (watts) is multiplied by simulated time.
`noc_hop_ns`, when given, prices the north-south hops (`noc_hops_ns`) and `noc_hop` then the
east-west rest (Loihi's tile hops cost 3.0 pJ east-west and 4.0 to 4.2 pJ north-south);
without it `noc_hop` prices every hop, and it needs `noc_hop`.
A counter whose price is absent is not priced (the report lists it as unpriced). A table
says why it leaves a price out in an optional `[not_priced]` table ({price key: reason},
e.g. `static_power = "no published leakage figure for Loihi 1"`); the report prints it.

`load_table(name_or_path)` accepts a bundled table's name (`list_tables()`) or a path to a
user's file; every defect raises `CostTableError` naming the file and the field.

Declared ranges: every value (`pj`, `watts`, a `from_hardware` value) is finite and in
[0, MAX_PJ = 1e6] (a microjoule per event, or a megawatt of static power: far above any real
chip, whose prices are 0.001 to 1,000 pJ), and `bytes_per_access` in 1..MAX_BYTES_PER_ACCESS.
Simulator counters stay below 2^63 (< 1e19; `snncompile.backends.accum.hardware`) and
simulated time below 2^63 cycles at >= 1 Hz, so every energy (counter x price) is below 1e25
pJ: finite, and a report never holds inf or NaN.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from snncompile.errors import CostTableError

FORMAT = "snncompile-cost/1"
TABLES_DIR = Path(__file__).resolve().parent / "tables"
COMPONENTS = ("ac", "mac", "neuron", "memory", "noc", "static")
MAX_PJ = 1e6              # the largest pj (and watts) value a table may hold
MAX_BYTES_PER_ACCESS = 1 << 20


@dataclass(frozen=True)
class PriceRule:
    """How one counter is priced: `counter` x energy per unit -> `component`."""

    key: str
    counter: str
    component: str
    unit: str  # "event", "byte" or "second"


PRICES: dict[str, PriceRule] = {r.key: r for r in (
    PriceRule("ac", "acs", "ac", "event"),
    PriceRule("mac", "macs", "mac", "event"),
    PriceRule("neuron_update", "neuron_updates", "neuron", "event"),
    PriceRule("neuron_access", "neuron_accesses", "neuron", "event"),
    PriceRule("spike", "spikes", "neuron", "event"),
    PriceRule("weight_read", "weight_bytes_read", "memory", "byte"),
    PriceRule("state_read", "state_bytes_read", "memory", "byte"),
    PriceRule("state_write", "state_bytes_written", "memory", "byte"),
    PriceRule("spike_message", "spike_messages", "noc", "event"),
    PriceRule("noc_hop", "noc_hops", "noc", "event"),
    PriceRule("noc_hop_ns", "noc_hops_ns", "noc", "event"),
    PriceRule("static_power", "time_s", "static", "second"),
)}


@dataclass(frozen=True)
class Constant:
    """A resolved constant: `value` in pJ (or W when `unit == "W"`), with its source."""

    name: str
    value: float
    unit: str  # "pJ" or "W"
    source: str


@dataclass(frozen=True)
class Price:
    """A resolved price: energy per unit of its counter (pJ per event / per byte; W for
    static power), and the constant it came from."""

    rule: PriceRule
    constant: str
    per_unit: float
    bytes_per_access: int | None = None

    @property
    def unit_label(self) -> str:
        return {"event": "pJ/event", "byte": "pJ/byte", "second": "W"}[self.rule.unit]


@dataclass(frozen=True)
class CostTable:
    """A validated cost table. `prices` maps a price key of `PRICES` to its `Price`."""

    name: str
    description: str
    path: str
    constants: Mapping[str, Constant] = field(default_factory=dict)
    prices: Mapping[str, Price] = field(default_factory=dict)
    not_priced: Mapping[str, str] = field(default_factory=dict)
    technology: str = ""  # e.g. "45nm": a dense baseline compares only with the same technology

    def price(self, key: str) -> Price | None:
        return self.prices.get(key)

    def per_unit(self, key: str) -> float:
        """Energy per unit of `key`'s counter (0 when the table does not price it)."""
        p = self.prices.get(key)
        return p.per_unit if p is not None else 0.0

    def priced_components(self) -> tuple[str, ...]:
        have = {p.rule.component for p in self.prices.values()}
        return tuple(c for c in COMPONENTS if c in have)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (used in reports): every price with its value and source."""
        return {
            "name": self.name,
            "path": self.path,
            "description": self.description,
            "technology": self.technology,
            "prices": {k: {"counter": p.rule.counter, "component": p.rule.component,
                           "value": p.per_unit, "unit": p.unit_label, "constant": p.constant,
                           "source": self.constants[p.constant].source}
                       for k, p in self.prices.items()},
            "not_priced": dict(self.not_priced),
        }


# -- loading ------------------------------------------------------------------------------------
def list_tables() -> list[str]:
    """Names of the bundled tables (files in energy/tables/)."""
    return sorted(p.stem for p in TABLES_DIR.glob("*.toml"))


def table_path(name_or_path: str | Path) -> Path:
    """The file of a bundled table name, or `name_or_path` itself when it is a file path."""
    text = str(name_or_path)
    p = Path(text)
    if p.suffix == ".toml" or p.parent != Path(".") or _is_file(p):
        if not _is_file(p):
            raise CostTableError(f"cost table file {_short(text)} does not exist")
        return p
    bundled = TABLES_DIR / f"{text}.toml"
    if not _is_file(bundled):
        raise CostTableError(
            f"unknown cost table {_short(text)}: choose one of {list_tables()} or give a .toml "
            f"path")
    return bundled


def _is_file(p: Path) -> bool:
    """Path.is_file() that answers False where the OS refuses the name (ENAMETOOLONG, ...)."""
    try:
        return p.is_file()
    except (OSError, ValueError):
        return False


def _short(text: str, limit: int = 120) -> str:
    r = repr(text)
    return r if len(r) <= limit else r[:limit] + f"... ({len(text)} characters)"


def _read(name_or_path: str | Path) -> tuple[Path, dict[str, Any]]:
    path = table_path(name_or_path)
    try:
        return path, tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CostTableError(f"cost table {path.name}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CostTableError(f"cost table {path.name}: cannot be read ({exc})") from None


def load_table(name_or_path: str | Path,
               hardware: Mapping[str, Any] | None = None) -> CostTable:
    """Read and validate a cost table (bundled name or file path); raises CostTableError.
    `hardware` (a HardwareSpec dict) resolves `from_hardware` constants; a table that has
    such constants needs it (see `hardware_preset`)."""
    path, data = _read(name_or_path)
    return parse_table(data, where=path.name, path=str(path), hardware=hardware)


def hardware_preset(name_or_path: str | Path) -> str | None:
    """The accumulate-core preset a table prices from when no hardware description is given
    (its top-level `hardware`), or None when no constant uses `from_hardware`. The caller
    loads the preset and passes its dict to `load_table(..., hardware=...)`."""
    path, data = _read(name_or_path)
    return _table_preset(data, path.name)


def _table_preset(data: Mapping[str, Any], where: str) -> str | None:
    raw = data.get("constants")
    uses_hw = isinstance(raw, dict) and any(
        isinstance(e, dict) and "from_hardware" in e for e in raw.values())
    if not uses_hw:
        return None
    preset = data.get("hardware")
    if not isinstance(preset, str) or not preset:
        raise CostTableError(f"cost table {where}: hardware must name an accum preset when "
                             f"constants use from_hardware, got {preset!r}")
    return preset


def _number(where: str, field_name: str, v: Any, *, integer: bool = False) -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
    if integer:
        ok = ok and isinstance(v, int) and 0 < v <= MAX_BYTES_PER_ACCESS
    else:
        ok = ok and v <= MAX_PJ
    if not ok:
        what = (f"an integer in 1..{MAX_BYTES_PER_ACCESS}" if integer
                else f"a finite number in [0, {MAX_PJ:g}] (declared range)")
        r = repr(v)
        r = r if len(r) <= 60 else r[:60] + "..."
        raise CostTableError(f"cost table {where}: {field_name} must be {what}, got {r}")
    return v


def _string(where: str, field_name: str, v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise CostTableError(f"cost table {where}: {field_name} must be a non-empty string, "
                             f"got {v!r}")
    return v


def _hardware_value(hw: Mapping[str, Any], dotted: str, where: str, field_name: str) -> float:
    node: Any = hw
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise CostTableError(f"cost table {where}: {field_name} = {dotted!r} is not a field "
                                 "of the hardware description")
        node = node[part]
    return float(_number(where, f"{field_name} ({dotted})", node))


def _resolve_constants(raw: Any, where: str, hardware: Any = None) -> dict[str, Constant]:
    """`hardware`: a HardwareSpec dict, or a zero-argument callable returning one (lazy)."""
    if not isinstance(raw, dict) or not raw:
        raise CostTableError(f"cost table {where}: [constants] must be a non-empty table")
    value_keys = ("pj", "watts", "sum_of", "mean_of", "from_hardware")
    for cname, entry in raw.items():
        f = f"constants.{cname}"
        if not isinstance(entry, dict):
            raise CostTableError(f"cost table {where}: {f} must be a table with a value and a source")
        unknown = set(entry) - set(value_keys) - {"source"}
        if unknown:
            raise CostTableError(f"cost table {where}: {f}.{sorted(unknown)[0]} is not a known "
                                 f"field (use one of {value_keys} and source)")
        given = [k for k in value_keys if k in entry]
        if len(given) != 1:
            raise CostTableError(f"cost table {where}: {f} needs exactly one of {value_keys}, "
                                 f"got {given or 'none'}")
        if "source" not in entry:
            raise CostTableError(f"cost table {where}: {f}.source is missing: every number needs "
                                 "its source")
        _string(where, f"{f}.source", entry["source"])

    resolved: dict[str, Constant] = {}
    visiting: set[str] = set()

    def resolve(cname: str, referrer: str) -> Constant:
        if cname in resolved:
            return resolved[cname]
        if cname not in raw:
            raise CostTableError(f"cost table {where}: {referrer} refers to unknown constant "
                                 f"{cname!r}")
        if cname in visiting:
            raise CostTableError(f"cost table {where}: constants.{cname} is defined in terms of "
                                 "itself")
        visiting.add(cname)
        entry = raw[cname]
        f = f"constants.{cname}"
        if "pj" in entry:
            c = Constant(cname, float(_number(where, f"{f}.pj", entry["pj"])), "pJ", entry["source"])
        elif "watts" in entry:
            c = Constant(cname, float(_number(where, f"{f}.watts", entry["watts"])), "W",
                         entry["source"])
        elif "from_hardware" in entry:
            dotted = _string(where, f"{f}.from_hardware", entry["from_hardware"])
            hw = hardware() if callable(hardware) else hardware
            c = Constant(cname, _hardware_value(hw or {}, dotted, where, f"{f}.from_hardware"),
                         "pJ", entry["source"])
        else:
            key = "sum_of" if "sum_of" in entry else "mean_of"
            parts = entry[key]
            if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
                raise CostTableError(f"cost table {where}: {f}.{key} must be a non-empty list of "
                                     f"constant names, got {parts!r}")
            subs = [resolve(p, f"{f}.{key}") for p in parts]
            if any(s.unit != "pJ" for s in subs):
                raise CostTableError(f"cost table {where}: {f}.{key} may only combine pj constants")
            total = sum(s.value for s in subs)
            value = total if key == "sum_of" else total / len(subs)
            c = Constant(cname, float(f"{value:.12g}"), "pJ", entry["source"])  # 3.7+0.9 -> 4.6
        visiting.discard(cname)
        resolved[cname] = c
        return c

    for cname in raw:
        resolve(cname, f"constants.{cname}")
    return resolved


def _resolve_prices(raw: Any, constants: Mapping[str, Constant], where: str) -> dict[str, Price]:
    if not isinstance(raw, dict) or not raw:
        raise CostTableError(f"cost table {where}: [prices] must be a non-empty table")
    out: dict[str, Price] = {}
    for key, entry in raw.items():
        f = f"prices.{key}"
        rule = PRICES.get(key)
        if rule is None:
            raise CostTableError(f"cost table {where}: {f} is not a known price (known: "
                                 f"{sorted(PRICES)})")
        bpa: int | None = None
        if isinstance(entry, str):
            cname = entry
        elif isinstance(entry, dict):
            unknown = set(entry) - {"constant", "bytes_per_access"}
            if unknown:
                raise CostTableError(f"cost table {where}: {f}.{sorted(unknown)[0]} is not a "
                                     "known field (use constant, bytes_per_access)")
            if "constant" not in entry:
                raise CostTableError(f"cost table {where}: {f}.constant is missing")
            cname = _string(where, f"{f}.constant", entry["constant"])
            if "bytes_per_access" in entry:
                bpa = int(_number(where, f"{f}.bytes_per_access", entry["bytes_per_access"],
                                  integer=True))
        else:
            raise CostTableError(f"cost table {where}: {f} must be a constant name or a table, "
                                 f"got {entry!r}")
        if cname not in constants:
            raise CostTableError(f"cost table {where}: {f} refers to unknown constant {cname!r}")
        c = constants[cname]
        if rule.unit == "byte":
            if bpa is None:
                raise CostTableError(f"cost table {where}: {f}.bytes_per_access is missing "
                                     "(memory prices are per access of that many bytes)")
            per_unit = float(f"{c.value / bpa:.12g}")
        else:
            if bpa is not None:
                raise CostTableError(f"cost table {where}: {f}.bytes_per_access only applies "
                                     "to memory prices")
            per_unit = c.value
        want_unit = "W" if rule.unit == "second" else "pJ"
        if c.unit != want_unit:
            raise CostTableError(f"cost table {where}: {f} needs a constant in "
                                 f"{'watts' if want_unit == 'W' else 'pj'}, {cname!r} is in {c.unit}")
        out[key] = Price(rule, cname, float(per_unit), bpa)
    if "noc_hop_ns" in out and "noc_hop" not in out:
        raise CostTableError(f"cost table {where}: prices.noc_hop_ns needs prices.noc_hop (the "
                             "east-west hops)")
    return out


def parse_table(data: Mapping[str, Any], *, where: str = "<table>", path: str = "",
                hardware: Mapping[str, Any] | None = None) -> CostTable:
    """Validate a parsed TOML document into a `CostTable` (raises CostTableError)."""
    if not isinstance(data, Mapping):
        raise CostTableError(f"cost table {where}: top level must be a table")
    unknown = set(data) - {"format", "name", "description", "hardware", "constants", "prices",
                           "not_priced", "technology"}
    if unknown:
        raise CostTableError(f"cost table {where}: {sorted(unknown)[0]} is not a known field")
    fmt = data.get("format")
    if fmt != FORMAT:
        raise CostTableError(f"cost table {where}: format must be {FORMAT!r}, got {fmt!r}")
    name = _string(where, "name", data.get("name"))
    description = _string(where, "description", data.get("description"))

    def hw() -> Mapping[str, Any]:
        if hardware is not None:
            return hardware
        preset = _table_preset(data, where)
        raise CostTableError(f"cost table {where}: its from_hardware constants need the hardware "
                             f"description: pass hardware= (a HardwareSpec dict; this table's "
                             f"default is the accum preset {preset!r})")

    constants = _resolve_constants(data.get("constants"), where, hw)
    prices = _resolve_prices(data.get("prices"), constants, where)
    raw = data.get("not_priced", {})
    if not isinstance(raw, Mapping):
        raise CostTableError(f"cost table {where}: not_priced must be a table of "
                             "{price: reason}")
    not_priced: dict[str, str] = {}
    for key, why in raw.items():
        if key not in PRICES:
            raise CostTableError(f"cost table {where}: not_priced.{key} is not a known price "
                                 f"(known: {sorted(PRICES)})")
        if key in prices:
            raise CostTableError(f"cost table {where}: not_priced.{key}: the table prices it")
        not_priced[key] = _string(where, f"not_priced.{key}", why)
    technology = (_string(where, "technology", data["technology"]) if "technology" in data
                  else "")
    return CostTable(name, description, path, constants, prices, not_priced, technology)

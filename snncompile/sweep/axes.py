"""Sweep axes: what each axis name turns, and the hardware + mapping of one experiment point.

An axis is named by the knob it sets:

  hardware axes   the hardware file's dotted keys, `section.key` exactly as in the preset TOML
                  files and `HardwareSpec.to_dict()` (the one list: `hardware.SCHEMA`), e.g.
                  `core.ac_lanes`, `core.weight_bits`, `spikes.encoding`, `chip.mesh`,
                  `chip.cores`, `noc.hop_latency_cycles`, `dense_unit.mac_lanes`,
                  `dense_unit.placement`;
  mapping axes    arguments of the lowering: `mapping.rate` (firing rate per micro-step slot
                  that tiling and placement assume, in (0, 1]) and `mapping.slack` (>= 0).

A point's hardware = the base spec's dict, then the fixed settings, then the point's axis
values, validated by `HardwareSpec.from_dict`. Two fields are coupled: a point that sets
`chip.mesh` but not `chip.cores` gets cores = rows * cols, and one that sets `chip.cores` but
not `chip.mesh` gets the most square mesh rows x cols with rows <= cols. Every hardware value
must lie in the hardware file's declared range (`hardware.SCHEMA`: e.g. chip.cores <= 2^20,
mesh sides <= 2^11); mapping.rate in (0, 1], mapping.slack in [0, MAX_SLACK].
"""

from __future__ import annotations

import copy
import difflib
import math
from typing import Any, Mapping

from snncompile.backends.accum.hardware import MAX_CORES, SCHEMA, HardwareSpec
from snncompile.backends.accum.lowering import DEFAULT_RATE
from snncompile.errors import ConfigError, HardwareSpecError

MAPPING_DEFAULTS: dict[str, float] = {"mapping.rate": DEFAULT_RATE, "mapping.slack": 0.1}
MAX_SLACK = 10.0  # tiling may use up to (1 + slack) x the fewest tiles
HARDWARE_AXES: tuple[str, ...] = tuple(f"{f.section}.{f.key}" for f in SCHEMA
                                       if f.key != "name")
AXIS_NAMES: tuple[str, ...] = HARDWARE_AXES + tuple(MAPPING_DEFAULTS)
# short names users may type -> the axis they mean (for the error message only)
_ALIASES: dict[str, str] = {}
for _f in SCHEMA:
    _ALIASES.setdefault(_f.attr, f"{_f.section}.{_f.key}")
    _ALIASES.setdefault(_f.key, f"{_f.section}.{_f.key}")
for _name in MAPPING_DEFAULTS:
    _ALIASES.setdefault(_name.split(".", 1)[1], _name)


def check_axis_name(name: str, where: str) -> None:
    """ConfigError naming `where` when `name` is not a known axis (with a suggestion)."""
    if name in AXIS_NAMES:
        return
    hint = _ALIASES.get(name) or next(iter(difflib.get_close_matches(name, AXIS_NAMES, 1)), None)
    did = f"; did you mean {hint!r}?" if hint else ""
    raise ConfigError(f"{where}: unknown axis {name!r}{did} (known: hardware fields "
                      f"'section.key' as in the hardware file, e.g. 'core.ac_lanes', "
                      f"'spikes.encoding', 'chip.mesh', and {', '.join(MAPPING_DEFAULTS)})")


def check_mapping_value(name: str, value: Any, where: str) -> float:
    """A mapping axis value as float, or ConfigError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: {name} must be a number, got {value!r}")
    if name == "mapping.rate" and not 0 < value <= 1:
        raise ConfigError(f"{where}: mapping.rate must be in (0, 1], got {value!r}")
    if name == "mapping.slack" and not 0 <= value <= MAX_SLACK:
        raise ConfigError(f"{where}: mapping.slack must be in [0, {MAX_SLACK:g}], got {value!r}")
    return float(value)


def squarest_mesh(cores: int) -> list[int]:
    """[rows, cols] with rows * cols = cores, rows <= cols, rows as large as possible."""
    rows = max(r for r in range(1, math.isqrt(cores) + 1) if cores % r == 0)
    return [rows, cores // rows]


def point_hardware(base: HardwareSpec, values: Mapping[str, Any], where: str) -> HardwareSpec:
    """The base spec with the hardware entries of `values` applied (coupling rules above);
    an invalid result raises ConfigError naming `where` and the field."""
    d = copy.deepcopy(base.to_dict())
    hw_values = {k: v for k, v in values.items() if k in HARDWARE_AXES}
    for name, v in hw_values.items():
        section, key = name.split(".", 1)
        d[section][key] = list(v) if isinstance(v, tuple) else v
    mesh = hw_values.get("chip.mesh")
    if mesh is not None and "chip.cores" not in hw_values:
        if (isinstance(mesh, (list, tuple)) and len(mesh) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in mesh)):
            d["chip"]["cores"] = mesh[0] * mesh[1]
    cores = hw_values.get("chip.cores")
    if cores is not None and mesh is None and isinstance(cores, int) and not isinstance(
            cores, bool) and 0 < cores <= MAX_CORES:  # beyond: from_dict names chip.cores
        d["chip"]["mesh"] = squarest_mesh(cores)
    try:
        return HardwareSpec.from_dict(d, source="hardware")
    except HardwareSpecError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def point_mapping(values: Mapping[str, Any], where: str) -> dict[str, float]:
    """{"rate": r, "slack": s} for `AccumBackend.lower` (defaults where `values` has none)."""
    out = {}
    for name, default in MAPPING_DEFAULTS.items():
        out[name.split(".", 1)[1]] = check_mapping_value(name, values.get(name, default), where)
    return out


def value_label(value: Any) -> str:
    """Short text of an axis value: [2, 4] -> '2x4', 0.25 -> '0.25'."""
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)

"""The sweep spec: a TOML file naming the model, the workload, the base hardware, the axes and
the cost tables; its experiment points are the cartesian product of the axes.

    format = "snncompile-sweep/1"        # optional; other values are refused
    name = "lanes-vs-encoding"           # optional (default: the file's stem)

    [model]                              # see snncompile.sweep.model
    config = { d_model = 64, n_layer = 2, vocab_size = 256, d_state = 16, headdim = 16 }
    neuron = { kind = "silif", D = 4, theta = 0.5 }
    seed = 0                             # or: onnx = "model.onnx"

    [workload]
    prompt = "The quick brown fox"       # tokens simulated one by one
    # tokenizer = "tokenizer.json"       # optional (or `sweep --tokenizer`); default: the one
                                         # model.onnx carries, else bytes
    tokens = 8                           # new tokens generated (greedy) after the prompt

    [hardware]
    base = "default"                     # a preset name or a hardware TOML (relative path)

    [fixed]                              # optional: one value per axis name, every point
    "noc.hop_latency_cycles" = 3

    [axes]                               # axis name -> list of values (order kept)
    "core.ac_lanes" = [2, 4, 8]
    "spikes.encoding" = ["binary", "graded"]
    "mapping.rate" = [0.1, 0.25]

    [energy]
    presets = ["accum", "paper-45nm"]    # cost tables: bundled names or .toml paths

    [quality]                            # optional (opt-in): quality per point
    bytes = 512                          # the first N bytes of the bundled validation split
    seq_len = 256                        # optional window [default min(256, bytes - 1)]

With `[quality]`, every point that runs also gets its bits per byte, token perplexity and
firing rate on those validation bytes, measured on its lowered program by the simulator
(`sweep.quality.evaluate_graph`: windows of seq_len + 1 bytes, the state restarted at each);
the model needs the byte vocabulary (vocab_size >= 256). Its bytes are at most
MAX_QUALITY_BYTES = 4,097 (at most 4,096 simulated steps, the workload's bound).

Axis names are listed in `snncompile.sweep.axes`. Points are numbered in row-major order of
the product (the last axis varies fastest).

Declared limits (ConfigError naming the field): at most MAX_POINTS = 10,000 points (and
values per axis), workload.tokens <= MAX_NEW_TOKENS = 2,048 and a prompt of at most
MAX_PROMPT_BYTES = 2,048 UTF-8 bytes (byte tokens), a name of at most 256 characters. A
point costs a lowering and a simulation of all its tokens (about a second for the example at
8 tokens), so the largest sweep is hours, not years; the token bound also keeps every
simulator counter below int64 (`snncompile.backends.accum.hardware`, "Declared ranges"). A
config model's weights must fit the memory available (`snncompile.limits`), checked here.

Every defect raises `ConfigError` naming the field (`axes."core.ac_lanes"[1]`,
`model.config.d_model`, ...), and every point's hardware
is validated here, before anything runs; whether a point *fits* is found by lowering it.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.errors import ConfigError, CostTableError, HardwareSpecError
from snncompile.sweep.axes import (HARDWARE_AXES, MAPPING_DEFAULTS, check_axis_name,
                                   check_mapping_value, point_hardware, point_mapping)
from snncompile.sweep.model import ModelSpec, parse_model

FORMAT = "snncompile-sweep/1"
_TOP_KEYS = ("format", "name", "model", "workload", "hardware", "fixed", "axes", "energy",
             "quality")
DEFAULT_PRESETS = ("accum",)
DEFAULT_NEW_TOKENS = 8
MAX_POINTS = 10_000
MAX_NEW_TOKENS = 2048
MAX_PROMPT_BYTES = 2048
MAX_NAME_CHARS = 256
MAX_QUALITY_BYTES = 4097  # at most 4,096 predicted, so at most 4,096 simulated steps
DEFAULT_QUALITY_SEQ_LEN = 256
# bytes held per parameter while a config model is built and lowered: the float32 state dict
# and the graph built from it, the quantized graph (int8) and the program's weights (int8)
BYTES_PER_PARAM = 10


@dataclass(frozen=True)
class Axis:
    """One axis: a knob name and the values it takes, in the spec's order."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Point:
    """One experiment: its index, axis values, the hardware and lowering arguments."""

    index: int
    values: dict[str, Any]
    hardware: HardwareSpec
    rate: float
    slack: float


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep (module docstring). `points()` lists the experiments."""

    name: str
    model: ModelSpec
    prompt: str
    new_tokens: int
    base: HardwareSpec
    base_name: str
    fixed: dict[str, Any]
    axes: tuple[Axis, ...]
    presets: tuple[str, ...]
    source: str = ""
    quality_bytes: int = 0         # [quality] bytes (0: no quality per point)
    quality_seq_len: int = 0       # [quality] seq_len
    tokenizer: str | None = None   # workload.tokenizer (a path, or "bytes"; None: the model's)

    def n_points(self) -> int:
        n = 1
        for a in self.axes:
            n *= len(a.values)
        return n

    def points(self) -> list[Point]:
        """The cartesian product of the axes (last axis fastest), each with its hardware."""
        out = []
        for i, combo in enumerate(itertools.product(*(a.values for a in self.axes))):
            values = dict(zip((a.name for a in self.axes), combo))
            where = f"{self.source or 'sweep'}: point {i} ({_describe(values)})"
            merged = {**self.fixed, **values}
            hw = point_hardware(self.base, merged, where)
            m = point_mapping(merged, where)
            out.append(Point(i, values, hw, m["rate"], m["slack"]))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The normalised spec (JSON-serializable), as stored in results.json."""
        return {"format": FORMAT, "name": self.name, "model": self.model.describe(),
                "workload": {"prompt": self.prompt, "tokens": self.new_tokens,
                             **({"tokenizer": self.tokenizer} if self.tokenizer else {})},
                "hardware": {"base": self.base_name, "spec": self.base.to_dict()},
                "fixed": {k: jsonable(v) for k, v in self.fixed.items()},
                "axes": [{"name": a.name, "values": [jsonable(v) for v in a.values]}
                         for a in self.axes],
                "energy": {"presets": list(self.presets)},
                **({"quality": {"bytes": self.quality_bytes, "seq_len": self.quality_seq_len}}
                   if self.quality_bytes else {})}


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec file (ConfigError naming the field)."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read sweep spec {str(p)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    return parse_spec(data, base_dir=p.resolve().parent, where=str(p), default_name=p.stem)


def parse_spec(data: Any, base_dir: str | Path = ".", where: str = "sweep spec",
               default_name: str = "sweep") -> SweepSpec:
    """Validate the TOML document `data`; relative paths resolve against `base_dir`."""
    base_dir = Path(base_dir)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: top level must be a table")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(_TOP_KEYS)})")
    if data.get("format", FORMAT) != FORMAT:
        raise ConfigError(f"{where}: format must be {FORMAT!r}, got {data.get('format')!r}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
        raise ConfigError(f"{where}: name must be a non-empty string of at most "
                          f"{MAX_NAME_CHARS} characters, got {_short(name)}")
    if "model" not in data:
        raise ConfigError(f"{where}: missing table [model] (model.onnx or model.config)")
    model = parse_model(data["model"], base_dir, where)
    _check_model_memory(model, where)
    prompt, new_tokens = _parse_workload(data.get("workload"), where)
    base, base_name = _parse_hardware(data.get("hardware", {}), base_dir, where)
    fixed = _parse_fixed(data.get("fixed", {}), where)
    axes = _parse_axes(data.get("axes", {}), where)
    clash = [a.name for a in axes if a.name in fixed]
    if clash:
        raise ConfigError(f"{where}: {clash[0]!r} is both in [fixed] and in [axes]")
    presets = _parse_presets(data.get("energy", {}), base, base_dir, where)
    q_bytes, q_seq = _parse_quality(data.get("quality"), model, where)
    spec = SweepSpec(name, model, prompt, new_tokens, base, base_name, fixed, axes, presets,
                     source=where, quality_bytes=q_bytes, quality_seq_len=q_seq,
                     tokenizer=_parse_tokenizer(data.get("workload"), base_dir, where))
    if spec.n_points() > MAX_POINTS:
        raise ConfigError(f"{where}: axes: the product of the axes has {spec.n_points():,} "
                          f"points, more than the limit of {MAX_POINTS:,} (split the sweep)")
    _check_values(spec, where)
    spec.points()  # every combination must be a valid hardware spec
    return spec


def _parse_workload(table: Any, where: str) -> tuple[str, int]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: missing table [workload] (prompt, tokens)")
    unknown = [k for k in table if k not in ("prompt", "tokens", "tokenizer")]
    if unknown:
        raise ConfigError(f"{where}: unknown field workload.{unknown[0]} (known: prompt, tokens, "
                          "tokenizer)")
    prompt = table.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise ConfigError(f"{where}: workload.prompt must be a non-empty string, "
                          f"got {_short(prompt)}")
    n_bytes = len(prompt.encode("utf-8", "surrogatepass"))
    if n_bytes > MAX_PROMPT_BYTES:
        raise ConfigError(f"{where}: workload.prompt must be at most {MAX_PROMPT_BYTES:,} bytes "
                          f"(one token each), got {n_bytes:,}")
    n = table.get("tokens", DEFAULT_NEW_TOKENS)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_NEW_TOKENS:
        raise ConfigError(f"{where}: workload.tokens (new tokens to generate) must be an "
                          f"integer in 0..{MAX_NEW_TOKENS:,}, got {_short(n)}")
    return prompt, n


def _parse_tokenizer(table: Any, base_dir: Path, where: str) -> str | None:
    """workload.tokenizer: a tokenizer.json (or a folder holding one) relative to the spec's
    folder, or "bytes"; None when absent."""
    t = table.get("tokenizer") if isinstance(table, Mapping) else None
    if t is None:
        return None
    if not isinstance(t, str) or not t:
        raise ConfigError(f"{where}: workload.tokenizer must be a path or \"bytes\", "
                          f"got {_short(t)}")
    return t if t == "bytes" else str(base_dir / t)


def _parse_quality(table: Any, model: ModelSpec, where: str) -> tuple[int, int]:
    """[quality] -> (bytes, seq_len); (0, 0) when absent (module docstring)."""
    if table is None:
        return 0, 0
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [quality] must be a table (bytes, seq_len)")
    unknown = [k for k in table if k not in ("bytes", "seq_len")]
    if unknown:
        raise ConfigError(f"{where}: unknown field quality.{unknown[0]} (known: bytes, seq_len)")
    n = table.get("bytes")
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_QUALITY_BYTES:
        raise ConfigError(f"{where}: quality.bytes (validation bytes per point) must be an "
                          f"integer in 2..{MAX_QUALITY_BYTES:,}, got {_short(n)}")
    seq = table.get("seq_len", min(DEFAULT_QUALITY_SEQ_LEN, n - 1))
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= n - 1:
        raise ConfigError(f"{where}: quality.seq_len must be an integer in 1..bytes - 1 = "
                          f"{n - 1:,}, got {_short(seq)}")
    cfg = model.config()
    if cfg is not None and cfg.vocab_size < 256:
        raise ConfigError(f"{where}: [quality] scores bytes of text: the model needs the byte "
                          f"vocabulary (model.config.vocab_size >= 256, got {cfg.vocab_size})")
    return n, seq


def _parse_hardware(table: Any, base_dir: Path, where: str) -> tuple[HardwareSpec, str]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [hardware] must be a table")
    unknown = [k for k in table if k != "base"]
    if unknown:
        raise ConfigError(f"{where}: unknown field hardware.{unknown[0]} (known: base; put "
                          f"changes to the base in [fixed] or [axes])")
    base = table.get("base", "default")
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{where}: hardware.base must be a preset name or a path, got {base!r}")
    ref: str | Path = base
    if base.endswith(".toml") or "/" in base:
        ref = (base_dir / base).resolve()
    try:
        return HardwareSpec.load(ref), base
    except HardwareSpecError as exc:
        raise ConfigError(f"{where}: hardware.base: {exc}") from None


def _parse_fixed(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [fixed] must be a table of axis name = value")
    out = {}
    for name, v in table.items():
        check_axis_name(name, f"{where}: fixed")
        out[name] = _freeze(v)
    return out


def _parse_axes(table: Any, where: str) -> tuple[Axis, ...]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [axes] must be a table of axis name = [values]")
    axes = []
    for name, values in table.items():
        here = f'{where}: axes."{name}"'
        check_axis_name(name, f"{where}: axes")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{here} must be a non-empty list of values, got {_short(values)}")
        if len(values) > MAX_POINTS:
            raise ConfigError(f"{here} has {len(values):,} values, more than the limit of "
                              f"{MAX_POINTS:,} points")
        frozen = tuple(_freeze(v) for v in values)
        seen: set[Any] = set()
        for j, v in enumerate(frozen):
            try:
                dup = v in seen
                seen.add(v)
            except TypeError:  # unhashable (a TOML table): compare the slow way
                dup = frozen.index(v) != j
            if dup:
                raise ConfigError(f"{here}[{j}]: duplicate value {_short(values[j])}")
        axes.append(Axis(name, frozen))
    return tuple(axes)


def _check_values(spec: SweepSpec, where: str) -> None:
    """Each fixed value and each axis value alone on the base: errors name the field."""
    for name, v in spec.fixed.items():
        _check_one(spec.base, {**spec.fixed, name: v}, name, v, f"{where}: fixed.\"{name}\"")
    for a in spec.axes:
        for j, v in enumerate(a.values):
            _check_one(spec.base, {**spec.fixed, a.name: v}, a.name, v,
                       f'{where}: axes."{a.name}"[{j}]')


def _check_one(base: HardwareSpec, values: dict[str, Any], name: str, v: Any, here: str) -> None:
    if name in MAPPING_DEFAULTS:
        check_mapping_value(name, v, here)
    elif name in HARDWARE_AXES:
        point_hardware(base, values, here)


def _parse_presets(table: Any, base: HardwareSpec, base_dir: Path, where: str
                   ) -> tuple[str, ...]:
    from snncompile.energy.table import load_table
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [energy] must be a table (presets = [...])")
    unknown = [k for k in table if k != "presets"]
    if unknown:
        raise ConfigError(f"{where}: unknown field energy.{unknown[0]} (known: presets)")
    presets = table.get("presets", list(DEFAULT_PRESETS))
    if not isinstance(presets, list) or not presets:
        raise ConfigError(f"{where}: energy.presets must be a non-empty list of cost tables")
    out: list[str] = []
    for i, name in enumerate(presets):
        here = f"{where}: energy.presets[{i}]"
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{here} must be a cost table name or path, got {name!r}")
        ref = str((base_dir / name).resolve()) if name.endswith(".toml") or "/" in name else name
        if ref in out:
            raise ConfigError(f"{here}: duplicate cost table {name!r}")
        try:
            load_table(ref, hardware=base.to_dict())
        except CostTableError as exc:
            raise ConfigError(f"{here}: {exc}") from None
        out.append(ref)
    return tuple(out)


def _check_model_memory(model: ModelSpec, where: str) -> None:
    """A config model's weights are built in memory: refuse one that cannot fit."""
    from snncompile.limits import check_memory
    cfg = model.config()
    if cfg is not None:
        check_memory(cfg.n_params() * BYTES_PER_PARAM,
                     f"{where}: model.config: building and lowering the model "
                     f"({cfg.n_params():,} parameters)")


def _short(v: Any, limit: int = 60) -> str:
    """repr(v) cut to `limit` characters (a hostile value must not flood the error line)."""
    r = repr(v)
    return r if len(r) <= limit else r[:limit] + f"... ({len(r)} characters)"


def _freeze(v: Any) -> Any:
    """TOML arrays become tuples (hashable, comparable); everything else as is."""
    return tuple(_freeze(x) for x in v) if isinstance(v, list) else v


def jsonable(v: Any) -> Any:
    return [jsonable(x) for x in v] if isinstance(v, tuple) else v


def _describe(values: Mapping[str, Any]) -> str:
    from snncompile.sweep.axes import value_label
    return ", ".join(f"{k}={value_label(v)}" for k, v in values.items()) or "base"

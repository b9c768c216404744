"""The generic accumulate-only core: `HardwareSpec`, read from a TOML hardware description.

A chip is a 2D mesh of identical cores (rows x cols = cores). Each core holds weight tiles of
spiked projections in its weight SRAM (input-major: one row of int weights per input axon),
one accumulator ("neuron", `state_bits` wide) per output column of each tile, and `ac_lanes`
adders that add one weight per lane per cycle. Ops that still multiply (norms, conv, SSM scan,
LM head, the spike encoders) run on a dense unit with `mac_lanes` multiply-accumulators, either
one shared unit at a mesh position or one per core. Cores talk over a mesh NoC (`hop_latency`
cycles per hop, X-Y routing, so hops = Manhattan distance); every micro-step ends with a
barrier of `barrier_cycles`. Spikes are either binary (a token's level |s| <= D is sent as |s|
signed spikes over D micro-steps) or graded (one event per non-zero neuron carrying s).

File layout (every table and key is required unless marked optional; unknown keys are errors):

  [chip]       name, cores, mesh = [rows, cols], clock_hz
  [core]       neurons, axons, weight_sram_bytes, weight_bits, state_bits, ac_lanes,
               pipeline_depth, graded_mult_cycles
  [dense_unit] placement = "shared" | "per_core", position = [row, col] (shared only),
               mac_lanes, pipeline_depth, weight_bits
  [noc]        hop_latency_cycles, hop_energy_pj, message_bits
  [sync]       barrier_cycles
  [spikes]     encoding = "binary" | "graded", payload_bits

`HardwareSpec.from_toml(path)`, `from_dict(d)` and `load(name_or_path)` (a preset name from
`presets/` or a file) validate everything and raise `HardwareSpecError` naming the field
(`core.weight_sram_bytes`, ...). `to_dict()` gives the nested form (the `hardware` entry of
sim.json) and `to_toml()` the file form; both round-trip.

Declared ranges. Every number has a declared maximum (`SCHEMA`, the `MAX_*` constants;
strings are at most 256 printable characters), chosen so that no int64 counter of the
simulator can overflow and no lowering step can run away, with wide headroom over real chips
(Loihi 2: 128 cores, 1,024 neurons, 4,096 axons, 128 KB, barrier 465 cycles; Hala Point:
147,456 cores). Placement and partitioning work in O(bins), not O(cores):

  cores <= 2^20, mesh sides <= 2^11      so hops H <= 2^12 and per-core arrays stay ~64 MiB
  weight SRAM <= 2^24 B                  so a core holds W <= 2^26 weights (2-bit)
  graded_mult_cycles m <= 2^6, pipeline_depth P <= 2^16, hop_latency L <= 2^16,
  barrier_cycles B <= 2^20, neurons, axons, ac_lanes <= 2^16, clock in [1, 1e12] Hz

One micro-step of a spiked layer costs at most m*W + P + L*H + B < 2^33 cycles (timing.py).
With spike levels D <= 32 (`NeuronConfig`) and at most 2 spiked layers per block (n_layer <=
512, `SpikingMambaConfig`), a token costs < 2^33 * 2^5 * 2^10 = 2^48 cycles, plus dense-unit
cycles bounded by the MACs of a model of < 2^32 parameters. Spike messages per token are at
most (D + 1) * parameters < 2^38, times H hops < 2^50. A sweep simulates at most 2^12 tokens
(`snncompile.sweep.spec`: prompt and new tokens <= 2,048 each), so every counter stays below
2^62. Energies are counters times prices of at most 1e6 pJ (`energy.table`), hence finite.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snncompile.errors import HardwareSpecError

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
ENCODINGS = ("binary", "graded")
PLACEMENTS = ("shared", "per_core")


@dataclass(frozen=True)
class _Field:
    """One key of the file: section.key -> attribute, its type and a one-line meaning."""

    section: str
    key: str
    attr: str
    kind: str  # "int" (>0), "int0" (>=0), "float" (>0), "float0" (>=0), "str", "pair"
    doc: str
    hi: float = 0  # declared maximum (a string's length; each entry of a pair); 0: none
    lo: float = 0  # declared minimum of a float (0: only the sign rule of `kind`)
    default: Any = None  # None: required; else the value when the key is absent, or
    #                      "=section.key": the value of that (required) field


# Declared maxima (see "Declared ranges" in the module docstring for why these numbers).
MAX_NAME_CHARS = 256
MAX_CORES = 1 << 20
MAX_MESH_SIDE = 1 << 11
MAX_CLOCK_HZ = 1e12
MAX_NEURONS = MAX_AXONS = 1 << 16
MAX_WEIGHT_SRAM_BYTES = 1 << 24
MAX_LANES = 1 << 16
MAX_DENSE_MAC_LANES = 1 << 20
MAX_PIPELINE_DEPTH = 1 << 16
MAX_GRADED_MULT_CYCLES = 1 << 6
MAX_HOP_LATENCY_CYCLES = 1 << 16
MAX_BARRIER_CYCLES = 1 << 20
MAX_HOP_ENERGY_PJ = 1e6
MAX_MESSAGE_BITS = 1 << 16
MAX_TILE_SIDE = 64
MAX_EVENT_CYCLES = 1 << 16
MAX_SYNC_ENTRIES = 64
MAX_LINK_BUFFER = 1 << 16

SCHEMA: tuple[_Field, ...] = (
    _Field("chip", "name", "name", "str", "preset name", MAX_NAME_CHARS),
    _Field("chip", "cores", "cores", "int", "number of cores on the mesh", MAX_CORES),
    _Field("chip", "mesh", "mesh", "pair", "mesh shape [rows, cols], rows*cols = cores",
           MAX_MESH_SIDE),
    _Field("chip", "clock_hz", "clock_hz", "float", "core clock (cycles per second)",
           MAX_CLOCK_HZ, lo=1.0),
    _Field("chip", "tile", "tile", "pair", "cores per tile as [rows, cols] of the core mesh; "
           "hops count tile to tile (optional, default [1, 1])", MAX_TILE_SIDE, default=(1, 1)),
    _Field("core", "neurons", "neurons_per_core", "int", "accumulators (output neurons) per core",
           MAX_NEURONS),
    _Field("core", "axons", "axons_per_core", "int", "input axons (weight rows) per core",
           MAX_AXONS),
    _Field("core", "weight_sram_bytes", "weight_sram_bytes", "int", "weight SRAM per core (bytes)",
           MAX_WEIGHT_SRAM_BYTES),
    _Field("core", "weight_bits", "weight_bits", "int", "bits per spiked-projection weight (2..8)",
           8),
    _Field("core", "state_bits", "state_bits", "int", "bits per accumulator / neuron state", 64),
    _Field("core", "ac_lanes", "ac_lanes", "int", "accumulates per cycle per core", MAX_LANES),
    _Field("core", "pipeline_depth", "pipeline_depth", "int0",
           "cycles to fill the spike pipeline of a core (paid once per busy micro-step)",
           MAX_PIPELINE_DEPTH),
    _Field("core", "graded_mult_cycles", "graded_mult_cycles", "int",
           "cycles per lane pass of a graded event (payload x weight)", MAX_GRADED_MULT_CYCLES),
    _Field("dense_unit", "placement", "dense_placement", "str", "'shared' or 'per_core'",
           MAX_NAME_CHARS),
    _Field("dense_unit", "position", "dense_position", "pair", "[row, col] of a shared dense unit",
           MAX_MESH_SIDE),
    _Field("dense_unit", "mac_lanes", "dense_mac_lanes", "int", "multiply-accumulates per cycle",
           MAX_DENSE_MAC_LANES),
    _Field("dense_unit", "pipeline_depth", "dense_pipeline_depth", "int0",
           "cycles of dense-unit pipeline fill per op", MAX_PIPELINE_DEPTH),
    _Field("dense_unit", "weight_bits", "dense_weight_bits", "int",
           "bits per stored dense parameter / state element", 64),
    _Field("noc", "hop_latency_cycles", "hop_latency_cycles", "int0", "cycles per mesh hop",
           MAX_HOP_LATENCY_CYCLES),
    _Field("noc", "hop_energy_pj", "hop_energy_pj", "float0", "energy per message per hop (pJ)",
           MAX_HOP_ENERGY_PJ),
    _Field("noc", "hop_latency_ew_cycles", "hop_latency_ew_cycles", "int0",
           "cycles per east-west (column) hop (optional, default hop_latency_cycles)",
           MAX_HOP_LATENCY_CYCLES, default="=noc.hop_latency_cycles"),
    _Field("noc", "hop_latency_ns_cycles", "hop_latency_ns_cycles", "int0",
           "cycles per north-south (row) hop (optional, default hop_latency_cycles)",
           MAX_HOP_LATENCY_CYCLES, default="=noc.hop_latency_cycles"),
    _Field("noc", "message_bits", "message_bits", "int", "bits per NoC message",
           MAX_MESSAGE_BITS),
    _Field("noc", "link_buffer", "link_buffer", "int0",
           "time-stepped runs: messages a link buffers before its sender stalls; 0 = "
           "contention not modelled (optional, default 0)", MAX_LINK_BUFFER, default=0),
    _Field("sync", "barrier_cycles", "barrier_cycles", "int0", "mesh barrier per micro-step",
           MAX_BARRIER_CYCLES),
    _Field("sync", "sync_table", "sync_table", "table",
           "time-stepped runs: [[tiles in use, cycles], ...], keys increasing (optional; "
           "empty: barrier_cycles every step)", MAX_BARRIER_CYCLES, default=()),
    _Field("timing", "message_in_cycles", "message_in_cycles", "int0",
           "cycles per spike message received by a core (optional, default 0)",
           MAX_EVENT_CYCLES, default=0),
    _Field("timing", "synapse_cycles", "synapse_cycles", "int",
           "cycles per lane pass of a synaptic event: a message to f synapses costs "
           "synapse_cycles * ceil(f / ac_lanes) (optional, default 1)", MAX_EVENT_CYCLES,
           default=1),
    _Field("timing", "neuron_access_cycles", "neuron_access_cycles", "int0",
           "cycles to access one neuron, every neuron every step (optional, default 0)",
           MAX_EVENT_CYCLES, default=0),
    _Field("timing", "neuron_update_cycles", "neuron_update_cycles", "int0",
           "cycles to update one active neuron (optional, default 0)", MAX_EVENT_CYCLES,
           default=0),
    _Field("timing", "spike_out_cycles", "spike_out_cycles", "int0",
           "cycles per spike a neuron emits (optional, default 0)", MAX_EVENT_CYCLES, default=0),
    _Field("timing", "message_out_cycles", "message_out_cycles", "int0",
           "cycles per spike message a core sends (optional, default 0)", MAX_EVENT_CYCLES,
           default=0),
    _Field("spikes", "encoding", "spike_encoding", "str", "'binary' micro-steps or 'graded'",
           MAX_NAME_CHARS),
    _Field("spikes", "payload_bits", "payload_bits", "int", "bits of a graded spike payload", 64),
)
_BY_SECTION: dict[str, dict[str, _Field]] = {}
for _f in SCHEMA:
    _BY_SECTION.setdefault(_f.section, {})[_f.key] = _f


@dataclass(frozen=True)
class HardwareSpec:
    """A validated generic accumulate-only chip (see the module docstring for the meaning)."""

    name: str
    cores: int
    mesh: tuple[int, int]
    clock_hz: float
    neurons_per_core: int
    axons_per_core: int
    weight_sram_bytes: int
    weight_bits: int
    state_bits: int
    ac_lanes: int
    pipeline_depth: int
    graded_mult_cycles: int
    dense_placement: str
    dense_position: tuple[int, int]
    dense_mac_lanes: int
    dense_pipeline_depth: int
    dense_weight_bits: int
    hop_latency_cycles: int
    hop_energy_pj: float
    message_bits: int
    barrier_cycles: int
    spike_encoding: str
    payload_bits: int
    tile: tuple[int, int] = (1, 1)
    link_buffer: int = 0
    hop_latency_ew_cycles: int = -1   # -1: hop_latency_cycles (resolved in __post_init__)
    hop_latency_ns_cycles: int = -1
    sync_table: tuple[tuple[int, int], ...] = ()
    message_in_cycles: int = 0
    synapse_cycles: int = 1
    neuron_access_cycles: int = 0
    neuron_update_cycles: int = 0
    spike_out_cycles: int = 0
    message_out_cycles: int = 0

    def __post_init__(self) -> None:
        for attr in ("hop_latency_ew_cycles", "hop_latency_ns_cycles"):
            if getattr(self, attr) == -1:
                object.__setattr__(self, attr, self.hop_latency_cycles)
        object.__setattr__(self, "tile", tuple(self.tile))
        object.__setattr__(self, "sync_table", tuple(tuple(e) for e in self.sync_table))
        self.validate()

    # -- validation --------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise HardwareSpecError naming the first bad field."""
        for f in SCHEMA:
            _check_value(f, getattr(self, f.attr))
        rows, cols = self.mesh
        if rows * cols != self.cores:
            raise HardwareSpecError(
                f"chip.mesh: {rows}x{cols} = {rows * cols} cores, but chip.cores = {self.cores}")
        if not 2 <= self.weight_bits <= 8:
            raise HardwareSpecError(f"core.weight_bits must be in 2..8, got {self.weight_bits}")
        if self.state_bits > 64:
            raise HardwareSpecError(f"core.state_bits must be <= 64, got {self.state_bits}")
        if self.spike_encoding not in ENCODINGS:
            raise HardwareSpecError(
                f"spikes.encoding must be one of {ENCODINGS}, got {self.spike_encoding!r}")
        if self.dense_placement not in PLACEMENTS:
            raise HardwareSpecError(
                f"dense_unit.placement must be one of {PLACEMENTS}, got {self.dense_placement!r}")
        tr, tc = self.tile
        if tr < 1 or tc < 1 or rows % tr or cols % tc:
            raise HardwareSpecError(
                f"chip.tile {[tr, tc]} must be positive and divide the {rows}x{cols} mesh")
        pr, pc = self.dense_position
        if not (0 <= pr < rows and 0 <= pc < cols):
            raise HardwareSpecError(
                f"dense_unit.position {[pr, pc]} is outside the {rows}x{cols} mesh")
        if self.weight_sram_bytes * 8 < self.weight_bits:
            raise HardwareSpecError(
                f"core.weight_sram_bytes={self.weight_sram_bytes} cannot hold one "
                f"{self.weight_bits}-bit weight")

    # -- derived -----------------------------------------------------------------------------
    @property
    def weights_per_core(self) -> int:
        """How many weights fit in one core's weight SRAM."""
        return self.weight_sram_bytes * 8 // self.weight_bits

    @property
    def state_bytes(self) -> int:
        """Bytes per accumulator / neuron state element."""
        return (self.state_bits + 7) // 8

    @property
    def dense_bytes(self) -> int:
        """Bytes per dense parameter / state element."""
        return (self.dense_weight_bits + 7) // 8

    def row_bytes(self, cols: int) -> int:
        """Bytes of one weight row segment of `cols` weights (what one spike reads)."""
        return (cols * self.weight_bits + 7) // 8

    def coord(self, core: int) -> tuple[int, int]:
        """(row, col) of core id `core` (row-major ids)."""
        return divmod(core, self.mesh[1])

    def core_id(self, row: int, col: int) -> int:
        return row * self.mesh[1] + col

    @property
    def cores_per_tile(self) -> int:
        return self.tile[0] * self.tile[1]

    @property
    def tile_mesh(self) -> tuple[int, int]:
        """The mesh of tiles, [rows, cols]."""
        return self.mesh[0] // self.tile[0], self.mesh[1] // self.tile[1]

    @property
    def tiles(self) -> int:
        return self.cores // self.cores_per_tile

    def tile_coord(self, core: int) -> tuple[int, int]:
        """(row, col) of the tile holding core `core`."""
        r, c = self.coord(core)
        return r // self.tile[0], c // self.tile[1]

    def tile_id(self, core: int) -> int:
        """Row-major id of the tile holding core `core`."""
        tr, tc = self.tile_coord(core)
        return tr * self.tile_mesh[1] + tc

    def core_tile(self, core: int) -> tuple[int, int, int]:
        """(tile_x, tile_y, k): the tile's column and row on the tile mesh, and the core's
        row-major index inside its tile (0 .. cores_per_tile - 1)."""
        r, c = self.coord(core)
        return c // self.tile[1], r // self.tile[0], (r % self.tile[0]) * self.tile[1] + c % self.tile[1]

    def hops_xy(self, a: int, b: int) -> tuple[int, int]:
        """(east-west, north-south) tile hops between cores a and b (X-Y routing)."""
        (ra, ca), (rb, cb) = self.tile_coord(a), self.tile_coord(b)
        return abs(ca - cb), abs(ra - rb)

    def hops(self, a: int, b: int) -> int:
        """Mesh hops between cores a and b (X-Y routing: Manhattan distance between their
        tiles; cores of one tile are 0 hops apart)."""
        x, y = self.hops_xy(a, b)
        return x + y

    def sync_cycles(self, tiles_in_use: int) -> int:
        """The per-step synchronisation of a time-stepped run: the `sync_table` entry of the
        largest tile count <= tiles_in_use (a step function, as SANA-FE's table sync model),
        the first entry below the table, or barrier_cycles when there is no table."""
        if not self.sync_table:
            return self.barrier_cycles
        cycles = self.sync_table[0][1]
        for tiles, c in self.sync_table:
            if tiles <= tiles_in_use:
                cycles = c
        return cycles

    # -- (de)serialization -------------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Nested {section: {key: value}} form (the file's layout; JSON-serializable)."""
        out: dict[str, dict[str, Any]] = {}
        for f in SCHEMA:
            v = getattr(self, f.attr)
            if f.kind == "pair":
                v = list(v)
            elif f.kind == "table":
                v = [list(e) for e in v]
            out.setdefault(f.section, {})[f.key] = v
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str = "hardware") -> "HardwareSpec":
        """Build from the nested form; raise HardwareSpecError naming the field."""
        if not isinstance(data, dict):
            raise HardwareSpecError(f"{source}: top level must be a table")
        for section in data:
            if section not in _BY_SECTION:
                raise HardwareSpecError(
                    f"{source}: unknown section [{section}] (known: {sorted(_BY_SECTION)})")
        values: dict[str, Any] = {}
        for section, keys in _BY_SECTION.items():
            table = data.get(section)
            if table is None:
                if all(f.default is not None for f in keys.values()):
                    table = {}   # an optional section ([timing])
                else:
                    raise HardwareSpecError(f"{source}: missing section [{section}]")
            if not isinstance(table, dict):
                raise HardwareSpecError(f"{source}: [{section}] must be a table")
            for key in table:
                if key not in keys:
                    raise HardwareSpecError(
                        f"{source}: unknown field {section}.{key} (known: {sorted(keys)})")
            for key, f in keys.items():
                if key not in table:
                    if f.default is None:
                        raise HardwareSpecError(
                            f"{source}: missing field {section}.{key} ({f.doc})")
                    if isinstance(f.default, str) and f.default.startswith("="):
                        continue  # resolved from the field it names (__post_init__)
                    values[f.attr] = f.default
                    continue
                v = table[key]
                try:
                    _check_value(f, v)
                except HardwareSpecError as exc:
                    raise HardwareSpecError(f"{source}: {exc}") from None
                if f.kind == "pair":
                    v = (int(v[0]), int(v[1]))
                elif f.kind == "table":
                    v = tuple((int(a), int(b)) for a, b in v)
                elif f.kind.startswith("float"):
                    v = float(v)
                values[f.attr] = v
        try:
            return cls(**values)
        except HardwareSpecError as exc:
            raise HardwareSpecError(f"{source}: {exc}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> "HardwareSpec":
        p = Path(path)
        try:
            text = p.read_bytes().decode("utf-8")
        except OSError as exc:
            raise HardwareSpecError(
                f"cannot read hardware file {str(p)!r}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise HardwareSpecError(f"{p}: not UTF-8 text") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise HardwareSpecError(f"{p}: invalid TOML: {exc}") from None
        return cls.from_dict(data, source=str(p))

    @classmethod
    def load(cls, name_or_path: str | Path | None = None) -> "HardwareSpec":
        """A preset by name ("default", "small", "large") or a TOML file; None -> default."""
        p = resolve_path(name_or_path)
        if p.suffix != ".toml" and not _exists(p):
            raise HardwareSpecError(
                f"no hardware preset or file {_short(str(name_or_path), 120)} "
                f"(presets: {', '.join(preset_names())})")
        return cls.from_toml(p)

    def to_toml(self) -> str:
        """The TOML file text of this spec (round-trips through `from_toml`)."""
        lines: list[str] = []
        for section, table in self.to_dict().items():
            lines.append(f"[{section}]")
            for key, v in table.items():
                lines.append(f"{key} = {_toml_value(v)}")
            lines.append("")
        return "\n".join(lines)

    def describe(self) -> list[tuple[str, str, str]]:
        """(section.key, value, meaning) rows for display."""
        return [(f"{f.section}.{f.key}", _toml_value(getattr(self, f.attr)), f.doc)
                for f in SCHEMA]


def resolve_path(name_or_path: str | Path | None = None) -> Path:
    """The file `HardwareSpec.load(name_or_path)` reads (a preset's file or the path)."""
    p = Path("default" if name_or_path is None else name_or_path)
    if p.suffix != ".toml" and not _exists(p):
        preset = PRESETS_DIR / f"{p}.toml"
        if _exists(preset):
            return preset
    return p


def field_sources(name_or_path: str | Path | None = None) -> dict[str, str]:
    """{"section.key": the comment lines written just above the key} of a hardware file:
    where each number comes from (the bundled presets cite a source, "[derived]" or
    "assumption" for every value). Fields without a comment are absent."""
    try:
        lines = resolve_path(name_or_path).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    out: dict[str, str] = {}
    section, comment = "", []
    for raw in lines:
        line = raw.strip()
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
        elif line.startswith("[") and line.endswith("]"):
            section, comment = line[1:-1].strip(), []
        elif "=" in line and section:
            key = line.split("=", 1)[0].strip()
            if comment:
                out[f"{section}.{key}"] = " ".join(comment)
            comment = []
        else:
            comment = []
    return out


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def _exists(p: Path) -> bool:
    """Path.exists() that answers False where the OS refuses the name (ENAMETOOLONG, ...)."""
    try:
        return p.exists()
    except (OSError, ValueError):
        return False


def _toml_value(v: Any) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _check_value(f: _Field, v: Any) -> None:
    where = f"{f.section}.{f.key}"
    if f.kind == "str":
        if not isinstance(v, str) or not v:
            raise HardwareSpecError(f"{where} must be a non-empty string, got {_short(v)}")
        if f.hi and len(v) > f.hi:
            raise HardwareSpecError(f"{where} must be at most {f.hi:g} characters, got "
                                    f"{len(v)} ({_short(v)})")
        if not v.isprintable():
            raise HardwareSpecError(f"{where} must be printable text (no control characters "
                                    f"or line breaks), got {_short(v)}")
    elif f.kind == "pair":
        if (not isinstance(v, (list, tuple)) or len(v) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
            raise HardwareSpecError(f"{where} must be a pair of integers [a, b], got {_short(v)}")
        if f.key == "mesh" and min(v) < 1:
            raise HardwareSpecError(f"{where} must be positive, got {list(v)}")
        if min(v) < 0:
            raise HardwareSpecError(f"{where} must be non-negative, got {list(v)}")
        if f.hi and max(v) > f.hi:
            raise HardwareSpecError(f"{where} entries must be at most {f.hi:g}, got {list(v)}")
    elif f.kind == "table":
        if (not isinstance(v, (list, tuple)) or len(v) > MAX_SYNC_ENTRIES or not all(
                isinstance(e, (list, tuple)) and len(e) == 2 and all(
                    isinstance(x, int) and not isinstance(x, bool) for x in e) for e in v)):
            raise HardwareSpecError(f"{where} must be a list of at most {MAX_SYNC_ENTRIES} "
                                    f"pairs of integers [[tiles, cycles], ...], got {_short(v)}")
        keys = [e[0] for e in v]
        if any(k < 1 for k in keys) or any(b <= a for a, b in zip(keys, keys[1:])):
            raise HardwareSpecError(f"{where}: tile counts must be positive and increasing, "
                                    f"got {keys}")
        for _k, c in v:
            if not 0 <= c <= f.hi:
                raise HardwareSpecError(f"{where}: cycles must be in [0, {int(f.hi)}] "
                                        f"(declared range), got {c}")
    elif f.kind in ("int", "int0"):
        if isinstance(v, bool) or not isinstance(v, int):
            raise HardwareSpecError(f"{where} must be an integer, got {_short(v)}")
        if f.kind == "int" and v < 1:
            raise HardwareSpecError(f"{where} must be positive, got {v}")
        if f.kind == "int0" and v < 0:
            raise HardwareSpecError(f"{where} must be non-negative, got {v}")
        if f.hi and v > f.hi:
            raise HardwareSpecError(f"{where} must be at most {int(f.hi)} (declared range), "
                                    f"got {v}")
    else:  # float / float0
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise HardwareSpecError(f"{where} must be a finite number, got {_short(v)}")
        if f.kind == "float" and v <= 0:
            raise HardwareSpecError(f"{where} must be positive, got {v}")
        if f.kind == "float0" and v < 0:
            raise HardwareSpecError(f"{where} must be non-negative, got {v}")
        if v < f.lo or (f.hi and v > f.hi):
            raise HardwareSpecError(f"{where} must be in [{f.lo:g}, {f.hi:g}] (declared range), "
                                    f"got {v!r}")


def _short(v: Any, limit: int = 60) -> str:
    """repr(v) cut to `limit` characters (a hostile value must not flood the error line)."""
    r = repr(v)
    return r if len(r) <= limit else r[:limit] + f"... ({len(r)} characters)"

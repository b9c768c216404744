"""`AccumBackend`: the generic accumulate-only core behind the Backend interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.accum.lowering import DEFAULT_RATE, lower
from snncompile.backends.accum.program import Program
from snncompile.backends.base import Backend
from snncompile.errors import HardwareSpecError
from snncompile.ir.graph import Graph


class AccumBackend(Backend):
    """lower(graph, hardware) -> Program; hardware is a HardwareSpec, a preset name or a TOML
    path (None: the default preset)."""

    name = "accum"

    def lower(self, graph: Graph, hardware: Any = None, *, rate: float = DEFAULT_RATE,
              slack: float = 0.1, source: str | None = None) -> Program:
        return lower(graph, as_hardware(hardware), rate=rate, slack=slack, source=source)


def as_hardware(hardware: Any) -> HardwareSpec:
    """A HardwareSpec from a spec, a preset name, a TOML path or None (default preset)."""
    if hardware is None or isinstance(hardware, (str, Path)):
        return HardwareSpec.load(hardware)
    if isinstance(hardware, HardwareSpec):
        return hardware
    raise HardwareSpecError(f"hardware must be a HardwareSpec, preset name or TOML path, "
                            f"got {type(hardware).__name__}")

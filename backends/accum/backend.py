"""`AccumBackend`: the generic accumulate-only core behind the Backend interface."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from snncompile.backends.accum.hardware import ENCODINGS, HardwareSpec
from snncompile.backends.accum.lowering import DEFAULT_RATE, lower
from snncompile.backends.accum.network import SPLITS, is_network, lower_network
from snncompile.backends.accum.program import Program
from snncompile.backends.base import Backend
from snncompile.errors import ConfigError, HardwareSpecError
from snncompile.ir.graph import Graph


class AccumBackend(Backend):
    """lower(graph, hardware, *, rate, slack, encoding, split, source) -> Program; hardware is
    a HardwareSpec, a preset name or a TOML path (None: the default preset); `encoding`
    ("binary" | "graded", None: the hardware's) overrides the hardware's spike encoding.
    A time-stepped network graph (metadata "network") lowers to a `NetworkProgram`
    (backends.accum.network), its layers split as `split` says ("auto", "outputs",
    "partial")."""

    name = "accum"
    program_class = Program

    def lower(self, graph: Graph, hardware: Any = None, *, rate: float = DEFAULT_RATE,
              slack: float = 0.1, encoding: str | None = None, split: str = "auto",
              source: str | None = None) -> Program:
        spec = as_hardware(hardware)
        if is_network(graph):
            if split not in SPLITS:
                raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
            return lower_network(graph, spec, split=split, source=source)  # type: ignore[return-value]
        if encoding is not None:
            if encoding not in ENCODINGS:
                raise ConfigError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
            spec = dataclasses.replace(spec, spike_encoding=encoding)
        return lower(graph, spec, rate=rate, slack=slack, source=source)

    def resolve_hardware(self, text: str | None) -> HardwareSpec:
        """A preset name or a TOML file (None: the default preset)."""
        return as_hardware(text)


def as_hardware(hardware: Any) -> HardwareSpec:
    """A HardwareSpec from a spec, a preset name, a TOML path or None (default preset)."""
    if hardware is None or isinstance(hardware, (str, Path)):
        return HardwareSpec.load(hardware)
    if isinstance(hardware, HardwareSpec):
        return hardware
    raise HardwareSpecError(f"hardware must be a HardwareSpec, preset name or TOML path, "
                            f"got {type(hardware).__name__}")

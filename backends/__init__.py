"""Backends: one package each, one explicit registry line each (imported only when asked for).

    BACKENDS = {name: "module:Class"}      get_backend(name) -> Backend instance
    load_program(folder) -> Program        dispatches on the folder's program.json `backend`

Adding a backend: one package under `backends/`, one line here, and the conformance suite
(`tests/conformance/`) passing (docs/extending.md).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from snncompile.errors import ConfigError, SimulationError

BACKENDS: dict[str, str] = {
    "reference": "snncompile.backends.reference.backend:ReferenceBackend",
    "accum": "snncompile.backends.accum.backend:AccumBackend",
    "loihi": "snncompile.backends.loihi.backend:LoihiBackend",
}


def get_backend(name: str):
    """An instance of backend `name`; ConfigError listing the choices for an unknown name."""
    target = BACKENDS.get(name)
    if target is None:
        raise ConfigError(f"unknown backend {name!r} (choose from {', '.join(sorted(BACKENDS))})")
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)()


def load_program(folder: str | Path):
    """The Program saved in `folder`, loaded by the backend its manifest names."""
    from snncompile.backends.base import read_manifest
    meta = read_manifest(folder)
    if meta["backend"] not in BACKENDS:
        raise SimulationError(f"{Path(folder) / 'program.json'}: unknown backend "
                              f"{meta['backend']!r} (known: {', '.join(sorted(BACKENDS))})")
    return get_backend(meta["backend"]).program_class.load(folder)

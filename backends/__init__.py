"""Backends: one module each, one explicit registry line each (imported only when asked for).

    BACKENDS = {name: "module:Class"}      get_backend(name) -> Backend instance
"""

from __future__ import annotations

import importlib

from snncompile.errors import ConfigError

BACKENDS: dict[str, str] = {
    "reference": "snncompile.backends.reference.backend:ReferenceBackend",
    "accum": "snncompile.backends.accum.backend:AccumBackend",
    "loihi": "snncompile.backends.loihi.backend:LoihiBackend",
}


def get_backend(name: str):
    """An instance of backend `name`; ConfigError for an unknown name."""
    target = BACKENDS.get(name)
    if target is None:
        raise ConfigError(f"unknown backend {name!r} (choose from {sorted(BACKENDS)})")
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)()

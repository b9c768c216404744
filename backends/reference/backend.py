"""`ReferenceBackend`: lowering for the reference target is "interpret the graph as it is"."""

from __future__ import annotations

from typing import Any

from snncompile.backends.base import Backend
from snncompile.backends.reference.interpreter import ReferenceInterpreter
from snncompile.ir.graph import Graph


class ReferenceBackend(Backend):
    """lower(graph) -> ReferenceInterpreter (CUDA when present, CPU otherwise, float64)."""

    name = "reference"

    def lower(self, graph: Graph, hardware: Any = None) -> ReferenceInterpreter:
        return ReferenceInterpreter(graph)

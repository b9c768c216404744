"""`ReferenceBackend`: lowering for the reference target is "interpret the graph as it is"."""

from __future__ import annotations

from typing import Any

from snncompile.backends.base import Backend
from snncompile.backends.reference.program import ReferenceProgram
from snncompile.errors import ConfigError
from snncompile.ir.graph import Graph


class ReferenceBackend(Backend):
    """lower(graph, hardware=None, *, source=None) -> ReferenceProgram (the verified graph,
    run by the reference interpreter); it takes no hardware and no options."""

    name = "reference"
    program_class = ReferenceProgram

    def lower(self, graph: Graph, hardware: Any = None, *,
              source: str | None = None) -> ReferenceProgram:
        if hardware is not None:
            raise ConfigError(f"the reference backend takes no hardware description (got "
                              f"{type(hardware).__name__})")
        graph.verify()
        return ReferenceProgram(graph, source)

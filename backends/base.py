"""The backend interface: `Backend.lower(graph, hardware=None) -> program`.

A backend is one module behind this base class and one explicit line in
`snncompile.backends.BACKENDS`. `lower` turns a verified IR graph into whatever the target
runs (the reference backend's program is the interpreter itself; `accum` returns a `Program`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from snncompile.ir.graph import Graph


class Backend:
    """Base class of every backend; subclasses set `name` and implement `lower`."""

    name: ClassVar[str] = ""

    def lower(self, graph: Graph, hardware: Any = None) -> Any:
        """Lower `graph` for this target (with a hardware description where it needs one)."""
        raise NotImplementedError(f"backend {self.name!r} does not implement lower()")

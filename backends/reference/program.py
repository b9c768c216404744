"""`ReferenceProgram`: the reference target's program is the graph itself, interpreted.

On disk, one folder written atomically (all files appear together or not at all):

  program.json   the manifest (`snncompile.backends.base.write_manifest`), backend "reference"
  graph.onnx     the graph (snncompile.ir.serde)

`run` / `generate` are the base class's: the reference interpreter on CPU in float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from snncompile.backends.base import MANIFEST, Program, check_hashes, open_folder, save_folder
from snncompile.ir.graph import Graph

FILES = (MANIFEST, "graph.onnx")


@dataclass
class ReferenceProgram(Program):
    """A verified graph for the reference interpreter."""

    backend = "reference"
    graph: Graph
    source: str | None = None
    lowering: tuple[str, ...] = ()

    def save(self, folder: str | Path) -> Path:
        """Write the program folder atomically; returns its path."""
        return save_folder(self, folder, {})

    @classmethod
    def load(cls, folder: str | Path) -> "ReferenceProgram":
        """Read a folder written by `save` (SimulationError / IRError naming what is wrong)."""
        from snncompile.ir import serde
        folder = Path(folder)
        meta = open_folder(folder, cls.backend, ())
        graph = serde.load(folder / "graph.onnx")
        graph.verify()
        check_hashes(folder, meta)
        return cls(graph, meta["source"], tuple(meta["lowering"]))

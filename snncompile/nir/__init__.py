"""NIR interchange (docs/nir.md): `import_nir` reads a NIR graph (snnTorch, Norse, Sinabs,
... export it) into an IR network; `export_nir` writes an IR network back as NIR. Modules:
reader (files, subgraphs), discretise (continuous time -> steps), importer, exporter."""

from snncompile.nir.exporter import export_nir, to_nir_graph
from snncompile.nir.importer import import_nir

__all__ = ["export_nir", "import_nir", "to_nir_graph"]

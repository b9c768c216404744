"""Reading a NIR file and flattening its subgraphs.

`read_file(path)` checks the HDF5 file before `nir.read` builds nodes from it: a file that is
not HDF5 (corrupted, truncated, foreign), an HDF5 file without NIR's "node" group, or a node
whose "type" NIR does not define are IRErrors of one line naming the path or the node; `nir`
missing is a MissingDependencyError.

`flatten(graph)` turns a NIR graph with nested `NIRGraph` nodes into one level: inner nodes
are named "<subgraph>.<node>", an edge into a subgraph goes to its Input nodes and an edge out
of it leaves from its Output nodes; those inner Input / Output nodes and 1-D `Flatten` nodes
are pass-throughs and are removed (their edges joined); a Flatten to more than one dimension
is kept for the importer, which maps it to no node but follows the shape it gives (every
Flatten is a reshape of the C-order vector). Edges are kept in file order.
"""

from __future__ import annotations

import os
from typing import Any

from snncompile.errors import IRError, MissingDependencyError

# node types of nir 1.0 (nir.serialization.read_node)
NIR_TYPES = ("Affine", "AvgPool2d", "Conv1d", "Conv2d", "CubaLI", "CubaLIF", "Delay",
             "Flatten", "I", "IF", "Input", "LI", "LIF", "Linear", "NIRGraph", "Output",
             "Scale", "SumPool2d", "Threshold")


def require_nir() -> Any:
    try:
        import nir
    except ImportError:
        raise MissingDependencyError("NIR support needs the nir package: "
                                     "pip install 'snncompile[nir]' (nir==1.0.8)") from None
    return nir


def _check_types(group: Any, where: str) -> None:
    """Every node of the HDF5 group tree has a known NIR type (IRError naming the node)."""
    if "type" not in group:
        raise IRError(f"node {where!r} has no type")
    raw = group["type"][()]
    typ = raw.decode("utf8", "replace") if isinstance(raw, bytes) else str(raw)
    if typ not in NIR_TYPES:
        raise IRError(f"node {where!r} has unknown type {typ!r} (not a NIR 1.0 node type)")
    if typ == "NIRGraph":
        if "nodes" not in group:
            raise IRError(f"node {where!r} (NIRGraph) has no nodes")
        for key in group["nodes"]:
            _check_types(group["nodes"][key], f"{where}.{key}" if where else key)


def read_file(path: str | os.PathLike) -> Any:
    """The NIRGraph in the file at `path` (module docstring for the errors)."""
    nir = require_nir()
    import h5py
    p = os.fspath(path)
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        reason = str(exc).split("(")[0].strip() or "unreadable"
        raise IRError(f"{p!r} is not a NIR file: not readable as HDF5 ({reason})") from None
    try:
        with f:
            if "node" not in f:
                raise IRError(f"{p!r} is not a NIR file: it has no 'node' group")
            _check_types(f["node"], "")
    except IRError as exc:
        if str(exc).startswith(repr(p)):
            raise
        raise IRError(f"{p!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - h5py raises many types on damaged files
        raise IRError(f"{p!r} is not a readable NIR file ({type(exc).__name__}: {exc})") from None
    try:
        return nir.read(p, type_check=False)
    except Exception as exc:  # noqa: BLE001 - nir raises KeyError/ValueError/... on bad content
        raise IRError(f"{p!r} is not a readable NIR file ({type(exc).__name__}: {exc})") from None


def _is_passthrough_flatten(node: Any) -> bool:
    out = (getattr(node, "output_type", None) or {}).get("output")
    return out is None or len(out) <= 1


def flatten(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(nodes {name: NIR node}, edges [(src, dst)]) of `graph` on one level (module
    docstring); top-level Input and Output nodes are kept."""
    nir = require_nir()
    nodes, edges, ins, outs = _flatten(nir, graph, prefix)
    # drop pass-through nodes: inner Input/Output and 1-D Flatten
    drop = [k for k, n in nodes.items()
            if (isinstance(n, (nir.Input, nir.Output)) and "." in k[len(prefix):])
            or (isinstance(n, nir.Flatten) and _is_passthrough_flatten(n))]
    for k in drop:  # (a Flatten of a multi-dim Input: the spike vector is already C-order flat)
        srcs = [a for a, b in edges if b == k]
        dsts = [b for a, b in edges if a == k]
        edges = [e for e in edges if k not in e]
        edges += [(a, b) for a in srcs for b in dsts]
        del nodes[k]
    seen, unique = set(), []
    for e in edges:
        if e not in seen:
            seen.add(e)
            unique.append(e)
    return nodes, unique


def _flatten(nir, graph, prefix):
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    sub_in: dict[str, list[str]] = {}
    sub_out: dict[str, list[str]] = {}
    for key, node in graph.nodes.items():
        name = prefix + key
        if isinstance(node, nir.NIRGraph):
            inner, inner_edges, _i, _o = _flatten(nir, node, name + ".")
            nodes.update(inner)
            edges += inner_edges
            sub_in[name] = [name + "." + k for k, n in node.nodes.items()
                            if isinstance(n, nir.Input)]
            sub_out[name] = [name + "." + k for k, n in node.nodes.items()
                             if isinstance(n, nir.Output)]
        else:
            nodes[name] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        for s in sub_out.get(a, [a]):
            for d in sub_in.get(b, [b]):
                edges.append((s, d))
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise IRError(f"edge ({a!r}, {b!r}) names no node {end!r}")
    return nodes, edges, sub_in, sub_out

"""A stable, readable text form of an IR graph (used by golden tests and `inspect`).

    graph(token) -> (logits)
      <node>: <outputs> = <OpType>[<attr>=<value>, ...](<inputs>) {<role>=<param>, ...}
      ...
    params:
      <name>: <dtype>[<shape>]            (or "absent" for a shape-only graph)

Floats print with repr() (shortest exact round-trip form), so equal graphs print equally and
different attribute values never print the same.
"""

from __future__ import annotations

from snncompile.ir.graph import Graph, Node


def _value(v) -> str:
    if isinstance(v, tuple):
        return "(" + ",".join(str(x) for x in v) + ")"
    return repr(v)


def format_node(node: Node) -> str:
    """One line: `name: outs = OpType[attrs](inputs) {params}`."""
    attrs = ", ".join(f"{k}={_value(v)}" for k, v in node.op.attributes().items())
    params = ", ".join(f"{r}={p}" for r, p in node.params.items())
    line = (f"{node.name}: {', '.join(node.outputs)} = {node.op_type}[{attrs}]"
            f"({', '.join(node.inputs)})")
    return line + (f" {{{params}}}" if params else "")


def format_graph(graph: Graph, params: bool = True) -> str:
    """The whole graph, one node per line, then the parameters (name, dtype, shape)."""
    lines = [f"graph({', '.join(graph.inputs)}) -> ({', '.join(graph.outputs)})"]
    lines += ["  " + format_node(n) for n in graph.nodes]
    if params:
        lines.append("params:")
        for name, (shape, dtypes) in graph.param_specs().items():
            arr = graph.params.get(name)
            if arr is None:
                lines.append(f"  {name}: absent[{','.join(map(str, shape))}]")
            else:
                lines.append(f"  {name}: {arr.dtype.name}[{','.join(map(str, arr.shape))}]")
    return "\n".join(lines) + "\n"

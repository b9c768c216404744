"""IR network graph -> NIR (`to_nir_graph`, `export_nir`); the inverse of the import.

    graph input           Input (shape [n_in]), node "input"
    SpikedLinear          Linear, W = input_scale * W (weight_bits 0) or input_scale *
                          weight_scale[:, None] * Wq; followed by a Bias that is its only
                          consumer: one Affine; a square diagonal W: Scale (the identity:
                          no node, its input passes through)
    Linear                Linear / Affine          Bias alone   Affine (identity weight)
    Scale, Threshold      Scale, Threshold         Add          no node: both inputs' edges
    LIF / IF / CubaLIF    LIF / IF / CubaLIF (discretise.to_continuous of alpha = (4096 - d)
                          / 4096, gains 1, v_leak from `bias`); reset "subtract" is written as
                          node metadata {"reset": "subtract"}. Refused (IRError naming the node
                          and attribute): refractory > 0, delay 1, quant_bits > 0, fixed point
                          (NIR has no refractory period, synaptic delay of one step or
                          quantised potentials), and an IF with a bias.
    EulerNeuron           LIF (alpha_v < 1), IF (alpha_v = 1, beta_v = 0) or CubaLIF
                          (current); reset "value" -> v_reset, "subtract" / "subtract_next" ->
                          node metadata {"reset": ...}; recurrent -> an Affine "<name>.w_rec"
                          (w_rec, b_rec) with edges neuron -> w_rec -> neuron
    LeakyIntegrator       LI, I (alpha_v = 1, beta_v = 0) or CubaLI
    Conv1d / Conv2d       Conv1d / Conv2d (input_shape, explicit padding; bias zeros when
                          the op has none)
    SumPool2d             SumPool2d; followed by a Scale of 1 / (kh kw) that is its only
                          consumer and no padding: one AvgPool2d
    graph outputs         Output nodes ("output", "output_1", ...)

Shapes: the Input is written with the imported file's input shape (metadata
["nir"]["input_shape"]), conv and pool outputs with their (C, ...) shape, and elementwise
nodes (neurons, Scale, Threshold) take the shape of their input, their parameters reshaped to
it. Where a multi-dim value feeds a node that needs fewer dimensions (a Linear, a Conv1d) a
Flatten "<node>.flatten" is written in between, so that `nir.read` type-checks the graph.

Any other op (Embedding, SSMScan, Gate, SpikeEncode, ...) is refused: an IRError naming the
first node NIR cannot express. `subgraph=True` writes the spiking projections alone: for
every SpikedLinear of the graph a chain "<node>_input" (Input [d_in]) -> "<node>" (Linear, W
as above) -> "<node>_output" (Output [d_out]), the chains not connected to each other; the
neurons that drive them (SpikeEncode's multi-level spikes) and everything between them (SSM
scan, gating, norms) are not written: each projection maps a spike-count vector s to W s.
Arrays are written in float32 when the graph was imported from float32 NIR arrays
(metadata["nir"]["dtype"]), else float64.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from snncompile.errors import IRError
from snncompile.ir.conv_ops import CONV_OPS
from snncompile.ir.graph import Graph, Node
from snncompile.nir.discretise import to_continuous
from snncompile.nir.reader import require_nir


def _w_eff(graph: Graph, n: Node) -> np.ndarray:
    op = n.op
    W = np.asarray(graph.params[n.params["weight"]], np.float64)
    if op.weight_bits:
        W = np.asarray(graph.params[n.params["weight_scale"]], np.float64)[:, None] * W
    return op.input_scale * W


def _dtype(graph: Graph) -> Any:
    meta = graph.metadata.get("nir") if isinstance(graph.metadata, dict) else None
    return np.float32 if isinstance(meta, dict) and meta.get("dtype") == "float32" else np.float64


def to_nir_graph(graph: Graph, dt: float | None = None, subgraph: bool = False) -> Any:
    """The NIRGraph of an IR graph (module docstring)."""
    nir = require_nir()
    graph.verify()
    ft = _dtype(graph)
    if subgraph:
        return _projections(nir, graph, ft)
    net = graph.metadata.get("network") if graph.is_network else None
    if net is None:
        first = graph.nodes[0]
        raise IRError(f"node {first.name!r} ({first.op_type}): NIR cannot express this op "
                      "(only time-stepped networks are written; --subgraph writes the spiking "
                      "projections alone)")
    dt = dt if dt is not None else net.get("dt")
    if dt is None or not dt > 0:
        raise IRError("the network has no time step (metadata network.dt): give dt (--dt)")
    dt = float(dt)
    params = graph.params
    consumers: dict[str, list[Node]] = {}
    for n in graph.nodes:
        for v in n.inputs:
            consumers.setdefault(v, []).append(n)
    out_values = set(graph.outputs)
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    src: dict[str, list[str]] = {graph.inputs[0]: ["input"]}
    n_in = graph.input_specs()[graph.inputs[0]][1][0]
    meta_shape = ((graph.metadata.get("nir") or {}).get("input_shape")
                  if isinstance(graph.metadata.get("nir"), dict) else None)
    in_shape = (tuple(int(v) for v in meta_shape) if isinstance(meta_shape, list) and
                meta_shape and int(np.prod(meta_shape)) == n_in else (n_in,))
    nodes["input"] = nir.Input(input_type={"input": np.array(in_shape)})
    vshape: dict[str, tuple[int, ...]] = {graph.inputs[0]: in_shape}
    flat_of: dict[tuple[str, tuple[int, ...]], str] = {}
    merged: set[str] = set()
    potentials: dict[str, str] = {}

    def arr(x) -> np.ndarray:
        return np.asarray(x, np.float64).astype(ft)

    def p(n: Node, role: str) -> np.ndarray:
        return np.asarray(params[n.params[role]], np.float64)

    def reshaped(v: str, need: tuple[int, ...] | None) -> list[str]:
        """The NIR sources of value v, through a Flatten when `need` merges its dims."""
        have = vshape.get(v)
        if need is None or have is None or have == need:
            return src[v]
        dims = _merge(have, need)
        if dims is None:
            return src[v]
        if (v, need) not in flat_of:
            fk = f"{v}.flatten"
            nodes[fk] = nir.Flatten(input_type={"input": np.array(have)}, start_dim=dims[0],
                                    end_dim=dims[1])
            edges.extend((s, fk) for s in src[v])
            flat_of[(v, need)] = fk
        return [flat_of[(v, need)]]

    def link(n: Node, key: str, value_inputs=None) -> None:
        need = _needs(n.op)
        for v in (value_inputs if value_inputs is not None else n.inputs):
            edges.extend((s, key) for s in reshaped(v, need))

    for n in graph.nodes:
        if n.name in merged:
            continue
        op, t = n.op, n.op_type
        where = f"node {n.name!r} ({t})"
        if t == "SpikedLinear":
            W = _w_eff(graph, n)
            users = consumers.get(n.outputs[0], [])
            diagonal = W.shape[0] == W.shape[1] and np.array_equal(W, np.diag(np.diag(W)))
            if diagonal and np.all(np.diag(W) == 1) and n.outputs[0] not in out_values:
                src[n.outputs[0]] = src[n.inputs[0]]  # the identity: no node
                vshape[n.outputs[0]] = vshape[n.inputs[0]]
                continue
            if diagonal and not (len(users) == 1 and users[0].op_type == "Bias"):
                nodes[n.name] = nir.Scale(scale=arr(np.diag(W)))
            elif (len(users) == 1 and users[0].op_type == "Bias"
                    and n.outputs[0] not in out_values):
                bias_node = users[0]
                nodes[n.name] = nir.Affine(weight=arr(W), bias=arr(p(bias_node, "bias")))
                merged.add(bias_node.name)
                src[bias_node.outputs[0]] = [n.name]
            else:
                nodes[n.name] = nir.Linear(weight=arr(W))
        elif t == "Linear":
            W = p(n, "weight")
            nodes[n.name] = (nir.Affine(weight=arr(W), bias=arr(p(n, "bias"))) if op.has_bias
                             else nir.Linear(weight=arr(W)))
        elif t == "Bias":
            nodes[n.name] = nir.Affine(weight=arr(np.eye(op.d)), bias=arr(p(n, "bias")))
        elif t == "Scale":
            nodes[n.name] = nir.Scale(scale=arr(p(n, "scale")))
        elif t == "Threshold":
            nodes[n.name] = nir.Threshold(threshold=arr(p(n, "threshold")))
        elif t == "Add":
            src[n.outputs[0]] = src[n.inputs[0]] + src[n.inputs[1]]
            vshape[n.outputs[0]] = vshape[n.inputs[0]]
            if n.outputs[0] in out_values:
                raise IRError(f"{where}: a graph output that is a sum has no NIR node")
            continue
        elif t in ("LIF", "IF", "CubaLIF"):
            nodes[n.name] = _loihi_op(nir, op, where, dt, arr)
        elif t == "EulerNeuron":
            nodes[n.name] = _euler(nir, n, op, where, dt, arr, p)
            if op.recurrent:
                rk = f"{n.name}.w_rec"
                nodes[rk] = nir.Affine(weight=arr(p(n, "w_rec")), bias=arr(p(n, "b_rec")))
                edges += [(n.name, rk), (rk, n.name)]
        elif t == "LeakyIntegrator":
            nodes[n.name] = _integrator(nir, n, op, where, dt, arr, p)
        elif isinstance(op, CONV_OPS):
            users = consumers.get(n.outputs[0], [])
            avg = (t == "SumPool2d" and not any(op.padding) and len(users) == 1
                   and users[0].op_type == "Scale" and n.outputs[0] not in out_values
                   and np.all(p(users[0], "scale") == 1.0 / np.prod(op.kernel)))
            nodes[n.name] = _window(nir, op, n, arr, p, avg)
            if avg:
                merged.add(users[0].name)
                src[users[0].outputs[0]] = [n.name]
                vshape[users[0].outputs[0]] = op.output_shape
        else:
            raise IRError(f"{where}: NIR cannot express this op (the first op it cannot "
                          "write; --subgraph writes the spiking projections alone)")
        link(n, n.name)
        src[n.outputs[0]] = [n.name]
        if isinstance(op, CONV_OPS):
            vshape[n.outputs[0]] = op.output_shape
        elif _needs(op) is None:          # elementwise: the input's shape
            shape = vshape.get(n.inputs[0], (int(graph.value_shapes()[n.outputs[0]][0]),))
            _reshape_params(nodes[n.name], shape)
            for v in n.outputs:
                vshape[v] = shape
        else:
            vshape[n.outputs[0]] = (int(graph.value_shapes()[n.outputs[0]][0]),)
        if len(n.outputs) > 1:
            potentials[n.outputs[1]] = n.name
    for k, v in enumerate(graph.outputs):
        if v in potentials:
            raise IRError(f"graph output {v!r} is the potential of node {potentials[v]!r}; NIR "
                          "neurons output spikes only")
        key = "output" if k == 0 else f"output_{k}"
        w = vshape.get(v, (_width(graph, v),))
        nodes[key] = nir.Output(output_type={"output": np.array(w)})
        edges.extend((s, key) for s in src[v])
    return nir.NIRGraph(nodes=nodes, edges=edges,
                        metadata={"source": "snncompile", "dt": dt})


def _needs(op) -> tuple[int, ...] | None:
    """The input shape a node needs (None: any, it is elementwise)."""
    if isinstance(op, CONV_OPS):
        return op.input_shape
    if op.op_type in ("SpikedLinear", "Linear", "Bias") or getattr(op, "recurrent", False):
        return (op.d_in,) if hasattr(op, "d_in") else (op.d,)
    return None


def _merge(have: tuple[int, ...], need: tuple[int, ...]) -> tuple[int, int] | None:
    """(start_dim, end_dim) of the Flatten that turns shape `have` into `need`, or None."""
    n, m = len(have), len(need)
    if m >= n or int(np.prod(have)) != int(np.prod(need)):
        return None
    for s in range(n):
        e = s + n - m
        if (*have[:s], int(np.prod(have[s:e + 1])), *have[e + 1:]) == tuple(need):
            return s, e
    return None


def _reshape_params(node: Any, shape: tuple[int, ...]) -> None:
    """Per-element arrays of an elementwise NIR node reshaped to `shape` (its types
    recomputed)."""
    if len(shape) <= 1:
        return
    size = int(np.prod(shape))
    for k, v in list(vars(node).items()):
        if k in ("input_type", "output_type", "metadata"):
            continue
        if isinstance(v, np.ndarray) and v.size == size and v.ndim == 1:
            setattr(node, k, v.reshape(shape))
    node.__post_init__()


def _window(nir, op, n: Node, arr, p, avg: bool) -> Any:
    """Conv1d / Conv2d / SumPool2d (AvgPool2d when `avg`) of a conv_ops op."""
    if op.op_type == "SumPool2d":
        cls = nir.AvgPool2d if avg else nir.SumPool2d
        node = cls(kernel_size=np.array(op.kernel), stride=np.array(op.stride),
                   padding=np.array(op.padding))
        node.input_type = {"input": np.array(op.input_shape)}
        node.output_type = {"output": np.array(op.output_shape)}
        return node
    bias = arr(p(n, "bias")) if op.has_bias else arr(np.zeros(op.c_out))
    if op.op_type == "Conv1d":
        return nir.Conv1d(input_shape=op.input_shape[1], weight=arr(p(n, "weight")),
                          stride=op.stride[0], padding=op.padding[0], dilation=op.dilation[0],
                          groups=op.groups, bias=bias)
    return nir.Conv2d(input_shape=op.input_shape[1:], weight=arr(p(n, "weight")),
                      stride=op.stride, padding=op.padding, dilation=op.dilation,
                      groups=op.groups, bias=bias)


def _width(graph: Graph, v: str) -> int:
    return int(graph.value_shapes()[v][0])


def _projections(nir, graph: Graph, ft) -> Any:
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for n in graph.nodes:
        if n.op_type != "SpikedLinear":
            continue
        W = _w_eff(graph, n).astype(ft)
        nodes[f"{n.name}_input"] = nir.Input(input_type={"input": np.array([n.op.d_in])})
        nodes[n.name] = nir.Linear(weight=W)
        nodes[f"{n.name}_output"] = nir.Output(output_type={"output": np.array([n.op.d_out])})
        edges += [(f"{n.name}_input", n.name), (n.name, f"{n.name}_output")]
    if not nodes:
        raise IRError("the graph has no spiking projection (SpikedLinear) to write")
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "snncompile",
                                                            "subgraph": "spiking projections"})


def _refuse_loihi(op, where: str) -> None:
    for attr, bad in (("refractory", op.refractory > 0), ("delay", op.delay != 0),
                      ("quant_bits", op.quant_bits > 0), ("fixed_point", op.fixed_point)):
        if bad:
            raise IRError(f"{where}: {attr} {getattr(op, attr)!r} has no NIR equivalent (NIR "
                          "has no refractory period, one-step synaptic delay or quantised "
                          "potential); export a graph with refractory 0, delay 0, quant_bits 0")


def _loihi_op(nir, op, where, dt, arr):
    _refuse_loihi(op, where)
    d = op.d
    meta = {"reset": "subtract"} if op.reset == "subtract" else {}
    th, zero = arr(np.full(d, op.threshold)), arr(np.zeros(d))
    alpha_v = (4096 - op.decay_v) / 4096
    if op.op_type == "IF" or (op.op_type == "LIF" and alpha_v == 1.0):
        if op.bias != 0:
            raise IRError(f"{where}: bias {op.bias!r} without a leak has no NIR equivalent "
                          "(NIR IF has no v_leak)")
        c = to_continuous("IF", {"gain": np.ones(d)}, dt)
        return nir.IF(r=arr(c["r"]), v_threshold=th, v_reset=zero, metadata=meta)
    co = {"alpha_v": np.full(d, alpha_v), "beta_v": np.full(d, op.bias), "gain": np.ones(d)}
    if op.op_type == "CubaLIF":
        if alpha_v == 1.0:
            raise IRError(f"{where}: dv 0 (no voltage decay) has no NIR CubaLIF equivalent "
                          "(tau_mem would be infinite)")
        co.update(alpha_i=np.full(d, (4096 - op.decay_i) / 4096), gain_i=np.ones(d))
        if np.any(co["alpha_i"] == 1.0):
            raise IRError(f"{where}: du 0 (no current decay) has no NIR equivalent (tau_syn "
                          "would be infinite)")
        c = to_continuous("CubaLIF", co, dt)
        return nir.CubaLIF(**{k: arr(v) for k, v in c.items()}, v_threshold=th, v_reset=zero,
                           metadata=meta)
    c = to_continuous("LIF", co, dt)
    return nir.LIF(**{k: arr(v) for k, v in c.items()}, v_threshold=th, v_reset=zero,
                   metadata=meta)


def _euler(nir, n, op, where, dt, arr, p):
    co = {r: p(n, r) for r in ("alpha_v", "beta_v", "gain")}
    th = arr(p(n, "threshold"))
    v_reset = arr(p(n, "v_reset")) if op.reset == "value" else arr(np.zeros(op.d))
    meta = {} if op.reset == "value" else {"reset": op.reset}
    if op.current:
        co.update(alpha_i=p(n, "alpha_i"), gain_i=p(n, "gain_i"))
        _no_unit_alpha(co, ("alpha_v", "alpha_i"), where)
        c = to_continuous("CubaLIF", co, dt)
        return nir.CubaLIF(**{k: arr(v) for k, v in c.items()}, v_threshold=th,
                           v_reset=v_reset, metadata=meta)
    if np.all(co["alpha_v"] == 1.0) and np.all(co["beta_v"] == 0):
        c = to_continuous("IF", co, dt)
        return nir.IF(r=arr(c["r"]), v_threshold=th, v_reset=v_reset, metadata=meta)
    _no_unit_alpha(co, ("alpha_v",), where)
    c = to_continuous("LIF", co, dt)
    return nir.LIF(**{k: arr(v) for k, v in c.items()}, v_threshold=th, v_reset=v_reset,
                   metadata=meta)


def _integrator(nir, n, op, where, dt, arr, p):
    co = {r: p(n, r) for r in ("alpha_v", "beta_v", "gain")}
    if op.current:
        co.update(alpha_i=p(n, "alpha_i"), gain_i=p(n, "gain_i"))
        _no_unit_alpha(co, ("alpha_v", "alpha_i"), where)
        return nir.CubaLI(**{k: arr(v) for k, v in to_continuous("CubaLI", co, dt).items()})
    if np.all(co["alpha_v"] == 1.0) and np.all(co["beta_v"] == 0):
        return nir.I(r=arr(to_continuous("I", co, dt)["r"]))
    _no_unit_alpha(co, ("alpha_v",), where)
    return nir.LI(**{k: arr(v) for k, v in to_continuous("LI", co, dt).items()})


def _no_unit_alpha(co, keys, where) -> None:
    for k in keys:
        if np.any(co[k] >= 1.0):
            raise IRError(f"{where}: {k} = 1 for some neurons and < 1 for others has no NIR "
                          "equivalent (a leak with an infinite time constant)")


def export_nir(graph: Graph, path: str | os.PathLike, dt: float | None = None,
               subgraph: bool = False) -> Any:
    """Write `to_nir_graph(graph, dt, subgraph)` to `path` (HDF5, atomically); returns the
    NIRGraph."""
    nir = require_nir()
    from snncompile.atomic import atomic_path
    g = to_nir_graph(graph, dt, subgraph)
    with atomic_path(path) as tmp:
        nir.write(tmp, g)
    return g

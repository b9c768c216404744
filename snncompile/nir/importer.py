"""NIR graph -> IR network graph (`import_nir`); the mapping is tabled in docs/nir.md.

    Input            the graph input "spikes" (spike counts, width = the product of its shape)
    Linear / Affine  on spikes: SpikedLinear (float weights, input_scale 1) [+ Bias];
                     on floats: Linear (has_bias for Affine)
    Scale            on spikes: SpikedLinear with diag(scale) (exact); on floats: Scale
    LIF / IF / CubaLIF
                     LIF / IF / CubaLIF ops (12-bit decays, shared attributes, delay 0,
                     no quantisation) when that is exact: parameters shared by the layer,
                     v_leak = 0, gains 1 (snapped, discretise.py), decays 12-bit (or
                     `quantize_decays`), reset to v_reset = 0 or by subtraction, no
                     recurrence; else EulerNeuron (per-neuron float parameters)
    LI / I / CubaLI  LeakyIntegrator
    Threshold        Threshold
    Conv1d / Conv2d  Conv1d / Conv2d (conv_ops; `spiking` when fed by spikes; the bias when
                     not all zero); "same" padding becomes the explicit symmetric one
    SumPool2d        SumPool2d          AvgPool2d    SumPool2d, then Scale 1 / (kh kw)
    Flatten          removed: a reshape of the C-order vector (reader.flatten drops the 1-D
                     ones; a multi-dim one only changes the shape the next node sees)
    Output           a graph output (the value feeding it)
    NIRGraph         flattened (reader.flatten)

Shapes: values are flat C-order vectors; the importer follows each node's multi-dim shape
(Input, conv and pool outputs, Flatten) so that a conv node without `input_shape` and a
neuron layer after a conv get theirs. Neuron parameters may be per element (shaped like the
output, (C, H, W)), per channel ((C,) or (C, 1, 1)) or one value: they are broadcast to the
d = C H W neurons, and a layer whose values are all equal still gives a LIF / IF / CubaLIF op.

A recurrent edge is a cycle neuron -> W -> the same neuron with W a Linear or Affine whose
only input and only output is that neuron: W becomes the neuron's `w_rec` (and `b_rec`, the
Affine's bias, else zeros) on an EulerNeuron, applied to the previous step's spikes. Any other
cycle is an IRError naming a node on it. Several edges into one node sum their values (Add).

Reset: NIR resets to v_reset ("value"). A node's metadata {"reset": "subtract" |
"subtract_next"} (what `export_nir` writes) or the `reset` argument (for files whose
exporter dropped it, as snnTorch's does) selects reset by subtraction: "subtract" subtracts
the threshold right after the spike (as the LIF op), "subtract_next" at the next step before
the threshold test (snnTorch's `reset_mechanism="subtract"`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snncompile.errors import IRError
from snncompile.ir import conv_ops, nir_ops, ops
from snncompile.ir.graph import Graph, Node
from snncompile.nir.discretise import Coefficients, decay_12bit, is_12bit
from snncompile.nir.reader import flatten, read_file, require_nir

RESETS = ("subtract", "subtract_next")
SUPPORTED = ("Input", "Output", "Affine", "Linear", "Scale", "LIF", "IF", "CubaLIF", "LI",
             "I", "CubaLI", "Threshold", "Flatten", "NIRGraph", "Conv1d", "Conv2d",
             "SumPool2d", "AvgPool2d")
ELEMENTWISE = ("Scale", "Threshold", "LIF", "IF", "CubaLIF", "LI", "I", "CubaLI")
NEURONS = ("LIF", "IF", "CubaLIF")


@dataclass
class _Builder:
    nodes: list[Node] = field(default_factory=list)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    widths: dict[str, int] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    layer: int = 0

    def name(self, role: str) -> str:
        base = f"layers.{self.layer}.{role}"
        taken = {n.name for n in self.nodes}
        name, k = base, 1
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        return name

    def add(self, role: str, op: ops.Op, inputs: list[str], outs: tuple[str, ...],
            params: dict[str, np.ndarray], nir_key: str) -> list[str]:
        name = self.name(role)
        roles = {}
        for r, arr in params.items():
            pname = f"{name}.{r}"
            self.params[pname] = arr
            roles[r] = pname
        values = [f"{name}.{o}" for o in outs]
        self.nodes.append(Node(name, op, tuple(inputs), tuple(values), roles))
        for v, k, shape in zip(values, op.output_kinds(),
                               op.infer([(self.widths[i],) for i in inputs])):
            self.kinds[v], self.widths[v] = k, int(shape[0])
        self.origin[name] = nir_key
        return values

    def as_float(self, value: str, key: str) -> str:
        """A spike value as a float current (SpikedLinear with the identity: exact)."""
        if self.kinds[value] == "float":
            return value
        d = self.widths[value]
        return self.add("identity", ops.SpikedLinear(d_in=d, d_out=d, input_scale=1.0),
                        [value], ("y",), {"weight": np.eye(d)}, key)[0]


def _f(a: Any) -> np.ndarray:
    """A NIR array as float32 or float64 (its own precision when it is one of them)."""
    a = np.asarray(a)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)


def _vec(a: Any, d: int, where: str, field_name: str, channels: int | None = None
         ) -> np.ndarray:
    """(d,) float64 values: one value, one per channel (`channels` of a multi-dim value,
    C-order: each repeated d / C times) or one per element."""
    v = np.asarray(a, np.float64).reshape(-1)
    if v.size == 1 and d > 1:
        v = np.full(d, v[0])
    elif channels and v.size == channels and v.size != d and d % channels == 0:
        v = np.repeat(v, d // channels)
    if v.size != d:
        raise IRError(f"{where}: {field_name} has {v.size} values for {d} neurons")
    if not np.all(np.isfinite(v)):
        raise IRError(f"{where}: {field_name} holds a non-finite value")
    return v


def import_nir(src: Any, dt: float, *, source: str | None = None, reset: str | None = None,
               quantize_decays: bool = False) -> Graph:
    """The IR network of a NIR graph (a path or a `nir.NIRGraph`), discretised with step `dt`
    seconds (module docstring; docs/nir.md). `source` names the framework that wrote it
    (metadata["network"]["source"]; default: the file's metadata "source", else "nir")."""
    nir = require_nir()
    if not (isinstance(dt, (int, float)) and not isinstance(dt, bool) and np.isfinite(dt)
            and dt > 0):
        raise IRError(f"dt must be a positive number of seconds, got {dt!r}")
    if reset is not None and reset not in RESETS:
        raise IRError(f"reset must be one of {RESETS} (or None: as the file says), got {reset!r}")
    version = None
    if isinstance(src, (str, os.PathLike)):
        graph = read_file(src)
        try:
            version = nir.serialization.read_version(src)
        except Exception:  # noqa: BLE001 - an old file without a version: none recorded
            version = None
    else:
        graph = src
    if not isinstance(graph, nir.NIRGraph):
        raise IRError(f"a NIR graph is needed, got {type(graph).__name__}")
    dt = float(dt)
    nodes, edges = flatten(graph)
    for key, node in nodes.items():
        kind = type(node).__name__
        if kind not in SUPPORTED:
            raise IRError(f"node {key!r} ({kind}): not supported by the NIR import "
                          f"(supported: {', '.join(SUPPORTED)})")
    rec = _recurrences(nir, nodes, edges)
    for nrn, w in rec.items():
        edges = [e for e in edges if e not in ((nrn, w), (w, nrn))]
    order = _topological(nodes, edges, skip=set(rec.values()))
    b = _Builder()
    value: dict[str, str] = {}
    shapes: dict[str, tuple[int, ...]] = {}        # NIR node -> its output's (C, ...) shape
    n_in = None
    outputs: dict[str, str] = {}
    for key in order:
        node, kind = nodes[key], type(nodes[key]).__name__
        where = f"node {key!r} ({kind})"
        preds = [a for a, c in edges if c == key]
        if kind == "Input":
            if n_in is not None:
                raise IRError(f"{where}: a second Input; an imported network has one input "
                              "(the spike vector)")
            shape = np.asarray(node.input_type["input"]).reshape(-1)
            n_in = int(np.prod(shape)) if shape.size else 0
            if n_in < 1:
                raise IRError(f"{where}: input shape {shape.tolist()} is empty")
            value[key] = "spikes"
            shapes[key] = tuple(int(v) for v in shape)
            b.kinds["spikes"], b.widths["spikes"] = "spike", n_in
            continue
        if not preds:
            raise IRError(f"{where}: has no input edge")
        x = _combine(b, [value[p] for p in preds], key)
        if kind == "Output":
            if x == "spikes":
                raise IRError(f"{where}: fed by the graph input directly")
            outputs[key] = x
            continue
        in_shape = _in_shape([shapes.get(p) for p in preds], b.widths[x])
        try:
            if kind == "Flatten":
                value[key], shapes[key] = x, _flattened(node, in_shape, where)
                continue
            if kind in ("Conv1d", "Conv2d", "SumPool2d", "AvgPool2d"):
                value[key], shapes[key] = _map_window(b, key, kind, node, x, in_shape, where)
                continue
            value[key] = _map_node(b, nir, key, kind, node, x, dt, reset, quantize_decays,
                                   nodes.get(rec[key]) if key in rec else None, where,
                                   in_shape)
            shapes[key] = in_shape if kind in ELEMENTWISE else (b.widths[value[key]],)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # malformed fields
            raise IRError(f"{where}: malformed ({type(exc).__name__}: {exc})") from None
    if n_in is None:
        raise IRError("the NIR graph has no Input node")
    if not outputs:
        raise IRError("the NIR graph has no Output node fed by a node")
    dtypes = {a.dtype for n in nodes.values() for a in vars(n).values()
              if isinstance(a, np.ndarray) and a.dtype.kind == "f"}
    meta_src = (getattr(graph, "metadata", None) or {}).get("source")
    src_name = source or (meta_src if isinstance(meta_src, str) else None) or "nir"
    first: dict[str, str] = {}                    # value -> the first Output node (file order)
    for k in nodes:
        if k in outputs:
            first.setdefault(outputs[k], k)
    out_keys = list(first.values())
    in_key = next(k for k in order if type(nodes[k]).__name__ == "Input")
    g = Graph(b.nodes, b.params, ("spikes",), tuple(first),
              {"network": {"inputs": n_in, "dt": dt, "source": src_name},
               "nir": {"version": version, "nodes": b.origin, "outputs": out_keys,
                       "input_shape": list(shapes[in_key]),
                       "dtype": "float32" if dtypes == {np.dtype(np.float32)} else "float64"}})
    g.verify()
    return g


def _recurrences(nir, nodes, edges) -> dict[str, str]:
    """{neuron: W} for every cycle neuron -> W -> neuron, W a Linear/Affine with that neuron
    as its only input and only output."""
    out = {}
    for a, w in edges:
        if type(nodes[a]).__name__ not in NEURONS or not isinstance(nodes[w], (nir.Linear,
                                                                               nir.Affine)):
            continue
        if (w, a) not in edges:
            continue
        ins = {s for s, t in edges if t == w}
        outs = {t for s, t in edges if s == w}
        if ins == {a} and outs == {a}:
            if a in out:
                raise IRError(f"node {a!r}: more than one recurrent weight ({out[a]!r}, {w!r})")
            out[a] = w
    return out


def _topological(nodes, edges, skip) -> list[str]:
    keys = [k for k in nodes if k not in skip]
    indeg = {k: 0 for k in keys}
    for _a, c in edges:
        if c in indeg:
            indeg[c] += 1
    order, ready = [], [k for k in keys if indeg[k] == 0]
    while ready:
        k = ready.pop(0)
        order.append(k)
        for a, c in edges:
            if a == k and c in indeg:
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready.append(c)
    if len(order) != len(keys):
        stuck = next(k for k in keys if k not in order)
        raise IRError(f"node {stuck!r} ({type(nodes[stuck]).__name__}) is on a cycle that is "
                      "not a recurrent weight (neuron -> Linear/Affine -> the same neuron)")
    return order


def _combine(b: _Builder, values: list[str], key: str) -> str:
    """One value, or the sum of several (Add nodes over float currents)."""
    if len(values) == 1:
        return values[0]
    acc = b.as_float(values[0], key)
    for v in values[1:]:
        v = b.as_float(v, key)
        if b.widths[v] != b.widths[acc]:
            raise IRError(f"node {key!r}: its inputs have widths {b.widths[acc]} and "
                          f"{b.widths[v]}")
        acc = b.add("add", ops.Add(d=b.widths[acc]), [acc, v], ("y",), {}, key)[0]
    return acc


def _in_shape(pred_shapes: list, width: int) -> tuple[int, ...]:
    """The multi-dim shape of a node's input: its predecessors' (when all known and equal, and
    of `width` elements), else (width,)."""
    known = {s for s in pred_shapes if s is not None}
    if len(known) == 1:
        s = next(iter(known))
        if int(np.prod(s)) == width:
            return s
    return (width,)


def _ints(v: Any, n: int, where: str, name: str) -> tuple[int, ...]:
    a = np.asarray(v).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, n)
    if a.size != n or not np.all(a == np.round(a)):
        raise IRError(f"{where}: {name} must be {n} integers, got {np.asarray(v).tolist()}")
    return tuple(int(x) for x in a)


def _flattened(node, in_shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    """The shape after a Flatten (start_dim..end_dim of the shape without batch merged): a
    reshape of the C-order vector, so no IR node."""
    out = (getattr(node, "output_type", None) or {}).get("output")
    if len(in_shape) <= 1:
        return tuple(int(v) for v in out) if out is not None and np.prod(out) == in_shape[0] \
            else in_shape
    n = len(in_shape)
    s, e = int(node.start_dim), int(node.end_dim)
    s, e = s + n if s < 0 else s, e + n if e < 0 else e
    if not 0 <= s <= e < n:
        raise IRError(f"{where}: start_dim {node.start_dim} / end_dim {node.end_dim} do not fit "
                      f"its input shape {list(in_shape)}")
    return (*in_shape[:s], int(np.prod(in_shape[s:e + 1])), *in_shape[e + 1:])


def _map_window(b: _Builder, key, kind, node, x, in_shape, where):
    """Conv1d / Conv2d / SumPool2d / AvgPool2d -> conv_ops (module docstring)."""
    d_x = b.widths[x]
    nd = 1 if kind == "Conv1d" else 2
    spiking = b.kinds[x] == "spike"
    while len(in_shape) > nd + 1 and in_shape[0] == 1:  # a batch axis of 1 (Norse writes one)
        in_shape = in_shape[1:]
    if kind in ("Conv1d", "Conv2d"):
        W = _f(node.weight)
        if W.ndim != nd + 2:
            raise IRError(f"{where}: weight must be {nd + 2}-D, got shape {list(W.shape)}")
        groups = int(node.groups)
        c_in = W.shape[1] * groups
        if node.input_shape is not None:
            spatial = _ints(node.input_shape, nd, where, "input_shape")
        elif len(in_shape) == nd + 1 and in_shape[0] == c_in:
            spatial = in_shape[1:]
        else:
            raise IRError(f"{where}: no input_shape, and its input's shape {list(in_shape)} is "
                          f"not ({c_in} channels, {nd} spatial axes)")
        kernel = tuple(int(k) for k in W.shape[2:])
        stride = _ints(node.stride, nd, where, "stride")
        dilation = _ints(node.dilation, nd, where, "dilation")
        padding = _padding(node.padding, nd, kernel, stride, dilation, where)
        bias = _f(node.bias).reshape(-1) if getattr(node, "bias", None) is not None else None
        if bias is not None and bias.size not in (1, W.shape[0]):
            raise IRError(f"{where}: bias has {bias.size} values for {W.shape[0]} channels")
        has_bias = bias is not None and bool(np.any(bias != 0))
        cls = conv_ops.Conv1d if nd == 1 else conv_ops.Conv2d
        op = cls(input_shape=(c_in, *spatial), kernel=kernel, stride=stride, padding=padding,
                 dilation=dilation, c_out=int(W.shape[0]), groups=groups, has_bias=has_bias,
                 spiking=spiking)
        params = {"weight": W}
        if has_bias:
            params["bias"] = np.broadcast_to(bias, (W.shape[0],)).copy()
        role = "synapse"
    else:
        if len(in_shape) != 3:
            t = (getattr(node, "input_type", None) or {}).get("input")
            if t is None or len(t) != 3:
                raise IRError(f"{where}: its input's shape {list(in_shape)} is not (C, H, W)")
            in_shape = tuple(int(v) for v in t)
        kernel = _ints(node.kernel_size, 2, where, "kernel_size")
        stride = _ints(node.stride, 2, where, "stride")
        padding = _ints(node.padding, 2, where, "padding")
        op = conv_ops.SumPool2d(input_shape=tuple(in_shape), kernel=kernel, stride=stride,
                                padding=padding, spiking=spiking)
        params = {}
        role = "pool"
    try:
        op.verify()
    except IRError as exc:
        raise IRError(f"{where}: {exc}") from None
    if op.d_in != d_x:
        raise IRError(f"{where}: its input shape {list(op.input_shape)} has {op.d_in} values, "
                      f"its input has {d_x}")
    y = b.add(role, op, [x], ("x",), params, key)[0]
    if kind == "AvgPool2d":
        y = b.add("scale", nir_ops.Scale(d=op.d_out), [y], ("x",),
                  {"scale": np.full(op.d_out, 1.0 / float(np.prod(kernel)))}, key)[0]
    return y, op.output_shape


def _padding(pad, nd, kernel, stride, dilation, where) -> tuple[int, ...]:
    """Explicit symmetric padding; "valid" = 0, "same" (stride 1) = q (k - 1) / 2 when even."""
    if isinstance(pad, bytes):
        pad = pad.decode()
    if isinstance(pad, str):
        if pad == "valid":
            return (0,) * nd
        total = [q * (k - 1) for k, q in zip(kernel, dilation)]
        if pad != "same" or any(s != 1 for s in stride) or any(t % 2 for t in total):
            raise IRError(f"{where}: padding {pad!r} with stride {list(stride)} and kernel "
                          f"{list(kernel)} is not a symmetric padding")
        return tuple(t // 2 for t in total)
    return _ints(pad, nd, where, "padding")


def _map_node(b: _Builder, nir, key, kind, node, x, dt, reset, quantize, w_rec, where,
              in_shape=None) -> str:
    d_x = b.widths[x]
    ch = in_shape[0] if in_shape is not None and len(in_shape) > 1 else None
    if kind in ("Linear", "Affine"):
        W = _f(node.weight)
        if W.ndim != 2:
            raise IRError(f"{where}: weight must be 2-D, got shape {list(W.shape)}")
        if W.shape[1] != d_x:
            raise IRError(f"{where}: weight has {W.shape[1]} columns, its input has {d_x} "
                          "values")
        d_out, d_in = W.shape
        bias = _f(node.bias).reshape(-1) if kind == "Affine" else None
        if bias is not None and bias.size != d_out:
            raise IRError(f"{where}: bias has {bias.size} values for {d_out} outputs")
        if b.kinds[x] == "spike":
            y = b.add("synapse", ops.SpikedLinear(d_in=d_in, d_out=d_out, input_scale=1.0),
                      [x], ("x",), {"weight": W}, key)[0]
            if bias is not None:
                y = b.add("bias", nir_ops.Bias(d=d_out), [y], ("x",), {"bias": bias}, key)[0]
            return y
        p = {"weight": W} if bias is None else {"weight": W, "bias": bias}
        return b.add("linear", ops.Linear(d_in=d_in, d_out=d_out, has_bias=bias is not None),
                     [x], ("x",), p, key)[0]
    if kind == "Scale":
        s = _vec(node.scale, d_x, where, "scale", ch)
        if b.kinds[x] == "spike":
            return b.add("synapse", ops.SpikedLinear(d_in=d_x, d_out=d_x, input_scale=1.0),
                         [x], ("x",), {"weight": np.diag(s)}, key)[0]
        return b.add("scale", nir_ops.Scale(d=d_x), [x], ("x",), {"scale": s}, key)[0]
    if kind == "Threshold":
        th = _vec(node.threshold, d_x, where, "threshold", ch)
        y = b.add("threshold", nir_ops.Threshold(d=d_x), [b.as_float(x, key)], ("s",),
                  {"threshold": th}, key)[0]
        b.layer += 1
        return y
    co = Coefficients.from_node(key, node, dt)
    d = d_x
    co = Coefficients(**{k: _vec(v, d, where, k, ch) for k, v in co.arrays().items()})
    x = b.as_float(x, key)
    if kind in ("LI", "I", "CubaLI"):
        y = b.add("integrator", nir_ops.LeakyIntegrator(d=d, current=co.current), [x],
                  ("v",), co.arrays(), key)[0]
        b.layer += 1
        return y
    th = _vec(node.v_threshold, d, where, "v_threshold", ch)
    v_reset = _vec(getattr(node, "v_reset", None) if getattr(node, "v_reset", None) is not None
                   else np.zeros(d), d, where, "v_reset", ch)
    mode = (getattr(node, "metadata", None) or {}).get("reset")
    if isinstance(mode, bytes):
        mode = mode.decode("utf8", "replace")
    mode = mode if mode in RESETS else (reset or "value")
    op = None
    if w_rec is None:
        op = _loihi_neuron(kind, co, th, v_reset, mode, quantize, d)
    if op is not None:
        y = b.add("neuron", op, [x], ("s", "v"), {}, key)[0]
    else:
        params = {**co.arrays(), "threshold": th}
        if mode == "value":
            params["v_reset"] = v_reset
        if w_rec is not None:
            Wr = np.asarray(w_rec.weight, np.float64)
            if Wr.shape != (d, d):
                raise IRError(f"{where}: recurrent weight has shape {list(Wr.shape)}, expected "
                              f"[{d}, {d}]")
            params["w_rec"] = Wr
            params["b_rec"] = (_vec(w_rec.bias, d, where, "recurrent bias")
                               if isinstance(w_rec, nir.Affine) else np.zeros(d))
        y = b.add("neuron", nir_ops.EulerNeuron(d=d, current=co.current, reset=mode,
                                                recurrent=w_rec is not None),
                  [x], ("s", "v"), params, key)[0]
    b.layer += 1
    return y


def _loihi_neuron(kind, co: Coefficients, th, v_reset, mode, quantize, d) -> ops.Op | None:
    """The LIF / IF / CubaLIF op equal to these parameters, or None (module docstring)."""
    if not co.shared() or not np.all(th == th[0]) or not th[0] > 0:
        return None
    if np.any(co.gain != 1) or (kind == "IF" and np.any(co.beta_v != 0)):
        return None
    if co.current and np.any(co.gain_i != 1):
        return None
    if mode == "value":
        if np.any(v_reset != 0):
            return None
        reset = "zero"
    elif mode == "subtract":
        reset = "subtract"
    else:
        return None
    alphas = [co.alpha_v] + ([co.alpha_i] if co.current else [])
    if not quantize and not all(is_12bit(a) for a in alphas):
        return None
    common = dict(d=d, threshold=float(th[0]), reset=reset, quant_bits=0, delay=0,
                  bias=float(co.beta_v[0]))
    if kind == "IF":
        return ops.IF(**common)
    if kind == "LIF":
        return ops.LIF(**common, dv=decay_12bit(co.alpha_v[0]))
    return ops.CubaLIF(**common, du=decay_12bit(co.alpha_i[0]), dv=decay_12bit(co.alpha_v[0]))

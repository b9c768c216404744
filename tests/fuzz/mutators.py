"""Seeded mutators: bytes, ONNX ModelProtos, JSON and TOML documents.

Every mutator takes a `random.Random` and returns the mutated value plus a short text that
names the mutation (printed with the seed when a case fails, so that it can be replayed).
"""

from __future__ import annotations

import copy
import json
import math
import random
from typing import Any

import numpy as np

# Hostile scalar values: zero, negatives, int64 edges and beyond, non-finite floats, odd text.
HOSTILE: list[Any] = [
    0, -1, 1, 2, 3, 7, 255, 256, 2**31, 2**32 + 1, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64,
    10**10, 10**12, 10**30, -(2**63), 0.0, -0.0, 0.5, -0.5, 1e-300, 1e308, -1e308,
    float("nan"), float("inf"), float("-inf"), True, False, "", "x", "nan", "inf", "1e999",
    "\u00e9\u4e2d\U0001f600", "a" * 200_000, "\udcff", None, [], [1], [0, 0], [-1, 2],
    [2**40, 2**40], {}, {"k": 1},
]
HOSTILE_INTS = [0, -1, 1, 2, 3, 255, 2**31, 2**32, 2**62, 2**63 - 1, -(2**63), 10**12]
HOSTILE_FLOATS = [0.0, -0.0, -1.0, 1e-300, 1e308, -1e308, float("nan"), float("inf"),
                  float("-inf"), 0.5, 3.0]


def hostile(rng: random.Random) -> Any:
    v = rng.choice(HOSTILE)
    return copy.deepcopy(v)


# -- bytes -------------------------------------------------------------------------------------
def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    b = bytearray(data)
    kind = rng.choice(["flip", "flip", "truncate", "insert", "zero", "dup"])
    if not b:
        return bytes(rng.randrange(256) for _ in range(8)), "random 8 bytes"
    if kind == "flip":
        n = rng.randint(1, 8)
        pos = [rng.randrange(len(b)) for _ in range(n)]
        for p in pos:
            b[p] ^= 1 << rng.randrange(8)
        return bytes(b), f"flip bits at {pos}"
    if kind == "truncate":
        cut = rng.randrange(len(b))
        return bytes(b[:cut]), f"truncate to {cut} of {len(b)} bytes"
    if kind == "insert":
        p = rng.randrange(len(b) + 1)
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        return bytes(b[:p] + junk + b[p:]), f"insert {junk.hex()} at {p}"
    if kind == "zero":
        p = rng.randrange(len(b))
        n = rng.randint(1, 64)
        b[p:p + n] = bytes(len(b[p:p + n]))
        return bytes(b), f"zero {n} bytes at {p}"
    p, n = rng.randrange(len(b)), rng.randint(1, 64)
    return bytes(b[:p] + b[p:p + n] * 2 + b[p + n:]), f"duplicate {n} bytes at {p}"


# -- ONNX ModelProto -------------------------------------------------------------------------
_NON_UTF8_MARK = "@@NONUTF8@@"


def _meta(model) -> dict[str, Any]:
    return {p.key: p for p in model.metadata_props}


def _json_paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _json_paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _json_paths(v, prefix + (i,))
    return out


def mutate_json_doc(rng: random.Random, doc: Any) -> tuple[Any, str]:
    """Replace, delete or add one node of a JSON-like tree (dicts and lists)."""
    doc = copy.deepcopy(doc)
    paths = [p for p in _json_paths(doc) if p]
    if not paths:
        v = hostile(rng)
        return v, f"document := {_short(v)}"
    path = rng.choice(paths)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    kind = rng.choice(["replace", "replace", "replace", "delete", "add", "scale"])
    if kind == "delete":
        del parent[key]
        return doc, f"delete {_pstr(path)}"
    if kind == "add" and isinstance(parent, dict):
        name = rng.choice(["extra", "unknown_field", str(key) + "_", ""])
        v = hostile(rng)
        parent[name] = v
        return doc, f"add {_pstr(path[:-1] + (name,))} = {_short(v)}"
    old = parent[key]
    if kind == "scale" and isinstance(old, (int, float)) and not isinstance(old, bool):
        f = rng.choice([-1, 0, 2, 10, 1000, 2**20, 2**40])
        v = old * f
    else:
        v = hostile(rng)
    parent[key] = v
    return doc, f"{_pstr(path)}: {_short(old)} -> {_short(v)}"


def _pstr(path) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:40] + f"...({len(s)} chars)"


def mutate_model(rng: random.Random, model, n: int = 1) -> tuple[bytes, str]:
    """Apply `n` structured mutations to a copy of ModelProto `model`; returns the serialized
    bytes (non-UTF-8 metadata is spliced in after serialization) and what was done."""
    import onnx
    m = onnx.ModelProto()
    m.CopyFrom(model)
    done = []
    non_utf8 = False
    for _ in range(n):
        what = rng.choice(_MODEL_MUTATIONS)
        try:
            text = what(rng, m)
        except Exception as exc:  # noqa: BLE001 - an earlier mutation left nothing to decode
            text = f"{what.__name__} skipped ({type(exc).__name__})"
        if text == "non-utf8":
            non_utf8 = True
        done.append(text)
    data = m.SerializeToString()
    if non_utf8:
        mark = _NON_UTF8_MARK.encode()
        bad = bytes([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0x80, 0xbf])
        data = data.replace(mark, bad[:len(mark)])
    return data, "; ".join(done)


def _m_attr(rng, m) -> str:
    import onnx
    from onnx import numpy_helper
    nodes = [nd for nd in m.graph.node if nd.attribute]
    if not nodes:
        return "no attribute"
    nd = rng.choice(nodes)
    a = rng.choice(nd.attribute)
    T = onnx.AttributeProto
    if a.type == T.INT:
        a.i = rng.choice(HOSTILE_INTS)
        return f"{nd.name}.{a.name} := {a.i}"
    if a.type == T.INTS:
        vals = [rng.choice(HOSTILE_INTS) for _ in range(rng.randint(0, 3))]
        del a.ints[:]
        a.ints.extend(vals)
        return f"{nd.name}.{a.name} := {vals}"
    if a.type == T.TENSOR:
        v = rng.choice(HOSTILE_FLOATS)
        dt = rng.choice([np.float64, np.float64, np.float32, np.int64])
        with np.errstate(all="ignore"):
            arr = np.array(v).astype(dt) if np.isfinite(v) or dt != np.int64 else np.array(0)
        shape = rng.choice([(), (), (2,)])
        a.t.CopyFrom(numpy_helper.from_array(np.broadcast_to(arr, shape).copy()))
        return f"{nd.name}.{a.name} := tensor {v} {np.dtype(dt).name} shape {shape}"
    if a.type == T.STRING:
        a.s = rng.choice([b"", b"nope", b"\xff\xfe", b"x" * 10000])
        return f"{nd.name}.{a.name} := {a.s[:20]!r}"
    if a.type == T.FLOAT:
        a.f = rng.choice(HOSTILE_FLOATS)
        return f"{nd.name}.{a.name} := {a.f}"
    return f"{nd.name}.{a.name} untouched (type {a.type})"


def _m_attr_benign(rng, m) -> str:
    """A plausible attribute change (an int +-1 or x2, a float scaled), which a valid graph
    may well survive: the lowered program must then still match the reference."""
    import onnx
    from onnx import numpy_helper
    nodes = [nd for nd in m.graph.node if nd.attribute]
    if not nodes:
        return "no attribute"
    nd = rng.choice(nodes)
    a = rng.choice(nd.attribute)
    T = onnx.AttributeProto
    if a.type == T.INT:
        old = a.i
        a.i = max(0, rng.choice([old + 1, old - 1, old * 2]))
        return f"{nd.name}.{a.name} {old} -> {a.i}"
    if a.type == T.INTS:
        vals = [max(0, v + rng.choice([-1, 1])) for v in a.ints]
        del a.ints[:]
        a.ints.extend(vals)
        return f"{nd.name}.{a.name} := {vals}"
    if a.type == T.TENSOR:
        arr = numpy_helper.to_array(a.t)
        f = rng.choice([0.25, 0.5, 2.0, 8.0, 1e-3])
        a.t.CopyFrom(numpy_helper.from_array(np.asarray(arr * f).astype(arr.dtype)))
        return f"{nd.name}.{a.name} x {f}"
    return f"{nd.name}.{a.name} untouched (type {a.type})"


def _m_scale_weights(rng, m) -> str:
    """A float initializer scaled by a large or small factor (large activations, saturated
    spikes), still finite."""
    from onnx import numpy_helper
    inits = [t for t in m.graph.initializer if t.data_type in (1, 10, 11)]  # float, f16, f64
    if not inits:
        return "no float initializer"
    t = rng.choice(inits)
    arr = numpy_helper.to_array(t)
    f = rng.choice([-1.0, 1e-3, 10.0, 1e3, 1e4])
    with np.errstate(all="ignore"):
        t.CopyFrom(numpy_helper.from_array(np.asarray(arr * f).astype(arr.dtype), t.name))
    return f"initializer {t.name} x {f}"


def _m_attr_type(rng, m) -> str:
    nodes = [nd for nd in m.graph.node if nd.attribute]
    if not nodes:
        return "no attribute"
    nd = rng.choice(nodes)
    a = rng.choice(nd.attribute)
    import onnx
    kind = rng.choice(["drop", "retype", "dup"])
    if kind == "drop":
        nd.attribute.remove(a)
        return f"drop attribute {nd.name}.{a.name}"
    if kind == "dup":
        nd.attribute.append(copy.deepcopy(a))
        return f"duplicate attribute {nd.name}.{a.name}"
    name = a.name
    nd.attribute.remove(a)
    new = rng.choice([onnx.helper.make_attribute(name, "text"),
                      onnx.helper.make_attribute(name, 1.5),
                      onnx.helper.make_attribute(name, [1, 2]),
                      onnx.helper.make_attribute(name, 3)])
    nd.attribute.append(new)
    return f"retype attribute {nd.name}.{name} to {new.type}"


def _m_shape(rng, m) -> str:
    vis = list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info)
    if rng.random() < 0.5 and m.graph.initializer:
        t = rng.choice(m.graph.initializer)
        dims = list(t.dims)
        if dims and rng.random() < 0.7:
            i = rng.randrange(len(dims))
            dims[i] = rng.choice([0, 1, dims[i] + 1, max(dims[i] - 1, 0), 2**31, 2**62])
        else:
            dims = dims + [1] if rng.random() < 0.5 else dims[:-1]
        del t.dims[:]
        t.dims.extend(dims)
        return f"initializer {t.name} dims := {dims}"
    if not vis:
        return "no value info"
    v = rng.choice(vis)
    shape = v.type.tensor_type.shape
    dims = [rng.choice([0, 1, 3, 2**31, -1]) for _ in range(rng.randint(0, 3))]
    del shape.dim[:]
    for d in dims:
        shape.dim.add().dim_value = d
    return f"value {v.name} shape := {dims}"


def _m_dtype(rng, m) -> str:
    import onnx
    codes = list(onnx.TensorProto.DataType.values())
    if rng.random() < 0.7 and m.graph.initializer:
        t = rng.choice(m.graph.initializer)
        old, t.data_type = t.data_type, rng.choice(codes + [999])
        return f"initializer {t.name} dtype {old} -> {t.data_type}"
    vis = list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info)
    v = rng.choice(vis)
    old = v.type.tensor_type.elem_type
    v.type.tensor_type.elem_type = rng.choice(codes)
    return f"value {v.name} elem type {old} -> {v.type.tensor_type.elem_type}"


def _m_metadata(rng, m) -> str:
    from snncompile.ir import serde
    meta = _meta(m)
    kind = rng.choice(["config", "config", "config", "format", "non-utf8", "drop", "raw"])
    if kind == "format" and serde.FORMAT_KEY in meta:
        v = rng.choice(["0", "2", "-1", "", "1.0", "99999999999999999999", "one"])
        meta[serde.FORMAT_KEY].value = v
        return f"format_version := {v!r}"
    if kind == "non-utf8" and meta:
        p = rng.choice(list(meta.values()))
        p.value = _NON_UTF8_MARK if rng.random() < 0.5 else p.value[:5] + _NON_UTF8_MARK
        return "non-utf8"
    if kind == "drop" and meta:
        k = rng.choice(list(meta))
        m.metadata_props.remove(meta[k])
        return f"drop metadata {k}"
    if kind == "raw" and serde.METADATA_KEY in meta:
        v = rng.choice(["", "{", "[]", "null", "1e999", '{"vocab_size": "x"}', "NaN",
                        json.dumps({"a": [1] * 1000})])
        meta[serde.METADATA_KEY].value = v
        return f"metadata := {v[:40]!r}"
    if serde.METADATA_KEY in meta:
        try:
            doc = json.loads(meta[serde.METADATA_KEY].value)
        except ValueError:
            return "metadata not JSON"
        doc, what = mutate_json_doc(rng, doc)
        meta[serde.METADATA_KEY].value = json.dumps(doc, allow_nan=True)
        return f"metadata {what}"
    return "no metadata"


def _m_names(rng, m) -> str:
    g = m.graph
    kind = rng.choice(["input", "output", "graph_output", "graph_output_is_input",
                       "no_outputs", "swap_nodes", "drop_node", "dup_node", "op_type",
                       "domain"])
    if not g.node:
        return "no nodes"
    nd = rng.choice(g.node)
    produced = [o for x in g.node for o in x.output]
    if kind == "input" and nd.input:
        i = rng.randrange(len(nd.input))
        old = nd.input[i]
        nd.input[i] = rng.choice(["", "missing", *produced, *(t.name for t in g.initializer)])
        return f"{nd.name}.input[{i}] {old!r} -> {nd.input[i]!r}"
    if kind == "output" and nd.output:
        i = rng.randrange(len(nd.output))
        old = nd.output[i]
        nd.output[i] = rng.choice(["", "dup", *produced, *(x.name for x in g.input)])
        return f"{nd.name}.output[{i}] {old!r} -> {nd.output[i]!r}"
    if kind == "graph_output" and g.output:
        old = g.output[0].name
        g.output[0].name = rng.choice(["missing", *produced])
        return f"graph output {old!r} -> {g.output[0].name!r}"
    if kind == "graph_output_is_input" and g.output and g.input:
        g.output[0].name = g.input[0].name
        return "graph output := graph input"
    if kind == "no_outputs":
        del g.output[:]
        return "no graph outputs"
    if kind == "swap_nodes" and len(g.node) > 1:
        i, j = rng.sample(range(len(g.node)), 2)
        a, b = copy.deepcopy(g.node[i]), copy.deepcopy(g.node[j])
        g.node[i].CopyFrom(b)
        g.node[j].CopyFrom(a)
        return f"swap nodes {i} and {j}"
    if kind == "drop_node":
        g.node.remove(nd)
        return f"drop node {nd.name}"
    if kind == "dup_node":
        g.node.append(copy.deepcopy(nd))
        return f"duplicate node {nd.name}"
    if kind == "op_type":
        from snncompile.ir.ops import OPS
        old = nd.op_type
        nd.op_type = rng.choice([*OPS, "Conv", "", "Unknown"])
        return f"{nd.name} op {old} -> {nd.op_type}"
    if kind == "domain":
        nd.domain = rng.choice(["", "ai.onnx", "ai.snncompile.x"])
        return f"{nd.name} domain := {nd.domain!r}"
    return "names untouched"


def _m_initializer_data(rng, m) -> str:
    from onnx import numpy_helper
    inits = list(m.graph.initializer)
    if not inits:
        return "no initializer"
    t = rng.choice(inits)
    try:
        arr = numpy_helper.to_array(t).copy()
    except Exception:  # noqa: BLE001 - already mutated beyond decoding
        return f"initializer {t.name} undecodable"
    kind = rng.choice(["nonfinite", "nonfinite", "huge", "drop", "resize"])
    if kind == "drop":
        m.graph.initializer.remove(t)
        return f"drop initializer {t.name}"
    if kind == "resize":
        flat = arr.reshape(-1)
        t.raw_data = flat[: max(len(flat) - 1, 0)].tobytes()
        return f"initializer {t.name} one element short"
    if arr.size == 0:
        return f"initializer {t.name} empty"
    flat = arr.reshape(-1)
    i = rng.randrange(flat.size)
    if np.issubdtype(arr.dtype, np.floating):
        v = (rng.choice([np.nan, np.inf, -np.inf]) if kind == "nonfinite"
             else rng.choice([1e38, -3e38, 6e4]))
        with np.errstate(all="ignore"):
            flat[i] = v
    elif np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        flat[i] = rng.choice([info.min, info.max])
        v = flat[i]
    else:
        return f"initializer {t.name} dtype {arr.dtype} left as is"
    t.CopyFrom(numpy_helper.from_array(arr, t.name))
    return f"initializer {t.name}[{i}] := {v}"


def _m_opset(rng, m) -> str:
    if not m.opset_import:
        return "no opset"
    o = rng.choice(m.opset_import)
    if rng.random() < 0.5:
        o.version = rng.choice([0, 2, 2**40])
        return f"opset {o.domain} version := {o.version}"
    o.domain = rng.choice(["", "ai.onnx", "other"])
    return f"opset domain := {o.domain!r}"


_MODEL_MUTATIONS = [_m_attr, _m_attr, _m_attr_benign, _m_attr_benign, _m_attr_type, _m_shape,
                    _m_dtype, _m_metadata, _m_metadata, _m_names, _m_names,
                    _m_initializer_data, _m_initializer_data, _m_scale_weights,
                    _m_scale_weights, _m_opset]


# -- TOML ----------------------------------------------------------------------------------------
def toml_dumps(doc: dict[str, Any]) -> str:
    """A TOML writer for the documents the fuzzers build (tables, arrays, scalars); values
    TOML cannot hold (None, mixed nesting) are written as strings."""
    lines: list[str] = []

    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v) if -(2**63) <= v < 2**63 else f'"{v}"'
        if isinstance(v, float):
            if math.isnan(v):
                return "nan"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(str(k))} = {val(x)}" for k, x in v.items()) + "}"
        return f'"{v!r}"'

    def table(prefix: str, d: dict[str, Any]) -> None:
        subs = {k: v for k, v in d.items() if isinstance(v, dict) and v}
        for k, v in d.items():
            if k not in subs:
                lines.append(f"{json.dumps(str(k))} = {val(v)}")
        for k, v in subs.items():
            name = f"{prefix}.{json.dumps(str(k))}" if prefix else json.dumps(str(k))
            lines.append(f"\n[{name}]")
            table(name, v)

    table("", doc)
    return "\n".join(lines) + "\n"

"""IR graph <-> ONNX file (one encode path, one decode path).

Layout of the ModelProto:
  opset_import       {"ai.snncompile": OPSET_VERSION}; every node is in that domain
  metadata_props     snncompile.format_version = FORMAT_VERSION,
                     snncompile.metadata = JSON of Graph.metadata (the model config)
  graph.input        the token ids (INT64 scalars), or a network's spike vector (INT64,
                     (n_in,)); graph.output the logits (or a network's spikes / potentials)
  graph.node         one NodeProto per IR node, in execution order: inputs = the op's value
                     inputs, then its parameter names in the op's role order
                     (`Op.param_shapes()`); attributes = the op's fields (float -> 0-d DOUBLE
                     tensor so values round-trip exactly, bool -> INT 0/1, tuple -> INTS)
  graph.initializer  the parameters (shared ones once); above `EXTERNAL_THRESHOLD` bytes (or
                     with external_data=True) they are streamed to `<file>.data` next to the
                     model and referenced as ONNX external data

`load` validates everything and raises `IRError` naming the node or field for a truncated or
corrupt file, a foreign ONNX model, an unknown op, an unsupported version, a shape or dtype
mismatch, a missing or non-finite weight, a string that is not UTF-8, or metadata that does
not fit its schema (`Graph.verify`). The bytes are always parsed as binary protobuf, whatever
the file is called. External weights are memory-mapped read-only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.atomic import atomic_path
from snncompile.errors import IRError, MissingDependencyError
from snncompile.ir.graph import Graph, Node
from snncompile.ir.ops import OPS, make_op

DOMAIN = "ai.snncompile"
OPSET_VERSION = 1
FORMAT_VERSION = 1
FORMAT_KEY = "snncompile.format_version"
METADATA_KEY = "snncompile.metadata"
EXTERNAL_THRESHOLD = 1 << 30  # bytes of parameters above which weights go to external data
_ALIGN = 64
_VALUE_TYPES = {"token": "INT64", "spike": "INT64", "float": "FLOAT"}
_PARAM_DTYPES = ("float32", "float64", "float16", "int8", "uint8")


def _onnx():
    try:
        import onnx
    except ImportError:  # pragma: no cover - declared dependency
        raise MissingDependencyError("snncompile.ir.serde needs onnx: pip install onnx") from None
    return onnx


def data_path(path: str | os.PathLike) -> Path:
    """The external-data file that belongs to model file `path` (IRError for a path that
    names no file, such as '' or '/')."""
    p = Path(path)
    if not p.name:
        raise IRError(f"{str(path)!r} is not a model file path")
    return p.with_name(p.name + ".data")


# ----------------------------------------------------------------------------------- encode
def _attribute(onnx, name: str, value: Any, typ: Any):
    from onnx import helper, numpy_helper
    if typ is float:
        return helper.make_attribute(name, numpy_helper.from_array(np.array(value, np.float64)))
    if typ is bool:
        return helper.make_attribute(name, int(value))
    if typ is int or typ is str:
        return helper.make_attribute(name, value)
    return helper.make_attribute(name, list(value), attr_type=onnx.AttributeProto.INTS)


def _param_inputs(node: Node) -> list[str]:
    return [node.params[role] for role in node.op.param_shapes()]


def to_model_proto(graph: Graph, external: dict[str, tuple[str, int, int]] | None = None):
    """The ModelProto of `graph`. `external` maps param name -> (location, offset, length) for
    weights stored outside the proto; the others are embedded."""
    onnx = _onnx()
    from onnx import helper, numpy_helper
    from snncompile import __version__
    graph.verify()
    shapes = graph.value_shapes()
    kinds: dict[str, str] = {v: k for v, (k, _s) in graph.input_specs().items()}
    nodes = []
    for n in graph.nodes:
        types = n.op.attribute_types()
        attrs = [_attribute(onnx, k, v, types[k]) for k, v in n.op.attributes().items()]
        proto = helper.make_node(n.op_type, list(n.inputs) + _param_inputs(n), list(n.outputs),
                                 name=n.name, domain=DOMAIN)
        proto.attribute.extend(attrs)
        nodes.append(proto)
        kinds.update(zip(n.outputs, n.op.output_kinds()))

    def vinfo(v: str):
        elem = getattr(onnx.TensorProto, _VALUE_TYPES[kinds[v]])
        return helper.make_tensor_value_info(v, elem, list(shapes[v]))

    inits = []
    for name, arr in graph.params.items():
        if external and name in external:
            t = onnx.TensorProto()
            t.name = name
            t.data_type = helper.np_dtype_to_tensor_dtype(arr.dtype)
            t.dims.extend(arr.shape)
            t.data_location = onnx.TensorProto.EXTERNAL
            loc, off, length = external[name]
            for k, v in (("location", loc), ("offset", str(off)), ("length", str(length))):
                e = t.external_data.add()
                e.key, e.value = k, v
        else:
            t = numpy_helper.from_array(np.ascontiguousarray(arr), name)
        inits.append(t)
    produced = [v for n in graph.nodes for v in n.outputs if v not in graph.outputs]
    gproto = helper.make_graph(nodes, "snncompile", [vinfo(v) for v in graph.inputs],
                               [vinfo(v) for v in graph.outputs], initializer=inits,
                               value_info=[vinfo(v) for v in produced])
    model = helper.make_model(gproto, opset_imports=[helper.make_opsetid(DOMAIN, OPSET_VERSION)],
                              producer_name="snncompile", producer_version=__version__)
    helper.set_model_props(model, {FORMAT_KEY: str(FORMAT_VERSION),
                                   METADATA_KEY: json.dumps(graph.metadata, sort_keys=True)})
    return model


def save(graph: Graph, path: str | os.PathLike, external_data: bool | None = None) -> Path:
    """Write `graph` to `path` (atomically). `external_data=None` streams the weights to
    `<path>.data` when they exceed EXTERNAL_THRESHOLD bytes; True/False force it.
    Returns the model path."""
    onnx = _onnx()
    path = Path(path)
    graph.verify()
    if external_data is None:
        external_data = graph.param_nbytes() > EXTERNAL_THRESHOLD
    if not external_data:
        model = to_model_proto(graph)
        onnx.checker.check_model(model)
        with atomic_path(path) as tmp:
            tmp.write_bytes(model.SerializeToString())
        stale = data_path(path)
        if stale.exists():
            stale.unlink()
        return path
    dpath = data_path(path)
    external: dict[str, tuple[str, int, int]] = {}
    with atomic_path(dpath) as tmp_data:
        with open(tmp_data, "wb") as f:
            for name, arr in graph.params.items():
                pad = (-f.tell()) % _ALIGN
                if pad:
                    f.write(b"\0" * pad)
                off = f.tell()
                a = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
                a = a if a.dtype.byteorder in ("=", "<", "|") else a.astype(a.dtype.newbyteorder("<"))
                if a.nbytes:
                    f.write(memoryview(a.reshape(-1)).cast("B"))
                external[name] = (dpath.name, off, int(a.nbytes))
        model = to_model_proto(graph, external)
        with atomic_path(path) as tmp_model:
            tmp_model.write_bytes(model.SerializeToString())
    return path


# ----------------------------------------------------------------------------------- decode
def _decode_attribute(onnx, node_name: str, attr, typ: Any) -> Any:
    from onnx import numpy_helper
    A = onnx.AttributeProto
    where = f"node {node_name!r}: attribute {attr.name!r}"
    if typ is float:
        if attr.type != A.TENSOR:
            raise IRError(f"{where} must be a DOUBLE tensor")
        try:
            arr = numpy_helper.to_array(attr.t)
        except Exception as exc:  # onnx raises assorted errors for malformed tensors
            raise IRError(f"{where}: unreadable tensor ({exc})") from None
        if arr.shape != () or arr.dtype.kind not in "fiu":
            raise IRError(f"{where} must be a numeric scalar, has shape {arr.shape} "
                          f"and dtype {arr.dtype}")
        return float(arr)
    if typ is bool:
        if attr.type != A.INT or attr.i not in (0, 1):
            raise IRError(f"{where} must be INT 0 or 1")
        return bool(attr.i)
    if typ is int:
        if attr.type != A.INT:
            raise IRError(f"{where} must be INT")
        return int(attr.i)
    if typ is str:
        if attr.type != A.STRING:
            raise IRError(f"{where} must be STRING")
        return attr.s.decode("utf-8", errors="replace")
    if attr.type != A.INTS:
        raise IRError(f"{where} must be INTS")
    return tuple(int(x) for x in attr.ints)


def _read_initializer(onnx, t, folder: Path, mmap: bool) -> np.ndarray:
    from onnx import helper, numpy_helper
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
    except (KeyError, TypeError, ValueError):
        raise IRError(f"param {t.name!r}: unsupported ONNX data type {t.data_type}") from None
    if dtype.name not in _PARAM_DTYPES:
        raise IRError(f"param {t.name!r}: dtype {dtype.name} is not one of {_PARAM_DTYPES}")
    shape = tuple(int(d) for d in t.dims)
    if any(d < 0 for d in shape):
        raise IRError(f"param {t.name!r}: negative dimension in {shape}")
    if t.data_location != onnx.TensorProto.EXTERNAL:
        try:
            arr = numpy_helper.to_array(t)
        except Exception as exc:  # onnx raises assorted errors for malformed tensors
            raise IRError(f"param {t.name!r}: unreadable tensor data ({exc})") from None
        if arr.shape != shape:
            raise IRError(f"param {t.name!r}: data holds {arr.size} values, dims say {shape}")
        return arr
    info = {e.key: e.value for e in t.external_data}
    loc = info.get("location")
    if not loc or os.path.isabs(loc) or ".." in Path(loc).parts:
        raise IRError(f"param {t.name!r}: bad external data location {loc!r}")
    fpath = folder / loc
    try:
        off = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise IRError(f"param {t.name!r}: bad external data offset/length") from None
    if off < 0:
        raise IRError(f"param {t.name!r}: negative external data offset {off}")
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if length is not None and length != need:
        raise IRError(f"param {t.name!r}: external length {length} != {need} bytes for {shape}")
    if not fpath.is_file():
        raise IRError(f"param {t.name!r}: external data file {str(fpath)!r} is missing")
    if fpath.stat().st_size < off + need:
        raise IRError(f"param {t.name!r}: external data file {fpath.name!r} is truncated "
                      f"(needs bytes {off}..{off + need}, has {fpath.stat().st_size})")
    if need == 0:
        return np.zeros(shape, dtype)
    if mmap:
        return np.memmap(fpath, dtype=dtype.newbyteorder("<"), mode="r", offset=off, shape=shape)
    with open(fpath, "rb") as f:
        f.seek(off)
        return np.fromfile(f, dtype=dtype.newbyteorder("<"), count=need // dtype.itemsize
                           ).reshape(shape)


def from_model_proto(model, folder: Path | None = None, mmap: bool = True) -> Graph:
    """Decode and verify a ModelProto (external data read relative to `folder`)."""
    onnx = _onnx()
    _check_utf8(model, "model")
    props = {p.key: p.value for p in model.metadata_props}
    if FORMAT_KEY not in props:
        raise IRError("not an snncompile model: metadata_props has no "
                      f"{FORMAT_KEY!r} (a foreign ONNX model?)")
    try:
        version = int(props[FORMAT_KEY])
    except ValueError:
        raise IRError(f"{FORMAT_KEY} is {props[FORMAT_KEY]!r}, not an integer") from None
    if version != FORMAT_VERSION:
        raise IRError(f"unsupported {FORMAT_KEY} {version} (this snncompile reads {FORMAT_VERSION})")
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get(DOMAIN) != OPSET_VERSION:
        raise IRError(f"unsupported opset for domain {DOMAIN!r}: {opsets.get(DOMAIN)} "
                      f"(this snncompile reads {OPSET_VERSION})")
    try:
        metadata = json.loads(props.get(METADATA_KEY, "{}"))
    except json.JSONDecodeError as exc:
        raise IRError(f"{METADATA_KEY} is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise IRError(f"{METADATA_KEY} must be a JSON object")
    g = model.graph
    params = {}
    for t in g.initializer:
        if t.name in params:
            raise IRError(f"param {t.name!r} is stored twice")
        params[t.name] = _read_initializer(onnx, t, folder or Path("."), mmap)
    inputs = tuple(v.name for v in g.input if v.name not in params)
    for v in g.input:
        if v.name in inputs and v.type.tensor_type.elem_type != onnx.TensorProto.INT64:
            raise IRError(f"graph input {v.name!r} must be INT64 (token ids or spike counts)")
    nodes = []
    for i, p in enumerate(g.node):
        name = p.name or f"#{i}"
        if p.domain != DOMAIN:
            raise IRError(f"node {name!r}: op {p.op_type!r} in domain {p.domain or 'ai.onnx'!r} "
                          f"is not an snncompile op")
        cls = OPS.get(p.op_type)
        if cls is None:
            raise IRError(f"node {name!r}: unknown op {p.op_type!r} (known: {sorted(OPS)})")
        types = cls.attribute_types()
        attrs = {}
        for a in p.attribute:
            if a.name not in types:
                raise IRError(f"node {name!r}: unknown attribute {a.name!r} for {p.op_type}")
            attrs[a.name] = _decode_attribute(onnx, name, a, types[a.name])
        missing = [k for k in types if k not in attrs]
        if missing:
            raise IRError(f"node {name!r}: missing attribute {missing[0]!r} of {p.op_type}")
        try:
            op = make_op(p.op_type, attrs)
        except IRError as exc:
            raise IRError(f"node {name!r}: {exc}") from None
        roles = list(op.param_shapes())
        ins = list(p.input)
        if len(ins) != op.n_inputs + len(roles):
            raise IRError(f"node {name!r}: has {len(ins)} inputs, {p.op_type} takes "
                          f"{op.n_inputs} values + params {roles}")
        values, pnames = ins[:op.n_inputs], ins[op.n_inputs:]
        for role, pn in zip(roles, pnames):
            if pn not in params:
                raise IRError(f"node {name!r}: missing weight {pn!r} ({role})")
        nodes.append(Node(name, op, tuple(values), tuple(p.output), dict(zip(roles, pnames))))
    graph = Graph(nodes, params, inputs, tuple(v.name for v in g.output), metadata)
    graph.verify()
    return graph


def load(path: str | os.PathLike, mmap: bool = True) -> Graph:
    """Read and validate an snncompile ONNX file; raises IRError for every bad input."""
    onnx = _onnx()
    path = Path(path)
    try:
        is_file = path.is_file()
    except OSError as exc:  # pathlib swallows only ENOENT / ENOTDIR (not ENAMETOOLONG, EACCES)
        raise IRError(f"{str(path)[:200]!r}: cannot be read ({exc.strerror})") from None
    if not is_file:
        raise IRError(f"{str(path)!r}: no such file")
    from google.protobuf.message import DecodeError
    # always binary protobuf: onnx.load_model picks a text parser from a .json / .textproto
    # suffix, so read the bytes and parse them ourselves, whatever the file is called
    try:
        data = path.read_bytes()
        model = onnx.ModelProto()
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise IRError(f"{str(path)!r}: not a readable ONNX file (truncated or corrupt: "
                      f"{type(exc).__name__})") from None
    try:
        return from_model_proto(model, path.parent, mmap)
    except IRError as exc:
        raise IRError(f"{str(path)!r}: {exc}") from None


def _check_utf8(msg, where: str) -> None:
    """IRError naming the first string field of `msg` (recursively) that is not UTF-8 text.
    The protobuf runtime hands such a field back as bytes instead of str; every string the
    decoder reads (names, metadata, attribute keys) must be text."""
    from google.protobuf.descriptor import FieldDescriptor as F
    for fd, value in msg.ListFields():
        if fd.type not in (F.TYPE_STRING, F.TYPE_MESSAGE):
            continue
        items = value if fd.is_repeated else (value,)
        for i, v in enumerate(items):
            at = f"{where}.{fd.name}" + (f"[{i}]" if fd.is_repeated else "")
            if fd.type == F.TYPE_MESSAGE:
                _check_utf8(v, at)
            elif not isinstance(v, str):
                raise IRError(f"{at} is not UTF-8 text ({bytes(v)[:40]!r})")

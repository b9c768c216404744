"""The IR graph: an ordered list of nodes over named values, plus parameters and metadata.

A graph computes one decoding step (batch 1). Values are named; every value is defined once,
by a graph input or by exactly one earlier node (nodes are stored in execution order).
Graph inputs are token ids (int64 scalars), or, for a time-stepped network
(`metadata["network"]`), one spike vector (spike counts per step, shape (n_in,)); a network
graph computes one time step. `Node.params` maps an op's parameter role
("weight", "bias", ...) to a parameter name of `Graph.params`; two nodes may share one
parameter (the tied LM head references the embedding's weight).

`Graph.verify()` checks all of it and raises `IRError` naming the node and field; run it
after every pass.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np

from snncompile.errors import IRError
from snncompile.ir.counts import Counts
from snncompile.ir.ops import Op, Shape

_BLOCK = re.compile(r"^layers\.(\d+)\.")


def block_of(node_name: str) -> int | None:
    """The block index of a node named "layers.{i}.<...>", else None."""
    m = _BLOCK.match(node_name)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Node:
    """One op application: outputs = op(inputs), with params {role: param name}."""

    name: str
    op: Op
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "params", dict(self.params))

    @property
    def op_type(self) -> str:
        return self.op.op_type

    @property
    def block(self) -> int | None:
        return block_of(self.name)


@dataclass
class Graph:
    """nodes (execution order), params {name: array}, inputs/outputs (value names), metadata.

    `metadata["config"]` holds the model config (`SpikingMambaConfig.to_mamba_ssm_dict()`);
    a time-stepped network has `metadata["network"]` = {"inputs": n_in, "dt": seconds or
    null, "source": str} instead, and its one input is a spike vector (`input_specs`);
    metadata must be JSON-serializable.
    """

    nodes: list[Node]
    params: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: tuple[str, ...] = ("token",)
    outputs: tuple[str, ...] = ("logits",)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.nodes = list(self.nodes)
        self.inputs = tuple(self.inputs)
        self.outputs = tuple(self.outputs)

    # -- lookup ----------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise IRError(f"graph has no node named {name!r}")

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def is_network(self) -> bool:
        """True for a time-stepped spiking network (`metadata["network"]`)."""
        return isinstance(self.metadata, dict) and "network" in self.metadata

    def input_specs(self) -> dict[str, tuple[str, Shape]]:
        """Graph input -> (kind, shape): token ids are ("token", ()); a network's one input
        is ("spike", (n_in,)), n_in = metadata["network"]["inputs"]."""
        if self.is_network:
            n_in = verify_network(self.metadata["network"])
            if len(self.inputs) != 1:
                raise IRError(f"a network graph has one input (the spike vector), "
                              f"got {len(self.inputs)}: {list(self.inputs)}")
            return {self.inputs[0]: ("spike", (n_in,))}
        return {v: ("token", ()) for v in self.inputs}

    def producers(self) -> dict[str, Node]:
        """Value name -> the node that defines it (graph inputs are absent)."""
        return {v: n for n in self.nodes for v in n.outputs}

    def param_specs(self) -> dict[str, tuple[Shape, tuple[str, ...]]]:
        """Parameter name -> (shape, allowed dtypes) as the ops require (params need not be
        present). Raises IRError when two nodes require one name with different shapes."""
        specs: dict[str, tuple[Shape, tuple[str, ...]]] = {}
        for n in self.nodes:
            want = n.op.param_shapes()
            for role, pname in n.params.items():
                if role not in want:
                    continue
                shape, dtypes = want[role]
                if pname in specs and specs[pname][0] != tuple(shape):
                    raise IRError(
                        f"node {n.name!r}: param {pname!r} ({role}) needs shape {tuple(shape)}, "
                        f"another node needs {specs[pname][0]}")
                specs[pname] = (tuple(shape), dtypes)
        return specs

    def n_params(self) -> int:
        """Number of parameter elements (shared parameters counted once)."""
        return sum(int(np.prod(s)) for s, _ in self.param_specs().values())

    def param_nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.params.values())

    def counts(self, spike_sums: Mapping[str, int | float] | None = None) -> dict[str, Counts]:
        """Per-node `Counts` for one token; `spike_sums[node]` = sum |s| of the spike input
        of each node that takes spikes."""
        spike_sums = spike_sums or {}
        out: dict[str, Counts] = {}
        for n in self.nodes:
            try:
                out[n.name] = n.op.counts(spike_sums.get(n.name))
            except IRError as exc:
                raise IRError(f"node {n.name!r}: {exc}") from None
        return out

    def spike_source(self, name: str) -> Node:
        """The neuron (spike-emitting node) whose output feeds node `name`'s spike input."""
        node = self.node(name)
        idx = node.op.spike_inputs()
        if not idx:
            raise IRError(f"node {name!r} ({node.op_type}) takes no spike input")
        src = self.producers().get(node.inputs[idx[0]])
        if src is None or not src.op.emits_spikes:
            raise IRError(f"node {name!r}: its spike input is not produced by a neuron")
        return src

    def spiked_projections(self) -> list[tuple[Node, Node]]:
        """(node, the neuron feeding it) for every node with a spike input, in graph order."""
        producers = self.producers()
        out = []
        for n in self.nodes:
            idx = n.op.spike_inputs()
            if idx:
                src = producers.get(n.inputs[idx[0]])
                if src is None or not src.op.emits_spikes:
                    raise IRError(f"node {n.name!r}: its spike input is not produced by a neuron")
                out.append((n, src))
        return out

    def neurons(self) -> list[Node]:
        """Every spike-emitting node, in graph order."""
        return [n for n in self.nodes if n.op.emits_spikes]

    def state_shapes(self) -> dict[str, dict[str, Shape]]:
        """{node: {state name: shape}} of every stateful node."""
        return {n.name: n.op.state_shapes() for n in self.nodes if n.op.stateful}

    # -- checks ----------------------------------------------------------------------------
    def value_shapes(self) -> dict[str, Shape]:
        """Every value's shape, inferred node by node (raises IRError naming the node)."""
        shapes: dict[str, Shape] = {v: s for v, (_k, s) in self.input_specs().items()}
        for n in self.nodes:
            try:
                missing = [v for v in n.inputs if v not in shapes]
                if missing:
                    raise IRError(f"input {missing[0]!r} is not defined before this node")
                out = n.op.infer([shapes[v] for v in n.inputs])
            except IRError as exc:
                raise IRError(f"node {n.name!r} ({n.op_type}): {exc}") from None
            for v, s in zip(n.outputs, out):
                shapes[v] = tuple(s)
        return shapes

    def verify(self, require_params: bool = True) -> None:
        """Check structure, op attributes, shapes, value kinds, parameters (shape, dtype and
        finite values: `first_nonfinite`), the outputs (at least one, none a graph input) and
        the metadata (`verify_metadata`).

        With `require_params=False` a shape-only graph (no arrays) passes; arrays that are
        present are still checked.
        """
        if not self.inputs:
            raise IRError("graph has no inputs")
        if not isinstance(self.metadata, dict):
            raise IRError(f"graph metadata must be an object, got {type(self.metadata).__name__}")
        kinds: dict[str, str] = {v: k for v, (k, _s) in self.input_specs().items()}
        names: set[str] = set()
        for n in self.nodes:
            where = f"node {n.name!r} ({n.op_type})"
            if not isinstance(n.name, str) or not n.name:
                raise IRError(f"{where}: node name must be a non-empty string")
            if n.name in names:
                raise IRError(f"{where}: duplicate node name")
            names.add(n.name)
            if not isinstance(n.op, Op):
                raise IRError(f"{where}: op is not an IR op ({type(n.op).__name__})")
            try:
                n.op.verify()
                n.op.verify_state()
            except IRError as exc:
                raise IRError(f"{where}: {exc}") from None
            if len(n.inputs) != n.op.n_inputs:
                raise IRError(f"{where}: has {len(n.inputs)} inputs, op takes {n.op.n_inputs}")
            if len(n.outputs) != n.op.output_count():
                raise IRError(
                    f"{where}: has {len(n.outputs)} outputs, op gives {n.op.output_count()}")
            for i, (v, want) in enumerate(zip(n.inputs, n.op.in_kinds)):
                if v not in kinds:
                    raise IRError(f"{where}: input {v!r} is not defined before this node")
                if kinds[v] != want:
                    raise IRError(f"{where}: input {i} {v!r} is a {kinds[v]} value, "
                                  f"op expects {want}")
            for v, k in zip(n.outputs, n.op.output_kinds()):
                if v in kinds:
                    raise IRError(f"{where}: output {v!r} is already defined")
                kinds[v] = k
            want_roles = set(n.op.param_shapes())
            if set(n.params) != want_roles:
                raise IRError(f"{where}: params {sorted(n.params)} do not match the op's roles "
                              f"{sorted(want_roles)}")
        if not self.outputs:
            raise IRError("graph has no outputs")
        for v in self.outputs:
            if v in self.inputs:
                raise IRError(f"graph output {v!r} is a graph input, not produced by any node")
            if v not in kinds:
                raise IRError(f"graph output {v!r} is not produced by any node")
        self.value_shapes()
        specs = self.param_specs()
        for pname, (shape, dtypes) in specs.items():
            arr = self.params.get(pname)
            if arr is None:
                if require_params:
                    user = next(n.name for n in self.nodes if pname in n.params.values())
                    raise IRError(f"node {user!r}: missing parameter {pname!r}")
                continue
            if not isinstance(arr, np.ndarray):
                raise IRError(f"param {pname!r} is not a numpy array ({type(arr).__name__})")
            if tuple(arr.shape) != shape:
                raise IRError(f"param {pname!r} has shape {tuple(arr.shape)}, expected {shape}")
            if arr.dtype.name not in dtypes:
                raise IRError(f"param {pname!r} has dtype {arr.dtype.name}, expected one of {dtypes}")
            bad = first_nonfinite(arr)
            if bad is not None:
                raise IRError(f"param {pname!r} holds a non-finite value ({bad})")
        unused = sorted(set(self.params) - set(specs))
        if unused:
            raise IRError(f"param {unused[0]!r} is not used by any node")
        try:
            json.dumps(self.metadata, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise IRError(f"graph metadata is not JSON-serializable: {exc}") from None
        verify_metadata(self.metadata, [v for n in self.nodes
                                        if (v := n.op.attributes().get("vocab")) is not None])


# -- finite values ---------------------------------------------------------------------------
_FINITE_BLOCK = 1 << 20  # elements per np.isfinite pass (4 MiB of float32: stays in cache)


def first_nonfinite(arr: np.ndarray) -> str | None:
    """None when every element of `arr` is finite (integer arrays always are), else a short
    description of the first NaN or Inf ("nan at index (3, 7)"). Checks blocks of
    `_FINITE_BLOCK` elements, so a memory-mapped multi-GB weight is read once, in pieces,
    with no full-size temporary (about 10 GB/s of float32 on one core)."""
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return None
    # a view, not a copy: C order for C-contiguous arrays (what serde and the passes make),
    # the transpose's C order for Fortran-ordered ones (a transposed weight)
    fortran = arr.flags.f_contiguous and not arr.flags.c_contiguous
    base = arr.T if fortran else arr
    flat = base.reshape(-1)
    for start in range(0, flat.size, _FINITE_BLOCK):
        ok = np.isfinite(flat[start:start + _FINITE_BLOCK])
        if not ok.all():
            i = start + int(np.argmin(ok))
            idx = tuple(int(x) for x in np.unravel_index(i, base.shape))
            return f"{flat[i]} at index {idx[::-1] if fortran else idx}"
    return None


# -- metadata schema ---------------------------------------------------------------------------
_MAX_DIM = 2**31 - 1
# metadata["config"] is SpikingMambaConfig.to_mamba_ssm_dict() (the upstream config.json):
# field -> (type, required); "int+" is a positive int <= _MAX_DIM, "int0" a non-negative one
_CONFIG_SCHEMA: dict[str, tuple[str, bool]] = {
    "d_model": ("int+", True), "n_layer": ("int+", True), "vocab_size": ("int+", True),
    "d_intermediate": ("int0", False), "pad_vocab_size_multiple": ("int+", False),
    "ssm_cfg": ("dict|null", False), "attn_layer_idx": ("list", False),
    "attn_cfg": ("dict|null", False),
    "rms_norm": ("bool", False), "residual_in_fp32": ("bool", False),
    "fused_add_norm": ("bool", False), "tie_embeddings": ("bool", False),
    "spiking": ("dict|null|bool", False),
}
_SSM_SCHEMA: dict[str, str] = {
    "layer": "str", "d_state": "int+", "d_conv": "int+", "expand": "int+", "headdim": "int+",
    "ngroups": "int+", "chunk_size": "int+", "conv_bias": "bool", "bias": "bool",
    "norm_before_gate": "bool", "dt_min": "float", "dt_max": "float", "dt_init_floor": "float",
}
_SPIKING_SCHEMA: dict[str, str] = {
    "neuron": "dict", "layer_neurons": "list|null", "spiked_projections": "list", "sgc": "bool",
    "sgc_mode": "str", "sgc_weight": "float",
}


def _type_ok(v: Any, typ: str) -> bool:
    is_int = isinstance(v, int) and not isinstance(v, bool)
    return any({
        "int+": is_int and 1 <= v <= _MAX_DIM,
        "int0": is_int and 0 <= v <= _MAX_DIM,
        "float": (is_int or isinstance(v, float)) and math.isfinite(v),
        "bool": isinstance(v, bool), "str": isinstance(v, str), "dict": isinstance(v, dict),
        "list": isinstance(v, list), "null": v is None,
    }[t] for t in typ.split("|"))


_TYPE_WORDS = {"int+": f"a positive integer <= {_MAX_DIM}", "int0": "a non-negative integer",
               "float": "a finite number", "bool": "true or false", "str": "a string",
               "dict": "an object", "list": "a list", "null": "null"}


def _check_fields(where: str, d: dict, schema: Mapping[str, str]) -> None:
    for key, typ in schema.items():
        if key in d and not _type_ok(d[key], typ):
            want = " or ".join(_TYPE_WORDS[t] for t in typ.split("|"))
            raise IRError(f"graph metadata: {where}.{key} must be {want}, got {d[key]!r:.80}")


_NETWORK_SCHEMA: dict[str, tuple[str, bool]] = {
    "inputs": ("int+", True), "dt": ("float|null", False), "source": ("str", False),
}


def verify_network(net: Any) -> int:
    """Check `metadata["network"]` (`_NETWORK_SCHEMA`: inputs a positive int, dt a positive
    number of seconds or null, source a string); returns n_in. IRError naming the field."""
    if not isinstance(net, dict):
        raise IRError(f"graph metadata: network must be an object, got {type(net).__name__}")
    for key, (_typ, required) in _NETWORK_SCHEMA.items():
        if required and key not in net:
            raise IRError(f"graph metadata: network.{key} is missing")
    _check_fields("network", net, {k: t for k, (t, _r) in _NETWORK_SCHEMA.items()})
    if net.get("dt") is not None and not net["dt"] > 0:
        raise IRError(f"graph metadata: network.dt must be positive or null, got {net['dt']!r}")
    return int(net["inputs"])


def verify_metadata(metadata: Any, vocabs: list[int] = ()) -> None:
    """IRError naming the field when `metadata` does not fit the schema: an object with at
    most one of `config` and `network` (a time-stepped network: `verify_network`); an
    optional `config` is a model config (`_CONFIG_SCHEMA`: d_model, n_layer and vocab_size
    positive ints, the known fields of the right type) with vocab_size at most the smallest
    vocabulary among the graph's ops (`vocabs`: the Embedding / LM head `vocab`), so that no
    executor meets a config it cannot use."""
    if not isinstance(metadata, dict):
        raise IRError(f"graph metadata must be an object, got {type(metadata).__name__}")
    if "config" in metadata and "network" in metadata:
        raise IRError("graph metadata: has both config (a token model) and network "
                      "(a time-stepped network); a graph is one or the other")
    if "network" in metadata:
        verify_network(metadata["network"])
        return
    if "config" not in metadata:
        return
    cfg = metadata["config"]
    if not isinstance(cfg, dict):
        raise IRError(f"graph metadata: config must be an object, got {type(cfg).__name__}")
    for key, (_typ, required) in _CONFIG_SCHEMA.items():
        if required and key not in cfg:
            raise IRError(f"graph metadata: config.{key} is missing")
    _check_fields("config", cfg, {k: t for k, (t, _r) in _CONFIG_SCHEMA.items()})
    _check_fields("config.ssm_cfg", cfg.get("ssm_cfg") or {}, _SSM_SCHEMA)
    _check_fields("config.spiking", cfg.get("spiking") or {}, _SPIKING_SCHEMA)
    if vocabs and cfg["vocab_size"] > min(vocabs):
        raise IRError(f"graph metadata: config.vocab_size {cfg['vocab_size']} exceeds the "
                      f"graph's vocabulary of {min(vocabs)} (Embedding / LMHead vocab)")


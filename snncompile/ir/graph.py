"""The IR graph: an ordered list of nodes over named values, plus parameters and metadata.

A graph computes one decoding step (batch 1). Values are named; every value is defined once,
by a graph input or by exactly one earlier node (nodes are stored in execution order).
Graph inputs are token ids (int64 scalars). `Node.params` maps an op's parameter role
("weight", "bias", ...) to a parameter name of `Graph.params`; two nodes may share one
parameter (the tied LM head references the embedding's weight).

`Graph.verify()` checks all of it and raises `IRError` naming the node and field; run it
after every pass.
"""

from __future__ import annotations

import json
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
        shapes: dict[str, Shape] = {v: () for v in self.inputs}
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
        """Check structure, op attributes, shapes, value kinds and parameters.

        With `require_params=False` a shape-only graph (no arrays) passes; arrays that are
        present are still checked.
        """
        if not self.inputs:
            raise IRError("graph has no inputs")
        kinds: dict[str, str] = {v: "token" for v in self.inputs}
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
        for v in self.outputs:
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
        unused = sorted(set(self.params) - set(specs))
        if unused:
            raise IRError(f"param {unused[0]!r} is not used by any node")
        try:
            json.dumps(self.metadata)
        except (TypeError, ValueError) as exc:
            raise IRError(f"graph metadata is not JSON-serializable: {exc}") from None


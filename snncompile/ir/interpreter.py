"""The one graph walk, shared by every executor (torch.fx `Interpreter` style).

`Interpreter(graph)` binds each node to the method `run_<OpType>(node, inputs, state)` of the
subclass (an IRError names a node whose op has no runner) and walks the nodes in order:

    values[graph input] = token
    for node in graph:  outputs = run_<OpType>(node, [values[v] for v in node.inputs],
                                                state.get(node.name))
                        values[node.outputs] = outputs ; counts[node] = count(node, ...)

`state` is {node name: {state name: array}}, laid out from the ops' own declarations
(`Op.state_shapes()`); a runner advances its node's entry in place. A runner may `keep(name,
value)` extra values (integer accumulators, spike frames) when the caller asked for values.
Errors are re-raised naming the node: an SnnCompileError keeps its type, anything else
becomes a SimulationError.

Counting is the walk's too: `count(node, ins, outs)` gives the node's `Counts` from the op's
own accounting (`Op.counts` at the measured spike sum of its spike inputs; spikes and neuron
updates for neurons). An executor that counts by other means (the simulator) turns it off.

Subclasses provide the value type: `zeros(shape)`, `token_value(token)`,
`spike_value(counts)`, `abs_sum(x)` and `argmax(logits)`.

Time-stepped networks (`Graph.is_network`: one spike-vector input) run with
`run_steps(x)`: x (T, n_in) integer spike counts, one row per step, through the same walk;
each graph output is stacked over the T steps and the counts are summed (`tokens` = T).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from snncompile.errors import IRError, SimulationError, SnnCompileError
from snncompile.ir.counts import Counts, NodeCounts, RunCounts
from snncompile.ir.graph import Graph, Node


@dataclass
class GenerateResult:
    """Output of `generate`: the new token ids, the counts over every step and all logits."""

    tokens: list[int]
    counters: RunCounts
    logits: list[Any]


@dataclass
class StepResult:
    """Output of `run_steps`: per graph output an array (T, ...) of its values over the T
    steps (spikes int64, potentials float64), the counts summed over the steps (tokens = T)
    and the final state."""

    outputs: list[np.ndarray]
    counters: RunCounts
    state: dict[str, dict[str, Any]]


def check_spike_steps(x: Any, n_in: int) -> np.ndarray:
    """x as an int64 array (T, n_in) of spike counts per step; SimulationError (one line)
    when it is not 2-D, has the wrong width, holds a non-integer, negative or non-finite
    value."""
    a = np.asarray(x)
    if a.ndim != 2:
        raise SimulationError(f"spike input must be 2-D (T steps, {n_in} inputs), "
                              f"got shape {a.shape}")
    if a.shape[1] != n_in:
        raise SimulationError(f"spike input has {a.shape[1]} columns, the network has "
                              f"{n_in} inputs")
    if a.dtype.kind == "b" or a.dtype.kind not in "iuf":
        raise SimulationError(f"spike input must hold integers, got dtype {a.dtype}")
    if a.dtype.kind == "f":
        if not np.isfinite(a).all() or (a != np.trunc(a)).any():
            raise SimulationError("spike input holds a non-integer value")
        if a.size and np.abs(a).max() >= 2.0 ** 62:
            raise SimulationError("spike input holds a value too large for int64")
    if a.dtype.kind == "u" and a.size and a.max() >= 2 ** 63:
        raise SimulationError("spike input holds a value too large for int64")
    a = a.astype(np.int64)
    if a.size and a.min() < 0:
        raise SimulationError(f"spike input holds a negative count ({int(a.min())})")
    return a


class Interpreter:
    """Walk an IR graph token by token (module docstring)."""

    counting: bool = True

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        plan = []
        for n in graph.nodes:
            # the class's function, not a bound method: a plan of bound methods would make
            # every executor a reference cycle that outlives its last use
            fn = getattr(type(self), f"run_{n.op_type}", None)
            if fn is None:
                raise IRError(f"node {n.name!r}: {type(self).__name__} has no run_{n.op_type}")
            plan.append((n, fn, n.op.spike_inputs(), n.op.emits_spikes))
        self._plan = plan
        # connections per input of ops whose spikes reach fewer than all outputs (conv_ops)
        self._fan_out: dict[str, np.ndarray] = {}
        for n in graph.nodes:
            fan = getattr(n.op, "fan_out", None)
            if fan is not None and n.op.spike_inputs():
                f = fan({r: graph.params[p] for r, p in n.params.items() if p in graph.params})
                if f is not None:
                    self._fan_out[n.name] = f
        self._extra: dict[str, Any] | None = None
        self._last: list[Any] = []
        self.values: dict[str, Any] | None = None
        cfg = graph.metadata.get("config") or {}
        self.vocab_size = int(cfg.get("vocab_size", 0)) or None if isinstance(cfg, dict) else None

    # -- value type (overridden) ----------------------------------------------------------------
    def zeros(self, shape: tuple[int, ...]) -> Any:
        raise NotImplementedError

    def token_value(self, token: int) -> Any:
        return int(token)

    def spike_value(self, counts: np.ndarray) -> Any:
        """One step's spike-count vector (int64 NumPy) as a value of this executor."""
        return counts

    def to_numpy(self, x: Any) -> np.ndarray:
        """A value of this executor as a NumPy array (for `run_steps`)."""
        return np.asarray(x)

    def abs_sum(self, x: Any) -> int:
        raise NotImplementedError

    def argmax(self, logits: Any) -> int:
        raise NotImplementedError

    # -- state ----------------------------------------------------------------------------------
    def init_state(self) -> dict[str, dict[str, Any]]:
        """Zero state of every stateful node, as its op declares it."""
        return {node: {k: self.zeros(shape) for k, shape in shapes.items()}
                for node, shapes in self.graph.state_shapes().items()}

    def keep(self, name: str, value: Any) -> None:
        """Record an extra value (when the walk keeps values)."""
        if self._extra is not None:
            self._extra[name] = value

    # -- the walk -------------------------------------------------------------------------------
    def walk(self, token: int, state: dict[str, dict[str, Any]], keep_values: bool = False
             ) -> tuple[Any, list[Counts] | None]:
        """One token: (the graph's first output, per-node Counts or None when not counting)."""
        try:
            if isinstance(token, bool):
                raise TypeError
            token = operator.index(token)
        except TypeError:
            raise SimulationError(f"token must be an int, got {type(token).__name__}") from None
        if self.graph.is_network:
            raise SimulationError("this graph is a time-stepped network: it takes spike "
                                  "vectors (run_steps), not tokens")
        return self._walk(self.token_value(token), state, keep_values)

    def _walk(self, value: Any, state: dict[str, dict[str, Any]], keep_values: bool
              ) -> tuple[Any, list[Counts] | None]:
        values: dict[str, Any] = {self.graph.inputs[0]: value}
        self._extra = {} if keep_values else None
        counts: list[Counts] | None = [] if self.counting else None
        for node, fn, spike_in, emits in self._plan:
            ins = [values[v] for v in node.inputs]
            try:
                outs = fn(self, node, ins, state.get(node.name))
                if counts is not None:
                    counts.append(self.count(node, ins, outs, spike_in, emits))
            except SnnCompileError as exc:
                raise type(exc)(f"node {node.name!r} ({node.op_type}): {exc}") from exc
            except Exception as exc:  # noqa: BLE001 - any failure inside an op names the node
                raise SimulationError(f"node {node.name!r} ({node.op_type}): "
                                      f"{type(exc).__name__}: {exc}") from exc
            values.update(zip(node.outputs, outs))
        if keep_values:
            self.values = {**values, **self._extra}
        self._extra = None
        self._last = [values[v] for v in self.graph.outputs]
        out = self._last[0]
        if not all(self.all_finite(values[v]) for v in self.graph.outputs):
            self._non_finite(values)
        return out, counts

    def run_steps(self, x: Any, state: dict[str, dict[str, Any]] | None = None
                  ) -> StepResult:
        """Run a time-stepped network (`Graph.is_network`) over x (T, n_in), integer spike
        counts per step (`check_spike_steps`): every graph output stacked over the T steps,
        the counts summed over them (tokens = T), the final state (module docstring)."""
        if not self.graph.is_network:
            raise SimulationError("run_steps needs a time-stepped network (metadata "
                                  "'network', a spike-vector input); this graph takes tokens")
        (_kind, (n_in,)), = self.graph.input_specs().values()
        steps = check_spike_steps(x, n_in)
        state = self.init_state() if state is None else state
        outs: list[list[np.ndarray]] = [[] for _ in self.graph.outputs]
        sums: list[Counts] | None = None
        for row in steps:
            _out, counts = self._walk(self.spike_value(row), state, False)
            for acc, v in zip(outs, self._last):
                acc.append(self.to_numpy(v))
            if counts is not None:
                sums = counts if sums is None else [a + b for a, b in zip(sums, counts)]
        arrays = [np.stack(a) if a else self._empty_output(v)
                  for a, v in zip(outs, self.graph.outputs)]
        per_node = sums if sums is not None else [Counts()] * len(self._plan)
        return StepResult(arrays, self.run_counts(per_node, tokens=len(steps)), state)

    def all_finite(self, x: Any) -> bool:
        """True when every element of value `x` is finite (integer values always are)."""
        raise NotImplementedError

    def _non_finite(self, values: dict[str, Any]) -> None:
        """SimulationError naming the first node whose output is not finite: finite inputs
        (weights, attributes) can still overflow at run time, and that is no result."""
        for node, *_ in self._plan:
            for v in node.outputs:
                if not self.all_finite(values[v]):
                    raise SimulationError(
                        f"node {node.name!r} ({node.op_type}): output {v!r} is not finite "
                        "(the values overflow; check the model's weights and attributes)")

    def count(self, node: Node, ins: list[Any], outs: list[Any], spike_in: tuple[int, ...],
              emits: bool) -> Counts:
        """The node's Counts for this step from the op's own accounting."""
        op = node.op
        if spike_in:
            consumed = sum(self.abs_sum(ins[i]) for i in spike_in)
            c = op.counts(consumed).replace(input_spikes=consumed)
            fan = self._fan_out.get(node.name)
            if fan is not None:  # synaptic events: the connections the spikes reach
                events = int(np.abs(self.to_numpy(ins[spike_in[0]])).astype(np.int64) @ fan)
                c = c.replace(acs=events + int(op.counts(0).acs))   # + a bias's adds
        else:
            c = op.counts()
        if emits:
            kinds = op.output_kinds()
            c = c.replace(spikes=sum(self.abs_sum(o) for o, k in zip(outs, kinds) if k == "spike"),
                          neuron_updates=op.neuron_updates(),
                          neuron_accesses=op.neuron_updates())
        return c

    # -- ops whose default runner is their own NumPy equation (snncompile/ir/conv_ops.py);
    #    an executor whose values are not NumPy arrays overrides these (the reference does)
    def _op_equation(self, node: Node, ins: list[Any], state: Any) -> list[Any]:
        params = {r: self.graph.params[p] for r, p in node.params.items()}
        return [node.op.apply_numpy(self.to_numpy(ins[0]), params)]

    run_Conv1d = run_Conv2d = run_SumPool2d = _op_equation

    def run_counts(self, per_node: list[Counts], tokens: int = 1) -> RunCounts:
        """Label per-node Counts as a RunCounts of `tokens` tokens."""
        return RunCounts(tuple(NodeCounts(n.name, n.op_type, n.block, c)
                               for (n, *_), c in zip(self._plan, per_node)), tokens=tokens)

    def step(self, token: int, state: dict[str, dict[str, Any]], keep_values: bool = False
             ) -> tuple[Any, RunCounts]:
        """One token through the graph: (logits, its RunCounts); `state` advances. With
        `keep_values`, `self.values` holds every value and the runners' extra values."""
        out, counts = self.walk(token, state, keep_values)
        return out, self.run_counts(counts or [Counts()] * len(self._plan))

    def run(self, tokens: Sequence[int], state: dict[str, dict[str, Any]] | None = None
            ) -> tuple[list[Any], RunCounts, dict[str, dict[str, Any]]]:
        """Feed `tokens` one by one: (logits per token, summed counts, final state)."""
        state = self.init_state() if state is None else state
        out: list[Any] = []
        sums: list[Counts] | None = None
        for t in tokens:
            logits, counts = self.walk(t, state)
            out.append(logits)
            if counts is not None:
                sums = counts if sums is None else [a + b for a, b in zip(sums, counts)]
        per_node = sums if sums is not None else [Counts()] * len(self._plan)
        return out, self.run_counts(per_node, tokens=len(out)), state

    def _empty_output(self, value: str) -> np.ndarray:
        """The (0, ...) array of a graph output over zero steps (int64 for spikes)."""
        kinds = {v: k for n in self.graph.nodes for v, k in zip(n.outputs, n.op.output_kinds())}
        dtype = np.int64 if kinds[value] == "spike" else np.float64
        return np.zeros((0, *self.graph.value_shapes()[value]), dtype)

    def pick(self, logits: Any, temperature: float, seed: int | None, k: int) -> int:
        """The next token: greedy at temperature 0 (over the real vocabulary)."""
        if temperature != 0:
            raise SimulationError(f"{type(self).__name__} decodes greedily only "
                                  f"(temperature 0), got {temperature}")
        return self.argmax(logits[: self.vocab_size] if self.vocab_size else logits)

    def generate(self, prompt_ids: Sequence[int], max_new_tokens: int, temperature: float = 0.0,
                 seed: int | None = None, on_token: Callable[[int], None] | None = None
                 ) -> GenerateResult:
        """Greedy (or, where the executor samples, sampled) decoding after the prompt; the
        last new token is not fed back."""
        if len(prompt_ids) == 0:
            raise SimulationError("generate: the prompt is empty")
        if max_new_tokens < 0 or not (math.isfinite(temperature) and temperature >= 0):
            raise SimulationError("generate: max_new_tokens and temperature must be >= 0 "
                                  f"(got {max_new_tokens}, {temperature})")
        state = self.init_state()
        logits_all: list[Any] = []
        sums: list[Counts] | None = None

        def feed(tok: int) -> Any:
            nonlocal sums
            logits, counts = self.walk(int(tok), state)
            logits_all.append(logits)
            if counts is not None:
                sums = counts if sums is None else [a + b for a, b in zip(sums, counts)]
            if on_token is not None:
                on_token(int(tok))
            return logits

        logits = None
        for t in prompt_ids:
            logits = feed(int(t))
        new: list[int] = []
        for k in range(max_new_tokens):
            nxt = self.pick(logits, temperature, seed, k)
            new.append(nxt)
            if k == max_new_tokens - 1:
                break
            logits = feed(nxt)
        per_node = sums if sums is not None else [Counts()] * len(self._plan)
        return GenerateResult(new, self.run_counts(per_node, tokens=len(logits_all)), logits_all)

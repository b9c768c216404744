"""Quality on the hardware: bits per byte, firing rates and counters of an exported or lowered
graph, measured in one token-by-token pass, and their energy per token under a cost table.

    evaluate_graph(graph, windows, executor="reference", program=None, ...) -> GraphEval
    energy_record(counters, table) -> {"preset", "mode", "per_token": {"snn_j", "ann_j"},
                                       "ratio", "ratio_basis"}

Executors (one walk per token gives the logits and the counters together; no second pass):
  reference  the reference interpreter (`backends.reference.ReferenceInterpreter`) on the
             graph (a model.onnx, or a program's lowered graph: its int8 accumulations exactly
             as the target computes them); counters from the walk's own accounting.
  simulator  the cycle-counting simulator (`simulator.Simulator`) on an accum program; the
             counters are its tally (cycles, memory, NoC included).
Bits per byte follow `training.evaluate.evaluate_stream`: the first bytes of the data cut into
windows of seq_len + 1 (`data.corpus.eval_windows`), the state restarted at each window, each
byte after a window's first predicted once. The counters cover every step fed (tokens = windows
x seq_len).

Firing rate of a neuron node (a SpikeEncode of d elements, D levels): sum |s| / (tokens * d * D),
pooled per block and over all neurons as `training.evaluate.pool_rates` does. The reference
counts sum |s| as the neuron's `spikes`; the simulator's `spikes` counter is sum |s| with
binary spikes and the count of non-zero levels with graded ones, so with graded spikes the
sum |s| is read from each spiked layer's per-step `abs_sum` instead.

Energy (`energy_for`): the simulator's counters are priced as measured (memory, NoC and static
power where the table prices them); the reference's walk counts arithmetic only, so its energy
is the analytic mode (`energy.analytic_counters`) at the per-node firing rates this pass
measured, which fills weight and state traffic from the graph's parameter shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from snncompile.errors import ConfigError
from snncompile.ir.counts import Counts, RunCounts
from snncompile.ir.graph import Graph
from snncompile.training.evaluate import EvalResult, evaluate_stream, pool_rates

EXECUTORS = ("reference", "simulator")
COMPONENTS = ("ac", "mac", "neuron", "memory", "noc", "static", "total")


@dataclass
class GraphEval:
    """What one pass measured: quality (with firing rates) and the counters of every step."""

    result: EvalResult
    counters: RunCounts
    executor: str
    graph: Graph


def graph_vocab(graph: Graph) -> int:
    """The real vocabulary of a graph: its config's vocab_size, else its Embedding rows."""
    cfg = graph.metadata.get("config") or {}
    v = cfg.get("vocab_size") if isinstance(cfg, dict) else None
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return v
    for n in graph.nodes:
        if n.op_type == "Embedding":
            return int(n.op.vocab)
    raise ConfigError("the graph has no Embedding and no config.vocab_size: no vocabulary")


def evaluate_graph(graph: Graph, windows: np.ndarray, executor: str = "reference", *,
                   program: Any = None, device: str | None = "cpu",
                   encoding: str | None = None, token_bytes: np.ndarray | None = None,
                   on_window: Callable[[int], None] | None = None) -> GraphEval:
    """Bits per byte, firing rates and counters of `graph` over `windows` (module docstring).
    `executor="simulator"` needs the accum `program` whose graph `graph` is; `device` is the
    reference interpreter's (None: CUDA when available); `encoding` overrides the program's
    spike encoding in the simulator."""
    vocab = graph_vocab(graph)
    if executor == "reference":
        return _reference(graph, windows, vocab, device, token_bytes, on_window)
    if executor == "simulator":
        if program is None or getattr(program, "backend", None) != "accum":
            raise ConfigError("the simulator runs accum programs (a folder from `snncompile "
                              "lower --backend accum`)")
        return _simulator(program, windows, vocab, encoding, token_bytes, on_window)
    raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")


def _neurons(graph: Graph) -> dict[str, Any]:
    """Neuron (spike-emitting) nodes: name -> node."""
    return {n.name: n for n in graph.nodes if n.op.emits_spikes}


def _slots(node, tokens: int) -> int:
    """Micro-step slots of a neuron node over `tokens` steps: tokens * d * D."""
    return tokens * int(node.op.neuron_updates())


def _reference(graph, windows, vocab, device, token_bytes, on_window) -> GraphEval:
    import torch

    from snncompile.backends.reference.interpreter import ReferenceInterpreter

    interp = ReferenceInterpreter(graph, device=device)
    box: dict[str, Any] = {"state": None, "sums": None}

    def restart() -> None:
        box["state"] = interp.init_state()

    def step(tok: int):
        logits, counts = interp.walk(tok, box["state"])
        sums = box["sums"]
        box["sums"] = counts if sums is None else [a + b for a, b in zip(sums, counts)]
        return logits.to(torch.float64).cpu()

    result = evaluate_stream(step, restart, windows, vocab, token_bytes, on_window)
    tokens = result.n_tokens or 0
    per_node = box["sums"] or [Counts()] * len(graph.nodes)
    counters = interp.run_counts(per_node, tokens=tokens).with_meta(
        mode="measured", executor="reference")
    by_name = {n.name: n.counts for n in counters.nodes}
    pool_rates(result, {name: (int(by_name[name].spikes), _slots(node, tokens))
                        for name, node in _neurons(graph).items()})
    return GraphEval(result, counters, "reference", graph)


def _simulator(program, windows, vocab, encoding, token_bytes, on_window) -> GraphEval:
    from snncompile.simulator import Simulator
    from snncompile.simulator.counters import K

    sim = Simulator(program, encoding)
    graph = program.graph
    neurons = _neurons(graph)
    graded = sim.encoding == "graded"
    # graded spikes: sum |s| of each neuron from the spiked layer it feeds (its abs_sum)
    fed = {n.name: enc.name for n, enc in graph.spiked_projections()}
    layers = [(layer, fed[name]) for name, layer in sim.spiked_layers().items()] if graded else []
    abs_sums = {name: 0 for name in neurons}

    def restart() -> None:
        sim.state = sim.init_state()   # counters keep running over the whole pass

    if graded:
        def step(tok: int):
            logits = sim.step(tok)
            for layer, enc in layers:
                abs_sums[enc] += int(layer.abs_sum.sum())
            return logits
    else:
        step = sim.step

    result = evaluate_stream(step, restart, windows, vocab, token_bytes, on_window)
    tokens = result.n_tokens or 0
    if not graded:
        for name in neurons:
            abs_sums[name] = int(sim.tally.layers[sim.row[name], K["spikes"]])
    pool_rates(result, {name: (abs_sums[name], _slots(node, tokens))
                        for name, node in neurons.items()})
    counters = sim.counters.with_meta(executor="simulator")
    return GraphEval(result, counters, "simulator", graph)


def energy_counters(ev: GraphEval) -> RunCounts:
    """The counters `energy_record` prices for a pass (module docstring): the simulator's as
    measured; for the reference, the analytic counters at the measured per-node rates."""
    if ev.executor == "simulator":
        return ev.counters
    from snncompile.energy.analytic import analytic_counters, rates_from_counters

    tokens = max(ev.counters.tokens, 1)
    rates = {k: min(1.0, v) for k, v in rates_from_counters(ev.graph, ev.counters).items()}
    return analytic_counters(ev.graph, rates=rates, tokens=tokens,
                             meta={"executor": "reference", "rates": "measured"})


def energy_record(counters: RunCounts, table, preset: str | None = None) -> dict[str, Any]:
    """Energy per token of `counters` under cost table `table` (joules): {"preset", "mode",
    "per_token": {"snn_j": {components}, "ann_j": {...}}, "ratio", "ratio_basis"}."""
    from snncompile.energy import price

    report = price(counters, table)
    n = max(counters.tokens, 1)
    snn, ann = report.snn.as_dict(), report.ann.as_dict()
    return {"preset": preset if preset is not None else table.name,
            "mode": counters.meta.get("mode"),
            "per_token": {"snn_j": {k: snn[k] * 1e-12 / n for k in COMPONENTS},
                          "ann_j": {k: ann[k] * 1e-12 / n for k in COMPONENTS}},
            "ratio": report.ratio, "ratio_basis": report.ratio_basis}

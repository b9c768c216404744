"""Analytic mode: the counters of one decoding step of an IR graph at a given firing rate,
from the IR's own per-op accounting (`Op.counts`, docs/architecture.md "Per-op accounting").

Firing rate (spec section 2): R is the rate per micro-step slot, so a SpikedLinear whose input
comes from a SpikeEncode with D levels sees sum_j |s_j| = R * d_in * D (expected value), and
costs d_out * sum_j |s_j| ACs. The per-element form uses the mean spike count m = R * D per
neuron and token (`mean_spikes`). Rates may also be given per SpikedLinear node.

Besides arithmetic this mode fills the memory counters from the graph's parameter shapes
(weights read once per token, batch 1):
  dense model     every parameter of a node is read once, except `Embedding`, which reads
                  one row (d elements);
  SNN, spiked     `weight_reads="per-spike"`: every binary spike event fetches the weights of
                  its fan-out, bytes = ACs * element bytes (D-micro-step hardware, no reuse
                  across micro-steps); `"per-active"`: a weight column is read once per
                  non-zero input; with only a rate known, active inputs are taken as
                  sum|s| / D (every active neuron at full level D): the fewest reads
                  consistent with R, a lower bound (graded-spike hardware, best case).
                  A quantized node's `weight_scale` (d_out) is read once per token.
  state           `CausalConv1d` reads and writes C*(K-1) elements, `SSMScan` H*P*N
                  (float state), per token, in both models.
Element bytes: the dtype of the graph's parameter when present, int8 for quantized weights,
else `float_bits / 8` (default 32-bit float, the paper's arithmetic).
Neuron updates are `SpikeEncode.neuron_updates()` (d*D); each spike is one spike message.
There is no mapping here, so NoC hops, cycles and simulated time are zero / absent.
"""

from __future__ import annotations

from typing import Any, Mapping

from snncompile.errors import ConfigError
from snncompile.ir.counts import Counts, NodeCounts, RunCounts
from snncompile.ir.graph import Graph, Node
from snncompile.ir.ops import spike_sum_at_rate

DEFAULT_D = 4  # = NeuronConfig().D, the project's default SI-LIF level count
WEIGHT_READS = ("per-spike", "per-active")
_INT8 = ("int8",)


def spiking_graph(config, D: int | None = None) -> Graph:
    """The shape-only IR graph of `config` as a SpikingMamba (in_proj/out_proj spiked as the
    config says; a dense config gets the default placement). `D` overrides every neuron's
    level count (LIF neurons keep D = 1); without it a spiking config keeps its neurons and a
    dense one gets `DEFAULT_D`."""
    import dataclasses

    from snncompile.frontend import build_graph

    if D is not None and (isinstance(D, bool) or not isinstance(D, int) or D < 1):
        raise ConfigError(f"--D must be a positive integer, got {D!r}")
    cfg = config
    if not cfg.spiking:
        cfg = cfg.replace(spiking=True, neuron=dataclasses.replace(cfg.neuron, D=D or DEFAULT_D))
    elif D is not None:
        layer = None if cfg.layer_neurons is None else tuple(
            None if n is None else dataclasses.replace(n, D=D) for n in cfg.layer_neurons)
        cfg = cfg.replace(neuron=dataclasses.replace(cfg.neuron, D=D), layer_neurons=layer)
    return build_graph(cfg)


def spike_inputs(graph: Graph) -> dict[str, Node]:
    """Spiked projection name -> the neuron node that feeds it (`Graph.spiked_projections`)."""
    return {n.name: src for n, src in graph.spiked_projections()}


def _check_rate(value: Any, what: str, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= hi:
        raise ConfigError(f"{what} must be a number in [0, {hi:g}], got {value!r}")
    return float(value)


def _elem_bytes(graph: Graph, node: Node, role: str, dtypes: tuple[str, ...], float_bits: int) -> float:
    arr = graph.params.get(node.params.get(role, ""))
    if arr is not None:
        return float(arr.dtype.itemsize)
    if tuple(dtypes) == _INT8:
        return 1.0
    return float_bits / 8


def _param_bytes(graph: Graph, node: Node, float_bits: int, skip: tuple[str, ...] = ()) -> float:
    """Bytes of the parameters a dense executor reads per step (`Op.param_reads`)."""
    shapes = node.op.param_shapes()
    return sum(n * _elem_bytes(graph, node, role, shapes[role][1], float_bits)
               for role, n in node.op.param_reads().items() if role not in skip)


def analytic_counters(graph: Graph, *, rate: float | None = None,
                      mean_spikes: float | None = None,
                      rates: Mapping[str, float] | None = None, lm_head: bool = True,
                      weight_reads: str = "per-spike", float_bits: int = 32,
                      tokens: int = 1, meta: Mapping[str, Any] | None = None) -> RunCounts:
    """Counters of `tokens` decoding steps of `graph` at a firing rate.

    Exactly one of: `rate` (R per micro-step slot, in [0, 1]), `mean_spikes` (m = sum|s|/d_in
    per token, in [0, D]), `rates` ({SpikedLinear node: R}, every spiked node). `lm_head=False`
    leaves the LMHead node out of both models.
    """
    given = [k for k, v in (("rate", rate), ("mean_spikes", mean_spikes), ("rates", rates))
             if v is not None]
    if len(given) != 1:
        raise ConfigError(f"give exactly one of --fire-rate, --mean-spikes or per-node rates "
                          f"(got {given or 'none'})")
    if weight_reads not in WEIGHT_READS:
        raise ConfigError(f"weight_reads must be one of {WEIGHT_READS}, got {weight_reads!r}")
    if float_bits not in (16, 32, 64):
        raise ConfigError(f"float_bits must be 16, 32 or 64, got {float_bits!r}")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise ConfigError(f"tokens must be a positive int, got {tokens!r}")
    if getattr(graph, "is_network", False):
        raise ConfigError("the analytic mode prices SpikingMamba graphs; a time-stepped network "
                          "is priced from a simulated run: `snncompile simulate prog/ --input "
                          "x.npy --json sim.json`, then `energy --from sim.json`")

    feeders = spike_inputs(graph)
    # spike sum (per token) of the input of every SpikedLinear
    spike_sums: dict[str, float] = {}
    node_rates: dict[str, float] = {}
    for name, enc in feeders.items():
        D, d_in = enc.op.D, enc.op.d
        if rates is not None:
            if name not in rates:
                raise ConfigError(f"no firing rate given for spiked node {name!r}")
            r = _check_rate(rates[name], f"firing rate of {name!r}", 1.0)
        elif rate is not None:
            r = _check_rate(rate, "--fire-rate", 1.0)
        else:
            r = _check_rate(mean_spikes, f"--mean-spikes (node {name!r}, D={D})", float(D)) / D
        node_rates[name] = r
        spike_sums[name] = spike_sum_at_rate(d_in, D, r)
    if rates is not None:
        extra = sorted(set(rates) - set(feeders))
        if extra:
            raise ConfigError(f"firing rate given for {extra[0]!r}, which is not a SpikedLinear "
                              "node of the graph")
    encoder_sums = {enc.name: spike_sums[name] for name, enc in feeders.items()}
    counts = graph.counts(spike_sums)

    nodes: list[NodeCounts] = []
    for node in graph.nodes:
        op = node.op
        if op.readout and not lm_head:
            continue
        c = counts[node.name]
        dense_wb = _param_bytes(graph, node, float_bits)
        wb = dense_wb
        spikes = neuron_updates = 0.0
        if op.spike_inputs():
            w_elem = _elem_bytes(graph, node, "weight", op.param_shapes()["weight"][1], float_bits)
            scale_b = _param_bytes(graph, node, float_bits, skip=("weight",))
            D = feeders[node.name].op.D
            if weight_reads == "per-spike":
                wb = c.acs * w_elem + scale_b
            else:
                wb = spike_sums[node.name] / D * op.d_out * w_elem + scale_b
        elif op.emits_spikes:
            spikes = encoder_sums.get(node.name, 0.0)
            neuron_updates = op.neuron_updates()
        neuron_accesses = neuron_updates  # a neuron micro-step reads and updates its state
        state_b = op.state_elements() * float_bits / 8
        k = tokens
        nodes.append(NodeCounts(node.name, node.op_type, node.block, Counts(
            acs=c.acs * k, macs=c.macs * k, dense_macs=c.dense_macs * k, dense_acs=c.dense_acs * k,
            spikes=spikes * k, neuron_updates=neuron_updates * k,
            neuron_accesses=neuron_accesses * k,
            weight_bytes_read=wb * k, dense_weight_bytes_read=dense_wb * k,
            state_bytes_read=state_b * k, state_bytes_written=state_b * k,
            dense_state_bytes_read=state_b * k, dense_state_bytes_written=state_b * k,
            spike_messages=spikes * k)))
    Ds = sorted({enc.op.D for enc in feeders.values()})
    info: dict[str, Any] = {
        "mode": "analytic", "lm_head": lm_head, "D": Ds[0] if len(Ds) == 1 else Ds,
        "fire_rate": rate if rate is not None else (
            None if mean_spikes is None else (mean_spikes / Ds[0] if len(Ds) == 1 else None)),
        "mean_spikes": mean_spikes if mean_spikes is not None else (
            None if rate is None else (rate * Ds[0] if len(Ds) == 1 else None)),
        "node_rates": node_rates if rates is not None else None, "weight_reads": weight_reads, "float_bits": float_bits,
    }
    info.update(meta or {})
    return RunCounts(tuple(nodes), tokens=tokens, time_s=None, clock_hz=None, meta=info)


def rates_from_counters(graph: Graph, measured: RunCounts) -> dict[str, float]:
    """Per-node firing rates R that reproduce a measured run's ACs: for every SpikedLinear
    node, R = acs / (tokens * d_out * d_in * D) (raises ConfigError when a node is absent)."""
    by_name = {n.name: n for n in measured.nodes}
    out: dict[str, float] = {}
    for name, enc in spike_inputs(graph).items():
        rec = by_name.get(name)
        if rec is None:
            raise ConfigError(f"the measured counters have no layer {name!r} (a spiked node of "
                              "the graph); are they from the same model?")
        op = graph.node(name).op
        out[name] = rec.acs / (measured.tokens * op.d_out * op.d_in * enc.op.D)
    return out


def rates_from_neurons(graph: Graph, neuron_rates: Mapping[str, float]) -> dict[str, float]:
    """Per-node rates R from a model's per-neuron firing rates, keyed by the neuron's IR node
    (`layers.{i}.in_proj_spike`, as `snncompile evaluate` reports them) or by its module name
    (`backbone.layers.{i}.mixer.{in,out}_proj_neuron`):
    {SpikedLinear node: R of the neuron feeding it}. Raises ConfigError when a spiked node has
    no measured neuron or a neuron matches no node."""
    from snncompile.frontend import neuron_node_name

    by_encoder: dict[str, float] = {}
    encoders = {enc.name for enc in spike_inputs(graph).values()}
    for module, r in neuron_rates.items():
        # IR node names (`layers.{i}.in_proj_spike`, as every command reports them) or the
        # PyTorch module names of an older `evaluate` output
        node = module if module in encoders else neuron_node_name(module)
        if node is None:
            raise ConfigError(f"neuron {module!r} is not an in_proj/out_proj neuron of a block")
        by_encoder[node] = float(r)
    out: dict[str, float] = {}
    for name, enc in spike_inputs(graph).items():
        if enc.name not in by_encoder:
            raise ConfigError(f"no measured firing rate for {enc.name!r} (feeding {name!r})")
        out[name] = by_encoder.pop(enc.name)
    if by_encoder:
        raise ConfigError(f"measured neuron {sorted(by_encoder)[0]!r} feeds no spiked node")
    return out

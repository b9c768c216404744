"""Random accum Programs for sweeps, tests and benchmarks (no checkpoint needed).

They build lowered accum Programs and run the simulator, so they sit above both, in the
sweep layer; the random *weights* they use are the frontend's (`snncompile.frontend.synthetic`).

- `random_program(config, hw, seed, rate=None)`: a Program built directly from the shape-only
  graph: spiked projections get random int8 weights created input-major (no float copy of
  them ever exists, so a 1.3b-shaped model costs its int8 size), dense parameters as
  `random_state_dict`. With `rate`, each spike encoder's theta is set by `theta_for_rate` so
  that an N(0, 1) input fires at that rate.
- `calibrate(program, rate, tokens)`: a copy whose encoders fire at `rate` on `tokens`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.errors import ConfigError
from snncompile.frontend import build_graph
from snncompile.frontend.synthetic import random_int8, random_param, theta_for_rate
from snncompile.ir.graph import Graph, Node


def calibrate(program, rate: float, tokens=(1, 2, 3), encoding: str | None = None):
    """A copy of `program` whose spike encoders fire at `rate` on `tokens`: each theta solves
    mean|clip(round(x / theta), lo, hi)| / D = rate over the encoder inputs x seen when
    simulating `tokens` (one pass; the inputs of later encoders are RMS-normalised, so they
    barely move when earlier thetas change). Weights and mapping are shared, not copied."""
    from snncompile.backends.accum.program import Program
    from snncompile.simulator import Simulator
    sim = Simulator(program, encoding)
    seen: dict[str, list[np.ndarray]] = {}
    enc = program.graph.neurons()
    for t in tokens:
        sim.step(int(t), keep_values=True)
        for n in enc:
            seen.setdefault(n.name, []).append(np.asarray(sim.values[n.inputs[0]]))
    thetas: dict[str, float] = {}
    for n in enc:
        x = np.abs(np.concatenate(seen[n.name]))
        top = 1.0 if n.op.kind == "silif" else float(np.mean(np.concatenate(seen[n.name]) > 0))

        def r(theta: float) -> float:
            s = np.clip(np.rint(x / theta), 0, n.op.D)
            if n.op.kind != "silif":
                s = s * (np.concatenate(seen[n.name]) > 0)
            return float(s.mean()) / n.op.D
        lo, hi = 1e-9, float(x.max()) * 4 + 1e-9
        if not rate < top:
            raise ConfigError(f"calibrate: rate {rate} is above what {n.name!r} can reach")
        for _ in range(60):
            mid = (lo * hi) ** 0.5
            lo, hi = (mid, hi) if r(mid) > rate else (lo, mid)
        thetas[n.outputs[0]] = hi
    nodes = []
    for n in program.graph.nodes:
        op = n.op
        if n.op.emits_spikes:
            op = dataclasses.replace(op, theta=thetas[n.outputs[0]])
        elif n.op.spike_inputs() and n.inputs[0] in thetas:
            op = dataclasses.replace(op, input_scale=thetas[n.inputs[0]])
        nodes.append(Node(n.name, op, n.inputs, n.outputs, n.params))
    g = program.graph
    return Program(Graph(nodes, g.params, g.inputs, g.outputs, dict(g.metadata)),
                   program.hardware, program.mapping, program.source)


def random_program(config, hw: HardwareSpec, seed: int = 0, rate: float | None = None,
                   mapping_rate: float = 0.25):
    """A Program with random int8 spiked weights, built without float copies of them."""
    from snncompile.backends.accum.lowering import build_mapping
    from snncompile.backends.accum.program import Program
    if not config.spiking:
        raise ConfigError("random_program needs a spiking config")
    shape_only = build_graph(config)
    rng = np.random.default_rng(seed)
    qmax = (1 << (hw.weight_bits - 1)) - 1
    params: dict[str, np.ndarray] = {}
    nodes: list[Node] = []
    thetas: dict[str, float] = {}
    for n in shape_only.nodes:
        op = n.op
        if n.op.emits_spikes and rate is not None:
            op = dataclasses.replace(op, theta=theta_for_rate(rate, op.D, op.kind))
            thetas[n.outputs[0]] = op.theta
        if n.op.spike_inputs():
            theta = thetas.get(n.inputs[0], op.input_scale)
            op = dataclasses.replace(op, weight_bits=hw.weight_bits, input_scale=theta)
            wname = n.params["weight"]
            sname = wname[: -len(".weight")] + ".weight_scale"
            params[wname] = random_int8((op.d_in, op.d_out), qmax, rng).T
            # y ~ unit variance: theta * scale * std(Wq) * sqrt(d_in * E[s^2]) ~ 1
            std_w = qmax / math.sqrt(3.0)
            es2 = 1.0 / (theta * theta)
            scale = 1.0 / (theta * std_w * math.sqrt(op.d_in * es2))
            params[sname] = np.full(op.d_out, scale, np.float32)
            nodes.append(Node(n.name, op, n.inputs, n.outputs,
                              {"weight": wname, "weight_scale": sname}))
            continue
        for role, (shape, _dt) in op.param_shapes().items():
            pname = n.params[role]
            if pname not in params:
                params[pname] = random_param(n.op_type, role, tuple(shape), rng)
        nodes.append(Node(n.name, op, n.inputs, n.outputs, n.params))
    graph = Graph(nodes, params, shape_only.inputs, shape_only.outputs,
                  dict(shape_only.metadata))
    graph.verify()
    mapping = build_mapping(graph, hw, rate=rate or mapping_rate)
    return Program(graph, hw, mapping, source=f"random {config.d_model}x{config.n_layer} "
                                               f"seed {seed}")

"""Random models for tests and benchmarks (no checkpoint needed).

- `random_state_dict(config, seed)`: float32 parameters for `build_graph(config, sd)`, with
  the magnitudes of a freshly initialised Mamba2 (unit norms, A in [1, 16], dt in
  [0.001, 0.1], projections N(0, 1/d_in)).
- `random_program(config, hw, seed, rate=None)`: a Program built directly from the shape-only
  graph: spiked projections get random int8 weights created input-major (no float copy of
  them ever exists, so a 1.3b-shaped model costs its int8 size), dense parameters as above.
  With `rate`, each spike encoder's theta is set by `theta_for_rate` so that an N(0, 1) input
  fires at that rate.
- `theta_for_rate(rate, D, kind)`: theta with E|clip(round(x/theta))| / D = rate, x ~ N(0, 1).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.errors import ConfigError
from snncompile.ir.graph import Graph, Node


def _phi_tail(z: float) -> float:
    """P(X >= z) for X ~ N(0, 1)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def expected_rate(theta: float, D: int, kind: str) -> float:
    """E|s| / D for s = clip(round(x / theta), lo, D), x ~ N(0, 1)."""
    sides = 2.0 if kind == "silif" else 1.0
    return sides * sum(_phi_tail((k - 0.5) * theta) for k in range(1, D + 1)) / D


def theta_for_rate(rate: float, D: int, kind: str = "silif") -> float:
    """Bisection on theta (the rate falls as theta grows)."""
    top = 1.0 if kind == "silif" else 0.5
    if not 0 < rate < top:
        raise ConfigError(f"rate must be in (0, {top}) for kind {kind!r}, got {rate}")
    lo, hi = 1e-6, 100.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if expected_rate(mid, D, kind) > rate:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _dense_param(op_type: str, role: str, shape: tuple[int, ...], rng: np.random.Generator
                 ) -> np.ndarray:
    if op_type in ("RMSNorm", "GatedRMSNorm"):
        a = 1.0 + 0.1 * rng.standard_normal(shape)
    elif op_type == "Embedding" or op_type == "LMHead":
        a = rng.standard_normal(shape)
    elif op_type == "CausalConv1d":
        k = shape[-1] if role == "weight" else 4
        a = rng.uniform(-1, 1, shape) / math.sqrt(k)
    elif op_type == "Softplus":  # dt_bias = softplus^-1(dt), dt log-uniform in [1e-3, 1e-1]
        dt = np.exp(rng.uniform(math.log(1e-3), math.log(1e-1), shape))
        a = dt + np.log(-np.expm1(-dt))
    elif op_type == "SSMScan":
        a = np.log(rng.uniform(1, 16, shape)) if role == "A_log" else np.ones(shape)
    else:  # Linear / float SpikedLinear weights
        a = rng.standard_normal(shape) / math.sqrt(shape[-1])
    return a.astype(np.float32)


def random_state_dict(config, seed: int = 0) -> dict[str, np.ndarray]:
    """Float32 parameters (mamba_ssm key names) for `build_graph(config, sd)`."""
    from snncompile.export import build_graph
    g = build_graph(config)
    rng = np.random.default_rng(seed)
    sd: dict[str, np.ndarray] = {}
    for n in g.nodes:
        for role, (shape, _dt) in n.op.param_shapes().items():
            pname = n.params[role]
            if pname not in sd:
                sd[pname] = _dense_param(n.op_type, role, tuple(shape), rng)
    return sd


def random_int8(shape: tuple[int, int], qmax: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform int8 in [-qmax, qmax] (from raw random bytes: fast, no wider temporary)."""
    n = int(np.prod(shape))
    W = np.frombuffer(bytearray(rng.bytes(n)), np.int8).reshape(shape)
    if qmax < 127:  # fold the byte range onto [-qmax, qmax] (near-uniform)
        np.remainder(W, 2 * qmax + 1, out=W)
        W -= qmax
    else:
        np.maximum(W, -qmax, out=W)
    return W


def calibrate(program, rate: float, tokens=(1, 2, 3), encoding: str | None = None):
    """A copy of `program` whose spike encoders fire at `rate` on `tokens`: each theta solves
    mean|clip(round(x / theta), lo, hi)| / D = rate over the encoder inputs x seen when
    simulating `tokens` (one pass; the inputs of later encoders are RMS-normalised, so they
    barely move when earlier thetas change). Weights and mapping are shared, not copied."""
    from snncompile.backends.accum.program import Program
    from snncompile.simulator import Simulator
    sim = Simulator(program, encoding)
    seen: dict[str, list[np.ndarray]] = {}
    enc = [n for n in program.graph.nodes if n.op_type == "SpikeEncode"]
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
        if n.op_type == "SpikeEncode":
            op = dataclasses.replace(op, theta=thetas[n.outputs[0]])
        elif n.op_type == "SpikedLinear" and n.inputs[0] in thetas:
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
    from snncompile.export import build_graph
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
        if n.op_type == "SpikeEncode" and rate is not None:
            op = dataclasses.replace(op, theta=theta_for_rate(rate, op.D, op.kind))
            thetas[n.outputs[0]] = op.theta
        if n.op_type == "SpikedLinear":
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
                params[pname] = _dense_param(n.op_type, role, tuple(shape), rng)
        nodes.append(Node(n.name, op, n.inputs, n.outputs, n.params))
    graph = Graph(nodes, params, shape_only.inputs, shape_only.outputs,
                  dict(shape_only.metadata))
    graph.verify()
    mapping = build_mapping(graph, hw, rate=rate or mapping_rate)
    return Program(graph, hw, mapping, source=f"random {config.d_model}x{config.n_layer} "
                                               f"seed {seed}")

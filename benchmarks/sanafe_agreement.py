"""Agreement with SANA-FE: the same LIF networks, inputs and placement on both simulators.

What it measures. For each case (a layered dense LIF network, int8 weights, Bernoulli input
spikes) it runs
  (1) SANA-FE 2.2.9 (pip `sanafe`, GPL-3, Boyle et al., IEEE TCAD 2025) on its Loihi
      architecture (`sanafe.load_loihi()`, the package's loihi.yaml), timing model
      "detailed", `--threads` processing threads (default 1), and
  (2) snncompile: `lif_network` -> `lower_network(graph, HardwareSpec.load("loihi1"))` ->
      `SteppedNetwork(prog).run(x)`, priced with the "loihi1-sanafe" cost table,
and prints one JSON object per case (one line each): for each side the synaptic events,
messages, spikes per layer, energy by component (J; SANA-FE's synapse/dendrite/soma/network,
ours ac/mac/neuron/memory/noc/static), total energy (J), chip time (s) and host wall time of
the simulation call (s: SANA-FE's `chip.sim`, our `SteppedNetwork.run`, input checks
included; both after their set-up, SANA-FE's `chip.load` and our `SteppedNetwork(prog)`,
which ours also reports as `build_s`); then `ratios` {"chip_time": ours/theirs, "energy":
ours/theirs, "wall_speedup": their wall / our wall}, `spikes_equal` (every layer's spike
count and the last layer's spike raster identical) and `events_equal` (synaptic events
identical).

SANA-FE is only *run* here, as an independent program (never imported by snncompile, never
copied). Install it into the venv for benchmarks only: `.venv/bin/pip install sanafe`.

    .venv/bin/python benchmarks/sanafe_agreement.py [--case F.json ...] [--threads N] [--repeat N]

Wall times are the fastest of --repeat timings (default 3) on each side, the sides taking
turns. A SANA-FE timing is one run in a fresh process; the timing of ours after it is the
mean of back-to-back runs that together last as long as that SANA-FE run (at least one), so
that both sides' timings cover equal stretches of machine time. (This shared machine
switches, for seconds at a time, between two speeds about 1.5x apart; a timing of ours made
of one 20 ms run would be taken in one of them, while a 2 s SANA-FE run averages over both.)
Each side uses one thread (OPENBLAS_NUM_THREADS=1 unless set). The counts, energies and chip
times are those of the first run (every run gives the same).

With no --case the built-in set runs (BUILTIN below; benchmarks/sanafe_cases/ holds three of
them as files). A case file is one JSON object:

    {"name": "...", "seed": 1, "steps": 1000, "widths": [512, 512, 128], "input_rate": 0.05,
     "neuron": {"kind": "lif" | "integrator", "leak": 0.875, "threshold": 900.0,
                "reset": "zero" | "subtract"}}

- widths[0] inputs, then one dense LIF layer per further width.
- neuron.threshold (> 0) or neuron.target_rate (in (0, 1)): with a target rate the script
  finds each layer's threshold by bisection on a float simulation of that layer (the
  equations below, on the layer's actual input spikes) so that the layer fires at about
  that rate per neuron and step; thresholds are rounded to multiples of 1/64 (exact in
  SANA-FE's float32 attributes).
- kind "integrator": the output layer does not fire (threshold 1e9, leak 1.0), hidden layers
  are LIF with the given leak / threshold / reset.
- leak is the potential's decay per step; both sides get the nearest multiple of 1/4096
  (snncompile's 12-bit decay dv = round(4096 * (1 - leak)); SANA-FE leak_decay = (4096 - dv) /
  4096). reset "zero" = SANA-FE reset_mode "hard" (reset 0), "subtract" = "soft".
- Random draw (numpy default_rng(seed)), in this order: for each layer i = 0, 1, ...
  W_i = rng.integers(-127, 128, size=(widths[i+1], widths[i]), dtype=int8) (out x in);
  then x = (rng.random((steps, widths[0])) < input_rate) as int32 (steps x inputs).
A malformed case file is a one-line error and exit status 2.

Neuron equations (both sides, per step t, layer l): v <- trunc(64 * alpha * v) / 64 +
sum_i W[j, i] * s_{l-1, i}(t-1); spike when v > threshold, then v <- 0 (zero) or
v <- v - threshold (subtract). Input row t is emitted in step t, so layer l responds one step
after layer l-1 (snncompile: LIF with delay 1, quant_bits 6, float form).

Placement rule: every neuron sits on "the same core as snncompile's mapping". snncompile's
rule (backends/accum/network.py): cores are filled tile by tile (row-major tiles, the cores of
a tile in order); the inputs take ceil(n_in / 1024) cores, spread evenly; each layer starts on
a fresh core; when a neuron's whole fan-in fits one core (d_in <= 4,096 axons and the weights
in 128 KB) the layer takes ceil(d_out / k) cores with k = min(1024, 131072 / d_in) neurons
per core, spread evenly; otherwise ("partial" split) the inputs are cut into chunks whose
weights fit a core, each chunk on its own core sending partial sums to the neurons' home core
(chunk 0's core). SANA-FE has no partial sums and no synapse-memory limit, so there a
neuron and all its synapses live on its home core. Our core c is SANA-FE core
4 * (4 * tile_x + tile_y) + k with (tile_x, tile_y, k) = hw.core_tile(c) (SANA-FE numbers its
32 tiles column by column, x = tile // 4 on the 8-tile east-west side). SANA-FE input
neuron i uses soma unit loihi_inputs[r], r = its rank among the inputs on its core.

Notes. SANA-FE's chip time depends on the order in which a spiking neuron's messages to
several cores are sent: the memory order of its Core objects. In a fresh process that is core
order; after other runs in the same process it can differ, which changed congested networks'
chip time by up to 1.2% in our runs. Each case's SANA-FE run therefore gets a new process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

# One thread on each side: OpenBLAS workers, woken by the cases' set-up (thresholds, weights),
# keep spinning for a while after each call and would share the cores with the timed runs.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # after the thread setting: numpy reads it on import

KINDS = ("lif", "integrator")
RESETS = {"zero": "hard", "subtract": "soft"}
CASE_KEYS = {"name", "seed", "steps", "widths", "input_rate", "neuron"}
NEURON_KEYS = {"kind", "leak", "threshold", "target_rate", "reset"}
MAX_STEPS = 100_000
MAX_WIDTH = 131_072
INTEGRATOR_THRESHOLD = 1e9

BUILTIN: list[dict[str, Any]] = [
    {"name": "small-low-rate", "seed": 1, "steps": 1000, "widths": [64, 64],
     "input_rate": 0.02, "neuron": {"kind": "lif", "leak": 0.875, "threshold": 300.0,
                                    "reset": "zero"}},
    {"name": "multicore-high-rate", "seed": 2, "steps": 300, "widths": [512, 1024],
     "input_rate": 0.2, "neuron": {"kind": "lif", "leak": 0.875, "target_rate": 0.1,
                                   "reset": "zero"}},
    {"name": "mlp-3-layers", "seed": 3, "steps": 500, "widths": [256, 512, 256, 10],
     "input_rate": 0.1, "neuron": {"kind": "lif", "leak": 0.9, "target_rate": 0.08,
                                   "reset": "zero"}},
    {"name": "mlp-2-layers-subtract", "seed": 4, "steps": 1000, "widths": [512, 512, 128],
     "input_rate": 0.05, "neuron": {"kind": "lif", "leak": 0.875, "target_rate": 0.05,
                                    "reset": "subtract"}},
    {"name": "fan-in-3000", "seed": 10, "steps": 300, "widths": [3000, 384],
     "input_rate": 0.03, "neuron": {"kind": "lif", "leak": 0.875, "target_rate": 0.05,
                                    "reset": "zero"}},
    {"name": "fan-in-6000", "seed": 5, "steps": 200, "widths": [6000, 256],
     "input_rate": 0.02, "neuron": {"kind": "lif", "leak": 0.875, "target_rate": 0.05,
                                    "reset": "zero"}},
    {"name": "sparse-10k-steps", "seed": 6, "steps": 10000, "widths": [128, 128, 32],
     "input_rate": 0.005, "neuron": {"kind": "lif", "leak": 0.95, "target_rate": 0.02,
                                     "reset": "zero"}},
    {"name": "many-per-core-few-inputs", "seed": 7, "steps": 1000, "widths": [16, 1024],
     "input_rate": 0.1, "neuron": {"kind": "lif", "leak": 0.875, "target_rate": 0.1,
                                   "reset": "zero"}},
    {"name": "integrator-256", "seed": 8, "steps": 1000, "widths": [256, 256],
     "input_rate": 0.1, "neuron": {"kind": "integrator", "leak": 1.0, "threshold": 1.0,
                                   "reset": "zero"}},
    {"name": "wide-2048", "seed": 9, "steps": 200, "widths": [2048, 1024],
     "input_rate": 0.05, "neuron": {"kind": "lif", "leak": 0.875, "target_rate": 0.05,
                                    "reset": "zero"}},
]


class CaseError(ValueError):
    """A malformed case (the message is one line)."""


# -- cases --------------------------------------------------------------------------------
def _int(v: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise CaseError(f"{what} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def _num(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise CaseError(f"{what} must be a finite number, got {v!r}")
    return float(v)


def parse_case(data: Any) -> dict[str, Any]:
    """Validate one case (module docstring) and return it normalised (defaults filled in)."""
    if not isinstance(data, dict):
        raise CaseError(f"a case must be a JSON object, got {type(data).__name__}")
    unknown = set(data) - CASE_KEYS
    missing = CASE_KEYS - set(data)
    if unknown:
        raise CaseError(f"unknown key(s) {sorted(unknown)}; allowed {sorted(CASE_KEYS)}")
    if missing:
        raise CaseError(f"missing key(s) {sorted(missing)}")
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise CaseError(f"name must be a non-empty string, got {name!r}")
    seed = _int(data["seed"], "seed", 0, 2**63 - 1)
    steps = _int(data["steps"], "steps", 1, MAX_STEPS)
    widths = data["widths"]
    if not isinstance(widths, list) or len(widths) < 2:
        raise CaseError(f"widths must be a list of >= 2 layer widths, got {widths!r}")
    widths = [_int(w, f"widths[{i}]", 1, MAX_WIDTH) for i, w in enumerate(widths)]
    rate = _num(data["input_rate"], "input_rate")
    if not 0.0 <= rate <= 1.0:
        raise CaseError(f"input_rate must be in [0, 1], got {rate}")
    neuron = data["neuron"]
    if not isinstance(neuron, dict):
        raise CaseError(f"neuron must be a JSON object, got {neuron!r}")
    unknown = set(neuron) - NEURON_KEYS
    if unknown:
        raise CaseError(f"neuron: unknown key(s) {sorted(unknown)}; allowed "
                        f"{sorted(NEURON_KEYS)}")
    kind = neuron.get("kind", "lif")
    if kind not in KINDS:
        raise CaseError(f"neuron.kind must be one of {list(KINDS)}, got {kind!r}")
    leak = _num(neuron.get("leak", 1.0), "neuron.leak")
    if not 0.0 < leak <= 1.0:
        raise CaseError(f"neuron.leak must be in (0, 1], got {leak}")
    reset = neuron.get("reset", "zero")
    if reset not in RESETS:
        raise CaseError(f"neuron.reset must be one of {list(RESETS)}, got {reset!r}")
    has_thr, has_rate = "threshold" in neuron, "target_rate" in neuron
    if has_thr == has_rate:
        raise CaseError("neuron needs exactly one of threshold and target_rate")
    out_neuron: dict[str, Any] = {"kind": kind, "leak": leak, "reset": reset}
    if has_thr:
        thr = _num(neuron["threshold"], "neuron.threshold")
        if not 0.0 < thr < 2.0**24:
            raise CaseError(f"neuron.threshold must be in (0, 2^24), got {thr}")
        out_neuron["threshold"] = thr
    else:
        tr = _num(neuron["target_rate"], "neuron.target_rate")
        if not 0.0 < tr < 1.0:
            raise CaseError(f"neuron.target_rate must be in (0, 1), got {tr}")
        out_neuron["target_rate"] = tr
    return {"name": name, "seed": seed, "steps": steps, "widths": widths,
            "input_rate": rate, "neuron": out_neuron}


def load_case(path: str | Path) -> dict[str, Any]:
    """Read and validate a case file; CaseError names the file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise CaseError(f"case {p}: cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaseError(f"case {p}: not JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return parse_case(data)
    except CaseError as exc:
        raise CaseError(f"case {p}: {exc}") from None


# -- the network of a case ----------------------------------------------------------------
def decay_dv(leak: float) -> int:
    """snncompile's 12-bit decay: alpha = (4096 - dv) / 4096 nearest to `leak`."""
    return int(min(4096, max(0, round(4096 * (1.0 - leak)))))


def draw(case: dict[str, Any]) -> tuple[list[np.ndarray], np.ndarray]:
    """Weights (out x in int8, one per layer) and input spikes (steps x inputs int32)."""
    rng = np.random.default_rng(case["seed"])
    w = case["widths"]
    weights = [rng.integers(-127, 128, size=(w[i + 1], w[i]), dtype=np.int8)
               for i in range(len(w) - 1)]
    x = (rng.random((case["steps"], w[0])) < case["input_rate"]).astype(np.int32)
    return weights, x


def simulate_layer(currents: np.ndarray, alpha: float, threshold: float,
                   subtract: bool) -> np.ndarray:
    """One LIF layer (module docstring equations) on its input currents (T x d, currents[t]
    already the spikes of step t-1 times W); returns the spikes (T x d bool)."""
    T, d = currents.shape
    v = np.zeros(d)
    out = np.zeros((T, d), bool)
    for t in range(T):
        v = np.trunc(v * alpha * 64.0) / 64.0 + currents[t]
        s = v > threshold
        if subtract:
            v = np.where(s, v - threshold, v)
        else:
            v = np.where(s, 0.0, v)
        out[t] = s
    return out


def find_threshold(currents: np.ndarray, alpha: float, target: float,
                   subtract: bool) -> float:
    """Threshold (a multiple of 1/64, >= 1/64) whose firing rate is closest to `target`,
    by bisection (the rate falls as the threshold rises)."""
    def rate(th: float) -> float:
        return float(simulate_layer(currents, alpha, th, subtract).mean())
    lo, hi = 1.0 / 64, 1.0
    while rate(hi) > target and hi < 2.0**23:
        lo, hi = hi, hi * 2.0
    best = (abs(rate(hi) - target), hi)
    for _ in range(40):
        mid = round((lo + hi) / 2 * 64) / 64
        if mid in (lo, hi):
            break
        r = rate(mid)
        best = min(best, (abs(r - target), mid))
        if r > target:
            lo = mid
        else:
            hi = mid
    return best[1]


def layer_params(case: dict[str, Any], weights: list[np.ndarray],
                 x: np.ndarray) -> list[dict[str, Any]]:
    """Per layer: threshold, dv, alpha (= SANA-FE leak_decay), subtract flag."""
    n = case["neuron"]
    dv = decay_dv(n["leak"])
    subtract = n["reset"] == "subtract"
    out = []
    spikes = x.astype(bool)
    for i, W in enumerate(weights):
        last = i == len(weights) - 1
        if n["kind"] == "integrator" and last:
            out.append({"threshold": INTEGRATOR_THRESHOLD, "dv": 0, "alpha": 1.0,
                        "subtract": False})
            break
        alpha = (4096 - dv) / 4096
        cur = np.zeros((spikes.shape[0], W.shape[0]))
        cur[1:] = spikes[:-1].astype(np.float64) @ W.T.astype(np.float64)
        if "threshold" in n:
            thr = float(np.float32(n["threshold"]))
        else:
            thr = find_threshold(cur, alpha, n["target_rate"], subtract)
        out.append({"threshold": thr, "dv": dv, "alpha": alpha, "subtract": subtract})
        if not last:
            spikes = simulate_layer(cur, alpha, thr, subtract)
    return out


# -- the two simulators -------------------------------------------------------------------
def run_ours(weights: list[np.ndarray], params: list[dict[str, Any]],
             x: np.ndarray) -> dict[str, Any]:
    from snncompile.backends.accum import HardwareSpec
    from snncompile.backends.accum.network import lower_network
    from snncompile.energy import load_table, price
    from snncompile.ir.examples import lif_network
    from snncompile.simulator.stepped import SteppedNetwork

    neurons = [{"kind": "lif", "dv": p["dv"], "threshold": p["threshold"],
                "reset": "subtract" if p["subtract"] else "zero", "quant_bits": 6,
                "delay": 1, "fixed_point": False} for p in params]
    hw = HardwareSpec.load("loihi1")
    graph = lif_network(weights, neurons, output="spikes")
    prog = lower_network(graph, hw)
    by_node = prog.placement.by_node()
    cores = [np.asarray(by_node["input"])] + [np.asarray(by_node[f"layers.{i}.neuron"])
                                              for i in range(len(weights))]
    SteppedNetwork(prog).run(x[:1])                # compile the kernels outside the timing
    t0 = time.perf_counter()
    net = SteppedNetwork(prog)                     # the kernel's arrays (as SANA-FE's load)
    build = time.perf_counter() - t0
    res = net.run(x)
    rep = price(res.counters, load_table("loihi1-sanafe"))
    energy = {k: v * 1e-12 for k, v in rep.snn.as_dict().items()}
    nodes = res.counters.nodes
    spikes = {f"layer{i}": int(res.spikes_per_layer[f"layers.{i}.neuron"])
              for i in range(len(weights))}
    return {"events": int(sum(n.counts.acs for n in nodes)),
            "messages": int(sum(n.counts.spike_messages for n in nodes)),
            "spikes": spikes, "energy_j": energy, "total_energy_j": energy["total"],
            "chip_time_s": float(res.time_s), "build_s": build,
            "_raster": np.asarray(res.outputs[0]).astype(bool),
            "_step_time": np.asarray(res.step_time_s, float),
            "_cores": cores, "_hw": hw, "_net": net}


def time_ours(net: Any, x: np.ndarray, seconds: float) -> float:
    """The mean wall time (s) of back-to-back runs of `net` on x that together last at least
    `seconds` (at least one run)."""
    n = 0
    t0 = time.perf_counter()
    while True:
        net.run(x)
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return elapsed / n


def sanafe_core(hw: Any, core: int) -> int:
    """SANA-FE's global core id of our core `core` (module docstring)."""
    tx, ty, k = hw.core_tile(int(core))
    return 4 * (4 * tx + ty) + k


@contextlib.contextmanager
def stdout_to_stderr():
    """Send what native code writes to fd 1 (SANA-FE's progress lines) to stderr, so that
    stdout carries only the JSON lines."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_sanafe(weights: list[np.ndarray], params: list[dict[str, Any]], x: np.ndarray,
               cores: list[np.ndarray], threads: int) -> dict[str, Any]:
    import sanafe

    T, n_in = x.shape
    arch = sanafe.load_loihi()
    all_cores = [c for tile in arch.tiles for c in tile.cores]
    net = sanafe.Network()
    groups = [net.create_neuron_group("in", n_in)]
    rank: dict[int, int] = {}
    for i, nn in enumerate(groups[0].neurons):
        c = int(cores[0][i])
        r = rank.get(c, 0)
        rank[c] = r + 1
        nn.set_attributes(soma_hw_name=f"loihi_inputs[{r}]",
                          model_attributes={"spikes": x[:, i].astype(bool).tolist()})
    for i, (W, p) in enumerate(zip(weights, params)):
        attrs = {"threshold": float(p["threshold"]), "leak_decay": float(p["alpha"]),
                 "reset_mode": "soft" if p["subtract"] else "hard", "reset": 0.0}
        g = net.create_neuron_group(f"L{i}", W.shape[0], model_attributes=attrs,
                                    soma_hw_name="loihi_lif",
                                    default_synapse_hw_name="loihi_dense_synapse",
                                    log_spikes=True)
        groups[-1].connect_neurons_dense(
            g, {"weight": W.T.astype(np.float64).reshape(-1).tolist()})   # (pre, post) order
        groups.append(g)
    for g, cs in zip(groups, cores):
        for nn, c in zip(g.neurons, cs):
            nn.map_to_core(all_cores[int(c)])
    with stdout_to_stderr():
        chip = sanafe.SpikingChip(arch)
        chip.load(net)
        t0 = time.perf_counter()
        res = chip.sim(T, processing_threads=threads, spike_trace=True, perf_trace=True)
        wall = time.perf_counter() - t0
    rasters = [np.zeros((T, W.shape[0]), bool) for W in weights]
    for t, fired in enumerate(res["spike_trace"]):
        for addr in fired:
            group, idx = str(addr).rsplit(".", 1)
            if group.startswith("L"):
                rasters[int(group[1:])][t, int(idx)] = True
    energy = {k: float(v) for k, v in res["energy"].items()}
    return {"events": int(res["spikes"]), "messages": int(res["packets_sent"]),
            "spikes": {f"layer{i}": int(r.sum()) for i, r in enumerate(rasters)},
            "energy_j": energy, "total_energy_j": energy["total"],
            "chip_time_s": float(res["sim_time"]), "wall_s": wall,
            "_raster": rasters[-1],
            "_step_time": np.asarray(res["perf_trace"]["sim_time"], float),
            "_fired": int(res["neurons_fired"]) - int(x.astype(bool).sum())}


def run_sanafe_fresh(weights: list[np.ndarray], params: list[dict[str, Any]], x: np.ndarray,
                     cores: list[np.ndarray], threads: int) -> dict[str, Any]:
    """`run_sanafe` in a new process (module docstring: SANA-FE's timing depends on the
    memory layout its earlier runs in the same process left behind)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_sanafe, weights, params, x, cores, threads).result()


def compare(case: dict[str, Any], threads: int = 1, repeat: int = 1) -> dict[str, Any]:
    weights, x = draw(case)
    params = layer_params(case, weights, x)
    ours = run_ours(weights, params, x)
    hw = ours.pop("_hw")
    cores = [np.array([sanafe_core(hw, c) for c in cs], np.int64) for cs in ours.pop("_cores")]
    net = ours.pop("_net")
    theirs = run_sanafe_fresh(weights, params, x, cores, threads)
    ours["wall_s"] = time_ours(net, x, theirs["wall_s"])
    for _ in range(repeat - 1):   # the sides take turns (module docstring)
        wall = run_sanafe_fresh(weights, params, x, cores, threads)["wall_s"]
        theirs["wall_s"] = min(theirs["wall_s"], wall)
        ours["wall_s"] = min(ours["wall_s"], time_ours(net, x, wall))
    spikes_equal = (ours["spikes"] == theirs["spikes"]
                    and bool(np.array_equal(ours["_raster"], theirs["_raster"]))
                    and theirs["_fired"] == sum(theirs["spikes"].values()))
    st_o, st_t = ours.pop("_step_time"), theirs.pop("_step_time")
    step_ratio = st_o / st_t
    for side in (ours, theirs):
        side.pop("_raster", None)
        side.pop("_fired", None)

    def ratio(a: float, b: float) -> float | None:
        return a / b if b else None
    return {"name": case["name"], "steps": case["steps"], "widths": case["widths"],
            "input_rate": case["input_rate"], "neuron": case["neuron"],
            "thresholds": [p["threshold"] for p in params],
            "tiles_used": len({int(c) // 4 for cs in cores for c in cs}),
            "sanafe": theirs, "snncompile": ours,
            "ratios": {"chip_time": ratio(ours["chip_time_s"], theirs["chip_time_s"]),
                       "energy": ratio(ours["total_energy_j"], theirs["total_energy_j"]),
                       "wall_speedup": ratio(theirs["wall_s"], ours["wall_s"]),
                       "step_time_min": float(step_ratio.min()),
                       "step_time_max": float(step_ratio.max())},
            "spikes_equal": bool(spikes_equal),
            "events_equal": ours["events"] == theirs["events"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", default=[], metavar="FILE.json",
                    help="a case file (repeatable); none: the built-in set")
    ap.add_argument("--threads", type=int, default=1,
                    help="SANA-FE processing threads (default 1)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timings per side, taking turns; wall times are the fastest (default 3)")
    args = ap.parse_args(argv)
    try:
        if args.threads < 1:
            raise CaseError(f"--threads must be >= 1, got {args.threads}")
        if args.repeat < 1:
            raise CaseError(f"--repeat must be >= 1, got {args.repeat}")
        cases = [load_case(p) for p in args.case] or [parse_case(c) for c in BUILTIN]
    except CaseError as exc:
        print(f"sanafe_agreement: {exc}", file=sys.stderr)
        return 2
    try:
        import sanafe  # noqa: F401
    except ImportError:
        print("sanafe_agreement: SANA-FE is not installed (benchmark only: "
              ".venv/bin/pip install sanafe; GPL-3, run, never copied)", file=sys.stderr)
        return 2
    for case in cases:
        print(json.dumps(compare(case, args.threads, args.repeat)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

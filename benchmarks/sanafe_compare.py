"""Speed against SANA-FE: the same 256x256 layer and the same input spikes, events/s.

SANA-FE (pip `sanafe`, GPL-3, Boyle et al., IEEE TCAD 2025) is a neuromorphic chip simulator
with a silicon-calibrated Loihi preset. It is only *run* here, as an independent program
(never imported by snncompile, never copied). Install it into the venv for this benchmark
only: `.venv/bin/pip install sanafe`.

Both simulators get: 256 input neurons firing binary spikes (Bernoulli, --rate per step) for
--steps time steps, a dense 256x256 int8 weight matrix, and count every synaptic event
(spike x fan-out). SANA-FE runs its Loihi architecture (inputs on core 0, LIF outputs on
core 1, --threads processing threads, default 1); snncompile runs one SpikedLinear (binary,
D = 1) on the default preset with all its counters and timing. Printed: wall time,
synaptic events per second, the ratio, and each simulator's own estimate of chip time.

    .venv/bin/python benchmarks/sanafe_compare.py [--steps 1000] [--rate 0.1] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def run_snncompile(W: np.ndarray, spikes: np.ndarray) -> dict:
    from snncompile.backends.accum import HardwareSpec
    from snncompile.backends.accum.mapping import LayerMap
    from snncompile.backends.accum.tiling import tile_projection
    from snncompile.simulator import SpikedLayer
    from snncompile.simulator.counters import CORE_KEYS, LAYER_KEYS, K

    hw = HardwareSpec.load("default")
    d_in, d_out = W.shape
    grid = tile_projection(d_in, d_out, hw, spikes_per_input=float(spikes.mean()))
    lm = LayerMap("dense256", 0, d_in, d_out, 1, grid.row_splits, grid.col_splits,
                  tuple(range(1, 1 + grid.n_tiles)))
    WT = np.ascontiguousarray(W.astype(np.int8))            # input-major (d_in, d_out)
    layer = SpikedLayer(WT, np.ones(d_out), lm, host=0, hw=hw, encoding="binary")
    row = np.zeros(len(LAYER_KEYS), np.int64)
    cores = np.zeros((hw.cores, len(CORE_KEYS)), np.int64)
    frames = [np.ascontiguousarray(f, dtype=np.int32) for f in spikes]
    layer.run(frames[0], row, cores)                         # compile / load the cache
    row[:] = 0
    t = time.perf_counter()
    for f in frames:
        layer.run(f, row, cores)
    wall = time.perf_counter() - t
    return {"wall_s": wall, "events": int(row[K["acs"]]),
            "chip_time_s": int(row[K["cycles"]]) / hw.clock_hz,
            "messages": int(row[K["spike_messages"]])}


def run_sanafe(W: np.ndarray, spikes: np.ndarray, threads: int) -> dict | None:
    try:
        import sanafe
    except ImportError:
        return None
    steps, n = spikes.shape
    arch = sanafe.load_loihi()
    net = sanafe.Network()
    inp = net.create_neuron_group("in", n)
    out = net.create_neuron_group("out", W.shape[1],
                                  model_attributes={"threshold": 1e9, "leak_decay": 1.0},
                                  soma_hw_name="loihi_lif",
                                  default_synapse_hw_name="loihi_dense_synapse")
    for i, neuron in enumerate(inp.neurons):
        neuron.set_attributes(soma_hw_name=f"loihi_inputs[{i}]",
                              model_attributes={"spikes": spikes[:, i].astype(int).tolist()})
    inp.connect_neurons_dense(out, {"weight": W.astype(float).flatten().tolist()})
    core_in, core_out = arch.tiles[0].cores[0], arch.tiles[0].cores[1]
    for neuron in inp.neurons:
        neuron.map_to_core(core_in)
    for neuron in out.neurons:
        neuron.map_to_core(core_out)
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    t = time.perf_counter()
    res = chip.sim(steps, processing_threads=threads)
    wall = time.perf_counter() - t
    return {"wall_s": wall, "events": int(res["spikes"]), "chip_time_s": float(res["sim_time"]),
            "energy_j": float(res["energy"]["total"])}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--neurons", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1, help="SANA-FE processing threads")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    n = args.neurons
    W = rng.integers(-127, 128, (n, n)).astype(np.int8)
    spikes = (rng.random((args.steps, n)) < args.rate).astype(np.int8)
    expected = int(spikes.sum()) * n
    print(f"{n}x{n} dense layer, {args.steps} steps, input rate {args.rate}: "
          f"{int(spikes.sum())} input spikes, {expected:,} synaptic events")
    ours = run_snncompile(W, spikes)
    theirs = run_sanafe(W, spikes, args.threads)
    print(f"snncompile simulator: {ours['wall_s']:.3f} s, {ours['events'] / ours['wall_s']:.3e} "
          f"events/s (counted {ours['events']:,}; chip time {ours['chip_time_s'] * 1e3:.3f} ms)")
    out = {"steps": args.steps, "rate": args.rate, "neurons": n, "events": expected,
           "snncompile": ours, "sanafe": theirs}
    if theirs is None:
        print("SANA-FE: NOT INSTALLED - no comparison. Install it into the venv for this "
              "benchmark only: .venv/bin/pip install sanafe  (GPL-3; run, never copied)")
    else:
        print(f"SANA-FE (Loihi preset, {args.threads} thread): {theirs['wall_s']:.3f} s, "
              f"{theirs['events'] / theirs['wall_s']:.3e} events/s (counted "
              f"{theirs['events']:,}; chip time {theirs['chip_time_s'] * 1e3:.3f} ms, "
              f"energy {theirs['energy_j'] * 1e6:.1f} uJ)")
        speedup = (ours["events"] / ours["wall_s"]) / (theirs["events"] / theirs["wall_s"])
        out["speedup"] = speedup
        print(f"events/s ratio snncompile / SANA-FE: {speedup:.1f}x"
              f"{'' if theirs['events'] == ours['events'] else '  (event counts differ!)'}")
    if args.json:
        print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()

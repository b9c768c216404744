"""Simulator throughput: ACs simulated per second on one CPU core with all counting on.

Model: a mamba2-130m-shaped SpikingMamba (24 blocks; spiked in_proj 768x3352 and out_proj
1536x768) with random int8 weights, lowered onto the `large` preset. For each firing rate
(0.1, 0.3, 0.5 spikes per neuron per micro-step slot, D = 4) every spiked projection gets a
spike vector with exactly sum|s| = rate * d_in * D, and the simulator's full spiked path runs
on it (binary micro-step kernel + per-spike counters + the timing model + per-core counters).
Side by side, in the same run and on the same spikes: a bare Numba loop that only adds or
subtracts one int8 weight row into int32 accumulators per spike (the ceiling of the
event-driven approach). Also shown: whole tokens (dense path included) with the encoders'
thresholds calibrated to the same rate.

    .venv/bin/python benchmarks/sim_throughput.py [--config mamba2-130m] [--rates 0.1,0.3,0.5]
        [--repeat 5] [--json]

Target (issue 5): >= 2e9 AC/s with all counting on. Timings are the best of --repeat passes
(the machine may be shared). Numba runs single-threaded.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from numba import njit


@njit(cache=True)
def bare_rows(WT, idx, sign, acc):
    """The ceiling: acc += sign * WT[j] for every spike (j, sign); nothing else."""
    d_out = WT.shape[1]
    acc[:] = 0
    for a in range(idx.shape[0]):
        row = WT[idx[a]]
        if sign[a] > 0:
            for o in range(d_out):
                acc[o] += row[o]
        else:
            for o in range(d_out):
                acc[o] -= row[o]


def spikes_at_rate(d_in: int, D: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Signed levels in {-D..D} with sum|s| = round(rate * d_in * D), spread at random."""
    total = int(round(rate * d_in * D))
    mag = np.zeros(d_in, np.int64)
    while mag.sum() < total:
        j = rng.integers(0, d_in, total - int(mag.sum()))
        np.add.at(mag, j, 1)
        np.minimum(mag, D, out=mag)
    return (mag * rng.choice(np.array([-1, 1]), d_in)).astype(np.int32)


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="mamba2-130m")
    ap.add_argument("--rates", default="0.1,0.3,0.5")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from snncompile.backends.accum import HardwareSpec
    from snncompile.sweep.synthetic import calibrate, random_program
    from snncompile.models.config import PUBLIC_CONFIGS
    from snncompile.simulator import Simulator
    from snncompile.simulator.counters import CORE_KEYS, LAYER_KEYS, K

    cfg = PUBLIC_CONFIGS[args.config].replace(spiking=True)
    t0 = time.perf_counter()
    prog = random_program(cfg, HardwareSpec.load("large"), seed=0)
    print(f"{args.config}: random int8 program built in {time.perf_counter() - t0:.1f} s, "
          f"{prog.mapping.estimate['cores_used']} cores")
    sim = Simulator(prog)
    layers = list(sim.spiked_layers().values())
    rng = np.random.default_rng(0)
    row = np.zeros(len(LAYER_KEYS), np.int64)
    cores = np.zeros((prog.hardware.cores, len(CORE_KEYS)), np.int64)
    results = []
    for rate in (float(r) for r in args.rates.split(",")):
        spikes = [spikes_at_rate(layer.WT.shape[0], layer.D, rate, rng) for layer in layers]
        flat = [(np.repeat(np.arange(len(s)), np.abs(s)), np.repeat(np.sign(s), np.abs(s)))
                for s in spikes]
        accs = [np.zeros(layer.WT.shape[1], np.int32) for layer in layers]
        acs = sum(len(f[0]) * layer.WT.shape[1] for f, layer in zip(flat, layers))

        def sim_pass():
            for layer, s in zip(layers, spikes):
                layer.run(s, row, cores)

        def bare_pass():
            for layer, (idx, sg), acc in zip(layers, flat, accs):
                bare_rows(layer.WT, idx, sg, acc)

        sim_pass()
        bare_pass()  # compile / warm up
        row[:] = 0
        sim_pass()
        if row[K["acs"]] != acs:
            raise RuntimeError(f"simulator counted {row[K['acs']]} ACs, expected {acs}")
        t_sim = best_time(sim_pass, args.repeat)
        t_bare = best_time(bare_pass, args.repeat)
        for layer, s, acc in zip(layers, spikes, accs):  # same sums as the bare loop
            layer.run(s, row, cores)
            if not np.array_equal(layer.acc, acc):
                raise RuntimeError(f"{layer.name}: simulator and bare loop disagree")
        # whole tokens at a calibrated rate (dense path included)
        cal = calibrate(prog, rate)
        tok_sim = Simulator(cal)
        tok_sim.run([11])
        tok_sim.reset()
        t = time.perf_counter()
        tok_sim.run([12, 13, 14])
        t_tok = (time.perf_counter() - t) / 3
        tot = tok_sim.counters.totals()
        enc = [i for i, op in enumerate(tok_sim.tally.ops) if op == "SpikeEncode"]
        fr = sum(int(tok_sim.tally.layers[i, K["spikes"]]) for i in enc) / (
            3 * sum(tok_sim.nodes[i].op.d * tok_sim.nodes[i].op.D for i in enc))
        r = {"rate": rate, "acs_per_pass": acs, "sim_ac_per_s": acs / t_sim,
             "bare_ac_per_s": acs / t_bare, "sim_over_bare": t_bare / t_sim,
             "token_s": t_tok, "token_rate_measured": fr,
             "token_acs": tot.acs / 3, "token_ac_per_s": tot.acs / 3 / t_tok}
        results.append(r)
        print(f"rate {rate:.1f}: {acs / 1e6:7.1f} M AC/pass | simulator {r['sim_ac_per_s']:.2e} "
              f"AC/s | bare loop {r['bare_ac_per_s']:.2e} AC/s | simulator/bare "
              f"{r['sim_over_bare']:.2f} | whole token {t_tok * 1e3:.0f} ms "
              f"(fr {fr:.2f}, {r['token_ac_per_s']:.2e} AC/s incl. dense) | target >= 2e9: "
              f"{'PASS' if r['sim_ac_per_s'] >= 2e9 else 'FAIL'}")
    out = {"config": args.config, "results": results}
    if args.json:
        print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()

"""One token of a mamba2-1.3b-shaped SpikingMamba on the simulator: time and peak RSS.

The Program is built directly (snncompile.sweep.synthetic.random_program): the spiked in_proj /
out_proj weights are random int8 arrays created input-major, so no fp32 copy of them ever
exists; dense parameters are float32. Lowered onto the `large` preset (128x128 cores),
encoder thresholds calibrated to --rate, then simulated with every counter on.

    .venv/bin/python benchmarks/sim_1p3b.py [--config mamba2-1.3b] [--rate 0.3] [--json]

Targets (issue 5): one token <= 1 s; peak RSS <= 2x the int8 weight size. Peak RSS is the
process's ru_maxrss (it includes Python, NumPy, Numba and the float32 embedding).
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="mamba2-1.3b")
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--tokens", type=int, default=3, help="timed tokens after the first")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from snncompile.backends.accum import HardwareSpec
    from snncompile.sweep.synthetic import calibrate, random_program
    from snncompile.models.config import PUBLIC_CONFIGS
    from snncompile.simulator import Simulator
    from snncompile.simulator.counters import K

    cfg = PUBLIC_CONFIGS[args.config].replace(spiking=True)
    t = time.perf_counter()
    prog = random_program(cfg, HardwareSpec.load("large"), seed=0)
    t_build = time.perf_counter() - t
    int8_bytes = sum(prog.graph.params[n.params["weight"]].nbytes for n in prog.graph.nodes
                     if n.op_type == "SpikedLinear")
    t = time.perf_counter()
    prog = calibrate(prog, args.rate, tokens=(1, 2))
    t_cal = time.perf_counter() - t
    sim = Simulator(prog)
    t = time.perf_counter()
    sim.step(7)
    t_first = time.perf_counter() - t
    sim.reset()
    times = []
    for tok in range(8, 8 + args.tokens):
        t = time.perf_counter()
        sim.step(tok)
        times.append(time.perf_counter() - t)
    c = sim.tally
    tot = c.totals()
    enc = [i for i, op in enumerate(c.ops) if op == "SpikeEncode"]
    fr = sum(int(c.layers[i, K["spikes"]]) for i in enc) / (
        args.tokens * sum(sim.nodes[i].op.d * sim.nodes[i].op.D for i in enc))
    peak = peak_bytes()
    out = {"config": args.config, "cores_used": prog.mapping.estimate["cores_used"],
           "build_s": t_build, "calibrate_s": t_cal, "first_token_s": t_first,
           "token_s": min(times), "token_s_all": times, "firing_rate": fr,
           "acs_per_token": tot["acs"] / args.tokens, "cycles_per_token": c.cycles / args.tokens,
           "int8_weight_bytes": int8_bytes, "peak_rss_bytes": peak,
           "rss_over_int8": peak / int8_bytes}
    print(f"{args.config}: {out['cores_used']} cores, built in {t_build:.1f} s, thresholds "
          f"calibrated in {t_cal:.1f} s; firing rate {fr:.2f}, {out['acs_per_token']:.3e} "
          f"AC/token, {out['cycles_per_token']:,.0f} simulated cycles/token")
    print(f"one token: {min(times):.3f} s (first token {t_first:.3f} s, all "
          f"{', '.join(f'{x:.3f}' for x in times)}) - target <= 1 s: "
          f"{'PASS' if min(times) <= 1.0 else 'FAIL'}")
    print(f"peak RSS {peak / 2**30:.2f} GiB = {peak / int8_bytes:.2f}x the int8 weights "
          f"({int8_bytes / 2**30:.2f} GiB) - target <= 2x: "
          f"{'PASS' if peak <= 2 * int8_bytes else 'FAIL'}")
    if args.json:
        print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()

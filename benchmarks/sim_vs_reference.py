"""Simulator time per token vs the reference interpreter's dense time per token, same model.

A mamba2-130m-shaped SpikingMamba with random int8 spiked weights (random_program on the
`large` preset), encoder thresholds calibrated to --rate. The same lowered program runs on
(1) the cycle-counting simulator, all counters on, and (2) the ReferenceInterpreter (PyTorch
float64 on CPU, one thread: dense matrix-vector products for every projection, integer
matmul for the quantized ones). Both are timed per token after a warm-up token, best of
--repeat tokens each; the logits are compared to show it is the same computation.

    .venv/bin/python benchmarks/sim_vs_reference.py [--config mamba2-130m] [--rate 0.3]
        [--repeat 5] [--json]

Target (issue 5): simulator / reference <= 1.0.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="mamba2-130m")
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    from snncompile.backends.accum import HardwareSpec
    from snncompile.sweep.synthetic import calibrate, random_program
    from snncompile.backends.reference import ReferenceInterpreter
    from snncompile.models.config import PUBLIC_CONFIGS
    from snncompile.simulator import Simulator

    cfg = PUBLIC_CONFIGS[args.config].replace(spiking=True)
    prog = calibrate(random_program(cfg, HardwareSpec.load("large"), seed=0), args.rate)
    tokens = [11 + i for i in range(args.repeat + 1)]

    sim = Simulator(prog)
    ref = ReferenceInterpreter(prog.graph, device="cpu")
    state = ref.init_state()
    ref32 = ReferenceInterpreter(prog.graph, device="cpu", dtype=torch.float32)
    state32 = ref32.init_state()
    t_sim, t_ref, t_ref32, diff = [], [], [], 0.0
    for i, tok in enumerate(tokens):
        t = time.perf_counter()
        ls = sim.step(tok)
        t_sim.append(time.perf_counter() - t)
        t = time.perf_counter()
        lr, _ = ref.step(tok, state)
        t_ref.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref32.step(tok, state32)
        t_ref32.append(time.perf_counter() - t)
        diff = max(diff, float(np.abs(ls - lr.numpy()).max()))
    s, r, r32 = min(t_sim[1:]), min(t_ref[1:]), min(t_ref32[1:])
    c = sim.tally
    enc = [i for i, op in enumerate(c.ops) if op == "SpikeEncode"]
    fr = sum(int(c.layers[i, 3]) for i in enc) / (
        len(tokens) * sum(sim.nodes[i].op.d * sim.nodes[i].op.D for i in enc))
    out = {"config": args.config, "rate": fr, "sim_s_per_token": s, "ref_s_per_token": r,
           "ratio": s / r, "ref_float32_s_per_token": r32, "ratio_vs_float32": s / r32,
           "max_abs_logit_diff": diff,
           "first_token_s": {"sim": t_sim[0], "ref": t_ref[0]}}
    print(f"{args.config}, firing rate {fr:.2f}: simulator {s * 1e3:.1f} ms/token (all "
          f"counters), reference interpreter {r * 1e3:.1f} ms/token (float64, 1 thread): "
          f"ratio {s / r:.2f} (target <= 1.0: {'PASS' if s / r <= 1.0 else 'FAIL'}); "
          f"max |logit diff| {diff:.1e}; against the reference in float32: "
          f"{r32 * 1e3:.1f} ms/token, ratio {s / r32:.2f}")
    if args.json:
        print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()

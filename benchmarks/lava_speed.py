"""Lava (lava-nc, Loihi2SimCfg fixed_pt) wall time per token vs our simulator, same tiny model.

A tiny SpikingMamba (d_model 32, 2 layers, SI-LIF D=4) calibrated from a random teacher is
(1) lowered with the loihi backend and its spiked layers replayed through real Lava
(`run_in_lava`, one Python 3.10 subprocess per run, every accumulation checked against the
reference), at two token counts so the fixed cost (interpreter start, lava import, compile,
process spawn) separates from the per-token cost; and (2) lowered with the accum backend
(`default` preset) and run on `snncompile.simulator.Simulator`, whole model per token (dense
ops included, all counters on), best of the timed tokens after a warm-up.
Lava only runs the 4 spiked projections; the simulator runs the whole model, so the ratio
understates Lava's cost per unit of work.

    .venv/bin/python benchmarks/lava_speed.py [--short 4] [--long 36] [--json]
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=4, help="tokens of the short Lava run")
    ap.add_argument("--long", type=int, default=36, help="tokens of the long Lava run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not 1 <= args.short < args.long:
        ap.error("need 1 <= --short < --long")

    import torch
    torch.set_num_threads(1)
    from snncompile.backends.accum import AccumBackend
    from snncompile.backends.loihi import LoihiBackend, run_in_lava
    from snncompile.frontend import build_graph
    from snncompile.models.config import SpikingMambaConfig
    from snncompile.models.lm import SpikingMambaLM
    from snncompile.simulator import Simulator

    torch.manual_seed(0)
    cfg = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                             chunk_size=8)
    teacher = SpikingMambaLM(cfg)
    student = SpikingMambaLM.from_teacher(teacher, cfg.replace(spiking=True),
                                          calibration=[torch.randint(0, 256, (2, 16))])
    graph = build_graph(student.config, student.state_dict())
    gen = torch.Generator().manual_seed(1)
    tokens = [int(t) for t in torch.randint(0, 256, (args.long,), generator=gen)]

    sim = Simulator(AccumBackend().lower(graph, "default"))
    sim.step(tokens[0])                                    # warm-up (Numba compile)
    per = []
    for tok in tokens[1:]:
        t = time.perf_counter()
        sim.step(tok)
        per.append(time.perf_counter() - t)
    sim_s = min(per)

    out = {"model": "d_model 32, 2 layers, silif D=4", "simulator_s_per_token": sim_s,
           "tokens": [args.short, args.long], "lava": {}}
    for encoding in ("graded", "binary"):
        program = LoihiBackend().lower(graph, encoding=encoding)
        runs = {}
        for n in (args.short, args.long):
            res = run_in_lava(program, tokens[:n])          # raises unless bit-exact
            runs[n] = res.run
        short, long_ = runs[args.short], runs[args.long]
        marginal = (long_.wall_s - short.wall_s) / (args.long - args.short)
        out["lava"][encoding] = {
            "matches_reference": True,
            "wall_s": {str(args.short): short.wall_s, str(args.long): long_.wall_s},
            "lava_run_s": {str(args.short): short.lava_run_s, str(args.long): long_.lava_run_s},
            "wall_s_per_token": long_.wall_s / args.long,
            "marginal_s_per_token": marginal,
            "networks": long_.networks, "processes": long_.processes,
            "time_steps": long_.totals()["time_steps"],
            "ratio_wall_per_token_vs_simulator": long_.wall_s / args.long / sim_s,
            "ratio_marginal_vs_simulator": marginal / sim_s,
        }
        print(f"{encoding:>6}: Lava {long_.wall_s:.2f} s for {args.long} tokens "
              f"({long_.networks} networks, {long_.processes} processes, "
              f"{long_.totals()['time_steps']} steps each) = {long_.wall_s / args.long * 1e3:.0f}"
              f" ms/token, marginal {marginal * 1e3:.1f} ms/token (short run {args.short} "
              f"tokens: {short.wall_s:.2f} s); all accumulations equal the reference")
    print(f"simulator (accum program, whole model, all counters): {sim_s * 1e3:.3f} ms/token")
    for encoding, r in out["lava"].items():
        print(f"{encoding:>6}: Lava / simulator per token = "
              f"{r['ratio_wall_per_token_vs_simulator']:,.0f}x (wall, {args.long} tokens), "
              f"{r['ratio_marginal_vs_simulator']:,.0f}x (marginal)")
    if args.json:
        print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()

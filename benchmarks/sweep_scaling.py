"""Sweep scaling: wall time of one sweep on the serial executor vs a local process pool and a
dask LocalCluster with the same number of workers, side by side in one run, plus a check that
every executor returns identical point records.

The sweep: a random-weight SpikingMamba (`--d-model`, `--n-layer`) on the `large` preset,
axes `core.ac_lanes` x `spikes.encoding` x `mapping.rate` (2 x 2 x 2 = 8 points by default,
`--lanes` adds more), each point lowering the model and simulating `--tokens` tokens.

    .venv/bin/python benchmarks/sweep_scaling.py [--workers 2] [--d-model 256] [--n-layer 4]
        [--tokens 24] [--lanes 4,16] [--no-dask] [--json]

Speed-up = serial wall / pool wall (both include the pool's start-up: spawning workers that
import snncompile and build the model once each). It cannot exceed the free CPU cores; on a
shared machine the figure is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

SPEC = """
name = "scaling"
[model]
config = {{ d_model = {d_model}, n_layer = {n_layer}, vocab_size = 256, d_state = 16, headdim = 32 }}
neuron = {{ kind = "silif", D = 4, theta = 0.5 }}
[workload]
prompt = "The quick brown fox jumps"
tokens = {tokens}
[hardware]
base = "large"
[axes]
"core.ac_lanes" = [{lanes}]
"spikes.encoding" = ["binary", "graded"]
"mapping.rate" = [0.1, 0.3]
[energy]
presets = ["accum", "paper-45nm"]
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--lanes", default="4,16")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from snncompile.sweep import (DaskExecutor, ProcessExecutor, SerialExecutor, load_spec,
                                  run_sweep)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scaling.toml"
        path.write_text(SPEC.format(d_model=args.d_model, n_layer=args.n_layer,
                                    tokens=args.tokens, lanes=args.lanes))
        spec = load_spec(path)
    executors = [("serial", SerialExecutor()),
                 (f"process pool x{args.workers}", ProcessExecutor(args.workers))]
    if not args.no_dask:
        executors.append((f"dask LocalCluster x{args.workers}",
                          DaskExecutor(local_workers=args.workers)))
    rows, reference = [], None
    for name, ex in executors:
        t0 = time.perf_counter()
        res = run_sweep(spec, ex)
        wall = time.perf_counter() - t0
        points = json.loads(json.dumps(res.points))
        if reference is None:
            reference = points
        rows.append({"executor": name, "wall_s": wall, "identical": points == reference,
                     "points": len(points)})
    serial = rows[0]["wall_s"]
    for r in rows:
        r["speedup_vs_serial"] = serial / r["wall_s"]
    if args.json:
        print(json.dumps({"spec": spec.to_dict()["model"], "tokens": args.tokens,
                          "rows": rows}, indent=1))
        return
    print(f"sweep of {spec.n_points()} points, d_model={args.d_model} n_layer={args.n_layer}, "
          f"{args.tokens} new tokens per point")
    for r in rows:
        print(f"  {r['executor']:<24} {r['wall_s']:7.2f} s   x{r['speedup_vs_serial']:.2f}   "
              f"identical results: {r['identical']}")


if __name__ == "__main__":
    main()

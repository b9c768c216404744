"""`evaluate prog/` through the simulator vs `simulate` on the same program, per token.

Both sides run the same lowered program for the same number of decoding steps, in one
process, interleaved, best of --repeat:
  simulate   `Simulator(program).generate(prompt, n)`: what `snncompile simulate` runs (each
             step: the walk with every counter on, then the greedy pick);
  evaluate   `sweep.quality.evaluate_graph(graph, windows, "simulator", program=...)`: what
             `snncompile evaluate prog/` runs (each step: the same walk, then the log-softmax
             of the next byte; firing rates read from the counters at the end), over windows
             of --seq-len bytes of the validation split.
Each side builds its own Simulator inside the timed region. Models: the bundled student
(exported and lowered to the `default` preset here) and, unless --no-130m, a mamba2-130m-shaped
SpikingMamba with random int8 weights on the `large` preset (thresholds calibrated to rate 0.3,
as benchmarks/sim_vs_reference.py).

    .venv/bin/python benchmarks/evaluate_vs_simulate.py [--tokens 512] [--repeat 3]
        [--tokens-130m 32] [--no-130m] [--json]

Target (issue 12): evaluate / simulate <= 1.3 per token.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _compare(program, n_tokens: int, seq_len: int, repeat: int) -> dict:
    from snncompile.data.corpus import eval_windows, load_split
    from snncompile.simulator import Simulator
    from snncompile.sweep.quality import evaluate_graph

    seq_len = min(seq_len, n_tokens)
    n_win = max(1, n_tokens // seq_len)
    windows = eval_windows(load_split().val, seq_len, n_win * seq_len + 1).numpy()
    steps = windows.shape[0] * seq_len
    prompt = [int(t) for t in windows[0, :1]]

    def simulate() -> float:
        t = time.perf_counter()
        Simulator(program).generate(prompt, steps)  # 1 prompt token + steps - 1 fed back
        return time.perf_counter() - t

    def evaluate() -> tuple[float, float]:
        t = time.perf_counter()
        ev = evaluate_graph(program.graph, windows, "simulator", program=program)
        return time.perf_counter() - t, ev.result.bpb

    simulate(), evaluate()  # warm-up: Numba compilation, caches
    t_sim, t_ev, bpb = [], [], None
    for _ in range(repeat):
        t_sim.append(simulate())
        dt, bpb = evaluate()
        t_ev.append(dt)
    s, e = min(t_sim) / steps, min(t_ev) / steps
    return {"steps": steps, "seq_len": seq_len, "simulate_s_per_token": s,
            "evaluate_s_per_token": e, "ratio": e / s, "bpb": bpb,
            "simulate_s_runs": t_sim, "evaluate_s_runs": t_ev}


def _student(tmp: Path):
    from snncompile.backends import get_backend
    from snncompile.export import export_checkpoint
    from snncompile.ir import serde

    export_checkpoint(ROOT / "examples" / "models" / "student", tmp / "model.onnx")
    return get_backend("accum").lower(serde.load(tmp / "model.onnx"), "default")


def _shape_130m():
    from snncompile.backends.accum import HardwareSpec
    from snncompile.models.config import PUBLIC_CONFIGS
    from snncompile.sweep.synthetic import calibrate, random_program

    cfg = PUBLIC_CONFIGS["mamba2-130m"].replace(spiking=True)
    return calibrate(random_program(cfg, HardwareSpec.load("large"), seed=0), 0.3)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=512, help="steps per run, bundled student")
    ap.add_argument("--tokens-130m", type=int, default=32, help="steps per run, 130m shape")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-130m", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        out["bundled_student"] = _compare(_student(Path(tmp)), args.tokens, args.seq_len,
                                          args.repeat)
    if not args.no_130m:
        out["mamba2_130m_shape"] = _compare(_shape_130m(), args.tokens_130m, args.seq_len,
                                            args.repeat)
    worst = max(r["ratio"] for r in out.values())
    out["worst_ratio"] = worst
    out["target"] = 1.3
    for name, r in out.items():
        if isinstance(r, dict):
            print(f"{name}: simulate {r['simulate_s_per_token'] * 1e3:.3f} ms/token, evaluate "
                  f"{r['evaluate_s_per_token'] * 1e3:.3f} ms/token over {r['steps']} steps: "
                  f"ratio {r['ratio']:.3f} (bpb {r['bpb']:.4f})")
    print(f"worst ratio {worst:.3f} (target <= 1.3: {'PASS' if worst <= 1.3 else 'FAIL'})")
    if args.json:
        print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()

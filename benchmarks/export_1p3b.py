"""Export a randomly initialised SpikingMamba of the mamba2-1.3b shape: time and peak memory.

Targets (issue 4): the whole export, self-check included, in <= 5 min, and a peak resident
set <= 2.5x the fp32 weight size (so: no extra copies of the weights; they are streamed to
ONNX external data as views of the model's tensors, and the float64 check converts the
model in place).

    .venv/bin/python benchmarks/export_1p3b.py [--config mamba2-1.3b] [--tokens 4]
        [--no-verify] [--out DIR] [--json]

Prints the figures (and writes them as JSON with --json). Uses one CPU thread. The exported
files are removed unless --out is given. Peak RSS is the process's ru_maxrss, which includes
memory-mapped weight pages read back during the check.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def rss_gib() -> float:
    """Current resident set size (GiB) from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="mamba2-1.3b")
    ap.add_argument("--tokens", type=int, default=4)
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from snncompile.export import default_verify_tokens, export_model
    from snncompile.models.config import PUBLIC_CONFIGS
    from snncompile.models.lm import SpikingMambaLM

    cfg = PUBLIC_CONFIGS[args.config].replace(spiking=True)
    base_rss = rss_gib()
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = SpikingMambaLM(cfg)
    t_init = time.perf_counter() - t0
    weight_gib = sum(p.numel() for p in model.parameters()) * 4 / 2**30
    rss_model = rss_gib()

    out_dir = args.out or Path(tempfile.mkdtemp(prefix="snncompile-export-bench-"))
    try:
        t1 = time.perf_counter()
        report = export_model(model, out_dir / "model.onnx", verify=not args.no_verify,
                              tokens=default_verify_tokens(cfg, args.tokens))
        t_export = time.perf_counter() - t1
        files = {p.name: p.stat().st_size for p in out_dir.iterdir()}
    finally:
        if args.out is None:
            shutil.rmtree(out_dir, ignore_errors=True)
    peak = peak_gib()
    figures = {
        "config": args.config, "params": report.params, "nodes": report.nodes,
        "fp32_weights_gib": round(weight_gib, 3),
        "rss_before_model_gib": round(base_rss, 3), "rss_with_model_gib": round(rss_model, 3),
        "model_init_s": round(t_init, 1), "export_s": round(t_export, 1),
        "peak_rss_gib": round(peak, 3), "peak_rss_over_weights": round(peak / weight_gib, 3),
        "verified": report.verified, "verify_tokens": report.tokens,
        "max_abs_logit_diff": report.max_abs_diff, "external_data": report.external_data,
        "files_bytes": files,
        "targets": {"export_s_max": 300, "peak_rss_over_weights_max": 2.5},
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(figures, indent=2) if args.json else "\n".join(
        f"{k:>26}: {v}" for k, v in figures.items()))
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])

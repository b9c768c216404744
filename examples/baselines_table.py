"""Each chip against its dense twin, mamba2-130m to mamba2-2.7b, at the paper's firing rate.

    python examples/baselines_table.py [-o examples/results]

Writes, through snncompile's atomic writer:
  energy_baselines.csv       one row per config and pair of sides: E_SNN, E_dense, ratio,
                             latencies, latency ratio, break-even rate
  energy_reproduction.md     its "Each chip against its dense twin" section replaced (or
                             appended); the paper's reproduction above it is left as it is
  energy_baselines_layers.png  mamba2-1.3b on the accum default chip against dense-accum:
                             energy and latency per layer
  energy_baselines_ratio.png E_dense / E_SNN against firing rate for mamba2-1.3b, every pair,
                             break-even marked
Everything is computed by snncompile.energy (energy/comparison_table.py, energy/baseline.py).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path

from snncompile.atomic import write_text_atomic
from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.energy import comparison_table as ct

SECTION = "## Each chip against its dense twin"
CONFIGS = ("mamba2-130m", "mamba2-370m", "mamba2-780m", "mamba2-1.3b", "mamba2-2.7b")


def hardware() -> dict:
    return {p: HardwareSpec.load(p).to_dict() for p in ct.PRESETS}


def section(progress=None) -> tuple[str, list]:
    rate = ct.paper_rate()
    rows = ct.rows(CONFIGS, hardware(), rate, progress=progress)
    return ct.markdown(rows, rate), rows


def with_section(md: str, sec: str) -> str:
    """`md` with its baselines section replaced by `sec` (appended when absent)."""
    head = md.split(SECTION)[0].rstrip("\n")
    return head + "\n\n" + sec if head else sec


def rows_csv(rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["config", "table", "chip", "baseline", "method", "e_snn_j", "e_dense_j",
                "ratio", "latency_snn_s", "latency_dense_s", "latency_ratio",
                "break_even_rate"])
    for r in rows:
        w.writerow([r.config, r.table, r.chip or "", r.baseline, r.method,
                    f"{r.e_snn_pj * 1e-12:.6g}", f"{r.e_dense_pj * 1e-12:.6g}",
                    "" if r.ratio is None else f"{r.ratio:.6g}",
                    "" if r.t_snn_s is None else f"{r.t_snn_s:.6g}", f"{r.t_dense_s:.6g}",
                    "" if r.latency_ratio is None else f"{r.latency_ratio:.6g}",
                    "" if r.break_even is None else f"{r.break_even:.6g}"])
    return buf.getvalue()


def plots(out: Path, rate: float) -> None:
    from snncompile.energy.analytic import analytic_counters, spiking_graph
    from snncompile.energy.baseline import compare, load_baseline
    from snncompile.energy.plot import write_layers_png, write_ratio_png
    from snncompile.energy.price import price
    from snncompile.energy.ratio_curve import Side, ratio_curve
    from snncompile.energy.table import load_table
    from snncompile.models.config import PUBLIC_CONFIGS

    hw = hardware()
    graph = spiking_graph(PUBLIC_CONFIGS["mamba2-1.3b"])
    table = load_table("accum", hardware=hw["default"])
    cmp = compare(price(analytic_counters(graph, rate=rate), table), load_baseline("dense-accum"),
                  hardware=hw["default"])
    write_layers_png(cmp, out / "energy_baselines_layers.png")
    rates = [0.5 * i / 40 for i in range(41)]
    curves = []
    for t, chip, b in ct.PAIRS:
        h = hw[chip] if chip else None
        side = Side(load_table(t, hardware=h or hw["default"]), load_baseline(b), h)
        curves.append(ratio_curve(graph, side, rates))
    write_ratio_png(curves, out / "energy_baselines_ratio.png",
                    title="mamba2-1.3b: each SNN side against its dense twin, by firing rate")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    sec, rows = section(progress=lambda s: print(f"  {s}", file=sys.stderr))
    md_path = out / "energy_reproduction.md"
    md = md_path.read_text() if md_path.is_file() else ""
    write_text_atomic(md_path, with_section(md, sec))
    write_text_atomic(out / "energy_baselines.csv", rows_csv(rows))
    plots(out, ct.paper_rate())
    print(sec)
    print(f"wrote {md_path}, energy_baselines.csv, energy_baselines_{{layers,ratio}}.png in "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Reproduce the SpikingMamba paper's energy ratio (AC vs MAC, 45 nm) and test it with memory.

    python examples/reproduce_paper.py [-o examples/results] [--points 41]

Writes, through snncompile's atomic writer:
  energy_ratio_curves.csv    ratio vs firing rate: 5 public Mamba2 configs x {paper-style,
                             memory-aware per-spike, memory-aware per-active} x LM head on/off
  energy_ratio_summary.csv   caps (ratio at R = 0) and the firing rates that reach 2.9x,
                             4.76x, 9.8x (paper-style) and 1x (memory-aware), by bisection
  energy_ratio.png           the curves, the paper's 2.9x-9.8x band and 4.76x marked
  energy_reproduction.md     what is reproduced and what is assumed, with the numbers, and
                             each chip against its dense twin (examples/baselines_table.py)
Everything is computed by snncompile.energy (see snncompile/energy/reproduce.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from snncompile.atomic import write_text_atomic
from snncompile.energy import reproduce as rp


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--points", type=int, default=41, help="firing rates on [0, --r-max]")
    ap.add_argument("--r-max", type=float, default=0.5)
    args = ap.parse_args(argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    rep = rp.reproduce(rates=rp.default_rates(args.points, args.r_max),
                       progress=lambda s: print(f"  {s}", file=sys.stderr))
    write_text_atomic(out / "energy_ratio_curves.csv", rp.curves_csv(rep))
    write_text_atomic(out / "energy_ratio_summary.csv", rp.summary_csv(rep))
    rp.plot(rep, out / "energy_ratio.png")
    md = rp.markdown(rep)
    # the section comparing each chip with its dense twin (examples/baselines_table.py)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import baselines_table as bt

    md = bt.with_section(md, bt.section()[0])
    write_text_atomic(out / "energy_reproduction.md", md)
    for lm in (True, False):
        s = rep.solutions[("mamba2-1.3b", "paper", lm, rp.PAPER_RATIO)]
        where = f"R = {s.rate:.4f} (m = {s.mean_spikes:.3f})" if s.feasible else "unreachable"
        print(f"mamba2-1.3b, LM head {'counted' if lm else 'not counted'}: "
              f"{rp.PAPER_RATIO}x at {where}; cap {s.cap:.2f}x")
    print(f"wrote {out}/energy_ratio_{{curves,summary}}.csv, energy_ratio.png, "
          f"energy_reproduction.md in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

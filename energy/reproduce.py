"""Reproduce the SpikingMamba paper's AC-vs-MAC energy ratio, and test it with memory counted.

Everything here goes through the same path as `snncompile energy`: the shape-only IR graph of
a public Mamba2 config (`spiking_graph`), the IR's per-op accounting at a firing rate
(`analytic_counters`) and the pure pricing function (`price`) with a bundled cost table.

  ratio(R)      E_ANN / E_SNN at firing rate R per micro-step slot (D levels, m = R*D)
  cap           ratio(0): nothing spikes, only the still-dense ops cost energy; no firing
                rate can beat it (counting the LM head caps mamba2-1.3b near 7.9x)
  solve(target) the R with ratio(R) = target, by bisection on [0, 1] (ratio falls as R
                grows); infeasible when target > cap or target < ratio(1)

Models compared (`MODELS`): the paper's arithmetic-only estimate (paper-45nm), and the
memory-aware 45 nm model (horowitz-45nm: the same fp32 arithmetic plus weight reads from
1 MB SRAM and state traffic), with a weight fetch per spike event ("per-spike", binary
micro-step hardware) or per active input at full level ("per-active", the fewest reads a
rate allows; a lower bound).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Callable, Iterable

from snncompile.energy.analytic import DEFAULT_D, analytic_counters, spiking_graph
from snncompile.energy.price import EnergyReport, price
from snncompile.energy.table import CostTable, load_table
from snncompile.errors import ConfigError

PAPER_RATIO = 4.76  # SpikingMamba-1.3B, [paper]
PAPER_BAND = (2.9, 9.8)  # across sizes, neuron types, SGC on/off, [summary]
CONFIGS = ("mamba2-130m", "mamba2-370m", "mamba2-780m", "mamba2-1.3b", "mamba2-2.7b")


@dataclass(frozen=True)
class Model:
    """One way of pricing: a cost table and the analytic weight-read model."""

    key: str
    table: str
    weight_reads: str
    label: str


MODELS = (
    Model("paper", "paper-45nm", "per-spike", "paper-style AC vs MAC (45 nm, arithmetic only)"),
    Model("memory-per-spike", "horowitz-45nm", "per-spike",
          "memory-aware 45 nm, weight fetch per spike event"),
    Model("memory-per-active", "horowitz-45nm", "per-active",
          "memory-aware 45 nm, weight fetch per active input (lower bound)"),
)


class RatioModel:
    """ratio(R) of one config under one pricing model and LM-head choice.

    Every analytic counter is affine in R (spike sums are R * d_in * D; weight reads scale
    with them; the dense model does not depend on R), so the priced energies are too:
    E_SNN(R) = E_SNN(0) + R * (E_SNN(1) - E_SNN(0)), E_ANN constant. `ratio` uses that,
    with both ends priced by the full pipeline (`report`); `tests/test_energy_reproduce.py`
    checks it against `report(R)` at interior rates.
    """

    def __init__(self, config_name: str, table: CostTable | str, *, lm_head: bool,
                 weight_reads: str = "per-spike", D: int = DEFAULT_D, graph=None):
        from snncompile.models.config import PUBLIC_CONFIGS

        if config_name not in PUBLIC_CONFIGS and graph is None:
            raise ConfigError(f"unknown public config {config_name!r} (known: {list(PUBLIC_CONFIGS)})")
        self.config_name = config_name
        self.graph = graph if graph is not None else spiking_graph(PUBLIC_CONFIGS[config_name], D)
        self.table = load_table(table) if isinstance(table, str) else table
        self.lm_head = lm_head
        self.weight_reads = weight_reads
        self.D = D
        r0, r1 = self.report(0.0), self.report(1.0)
        self.e_ann = r0.ann.total
        self.e_snn0 = r0.snn.total
        self.e_snn_slope = r1.snn.total - r0.snn.total

    def report(self, rate: float) -> EnergyReport:
        counters = analytic_counters(self.graph, rate=rate, lm_head=self.lm_head,
                                     weight_reads=self.weight_reads,
                                     meta={"config": self.config_name})
        return price(counters, self.table)

    def energies(self, rate: float) -> tuple[float, float]:
        """(E_ANN, E_SNN) in pJ per token at firing rate R (the affine form)."""
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"firing rate must be in [0, 1], got {rate!r}")
        return self.e_ann, self.e_snn0 + rate * self.e_snn_slope

    def ratio(self, rate: float) -> float:
        ann, snn = self.energies(rate)
        if snn <= 0:
            raise ConfigError(f"{self.config_name}: E_SNN is zero at R={rate}")
        return ann / snn

    def cap(self) -> float:
        return self.ratio(0.0)


@dataclass(frozen=True)
class Solution:
    """The firing rate at which a ratio is reached (None when infeasible)."""

    target: float
    rate: float | None
    mean_spikes: float | None
    cap: float
    ratio_at_full_rate: float

    @property
    def feasible(self) -> bool:
        return self.rate is not None


def solve_rate(ratio: Callable[[float], float], target: float, *, D: int = DEFAULT_D,
               tol: float = 1e-9, max_iter: int = 200) -> Solution:
    """Bisection for ratio(R) = target on R in [0, 1]; ratio must fall as R grows."""
    lo, hi = 0.0, 1.0
    f_lo, f_hi = ratio(lo), ratio(hi)
    if not (f_lo >= target >= f_hi):
        return Solution(target, None, None, f_lo, f_hi)
    for _ in range(max_iter):
        if hi - lo <= tol:
            break
        mid = 0.5 * (lo + hi)
        if ratio(mid) > target:
            lo = mid
        else:
            hi = mid
    r = 0.5 * (lo + hi)
    return Solution(target, r, r * D, f_lo, f_hi)


# -- the full reproduction ------------------------------------------------------------------------
@dataclass(frozen=True)
class CurvePoint:
    config: str
    model: str
    lm_head: bool
    rate: float
    mean_spikes: float
    ratio: float
    e_ann_pj: float
    e_snn_pj: float


@dataclass(frozen=True)
class Reproduction:
    D: int
    rates: tuple[float, ...]
    points: tuple[CurvePoint, ...]
    caps: dict  # (config, model, lm_head) -> ratio at R = 0
    solutions: dict  # (config, model, lm_head, target) -> Solution
    at_paper_rate: dict  # (lm_head, model) -> ratio of mamba2-1.3b at the paper-style 4.76x rate
    dram_at_paper_rate: dict  # lm_head -> horowitz-45nm-dram per-spike ratio at that rate

    def curve(self, config: str, model: str, lm_head: bool) -> list[CurvePoint]:
        return [p for p in self.points
                if p.config == config and p.model == model and p.lm_head == lm_head]


def default_rates(n: int = 41, r_max: float = 0.5) -> tuple[float, ...]:
    return tuple(r_max * i / (n - 1) for i in range(n))


def reproduce(configs: Iterable[str] = CONFIGS, rates: Iterable[float] | None = None,
              D: int = DEFAULT_D, progress: Callable[[str], None] | None = None) -> Reproduction:
    """Ratio curves for every config x model x LM-head choice, their caps, and the rates
    that reach the paper's 4.76x and band edges."""
    from snncompile.models.config import PUBLIC_CONFIGS

    rates = tuple(rates) if rates is not None else default_rates()
    tables = {m.table: load_table(m.table) for m in MODELS}
    points: list[CurvePoint] = []
    caps: dict = {}
    solutions: dict = {}
    at_paper: dict = {}
    dram: dict = {}
    for name in configs:
        graph = spiking_graph(PUBLIC_CONFIGS[name], D)
        for model in MODELS:
            for lm_head in (True, False):
                if progress:
                    progress(f"{name} {model.key} lm_head={lm_head}")
                rm = RatioModel(name, tables[model.table], lm_head=lm_head,
                                weight_reads=model.weight_reads, D=D, graph=graph)
                for r in rates:
                    ann, snn = rm.energies(r)
                    points.append(CurvePoint(name, model.key, lm_head, r, r * D, ann / snn,
                                             ann, snn))
                caps[(name, model.key, lm_head)] = rm.cap()
                targets = (PAPER_RATIO, *PAPER_BAND) if model.key == "paper" else (1.0,)
                for t in targets:
                    solutions[(name, model.key, lm_head, t)] = solve_rate(rm.ratio, t, D=D)
        if name == "mamba2-1.3b":
            dram_table = load_table("horowitz-45nm-dram")
            for lm_head in (True, False):
                sol = solutions[(name, "paper", lm_head, PAPER_RATIO)]
                if not sol.feasible:
                    continue
                for model in MODELS[1:]:
                    rm = RatioModel(name, tables[model.table], lm_head=lm_head,
                                    weight_reads=model.weight_reads, D=D, graph=graph)
                    at_paper[(lm_head, model.key)] = rm.ratio(sol.rate)
                dram[lm_head] = RatioModel(name, dram_table, lm_head=lm_head, D=D,
                                           graph=graph).ratio(sol.rate)
    return Reproduction(D, rates, tuple(points), caps, solutions, at_paper, dram)


def curves_csv(rep: Reproduction) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["config", "model", "lm_head", "fire_rate", "mean_spikes", "ratio",
                "e_ann_pj", "e_snn_pj"])
    for p in rep.points:
        w.writerow([p.config, p.model, int(p.lm_head), f"{p.rate:.6g}", f"{p.mean_spikes:.6g}",
                    f"{p.ratio:.6g}", f"{p.e_ann_pj:.6g}", f"{p.e_snn_pj:.6g}"])
    return buf.getvalue()


def summary_csv(rep: Reproduction) -> str:
    """One row per config x model x LM-head: cap and the solved firing rates."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["config", "model", "lm_head", "cap_ratio_at_R0", "target", "fire_rate",
                "mean_spikes", "feasible"])
    for (name, model, lm_head, target), s in rep.solutions.items():
        w.writerow([name, model, int(lm_head), f"{rep.caps[(name, model, lm_head)]:.6g}",
                    target, "" if s.rate is None else f"{s.rate:.6g}",
                    "" if s.mean_spikes is None else f"{s.mean_spikes:.6g}", int(s.feasible)])
    return buf.getvalue()


def plot(rep: Reproduction, path) -> None:
    """Two panels: the paper-style ratio vs firing rate (both LM-head choices, the paper's
    band and 4.76x marked), and the memory-aware ratio next to it."""
    from snncompile.atomic import atomic_path
    from snncompile.energy.plot import pyplot

    plt = pyplot()
    configs = sorted({p.config for p in rep.points}, key=lambda c: CONFIGS.index(c)
                     if c in CONFIGS else 99)
    colors = dict(zip(configs, plt.get_cmap("viridis")(
        [i / max(1, len(configs) - 1) * 0.9 for i in range(len(configs))])))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5.2), dpi=120, sharex=True)
    try:
        for ax in (a1, a2):
            ax.axhspan(*PAPER_BAND, color="orange", alpha=0.15,
                       label=f"paper's band {PAPER_BAND[0]}x-{PAPER_BAND[1]}x")
            ax.axhline(PAPER_RATIO, color="red", lw=0.8, ls=":", label=f"paper: {PAPER_RATIO}x (1.3B)")
            ax.set_xlabel(f"firing rate R per micro-step slot (D = {rep.D}; mean spikes m = {rep.D}R)")
            ax.grid(alpha=0.3)
        for c in configs:
            for lm, ls in ((True, "-"), (False, "--")):
                pts = rep.curve(c, "paper", lm)
                a1.plot([p.rate for p in pts], [p.ratio for p in pts], ls, color=colors[c],
                        label=f"{c}, LM head {'counted' if lm else 'not counted'}")
            for key, ls in (("memory-per-spike", "-"), ("memory-per-active", ":")):
                pts = rep.curve(c, key, True)
                a2.plot([p.rate for p in pts], [p.ratio for p in pts], ls, color=colors[c],
                        label=f"{c}, {'per spike' if key.endswith('spike') else 'per active (bound)'}")
        for lm, marker in ((True, "o"), (False, "s")):
            s = rep.solutions.get(("mamba2-1.3b", "paper", lm, PAPER_RATIO))
            if s is not None and s.feasible:
                a1.plot([s.rate], [PAPER_RATIO], marker, color="red", ms=7,
                        label=f"1.3B reaches {PAPER_RATIO}x at R={s.rate:.3f} "
                              f"(LM head {'counted' if lm else 'not'})")
            m = rep.at_paper_rate.get((True, "memory-per-spike"))
            if lm and m is not None and s is not None and s.feasible:
                a2.plot([s.rate], [m], marker, color="red", ms=7,
                        label=f"1.3B at R={s.rate:.3f}: {m:.2f}x with memory (per spike)")
        a2.axhline(1.0, color="black", lw=0.8, label="break-even (1x)")
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

        a1.set_ylabel("E_ANN / E_SNN")
        for ax in (a1, a2):
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(FixedLocator([0.5, 1, 2, 3, 5, 7, 10, 15, 20, 30]))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        a1.set_title("paper-style: 45 nm fp32 arithmetic only (E_MAC 4.6 pJ, E_AC 0.9 pJ)",
                     fontsize=9)
        a2.set_title("memory-aware: + weight reads from 1 MB SRAM (horowitz-45nm), LM head counted",
                     fontsize=9)
        a1.legend(fontsize=6, ncol=1, loc="upper right")
        a2.legend(fontsize=6, ncol=1, loc="upper right")
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


def _fmt_sol(s: Solution | None) -> str:
    if s is None:
        return "-"
    if not s.feasible:
        if s.target > s.cap:
            return f"unreachable (cap {s.cap:.2f}x)"
        return f"not for R <= 1 ({s.ratio_at_full_rate:.2f}x at R = 1)"
    return f"R = {s.rate:.4f} (m = {s.mean_spikes:.3f})"


def markdown(rep: Reproduction) -> str:
    """The plain-language summary of what is reproduced and what is assumed."""
    S, caps = rep.solutions, rep.caps
    big = "mamba2-1.3b"
    lines = [
        "# The SpikingMamba energy ratio, reproduced and tested",
        "",
        "Generated by `examples/reproduce_paper.py` (data: `energy_ratio_curves.csv`, "
        "`energy_ratio_summary.csv`, chart: `energy_ratio.png`). Every number below is "
        "computed by `snncompile.energy` from the IR's per-op accounting; nothing is typed in.",
        "",
        "## Method (the paper's, as the spec describes it)",
        "- `E_ANN = E_MAC * dense MACs` of every op (the model as dense Mamba2); "
        "`E_SNN = E_AC * ACs(spiked in_proj/out_proj) + E_MAC * MACs(everything still dense)`;"
        " residual adds are priced as AC in both.",
        "- `E_MAC = 4.6 pJ`, `E_AC = 0.9 pJ` (45 nm fp32, Horowitz ISSCC 2014; table `paper-45nm`)."
        " That the paper used exactly these is assumed (the field's convention).",
        f"- One decoding step, batch 1. Firing rate R per micro-step slot, D = {rep.D}: a "
        "spiked projection with d_in inputs sees sum|s| = R * d_in * D and costs "
        "d_out * sum|s| ACs. The same R in every spiked projection (assumed; the paper "
        "reports no per-layer rates).",
        "- LM head: reported both ways (the paper does not say which it used).",
        "",
        "## What reproduces",
    ]
    s_on, s_off = S[(big, "paper", True, PAPER_RATIO)], S[(big, "paper", False, PAPER_RATIO)]
    lines += [
        f"- **mamba2-1.3b reaches {PAPER_RATIO}x** at {_fmt_sol(s_on)} with the LM head counted, "
        f"and at {_fmt_sol(s_off)} without it. "
        + ("Both choices can reach it (it is below both caps)." if s_on.feasible and s_off.feasible
           else "Only the choice" + (" with" if s_on.feasible else " without")
           + " the LM head can reach it." if s_on.feasible or s_off.feasible
           else "Neither choice reaches it."),
        f"- Caps (ratio at R = 0, nothing spiking): with the LM head counted "
        f"{caps[(big, 'paper', True)]:.2f}x, without it {caps[(big, 'paper', False)]:.2f}x "
        "(spec: about 7.9x and 17x).",
        "",
        "| config | LM head | cap (R = 0) | R for 2.9x | R for 4.76x | R for 9.8x |",
        "|---|---|---|---|---|---|",
    ]
    names = sorted({k[0] for k in caps}, key=lambda c: CONFIGS.index(c) if c in CONFIGS else 99)
    for c in names:
        for lm in (True, False):
            lines.append(
                f"| {c} | {'counted' if lm else 'not counted'} | {caps[(c, 'paper', lm)]:.2f}x | "
                + " | ".join(_fmt_sol(S.get((c, 'paper', lm, t)))
                             for t in (PAPER_BAND[0], PAPER_RATIO, PAPER_BAND[1])) + " |")

    def unreachable(lm: bool, target: float) -> str:
        out = [c for c in names if not S[(c, "paper", lm, target)].feasible]
        return ", ".join(out) if out else "none"

    lines += [
        "",
        "Reading the band (any firing rate in [0, 1]): with the LM head counted, "
        f"{PAPER_BAND[0]}x is out of reach for: {unreachable(True, PAPER_BAND[0])}; "
        f"{PAPER_BAND[1]}x for: {unreachable(True, PAPER_BAND[1])}. Without the LM head, "
        f"{PAPER_BAND[0]}x is out of reach for: {unreachable(False, PAPER_BAND[0])}; "
        f"{PAPER_BAND[1]}x for: {unreachable(False, PAPER_BAND[1])}. "
        "The LM head is a large share of a small model's MACs, so counting it caps the ratio. "
        + ("The whole band fits every size only when the LM head is left out."
           if unreachable(False, PAPER_BAND[1]) == "none" == unreachable(False, PAPER_BAND[0])
           else "Neither choice lets every size reach the whole band: its upper end needs a "
                "large model and a low firing rate."),
        "",
    ]
    mem = load_table("horowitz-45nm")
    wr, mac = mem.per_unit("weight_read"), mem.per_unit("mac")
    wr_access = mem.constants[mem.prices["weight_read"].constant].value
    lines += [
        "## What memory does to the conclusion",
        f"Table `horowitz-45nm`: the same fp32 arithmetic plus weight reads at {wr_access:g} pJ "
        f"per 64-bit access of a 1 MB SRAM ({wr:g} pJ/byte; fp32 weights: {4 * wr:g} pJ per "
        f"weight read, about {4 * wr / mac:.0f}x a MAC), state traffic in 32 KB SRAM. The dense "
        "model reads every weight once per token; "
        "the SNN reads a weight per spike event (per-spike) or, at best, once per active input "
        "(per-active: all active neurons at full level D, the fewest reads a rate allows).",
        "",
    ]
    for lm in (True, False):
        sol = S[(big, "paper", lm, PAPER_RATIO)]
        if not sol.feasible:
            continue
        ps = rep.at_paper_rate.get((lm, "memory-per-spike"))
        pa = rep.at_paper_rate.get((lm, "memory-per-active"))
        dr = rep.dram_at_paper_rate.get(lm)
        lines.append(
            f"- mamba2-1.3b, LM head {'counted' if lm else 'not counted'}, at the rate where the "
            f"paper-style ratio is {PAPER_RATIO}x (R = {sol.rate:.4f}): memory-aware ratio "
            f"{ps:.2f}x (per-spike), {pa:.2f}x (per-active bound); with weights in DRAM "
            f"(`horowitz-45nm-dram`, per-spike) {dr:.2f}x.")
    lines.append("")
    lines.append("| config | memory-aware cap (R=0) | break-even R, per-spike | "
                 "break-even R, per-active |")
    lines.append("|---|---|---|---|")
    for c in sorted({k[0] for k in caps}, key=lambda c: CONFIGS.index(c) if c in CONFIGS else 99):
        lines.append(f"| {c} (LM head counted) | {caps[(c, 'memory-per-spike', True)]:.2f}x | "
                     f"{_fmt_sol(S.get((c, 'memory-per-spike', True, 1.0)))} | "
                     f"{_fmt_sol(S.get((c, 'memory-per-active', True, 1.0)))} |")
    be = S.get((big, "memory-per-spike", True, 1.0))
    lines += [
        "",
        "With weight reads counted, a spike event (an AC plus a weight read) costs almost as "
        "much as the MAC plus weight read it replaces, so the SNN wins only by the weight "
        "reads it skips: a zero spike saves a read, a multi-level spike adds ACs without "
        "saving one. The ops that stay dense cost the same in both models, so the break-even "
        "point does not depend on the model size"
        + (f": m = {be.mean_spikes:.2f} spikes per neuron and token (per-spike reads)."
           if be is not None and be.feasible else ".")
        + " Near R = 0 memory favours the SNN (silent inputs skip their weight reads, hence "
        "the higher caps), but the ratio then falls much faster with R than the paper-style "
        "one. The per-active bound only holds for hardware that reads a weight once per token "
        "however many spikes use it (graded spikes).",
        "",
        "## Assumed, not known",
        "- E_MAC / E_AC values, the uniform firing rate, D = "
        f"{rep.D}, fp32 weights (4 bytes), the SRAM level of the weights, and the two "
        "weight-read models are our assumptions; the paper's per-layer firing rates are "
        "not public. The bundled student's measured ratio is added separately.",
        "",
    ]
    return "\n".join(lines)

"""Report writers for an `EnergyReport`: JSON, CSV and a rich terminal table.

(The PNG chart lives in `snncompile.energy.plot`, so matplotlib is imported only there.)

JSON (`snncompile-energy/1`), energies in pJ over all `tokens`:
  mode, table {name, path, description, prices{key: value, unit, counter, component, source}},
  tokens, D, lm_head, fire_rate, mean_spikes, weight_reads, ...  (the run's settings)
  ratio, ratio_basis ("all" | "compute"), ratio_compute (AC + MAC only, paper-style)
  totals  {snn{ac, mac, neuron, memory, noc, static, total}, ann{...}, counts{...},
           per_token{snn, ann}}
  layers  [{name ("layers.{i}" or the node name), block, counts, snn, ann, ratio}]  per block
  ops     [{name, op, block, counts{acs, macs, dense_macs, dense_acs, ...}, snn, ann}]
  unpriced {counter: total count}, notes [str]
CSV: one row per op, then one per layer (block), then the total (`level` column).
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Mapping

from snncompile.atomic import atomic_path
from snncompile.ir.counts import NodeCounts
from snncompile.energy.price import Energy, EnergyReport
from snncompile.energy.table import COMPONENTS

REPORT_FORMAT = "snncompile-energy/1"
COUNT_KEYS = ("acs", "macs", "dense_macs", "dense_acs", "spikes", "neuron_updates",
              "weight_bytes_read", "dense_weight_bytes_read", "state_bytes_read",
              "state_bytes_written", "dense_state_bytes_read", "dense_state_bytes_written",
              "spike_messages", "noc_hops", "cycles")
SETTINGS = ("D", "lm_head", "fire_rate", "mean_spikes", "weight_reads", "float_bits",
            "node_rates", "config", "model", "source", "program", "hardware", "text")


def _ratio(ann: float, snn: float) -> float | None:
    return ann / snn if snn > 0 else None


def _counts(items: list[NodeCounts]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k in COUNT_KEYS:
        vals = [getattr(c, k) for c in items]
        out[k] = None if any(v is None for v in vals) else sum(vals)
    return out


def report_dict(report: EnergyReport) -> dict[str, Any]:
    """The JSON-ready form of `report` (see module docstring)."""
    meta = report.meta
    d: dict[str, Any] = {"format": REPORT_FORMAT, "mode": meta.get("mode"), "unit": "pJ",
                         "table": report.table.as_dict(), "tokens": report.tokens}
    for k in SETTINGS:
        if k in meta:
            d[k] = meta[k]
    snn, ann = report.snn, report.ann
    d.update({
        "ratio": report.ratio, "ratio_basis": report.ratio_basis,
        "ratio_compute": report.ratio_compute,
        "time_s": report.counters.time_s,
        "totals": {"snn": snn.as_dict(), "ann": ann.as_dict(),
                   "counts": _counts([l.counters for l in report.layers]),
                   "per_token": {"snn": snn.total / report.tokens, "ann": ann.total / report.tokens}},
        "layers": [{"name": b.label, "block": b.block,
                    "counts": _counts([n.counters for n in b.nodes]),
                    "snn": b.snn.as_dict(), "ann": b.ann.as_dict(),
                    "ratio": _ratio(b.ann.total, b.snn.total)} for b in report.blocks()],
        "ops": [{"name": l.name, "op": l.op, "block": l.block,
                 "counts": {k: getattr(l.counters, k) for k in COUNT_KEYS},
                 "snn": l.snn.as_dict(), "ann": l.ann.as_dict()} for l in report.layers],
        "unpriced": dict(report.unpriced), "notes": list(report.notes),
    })
    return d


def to_json(report: EnergyReport) -> str:
    return json.dumps(report_dict(report), indent=2, allow_nan=False, default=_jsonable)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (set, tuple)):
        return list(v)
    raise TypeError(f"not JSON-serializable: {type(v).__name__}")


def write_json(report: EnergyReport, path) -> None:
    text = to_json(report)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


CSV_COLUMNS = ("level", "name", "op", "block", *COUNT_KEYS,
               *(f"snn_{c}_pj" for c in COMPONENTS), "snn_total_pj",
               *(f"ann_{c}_pj" for c in COMPONENTS), "ann_total_pj", "ratio")


def _row(level: str, name: str, op: str, block: Any, counts: Mapping[str, Any], snn: Energy,
         ann: Energy) -> dict[str, Any]:
    row: dict[str, Any] = {"level": level, "name": name, "op": op,
                           "block": "" if block is None else block}
    row.update({k: ("" if counts.get(k) is None else counts[k]) for k in COUNT_KEYS})
    row.update({f"snn_{c}_pj": getattr(snn, c) for c in COMPONENTS})
    row["snn_total_pj"] = snn.total
    row.update({f"ann_{c}_pj": getattr(ann, c) for c in COMPONENTS})
    row["ann_total_pj"] = ann.total
    r = _ratio(ann.total, snn.total)
    row["ratio"] = "" if r is None else r
    return row


def to_csv(report: EnergyReport) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for l in report.layers:
        w.writerow(_row("op", l.name, l.op, l.block, l.counters.as_dict(), l.snn, l.ann))
    for b in report.blocks():
        w.writerow(_row("layer", b.label, "", b.block, _counts([n.counters for n in b.nodes]),
                        b.snn, b.ann))
    w.writerow(_row("total", "total", "", None, _counts([l.counters for l in report.layers]),
                    report.snn, report.ann))
    return buf.getvalue()


def write_csv(report: EnergyReport, path) -> None:
    text = to_csv(report)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


# -- terminal -----------------------------------------------------------------------------------
def fmt_energy(pj: float) -> str:
    """pJ value with an SI prefix: '12.3 nJ'."""
    if pj == 0:
        return "0"
    units = (("pJ", 1.0), ("nJ", 1e3), ("µJ", 1e6), ("mJ", 1e9), ("J", 1e12))
    unit, scale = units[0]
    for u, s in units:
        if abs(pj) >= s:
            unit, scale = u, s
    return f"{pj / scale:.3g} {unit}"


def fmt_count(n: float | None) -> str:
    if n is None:
        return "?"
    if n == 0:
        return "0"
    if abs(n) < 1e4:
        return f"{n:.4g}"
    exp = int(math.floor(math.log10(abs(n))))
    return f"{n / 10 ** exp:.3g}e{exp}"


def lm_head_line(report: EnergyReport) -> str:
    choice = report.meta.get("lm_head")
    if choice is None:
        return "LM head: as in the counters"
    return ("LM head: counted (dense, in both models)" if choice
            else "LM head: NOT counted (left out of both models)")


def summary_lines(report: EnergyReport) -> list[str]:
    m = report.meta
    lines = [f"mode: {m.get('mode')}   table: {report.table.name}   tokens: {report.tokens}"]
    if m.get("mode") == "analytic":
        fr, ms = m.get("fire_rate"), m.get("mean_spikes")
        rate = (f"firing rate R = {fr:.4g} per micro-step slot" if fr is not None
                else "firing rates per node")
        if ms is not None:
            rate += f" (mean spikes m = R*D = {ms:.4g} per neuron per token)"
        lines.append(f"D = {m.get('D')}   {rate}   weight reads: {m.get('weight_reads')}")
    lines.append(lm_head_line(report))
    snn, ann = report.snn, report.ann
    lines.append(f"E_SNN = {fmt_energy(snn.total)}   E_ANN = {fmt_energy(ann.total)}   "
                 f"per token: {fmt_energy(snn.total / report.tokens)} vs "
                 f"{fmt_energy(ann.total / report.tokens)}")
    r, rc = report.ratio, report.ratio_compute
    lines.append(f"ratio E_ANN / E_SNN = {r:.3f}x ({report.ratio_basis})" if r is not None
                 else "ratio: undefined (E_SNN = 0)")
    if report.ratio_basis == "all" and rc is not None and report.ratio is not None \
            and abs(rc - report.ratio) > 1e-12 * abs(rc):
        lines.append(f"arithmetic only (AC + MAC, paper-style): {rc:.3f}x")
    if report.unpriced:
        lines.append("not priced by this table: " + ", ".join(
            f"{k}={fmt_count(v)}" for k, v in report.unpriced.items()))
    lines.extend(f"note: {n}" for n in report.notes)
    return lines


def _unit_for(pj: float) -> tuple[str, float]:
    """One display unit for a whole table, chosen from its largest value."""
    unit, scale = "pJ", 1.0
    for u, sc in (("nJ", 1e3), ("µJ", 1e6), ("mJ", 1e9), ("J", 1e12)):
        if abs(pj) >= sc:
            unit, scale = u, sc
    return unit, scale


def render(report: EnergyReport, console=None, per_op: bool = False) -> None:
    """Print the per-layer table (or per-op with `per_op`) and the summary with rich.
    Energies share one unit, named in the title; counts are per run."""
    from rich.console import Console
    from rich.table import Table

    from rich import box

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a file: do not squeeze to 80 columns
            console = Console(width=140)
    comps = [c for c in COMPONENTS if any(getattr(l.snn, c) for l in report.layers)]
    rows = report.layers if per_op else report.blocks()
    typical = sorted(r.snn.total for r in rows)[len(rows) // 2] if rows else 0.0
    unit, scale = _unit_for(typical)
    t = Table(title=f"Energy per {'op' if per_op else 'layer'} in {unit} ({report.table.name})",
              box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("op" if per_op else "layer", no_wrap=True)
    t.add_column("ACs", justify="right", no_wrap=True)
    t.add_column("MACs", justify="right", no_wrap=True)
    for c in comps:
        t.add_column(LABELS[c], justify="right", no_wrap=True)
    for col in ("E_SNN", "E_ANN", "ratio"):
        t.add_column(col, justify="right", no_wrap=True)

    def e(v: float) -> str:
        x = v / scale
        if x == 0:
            return "0"
        return f"{x:,.0f}" if abs(x) >= 1000 else (f"{x:.3g}" if abs(x) >= 1e-3 else f"{x:.1e}")

    def add(label: str, counts: Mapping[str, Any], snn: Energy, ann: Energy, style=None) -> None:
        r = _ratio(ann.total, snn.total)
        t.add_row(label, fmt_count(counts["acs"]), fmt_count(counts["macs"]),
                  *(e(getattr(snn, c)) for c in comps), e(snn.total), e(ann.total),
                  "-" if r is None else f"{r:.2f}x", style=style)

    if per_op:
        for l in report.layers:
            add(l.name, l.counters.as_dict(), l.snn, l.ann)
    else:
        for b in report.blocks():
            add(b.label, _counts([n.counters for n in b.nodes]), b.snn, b.ann)
    add("total", _counts([l.counters for l in report.layers]), report.snn, report.ann,
        style="bold")
    console.print(t)
    for line in summary_lines(report):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


LABELS = {"ac": "AC", "mac": "MAC", "neuron": "neuron", "memory": "memory", "noc": "NoC",
          "static": "static"}

"""Report writers for an `EnergyReport`: JSON, CSV and a rich terminal table.

(The PNG chart lives in `snncompile.energy.plot`, so matplotlib is imported only there.)

JSON (`snncompile-energy/2`, docs/output-formats.md), energies in joules (`_j` fields):
  mode, table {name, path, description, prices{key: value, unit, counter, component, source}},
  tokens (decoding steps priced), D, lm_head, fire_rate, mean_spikes, weight_reads, ...
  ratio (E_ANN / E_SNN), ratio_basis ("all" | "compute"), ratio_compute (AC + MAC only)
  total     {snn_j{ac, mac, neuron, memory, noc, static, total}, ann_j{...}, counts{...},
             time_s}                                                  over all `tokens`
  per_token {the same, divided by `tokens`}
  blocks  [{name ("layers.{i}" or the node name), block, counts, snn_j, ann_j, ratio}]  total
  nodes   [{name, op, block, counts{acs, macs, dense_macs, dense_acs, ...}, snn_j, ann_j}]  total
  unpriced {counter: total count}, notes [str]
CSV (`snncompile-energy-csv/1`): one row per node, then one per block, then the total (`level`
column: node | block | total); counts and energies (joules) are totals over `tokens` (a column).
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Mapping

from snncompile.atomic import atomic_path
from snncompile.errors import CostTableError
from snncompile.ir.counts import NodeCounts
from snncompile.energy.price import Energy, EnergyReport
from snncompile.energy.table import COMPONENTS

REPORT_FORMAT = "snncompile-energy/2"
CSV_FORMAT = "snncompile-energy-csv/1"
J_PER_PJ = 1e-12
COUNT_KEYS = ("acs", "macs", "dense_macs", "dense_acs", "spikes", "neuron_updates",
              "weight_bytes_read", "dense_weight_bytes_read", "state_bytes_read",
              "state_bytes_written", "dense_state_bytes_read", "dense_state_bytes_written",
              "spike_messages", "noc_hops", "cycles")
SETTINGS = ("D", "lm_head", "fire_rate", "mean_spikes", "weight_reads", "float_bits",
            "node_rates", "config", "model", "source", "program", "hardware", "prompt",
            "continuation")


def _ratio(ann: float, snn: float) -> float | None:
    return ann / snn if snn > 0 else None


def _counts(items: list[NodeCounts]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k in COUNT_KEYS:
        vals = [getattr(c, k) for c in items]
        out[k] = None if any(v is None for v in vals) else sum(vals)
    return out


def _joules(e: Energy, scale: float = 1.0) -> dict[str, float]:
    """An energy's components (and total) in joules, times `scale`."""
    return {k: v * J_PER_PJ * scale for k, v in e.as_dict().items()}


def _scaled(counts: Mapping[str, Any], scale: float) -> dict[str, Any]:
    return {k: None if v is None else v * scale for k, v in counts.items()}


def report_dict(report: EnergyReport) -> dict[str, Any]:
    """The JSON-ready form of `report` (see module docstring)."""
    meta = report.meta
    d: dict[str, Any] = {"format": REPORT_FORMAT, "mode": meta.get("mode"),
                         "table": report.table.as_dict(), "tokens": report.tokens}
    for k in SETTINGS:
        if k in meta and meta[k] is not None:
            d[k] = meta[k]
    snn, ann = report.snn, report.ann
    per = 1 / max(report.tokens, 1)
    counts = _counts([l.counters for l in report.layers])
    time_s = report.counters.time_s
    d.update({
        "ratio": report.ratio, "ratio_basis": report.ratio_basis,
        "ratio_compute": report.ratio_compute,
        "total": {"snn_j": _joules(snn), "ann_j": _joules(ann), "counts": counts,
                  "time_s": time_s},
        "per_token": {"snn_j": _joules(snn, per), "ann_j": _joules(ann, per),
                      "counts": _scaled(counts, per),
                      "time_s": None if time_s is None else time_s * per},
        "blocks": [{"name": b.label, "block": b.block,
                    "counts": _counts([n.counters for n in b.nodes]),
                    "snn_j": _joules(b.snn), "ann_j": _joules(b.ann),
                    "ratio": _ratio(b.ann.total, b.snn.total)} for b in report.blocks()],
        "nodes": [{"name": l.name, "op": l.op, "block": l.block,
                   "counts": {k: getattr(l.counters, k) for k in COUNT_KEYS},
                   "snn_j": _joules(l.snn), "ann_j": _joules(l.ann)} for l in report.layers],
        "unpriced": dict(report.unpriced), "notes": list(report.notes),
    })
    return d


def to_json(report: EnergyReport) -> str:
    try:
        return json.dumps(report_dict(report), indent=2, allow_nan=False, default=_jsonable)
    except ValueError as exc:  # a NaN or an infinity (e.g. a price of 1e308 overflowing)
        raise CostTableError(f"the energy report is not finite ({exc}); check the cost "
                             f"table {report.table.name!r}") from None


def _jsonable(v: Any) -> Any:
    if isinstance(v, (set, tuple)):
        return list(v)
    raise TypeError(f"not JSON-serializable: {type(v).__name__}")


def write_json(report: EnergyReport, path) -> None:
    text = to_json(report)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


CSV_COLUMNS = ("level", "name", "op", "block", "tokens", *COUNT_KEYS,
               *(f"snn_{c}_j" for c in COMPONENTS), "snn_total_j",
               *(f"ann_{c}_j" for c in COMPONENTS), "ann_total_j", "ratio")


def _row(level: str, name: str, op: str, block: Any, counts: Mapping[str, Any], snn: Energy,
         ann: Energy, tokens: int) -> dict[str, Any]:
    row: dict[str, Any] = {"level": level, "name": name, "op": op,
                           "block": "" if block is None else block, "tokens": tokens}
    row.update({k: ("" if counts.get(k) is None else counts[k]) for k in COUNT_KEYS})
    row.update({f"snn_{c}_j": getattr(snn, c) * J_PER_PJ for c in COMPONENTS})
    row["snn_total_j"] = snn.total * J_PER_PJ
    row.update({f"ann_{c}_j": getattr(ann, c) * J_PER_PJ for c in COMPONENTS})
    row["ann_total_j"] = ann.total * J_PER_PJ
    r = _ratio(ann.total, snn.total)
    row["ratio"] = "" if r is None else r
    return row


def to_csv(report: EnergyReport) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    n = report.tokens
    for l in report.layers:
        w.writerow(_row("node", l.name, l.op, l.block, l.counters.as_dict(), l.snn, l.ann, n))
    for b in report.blocks():
        w.writerow(_row("block", b.label, "", b.block, _counts([n.counters for n in b.nodes]),
                        b.snn, b.ann, report.tokens))
    w.writerow(_row("total", "total", "", None, _counts([l.counters for l in report.layers]),
                    report.snn, report.ann, n))
    return buf.getvalue()


def write_csv(report: EnergyReport, path) -> None:
    text = to_csv(report)
    if not all(math.isfinite(x) for x in (report.snn.total, report.ann.total)):
        raise CostTableError(f"the energy report is not finite; check the cost table "
                             f"{report.table.name!r}")
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
    lines.append(f"total over {report.tokens} tokens: E_SNN = {fmt_energy(snn.total)}   "
                 f"E_ANN = {fmt_energy(ann.total)}   "
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
    Energies share one unit, named in the title with the scope: "total over N tokens" (counts
    and energies of the whole run) or "per token" for a one-token run."""
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
    scope = (f"total over {report.tokens} tokens" if report.tokens != 1
             else "per token (1 token)")
    t = Table(title=f"Energy by {'node' if per_op else 'block'} in {unit}, {scope} "
                    f"({report.table.name})",
              box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("node" if per_op else "block", no_wrap=True)
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

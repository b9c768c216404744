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
  ratio_sides {snn, dense, method}: what `ratio` compares (the dense model priced with the
             same table's prices)
  comparison (when a dense baseline is named, energy/baseline.py) {method, label,
             snn {table, technology, hardware, total_j{...}, per_token_j{...}, latency_s,
                  latency_per_token_s, latency_basis},
             dense {baseline, technology, hardware, total_j, per_token_j, latency_s,
                    latency_per_token_s, units, description{the baseline file}},
             ratio (E_dense / E_SNN), latency_ratio (latency_dense / latency_SNN),
             blocks [{name, snn_j, dense_j, snn_latency_s, dense_latency_s, ratio}]}
Every energy record holds `memory` and its split `memory_weights` (weight reads),
`memory_state` (conv, SSM and neuron state) and `memory_buffers` (spike/message buffers: the
accumulator traffic of spiked projections).
CSV (`snncompile-energy-csv/1`): one row per node, then one per block, then the total (`level`
column: node | block | total); counts and energies (joules) are totals over `tokens` (a column).
With a dense baseline the `dense_*_j`, `snn_time_s`, `dense_time_s` and `dense_ratio` columns
are filled (empty otherwise).
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
from snncompile.energy.price import Energy, EnergyReport, sum_energy
from snncompile.energy.table import COMPONENTS

MEMORY_SPLIT = ("memory_weights", "memory_state", "memory_buffers")
SPLIT_LABELS = {"memory_weights": "weights", "memory_state": "state",
                "memory_buffers": "buffers"}

REPORT_FORMAT = "snncompile-energy/2"
CSV_FORMAT = "snncompile-energy-csv/1"
J_PER_PJ = 1e-12
COUNT_KEYS = ("acs", "macs", "dense_macs", "dense_acs", "spikes", "neuron_updates",
              "neuron_accesses",
              "weight_bytes_read", "dense_weight_bytes_read", "state_bytes_read",
              "state_bytes_written", "dense_state_bytes_read", "dense_state_bytes_written",
              "spike_messages", "noc_hops", "noc_hops_ns", "cycles")
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


def ratio_sides(report: EnergyReport) -> dict[str, str]:
    """What `report.ratio` compares: both sides named."""
    t = report.table.name
    arithmetic = report.ratio_basis == "compute" or not any(
        k in report.table.prices for k in ("weight_read", "state_read", "state_write"))
    return {"snn": f"SNN priced with cost table {t}",
            "dense": f"the dense model priced with cost table {t} (the same prices)",
            "method": ("arithmetic only (the paper's method: AC + MAC, no memory)" if arithmetic
                       else "same table on both sides (no dense hardware named)")}


def comparison_dict(cmp) -> dict[str, Any]:
    """The `comparison` block of the JSON (module docstring); `cmp`: baseline.Comparison."""
    report, dense = cmp.report, cmp.dense
    per = 1 / max(report.tokens, 1)
    lat = cmp.latency
    snn_e, dense_e = cmp.snn_energy, cmp.dense_energy
    blocks = []
    index = {l.name: i for i, l in enumerate(report.layers)}
    for b in report.blocks():
        ids = [index[n.name] for n in b.nodes]
        s = sum_energy(cmp.snn_node_energy(i) for i in ids)
        d = sum_energy(dense.nodes[i].energy for i in ids)
        blocks.append({"name": b.label, "snn_j": _joules(s), "dense_j": _joules(d),
                       "snn_latency_s": None if lat is None else sum(lat.per_node_s[i] for i in ids),
                       "dense_latency_s": sum(dense.nodes[i].time_s for i in ids),
                       "ratio": _ratio(d.total, s.total)})
    return {
        "method": cmp.method, "label": cmp.label,
        "snn": {"table": report.table.name, "technology": report.table.technology,
                "hardware": cmp.snn_hardware, "total_j": _joules(snn_e),
                "per_token_j": _joules(snn_e, per),
                "latency_s": None if lat is None else lat.total_s,
                "latency_per_token_s": None if lat is None else lat.total_s * per,
                "latency_basis": None if lat is None else lat.basis},
        "dense": {"baseline": dense.baseline.name, "technology": dense.baseline.technology,
                  "hardware": dense.baseline.description, "total_j": _joules(dense_e),
                  "per_token_j": _joules(dense_e, per), "latency_s": dense.time_s,
                  "latency_per_token_s": dense.time_s * per, "units": dense.units,
                  "description": dense.baseline.as_dict()},
        "ratio": cmp.ratio, "latency_ratio": cmp.latency_ratio, "blocks": blocks,
    }


def report_dict(report: EnergyReport, comparison=None) -> dict[str, Any]:
    """The JSON-ready form of `report` (see module docstring); `comparison` (a
    baseline.Comparison of this report) adds the `comparison` block."""
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
        "ratio_sides": ratio_sides(report),
    })
    if comparison is not None:
        d["comparison"] = comparison_dict(comparison)
    return d


def to_json(report: EnergyReport, comparison=None) -> str:
    try:
        return json.dumps(report_dict(report, comparison), indent=2, allow_nan=False, default=_jsonable)
    except ValueError as exc:  # a NaN or an infinity (e.g. a price of 1e308 overflowing)
        raise CostTableError(f"the energy report is not finite ({exc}); check the cost "
                             f"table {report.table.name!r}") from None


def _jsonable(v: Any) -> Any:
    if isinstance(v, (set, tuple)):
        return list(v)
    raise TypeError(f"not JSON-serializable: {type(v).__name__}")


def write_json(report: EnergyReport, path, comparison=None) -> None:
    text = to_json(report, comparison)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


_E_COLS = (*COMPONENTS, *MEMORY_SPLIT)
CSV_COLUMNS = ("level", "name", "op", "block", "tokens", *COUNT_KEYS,
               *(f"snn_{c}_j" for c in _E_COLS), "snn_total_j",
               *(f"ann_{c}_j" for c in _E_COLS), "ann_total_j", "ratio",
               *(f"dense_{c}_j" for c in _E_COLS), "dense_total_j", "snn_time_s",
               "dense_time_s", "dense_ratio")


def _row(level: str, name: str, op: str, block: Any, counts: Mapping[str, Any], snn: Energy,
         ann: Energy, tokens: int, twin: tuple | None = None) -> dict[str, Any]:
    """`twin`: (SNN energy as compared, dense energy, SNN time or None, dense time)."""
    row: dict[str, Any] = {"level": level, "name": name, "op": op,
                           "block": "" if block is None else block, "tokens": tokens}
    row.update({k: ("" if counts.get(k) is None else counts[k]) for k in COUNT_KEYS})
    row.update({f"snn_{c}_j": getattr(snn, c) * J_PER_PJ for c in _E_COLS})
    row["snn_total_j"] = snn.total * J_PER_PJ
    row.update({f"ann_{c}_j": getattr(ann, c) * J_PER_PJ for c in _E_COLS})
    row["ann_total_j"] = ann.total * J_PER_PJ
    r = _ratio(ann.total, snn.total)
    row["ratio"] = "" if r is None else r
    if twin is not None:
        s, d, ts, td = twin
        row.update({f"dense_{c}_j": getattr(d, c) * J_PER_PJ for c in _E_COLS})
        row["dense_total_j"] = d.total * J_PER_PJ
        row["snn_time_s"] = "" if ts is None else ts
        row["dense_time_s"] = td
        r = _ratio(d.total, s.total)
        row["dense_ratio"] = "" if r is None else r
    return row


def to_csv(report: EnergyReport, comparison=None) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n", restval="")
    w.writeheader()
    n = report.tokens
    index = {l.name: i for i, l in enumerate(report.layers)}

    def twin(ids: list[int]):
        if comparison is None:
            return None
        lat = comparison.latency
        return (sum_energy(comparison.snn_node_energy(i) for i in ids),
                sum_energy(comparison.dense.nodes[i].energy for i in ids),
                None if lat is None else sum(lat.per_node_s[i] for i in ids),
                sum(comparison.dense.nodes[i].time_s for i in ids))

    for i, l in enumerate(report.layers):
        w.writerow(_row("node", l.name, l.op, l.block, l.counters.as_dict(), l.snn, l.ann, n,
                        twin([i])))
    for b in report.blocks():
        w.writerow(_row("block", b.label, "", b.block, _counts([n.counters for n in b.nodes]),
                        b.snn, b.ann, report.tokens, twin([index[x.name] for x in b.nodes])))
    w.writerow(_row("total", "total", "", None, _counts([l.counters for l in report.layers]),
                    report.snn, report.ann, n, twin(list(range(len(report.layers))))))
    return buf.getvalue()


def write_csv(report: EnergyReport, path, comparison=None) -> None:
    text = to_csv(report, comparison)
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


def fmt_time(s: float | None) -> str:
    """Seconds with an SI prefix: '12.3 µs' ('-' when unknown)."""
    if s is None:
        return "-"
    if s == 0:
        return "0 s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(s) >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-12:.3g} ps"


def memory_split_line(label: str, e: Energy, per: float) -> str:
    return (f"{label} memory {fmt_energy(e.memory * per)} = weight reads "
            f"{fmt_energy(e.memory_weights * per)} + state traffic "
            f"{fmt_energy(e.memory_state * per)} + spike/message buffers "
            f"{fmt_energy(e.memory_buffers * per)}")


def comparison_lines(cmp) -> list[str]:
    """Both sides named: table, technology, hardware; energy and latency per token; ratios."""
    report, dense = cmp.report, cmp.dense
    per = 1 / max(report.tokens, 1)
    lat = cmp.latency
    b = dense.baseline
    lines = [f"comparison: {cmp.label}",
             f"  SNN:   cost table {report.table.name} ({report.table.technology}), hardware "
             f"{cmp.snn_hardware}: E_SNN = {fmt_energy(cmp.snn_energy.total * per)} per token, "
             "latency_SNN = "
             + (f"{fmt_time(lat.total_s * per)} per token ({lat.basis})" if lat is not None
                else "- (no chip: give --hw for an estimate)"),
             f"  dense: baseline {b.name} ({b.technology}): {b.description}: E_dense = "
             f"{fmt_energy(dense.energy.total * per)} per token, latency_dense = "
             f"{fmt_time(dense.time_s * per)} per token ({dense.units} unit"
             f"{'s' if dense.units != 1 else ''})"]
    r, lr = cmp.ratio, cmp.latency_ratio
    lines.append(f"  ratio E_dense / E_SNN = {r:.3f}x ({b.name} vs {report.table.name})"
                 if r is not None else "  ratio: undefined (E_SNN = 0)")
    if lr is not None:
        lines.append(f"  latency_dense / latency_SNN = {lr:.3f}x ({b.name} vs "
                     f"{cmp.snn_hardware}; above 1: the SNN is faster)")
    if cmp.method == "twin":
        lines.append("  " + memory_split_line("SNN", cmp.snn_energy, per) + " per token")
        lines.append("  " + memory_split_line("dense", dense.energy, per) + " per token")
    return lines


def run_unit(report: EnergyReport) -> tuple[str, str]:
    """What the run's `tokens` count: time steps for a network's run (its sim.json has
    "steps"), else tokens."""
    return ("step", "steps") if "steps" in report.meta else ("token", "tokens")


def summary_lines(report: EnergyReport, comparison=None) -> list[str]:
    m = report.meta
    u, us = run_unit(report)
    lines = [f"mode: {m.get('mode')}   table: {report.table.name}   {us}: {report.tokens}"]
    if m.get("mode") == "analytic":
        fr, ms = m.get("fire_rate"), m.get("mean_spikes")
        rate = (f"firing rate R = {fr:.4g} per micro-step slot" if fr is not None
                else "firing rates per node")
        if ms is not None:
            rate += f" (mean spikes m = R*D = {ms:.4g} per neuron per token)"
        lines.append(f"D = {m.get('D')}   {rate}   weight reads: {m.get('weight_reads')}")
    lines.append(lm_head_line(report))
    snn, ann = report.snn, report.ann
    t = report.table.name
    lines.append(f"total over {report.tokens} {us}: E_SNN ({t}) = {fmt_energy(snn.total)}   "
                 f"E_ANN (dense model at {t}'s prices) = {fmt_energy(ann.total)}   "
                 f"per {u}: {fmt_energy(snn.total / report.tokens)} vs "
                 f"{fmt_energy(ann.total / report.tokens)}")
    if snn.memory or ann.memory:
        per = 1 / max(report.tokens, 1)
        lines.append(memory_split_line("SNN", snn, per) + f" per {u}")
    r, rc = report.ratio, report.ratio_compute
    sides = ratio_sides(report)
    if comparison is not None:
        lines.extend(comparison_lines(comparison))
        if rc is not None:
            lines.append(f"ratio E_ANN / E_SNN, arithmetic only (the paper's method: AC + MAC), "
                         f"both sides priced with {t}: {rc:.3f}x")
    else:
        lines.append(f"ratio E_ANN / E_SNN = {r:.3f}x: {sides['snn']} vs {sides['dense']}; "
                     f"{sides['method']}" if r is not None else "ratio: undefined (E_SNN = 0)")
        if report.ratio_basis == "all" and rc is not None and r is not None \
                and abs(rc - r) > 1e-12 * abs(rc):
            lines.append(f"arithmetic only (the paper's method: AC + MAC, both sides priced "
                         f"with {t}): {rc:.3f}x")
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


def render(report: EnergyReport, console=None, per_op: bool = False, comparison=None) -> None:
    """Print the per-layer table (or per-op with `per_op`) and the summary with rich.
    Energies share one unit, named in the title with the scope: "total over N tokens" (counts
    and energies of the whole run) or "per token" for a one-token run. Memory is split into
    weight reads, state traffic and spike/message buffers. With `comparison` (a
    baseline.Comparison) the dense side is the named baseline, with both sides' latency."""
    from rich.console import Console
    from rich.table import Table

    from rich import box

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a file: do not squeeze to 80 columns
            console = Console(width=160)
    cmp = comparison
    snn_of = ((lambda i: cmp.snn_node_energy(i)) if cmp is not None
              else (lambda i: report.layers[i].snn))
    cols = []
    for c in COMPONENTS:
        if c == "memory":
            cols += [m for m in MEMORY_SPLIT
                     if any(getattr(snn_of(i), m) for i in range(len(report.layers)))]
        elif any(getattr(snn_of(i), c) for i in range(len(report.layers))):
            cols.append(c)
    index = {l.name: i for i, l in enumerate(report.layers)}
    if per_op:
        groups = [(l.name, [i]) for i, l in enumerate(report.layers)]
    else:
        groups = [(b.label, [index[n.name] for n in b.nodes]) for b in report.blocks()]
    groups.append(("total", list(range(len(report.layers)))))
    typical = sorted(sum_energy(snn_of(i) for i in ids).total for _, ids in groups[:-1])
    unit, scale = _unit_for(typical[len(typical) // 2] if typical else 0.0)
    u, us = run_unit(report)
    scope = (f"total over {report.tokens} {us}" if report.tokens != 1
             else f"per {u} (1 {u})")
    vs = (f"SNN {report.table.name} vs dense {cmp.dense.baseline.name}" if cmp is not None
          else f"SNN and dense model both at {report.table.name}'s prices")
    t = Table(title=f"Energy by {'node' if per_op else 'block'} in {unit}, {scope} ({vs})",
              box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("node" if per_op else "block", no_wrap=True)
    t.add_column("ACs", justify="right", no_wrap=True)
    t.add_column("MACs", justify="right", no_wrap=True)
    for c in cols:
        t.add_column(LABELS.get(c) or f"mem {SPLIT_LABELS[c]}", justify="right", no_wrap=True)
    tail = (("E_SNN", "E_dense", "ratio", "t_SNN", "t_dense") if cmp is not None
            else ("E_SNN", "E_ANN", "ratio"))
    for col in tail:
        t.add_column(col, justify="right", no_wrap=True)

    def e(v: float) -> str:
        x = v / scale
        if x == 0:
            return "0"
        return f"{x:,.0f}" if abs(x) >= 1000 else (f"{x:.3g}" if abs(x) >= 1e-3 else f"{x:.1e}")

    for label, ids in groups:
        snn = sum_energy(snn_of(i) for i in ids)
        if cmp is not None:
            other = sum_energy(cmp.dense.nodes[i].energy for i in ids)
        else:
            other = sum_energy(report.layers[i].ann for i in ids)
        counts = _counts([report.layers[i].counters for i in ids])
        r = _ratio(other.total, snn.total)
        row = [label, fmt_count(counts["acs"]), fmt_count(counts["macs"]),
               *(e(getattr(snn, c)) for c in cols), e(snn.total), e(other.total),
               "-" if r is None else f"{r:.2f}x"]
        if cmp is not None:
            lat = cmp.latency
            row += [fmt_time(None if lat is None else sum(lat.per_node_s[i] for i in ids)),
                    fmt_time(sum(cmp.dense.nodes[i].time_s for i in ids))]
        t.add_row(*row, style="bold" if label == "total" and ids and len(ids) ==
                  len(report.layers) and groups[-1][0] == label else None)
    console.print(t)
    for line in summary_lines(report, comparison):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


LABELS = {"ac": "AC", "mac": "MAC", "neuron": "neuron", "memory": "memory", "noc": "NoC",
          "static": "static"}


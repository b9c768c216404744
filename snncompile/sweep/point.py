"""One experiment point: lower the model onto the point's hardware, simulate the workload,
price the counters with every cost table. A pure function of plain data, so any executor
(in-process, a process pool, a dask worker) computes exactly the same record.

    run_point(task: PointTask) -> dict (JSON-serializable)

    {"index": i, "axes": {name: value}, "status": "ok" | "does_not_fit" | "error",
     "error": null | {"type": "HardwareFitError", "message": ...},
     "cores": chip cores, "cores_used": cores holding weight tiles,
     "mapping": {"rate", "slack", "sram_max_pct", "neurons_max_pct", "est_hops_per_token",
                 "est_hops_row_major_per_token"},  # the lowering's traffic estimate: the
                                                   # placement vs a row-major baseline
     "tokens": decoding steps simulated (prompt + new - 1), "continuation": generated text,
     "token_ids": its ids,
     "total": {cycles, time_s},                             # over all tokens, simulated
     "per_token": {cycles, time_s, acs, macs, dense_macs, spikes, spike_messages, noc_hops,
                   ...},                                    # totals / tokens
     "energy": {preset: {"per_token": {"snn_j": {ac, mac, neuron, memory, noc, static, total},
                                       "ann_j": {...}},
                         "ratio": E_ANN / E_SNN, "ratio_basis": ...}},
     "quality": {"bytes", "seq_len", "n_bytes", "bpb", "perplexity", "firing_rate"}}
                                                   # only with the spec's [quality] table

Energies are joules per token (docs/output-formats.md, `snncompile-sweep-results/1`). A point
whose model does not fit records the `HardwareFitError`
(status "does_not_fit"); one the simulator refuses records its `SimulationError` ("error").
Any other error is a bad input shared by every point and propagates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from snncompile.errors import ConfigError, HardwareFitError, SimulationError
from snncompile.sweep.model import ModelSpec, quantized_graph_for

COMPONENTS = ("ac", "mac", "neuron", "memory", "noc", "static", "total")


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs for one point, as plain (picklable) data."""

    index: int
    axes: dict[str, Any]           # the point's axis values (JSON form: lists, not tuples)
    model: ModelSpec
    prompt_ids: tuple[int, ...]
    new_tokens: int
    hardware: dict[str, Any]       # HardwareSpec.to_dict()
    rate: float
    slack: float
    presets: tuple[str, ...]       # cost table names or absolute paths
    quality_bytes: int = 0         # validation bytes scored per point (0: no quality)
    quality_seq_len: int = 0


def run_point(task: PointTask) -> dict[str, Any]:
    """Lower, simulate and price one point (module docstring)."""
    from snncompile.backends import get_backend
    from snncompile.backends.accum.hardware import HardwareSpec
    from snncompile.backends.accum.report import mapping_report
    from snncompile.data.tokenizer import decode
    from snncompile.energy import load_table, price
    from snncompile.simulator import LAYER_KEYS, Simulator

    hw = HardwareSpec.from_dict(task.hardware)
    graph = quantized_graph_for(task.model, hw.weight_bits)  # lower() skips re-quantizing
    vocab = (graph.metadata.get("config") or {}).get("vocab_size")
    if vocab and max(task.prompt_ids) >= vocab:
        raise ConfigError(f"workload.prompt: byte token {max(task.prompt_ids)} is outside the "
                          f"model's vocabulary of {vocab}")
    record: dict[str, Any] = {"index": task.index, "axes": task.axes, "status": "ok",
                              "error": None, "cores": hw.cores}
    try:
        program = get_backend("accum").lower(graph, hw, rate=task.rate, slack=task.slack,
                                             source=f"sweep point {task.index}")
    except HardwareFitError as exc:
        record.update(status="does_not_fit",
                      error={"type": type(exc).__name__, "message": str(exc)})
        return record
    rep = mapping_report(program)
    record["cores_used"] = rep["cores_used"]
    est = rep["traffic_estimate"]
    record["mapping"] = {"rate": task.rate, "slack": task.slack,
                         "sram_max_pct": rep["utilization"]["sram_max_pct"],
                         "neurons_max_pct": rep["utilization"]["neurons_max_pct"],
                         "est_hops_per_token": est["hops_per_token"],
                         "est_hops_row_major_per_token": est["row_major_hops_per_token"]}
    try:
        sim = Simulator(program)
        new = sim.generate(list(task.prompt_ids), task.new_tokens)
    except SimulationError as exc:
        record.update(status="error", error={"type": type(exc).__name__, "message": str(exc)})
        return record
    counters = sim.counters
    n = max(counters.tokens, 1)
    cycles = counters.total("cycles")
    totals = counters.totals()
    per_token: dict[str, Any] = {k: getattr(totals, k) / n for k in LAYER_KEYS}
    per_token["time_s"] = cycles / hw.clock_hz / n
    record.update(tokens=counters.tokens, continuation=decode(new),
                  token_ids=[int(t) for t in new],
                  total={"cycles": cycles, "time_s": cycles / hw.clock_hz},
                  per_token=per_token)
    energy = {}
    for preset in task.presets:
        report = price(counters, load_table(preset, hardware=counters.meta["hardware"]))
        snn, ann = report.snn.as_dict(), report.ann.as_dict()
        energy[preset] = {"per_token": {"snn_j": {k: snn[k] * 1e-12 / n for k in COMPONENTS},
                                        "ann_j": {k: ann[k] * 1e-12 / n for k in COMPONENTS}},
                          "ratio": report.ratio, "ratio_basis": report.ratio_basis,
                          "comparison": _twin(report, n)}
    record["energy"] = energy
    if task.quality_bytes:
        try:
            record["quality"] = point_quality(program, task.quality_bytes, task.quality_seq_len)
        except SimulationError as exc:
            record.update(status="error", error={"type": type(exc).__name__,
                                                 "message": f"quality: {exc}"})
    return record


def point_quality(program, n_bytes: int, seq_len: int) -> dict[str, Any]:
    """Bits per byte, token perplexity and firing rate of a point's program on the first
    `n_bytes` bytes of the bundled validation split, by the simulator (sweep.quality)."""
    from snncompile.data.corpus import eval_windows, load_split
    from snncompile.sweep.quality import evaluate_graph

    windows = eval_windows(load_split().val, seq_len, n_bytes).numpy()
    r = evaluate_graph(program.graph, windows, "simulator", program=program).result
    return {"bytes": n_bytes, "seq_len": seq_len, "n_bytes": r.n_bytes, "bpb": r.bpb,
            "perplexity": r.perplexity, "firing_rate": r.mean_rate}


def _twin(report, n: int) -> dict[str, Any] | None:
    """The cost table's dense twin (docs/baselines.md), per token, or None without one."""
    from snncompile.energy.baseline import compare, load_baseline, twin_of_table

    twin = twin_of_table(report.table.name)
    if twin is None:
        return None
    from snncompile.errors import BaselineError
    try:
        cmp = compare(report, load_baseline(twin))
    except BaselineError as exc:   # e.g. a user's table named like a bundled one
        return {"baseline": twin, "refused": str(exc)}
    return {"baseline": twin, "method": cmp.method, "ratio": cmp.ratio,
            "latency_ratio": cmp.latency_ratio,
            "per_token": {"snn_j": cmp.snn_energy.total * 1e-12 / n,
                          "dense_j": cmp.dense_energy.total * 1e-12 / n,
                          "snn_latency_s": None if cmp.latency is None else cmp.latency.total_s / n,
                          "dense_latency_s": cmp.dense.time_s / n}}

"""Run a sweep and write its output folder.

    result = run_sweep(spec, executor=None, on_point=None)   # executor: executors.*
    write_outputs(result, "out/sweep")   # results.json, results.csv, sweep.png, spec.json

`run_sweep` turns every point into a `PointTask`, maps `run_point` over them with the
executor (serial by default), calls `on_point(record)` as each finishes (progress bars),
then orders the records by point and marks the Pareto fronts. The output folder is written
through `atomic_path`: it appears complete or not at all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from snncompile.atomic import atomic_path
from snncompile.data.tokenizer import (ByteTokenizer, Tokenizer, continuation_text,
                                       onnx_graph_metadata, resolve_tokenizer)
from snncompile.errors import ConfigError
from snncompile.sweep.executors import SerialExecutor
from snncompile.sweep.point import PointTask, run_point
from snncompile.sweep.results import SweepResult, mark_pareto, to_csv
from snncompile.sweep.spec import SweepSpec, jsonable

OUTPUT_FILES = ("results.json", "results.csv", "sweep.png")


def spec_tokenizer(spec: SweepSpec) -> Tokenizer:
    """The workload's tokenizer: workload.tokenizer (or `sweep --tokenizer`), else the one an
    ONNX model carries, else bytes (`resolve_tokenizer`; a config model with random weights
    and no tokenizer is fed bytes whatever its vocabulary)."""
    cfg = spec.model.config()
    if cfg is not None:
        if spec.tokenizer is None:
            return ByteTokenizer()
        return resolve_tokenizer(spec.tokenizer, None, cfg.vocab_size)
    vocab = (onnx_graph_metadata(spec.model.onnx).get("config") or {}).get("vocab_size")
    return resolve_tokenizer(spec.tokenizer, spec.model.onnx,
                             vocab if isinstance(vocab, int) else 256)


def tasks_of(spec: SweepSpec) -> list[PointTask]:
    """The plain-data task of every point (what a worker receives)."""
    ids = tuple(spec_tokenizer(spec).encode(spec.prompt))
    if not ids:
        raise ConfigError(f"{spec.source}: workload.prompt encodes to no tokens")
    cfg = spec.model.config()
    if cfg is not None and max(ids) >= cfg.vocab_size:
        raise ConfigError(f"{spec.source}: workload.prompt: byte token {max(ids)} is outside "
                          f"model.config.vocab_size = {cfg.vocab_size}")
    return [PointTask(index=p.index, axes={k: jsonable(v) for k, v in p.values.items()},
                      model=spec.model, prompt_ids=ids, new_tokens=spec.new_tokens,
                      hardware=p.hardware.to_dict(), rate=p.rate, slack=p.slack,
                      presets=spec.presets, quality_bytes=spec.quality_bytes,
                      quality_seq_len=spec.quality_seq_len)
            for p in spec.points()]


def run_sweep(spec: SweepSpec, executor: Any = None,
              on_point: Callable[[dict[str, Any]], None] | None = None) -> SweepResult:
    """Run every point of `spec` with `executor` (default: serial, in this process)."""
    tasks = tasks_of(spec)
    tok = spec_tokenizer(spec)
    executor = executor if executor is not None else SerialExecutor()
    records: list[dict[str, Any] | None] = [None] * len(tasks)
    t0 = time.perf_counter()
    with executor:
        info = executor.describe()
        for i, record in executor.map(run_point, tasks):
            if "token_ids" in record and not isinstance(tok, ByteTokenizer):
                # workers decode bytes; the text of a tokenizer's ids is decoded here
                record["continuation"] = continuation_text(tok, tasks[i].prompt_ids,
                                                           record["token_ids"])
            records[i] = record
            if on_point is not None:
                on_point(record)
    wall = time.perf_counter() - t0
    points = [r for r in records if r is not None]
    if len(points) != len(tasks):  # an executor bug, not a user error
        raise RuntimeError(f"sweep: {len(tasks) - len(points)} point(s) returned no result")
    mark_pareto(points, spec.presets)
    return SweepResult(spec.to_dict(), points, {**info, "wall_time_s": wall})


def write_outputs(result: SweepResult, folder: str | Path, png: bool = True) -> list[Path]:
    """Write the output folder atomically; returns the files written (final paths)."""
    folder = Path(folder)
    names = ["results.json", "results.csv"] + (["sweep.png"] if png else [])
    with atomic_path(folder, directory=True) as tmp:
        (tmp / "results.json").write_text(result.to_json())
        (tmp / "results.csv").write_text(to_csv(result))
        (tmp / "spec.json").write_text(json.dumps(result.spec, indent=1))
        if png:
            from snncompile.sweep.plot import write_png
            write_png(result, tmp / "sweep.png")
    return [folder / n for n in names]

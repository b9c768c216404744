"""Run a LoihiProgram's spiked layers in real Lava (lava-nc) and check them bit for bit.

This is an OPEN-LOOP REPLAY, not a closed-loop run of the model on Lava:
 1. the reference interpreter runs the lowered (quantized) graph token by token and records,
    for every SpikedLinear, its input spike levels s_t (d_in,) and its exact integer
    accumulator acc_t = Wq s_t (`<node>.acc`);
 2. every spiked layer's int8 weights and its recorded input spike sequence go to Lava as
    Dense blocks fed by RingBuffer sources (one Lava step per token graded, D per token binary;
    `encoding.py`), all layers in ONE subprocess of the Python 3.10 lava venv
    (`lava_runner.py`), under a timeout;
 3. the host adds each layer's block partials (and, binary, A+ - A-) in int64 and checks the
    result equals the reference's accumulator for every layer, token and output; a difference
    raises SimulationError naming the layer and the token.
Lava's outputs are not fed back into the model: the dense ops and the spike encoders run only
in the reference. What is verified is that Lava's Dense processes, configured as lowered,
compute every spiked projection of that token sequence exactly.

The interpreter: `python=` argument, else $SNNCOMPILE_LAVA_PYTHON, else `.venv-lava/bin/python`
in the source checkout (created by `make install-lava`); missing -> MissingDependencyError.

Counters per layer (over all tokens): `messages` = spike messages delivered to Dense
processes (a non-zero graded payload or a binary spike, once per row block it feeds),
`synaptic_ops` = messages x the rows of the block they reach (graded: one payload multiply-add
per synapse; binary: one add), `acs` = d_out * sum|s| (the IR's accounting), `time_steps`
(Lava steps of its networks, including Dense's one-step output delay).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from snncompile.backends.loihi.encoding import (check_encoding, decode, dense_args,
                                                dense_weights, event_counts, source_data,
                                                steps_per_token)
from snncompile.backends.loihi.program import LoihiProgram, Ranges
from snncompile.errors import MissingDependencyError, SimulationError

ENV_PYTHON = "SNNCOMPILE_LAVA_PYTHON"
RUNNER = Path(__file__).with_name("lava_runner.py")
JOB_FORMAT = "snncompile-lava-job/1"
RESULT_FORMAT = "snncompile-lava-result/1"
EXIT_BAD_JOB = 2
EXIT_NO_LAVA = 3
INSTALL_HINT = "run `make install-lava` (Python 3.10 venv .venv-lava with lava-nc 0.10.0)"


# -- the interpreter --------------------------------------------------------------------------
def find_lava_python(python: str | os.PathLike | None = None) -> Path:
    """The Python 3.10 interpreter that imports lava (argument, $SNNCOMPILE_LAVA_PYTHON, or
    .venv-lava/bin/python of the checkout); MissingDependencyError naming what to do."""
    if python is None:
        python = os.environ.get(ENV_PYTHON) or None
    if python is not None:
        p = Path(python)
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise MissingDependencyError(
                f"lava interpreter {str(p)!r} (from {ENV_PYTHON} or the python argument) is not "
                f"an executable file: {INSTALL_HINT}, or point {ENV_PYTHON} at its python")
        return p
    candidates = [Path(__file__).resolve().parents[2] / ".venv-lava" / "bin" / "python",
                  Path.cwd() / ".venv-lava" / "bin" / "python"]
    for p in candidates:
        if p.is_file() and os.access(p, os.X_OK):
            return p
    raise MissingDependencyError(
        f"lava-nc interpreter not found (looked for {', '.join(map(str, candidates))}): "
        f"{INSTALL_HINT}, or set {ENV_PYTHON} to a Python 3.10 with lava-nc")


# -- one spiked layer as Lava work ------------------------------------------------------------
@dataclass(frozen=True)
class LayerJob:
    """One spiked projection to run in Lava: Wq int8 (d_out, d_in), input levels (T, d_in)
    in [-D, D], split into row / column blocks (each one Dense process per rail)."""

    name: str
    weight: np.ndarray
    levels: np.ndarray
    D: int
    rows: Ranges
    cols: Ranges

    @property
    def d_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def d_in(self) -> int:
        return int(self.weight.shape[1])


@dataclass
class LayerResult:
    """Lava's accumulations of one layer, acc (T, d_out) int64, and its counters."""

    name: str
    acc: np.ndarray
    d_in: int
    d_out: int
    time_steps: int
    messages: int
    synaptic_ops: int
    acs: int
    dense_processes: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "d_in": self.d_in, "d_out": self.d_out,
                "tokens": int(self.acc.shape[0]), "time_steps": self.time_steps,
                "messages": self.messages, "synaptic_ops": self.synaptic_ops, "acs": self.acs,
                "dense_processes": self.dense_processes}


@dataclass
class LavaRun:
    """All layers of one Lava subprocess: results, timings (seconds) and sizes."""

    encoding: str
    layers: dict[str, LayerResult]
    wall_s: float
    lava_build_s: float
    lava_run_s: float
    networks: int
    processes: int
    network_steps: int
    lava_version: str | None = None

    def totals(self) -> dict[str, int]:
        keys = ("messages", "synaptic_ops", "acs", "dense_processes")
        out = {k: sum(getattr(r, k) for r in self.layers.values()) for k in keys}
        out["time_steps"] = max((r.time_steps for r in self.layers.values()), default=0)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"encoding": self.encoding, "lava_version": self.lava_version,
                "wall_s": self.wall_s, "lava_build_s": self.lava_build_s,
                "lava_run_s": self.lava_run_s, "networks": self.networks,
                "processes": self.processes, "network_steps": self.network_steps,
                "totals": self.totals(),
                "layers": [r.as_dict() for r in self.layers.values()]}


def _check_job(job: LayerJob) -> None:
    w, lv = np.asarray(job.weight), np.asarray(job.levels)
    if w.ndim != 2 or w.dtype != np.int8:
        raise SimulationError(f"layer {job.name!r}: weight must be int8 (d_out, d_in), got "
                              f"{w.dtype} {w.shape}")
    if lv.ndim != 2 or lv.shape[1] != w.shape[1]:
        raise SimulationError(f"layer {job.name!r}: levels must be (tokens, {w.shape[1]}), got "
                              f"{lv.shape}")
    for what, ranges, n in (("rows", job.rows, w.shape[0]), ("cols", job.cols, w.shape[1])):
        stops = [a for a, _ in ranges] + [n]
        if not ranges or ranges[0][0] != 0 or any(b != stops[i + 1] or b <= a
                                                  for i, (a, b) in enumerate(ranges)):
            raise SimulationError(f"layer {job.name!r}: {what} {ranges} do not tile 0..{n}")


def run_layers(jobs: Sequence[LayerJob], encoding: str = "graded", *,
               timeout: float | None = None, python: str | os.PathLike | None = None
               ) -> LavaRun:
    """Run every job's Dense blocks in one Lava subprocess; per layer its accumulations
    (T, d_out) int64 (block partials and rails combined on the host) and counters."""
    check_encoding(encoding)
    exe = find_lava_python(python)
    for job in jobs:
        _check_job(job)
    arrays: dict[str, np.ndarray] = {}
    networks: list[dict[str, Any]] = []
    args = dense_args(encoding)
    plan: list[tuple[LayerJob, int, int, int, list]] = []   # per layer: steps, msgs, sops, blocks
    for li, job in enumerate(jobs):
        T = job.levels.shape[0]
        steps = T * steps_per_token(encoding, job.D) + 1
        messages = synaptic_ops = 0
        blocks = []
        for ci, (c0, c1) in enumerate(job.cols):
            rails = source_data(job.levels[:, c0:c1], job.D, encoding)
            for ri, data in enumerate(rails):
                src = f"l{li}.c{ci}.r{ri}.src"
                arrays[src] = data
                events = int(event_counts(data).sum())
                messages += events * len(job.rows)
                synaptic_ops += events * job.d_out
                dense = []
                for bi, (r0, r1) in enumerate(job.rows):
                    key = f"l{li}.b{bi}.c{ci}.r{ri}"
                    arrays[key + ".w"] = dense_weights(job.weight[r0:r1, c0:c1])
                    dense.append({"weights": key + ".w", "out": key + ".out", **args})
                    blocks.append((bi, ci, ri, key + ".out"))
                networks.append({"name": f"{job.name} cols {c0}:{c1} rail {ri}",
                                 "steps": steps, "source": src, "dense": dense})
        plan.append((job, steps, messages, synaptic_ops, blocks))
    manifest = {"format": JOB_FORMAT, "select_tag": "fixed_pt", "networks": networks}
    n_steps = sum(n["steps"] for n in networks)
    if timeout is None:
        timeout = 60.0 + len(networks) * 5.0 + 0.05 * n_steps
    outs, meta, wall = _run_subprocess(exe, manifest, arrays, timeout)
    layers: dict[str, LayerResult] = {}
    n_rails = 1 if encoding == "graded" else 2
    for job, steps, messages, synaptic_ops, blocks in plan:
        T = job.levels.shape[0]
        acc = np.zeros((T, job.d_out), np.int64)
        by_block: dict[tuple[int, int], list] = {}
        for bi, ci, ri, key in blocks:
            if key not in outs:
                raise SimulationError(f"layer {job.name!r}: the Lava result has no {key!r}")
            by_block.setdefault((bi, ci), [None] * n_rails)[ri] = outs[key]
        for (bi, _ci), recs in by_block.items():
            r0, r1 = job.rows[bi]
            acc[:, r0:r1] += decode(recs, T, job.D, encoding)
        acs = job.d_out * int(np.abs(job.levels).sum())
        layers[job.name] = LayerResult(job.name, acc, job.d_in, job.d_out, steps, messages,
                                       synaptic_ops, acs, len(blocks))
    return LavaRun(encoding, layers, wall,
                   sum(n["build_s"] for n in meta["networks"]),
                   sum(n["run_s"] for n in meta["networks"]),
                   len(networks), sum(n["processes"] for n in meta["networks"]), n_steps,
                   meta.get("lava_version"))


def _run_subprocess(exe: Path, manifest: dict, arrays: dict[str, np.ndarray], timeout: float
                    ) -> tuple[dict[str, np.ndarray], dict, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    with tempfile.TemporaryDirectory(prefix="snncompile-lava-") as tmp:
        job_path, result_path = Path(tmp) / "job.npz", Path(tmp) / "result.npz"
        np.savez(job_path, manifest=np.frombuffer(json.dumps(manifest).encode(), np.uint8),
                 **arrays)
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(exe), str(RUNNER), str(job_path), str(result_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, start_new_session=True)
        try:
            _out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)   # the runner and Lava's worker processes
            proc.communicate()
            raise SimulationError(
                f"Lava did not finish within {timeout:.0f} s ({len(manifest['networks'])} "
                f"networks); it was stopped (Lava models can hang; pass a larger timeout)"
            ) from None
        wall = time.perf_counter() - t0
        tail = "\n".join(err.strip().splitlines()[-8:])
        if proc.returncode == EXIT_NO_LAVA:
            raise MissingDependencyError(f"{tail.strip()} -- {INSTALL_HINT}")
        if proc.returncode != 0:
            raise SimulationError(f"the Lava runner ({exe}) failed with exit status "
                                  f"{proc.returncode}: {tail}")
        with np.load(result_path, allow_pickle=False) as z:
            outs = {k: z[k] for k in z.files}
    meta = json.loads(outs.pop("manifest").tobytes().decode())
    if meta.get("format") != RESULT_FORMAT:
        raise SimulationError(f"the Lava runner wrote format {meta.get('format')!r}, expected "
                              f"{RESULT_FORMAT!r}")
    return outs, meta, wall


# -- a program: replay the reference, run Lava, compare ---------------------------------------
@dataclass
class Replay:
    """What the reference computed: tokens fed, per spiked layer its input levels (T, d_in)
    and accumulators (T, d_out), and the greedy continuation."""

    tokens: list[int]
    levels: dict[str, np.ndarray]
    acc: dict[str, np.ndarray]
    generated: list[int] = field(default_factory=list)
    wall_s: float = 0.0


def replay(program: LoihiProgram, tokens: Sequence[int], generate: int = 0) -> Replay:
    """Run the reference interpreter (CPU, float64) on the lowered graph: feed `tokens`, then
    `generate` greedy tokens (as `snncompile simulate`: the last one is not fed)."""
    from snncompile.backends.reference import ReferenceInterpreter

    tokens = [int(t) for t in tokens]
    if not tokens:
        raise SimulationError("run_in_lava: no tokens to run")
    if generate < 0:
        raise SimulationError(f"run_in_lava: generate must be >= 0, got {generate}")
    t0 = time.perf_counter()
    ref = ReferenceInterpreter(program.graph, device="cpu")
    state = ref.init_state()
    inputs = {lp.name: program.graph.node(lp.name).inputs[0] for lp in program.layers}
    levels: dict[str, list] = {n: [] for n in inputs}
    accs: dict[str, list] = {n: [] for n in inputs}
    fed, new = [], []
    queue = list(tokens)
    while queue:
        tok = queue.pop(0)
        logits, c = ref.step(tok, state, keep_values=True)
        fed.append(tok)
        for name, value in inputs.items():
            levels[name].append(ref.values[value].cpu().numpy().astype(np.int64))
            accs[name].append(ref.values[f"{name}.acc"].cpu().numpy().astype(np.int64))
        if not queue and len(new) < generate:
            lg = logits[: ref.vocab_size] if ref.vocab_size else logits
            new.append(int(lg.argmax()))
            if len(new) < generate:
                queue.append(new[-1])
    stack = lambda rows, d: np.stack(rows) if rows else np.zeros((0, d), np.int64)  # noqa: E731
    return Replay(fed, {n: stack(v, program.layer(n).d_in) for n, v in levels.items()},
                  {n: stack(v, program.layer(n).d_out) for n, v in accs.items()}, new,
                  time.perf_counter() - t0)


@dataclass
class LavaResult:
    """A program's spiked layers run in Lava on a replayed token sequence; `matches` is True
    once every accumulation was checked equal to the reference's."""

    program: str
    tokens: list[int]
    generated: list[int]
    run: LavaRun
    replay: Replay
    matches: bool

    def as_dict(self) -> dict[str, Any]:
        return {"format": "snncompile-lava/1", "program": self.program,
                "tokens": self.tokens, "generated": self.generated,
                "mode": "open-loop replay of the reference's spike inputs",
                "matches_reference": self.matches, "reference_s": self.replay.wall_s,
                **self.run.as_dict()}


def compare(run: LavaRun, reference: dict[str, np.ndarray], tokens: Sequence[int]) -> None:
    """SimulationError naming the first layer and token whose Lava accumulation differs."""
    for name, ref in reference.items():
        if name not in run.layers:
            raise SimulationError(f"layer {name!r}: no Lava result")
        got = run.layers[name].acc
        if got.shape != ref.shape:
            raise SimulationError(f"layer {name!r}: Lava gave {got.shape} accumulations, the "
                                  f"reference {ref.shape}")
        bad = np.argwhere(got != ref)
        if len(bad):
            t, o = (int(x) for x in bad[0])
            n_bad = int((got[t] != ref[t]).sum())
            raise SimulationError(
                f"layer {name!r} token {t} (id {tokens[t]}): Lava's accumulation differs from "
                f"the reference at {n_bad} of {ref.shape[1]} outputs (output {o}: Lava "
                f"{got[t, o]}, reference {ref[t, o]})")


def run_in_lava(program: LoihiProgram, tokens: Sequence[int], *, generate: int = 0,
                timeout: float | None = None, python: str | os.PathLike | None = None,
                check: bool = True) -> LavaResult:
    """Open-loop replay (module docstring): reference -> Lava (one subprocess) -> compare.

    `tokens` are fed in order, then `generate` greedy tokens from the reference. With `check`
    (default) any difference raises SimulationError naming the layer and token."""
    find_lava_python(python)               # fail before the replay when Lava is missing
    rep = replay(program, tokens, generate)
    jobs = [LayerJob(lp.name, program.weight(lp.name), rep.levels[lp.name], lp.D, lp.rows,
                     lp.cols) for lp in program.layers]
    run = run_layers(jobs, program.encoding, timeout=timeout, python=python)
    if check:
        compare(run, rep.acc, rep.tokens)
    return LavaResult(program.name, rep.tokens, rep.generated, run, rep, check)

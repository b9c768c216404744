"""The main job on one model: export -> lower -> simulate -> price, every file in one folder.

    run_demo(checkpoint, out_dir) -> DemoSummary

Steps (each the same code path as its CLI command):
  1. export     checkpoint -> model.onnx (self-verified against the PyTorch model)
  2. lower      model.onnx -> prog/ on the accum backend (quantized, tiled, placed), mapping.json
  3. run        the reference interpreter on the lowered program (greedy) -> its continuation
  4. simulate   the cycle-counting simulator on the same program -> sim.json; the continuation
                must equal step 3's (exactness) and is compared with the float model's too
  5. energy     sim.json priced with each cost preset -> energy-<preset>.{json,csv,png}
  6. summary    summary.json (`snncompile-demo-summary/1`, docs/output-formats.md), and the
                table the CLI prints

The tokenizer (`demo_tokenizer`): `tokenizer` (a tokenizer.json, a folder holding one, or
"bytes"), else the checkpoint's tokenizer.json, else bytes for a 256-token vocabulary; export
carries it into model.onnx and prog/.

The output folder is published atomically: it appears complete or not at all.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from snncompile.atomic import atomic_path
from snncompile.errors import ConfigError, SimulationError

DEFAULT_PRESETS = ("paper-45nm", "horowitz-45nm")
SUMMARY_FORMAT = "snncompile-demo-summary/1"
J_PER_PJ = 1e-12
DEFAULT_PROMPT = "def parse(text):\n    \"\"\"Return the"


def bundled_student() -> Path:
    """The bundled student checkpoint (examples/models/student in a source checkout)."""
    return Path(__file__).resolve().parents[1] / "examples" / "models" / "student"


@dataclass
class PresetSummary:
    """One cost table's price: `per_token` {"snn_j": {component: J, "total"}, "ann_j": {...}}."""
    preset: str
    per_token: dict[str, dict[str, float]]
    ratio: float | None
    ratio_basis: str
    # the table's dense twin (docs/baselines.md): {"baseline", "method", "label", "hardware",
    # "ratio" (E_dense / E_SNN), "latency_ratio", "per_token": {"snn_j", "dense_j",
    # "snn_latency_s", "dense_latency_s"}}; None when the table has no twin
    comparison: dict | None = None


@dataclass
class DemoSummary:
    checkpoint: str
    output: str
    prompt: str
    continuation: str                 # the simulator's (= the reference's on the program)
    token_ids: list[int]              # its ids
    new_tokens: int                   # len(token_ids)
    prompt_ids: list[int]             # the prompt's ids
    tokenizer: dict                   # Tokenizer.describe(): name, vocab_size, sha256
    continuation_float: str
    continuation_reference: str
    simulator_matches_reference: bool
    quantized_matches_float: bool
    export_max_abs_logit_diff: float
    cores_used: int
    tokens: int                       # decoding steps simulated (prompt + new - 1)
    per_token: dict[str, float]       # cycles, time_s (simulated), acs, macs
    firing_rate: float
    wall_time_s: dict[str, float] = field(default_factory=dict)   # host seconds per step
    energy: list[PresetSummary] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The summary.json document (`snncompile-demo-summary/1`)."""
        return {"format": SUMMARY_FORMAT, **asdict(self)}


def demo_tokenizer(checkpoint: str | Path | None, tokenizer=None):
    """The demo's tokenizer (module docstring): a `Tokenizer`, or resolved from `tokenizer`
    (str or None) and the checkpoint folder (ConfigError naming both sizes on a mismatch)."""
    from snncompile.data.tokenizer import Tokenizer, checkpoint_vocab, resolve_tokenizer

    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    ckpt = Path(checkpoint) if checkpoint is not None else bundled_student()
    vocab = checkpoint_vocab(ckpt)
    return resolve_tokenizer(tokenizer, ckpt, 256 if vocab is None else vocab)


def run_demo(checkpoint: str | Path | None = None, out_dir: str | Path = "out/demo",
             prompt: str = DEFAULT_PROMPT, n_tokens: int = 24, hardware: str = "default",
             presets: tuple[str, ...] = DEFAULT_PRESETS,
             status: Callable[[str], None] = lambda _msg: None,
             on_token: Callable[[int], None] | None = None, tokenizer=None) -> DemoSummary:
    """Run the whole pipeline on `checkpoint` (default: the bundled student) into `out_dir`
    (`tokenizer`: a Tokenizer, a --tokenizer value or None; `demo_tokenizer`)."""
    from snncompile.backends import get_backend
    from snncompile.backends.accum.backend import as_hardware
    from snncompile.backends.accum.report import mapping_report
    from snncompile.backends.reference import ReferenceInterpreter
    from snncompile.data.tokenizer import continuation_text
    from snncompile.energy import report as energy_report
    from snncompile.energy.plot import write_png
    from snncompile.energy.price import price
    from snncompile.energy.table import load_table
    from snncompile.export import export_model
    from snncompile.ir import serde
    from snncompile.models.checkpoint import load_checkpoint
    from snncompile.simulator import Simulator, sim_json, write_sim_json

    ckpt = Path(checkpoint) if checkpoint is not None else bundled_student()
    if not ckpt.exists():
        raise ConfigError(f"checkpoint {ckpt} does not exist (pass --checkpoint DIR)")
    tok = demo_tokenizer(ckpt, tokenizer)
    ids = tok.encode(prompt)
    if not ids:
        raise ConfigError("--prompt is empty")

    def decode(new) -> str:
        return continuation_text(tok, ids, [int(t) for t in new])

    hw = as_hardware(hardware)
    tables = [load_table(p, hardware=hw.to_dict()) for p in presets]  # fail before any work
    wall: dict[str, float] = {}

    def timed(name: str, fn):
        status(name)
        t0 = time.perf_counter()
        out = fn()
        wall[name] = round(time.perf_counter() - t0, 3)
        return out

    with atomic_path(out_dir, directory=True) as tmp:
        model = timed("load", lambda: load_checkpoint(ckpt))
        exp = timed("export", lambda: export_model(model, tmp / "model.onnx", tokenizer=tok))
        graph = serde.load(tmp / "model.onnx")
        float_out = timed("run-float", lambda: ReferenceInterpreter(graph).generate(ids, n_tokens))
        program = timed("lower", lambda: get_backend("accum").lower(
            graph, hw, source=str(ckpt)))
        program.save(tmp / "prog")
        mapping = mapping_report(program)
        (tmp / "mapping.json").write_text(json.dumps(mapping, indent=2))
        ref_out = timed("run-reference", lambda: ReferenceInterpreter(program.graph).generate(
            ids, n_tokens))
        sim = Simulator(program)
        t0 = time.perf_counter()
        status("simulate")
        sim_new = sim.generate(ids, n_tokens, on_token=on_token)
        wall["simulate"] = round(time.perf_counter() - t0, 3)
        ref_new, float_new = ref_out.tokens, float_out.tokens
        if list(sim_new) != list(ref_new):
            raise SimulationError(
                f"simulator continuation {decode(sim_new)!r} differs from the reference "
                f"interpreter's {decode(ref_new)!r} on the same lowered program")
        continuation = decode(sim_new)
        counters = sim.run_counts_from_tally(program="prog", source="sim.json",
                                             prompt=prompt, continuation=continuation)
        write_sim_json(tmp / "sim.json", sim_json(
            counters, prompt=prompt, continuation=continuation, token_ids=list(sim_new),
            wall_time_s=wall["simulate"]))
        energies: list[PresetSummary] = []
        from snncompile.energy.baseline import compare, load_baseline, twin_of_table
        for name, table in zip(presets, tables):
            rep = price(counters, table)
            twin = twin_of_table(table.name)
            cmp = None if twin is None else compare(rep, load_baseline(twin))
            energy_report.write_json(rep, tmp / f"energy-{name}.json", cmp)
            energy_report.write_csv(rep, tmp / f"energy-{name}.csv", cmp)
            write_png(rep, tmp / f"energy-{name}.png",
                      title=f"{ckpt.name}: energy by block, total over {rep.tokens} "
                            f"tokens ({name})")
            t = max(rep.tokens, 1)
            energies.append(PresetSummary(
                preset=name, ratio=rep.ratio, ratio_basis=rep.ratio_basis,
                per_token={"snn_j": {k: v * J_PER_PJ / t for k, v in rep.snn.as_dict().items()},
                           "ann_j": {k: v * J_PER_PJ / t for k, v in rep.ann.as_dict().items()}},
                comparison=None if cmp is None else {
                    "baseline": twin, "method": cmp.method, "label": cmp.label,
                    "hardware": cmp.snn_hardware, "ratio": cmp.ratio,
                    "latency_ratio": cmp.latency_ratio,
                    "per_token": {"snn_j": cmp.snn_energy.total * J_PER_PJ / t,
                                  "dense_j": cmp.dense_energy.total * J_PER_PJ / t,
                                  "snn_latency_s": (None if cmp.latency is None
                                                    else cmp.latency.total_s / t),
                                  "dense_latency_s": cmp.dense.time_s / t}}))

        c = counters
        tot = c.totals()
        n_tok = max(c.tokens, 1)
        cycles = c.total("cycles")
        neurons = {n.name for n in program.graph.neurons()}
        spikes = sum(n.spikes for n in c.nodes if n.name in neurons)
        slots = sum(n.neuron_updates for n in c.nodes if n.name in neurons)
        summary = DemoSummary(
            checkpoint=str(ckpt), output=str(Path(out_dir)), prompt=prompt,
            continuation=continuation, token_ids=[int(t) for t in sim_new],
            new_tokens=len(sim_new), prompt_ids=list(ids), tokenizer=tok.describe(),
            continuation_float=decode(float_new),
            continuation_reference=decode(ref_new), simulator_matches_reference=True,
            quantized_matches_float=list(float_new) == list(ref_new),
            export_max_abs_logit_diff=float(exp.max_abs_diff or 0.0),
            cores_used=int(mapping.get("cores_used", 0)),
            tokens=c.tokens,
            per_token={"cycles": cycles / n_tok,
                       "time_s": cycles / program.hardware.clock_hz / n_tok,
                       "acs": tot.acs / n_tok, "macs": tot.macs / n_tok},
            firing_rate=spikes / slots if slots else 0.0,
            wall_time_s=wall, energy=energies)
        summary.files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        summary.files.append("summary.json")
        (tmp / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2,
                                                     allow_nan=False))
    return summary

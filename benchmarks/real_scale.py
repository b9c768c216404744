"""A real-scale check (issue 12, part 6; not CI): a 130m-shaped model from a tokenizer to
quality and energy on the hardware, each step timed and its peak memory measured.

Steps, each run as its own process (`real_scale.py --step NAME`), so its wall time and peak
resident memory (getrusage ru_maxrss of that process) are its own:
  tokenizer  a byte-level BPE tokenizer (`tokenizers`) trained on the bundled corpus
  tokenize   `snncompile data tokenize` of the bundled corpus with it (a token corpus folder)
  teacher    a mamba2-130m-shaped `mamba_ssm` MambaLMHeadModel (d_model 768, 24 layers,
             Mamba2 mixers) with the tokenizer's vocabulary, random init, written by its own
             `save_pretrained`, the tokenizer.json beside it
  distill    `snncompile distill --stage student --teacher ...` for a few steps
  export     `snncompile export` of the student
  lower      `snncompile lower --hw auto` (the smallest bundled preset it fits)
  evaluate   `snncompile evaluate prog/` through the simulator over --eval-tokens tokens
  simulate   `snncompile simulate prog/ --json sim.json`
  energy     `snncompile energy --from sim.json --preset accum`
Results: <out>/real_scale.json and a Markdown table on stdout (step, wall time, peak RSS, what
it produced).

    .venv/bin/python benchmarks/real_scale.py [--out out/real_scale] [--vocab 8192]
        [--d-model 768] [--n-layer 24] [--steps 2] [--seq-len 32] [--eval-tokens 129]
        [--threads N] [--json]

On a CPU machine mamba_ssm imports without its CUDA extension through the tests' stand-in
(tests/mamba_ssm_stub.py); `make test` installs it that way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("tokenizer", "tokenize", "teacher", "distill", "export", "lower", "evaluate",
         "simulate", "energy")
PROMPT = "Return the "


def _cli(args: list[str]) -> int:
    """Run `snncompile ARGS` in this process; its exit code."""
    from snncompile.cli import main

    try:
        main([str(a) for a in args], standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


def _tokenizer(a, out: Path) -> dict:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from snncompile.data.corpus import load_text

    text = load_text()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=a.vocab, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    lines = text.splitlines()
    tok.train_from_iterator((lines[i:i + 1000] for i in range(0, len(lines), 1000)), trainer)
    tok.save(str(out / "tokenizer.json"))
    return {"vocab_size": tok.get_vocab_size(), "text_bytes": len(text.encode("utf-8"))}


def _import_mamba_ssm():
    try:
        import mamba_ssm.models.mixer_seq_simple  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT / "tests"))
        from mamba_ssm_stub import import_mamba_ssm  # CPU build: no CUDA extension
        import_mamba_ssm()


def _teacher(a, out: Path) -> dict:
    import torch

    _import_mamba_ssm()
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel

    vocab = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    cfg = MambaConfig(d_model=a.d_model, n_layer=a.n_layer, vocab_size=len(vocab),
                      ssm_cfg={"layer": "Mamba2"}, rms_norm=True, residual_in_fp32=True,
                      fused_add_norm=True, pad_vocab_size_multiple=16, tie_embeddings=True)
    torch.manual_seed(0)
    model = MambaLMHeadModel(cfg, device="cpu", dtype=torch.float32)
    folder = out / "teacher"
    model.save_pretrained(str(folder))
    shutil.copy(out / "tokenizer.json", folder / "tokenizer.json")
    return {"params": sum(p.numel() for p in model.parameters()),
            "vocab_size": len(vocab), "d_model": a.d_model, "n_layer": a.n_layer}


def _step(a, name: str, out: Path) -> dict:
    threads = [] if a.threads is None else ["--threads", str(a.threads)]
    if name == "tokenizer":
        return _tokenizer(a, out)
    if name == "teacher":
        return _teacher(a, out)
    if name == "tokenize":
        from snncompile.data.corpus import CORPUS_FILE
        rc = _cli(["data", "tokenize", CORPUS_FILE, "--tokenizer", out / "tokenizer.json",
                   "-o", out / "corpus", "--json", out / "tokenize.json"])
        return {"rc": rc, "report": _read(out / "tokenize.json")}
    if name == "distill":
        rc = _cli(["distill", "--stage", "student", "--teacher", out / "teacher", "-o",
                   out / "distill", "--corpus", out / "corpus", "--steps", a.steps,
                   "--batch", a.batch, "--seq-len", a.seq_len, "--warmup", "0",
                   "--eval-bytes", a.eval_tokens, "--no-progress", "--json",
                   out / "distill.json", *threads])
        return {"rc": rc}
    if name == "export":
        rc = _cli(["export", out / "distill" / "student", "-o", out / "model.onnx"])
        return {"rc": rc, "bytes": _size(out / "model.onnx")}
    if name == "lower":
        rc = _cli(["lower", out / "model.onnx", "--hw", "auto", "-o", out / "prog", "--json",
                   out / "lower.json"])
        rep = _read(out / "lower.json") or {}
        return {"rc": rc, "hardware_preset": rep.get("hardware_preset"),
                "cores_used": rep.get("cores_used")}
    if name == "evaluate":
        rc = _cli(["evaluate", out / "prog", "--corpus", out / "corpus", "--bytes",
                   a.eval_tokens, "--seq-len", a.eval_tokens - 1, "--tokens", "0",
                   "--table", "accum", "--table", "paper-45nm", "--json",
                   out / "evaluate.json", *threads])
        d = _read(out / "evaluate.json") or {}
        return {"rc": rc, **{k: d.get(k) for k in ("executor", "hardware", "bpb", "perplexity",
                                                   "n_tokens", "n_bytes", "firing_rate")}}
    if name == "simulate":
        rc = _cli(["simulate", out / "prog", "--prompt", PROMPT, "--tokens", "8", "--json",
                   out / "sim.json"])
        return {"rc": rc}
    if name == "energy":
        rc = _cli(["energy", "--from", out / "sim.json", "--preset", "accum", "--json",
                   out / "energy.json"])
        d = _read(out / "energy.json") or {}
        return {"rc": rc, "ratio": d.get("ratio")}
    raise SystemExit(f"unknown step {name!r}")


def _read(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _size(path: Path) -> int:
    total = path.stat().st_size if path.exists() else 0
    data = Path(f"{path}.data")
    return total + (data.stat().st_size if data.exists() else 0)


def run_child(a, name: str, out: Path) -> dict:
    """One step in a fresh process; its wall time, peak RSS and facts."""
    cmd = [sys.executable, __file__, "--step", name, "--out", str(out), "--vocab", str(a.vocab),
           "--d-model", str(a.d_model), "--n-layer", str(a.n_layer), "--steps", str(a.steps),
           "--batch", str(a.batch), "--seq-len", str(a.seq_len),
           "--eval-tokens", str(a.eval_tokens)]
    if a.threads is not None:
        cmd += ["--threads", str(a.threads)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    rec = _read(out / f"step-{name}.json") or {}
    rec.update(step=name, wall_s=wall, process_rc=proc.returncode)
    if proc.returncode != 0 or rec.get("rc", 0) != 0:
        rec["stderr_tail"] = (proc.stderr or proc.stdout)[-1500:]
    return rec


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/real_scale")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--d-model", type=int, default=768)
    ap.add_argument("--n-layer", type=int, default=24)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=32)
    ap.add_argument("--eval-tokens", type=int, default=129)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--step", choices=STEPS, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    out = Path(a.out).resolve()

    if a.step is not None:  # a child: one step, its own figures
        t = time.perf_counter()
        facts = _step(a, a.step, out)
        facts["step_s"] = time.perf_counter() - t
        facts["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        (out / f"step-{a.step}.json").write_text(json.dumps(facts, indent=1))
        return facts

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    records = []
    for name in STEPS:
        rec = run_child(a, name, out)
        records.append(rec)
        print(f"{name}: {rec['wall_s']:.1f} s, peak RSS "
              f"{rec.get('peak_rss_bytes', 0) / 2**30:.2f} GiB", flush=True)
        if rec["process_rc"] != 0 or rec.get("rc", 0) != 0:
            print(rec.get("stderr_tail", ""), file=sys.stderr)
            break
    doc = {"machine": {"cpus": os.cpu_count(), "platform": sys.platform},
           "args": {k: v for k, v in vars(a).items() if k not in ("step", "json")},
           "steps": records}
    (out / "real_scale.json").write_text(json.dumps(doc, indent=1))
    print("\n| step | wall time | peak RSS | result |\n|---|---:|---:|---|")
    for r in records:
        facts = {k: v for k, v in r.items() if k not in (
            "step", "wall_s", "process_rc", "peak_rss_bytes", "step_s", "rc", "stderr_tail",
            "report")}
        print(f"| {r['step']} | {r['wall_s']:.1f} s | "
              f"{r.get('peak_rss_bytes', 0) / 2**30:.2f} GiB | "
              f"{', '.join(f'{k} {_fmt(v)}' for k, v in facts.items())} |")
    if a.json:
        print(json.dumps(doc, indent=2))
    return doc


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    main()

"""`snncompile evaluate MODEL`: validation bits per byte, token perplexity, firing rates per
layer and energy per token in one report, plus sample text.

    snncompile evaluate examples/models/student [--json] [--prompt TEXT] [--tokens N]
    snncompile evaluate model.onnx [--executor reference] [--bytes N] [--table NAME]
    snncompile evaluate prog/ [--executor simulator|reference] [--bytes N] [--table NAME]

MODEL is a checkpoint folder (run in PyTorch, batched: `training.evaluate.evaluate`), an
exported `model.onnx` (the reference interpreter) or a program folder from `snncompile lower`
(the simulator for an accum program, or the reference interpreter on the lowered int8 graph).
The graph forms are run token by token, logits and counters from the same walk
(`sweep.quality.evaluate_graph`). Every form is scored on the same windows of the validation
split, so `evaluate CKPT --bytes N` against `evaluate prog/ --bytes N` shows what int8 costs.

Energy per token under each `--table` (default the energy command's, paper-45nm): the
simulator's counters as measured; a checkpoint or a reference run at the firing rates it
measured (the analytic mode, `snncompile energy --rates-from`).
"""

from __future__ import annotations

from pathlib import Path

import click

from snncompile.cli.jsonout import emit_json, json_file, json_option, to_json_text
from snncompile.cli.params import FiniteFloatRange, token_ids_option, tokenizer_option

EVALUATE_FORMAT = "snncompile-evaluate/2"
DEFAULT_TABLE = "paper-45nm"      # as `snncompile energy --preset`
GRAPH_BYTES = 1025                # default --bytes for a model.onnx or a program: 4 windows of 256
EXECUTOR_CHOICES = ("auto", "reference", "simulator")
DEFAULT_PROMPT = "Return the "


@click.command("evaluate")
@click.argument("model", type=click.Path(path_type=str))
@json_option("Write one JSON object (snncompile-evaluate/2)")
@click.option("--executor", type=click.Choice(EXECUTOR_CHOICES), default="auto",
              show_default=True,
              help="How a model.onnx or a program runs: the reference interpreter or the "
                   "simulator (accum programs only). auto: the simulator for an accum program, "
                   "else the reference; a checkpoint always runs in PyTorch.")
@click.option("--table", "tables", multiple=True, metavar="NAME|PATH",
              help=f"Cost table for the energy per token (repeatable) [default: {DEFAULT_TABLE}]; "
                   "see `snncompile energy --list-presets`.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu",
              show_default=True, help="Reference interpreter device (model.onnx / program).")
@tokenizer_option()
@click.option("--prompt", default=None,
              help=f"Prompt text of the samples [default: {DEFAULT_PROMPT!r}].")
@token_ids_option()
@click.option("--tokens", type=click.IntRange(0, 100000), default=120, show_default=True,
              help="Tokens to generate per sample (0: no samples).")
@click.option("--temperature", type=FiniteFloatRange(), default=0.8, show_default=True,
              help="Temperature of the sampled continuation (the other one is greedy; the "
                   "simulator decodes greedily only).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--seq-len", type=click.IntRange(1, 1 << 20), default=256, show_default=True,
              help="Evaluation window in tokens (context restarts every window).")
@click.option("--bytes", "--eval-bytes", "eval_bytes", type=click.IntRange(2, 1 << 40),
              default=None,
              help="Use the first N tokens of the validation split (bytes for a byte-level "
                   "model) [default: all for a checkpoint, "
                   f"{GRAPH_BYTES} for a model.onnx or a program].")
@click.option("--batch", type=click.IntRange(1, 1 << 16), default=16, show_default=True,
              help="Windows per batch (checkpoint only).")
@click.option("--corpus", type=click.Path(), default=None,
              help="A .txt or .gz text file, or a token corpus folder (`snncompile data "
                   "tokenize`), instead of the bundled corpus.")
@click.option("--threads", type=click.IntRange(1, 4096), default=None,
              help="torch.set_num_threads.")
@click.option("--save", type=click.Path(dir_okay=False), default=None,
              help="Also write the JSON result to this file (atomically).")
def evaluate(model, json_out, executor, tables, device, tokenizer, prompt, token_ids, tokens,
             temperature, seed, seq_len, eval_bytes, batch, corpus, threads, save):
    """Validation bpb, perplexity, firing rates, energy per token and sample text of MODEL (a
    checkpoint folder, a model.onnx or a program folder)."""
    import torch

    from snncompile.atomic import check_outputs
    from snncompile.cli.prompting import resolve_prompt
    from snncompile.errors import ConfigError

    check_outputs([save, json_file(json_out)], [model, f"{model}.data", corpus])
    if threads is not None:
        torch.set_num_threads(threads)
    if temperature <= 0:
        raise ConfigError(f"--temperature must be > 0, got {temperature} (greedy is always shown)")
    if prompt is not None and not prompt:
        raise ConfigError("--prompt must not be empty")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available")
    tables = tuple(tables) or (DEFAULT_TABLE,)
    kind = model_kind(model)
    loaded = _load(model, kind, executor)
    p = resolve_prompt(DEFAULT_PROMPT if prompt is None and token_ids is None else prompt,
                       token_ids, tokenizer, model, loaded["vocab"])
    val = validation_split(corpus, p.tokenizer)
    if kind == "checkpoint":
        ev = _checkpoint(loaded, val, seq_len, eval_bytes, batch, p, tokens, temperature, seed,
                         tables)
    else:
        ev = _graph(loaded, None if device == "auto" else device, val, seq_len,
                    GRAPH_BYTES if eval_bytes is None else eval_bytes, p, tokens, temperature,
                    seed, tables)
    record = evaluate_doc(model, kind, eval_bytes=eval_bytes, prompt=p.text, seed=seed,
                          temperature=temperature, new_tokens=tokens, prompt_doc=p.doc(), **ev)
    if save is not None:
        from snncompile.atomic import write_text_atomic
        write_text_atomic(save, to_json_text(record))
    if json_out is not None:
        emit_json(record, json_out)
        return
    render(record)


def model_kind(path: str) -> str:
    """"program" (a folder with program.json), "checkpoint" (another folder) or "onnx" (a
    file); ConfigError for a path that does not exist."""
    from snncompile.backends.base import MANIFEST
    from snncompile.errors import ConfigError

    p = Path(path)
    try:
        if p.is_dir():
            return "program" if (p / MANIFEST).is_file() else "checkpoint"
        if p.is_file():
            return "onnx"
    except OSError as exc:
        raise ConfigError(f"{path[:200]!r} cannot be read ({exc.strerror})") from None
    raise ConfigError(f"{path!r} does not exist (give a checkpoint folder, a model.onnx or a "
                      f"program folder)")


def validation_split(corpus, tok):
    """The validation tokens for tokenizer `tok`: a token corpus folder's (it must be `tok`'s),
    else the bundled text (or the text file `corpus`), byte-level or tokenized in memory and
    block-split over tokens, as distillation reads it (`data.token_corpus.training_data`).
    A token split carries `token_bytes` (bytes of text per id), the divisor of bits per byte."""
    from snncompile.data.corpus import load_split, load_text
    from snncompile.data.token_corpus import (is_token_corpus, load_token_split, split_tokens,
                                              tokenize_text)
    from snncompile.data.tokenizer import ByteTokenizer, token_byte_lengths
    from snncompile.errors import ConfigError

    if corpus is not None and is_token_corpus(corpus):
        return load_token_split(corpus, tok)[0].val
    if corpus is not None and Path(corpus).is_dir():
        raise ConfigError(f"--corpus {str(corpus)!r} is a folder without corpus.json (build one "
                          "with `snncompile data tokenize`)")
    if isinstance(tok, ByteTokenizer):
        return load_split(corpus).val
    tokens = tokenize_text(load_text(corpus), tok)
    return split_tokens(tokens, token_byte_lengths(tok)).val


def _tables(names, hardware=None):
    from snncompile.cli.energy_cmd import cost_table
    return [(name, cost_table(name, hardware)) for name in names]


def _load(path: str, kind: str, executor: str) -> dict:
    """The model of `path` and how it runs: {"vocab", "executor", and "model" (checkpoint) or
    "graph" and "program" (None for a model.onnx)}; ConfigError for an executor that cannot
    run it."""
    from snncompile.errors import ConfigError

    if kind == "checkpoint":
        from snncompile.models.checkpoint import load_checkpoint

        if executor != "auto":
            raise ConfigError(f"--executor {executor} runs a model.onnx or a program folder; a "
                              f"checkpoint runs in PyTorch (export it first: snncompile export "
                              f"{path} -o model.onnx)")
        model = load_checkpoint(path)
        return {"model": model, "vocab": model.config.vocab_size, "executor": "pytorch"}
    from snncompile.cli.prompting import model_vocab

    program = None
    if kind == "program":
        from snncompile.backends import load_program
        from snncompile.backends.base import read_manifest

        backend = read_manifest(path)["backend"]
        if executor == "simulator" and backend != "accum":
            raise ConfigError(f"{path!r} is a {backend} program; the simulator runs accum "
                              f"programs (use --executor reference)")
        program = load_program(path)
        graph = program.graph
        if executor == "auto":
            executor = "simulator" if backend == "accum" else "reference"
    else:
        if executor == "simulator":
            raise ConfigError(f"the simulator runs lowered programs; lower {path!r} first "
                              f"(snncompile lower {path} -o prog/) or use --executor reference")
        from snncompile.ir import serde

        graph = serde.load(path)
        executor = "reference"
    if getattr(graph, "is_network", False):
        raise ConfigError(f"{path!r} is a time-stepped network, not a language model: it has "
                          "no bits per byte (run it with `snncompile run NET --input x.npy`)")
    return {"graph": graph, "program": program, "vocab": model_vocab(graph),
            "executor": executor}


def _checkpoint(loaded, val, seq_len, eval_bytes, batch, p, tokens, temperature, seed,
                tables) -> dict:
    """A checkpoint in PyTorch: batched bpb and rates; energy analytic at the measured rates."""
    from snncompile.energy.analytic import analytic_counters, rates_from_neurons
    from snncompile.frontend import build_graph
    from snncompile.sweep.quality import energy_record
    from snncompile.training.evaluate import evaluate as run_evaluate
    from snncompile.training.evaluate import generate

    model = loaded["model"]
    result = run_evaluate(model, val, seq_len=seq_len, batch=batch, max_bytes=eval_bytes)
    graph = build_graph(model.config)  # shapes only: what the analytic mode prices
    rates = rates_from_neurons(graph, result.neuron_rates) if result.neuron_rates else {}
    counters = analytic_counters(graph, rates=rates, tokens=max(result.n_tokens or 1, 1),
                                 meta={"executor": "pytorch", "rates": "measured"})
    energy = [energy_record(counters, table, name) for name, table in _tables(tables)]
    samples = {}
    if tokens:
        samples["greedy"] = p.continuation(generate(model, p.ids, tokens, 0.0, seed))
        samples[f"temperature={temperature:g}"] = p.continuation(
            generate(model, p.ids, tokens, temperature, seed))
    return {"executor": "pytorch", "spiking": bool(model.config.spiking), "result": result,
            "tokens_counted": result.n_tokens, "energy": energy, "samples": samples,
            "hardware": None}


def _graph(loaded, device, val, seq_len, eval_bytes, p, tokens, temperature, seed,
           tables) -> dict:
    """A model.onnx or a program folder, token by token (sweep.quality.evaluate_graph)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from snncompile.data.corpus import eval_windows
    from snncompile.sweep.quality import energy_counters, energy_record, evaluate_graph

    graph, program, executor = loaded["graph"], loaded["program"], loaded["executor"]
    windows = eval_windows(val, seq_len, eval_bytes).numpy()
    console = Console(stderr=True)  # progress never mixes with a --json document
    with Progress(TextColumn(f"evaluating ({executor})"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("windows", total=windows.shape[0])
        ev = evaluate_graph(graph, windows, executor, program=program, device=device,
                            token_bytes=getattr(val, "token_bytes", None),
                            on_window=lambda _i: bar.advance(task))
    hardware = ev.counters.meta.get("hardware") if executor == "simulator" else None
    counters = energy_counters(ev)
    energy = [energy_record(counters, table, name) for name, table in _tables(tables, hardware)]
    samples = {}
    if tokens:
        if executor == "simulator":
            from snncompile.simulator import Simulator
            samples["greedy"] = p.continuation(Simulator(program).generate(p.ids, tokens))
        else:
            from snncompile.backends.reference.interpreter import ReferenceInterpreter
            interp = ReferenceInterpreter(graph, device=device)
            samples["greedy"] = p.continuation(interp.generate(p.ids, tokens).tokens)
            samples[f"temperature={temperature:g}"] = p.continuation(
                interp.generate(p.ids, tokens, temperature=temperature, seed=seed).tokens)
    spiking = any(n.op.emits_spikes for n in graph.nodes)
    return {"executor": executor, "spiking": spiking, "result": ev.result,
            "tokens_counted": ev.counters.tokens, "energy": energy, "samples": samples,
            "hardware": hardware["chip"]["name"] if hardware else None}


def evaluate_doc(model, kind: str, *, executor: str, spiking: bool, result, tokens_counted,
                 energy: list, samples: dict, hardware, eval_bytes, prompt: str, seed: int,
                 temperature: float, new_tokens: int, prompt_doc: dict | None = None) -> dict:
    """The `evaluate --json` document (docs/output-formats.md, snncompile-evaluate/2).
    Neurons are named by their IR node (`neuron_node_name`: layers.{i}.in_proj_spike), as in
    every other command; rates per Mamba block under `block_firing_rates`."""
    from snncompile.frontend import neuron_node_name

    return {"format": EVALUATE_FORMAT, "model": str(model), "kind": kind,
            "executor": executor, "hardware": hardware, "spiking": spiking,
            "bpb": result.bpb, "perplexity": result.perplexity, "n_bytes": result.n_bytes,
            "n_tokens": result.n_tokens, "tokens": tokens_counted, "seq_len": result.seq_len, "eval_bytes": eval_bytes,
            "firing_rate": result.mean_rate,
            "block_firing_rates": {str(k): v for k, v in sorted(result.layer_rates.items())},
            "neuron_firing_rates": {neuron_node_name(k) or k: v
                                    for k, v in sorted(result.neuron_rates.items())},
            "energy": energy,
            "prompt": prompt, **(prompt_doc or {}), "seed": seed, "temperature": temperature,
            "new_tokens": new_tokens, "samples": samples}


def render(doc: dict) -> None:
    """The terminal report of an evaluate document."""
    from rich.console import Console
    from rich.table import Table

    from snncompile.energy.report import fmt_energy

    console = Console()
    table = Table(title=f"evaluate {doc['model']} ({doc['kind']}, {doc['executor']}"
                        + (f", {doc['hardware']}" if doc["hardware"] else "") + ")")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("validation bpb", f"{doc['bpb']:.4f}")
    table.add_row("token perplexity", f"{doc['perplexity']:.4f}")
    table.add_row("bytes predicted", f"{doc['n_bytes']:,}")
    table.add_row("window", str(doc["seq_len"]))
    if doc["firing_rate"] is not None:
        table.add_row("firing rate (all)", f"{doc['firing_rate']:.4f}")
        for layer, rate in doc["block_firing_rates"].items():
            table.add_row(f"firing rate block {layer}", f"{rate:.4f}")
    for e in doc["energy"]:
        name = Path(e["preset"]).stem if e["preset"].endswith(".toml") else e["preset"]
        snn, ann = e["per_token"]["snn_j"]["total"], e["per_token"]["ann_j"]["total"]
        ratio = "n/a" if e["ratio"] is None else f"{e['ratio']:.3f}x"
        table.add_row(f"energy per token, {name} ({e['mode']})",
                      f"SNN {fmt_energy(snn * 1e12)}, ANN {fmt_energy(ann * 1e12)}, "
                      f"ratio E_ANN / E_SNN {ratio} (both at {name}'s prices)")
    console.print(table)
    for name, text in doc["samples"].items():
        console.print(f"[bold]{name}[/bold]: {doc['prompt']!r} -> ", end="")
        console.print(repr(text), markup=False, highlight=False)

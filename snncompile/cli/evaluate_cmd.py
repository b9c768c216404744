"""`snncompile evaluate CKPT`: validation bits per byte, firing rates and sample text.

    snncompile evaluate examples/models/student [--json] [--prompt TEXT] [--tokens N]
                        [--temperature T] [--seed S] [--eval-bytes N] [--save FILE]

Bits per byte over the validation split (snncompile.training.evaluate), per-layer firing rates
for a spiking model, then two continuations of the prompt: greedy and sampled at T.
"""

from __future__ import annotations

import click

from snncompile.cli.params import FiniteFloatRange
import torch
from rich.console import Console
from rich.table import Table

from snncompile.atomic import check_outputs, write_text_atomic
from snncompile.cli.jsonout import emit_json, json_option, json_file, to_json_text
from snncompile.data.corpus import load_split
from snncompile.data.tokenizer import decode, encode
from snncompile.errors import ConfigError
from snncompile.models.checkpoint import load_checkpoint
from snncompile.training.evaluate import evaluate as run_evaluate
from snncompile.training.evaluate import generate


@click.command("evaluate")
@click.argument("ckpt", type=click.Path(path_type=str))
@json_option("Write one JSON object (snncompile-evaluate/1)")
@click.option("--prompt", default="Return the ", show_default=True, help="Prompt text.")
@click.option("--tokens", type=click.IntRange(0, 100000), default=120, show_default=True,
              help="Bytes to generate per sample (0: no samples).")
@click.option("--temperature", type=FiniteFloatRange(), default=0.8, show_default=True,
              help="Temperature of the sampled continuation (the other one is greedy).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--seq-len", type=click.IntRange(1, 1 << 20), default=256, show_default=True,
              help="Evaluation window (context restarts every window).")
@click.option("--eval-bytes", type=click.IntRange(1, 1 << 40), default=None,
              help="Use the first N bytes of the validation split [default: all].")
@click.option("--batch", type=click.IntRange(1, 1 << 16), default=16, show_default=True)
@click.option("--corpus", type=click.Path(dir_okay=False), default=None,
              help="A .txt or .gz text file instead of the bundled corpus.")
@click.option("--threads", type=click.IntRange(1, 4096), default=None,
              help="torch.set_num_threads.")
@click.option("--save", type=click.Path(dir_okay=False), default=None,
              help="Also write the JSON result to this file (atomically).")
def evaluate(ckpt, json_out, prompt, tokens, temperature, seed, seq_len, eval_bytes, batch,
             corpus, threads, save):
    """Validation bpb and sample text of checkpoint CKPT."""
    check_outputs([save, json_file(json_out)], [ckpt, corpus])
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    if tokens < 0:
        raise ConfigError(f"--tokens must be >= 0, got {tokens}")
    if temperature <= 0:
        raise ConfigError(f"--temperature must be > 0, got {temperature} (greedy is always shown)")
    if not prompt:
        raise ConfigError("--prompt must not be empty")
    model = load_checkpoint(ckpt)
    data = load_split(corpus)
    result = run_evaluate(model, data.val, seq_len=seq_len, batch=batch, max_bytes=eval_bytes)
    ids = encode(prompt)
    samples = {}
    if tokens:
        samples["greedy"] = decode(generate(model, ids, tokens, 0.0, seed))
        samples[f"temperature={temperature:g}"] = decode(
            generate(model, ids, tokens, temperature, seed))
    record = evaluate_doc(ckpt, model.config.spiking, result, eval_bytes=eval_bytes,
                          prompt=prompt, seed=seed, temperature=temperature, new_tokens=tokens,
                          samples=samples)
    if save is not None:
        write_text_atomic(save, to_json_text(record))
    if json_out is not None:
        emit_json(record, json_out)
        return
    console = Console()
    table = Table(title=f"evaluate {ckpt}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("validation bpb", f"{result.bpb:.4f}")
    table.add_row("bytes predicted", f"{result.n_bytes:,}")
    table.add_row("window", str(result.seq_len))
    if result.mean_rate is not None:
        table.add_row("firing rate (all)", f"{result.mean_rate:.4f}")
        for layer, rate in sorted(result.layer_rates.items()):
            table.add_row(f"firing rate block {layer}", f"{rate:.4f}")
    console.print(table)
    for name, text in samples.items():
        console.print(f"[bold]{name}[/bold]: {prompt!r} -> ", end="")
        console.print(repr(text), markup=False, highlight=False)


EVALUATE_FORMAT = "snncompile-evaluate/1"


def evaluate_doc(ckpt, spiking: bool, result, *, eval_bytes, prompt: str, seed: int,
                 temperature: float, new_tokens: int, samples: dict) -> dict:
    """The `evaluate --json` document (docs/output-formats.md, snncompile-evaluate/1).
    Neurons are named by their IR node (`neuron_node_name`: layers.{i}.in_proj_spike), as in
    every other command; rates per Mamba block under `block_firing_rates`."""
    from snncompile.frontend import neuron_node_name

    return {"format": EVALUATE_FORMAT, "checkpoint": str(ckpt), "spiking": spiking,
            "bpb": result.bpb, "n_bytes": result.n_bytes, "seq_len": result.seq_len,
            "eval_bytes": eval_bytes, "firing_rate": result.mean_rate,
            "block_firing_rates": {str(k): v for k, v in sorted(result.layer_rates.items())},
            "neuron_firing_rates": {neuron_node_name(k) or k: v
                                    for k, v in sorted(result.neuron_rates.items())},
            "prompt": prompt, "seed": seed, "temperature": temperature,
            "new_tokens": new_tokens, "samples": samples}

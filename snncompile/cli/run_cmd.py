"""`snncompile run MODEL --prompt TEXT`: generate text with the reference interpreter.

MODEL is an exported model (.onnx) or a program folder from `snncompile lower`; for a program
the reference runs its lowered (quantized) graph, which the simulator must match exactly."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("model", type=click.Path())
@click.option("--prompt", required=True, help="Prompt text (byte-level tokenizer).")
@click.option("--tokens", "n_tokens", type=click.IntRange(0, 100000), default=32, show_default=True,
              help="New tokens to generate.")
@click.option("--temperature", type=click.FloatRange(0.0), default=0.0, show_default=True,
              help="0 = greedy; otherwise softmax sampling at this temperature.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print text and per-node counters as JSON.")
def run(model: str, prompt: str, n_tokens: int, temperature: float, seed: int, device: str,
        as_json: bool) -> None:
    """Run MODEL (an snncompile ONNX file or a lowered program folder) on PROMPT."""
    import torch

    from snncompile.backends.reference import ReferenceInterpreter
    from snncompile.data.tokenizer import decode, encode
    from snncompile.errors import ConfigError

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available")
    ids = encode(prompt)
    if not ids:
        raise ConfigError("--prompt is empty")
    graph = load_graph(model)
    interp = ReferenceInterpreter(graph, device=None if device == "auto" else device)
    out = interp.generate(ids, n_tokens, temperature=temperature, seed=seed)
    text = decode(out.tokens)
    if as_json:
        click.echo(json.dumps({"prompt": prompt, "text": text, "tokens": out.tokens,
                               "device": str(interp.device), "counters": out.counters.as_dict()},
                              indent=2))
    else:
        click.echo(text)


def load_graph(path: str):
    """The graph of an .onnx file, or the lowered graph of a program folder (any backend)."""
    from pathlib import Path

    from snncompile.ir import serde

    if Path(path).is_dir():
        from snncompile.backends import load_program

        return load_program(path).graph
    return serde.load(path)

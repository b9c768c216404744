"""`snncompile run MODEL --prompt TEXT`: generate text with the reference interpreter.

MODEL is an exported model (.onnx) or a program folder from `snncompile lower`; for a program
the reference runs its lowered (quantized) graph, which the simulator must match exactly."""

from __future__ import annotations

import click

from snncompile.cli.params import FiniteFloatRange

from snncompile.cli.jsonout import emit_json, json_option

RUN_FORMAT = "snncompile-run/1"


@click.command()
@click.argument("model", type=click.Path())
@click.option("--prompt", required=True, help="Prompt text (byte-level tokenizer).")
@click.option("--tokens", "n_tokens", type=click.IntRange(0, 100000), default=32, show_default=True,
              help="New tokens to generate.")
@click.option("--temperature", type=FiniteFloatRange(0.0), default=0.0, show_default=True,
              help="0 = greedy; otherwise softmax sampling at this temperature.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Sampling seed.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@json_option("Write the continuation and per-node counters as JSON (snncompile-run/1)")
def run(model: str, prompt: str, n_tokens: int, temperature: float, seed: int, device: str,
        json_out: str | None) -> None:
    """Run MODEL (an snncompile ONNX file or a lowered program folder) on PROMPT."""
    import torch

    from snncompile.atomic import check_outputs
    from snncompile.backends.reference import ReferenceInterpreter
    from snncompile.data.tokenizer import decode, encode
    from snncompile.errors import ConfigError

    check_outputs([json_out], [model, f"{model}.data"])

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available")
    ids = encode(prompt)
    if not ids:
        raise ConfigError("--prompt is empty")
    graph = load_graph(model)
    interp = ReferenceInterpreter(graph, device=None if device == "auto" else device)
    out = interp.generate(ids, n_tokens, temperature=temperature, seed=seed)
    text = decode(out.tokens)
    if json_out is not None:
        emit_json(run_doc(model, prompt, text, out.tokens, str(interp.device), out.counters),
                  json_out)
    else:
        click.echo(text)


def counters_doc(counters) -> dict:
    """The counter blocks shared by run and sim.json: `tokens` (decoding steps counted),
    `nodes` (per-node totals over them), `total` and `per_token`."""
    nodes = []
    for n in counters.nodes:
        d = n.as_dict()
        if n.counts.neuron_updates:
            d["firing_rate"] = n.counts.firing_rate
        nodes.append(d)
    total = counters.totals().as_dict()
    n_tok = max(counters.tokens, 1)
    return {"tokens": counters.tokens, "nodes": nodes, "total": total,
            "per_token": {k: None if v is None else v / n_tok for k, v in total.items()}}


def run_doc(model: str, prompt: str, continuation: str, token_ids, device: str,
            counters) -> dict:
    """The `run --json` document (docs/output-formats.md, snncompile-run/1)."""
    return {"format": RUN_FORMAT, "model": str(model), "device": device, "prompt": prompt,
            "continuation": continuation, "token_ids": [int(t) for t in token_ids],
            "new_tokens": len(token_ids), **counters_doc(counters)}


def load_graph(path: str):
    """The graph of an .onnx file, or the lowered graph of a program folder (any backend)."""
    from pathlib import Path

    from snncompile.ir import serde

    if Path(path).is_dir():
        from snncompile.backends import load_program

        return load_program(path).graph
    return serde.load(path)

"""`snncompile run MODEL --prompt TEXT`: generate text with the reference interpreter.

MODEL is an exported model (.onnx) or a program folder from `snncompile lower`; for a program
the reference runs its lowered (quantized) graph, which the simulator must match exactly.

`snncompile run NET --input x.npy [-o y.npy]` runs a time-stepped spiking network instead
(`snncompile.cli.spike_steps`): x (T, n_in) integer spike counts, y the first graph output
stacked over the T steps; --json writes snncompile-run-steps/1. --input on a token model, or
--prompt / --token-ids on a network, is an error."""

from __future__ import annotations

import click

from snncompile.cli.params import FiniteFloatRange, token_ids_option, tokenizer_option

from snncompile.cli.jsonout import emit_json, json_option

RUN_FORMAT = "snncompile-run/1"


@click.command()
@click.argument("model", type=click.Path())
@click.option("--prompt", default=None, help="Prompt text (see --tokenizer).")
@token_ids_option()
@tokenizer_option()
@click.option("--tokens", "n_tokens", type=click.IntRange(0, 100000), default=32, show_default=True,
              help="New tokens to generate.")
@click.option("--temperature", type=FiniteFloatRange(0.0), default=0.0, show_default=True,
              help="0 = greedy; otherwise softmax sampling at this temperature.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Sampling seed.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--input", "input_path", type=click.Path(dir_okay=False), default=None,
              help="Network models: spike counts per step, a .npy of ints (T x n_in).")
@click.option("-o", "--output", "out_path", type=click.Path(dir_okay=False), default=None,
              help="With --input: write the first graph output over the steps (.npy, T x d).")
@json_option("Write the continuation and per-node counters as JSON (snncompile-run/1; "
             "with --input: snncompile-run-steps/1)")
def run(model: str, prompt: str | None, token_ids: str | None, tokenizer: str | None,
        n_tokens: int, temperature: float, seed: int, device: str,
        input_path: str | None, out_path: str | None, json_out: str | None) -> None:
    """Run MODEL (an snncompile ONNX file or a lowered program folder) on PROMPT."""
    import torch

    from snncompile.atomic import check_outputs
    from snncompile.backends.reference import ReferenceInterpreter
    from snncompile.cli.prompting import check_prompt_args, model_vocab, resolve_prompt
    from snncompile.errors import ConfigError

    check_outputs([json_out, out_path], [model, f"{model}.data", input_path, tokenizer])
    if input_path is not None or out_path is not None:
        return run_network(model, prompt, token_ids, device, input_path, out_path, json_out)

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available")
    check_prompt_args(prompt, token_ids)
    graph = load_graph(model)
    if graph.is_network:
        raise ConfigError(f"{model!r} is a time-stepped network: give --input x.npy (spike "
                          "counts, T x n_in), not --prompt / --token-ids")
    p = resolve_prompt(prompt, token_ids, tokenizer, model, model_vocab(graph))
    ids = p.ids
    interp = ReferenceInterpreter(graph, device=None if device == "auto" else device)
    out = interp.generate(ids, n_tokens, temperature=temperature, seed=seed)
    text = p.continuation(out.tokens)
    if json_out is not None:
        doc = run_doc(model, p.text, text, out.tokens, str(interp.device), out.counters)
        emit_json({**doc, **p.doc()}, json_out)
    else:
        click.echo(text)


def run_network(model: str, prompt: str | None, token_ids: str | None, device: str,
                input_path: str | None, out_path: str | None, json_out: str | None) -> None:
    """`run NET --input x.npy [-o y.npy] [--json [F]]` (module docstring)."""
    import torch

    from snncompile.backends.reference import ReferenceInterpreter
    from snncompile.cli.spike_steps import load_spike_input, save_npy, steps_doc
    from snncompile.errors import ConfigError

    if input_path is None:
        raise click.UsageError("-o/--output needs --input (a network's spike counts)")
    if prompt is not None or token_ids is not None:
        raise click.UsageError("give --input (a network) or --prompt / --token-ids "
                               "(a token model), not both")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available")
    graph = load_graph(model)
    if not graph.is_network:
        raise ConfigError(f"--input is for time-stepped networks; {model!r} is a token model "
                          "(use --prompt)")
    (_kind, (n_in,)), = graph.input_specs().values()
    x = load_spike_input(input_path, n_in)
    interp = ReferenceInterpreter(graph, device=None if device == "auto" else device)
    res = interp.run_steps(x)
    if out_path is not None:
        save_npy(out_path, res.outputs[0])
        click.echo(f"wrote {out_path}", err=True)
    if json_out is not None:
        emit_json(steps_doc(model, input_path, str(interp.device), graph, res), json_out)
    elif out_path is None:
        for n in graph.neurons():
            click.echo(f"{n.name}: {int(res.counters.node(n.name).counts.spikes)} spikes "
                       f"over {len(x)} steps")


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

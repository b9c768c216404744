"""`snncompile export CKPT -o model.onnx`: checkpoint -> verified ONNX IR file."""

from __future__ import annotations

import click

from snncompile.cli.jsonout import emit_json, json_option
from snncompile.cli.params import tokenizer_option


@click.command()
@click.argument("checkpoint", type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="ONNX file to write (weights above 1 GiB go to OUTPUT.data beside it).")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Run the written graph against the PyTorch model (float64) before publishing.")
@click.option("--tokens", "n_tokens", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Tokens of the self-check.")
@click.option("--external-data/--embedded-data", "external", default=None,
              help="Force weights into OUTPUT.data or into the ONNX file (default: by size).")
@tokenizer_option("Tokenizer to carry in the model (a tokenizer.json or a folder holding one) "
                  "[default: CHECKPOINT/tokenizer.json if present].")
@json_option("Write the export report as JSON (snncompile-export/1)")
def export(checkpoint: str, output: str, verify: bool, n_tokens: int, external: bool | None,
           tokenizer: str | None, json_out: str | None) -> None:
    """Export a SpikingMamba or dense Mamba2 CHECKPOINT folder (mamba_ssm format) to ONNX.

    The file is written only if the interpreter reproduces the model: max |logit diff| <= 1e-4
    and identical spike counts. The checkpoint's tokenizer (or --tokenizer) goes into the
    model's metadata, where `run`, `lower`, `simulate` and `evaluate` find it."""
    from rich.console import Console

    from snncompile.atomic import check_outputs
    from snncompile.export import default_verify_tokens, export_model, export_tokenizer
    from snncompile.ir.serde import data_path
    from snncompile.models.checkpoint import load_checkpoint

    check_outputs([output, data_path(output), json_out], [checkpoint, tokenizer])
    if tokenizer is not None:  # a bad --tokenizer fails before the model is loaded
        from snncompile.data.tokenizer import load_tokenizer
        load_tokenizer(tokenizer)

    console = Console(stderr=True)
    with console.status(f"loading {checkpoint}"):
        model = load_checkpoint(checkpoint)
        tok = export_tokenizer(tokenizer, checkpoint, model.config.vocab_size)
    with console.status(f"exporting to {output}" + (" and verifying" if verify else "")):
        report = export_model(model, output, verify=verify,
                              tokens=default_verify_tokens(model.config, n_tokens),
                              external_data=external, tokenizer=tok)
    if json_out is not None:
        emit_json(export_doc(report), json_out)
        return
    check = (f"verified on {len(report.tokens)} tokens (max |logit diff| "
             f"{report.max_abs_diff:.2e}, spike counts identical)" if report.verified
             else "not verified")
    click.echo(f"wrote {report.path}: {report.nodes} nodes, {report.params:,} parameters"
               f"{' (external data)' if report.external_data else ''}; {check}; "
               f"{_tok_words(report)}{report.seconds:.1f} s")


def _tok_words(report) -> str:
    t = report.tokenizer
    return "" if t is None else f"tokenizer {t['name']} ({t['vocab_size']} tokens); "


def export_doc(report) -> dict:
    """The `export --json` document (docs/output-formats.md, snncompile-export/1)."""
    return {"format": "snncompile-export/1", "path": report.path, "node_count": report.nodes,
            "params": report.params, "param_bytes": report.param_bytes,
            "external_data": report.external_data, "verified": report.verified,
            "token_ids": list(report.tokens), "tokens": len(report.tokens),
            "max_abs_logit_diff": report.max_abs_diff, "spikes": dict(report.spikes),
            "tokenizer": report.tokenizer, "wall_time_s": report.seconds}

"""`snncompile export CKPT -o model.onnx`: checkpoint -> verified ONNX IR file."""

from __future__ import annotations

import json

import click


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
@click.option("--json", "as_json", is_flag=True, help="Print the export report as JSON.")
def export(checkpoint: str, output: str, verify: bool, n_tokens: int, external: bool | None,
           as_json: bool) -> None:
    """Export a SpikingMamba or dense Mamba2 CHECKPOINT folder (mamba_ssm format) to ONNX.

    The file is written only if the interpreter reproduces the model: max |logit diff| <= 1e-4
    and identical spike counts."""
    from rich.console import Console

    from snncompile.export import default_verify_tokens, export_model
    from snncompile.models.checkpoint import load_checkpoint

    console = Console(stderr=True)
    with console.status(f"loading {checkpoint}"):
        model = load_checkpoint(checkpoint)
    with console.status(f"exporting to {output}" + (" and verifying" if verify else "")):
        report = export_model(model, output, verify=verify,
                              tokens=default_verify_tokens(model.config, n_tokens),
                              external_data=external)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    check = (f"verified on {len(report.tokens)} tokens (max |logit diff| "
             f"{report.max_abs_diff:.2e}, spike counts identical)" if report.verified
             else "not verified")
    click.echo(f"wrote {report.path}: {report.nodes} nodes, {report.params:,} parameters"
               f"{' (external data)' if report.external_data else ''}; {check}; "
               f"{report.seconds:.1f} s")

"""The `snncompile` command line: one click group, subcommands loaded lazily.

Each subcommand lives in its own module of this package and is registered by one line in
`COMMANDS` (name -> "module:attribute"); modules are imported only when their command runs, so
`snncompile --help` stays fast and a heavy dependency is paid only where it is used.
Errors derived from `SnnCompileError` print one line and exit with code 2 (`--debug` shows
the traceback).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from snncompile import __version__
from snncompile.errors import SnnCompileError

COMMANDS: dict[str, str] = {
    "export": "snncompile.cli.export_cmd:export",
    "inspect": "snncompile.cli.inspect_cmd:inspect",
    "run": "snncompile.cli.run_cmd:run",
    "lower": "snncompile.cli.lower_cmd:lower",
    "simulate": "snncompile.cli.simulate_cmd:simulate",
    "hw": "snncompile.cli.hw_cmd:hw",
    "energy": "snncompile.cli.energy_cmd:energy",
    "distill": "snncompile.cli.distill_cmd:distill",
    "evaluate": "snncompile.cli.evaluate_cmd:evaluate",
    "demo": "snncompile.cli.demo_cmd:demo",
    "sweep": "snncompile.cli.sweep_cmd:sweep",
    "lava": "snncompile.cli.lava_cmd:lava",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        present = [n for n, t in COMMANDS.items() if importlib.util.find_spec(t.split(":")[0])]
        return sorted(present)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        if importlib.util.find_spec(module_name) is None:
            return None
        return getattr(importlib.import_module(module_name), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SnnCompileError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="snncompile")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Compile spiking language models for neuromorphic hardware and price what they cost."""
    ctx.obj = {"debug": debug}

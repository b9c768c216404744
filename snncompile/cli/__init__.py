"""The `snncompile` command line: one click group, subcommands loaded lazily.

Each subcommand lives in its own module of this package and is registered by one line in
`COMMANDS` (name -> "module:attribute"); modules are imported only when their command runs, so
`snncompile --help` stays fast and a heavy dependency is paid only where it is used.
Every error prints one line `error: ...` on stderr and exits with code 2: errors derived from
`SnnCompileError` (`--debug` shows the traceback) and click's usage errors (unknown option or
command, missing or bad argument), which `LazyGroup` reformats once for every subcommand
instead of click's `Usage: ... Error:` block. `--help` is unchanged.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import NoReturn

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
    "data": "snncompile.cli.data_cmd:data",
    "nir": "snncompile.cli.nir_cmd:nir",
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

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:  # the group's own options and arguments (`snncompile --bogus`)
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            _fail_click(exc)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SnnCompileError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _fail(str(exc))
        except click.ClickException as exc:  # usage errors of every subcommand, reformatted
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _fail_click(exc)
        except OSError as exc:  # the file system refused a path the user gave (too long, ...)
            if ctx.obj and ctx.obj.get("debug"):
                raise
            name = exc.filename if exc.filename is not None else ""
            name = str(name) if len(str(name)) <= 120 else str(name)[:117] + "..."
            _fail(f"{name!r}: {exc.strerror or exc}" if name else f"{exc.strerror or exc}")


# click >= 8.2 raises this for a bare group (`snncompile`, `snncompile hw`): that is a request
# for help, answered as --help is (stdout, exit 0), as older click did.
_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _fail_click(exc: click.ClickException) -> NoReturn:
    """A click error as one line: click's message and a pointer to the command's --help
    instead of its four-line usage block."""
    sub = getattr(exc, "ctx", None)
    if isinstance(exc, _NO_ARGS) and sub is not None:
        click.echo(sub.get_help())
        sys.exit(0)
    msg = exc.format_message()
    if isinstance(exc, click.UsageError) and sub is not None:
        msg = msg.rstrip(".") + f" (see '{sub.command_path} --help')"
    _fail(msg)


def _fail(message: str) -> NoReturn:
    """Every CLI error: one line `error: ...` on stderr, exit code 2."""
    click.echo("error: " + " ".join(message.split()), err=True)
    sys.exit(2)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="snncompile")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Compile spiking language models for neuromorphic hardware and price what they cost."""
    ctx.obj = {"debug": debug}

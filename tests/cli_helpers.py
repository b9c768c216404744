"""Running the command line in tests."""

from __future__ import annotations

from click.testing import CliRunner

from snncompile.cli import main


def cli_ok(*args):
    """Invoke `snncompile ARGS` (each argument str()-ed) and assert exit code 0."""
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res

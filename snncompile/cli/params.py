"""Click parameter types shared by the commands.

`FiniteFloatRange` is `click.FloatRange` that also refuses NaN (click's range test compares
with < and >, which NaN never fails, so `FloatRange(0, 1)` accepts `nan`) and infinities: a
bad value is a usage error (exit 2) naming the option.
"""

from __future__ import annotations

import math
from typing import Any

import click


class FiniteFloatRange(click.FloatRange):
    """A finite float in the range (the arguments of `click.FloatRange`)."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Any:
        rv = super().convert(value, param, ctx)
        if isinstance(rv, float) and not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv

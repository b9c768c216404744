"""The oracle shared by every fuzzer: each input gives a typed error or a result equal to the
reference; never another exception, a hang, a NaN, or exit 0 with a differing result.

`Tally` counts, per fuzzer, the inputs tried and what each gave:
  typed      a `SnnCompileError` from the API (or, from the CLI, exit 2 with one `error:` line)
  equal      accepted, and the result equals the reference (or is finite where no reference
             applies: a hardware file or a cost table that is simply valid)
  other      anything else: the failure list holds the seed, the mutation and the traceback
`run_case` runs one case under a time limit (SIGALRM, in-process) and classifies it.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from snncompile.errors import SnnCompileError

CASES = int(os.environ.get("SNNCOMPILE_FUZZ_CASES", "300"))
BASE_SEED = int(os.environ.get("SNNCOMPILE_FUZZ_SEED", "0"))
TIME_LIMIT_S = float(os.environ.get("SNNCOMPILE_FUZZ_TIMEOUT", "20"))
MAX_REPORTED = 10


class Hang(Exception):
    """A case ran past TIME_LIMIT_S."""


class Mismatch(AssertionError):
    """Accepted input whose result differs from the reference (or is not finite)."""


class Typed(Exception):
    """Raised by a CLI check to classify an exit-2 `error:` line as a typed error."""


@dataclass
class Tally:
    name: str
    tried: int = 0
    typed: int = 0
    equal: int = 0
    other: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    kinds: Counter = field(default_factory=Counter)  # typed errors by class

    def row(self) -> str:
        return (f"{self.name:<28} tried {self.tried:>6}  typed errors {self.typed:>6}  "
                f"equal to reference {self.equal:>6}  other {self.other:>4}  "
                f"({self.seconds:.1f} s)")


TALLIES: dict[str, Tally] = {}


def tally(name: str) -> Tally:
    return TALLIES.setdefault(name, Tally(name))


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise Hang in this (main) thread after `seconds` (SIGALRM)."""
    def on_alarm(_sig, _frame):
        raise Hang(f"ran past {seconds:g} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_case(t: Tally, seed: int, describe: Callable[[], str], case: Callable[[], Any]) -> str:
    """Run `case()` under the time limit; returns "typed" | "equal" | "other". `case` returns
    normally when its result equals the reference, raises SnnCompileError (or Typed) for a
    typed error, and Mismatch for a wrong result. `describe()` names the mutation."""
    t.tried += 1
    t0 = time.perf_counter()
    try:
        try:
            with time_limit(TIME_LIMIT_S):
                case()
        finally:
            t.seconds += time.perf_counter() - t0
    except (SnnCompileError, Typed) as exc:
        t.typed += 1
        t.kinds[type(exc).__name__ if isinstance(exc, SnnCompileError) else "cli exit 2"] += 1
        return "typed"
    except BaseException as exc:  # noqa: BLE001 - everything else is a finding
        if isinstance(exc, KeyboardInterrupt):
            raise
        t.other += 1
        if len(t.failures) < MAX_REPORTED:
            tb = "".join(traceback.format_exception(exc)[-6:])
            t.failures.append(f"[{t.name}] seed={seed} mutation={describe()}\n"
                              f"  {type(exc).__name__}: {str(exc)[:1500]}\n{tb}")
        return "other"
    t.equal += 1
    return "equal"


def check_tally(t: Tally) -> None:
    """Fail the test when any case gave something else, printing the replayable seeds."""
    if t.other:
        head = (f"{t.other} of {t.tried} inputs gave neither a typed error nor the reference "
                f"result (replay: SNNCOMPILE_FUZZ_SEED={BASE_SEED}, the seeds below)\n")
        raise AssertionError(head + "\n".join(t.failures))


# -- comparisons ------------------------------------------------------------------------------
def finite(name: str, arrays) -> None:
    for i, a in enumerate(arrays):
        a = np.asarray(a, dtype=np.float64)
        if not np.isfinite(a).all():
            raise Mismatch(f"{name}: non-finite value in output {i}")


def same_logits(got, want, tol: float = 1e-9) -> None:
    if len(got) != len(want):
        raise Mismatch(f"{len(got)} logits vectors, the reference has {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g.shape != w.shape:
            raise Mismatch(f"token {i}: logits shape {g.shape}, reference {w.shape}")
        if not np.isfinite(g).all() or not np.isfinite(w).all():
            raise Mismatch(f"token {i}: non-finite logits")
        d = float(np.max(np.abs(g - w))) if g.size else 0.0
        if d > tol * max(1.0, float(np.max(np.abs(w))) if w.size else 1.0):
            raise Mismatch(f"token {i}: max logit difference {d:.3g} from the reference")


NONFINITE = re.compile(r"(?<![A-Za-z])(nan|-?inf(inity)?)(?![A-Za-z])", re.IGNORECASE)


def cli_outcome(result, *, what: str) -> None:
    """The CLI oracle: exit 2 with exactly one line, starting with `error:` (-> Typed), or
    exit 0 with no NaN / Inf printed. Anything else raises Mismatch."""
    out = result.output
    if result.exit_code == 2:
        lines = [ln for ln in (result.stderr or out).splitlines() if ln.strip()]
        if len(lines) == 1 and lines[0].startswith("error: "):
            raise Typed(lines[0])
        raise Mismatch(f"{what}: exit 2 without a single `error:` line: {out[-600:]!r}")
    if result.exit_code != 0:
        exc = result.exception
        tb = "".join(traceback.format_exception(exc)[-4:]) if exc else ""
        raise Mismatch(f"{what}: exit {result.exit_code} ({type(exc).__name__}: {exc})\n{tb}")
    if NONFINITE.search(out):
        raise Mismatch(f"{what}: exit 0 printing a non-finite number: {out[-600:]!r}")


def brief(v: Any, limit: int = 3000) -> str:
    """repr of `v` with every string longer than 80 characters shortened to 'aaa...'(N chars),
    so a failure message stays readable and the input can still be rebuilt."""
    def walk(x: Any) -> Any:
        if isinstance(x, str) and len(x) > 80:
            return _Long(x)
        if isinstance(x, dict):
            return {walk(k): walk(y) for k, y in x.items()}
        if isinstance(x, (list, tuple)):
            return type(x)(walk(y) for y in x)
        return x
    return repr(walk(v))[:limit]


class _Long(str):
    def __repr__(self) -> str:
        return f"{str.__repr__(self[:20])}*({len(self)} chars, starts)"


def is_finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

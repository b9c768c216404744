"""Pass infrastructure: a pass is `run(graph) -> PassResult(graph, modified)`; a pipeline is a
straight list of named passes, and the graph is verified after every one of them.

A pass is a module or object with a `run(graph)` function/method (named by its `name`
attribute, else its module's last component), or a plain function `run(graph) -> PassResult`.
Passes may return the graph they were given (modified=False) or a new one; they must not
leave it invalid: `run_pipeline` raises IRError naming the pass whose output fails
`Graph.verify()`.

A backend's lowering is also a straight list of named steps, over a typed lowering state
rather than a bare graph: `run_steps(state, [Step("quantize", f), Step("tile", g), ...])
-> StepsResult(state, log)`.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Callable, Generic, Protocol, Sequence, TypeVar, Union

from snncompile.errors import IRError
from snncompile.ir.graph import Graph


@dataclass(frozen=True)
class PassResult:
    """The graph a pass produced and whether it changed anything."""

    graph: Graph
    modified: bool


class Pass(Protocol):
    name: str

    def run(self, graph: Graph) -> PassResult: ...


PassLike = Union[Pass, Callable[[Graph], PassResult]]


def pass_name(p: PassLike) -> str:
    """A pass's name: its `name` attribute, else its function's module and name."""
    name = getattr(p, "name", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(p, types.ModuleType):  # a pass module with a module-level run()
        return p.__name__.rsplit(".", 1)[-1]
    mod = getattr(p, "__module__", "") or ""
    return f"{mod.rsplit('.', 1)[-1]}.{getattr(p, '__name__', type(p).__name__)}"


@dataclass
class PipelineResult:
    """The final graph and, per pass in order, (name, modified)."""

    graph: Graph
    log: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def modified(self) -> bool:
        return any(m for _, m in self.log)


def run_pipeline(graph: Graph, passes: Sequence[PassLike], require_params: bool = True
                 ) -> PipelineResult:
    """Run `passes` in order on `graph`, verifying the input and every pass's output."""
    try:
        graph.verify(require_params=require_params)
    except IRError as exc:
        raise IRError(f"pipeline input: {exc}") from None
    result = PipelineResult(graph)
    for p in passes:
        name = pass_name(p)
        run = p.run if hasattr(p, "run") else p
        out = run(result.graph)
        if not isinstance(out, PassResult) or not isinstance(out.graph, Graph):
            raise IRError(f"pass {name!r} returned {type(out).__name__}, not PassResult(graph, modified)")
        try:
            out.graph.verify(require_params=require_params)
        except IRError as exc:
            raise IRError(f"after pass {name!r}: {exc}") from None
        result.graph = out.graph
        result.log.append((name, bool(out.modified)))
    return result


# -- lowering pipelines -----------------------------------------------------------------------
State = TypeVar("State")


@dataclass(frozen=True)
class Step(Generic[State]):
    """One named lowering step: `run(state) -> state` over a backend's typed lowering state
    (the graph plus what the earlier steps decided: tiles, bins, placement, ...)."""

    name: str
    run: Callable[[State], State]


@dataclass(frozen=True)
class StepsResult(Generic[State]):
    """The final lowering state and the names of the steps run, in order."""

    state: State
    log: tuple[str, ...]


def run_steps(state: State, steps: Sequence[Step[State]]) -> StepsResult[State]:
    """Run a backend's lowering `steps` in order (a straight list; names must be unique).
    Each step's errors propagate unchanged: they already name the layer or node at fault."""
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise IRError(f"lowering steps {names} repeat a name")
    for step in steps:
        state = step.run(state)
    return StepsResult(state, tuple(names))

"""The backend contract: `Backend.lower(graph, hardware) -> Program`.

A backend is one package under `backends/`, one explicit line in
`snncompile.backends.BACKENDS`, and a pass of the conformance suite (`tests/conformance/`).

A `Program` is a graph lowered for one target. It can

  save(folder)              write one program folder atomically (all files or none);
  Program.load(folder)      read it back (typed errors naming the bad file or field);
  run(tokens)               feed token ids (teacher forcing) -> logits of each, float64 (V,);
  generate(ids, n)          greedy continuation of n new ids after the prompt `ids`;
  report() / render_report(report, console)   what `snncompile lower` prints (a JSON-able
                            dict, and its rich rendering);
  lowering                  the names of the lowering steps that produced it, in order.

Every program folder holds `program.json` (the manifest):

  {"format": "snncompile-program/1", "backend": NAME, "source": TEXT | null,
   "lowering": [STEP, ...], "sha256": {FILE: HEX, ...}}

and `graph.onnx`, the lowered graph; the rest is the backend's own. `sha256` holds the hash
of every other file of the folder (graph.onnx, graph.onnx.data when the weights are external,
the backend's files); `check_hashes`, run at the end of every `load`, refuses a folder whose
files changed since `save`. `read_manifest` checks the manifest;
`snncompile.backends.load_program(folder)` dispatches on its `backend` field.

A `Backend` lowers: `lower(graph, hardware=None, *, source=None, **its options)`. Its options
are the keyword-only parameters of its `lower` (`option_names()`; `check_options` rejects any
other, naming it), and `resolve_hardware(text)` turns a command-line hardware name or file
into what its `lower` takes (ConfigError / HardwareSpecError when it takes none or not that).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from snncompile.errors import ConfigError, SimulationError
from snncompile.ir.graph import Graph

PROGRAM_FORMAT = "snncompile-program/1"
MANIFEST = "program.json"


class Program:
    """Base of every lowered program; subclasses set `backend` and implement save / load.

    `run` and `generate` default to the reference semantics of the lowered graph (every
    integer accumulation exactly as the target computes it); a backend that executes the
    program itself overrides them."""

    backend: ClassVar[str] = ""
    graph: Graph
    source: str | None = None
    lowering: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.source or self.backend

    def save(self, folder: str | Path) -> Path:
        raise NotImplementedError(f"{type(self).__name__} does not implement save()")

    @classmethod
    def load(cls, folder: str | Path) -> "Program":
        raise NotImplementedError(f"{cls.__name__} does not implement load()")

    def run(self, tokens: Sequence[int]) -> list[np.ndarray]:
        from snncompile.backends.reference.interpreter import ReferenceInterpreter
        logits, _c, _s = ReferenceInterpreter(self.graph, device="cpu").run(list(tokens))
        return [np.asarray(x.double().cpu().numpy()) for x in logits]

    def generate(self, prompt_ids: Sequence[int], max_new_tokens: int) -> list[int]:
        from snncompile.backends.reference.interpreter import ReferenceInterpreter
        return ReferenceInterpreter(self.graph, device="cpu").generate(
            list(prompt_ids), max_new_tokens).tokens

    def report(self) -> dict[str, Any]:
        """A JSON-serializable summary of the program (what `snncompile lower` prints)."""
        ops: dict[str, int] = {}
        for n in self.graph.nodes:
            ops[n.op_type] = ops.get(n.op_type, 0) + 1
        return {"program": self.name, "backend": self.backend, "nodes": len(self.graph.nodes),
                "ops": ops, "params": self.graph.n_params(),
                "param_bytes": self.graph.param_nbytes(), "lowering": list(self.lowering)}

    def render_report(self, report: dict[str, Any], console, *, max_rows: int = 16) -> None:
        """Print `report` (from `report()`) on a rich console; `max_rows` bounds long tables."""
        ops = ", ".join(f"{k} x{v}" for k, v in report["ops"].items())
        console.print(f"[bold]{report['program']}[/] for the [bold]{report['backend']}[/] "
                      f"backend: {report['nodes']} nodes ({ops}), {report['params']:,} "
                      f"parameters, {report['param_bytes']:,} bytes")


class Backend:
    """Base class of every backend; subclasses set `name`, `program_class` and `lower`."""

    name: ClassVar[str] = ""
    program_class: ClassVar[type[Program]] = Program

    def lower(self, graph: Graph, hardware: Any = None, *, source: str | None = None,
              **options: Any) -> Program:
        """Lower `graph` for this target (with a hardware description where it needs one);
        `source` names where the graph came from (kept in the program's manifest)."""
        raise NotImplementedError(f"backend {self.name!r} does not implement lower()")

    def resolve_hardware(self, text: str | None) -> Any:
        """The hardware argument of `lower` named by `text` (a preset name or a file; None:
        the backend's default). This base takes no hardware description."""
        if text is not None:
            raise ConfigError(f"the {self.name} backend takes no hardware description "
                              f"(got {text!r})")
        return None

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The lowering options this backend takes: its `lower`'s keyword-only parameters,
        `source` excepted."""
        params = inspect.signature(cls.lower).parameters.values()
        return tuple(p.name for p in params
                     if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "source")

    def check_options(self, options: Mapping[str, Any]) -> None:
        """ConfigError naming the first option this backend does not take."""
        known = self.option_names()
        for key in options:
            if key not in known:
                takes = f"its options: {', '.join(known)}" if known else "it takes none"
                raise ConfigError(f"the {self.name} backend takes no option {key!r} ({takes})")


# -- the manifest -----------------------------------------------------------------------------
def save_folder(program: Program, folder: str | Path, files: Mapping[str, str]) -> Path:
    """Write a program folder atomically: graph.onnx, the backend's text `files` ({name:
    text}) and the manifest; returns its path."""
    from snncompile.atomic import atomic_path
    from snncompile.ir import serde
    folder = Path(folder)
    with atomic_path(folder, directory=True) as tmp:
        serde.save(program.graph, tmp / "graph.onnx")
        for name, text in files.items():
            (tmp / name).write_text(text)
        write_manifest(tmp, program.backend, program.source, lowering=tuple(program.lowering),
                       sha256=folder_hashes(tmp))
    return folder


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def folder_hashes(folder: str | Path) -> dict[str, str]:
    """{file name: sha256 hex} of every file of a program folder but the manifest (the graph,
    its external data and the backend's files). Hidden files (".DS_Store", an editor's swap
    file) are nobody's input and are left out."""
    folder = Path(folder)
    return {p.name: _sha256(p) for p in sorted(folder.iterdir())
            if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")}


def check_hashes(folder: str | Path, meta: Mapping[str, Any]) -> None:
    """SimulationError naming the first file of `folder` that is not the one `save` wrote
    (changed, missing or added since), by the manifest's `sha256` field. Backends call it
    at the end of `load`, after checking each file's content, so that a bad file is named
    by what is wrong with it and a well-formed but edited one still fails."""
    folder = Path(folder)
    want = meta["sha256"]
    have = folder_hashes(folder)
    for name in sorted(set(want) | set(have)):
        if name not in have:
            raise SimulationError(f"{str(folder / name)!r} is missing (the program was saved "
                                  f"with it)")
        if name not in want:
            raise SimulationError(f"{str(folder / name)!r} was not written by save (not in "
                                  f"{MANIFEST}'s sha256)")
        if have[name] != want[name]:
            raise SimulationError(f"{str(folder / name)!r} changed since the program was saved "
                                  f"(sha256 differs from {MANIFEST}); lower the program again")


def open_folder(folder: str | Path, backend: str, files: Sequence[str]) -> dict[str, Any]:
    """The checked manifest of `backend`'s program folder, after checking that graph.onnx and
    the backend's `files` are present (SimulationError naming the missing ones)."""
    folder = Path(folder)
    meta = read_manifest(folder, backend)
    missing = [f for f in ("graph.onnx", *files) if not (folder / f).is_file()]
    if missing:
        raise SimulationError(f"{str(folder)!r} is not a complete program folder: "
                              f"missing {', '.join(missing)}")
    return meta


def write_manifest(folder: Path, backend: str, source: str | None,
                   lowering: Sequence[str] = (), **extra: Any) -> None:
    """Write `program.json` into `folder` (the caller's temporary program folder);
    `lowering` lists the names of the lowering steps that produced the program."""
    doc = {"format": PROGRAM_FORMAT, "backend": backend, "source": source,
           "lowering": list(lowering), **extra}
    (Path(folder) / MANIFEST).write_text(json.dumps(doc, indent=1))


def read_manifest(folder: str | Path, backend: str | None = None) -> dict[str, Any]:
    """The checked manifest of a program folder (SimulationError naming what is wrong);
    with `backend`, the folder must be that backend's. `source` is a string or None and
    `lowering` a list of step names (an empty list when absent)."""
    folder = Path(folder)
    try:
        is_dir = folder.is_dir()
    except OSError as exc:  # pathlib swallows only ENOENT / ENOTDIR (not ENAMETOOLONG, EACCES)
        raise SimulationError(f"{str(folder)[:200]!r} cannot be read ({exc.strerror})") from None
    if not is_dir:
        raise SimulationError(f"{str(folder)!r} is not a program folder (no such directory)")
    path = folder / MANIFEST
    if not path.is_file():
        raise SimulationError(f"{str(folder)!r} is not a complete program folder: "
                              f"missing {MANIFEST}")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SimulationError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != PROGRAM_FORMAT:
        raise SimulationError(f"{path}: format is not {PROGRAM_FORMAT!r}")
    if not isinstance(meta.get("backend"), str):
        raise SimulationError(f"{path}: field 'backend' is missing")
    if backend is not None and meta["backend"] != backend:
        raise SimulationError(f"{path}: backend {meta['backend']!r} is not {backend!r}")
    meta.setdefault("source", None)
    if meta["source"] is not None and not isinstance(meta["source"], str):
        raise SimulationError(f"{path}: field 'source' must be a string or null")
    meta.setdefault("lowering", [])
    log = meta["lowering"]
    if not isinstance(log, list) or not all(isinstance(x, str) for x in log):
        raise SimulationError(f"{path}: field 'lowering' must be a list of step names")
    sums = meta.get("sha256")
    if not (isinstance(sums, dict) and all(
            isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in sums.items())):
        raise SimulationError(f"{path}: field 'sha256' must map each file of the folder to its "
                              f"sha256 (a folder written by an older snncompile: lower again)")
    return meta

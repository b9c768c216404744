"""hypothesis strategies: hardware files, cost tables, sweep specs and CLI arguments, each
built around the bundled documents (backends/accum/presets, energy/tables, examples/sweeps) so
that most draws are near-valid and reach past the first check.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from .mutators import HOSTILE

ROOT = Path(__file__).resolve().parents[2]
PRESETS = {p.stem: tomllib.loads(p.read_text())
           for p in sorted((ROOT / "backends/accum/presets").glob("*.toml"))}
TABLES = {p.stem: tomllib.loads(p.read_text())
          for p in sorted((ROOT / "energy/tables").glob("*.toml"))}
SWEEPS = {p.stem: tomllib.loads(p.read_text())
          for p in sorted((ROOT / "examples/sweeps").glob("*.toml"))}

# Scalars: the hostile list, arbitrary ints and floats (NaN and Inf included), short text.
scalars = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=0, max_value=64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(min_value=-3, max_value=2**33), max_size=3),
)


def _leaves(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _leaves(v, prefix + (k,)) if isinstance(v, dict) else [prefix + (k,)]
    return out


def _set(doc: dict, path: tuple, value: Any) -> None:
    for k in path[:-1]:
        doc = doc[k]
    doc[path[-1]] = value


def _get(doc: dict, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _delete(doc: dict, path: tuple) -> None:
    for k in path[:-1]:
        doc = doc[k]
    doc.pop(path[-1], None)


@st.composite
def edited(draw, bases: dict[str, dict], extra_edits=None) -> tuple[str, dict, list[str]]:
    """(base name, edited copy, the edits): 0 to 3 leaves replaced (hostile, scaled or
    deleted), or a key added."""
    name = draw(st.sampled_from(sorted(bases)))
    doc = copy.deepcopy(bases[name])
    edits: list[str] = []
    leaves = _leaves(doc)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(leaves))
        kind = draw(st.sampled_from(["hostile", "hostile", "scale", "delete", "add"]))
        try:
            old = _get(doc, path)
        except (KeyError, TypeError):
            continue
        if kind == "delete":
            _delete(doc, path)
        elif kind == "add":
            path = path[:-1] + (draw(st.sampled_from(["extra", "unknown", "x" * 300])),)
            _set(doc, path, draw(scalars))
        elif kind == "scale" and isinstance(old, (int, float)) and not isinstance(old, bool):
            f = draw(st.sampled_from([0, -1, 2, 16, 1024, 2**20, 2**40, 0.5]))
            _set(doc, path, type(old)(old * f) if isinstance(old, int) and f == int(f) else
                 old * f)
        else:
            _set(doc, path, draw(scalars))
        edits.append(f"{'.'.join(map(str, path))} {kind} -> "
                     f"{_short(_get(doc, path)) if kind != 'delete' else '<deleted>'}")
    if extra_edits is not None:
        edits += draw(extra_edits(doc))
    return name, doc, edits


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:40] + f"...({len(s)} chars)"


@st.composite
def _mesh_edit(draw, doc):
    """A consistent mesh change (rows x cols = cores), so that valid chips get simulated."""
    if draw(st.booleans()) or "chip" not in doc or not isinstance(doc["chip"], dict):
        return []
    sizes = st.one_of(st.integers(1, 40), st.sampled_from([1, 10**4, 10**5, 2**31]))
    r, c = draw(sizes), draw(sizes)
    doc["chip"]["mesh"] = [r, c]
    doc["chip"]["cores"] = r * c
    return [f"chip.mesh = [{r}, {c}], chip.cores = {r * c}"]


def hardware_docs():
    return edited(PRESETS, lambda doc: _mesh_edit(doc))


@st.composite
def _every_pj(draw, doc):
    """Every constant's `pj` set to one edge value (0, the top of the range, a denormal)."""
    consts = doc.get("constants")
    if draw(st.integers(0, 3)) or not isinstance(consts, dict):
        return []
    v = draw(st.sampled_from([0.0, 1e6, 5e-324, 1e-300]))
    for c in consts.values():
        if isinstance(c, dict) and "pj" in c:
            c["pj"] = v
    return [f"every constants.*.pj = {v}"]


def cost_table_docs():
    return edited(TABLES, lambda doc: _every_pj(doc))


def sweep_docs():
    return edited(SWEEPS)


# -- CLI arguments -----------------------------------------------------------------------------
numbers_text = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "-1", "0", "1", "0.5", "1e308", "1e-320",
                     "", " ", "abc", "\udcff", str(2**70), str(2**63), "-0", "0x10", "1_000"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
)
# --tokens: small valid counts, and values past every range (a valid 100,000 is legitimately
# slow, not a hang, so it is not drawn).
token_counts = st.one_of(
    st.integers(min_value=0, max_value=6).map(str),
    st.sampled_from(["-1", "100001", str(2**31), str(2**63), str(2**70), "nan", "inf", "",
                     "abc", "\udcff", "1.5", "1e3"]),
    st.integers(min_value=10**6, max_value=2**80).map(str),
)
# argv cannot hold a NUL byte (execve ends each argument there), so the CLI text has none.
argv_text = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=8)
prompts = st.one_of(st.sampled_from(["hi", "", "\udcff\udcfe", "\u00e9t\u00e9 \U0001f600",
                                     "\x01\x7f", "a" * 500]),
                    argv_text)
names = st.one_of(st.sampled_from(["default", "small", "large", "", "nope", "\udcff",
                                   "paper-45nm", "accum", "horowitz-45nm", "/proc/x",
                                   "/dev/null", ".", "a" * 300, "mamba2-130m",
                                   "mamba2-1.3b"]),
                  argv_text)


@st.composite
def cli_args(draw, model: str, prog: str, out: str) -> list[str]:
    """One command line over the tiny model file `model` and its program folder `prog`;
    outputs go under `out`."""
    cmd = draw(st.sampled_from(["inspect", "run", "run-json", "simulate", "energy-config",
                                "energy-model", "hw", "lower"]))
    if draw(st.integers(0, 9)) == 0:  # a hostile path where the model or program goes
        bad = draw(st.sampled_from(["a" * 300, "/dev/null", "/proc", "/proc/self/status", "",
                                    "\udcff.onnx", out, model + "/x", "missing.onnx", "-"]))
        model, prog = (bad, prog) if draw(st.booleans()) else (model, bad)
    if cmd == "inspect":
        return ["inspect", model, "--fire-rate", draw(numbers_text)]
    if cmd in ("run", "run-json"):
        a = ["run", model, "--prompt", draw(prompts), "--tokens", draw(token_counts)]
        if draw(st.booleans()):
            a += ["--seed", draw(numbers_text)]
        if draw(st.booleans()):
            a += ["--temperature", draw(numbers_text)]
        return a + (["--json"] if cmd == "run-json" else [])
    if cmd == "simulate":
        return ["simulate", prog, "--prompt", draw(prompts), "--tokens", draw(token_counts),
                "--json", draw(st.sampled_from([out + "/sim.json", prog + "/graph.onnx",
                                                "-", out, "/proc/sim.json", ""]))]
    if cmd == "energy-config":
        return ["energy", "--config", draw(names), "--fire-rate", draw(numbers_text),
                "--preset", draw(names), "--tokens", draw(token_counts)]
    if cmd == "energy-model":
        return ["energy", "--model", model, "--mean-spikes", draw(numbers_text), "--preset",
                draw(names)]
    if cmd == "hw":
        return ["hw", "show", draw(names)] + (["--json"] if draw(st.booleans()) else [])
    return ["lower", model, "--hw", draw(names), "-o",
            draw(st.sampled_from([out + "/p", out, model, "/proc/p", model + "/p", ""])),
            "--cores", draw(numbers_text)]

"""Mutation fuzzer for program folders: the tiny SpikingMamba lowered by `snncompile lower`
(accum and loihi backends), one file mutated per case: program.json, mapping.json,
hardware.toml, loihi.json (structured: one JSON / TOML node replaced, deleted or added, or
bytes) or graph.onnx (bytes or ModelProto fields). Half the cases re-seal the manifest's
sha256 after the edit, as a user who edits a program and fixes its hashes would, so that the
mutation reaches the backend's own validation.

Oracle: `load_program` raises a typed error, or the program runs and its result equals the
reference interpreter on the loaded graph (`ReferenceInterpreter(program.graph)`): for accum,
the simulator's greedy continuation equal and its logits within 1e-9; for loihi, `run`'s
logits. Every fourth accum case goes through `snncompile simulate --json` instead: exit 2
with one `error:` line, or exit 0 with sim.json's continuation equal to the reference.
"""

from __future__ import annotations

import json
import random
import shutil
import tomllib

import onnx
import pytest
from click.testing import CliRunner

from snncompile.backends import load_program
from snncompile.backends.reference import ReferenceInterpreter
from snncompile.cli import main
from snncompile.data.tokenizer import decode, encode

from .mutators import mutate_bytes, mutate_json_doc, mutate_model, toml_dumps
from .oracle import (BASE_SEED, CASES, Mismatch, check_tally, cli_outcome, run_case,
                     same_logits, tally)

PROMPT = "hi"
N_NEW = 3


def reseal(folder) -> None:
    """Recompute the manifest's sha256 entries (when it has them and still parses)."""
    from snncompile.backends import base
    man = folder / base.MANIFEST
    try:
        doc = json.loads(man.read_text())
    except (ValueError, UnicodeDecodeError):
        return
    if isinstance(doc, dict) and isinstance(doc.get("sha256"), dict) and hasattr(
            base, "folder_hashes"):
        doc["sha256"] = base.folder_hashes(folder)
        man.write_text(json.dumps(doc, indent=1))


def mutate_file(rng: random.Random, path) -> str:
    data = path.read_bytes()
    name = path.name
    if name == "graph.onnx":
        if rng.random() < 0.3:
            new, what = mutate_bytes(rng, data)
        else:
            new, what = mutate_model(rng, onnx.load_from_string(data), n=1)
        path.write_bytes(new)
        return what
    if rng.random() < 0.2:
        new, what = mutate_bytes(rng, data)
        path.write_bytes(new)
        return what
    if name.endswith(".json"):
        doc, what = mutate_json_doc(rng, json.loads(data))
        path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8", errors="surrogatepass")
        return what
    doc, what = mutate_json_doc(rng, tomllib.loads(data.decode()))
    if not isinstance(doc, dict):
        doc = {"value": doc}
    path.write_text(toml_dumps(doc), encoding="utf-8", errors="surrogatepass")
    return what


def check_api(folder, backend: str) -> None:
    prog = load_program(folder)
    ids = encode(PROMPT)
    ref = ReferenceInterpreter(prog.graph, device="cpu")
    if backend == "accum":
        from snncompile.simulator import Simulator
        new = Simulator(prog).generate(ids, N_NEW)
        want = ref.generate(ids, N_NEW).tokens
        if new != want:
            raise Mismatch(f"continuation {new}, reference {want}")
        fed = ids + new[:-1]
        same_logits(Simulator(prog).run(fed),
                    [x.double().numpy() for x in ReferenceInterpreter(
                        prog.graph, device="cpu").run(fed)[0]])
    else:
        fed = ids + [1, 2]
        same_logits(prog.run(fed), [x.double().numpy() for x in ref.run(fed)[0]])


def check_cli(folder, out) -> None:
    r = CliRunner().invoke(main, ["simulate", str(folder), "--prompt", PROMPT, "--tokens",
                                  str(N_NEW), "--json", str(out)])
    cli_outcome(r, what="simulate")
    doc = json.loads(out.read_text())
    prog = load_program(folder)
    want = decode(ReferenceInterpreter(prog.graph, device="cpu").generate(
        encode(PROMPT), N_NEW).tokens)
    if doc.get("continuation") != want:
        raise Mismatch(f"simulate exit 0 with continuation {doc.get('continuation')!r}, the "
                       f"reference {want!r}")


@pytest.mark.parametrize("backend", ["accum", "loihi"])
def test_program_folder_fuzzer(backend, program_folders, tmp_path):
    t = tally(f"program-{backend}")
    src = program_folders[backend]
    files = sorted(p.name for p in src.iterdir() if p.is_file())
    for k in range(CASES):
        seed = BASE_SEED * 1_000_003 + k + (0 if backend == "accum" else 500_000)
        rng = random.Random(seed)
        folder = tmp_path / f"p{k}"
        shutil.copytree(src, folder)
        target = rng.choice(files)
        what = mutate_file(rng, folder / target)
        sealed = rng.random() < 0.5
        if sealed:
            reseal(folder)
        cli = backend == "accum" and k % 4 == 0
        desc = lambda: (f"{backend} {target}: {what}{' (sha256 re-sealed)' if sealed else ''}"
                        f"{' via CLI simulate' if cli else ''}")
        run_case(t, seed, desc,
                 (lambda: check_cli(folder, tmp_path / f"sim{k}.json")) if cli
                 else (lambda: check_api(folder, backend)))
        shutil.rmtree(folder, ignore_errors=True)
    check_tally(t)


@pytest.mark.parametrize("backend", ["accum", "loihi"])
def test_unmutated_program_equals_reference(backend, program_folders, tmp_path):
    check_api(program_folders[backend], backend)
    if backend == "accum":
        check_cli(program_folders[backend], tmp_path / "sim.json")

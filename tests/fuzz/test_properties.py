"""Property tests (hypothesis) for hardware files, cost tables, sweep specs and CLI arguments.

Each test draws CASES documents or command lines (hypothesis, seeded with SNNCOMPILE_FUZZ_SEED:
the same draws on every run of the same tree), runs each through the oracle (oracle.run_case:
typed error, or a result equal to the reference; time-limited), and fails at the end listing
every other outcome with its example number ("seed=") and the drawn input, which replays it.
No shrinking: every draw counts once in the figures.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, seed, settings

from snncompile.backends import get_backend
from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.reference import ReferenceInterpreter
from snncompile.cli import main
from snncompile.data.tokenizer import encode

from . import strategies as S
from .mutators import toml_dumps
from .oracle import (BASE_SEED, CASES, NONFINITE, Mismatch, brief, check_tally, cli_outcome,
                     is_finite_number, run_case, same_logits, tally)

SETTINGS = settings(max_examples=CASES, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=False)


def _drive(name: str, strategy, check) -> None:
    """Run `check(value)` for each drawn value through the oracle, then check the tally."""
    t = tally(name)

    @seed(BASE_SEED)
    @SETTINGS
    @given(strategy)
    def each(value):
        n = t.tried
        run_case(t, n, lambda: brief(value), lambda: check(value))

    each()
    check_tally(t)


# -- hardware files ------------------------------------------------------------------------------
def _lower_and_compare(graph, hw: HardwareSpec) -> None:
    from snncompile.simulator import Simulator
    prog = get_backend("accum").lower(graph, hw)
    ids = encode("hi")
    sim = Simulator(prog)
    new = sim.generate(ids, 2)
    ref = ReferenceInterpreter(prog.graph, device="cpu")
    want = ref.generate(ids, 2).tokens
    if new != want:
        raise Mismatch(f"continuation {new}, reference {want}")
    same_logits(Simulator(prog).run(ids + new[:-1]),
                [x.double().numpy() for x in ReferenceInterpreter(
                    prog.graph, device="cpu").run(ids + new[:-1])[0]])
    tot = sim.counters.totals()
    for key, v in vars(tot).items() if hasattr(tot, "__dict__") else ():
        if isinstance(v, (int, float)) and not (is_finite_number(v) and 0 <= v < 2**63):
            raise Mismatch(f"counter {key} = {v}")
    if not 0 < tot.cycles < 2**63:
        raise Mismatch(f"cycles = {tot.cycles}")
    # every simulated step ends with a barrier (simulator/timing.py), so a count below this
    # bound has wrapped around
    if tot.cycles < hw.barrier_cycles * sim.counters.tokens:
        raise Mismatch(f"cycles = {tot.cycles} < barrier_cycles {hw.barrier_cycles} x "
                       f"{sim.counters.tokens} tokens: the count wrapped")


def test_hardware_files(tiny_graph, tmp_path):
    def check(drawn):
        _base, doc, _edits = drawn
        via_file = len(_edits) % 2 == 1
        if via_file:
            p = tmp_path / "hw.toml"
            p.write_text(toml_dumps(doc), encoding="utf-8", errors="surrogatepass")
            hw = HardwareSpec.from_toml(p)
        else:
            hw = HardwareSpec.from_dict(doc)
        back = HardwareSpec.from_toml(_write(tmp_path / "back.toml", hw.to_toml()))
        if back != hw:
            raise Mismatch(f"to_toml does not read back: {back} != {hw}")
        _lower_and_compare(tiny_graph, hw)
    _drive("hardware", S.hardware_docs(), check)


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


# -- cost tables ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim_counters(program_folders):
    from snncompile.backends import load_program
    from snncompile.simulator import Simulator
    prog = load_program(program_folders["accum"])
    sim = Simulator(prog)
    sim.generate(encode("hi"), 2)
    return sim.counters, prog.hardware.to_dict()


def test_cost_tables(sim_counters, tmp_path):
    from snncompile.energy.price import price
    from rich.console import Console

    from snncompile.energy.report import render, report_dict, to_json
    from snncompile.energy.table import load_table, parse_table
    counters, hw = sim_counters

    def check(drawn):
        _base, doc, edits = drawn
        if len(edits) % 2:
            p = tmp_path / "table.toml"
            p.write_text(toml_dumps(doc), encoding="utf-8", errors="surrogatepass")
            table = load_table(p, hardware=hw)
        else:
            table = parse_table(doc, where="fuzz", hardware=hw)
        rep = price(counters, table)
        text = to_json(rep)
        if "NaN" in text or "Infinity" in text:
            raise Mismatch("energy JSON holds a non-finite number")
        json.loads(text)
        for what, v in (("E_SNN", rep.snn.total), ("E_ANN", rep.ann.total),
                        ("ratio", rep.ratio)):
            if v is not None and not math.isfinite(v):
                raise Mismatch(f"{what} = {v}")
        report_dict(rep)
        console = Console(file=io.StringIO(), width=160)
        render(rep, console)
        shown = console.file.getvalue()
        if NONFINITE.search(shown):
            raise Mismatch(f"the energy table prints a non-finite number: {shown[-300:]!r}")
    _drive("cost-table", S.cost_table_docs(), check)


# -- sweep specs ---------------------------------------------------------------------------------
# A spec is parsed, its points enumerated (a huge product must be refused, not enumerated for
# ever), and its largest point is lowered, simulated and priced
# (`run_point`): the record must be JSON with finite numbers and the right token count.
def test_sweep_specs(tmp_path):
    from snncompile.sweep.point import run_point
    from snncompile.sweep.runner import tasks_of
    from snncompile.sweep.spec import load_spec, parse_spec

    def check(drawn):
        _base, doc, edits = drawn
        if len(edits) % 2:
            p = tmp_path / "spec.toml"
            p.write_text(toml_dumps(doc), encoding="utf-8", errors="surrogatepass")
            spec = load_spec(p)
        else:
            spec = parse_spec(doc, base_dir=tmp_path, where="fuzz")
        tasks = tasks_of(spec)
        if len(tasks) != spec.n_points():
            raise Mismatch(f"{len(tasks)} tasks for {spec.n_points()} points")
        json.dumps([t.axes for t in tasks], allow_nan=False)
        if tasks:  # one point of every accepted spec runs: the largest chip
            task = max(tasks, key=lambda t: t.hardware["chip"]["cores"])
            rec = run_point(task)
            try:
                json.dumps(rec, allow_nan=False)
            except ValueError:
                raise Mismatch(f"point record holds a non-finite number: {brief(rec)}") from None
            if rec["status"] == "ok":
                want = len(task.prompt_ids) + max(task.new_tokens - 1, 0)
                if rec["tokens"] != want or not 0 < rec["total"]["cycles"] < 2**63:
                    raise Mismatch(f"point record: tokens {rec['tokens']} (want {want}), "
                                   f"cycles {rec['total']['cycles']}")
    _drive("sweep-spec", S.sweep_docs(), check)


# -- CLI arguments -------------------------------------------------------------------------------
def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _check_simulate_result(args, r, prog: Path) -> None:
    """After `simulate` exits 0: the continuation it wrote (sim.json, or JSON on stdout)
    equals the reference interpreter's greedy continuation on the program's graph."""
    from snncompile.backends import load_program
    from snncompile.data.tokenizer import decode
    target = args[args.index("--json") + 1]
    doc = None
    if target not in ("", "-") and Path(target).is_file():
        doc = json.loads(Path(target).read_text())
    else:
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            return  # the document went somewhere else (a folder, /proc): nothing to compare
    if not isinstance(doc, dict) or "continuation" not in doc:
        return
    n = int(args[args.index("--tokens") + 1])
    ids = encode(args[args.index("--prompt") + 1])
    graph = load_program(prog).graph
    want = decode(ReferenceInterpreter(graph, device="cpu").generate(ids, n).tokens)
    if doc["continuation"] != want:
        raise Mismatch(f"simulate exit 0 with continuation {doc['continuation']!r}, the "
                       f"reference {want!r}")


def test_cli_arguments(tiny_model_file, program_folders, tmp_path):
    work = tmp_path / "w"
    inputs = tmp_path / "in"
    inputs.mkdir()
    model = inputs / "model.onnx"
    prog = inputs / "prog"
    shutil.copy(tiny_model_file, model)
    shutil.copytree(program_folders["accum"], prog)
    before = _digest(inputs)

    def check(args):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        cwd = os.getcwd()
        os.chdir(work)
        try:
            r = CliRunner().invoke(main, args)
        finally:
            os.chdir(cwd)
        try:
            cli_outcome(r, what=args[0])
        finally:
            after = _digest(inputs)
            if after != before:
                changed = sorted(set(after.items()) ^ set(before.items()))
                shutil.rmtree(inputs)
                inputs.mkdir()
                shutil.copy(tiny_model_file, model)
                shutil.copytree(program_folders["accum"], prog)
                raise Mismatch(f"exit {r.exit_code} but an input changed: {changed[:2]}")
        if args[0] == "simulate" and args[1] == str(prog):
            _check_simulate_result(args, r, prog)
        greedy = float(args[args.index("--temperature") + 1]
                       if "--temperature" in args else 0) == 0
        if args[0] == "run" and args[1] == str(model) and "--json" in args and greedy:
            doc = json.loads(r.stdout)
            from snncompile.ir import serde
            n = int(args[args.index("--tokens") + 1].replace("_", ""), 0) \
                if "--tokens" in args else 32
            ids = encode(args[args.index("--prompt") + 1])
            want = ReferenceInterpreter(serde.load(model), device="cpu").generate(ids, n)
            got = doc.get("token_ids")
            if got is not None and list(got) not in (want.tokens, list(ids) + want.tokens):
                raise Mismatch(f"run --json token_ids {got}, reference {want.tokens}")

    _drive("cli-arguments", S.cli_args(str(model), str(prog), str(work)), check)

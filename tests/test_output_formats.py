"""One output format (docs/output-formats.md): every output of `snncompile demo` and of a sweep
checked against its documented schema; the same field names for the same things in every
command; `--json [FILE]` the same everywhere; `hw show --toml` read back by `hw show` and
`lower --hw`; table titles that say per token or total over N tokens; CSVs with a token count.

The schemas are small dicts: {key: spec} is an object whose keys are required ("?key":
optional), [spec] a list of spec, Map(spec) an object of arbitrary keys, a type or a tuple of
types a leaf (None in a tuple allows null)."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.errors import OutputError
from snncompile.models.checkpoint import save_checkpoint
from snncompile.models.config import NeuronConfig

NUM = (int, float)
OPT_NUM = (int, float, type(None))
COMPONENTS = ("ac", "mac", "neuron", "memory", "noc", "static", "total")
LAYER_KEYS = ("acs", "macs", "dense_macs", "spikes", "neuron_updates", "weight_bytes_read",
              "state_bytes_read", "state_bytes_written", "spike_messages", "noc_hops", "cycles")


class Map:
    def __init__(self, spec):
        self.spec = spec


def check(value, spec, where="$"):
    """Assert that `value` matches `spec` (module docstring)."""
    if isinstance(spec, dict):
        assert isinstance(value, dict), f"{where}: expected an object, got {value!r:.80}"
        for key, sub in spec.items():
            name = key.lstrip("?")
            if name not in value:
                assert key.startswith("?"), f"{where}: missing field {name!r}"
                continue
            check(value[name], sub, f"{where}.{name}")
    elif isinstance(spec, list):
        assert isinstance(value, list), f"{where}: expected a list"
        for i, v in enumerate(value):
            check(v, spec[0], f"{where}[{i}]")
    elif isinstance(spec, Map):
        assert isinstance(value, dict), f"{where}: expected an object"
        for k, v in value.items():
            check(v, spec.spec, f"{where}.{k}")
    else:
        types = spec if isinstance(spec, tuple) else (spec,)
        assert isinstance(value, types) and not (isinstance(value, bool) and bool not in types), \
            f"{where}: {value!r:.80} is not {types}"
        if isinstance(value, float):
            assert math.isfinite(value), f"{where}: not finite"


ENERGY_J = {c: NUM for c in COMPONENTS}
COUNTS = Map(OPT_NUM)

SIM_SCHEMA = {
    "format": str, "program": str, "hardware": dict, "encoding": str, "clock_hz": NUM,
    "prompt": str, "continuation": str, "token_ids": [int], "tokens": int,
    "nodes": [{"name": str, "op": str, "block": (int, type(None)),
               **{k: int for k in LAYER_KEYS}, "dense_acs": NUM,
               "dense_weight_bytes_read": NUM, "dense_state_bytes_read": NUM,
               "dense_state_bytes_written": NUM}],
    "total": {**{k: int for k in LAYER_KEYS}, "time_s": NUM},
    "per_token": {**{k: NUM for k in LAYER_KEYS}, "time_s": NUM},
    "wall_time_s": NUM,
    "cores": [{"core": int, "row": int, "col": int, "acs": int, "weight_bytes_read": int,
               "messages_received": int, "busy_cycles": int, "dense_cycles": int}],
}
ENERGY_SCHEMA = {
    "format": str, "mode": str, "table": {"name": str, "prices": dict}, "tokens": int,
    "?lm_head": bool, "?prompt": str, "?continuation": str,
    "ratio": OPT_NUM, "ratio_basis": str, "ratio_compute": OPT_NUM,
    "total": {"snn_j": ENERGY_J, "ann_j": ENERGY_J, "counts": COUNTS, "time_s": OPT_NUM},
    "per_token": {"snn_j": ENERGY_J, "ann_j": ENERGY_J, "counts": COUNTS, "time_s": OPT_NUM},
    "blocks": [{"name": str, "block": (int, type(None)), "counts": COUNTS, "snn_j": ENERGY_J,
                "ann_j": ENERGY_J, "ratio": OPT_NUM}],
    "nodes": [{"name": str, "op": str, "block": (int, type(None)), "counts": COUNTS,
               "snn_j": ENERGY_J, "ann_j": ENERGY_J}],
    "unpriced": Map(NUM), "notes": [str],
}
ENERGY_CSV_COLUMNS = ("level", "name", "op", "block", "tokens",
                      *(f"snn_{c}_j" for c in COMPONENTS), *(f"ann_{c}_j" for c in COMPONENTS),
                      "ratio", *LAYER_KEYS)
PER_TOKEN_J = {"snn_j": ENERGY_J, "ann_j": ENERGY_J}
SUMMARY_SCHEMA = {
    "format": str, "checkpoint": str, "output": str, "prompt": str, "continuation": str,
    "token_ids": [int], "new_tokens": int, "continuation_float": str,
    "continuation_reference": str, "simulator_matches_reference": bool,
    "quantized_matches_float": bool, "export_max_abs_logit_diff": NUM, "cores_used": int,
    "tokens": int, "per_token": {"cycles": NUM, "time_s": NUM, "acs": NUM, "macs": NUM},
    "firing_rate": NUM, "wall_time_s": Map(NUM),
    "energy": [{"preset": str, "per_token": PER_TOKEN_J, "ratio": OPT_NUM,
                "ratio_basis": str}],
    "files": [str],
}
POINT_OK = {
    "index": int, "axes": dict, "status": str, "error": type(None), "cores": int,
    "cores_used": int, "mapping": dict, "tokens": int, "continuation": str,
    "token_ids": [int], "total": {"cycles": int, "time_s": NUM},
    "per_token": {**{k: NUM for k in LAYER_KEYS}, "time_s": NUM},
    "energy": Map({"per_token": PER_TOKEN_J, "ratio": OPT_NUM, "ratio_basis": str}),
    "pareto": Map(bool),
}
POINT_FAILED = {"index": int, "axes": dict, "status": str,
                "error": {"type": str, "message": str}, "cores": int, "pareto": Map(bool)}
SWEEP_SCHEMA = {"format": str, "spec": dict,
                "run": {"executor": str, "wall_time_s": NUM}, "points": [dict]}
SWEEP_CSV_COLUMNS = ("point", "preset", "status", "tokens", "cores", "cores_used",
                     "cycles_per_token", "time_per_token_s", "acs_per_token", "macs_per_token",
                     "spikes_per_token", "noc_hops_per_token",
                     *(f"e_snn_{c}_j_per_token" for c in COMPONENTS), "e_ann_j_per_token",
                     "ratio", "ratio_basis", "pareto", "error")

# names the issue found used for different things (or in a second spelling); inputs kept as
# data (a hardware description, a cost table, a sweep spec, model metadata) are not walked
RETIRED = {"text", "layers", "totals", "node", "ops", "ratio_ann_over_snn", "wall_s",
           "time_per_token_s", "simulated_time_per_token_s", "tokens_generated",
           "layer_firing_rates"}
OPAQUE = {"hardware", "table", "spec", "metadata", "mapping", "axes"}


def check_names(doc, where="$"):
    """The naming conventions of docs/output-formats.md, recursively."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            assert k not in RETIRED, f"{where}: retired field name {k!r}"
            assert "_pj" not in k, f"{where}.{k}: JSON energies are in joules (_j)"
            if k == "tokens":
                assert isinstance(v, int) and not isinstance(v, bool), \
                    f"{where}.tokens must be a count"
            if k not in OPAQUE:
                check_names(v, f"{where}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            check_names(v, f"{where}[{i}]")


# -- snncompile demo --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_out(tmp_path_factory, calibrated_student):
    student = calibrated_student(0, NeuronConfig(kind="silif", D=4))
    tmp = tmp_path_factory.mktemp("formats")
    save_checkpoint(student, tmp / "student")
    out = tmp / "demo"
    r = CliRunner().invoke(main, ["demo", "--checkpoint", str(tmp / "student"), "-o", str(out),
                                  "--prompt", "ab", "--tokens", "3", "--json"])
    assert r.exit_code == 0, r.output
    return out, json.loads(r.stdout)


def test_demo_outputs_match_their_schemas(demo_out):
    out, printed = demo_out
    summary = json.loads((out / "summary.json").read_text())
    assert summary == printed  # demo --json prints what summary.json holds
    assert summary["format"] == "snncompile-demo-summary/1"
    check(summary, SUMMARY_SCHEMA)
    check_names(summary)
    assert summary["new_tokens"] == len(summary["token_ids"]) == 3
    assert summary["tokens"] == 2 + 3 - 1

    sim = json.loads((out / "sim.json").read_text())
    assert sim["format"] == "snncompile-sim/2"
    check(sim, SIM_SCHEMA)
    check_names(sim)
    assert sim["prompt"] == "ab" and sim["continuation"] == summary["continuation"]
    assert sim["token_ids"] == summary["token_ids"] and sim["tokens"] == summary["tokens"]
    for k in LAYER_KEYS:
        assert sim["total"][k] == sum(n[k] for n in sim["nodes"])
        assert sim["per_token"][k] == pytest.approx(sim["total"][k] / sim["tokens"])

    for preset in ("paper-45nm", "horowitz-45nm"):
        rep = json.loads((out / f"energy-{preset}.json").read_text())
        assert rep["format"] == "snncompile-energy/2"
        check(rep, ENERGY_SCHEMA)
        check_names(rep)
        assert rep["tokens"] == sim["tokens"]
        assert rep["total"]["snn_j"]["total"] == pytest.approx(
            rep["per_token"]["snn_j"]["total"] * rep["tokens"])
        assert [n["name"] for n in rep["nodes"]] == [n["name"] for n in sim["nodes"]]
        by = {e["preset"]: e for e in summary["energy"]}
        assert by[preset]["per_token"]["snn_j"]["total"] == pytest.approx(
            rep["per_token"]["snn_j"]["total"])
        rows = list(csv.DictReader(io.StringIO((out / f"energy-{preset}.csv").read_text())))
        assert set(ENERGY_CSV_COLUMNS) <= set(rows[0])
        assert {r["level"] for r in rows} == {"node", "block", "total"}
        assert {r["tokens"] for r in rows} == {str(sim["tokens"])}
        assert float(rows[-1]["snn_total_j"]) == pytest.approx(rep["total"]["snn_j"]["total"])
    mapping = json.loads((out / "mapping.json").read_text())
    assert mapping["cores_used"] == summary["cores_used"]


def test_energy_from_sim_json_totals_and_version_1(demo_out, tmp_path):
    """The energy command reads sim.json (version 2, and version 1) and says what its table
    holds: totals over N tokens."""
    out, _ = demo_out
    r = CliRunner().invoke(main, ["energy", "--from", str(out / "sim.json")])
    assert r.exit_code == 0, r.output
    tokens = json.loads((out / "sim.json").read_text())["tokens"]
    assert f"total over {tokens} tokens" in r.output and "per layer" not in r.output
    # the same run as a version 1 file (the previous writer's layout) prices the same
    v2 = json.loads((out / "sim.json").read_text())
    v1 = {k: v for k, v in v2.items() if k not in ("nodes", "total", "per_token", "token_ids",
                                                   "continuation")}
    v1.update(format="snncompile-sim/1", layers=v2["nodes"], text="ab" + v2["continuation"],
              totals={k: v2["total"][k] for k in LAYER_KEYS}, cycles=v2["total"]["cycles"],
              time_s=v2["total"]["time_s"])
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    a = json.loads(CliRunner().invoke(main, ["energy", "--from", str(out / "sim.json"),
                                             "--json"]).stdout)
    b = json.loads(CliRunner().invoke(main, ["energy", "--from", str(tmp_path / "v1.json"),
                                             "--json"]).stdout)
    assert a["total"] == b["total"] and a["ratio"] == b["ratio"]
    assert b["continuation"] == v2["continuation"]


# -- a sweep ----------------------------------------------------------------------------------
SPEC = """
[model]
config = { d_model = 32, n_layer = 2, vocab_size = 256, d_state = 8, headdim = 16 }
neuron = { kind = "silif", D = 4, theta = 0.5 }
seed = 0

[workload]
prompt = "hi"
tokens = 2

[hardware]
base = "small"

[axes]
"chip.mesh" = [[2, 2], [4, 4]]

[energy]
presets = ["accum", "paper-45nm"]
"""


def test_sweep_outputs_match_their_schemas(tmp_path):
    (tmp_path / "spec.toml").write_text(SPEC)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["sweep", str(tmp_path / "spec.toml"), "-o", str(out),
                                  "--no-png", "--json", "-"])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "-").exists()
    doc = json.loads((out / "results.json").read_text())
    assert json.loads(r.stdout) == doc
    assert doc["format"] == "snncompile-sweep-results/1"
    check(doc, SWEEP_SCHEMA)
    check_names(doc)
    by_status = {p["status"]: p for p in doc["points"]}
    check(by_status["ok"], POINT_OK)
    check(by_status["does_not_fit"], POINT_FAILED)
    ok = by_status["ok"]
    assert ok["tokens"] == 2 + 2 - 1
    assert ok["per_token"]["time_s"] == pytest.approx(ok["total"]["time_s"] / ok["tokens"])
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    assert set(SWEEP_CSV_COLUMNS) <= set(rows[0])
    ran = [row for row in rows if row["status"] == "ok"]
    assert ran and all(row["tokens"] == "3" for row in ran)
    assert float(ran[0]["e_snn_total_j_per_token"]) == pytest.approx(
        ok["energy"][ran[0]["preset"]]["per_token"]["snn_j"]["total"])


# -- --json [FILE] in every command -------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from snncompile.frontend import build_graph
    from snncompile.frontend.synthetic import random_state_dict
    from snncompile.ir import serde
    from snncompile.models.config import SpikingMambaConfig

    cfg = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                             spiking=True, neuron=NeuronConfig(kind="silif", D=4, theta=0.5))
    tmp = tmp_path_factory.mktemp("tiny")
    serde.save(build_graph(cfg, random_state_dict(cfg, 0)), tmp / "model.onnx")
    r = CliRunner().invoke(main, ["lower", str(tmp / "model.onnx"), "-o", str(tmp / "prog")])
    assert r.exit_code == 0, r.output
    return tmp


COMMANDS = {
    "inspect": (["inspect", "{m}/model.onnx"], "snncompile-inspect/1"),
    "run": (["run", "{m}/model.onnx", "--prompt", "hi", "--tokens", "2", "--device", "cpu"],
            "snncompile-run/1"),
    "simulate": (["simulate", "{m}/prog", "--prompt", "hi", "--tokens", "2"],
                 "snncompile-sim/2"),
    "energy": (["energy", "--model", "{m}/model.onnx", "--fire-rate", "0.1"],
               "snncompile-energy/2"),
    "hw show": (["hw", "show", "small"], "snncompile-hw/1"),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_json_option_is_the_same_in_every_command(name, tiny_model, tmp_path, monkeypatch):
    args, fmt = COMMANDS[name]
    args = [a.format(m=tiny_model) for a in args]
    monkeypatch.chdir(tmp_path)

    def ran(extra):
        r = CliRunner().invoke(main, args + extra)
        assert r.exit_code == 0, r.output
        return r

    plain = json.loads(ran(["--json"]).stdout)
    dash = json.loads(ran(["--json", "-"]).stdout)
    assert not (tmp_path / "-").exists()  # `-` is stdout, not a file named '-'
    r = ran(["--json", str(tmp_path / "doc.json")])
    written = json.loads((tmp_path / "doc.json").read_text())
    for doc in (plain, dash, written):
        assert doc["format"] == fmt
        check_names(doc)
    assert "wrote" in r.stderr and not r.stdout.lstrip().startswith("{")
    volatile = ("wall_time_s", "device")
    strip = (lambda d: {k: v for k, v in d.items() if k not in volatile})
    assert strip(plain) == strip(dash) == strip(written)
    if fmt == "snncompile-sim/2":
        check(written, {k: v for k, v in SIM_SCHEMA.items()})
    if fmt == "snncompile-energy/2":
        check(written, ENERGY_SCHEMA)


def test_inspect_and_run_use_the_shared_names(tiny_model):
    ins = json.loads(CliRunner().invoke(main, ["inspect", f"{tiny_model}/model.onnx",
                                               "--json"]).stdout)
    run = json.loads(CliRunner().invoke(main, ["run", f"{tiny_model}/prog", "--prompt", "hi",
                                               "--tokens", "2", "--json"]).stdout)
    sim = json.loads(CliRunner().invoke(main, ["simulate", f"{tiny_model}/prog", "--prompt",
                                               "hi", "--tokens", "2", "--json"]).stdout)
    assert "layers.0.in_proj_spike" in {n["name"] for n in ins["nodes"]}
    assert [n["name"] for n in run["nodes"]] == [n["name"] for n in sim["nodes"]]
    assert run["prompt"] == sim["prompt"] == "hi"
    assert run["continuation"] == sim["continuation"]
    assert run["token_ids"] == sim["token_ids"] and run["new_tokens"] == 2
    assert run["tokens"] == sim["tokens"] == 2 + 2 - 1


def test_json_refuses_nan():
    from snncompile.cli.jsonout import to_json_text

    with pytest.raises(OutputError, match="cannot write the JSON output"):
        to_json_text({"bpb": float("nan")})


# -- hw show --toml ----------------------------------------------------------------------------
def test_hw_show_toml_reads_back(tiny_model, tmp_path):
    from snncompile.backends.accum.hardware import HardwareSpec

    f = tmp_path / "chip.toml"
    r = CliRunner().invoke(main, ["hw", "show", "large", "--toml", str(f)])
    assert r.exit_code == 0, r.output
    assert HardwareSpec.load(f) == HardwareSpec.load("large")
    shown = CliRunner().invoke(main, ["hw", "show", str(f)])
    assert shown.exit_code == 0, shown.output
    assert HardwareSpec.load("large").name in shown.output
    low = CliRunner().invoke(main, ["lower", f"{tiny_model}/model.onnx", "--hw", str(f), "-o",
                                    str(tmp_path / "p"), "--json"])
    assert low.exit_code == 0, low.output
    assert json.loads(low.stdout)["format"] == "snncompile-lower/1"
    out = CliRunner().invoke(main, ["hw", "show", "large", "--toml"])
    assert out.exit_code == 0 and out.stdout == f.read_text()
    # the JSON form carries the same description
    doc = json.loads(CliRunner().invoke(main, ["hw", "show", str(f), "--json"]).stdout)
    assert HardwareSpec.from_dict(doc["hardware"]) == HardwareSpec.load("large")


def test_neuron_rates_by_ir_node_name_price_as_module_names():
    """evaluate reports neurons by IR node name; the energy analytic accepts them (and the
    module names of an older evaluate output) with the same result."""
    from snncompile.energy import rates_from_neurons, spiking_graph
    from snncompile.models.config import SpikingMambaConfig

    cfg = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                             spiking=True)
    graph = spiking_graph(cfg)
    modules = {f"backbone.layers.{i}.mixer.{p}_neuron": 0.1 * (i + 1) + (p == "out_proj") * 0.01
               for i in range(2) for p in ("in_proj", "out_proj")}
    nodes = {f"layers.{k.split('.')[2]}.{k.split('.')[4][:-7]}_spike": v
             for k, v in modules.items()}
    assert set(nodes) == {"layers.0.in_proj_spike", "layers.0.out_proj_spike",
                          "layers.1.in_proj_spike", "layers.1.out_proj_spike"}
    assert rates_from_neurons(graph, nodes) == rates_from_neurons(graph, modules)

"""Issue 13, classes 4 (resource bounds) and 5 (overflow), and the energy/inspect half of 3
(non-finite values): every reported input gives a typed error naming the field (exit 2, one
`error:` line) within a couple of seconds, instead of a hang, an allocator error, a wrapped
counter, a crash or an inf/NaN in a report.

Hangs are caught by running the CLI in-process and timing it (pytest-timeout is not
installed): each case must return within `FAST` seconds."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from snncompile.backends.accum import hardware as hwmod
from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.cli import main
from snncompile.errors import (ConfigError, CostTableError, HardwareFitError,
                               HardwareSpecError)
from snncompile.models.config import (MAX_PARAMS, MAX_SPIKE_LEVEL, SIZE_LIMITS, NeuronConfig,
                                      SpikingMambaConfig)

FAST = 3.0  # seconds: a hostile input must be refused at once (these used to hang)
PRESET = (Path(hwmod.PRESETS_DIR) / "default.toml").read_text()


def hw_file(tmp_path: Path, fname: str = "hw.toml", **fields) -> Path:
    """The default preset with `key = value` lines replaced (first occurrence of each key)."""
    text = PRESET
    for key, value in fields.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", lambda _m: f"{key} = {value}", text, count=1)
        assert n == 1, key
    p = tmp_path / fname
    p.write_text(text)
    return p


def invoke(args: list[str]):
    t0 = time.perf_counter()
    r = CliRunner().invoke(main, args)
    return r, time.perf_counter() - t0


def assert_cli_error(r, elapsed: float, *fragments: str) -> None:
    out = r.output.strip()
    assert r.exit_code == 2, out[-2000:]
    assert elapsed < FAST, f"took {elapsed:.1f} s"
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), out[:2000]
    assert len(lines[0]) < 1000  # a hostile value does not flood the terminal
    for f in fragments:
        assert f in out, (f, out)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    from snncompile.frontend import build_graph
    from snncompile.frontend.synthetic import random_state_dict
    from snncompile.ir import serde
    cfg = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=64, d_state=8, headdim=16,
                             spiking=True)
    p = tmp_path_factory.mktemp("model") / "m.onnx"
    serde.save(build_graph(cfg, random_state_dict(cfg, 0)), p)
    return p


# -- class 4/5: hardware files ----------------------------------------------------------------
HOSTILE_HW = [
    # (fields, field named in the error) -- each reported case, then the other maxima
    ({"cores": 10**8, "mesh": "[10000, 10000]"}, "chip.cores"),        # hung placement
    ({"cores": 10**10, "mesh": "[100000, 100000]"}, "chip.cores"),     # asked for 373 GiB
    ({"barrier_cycles": 2**63}, "sync.barrier_cycles"),                # wrapped cycle count
    ({"barrier_cycles": 2**63 - 1}, "sync.barrier_cycles"),
    ({"pipeline_depth": 2**62}, "core.pipeline_depth"),                # wrong table, then fail
    ({"name": '"' + "x" * 200_000 + '"'}, "chip.name"),                # hung the table
    ({"name": '"a\\u001b[2Jb"'}, "chip.name"),                         # terminal escape
    ({"name": '"two\\nlines"'}, "chip.name"),
    ({"cores": 4096, "mesh": "[1, 4096]"}, "chip.mesh"),
    ({"clock_hz": "1e-300"}, "chip.clock_hz"),                         # time would be inf
    ({"clock_hz": "1e300"}, "chip.clock_hz"),
    ({"neurons": 2**40}, "core.neurons"),
    ({"axons": 2**40}, "core.axons"),
    ({"weight_sram_bytes": 2**50}, "core.weight_sram_bytes"),
    ({"ac_lanes": 2**40}, "core.ac_lanes"),
    ({"graded_mult_cycles": 2**40}, "core.graded_mult_cycles"),
    ({"mac_lanes": 2**60}, "dense_unit.mac_lanes"),
    ({"hop_latency_cycles": 2**62}, "noc.hop_latency_cycles"),
    ({"hop_energy_pj": "1e308"}, "noc.hop_energy_pj"),
    ({"message_bits": 2**62}, "noc.message_bits"),
    ({"payload_bits": 65}, "spikes.payload_bits"),
]


@pytest.mark.parametrize("fields,field", HOSTILE_HW, ids=[f for _, f in HOSTILE_HW])
def test_hw_show_refuses_out_of_range_fields(tmp_path, fields, field):
    p = hw_file(tmp_path, **fields)
    with pytest.raises(HardwareSpecError, match=re.escape(field)):
        HardwareSpec.load(p)
    r, dt = invoke(["hw", "show", str(p)])
    assert_cli_error(r, dt, field, str(p))


@pytest.mark.parametrize("fields,field", HOSTILE_HW[:6], ids=[f for _, f in HOSTILE_HW[:6]])
def test_lower_refuses_out_of_range_hardware(tmp_path, model_file, fields, field):
    p = hw_file(tmp_path, **fields)
    r, dt = invoke(["lower", str(model_file), "--hw", str(p), "-o", str(tmp_path / "prog")])
    assert_cli_error(r, dt, field)
    assert not (tmp_path / "prog").exists()


def test_presets_and_declared_maxima_are_accepted(tmp_path):
    for name in hwmod.preset_names():
        HardwareSpec.load(name)
    p = hw_file(tmp_path, cores=hwmod.MAX_CORES, mesh="[1024, 1024]",
                barrier_cycles=hwmod.MAX_BARRIER_CYCLES,
                pipeline_depth=hwmod.MAX_PIPELINE_DEPTH,
                hop_latency_cycles=hwmod.MAX_HOP_LATENCY_CYCLES,
                graded_mult_cycles=hwmod.MAX_GRADED_MULT_CYCLES,
                name='"' + "n" * hwmod.MAX_NAME_CHARS + '"')
    spec = HardwareSpec.load(p)
    assert HardwareSpec.from_toml(p) == spec
    # markup in a name is shown as text, not parsed by rich (it crashed with MarkupError)
    q = hw_file(tmp_path, "markup.toml", name='"[/oops]"')
    r, dt = invoke(["hw", "show", str(q)])
    assert r.exit_code == 0 and "[/oops]" in r.output


def test_declared_ranges_bound_every_counter_below_int64():
    """The arithmetic of the hardware module's "Declared ranges": the worst token on the
    largest declared chip, model and sweep keeps cycles and hop counts below 2^63."""
    weights_per_core = hwmod.MAX_WEIGHT_SRAM_BYTES * 8 // 2          # 2-bit weights
    hops = 2 * hwmod.MAX_MESH_SIDE                                     # Manhattan diameter
    step = (hwmod.MAX_GRADED_MULT_CYCLES * weights_per_core + hwmod.MAX_PIPELINE_DEPTH
            + hwmod.MAX_HOP_LATENCY_CYCLES * hops + hwmod.MAX_BARRIER_CYCLES)
    assert step < 2**33
    from snncompile.sweep.spec import MAX_NEW_TOKENS, MAX_PROMPT_BYTES
    tokens = MAX_NEW_TOKENS + MAX_PROMPT_BYTES
    spiked_layers = 2 * SIZE_LIMITS["n_layer"]
    cycles_per_token = step * MAX_SPIKE_LEVEL * spiked_layers + MAX_PARAMS  # + dense unit
    assert cycles_per_token * tokens < 2**63
    hop_count_per_token = (MAX_SPIKE_LEVEL + 1) * MAX_PARAMS * hops
    assert hop_count_per_token * tokens < 2**63
    assert hwmod.MAX_CORES <= hwmod.MAX_MESH_SIDE**2


def test_program_with_a_huge_mesh_is_refused_on_load(tmp_path, model_file):
    """A program folder whose hardware.toml says 10^10 cores: refused before any per-core
    array is allocated (it asked for 373 GiB)."""
    prog = tmp_path / "prog"
    r, _ = invoke(["lower", str(model_file), "-o", str(prog)])
    assert r.exit_code == 0, r.output
    hwf = prog / "hardware.toml"
    text = re.sub(r"(?m)^cores = .*$", "cores = 10000000000", hwf.read_text())
    hwf.write_text(re.sub(r"(?m)^mesh = .*$", "mesh = [100000, 100000]", text))
    with pytest.raises(HardwareSpecError, match="chip.cores"):
        HardwareSpec.from_toml(hwf)
    r, dt = invoke(["simulate", str(prog), "--prompt", "!!", "--tokens", "1"])
    assert r.exit_code == 2 and dt < FAST and r.output.strip().startswith("error:"), r.output


def test_one_byte_sram_fails_fast_on_a_real_model_shape():
    """A 1-byte weight SRAM cuts mamba2-130m into millions of 1x1 tiles; packing them
    first-fit hung. The resource lower bound refuses it at once, naming the layer."""
    import dataclasses

    from snncompile.backends.accum.lowering import build_mapping
    from snncompile.frontend import build_graph
    from snncompile.models.config import PUBLIC_CONFIGS
    graph = build_graph(dataclasses.replace(PUBLIC_CONFIGS["mamba2-130m"], spiking=True))
    hw = dataclasses.replace(HardwareSpec.load("default"), weight_sram_bytes=1)
    t0 = time.perf_counter()
    with pytest.raises(HardwareFitError, match="layers.0.in_proj.*does not fit.*needs at least"):
        build_mapping(graph, hw)
    assert time.perf_counter() - t0 < FAST


def test_one_byte_sram_cli(tmp_path, model_file):
    p = hw_file(tmp_path, weight_sram_bytes=1)
    r, dt = invoke(["lower", str(model_file), "--hw", str(p), "-o", str(tmp_path / "prog")])
    assert_cli_error(r, dt, "does not fit", "layers.0.in_proj")


def test_min_cores_is_a_lower_bound_of_the_packing(spiking_config):
    """The early refusal is sound: it never exceeds what first-fit packing uses."""
    import dataclasses

    from snncompile.backends.accum.lowering import build_mapping
    from snncompile.backends.accum.partition import LayerTiles, min_cores, pack
    from snncompile.backends.accum.tiling import tile_projection
    from snncompile.frontend import build_graph
    graph = build_graph(spiking_config)
    for preset, kw in (("large", {}), ("large", {"weight_sram_bytes": 512}),
                       ("large", {"neurons_per_core": 7, "axons_per_core": 9})):
        hw = dataclasses.replace(HardwareSpec.load(preset), **kw)
        m = build_mapping(graph, hw)
        layers = [LayerTiles(lm.name, lm.block, tile_projection(lm.d_in, lm.d_out, hw, 0.25,
                                                                D=lm.D))
                  for lm in m.layers]
        assert min_cores(layers, hw)[-1] <= len(pack(layers, hw))


def test_placement_on_the_largest_mesh_is_fast_and_exact():
    from snncompile.backends.accum.placement import nearest_cores, snake_order
    for name, p in (("default", 0), ("default", 37), ("small", 3)):
        hw = HardwareSpec.load(name)
        want = sorted(range(hw.cores), key=lambda c: (hw.hops(c, p), c))
        assert nearest_cores(hw, p, hw.cores) == want
        assert nearest_cores(hw, p, 5) == want[:5]
    full = snake_order(8, 16, 3)
    assert [snake_order(8, 16, 3, limit=n) for n in (0, 1, 50, 500)] == [
        [], full[:1], full[:50], full]
    import dataclasses
    hw = dataclasses.replace(HardwareSpec.load("default"), cores=hwmod.MAX_CORES,
                             mesh=(1024, 1024))
    t0 = time.perf_counter()
    near = nearest_cores(hw, hw.core_id(512, 512), 100)
    assert time.perf_counter() - t0 < FAST
    assert near[0] == hw.core_id(512, 512) and all(hw.hops(c, near[0]) <= 7 for c in near)


# -- models and memory ------------------------------------------------------------------------
@pytest.mark.parametrize("field,value", [("vocab_size", 10**12), ("d_model", 2**17),
                                         ("n_layer", 10**6), ("d_state", 2**20),
                                         ("chunk_size", 2**40)])
def test_config_size_limits_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"config.{field} must be at most"):
        SpikingMambaConfig(**{field: value})


def test_config_parameter_limit_and_count():
    from snncompile.models.config import PUBLIC_CONFIGS
    from snncompile.models.lm import SpikingMambaLM
    for cfg in PUBLIC_CONFIGS.values():
        assert cfg.n_params() < MAX_PARAMS
    for kw in ({}, {"tie_embeddings": False, "bias": True, "conv_bias": False}):
        cfg = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=64, d_state=8, headdim=16,
                                 **kw)
        assert cfg.n_params() == sum(p.numel() for p in SpikingMambaLM(cfg).parameters())
    with pytest.raises(ConfigError, match="parameters .* more than the limit"):
        SpikingMambaConfig(d_model=65536, n_layer=2)
    with pytest.raises(ConfigError, match="neuron.D must be at most"):
        NeuronConfig(D=MAX_SPIKE_LEVEL + 1)


def test_memory_estimate_refuses_before_allocating(monkeypatch):
    from snncompile.frontend.synthetic import random_state_dict
    from snncompile.limits import ENV_LIMIT, available_memory, check_memory
    from snncompile.models.lm import SpikingMambaLM
    assert available_memory() is None or available_memory() > 0
    monkeypatch.setenv(ENV_LIMIT, str(1 << 20))
    with pytest.raises(ConfigError, match=r"the thing needs 2.0 MiB, 1.0 MiB available"):
        check_memory(2 << 20, "the thing")
    check_memory(1 << 19, "the thing")
    cfg = SpikingMambaConfig(d_model=256, n_layer=2, vocab_size=64, d_state=8, headdim=16)
    with pytest.raises(ConfigError, match="random weights .* needs .* available"):
        random_state_dict(cfg)
    with pytest.raises(ConfigError, match="model .* needs .* available"):
        SpikingMambaLM(cfg)


# -- sweeps -----------------------------------------------------------------------------------
SWEEP = """
[model]
config = {{ d_model = {d_model}, n_layer = {n_layer}, vocab_size = 256, d_state = 8, headdim = 16 }}
seed = 0

[workload]
prompt = "hi"
tokens = {tokens}

[hardware]
base = "small"

[axes]
{axes}
"""


def sweep_text(d_model=32, n_layer=2, tokens=2, axes='"core.ac_lanes" = [4, 16]'):
    return SWEEP.format(d_model=d_model, n_layer=n_layer, tokens=tokens, axes=axes)


def plan(tmp_path, text):
    p = tmp_path / "spec.toml"
    p.write_text(text)
    return invoke(["sweep", str(p), "--plan"])


@pytest.mark.parametrize("text,field", [
    (sweep_text(tokens=10**9), "workload.tokens"),
    (sweep_text(tokens=2049), "workload.tokens"),
    # 2,000 x 2,000 = 4 million points (hung building them)
    (sweep_text(axes='"noc.hop_latency_cycles" = [{}]\n"core.pipeline_depth" = [{}]'.format(
        ", ".join(map(str, range(2000))), ", ".join(map(str, range(2000))))),
     "4,000,000 points"),
    (sweep_text(axes='"mapping.slack" = [{}]'.format(
        ", ".join(str(i / 1e4) for i in range(20_000)))), 'axes."mapping.slack"'),
    (sweep_text(axes='"chip.cores" = [10000000000000000]'), "chip.cores"),  # squarest_mesh
    (sweep_text(axes='"sync.barrier_cycles" = [9223372036854775807]'), "sync.barrier_cycles"),
    (sweep_text(d_model=65536), "parameters"),           # died with an allocator error
    (sweep_text().replace('prompt = "hi"', 'prompt = "' + "p" * 5000 + '"'), "workload.prompt"),
    ('name = "' + "n" * 300 + '"\n' + sweep_text(), "name"),
], ids=["tokens-1e9", "tokens-2049", "4M-points", "long-axis", "cores-1e16", "barrier-2^63",
        "d_model-65536", "long-prompt", "long-name"])
def test_sweep_limits_name_the_field(tmp_path, text, field):
    from snncompile.sweep import parse_spec
    import tomllib
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=re.escape(field)):
        parse_spec(tomllib.loads(text))
    assert time.perf_counter() - t0 < FAST
    r, dt = plan(tmp_path, text)
    assert_cli_error(r, dt, field)


def test_sweep_refuses_a_model_larger_than_memory(tmp_path, monkeypatch):
    from snncompile.limits import ENV_LIMIT
    monkeypatch.setenv(ENV_LIMIT, str(1 << 30))
    r, dt = plan(tmp_path, sweep_text(d_model=1024, n_layer=24))
    assert_cli_error(r, dt, "model.config", "GiB, 1.0 GiB available")


def test_sweep_at_the_limits_is_accepted(tmp_path):
    from snncompile.sweep import parse_spec
    from snncompile.sweep.spec import MAX_NEW_TOKENS, MAX_POINTS
    import tomllib
    spec = parse_spec(tomllib.loads(sweep_text(tokens=MAX_NEW_TOKENS, axes=(
        '"noc.hop_latency_cycles" = [{}]\n"core.pipeline_depth" = [{}]'.format(
            ", ".join(map(str, range(100))), ", ".join(map(str, range(MAX_POINTS // 100))))))))
    assert spec.n_points() == MAX_POINTS and spec.new_tokens == MAX_NEW_TOKENS


# -- cost tables and energy -------------------------------------------------------------------
def cost_file(tmp_path, old: str, new: str) -> Path:
    from snncompile.energy.table import table_path
    text = table_path("paper-45nm").read_text()
    assert old in text
    p = tmp_path / "cost.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize("value", ["1e308", "1.0e7", "inf", "nan", "-1.0"])
def test_cost_table_price_out_of_range(tmp_path, value):
    from snncompile.energy.table import load_table
    p = cost_file(tmp_path, "pj = 0.9", f"pj = {value}")
    with pytest.raises(CostTableError, match=r"constants\.\w+\.pj must be a finite number"):
        load_table(p)
    for extra in ([], ["--json"]):
        r, dt = invoke(["energy", "--config", "mamba2-130m", "--fire-rate", "0.1",
                        "--preset", str(p), *extra])
        assert_cli_error(r, dt, ".pj", "cost.toml")


def test_energy_at_the_largest_price_stays_finite(tmp_path):
    """Prices at the declared maximum on the largest public model: JSON without inf/NaN."""
    p = cost_file(tmp_path, "pj = 0.9", "pj = 1e6")
    r, _ = invoke(["energy", "--config", "mamba2-2.7b", "--fire-rate", "1.0", "--preset",
                   str(p), "--json"])
    assert r.exit_code == 0, r.output

    def no_nonfinite(s):
        raise AssertionError(f"non-finite {s} in the JSON report")

    rep = json.loads(r.stdout, parse_constant=no_nonfinite)

    def walk(x):
        if isinstance(x, float):
            assert math.isfinite(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(rep)


# -- inspect --fire-rate ----------------------------------------------------------------------
@pytest.mark.parametrize("rate", ["nan", "NaN", "inf", "-inf", "1.5", "-0.1"])
def test_inspect_fire_rate_must_be_a_finite_rate(model_file, rate):
    r, dt = invoke(["inspect", str(model_file), "--fire-rate", rate])
    assert_cli_error(r, dt, "--fire-rate")


def test_finite_float_range_type():
    import click

    from snncompile.cli.params import FiniteFloatRange
    t = FiniteFloatRange(0.0, 1.0)
    assert t.convert("0.5", None, None) == 0.5
    for bad in ("nan", "inf"):
        with pytest.raises(click.BadParameter):
            t.convert(bad, None, None)
    with pytest.raises(click.BadParameter):
        FiniteFloatRange(0.0).convert("inf", None, None)


@pytest.mark.parametrize("kw,field", [
    ({"theta": []}, "neuron.theta"), ({"theta": "0.5"}, "neuron.theta"),
    ({"alpha": float("inf")}, "neuron.alpha"), ({"learn_theta": "yes"}, "neuron.learn_theta"),
    ({"kind": ["silif"]}, "neuron.kind")])
def test_neuron_fields_of_the_wrong_type_are_config_errors(kw, field):
    with pytest.raises(ConfigError, match=re.escape(field)):
        NeuronConfig(**kw)


@pytest.mark.parametrize("kw,field", [
    ({"sgc_weight": "0.1"}, "config.sgc_weight"), ({"dt_min": float("nan")}, "config.dt_min"),
    ({"tie_embeddings": 1}, "config.tie_embeddings"),
    ({"A_init_range": (1.0, float("inf"))}, "config.A_init_range")])
def test_config_fields_of_the_wrong_type_are_config_errors(kw, field):
    with pytest.raises(ConfigError, match=re.escape(field)):
        SpikingMambaConfig(**kw)


@pytest.mark.parametrize("args", [["hw", "show", "h" * 300],
                                  ["energy", "--config", "c" * 300, "--fire-rate", "0.1"],
                                  ["energy", "--config", "mamba2-130m", "--fire-rate", "0.1",
                                   "--preset", "t" * 300]])
def test_overlong_hardware_config_and_table_names(args):
    r, dt = invoke(args)
    assert_cli_error(r, dt)

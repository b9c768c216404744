"""`snncompile energy` in analytic mode: the 1.3B paper-style numbers against an independent
calculation from the Mamba2 formulas, the LM-head choice, outputs (JSON, CSV, PNG) and
`--model` on an exported ONNX file."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

from snncompile.cli import main

E_AC, E_MAC = 0.9, 4.6


def _run(args):
    r = CliRunner().invoke(main, ["energy", *args])
    return r


def _block_1p3b(R: float, D: int):
    """(SNN energy, ANN energy, ACs, MACs, dense MACs) of one mamba2-1.3b block, per token."""
    d, di, H, P, N, G, K = 2048, 4096, 64, 64, 128, 1, 4
    C = di + 2 * G * N
    d_in_proj = 2 * di + 2 * G * N + H
    assert (C, d_in_proj) == (4352, 8512)  # spec table
    macs = 2 * d + C * K + C + H + (3 * H * P * N + 2 * H * P) + 3 * di
    acs = d_in_proj * (R * d * D) + d * (R * di * D) + d   # in_proj, out_proj, residual add
    dense = macs + d * d_in_proj + di * d
    snn = E_AC * acs + E_MAC * macs
    ann = E_MAC * dense + E_AC * d
    return snn, ann, acs, macs, dense


@pytest.mark.parametrize("R", [0.05, 0.1213])
def test_1p3b_no_lm_head_json_matches_independent_calculation(R):
    r = _run(["--config", "mamba2-1.3b", "--no-lm-head", "--preset", "paper-45nm",
              "--fire-rate", str(R), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert "LM head: NOT counted" in r.stderr
    assert rep["lm_head"] is False and rep["D"] == 4 and rep["fire_rate"] == R
    assert rep["mean_spikes"] == pytest.approx(4 * R)
    snn, ann, acs, macs, dense = _block_1p3b(R, 4)
    blocks = [l for l in rep["blocks"] if l["block"] is not None]
    assert len(blocks) == 48
    for b in blocks:
        assert b["snn_j"]["total"] == pytest.approx(snn * 1e-12, rel=1e-9)
        assert b["ann_j"]["total"] == pytest.approx(ann * 1e-12, rel=1e-9)
        assert b["counts"]["acs"] == pytest.approx(acs, rel=1e-12)
        assert b["counts"]["macs"] == macs
        assert b["counts"]["dense_macs"] == dense
        assert b["ratio"] == pytest.approx(ann / snn, rel=1e-9)
    assert [l["name"] for l in rep["blocks"] if l["block"] is None] == ["embedding", "norm_f"]
    norm_f = 2 * 2048
    total_snn = 48 * snn + E_MAC * norm_f
    total_ann = 48 * ann + E_MAC * norm_f
    assert rep["total"]["snn_j"]["total"] == pytest.approx(total_snn * 1e-12, rel=1e-9)
    assert rep["total"]["ann_j"]["total"] == pytest.approx(total_ann * 1e-12, rel=1e-9)
    assert rep["ratio"] == pytest.approx(total_ann / total_snn, rel=1e-9)
    assert rep["ratio_compute"] == pytest.approx(rep["ratio"])
    # every op is listed with its counts next to its energy
    ops = {o["name"]: o for o in rep["nodes"]}
    ip = ops["layers.7.in_proj"]
    assert ip["op"] == "SpikedLinear" and ip["counts"]["macs"] == 0
    assert ip["counts"]["acs"] == pytest.approx(8512 * R * 2048 * 4)
    assert ip["snn_j"]["ac"] == pytest.approx(E_AC * 1e-12 * ip["counts"]["acs"])
    assert ip["ann_j"]["mac"] == pytest.approx(E_MAC * 1e-12 * 8512 * 2048)
    assert "lm_head" not in ops


def test_lm_head_counted_by_default_and_caps_the_ratio():
    r = _run(["--config", "mamba2-1.3b", "--fire-rate", "0", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["lm_head"] is True and "LM head: counted" in r.stderr
    head = next(o for o in rep["nodes"] if o["name"] == "lm_head")
    assert head["counts"]["macs"] == 50288 * 2048
    assert 7.8 < rep["ratio"] < 7.95   # spec: counting the LM head caps 1.3B near 7.9x
    r = _run(["--config", "mamba2-1.3b", "--fire-rate", "0", "--no-lm-head", "--json"])
    assert 16.5 < json.loads(r.stdout)["ratio"] < 17.5   # spec: up to about 17x


def test_terminal_output_says_lm_head_choice_and_ratio():
    r = _run(["--config", "mamba2-130m", "--mean-spikes", "0.5", "--D", "2"])
    assert r.exit_code == 0, r.output
    assert "LM head: counted" in r.output
    assert "ratio E_ANN / E_SNN" in r.output and "layers.23" in r.output
    assert "D = 2" in r.output and "firing rate R = 0.25" in r.output


def test_csv_and_png_outputs(tmp_path):
    c, p = tmp_path / "e.csv", tmp_path / "e.png"
    r = _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--preset", "horowitz-45nm",
              "--csv", str(c), "--png", str(p), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    rows = list(csv.DictReader(io.StringIO(c.read_text())))
    levels = [row["level"] for row in rows]
    assert levels.count("block") == 24 + 3 and levels.count("total") == 1
    assert {row["tokens"] for row in rows} == {"1"}
    total = rows[-1]
    assert float(total["snn_total_j"]) == pytest.approx(rep["total"]["snn_j"]["total"])
    assert float(total["snn_memory_j"]) > 0
    op_sum = sum(float(row["snn_total_j"]) for row in rows if row["level"] == "node")
    assert op_sum == pytest.approx(float(total["snn_total_j"]))
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".")]  # no temp leftovers


def test_usage_errors_exit_2():
    assert _run(["--fire-rate", "0.1"]).exit_code == 2                      # no source
    assert _run(["--config", "mamba2-130m"]).exit_code == 2                 # no rate
    r = _run(["--config", "mamba2-130m", "--fire-rate", "2"])
    assert r.exit_code == 2 and "--fire-rate must be a number in [0, 1]" in r.output
    r = _run(["--config", "nope", "--fire-rate", "0.1"])
    assert r.exit_code == 2 and "neither a public config" in r.output
    r = _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--preset", "nope"])
    assert r.exit_code == 2 and "unknown cost table 'nope'" in r.output


def _tiny():
    from snncompile.models.config import NeuronConfig, SpikingMambaConfig
    return SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=40, d_state=8, headdim=16,
                              spiking=True, neuron=NeuronConfig(kind="silif", D=3))


def test_config_json_and_exported_model_agree(tmp_path):
    """--config config.json and --model model.onnx (exported, weights present) give the same
    report; the ONNX's neurons fix D."""
    from snncompile.frontend import build_graph
    from snncompile.ir import serde

    cfg = _tiny()
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_mamba_ssm_dict()))
    g = build_graph(cfg)
    rng = np.random.default_rng(0)
    for name, (shape, _) in g.param_specs().items():
        g.params[name] = rng.standard_normal(shape).astype(np.float32)
    g.verify()
    onnx_path = tmp_path / "model.onnx"
    serde.save(g, onnx_path)

    a = _run(["--config", str(tmp_path), "--fire-rate", "0.2", "--json"])
    b = _run(["--model", str(onnx_path), "--fire-rate", "0.2", "--json"])
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert ra["D"] == rb["D"] == 3
    assert ra["total"] == rb["total"]
    r = _run(["--model", str(onnx_path), "--fire-rate", "0.2", "--D", "4"])
    assert r.exit_code == 2 and "--D applies to --config only" in r.output

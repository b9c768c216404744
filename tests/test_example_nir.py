"""examples/nir/train_classifier.py end to end in its quick mode: snnTorch training, NIR
export, import, lowering to loihi1 and default, simulation of the test set, energy and
latency per inference (examples/nir/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("snntorch")
pytest.importorskip("nir")

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "nir" / "train_classifier.py"


def test_quick_run_writes_the_results(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "-o", str(out),
                           "--out-dir", str(tmp_path / "keep")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["format"] == "snncompile-example-nir/1"
    assert r["network"]["imported_ops"] == ["SpikedLinear", "LIF"] * 2
    assert r["network"]["decays_dv"] == [512, 512]      # beta 0.875 = (4096 - 512) / 4096
    acc = r["accuracy"]
    chance = acc["chance"]
    assert chance == 1 / r["task"]["classes"]
    for key in ("snntorch_float", "imported_reference", "lowered_loihi1", "lowered_default"):
        assert chance < acc[key] <= 1.0, (key, acc)
    # the import is exact up to float32 (snnTorch) against float64 (reference) rounding
    assert abs(acc["imported_reference"] - acc["snntorch_float"]) <= 0.02
    assert set(r["hardware"]) == {"loihi1", "default"}
    tables = {"loihi1": {"loihi1-sanafe", "loihi1"}, "default": {"accum"}}
    for name, h in r["hardware"].items():
        assert h["accuracy"] == acc[f"lowered_{name}"]
        assert h["latency_per_inference_s"] > 0 and h["cores_used"] >= 2
        assert h["per_inference"]["acs"] > 0
        assert 0 <= h["output_spikes_equal_to_imported_reference"] <= 1
        assert set(h["energy"]) == tables[name]
        for e in h["energy"].values():
            pj = e["per_inference_j"]
            parts = sum(pj[k] for k in ("ac", "mac", "neuron", "memory", "noc", "static"))
            assert pj["total"] > 0 and np.isclose(pj["total"], parts)
    # the two tables of one chip price the same counters differently
    e1 = r["hardware"]["loihi1"]["energy"]
    totals = [e1[t]["per_inference_j"]["total"] for t in ("loihi1-sanafe", "loihi1")]
    assert totals[0] != totals[1]
    # same int8 weights, each layer on whole cores: the same synaptic events on both chips
    assert r["hardware"]["loihi1"]["per_inference"]["acs"] == \
        r["hardware"]["default"]["per_inference"]["acs"]
    keep = tmp_path / "keep"
    assert (keep / "net.nir").stat().st_size > 0
    x = np.load(keep / "sample.npy")
    assert x.shape == (r["task"]["steps"], r["task"]["inputs"])

"""The text form of a graph: a golden one-block model, stability and sensitivity."""

from __future__ import annotations

import numpy as np

from snncompile.frontend import build_graph
from snncompile.ir import serde
from snncompile.ir.examples import example_graphs
from snncompile.ir.graph import Node
from snncompile.ir.ops import SpikeEncode
from snncompile.ir.printer import format_graph, format_node
from snncompile.models.config import NeuronConfig, SpikingMambaConfig

# One block, dense in_proj, I-LIF spikes (D=3, theta=1/8) before out_proj, conv kernel 2.
CONFIG = SpikingMambaConfig(d_model=8, n_layer=1, vocab_size=16, d_state=2, headdim=4,
                            d_conv=2, spiking=True, spiked_projections=("out_proj",),
                            neuron=NeuronConfig(kind="ilif", D=3, theta=0.125))

GOLDEN = """\
graph(token) -> (logits)
  embedding: embedding = Embedding[vocab=16, d=8](token) {weight=backbone.embedding.weight}
  layers.0.norm: layers.0.norm = RMSNorm[d=8, eps=1e-05](embedding) {weight=backbone.layers.0.norm.weight}
  layers.0.in_proj: layers.0.in_proj = Linear[d_in=8, d_out=40, has_bias=False](layers.0.norm) {weight=backbone.layers.0.mixer.in_proj.weight}
  layers.0.split_zxbcdt: layers.0.z, layers.0.xBC, layers.0.dt_raw = Split[sizes=(16,20,4)](layers.0.in_proj)
  layers.0.conv1d: layers.0.conv1d = CausalConv1d[C=20, K=2, has_bias=True](layers.0.xBC) {weight=backbone.layers.0.mixer.conv1d.weight, bias=backbone.layers.0.mixer.conv1d.bias}
  layers.0.conv_act: layers.0.conv_act = SiLU[d=20](layers.0.conv1d)
  layers.0.split_xbc: layers.0.x, layers.0.B, layers.0.C = Split[sizes=(16,2,2)](layers.0.conv_act)
  layers.0.dt_softplus: layers.0.dt_softplus = Softplus[d=4](layers.0.dt_raw) {bias=backbone.layers.0.mixer.dt_bias}
  layers.0.ssm: layers.0.ssm = SSMScan[H=4, P=4, N=2, G=1](layers.0.x, layers.0.dt_softplus, layers.0.B, layers.0.C) {A_log=backbone.layers.0.mixer.A_log, D=backbone.layers.0.mixer.D}
  layers.0.norm_gated: layers.0.norm_gated = GatedRMSNorm[d=16, group_size=16, eps=1e-05](layers.0.ssm, layers.0.z) {weight=backbone.layers.0.mixer.norm.weight}
  layers.0.out_proj_spike: layers.0.out_proj_spike = SpikeEncode[d=16, kind='ilif', D=3, theta=0.125](layers.0.norm_gated)
  layers.0.out_proj: layers.0.out_proj = SpikedLinear[d_in=16, d_out=8, input_scale=0.125, weight_bits=0, sparse=False](layers.0.out_proj_spike) {weight=backbone.layers.0.mixer.out_proj.weight}
  layers.0.residual: layers.0.residual = Add[d=8](layers.0.out_proj, embedding)
  norm_f: norm_f = RMSNorm[d=8, eps=1e-05](layers.0.residual) {weight=backbone.norm_f.weight}
  lm_head: logits = LMHead[vocab=16, d=8](norm_f) {weight=backbone.embedding.weight}
params:
  backbone.embedding.weight: absent[16,8]
  backbone.layers.0.norm.weight: absent[8]
  backbone.layers.0.mixer.in_proj.weight: absent[40,8]
  backbone.layers.0.mixer.conv1d.weight: absent[20,2]
  backbone.layers.0.mixer.conv1d.bias: absent[20]
  backbone.layers.0.mixer.dt_bias: absent[4]
  backbone.layers.0.mixer.A_log: absent[4]
  backbone.layers.0.mixer.D: absent[4]
  backbone.layers.0.mixer.norm.weight: absent[16]
  backbone.layers.0.mixer.out_proj.weight: absent[8,16]
  backbone.norm_f.weight: absent[8]
"""


def test_golden_one_block_graph():
    assert format_graph(build_graph(CONFIG)) == GOLDEN


def test_params_section_shows_dtypes_when_present(tmp_path):
    g = example_graphs()["spiked_linear_q8"]
    text = format_graph(g)
    assert "  qw: int8[6,8]" in text and "  qs: float32[6]" in text
    assert "SpikedLinear[d_in=8, d_out=6, input_scale=0.2, weight_bits=8, sparse=False](spike) " \
           "{weight=qw, weight_scale=qs}" in text
    assert format_graph(g, params=False).count("\n") == len(g.nodes) + 1


def test_stable_across_round_trip_and_sensitive_to_attributes(tmp_path):
    g = example_graphs()["ssm_scan"]
    serde.save(g, tmp_path / "m.onnx")
    assert format_graph(serde.load(tmp_path / "m.onnx")) == format_graph(g)
    # a one-ulp change of theta prints differently
    base = SpikeEncode(d=8, kind="silif", D=4, theta=0.3)
    bumped = SpikeEncode(d=8, kind="silif", D=4, theta=float(np.nextafter(0.3, 1.0)))
    a = format_node(Node("s", base, ("x",), ("s",)))
    b = format_node(Node("s", bumped, ("x",), ("s",)))
    assert a != b and "theta=0.3]" in a

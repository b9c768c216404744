"""Export: (Spiking)Mamba2 LM -> IR graph -> ONNX file, verified against the PyTorch model.

`build_graph(config, state_dict=None)` writes the per-token graph of docs/architecture.md.
Without a state dict it is shape-only (for analytic models; `verify(require_params=False)`).
Block i, as upstream `mamba_ssm` (residual stream r, r_0 = embedding):

  layers.i.norm          RMSNorm(r_i)
  layers.i.in_proj_spike SpikeEncode                      (only when in_proj is spiked)
  layers.i.in_proj       SpikedLinear | Linear  -> [z, xBC, dt]   (layers.i.split_zxbcdt)
  layers.i.conv1d        CausalConv1d(xBC); layers.i.conv_act SiLU -> [x, B, C] (split_xbc)
  layers.i.dt_softplus   Softplus(dt + dt_bias)
  layers.i.ssm           SSMScan(x, dt, B, C)
  layers.i.norm_gated    GatedRMSNorm(y, z)
  layers.i.out_proj_spike, layers.i.out_proj
  layers.i.residual      Add: r_{i+1} = out_proj + r_i
then norm_f(r_n) and lm_head (tied: the embedding's weight). This is upstream's
`residual = hidden + residual; hidden = mixer(norm(residual))`, final `norm_f(hidden + residual)`,
with the add written at the end of the block that produced `hidden`.
Parameter names are the mamba_ssm checkpoint keys (conv1d.weight reshaped (C,1,K) -> (C,K)).
No training-only op is emitted (SGC has no node; neurons become SpikeEncode with their theta).

`export_model(model, path)` / `export_checkpoint(folder, path)` write the ONNX file and verify
it first: the file read back is run by the reference interpreter against the PyTorch model,
both in float64, step by step; the max |logit difference| must be <= 1e-4 and the spike counts
identical, else IRError and nothing is written.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from snncompile.errors import CheckpointError, ConfigError, IRError
from snncompile.ir.graph import Graph, Node
from snncompile.ir import ops
from snncompile.models.config import SpikingMambaConfig


def _to_numpy(value: Any, key: str) -> np.ndarray:
    """A parameter as a numpy array without copying when it already is float32/float64."""
    torch = sys.modules.get("torch")  # a tensor implies torch is loaded; numpy input never loads it
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype not in (torch.float32, torch.float64, torch.int8):
            t = t.float()
        return t.contiguous().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.name not in ("float32", "float64", "int8"):
            return np.ascontiguousarray(value, dtype=np.float32)
        return np.ascontiguousarray(value)
    raise CheckpointError(f"state_dict[{key!r}] is a {type(value).__name__}, not a tensor")


class _Builder:
    def __init__(self, config: SpikingMambaConfig, state_dict: Mapping[str, Any] | None):
        self.cfg = config
        self.sd = state_dict
        self.nodes: list[Node] = []
        self.params: dict[str, np.ndarray] = {}

    def param(self, key: str, shape: tuple[int, ...], reshape_from: tuple[int, ...] | None = None) -> str:
        """Register parameter `key` (checked against `shape`); returns its name."""
        if self.sd is None or key in self.params:
            return key
        if key not in self.sd:
            raise CheckpointError(f"state_dict is missing {key!r}")
        arr = _to_numpy(self.sd[key], key)
        if reshape_from is not None and tuple(arr.shape) == reshape_from:
            arr = arr.reshape(shape)
        if tuple(arr.shape) != shape:
            raise CheckpointError(f"state_dict[{key!r}] has shape {tuple(arr.shape)}, "
                                  f"config needs {shape}")
        self.params[key] = arr
        return key

    def theta(self, layer: int, proj: str) -> float:
        key = f"backbone.layers.{layer}.mixer.{proj}_neuron.theta"
        if self.sd is not None and key in self.sd:
            v = _to_numpy(self.sd[key], key)
            if v.size != 1:
                raise CheckpointError(f"state_dict[{key!r}] must be a scalar, has shape {v.shape}")
            return float(v.reshape(()))
        return float(self.cfg.neuron_for(layer).theta)

    def add(self, name: str, op: ops.Op, inputs: list[str], outputs: list[str] | None = None,
            **params: str) -> list[str]:
        outs = outputs if outputs is not None else [name]
        self.nodes.append(Node(name, op, tuple(inputs), tuple(outs), params))
        return outs

    def projection(self, i: int, proj: str, x: str, d_in: int, d_out: int) -> str:
        """in_proj / out_proj, spiked (SpikeEncode + SpikedLinear) or dense (Linear)."""
        cfg = self.cfg
        pre = f"backbone.layers.{i}.mixer.{proj}"
        w = self.param(f"{pre}.weight", (d_out, d_in))
        if cfg.is_spiked(proj):
            if cfg.bias:
                raise ConfigError(f"config.bias=True is not supported with spiked {proj}")
            n = cfg.neuron_for(i)
            theta = self.theta(i, proj)
            (s,) = self.add(f"layers.{i}.{proj}_spike",
                            ops.SpikeEncode(d=d_in, kind=n.kind, D=n.D, theta=theta), [x])
            (y,) = self.add(f"layers.{i}.{proj}",
                            ops.SpikedLinear(d_in=d_in, d_out=d_out, input_scale=theta), [s],
                            weight=w)
            return y
        extra = {"bias": self.param(f"{pre}.bias", (d_out,))} if cfg.bias else {}
        (y,) = self.add(f"layers.{i}.{proj}",
                        ops.Linear(d_in=d_in, d_out=d_out, has_bias=cfg.bias), [x], weight=w, **extra)
        return y

    def block(self, i: int, r: str) -> str:
        cfg = self.cfg
        d, di, H, P, N, G, K = (cfg.d_model, cfg.d_inner, cfg.nheads, cfg.headdim, cfg.d_state,
                                cfg.ngroups, cfg.d_conv)
        C = cfg.conv_dim
        pre = f"backbone.layers.{i}"
        m = f"{pre}.mixer"
        (u,) = self.add(f"layers.{i}.norm", ops.RMSNorm(d=d, eps=cfg.rms_norm_eps), [r],
                        weight=self.param(f"{pre}.norm.weight", (d,)))
        zxbcdt = self.projection(i, "in_proj", u, d, cfg.d_in_proj)
        z, xbc, dt = self.add(f"layers.{i}.split_zxbcdt", ops.Split(sizes=(di, C, H)), [zxbcdt],
                              [f"layers.{i}.z", f"layers.{i}.xBC", f"layers.{i}.dt_raw"])
        conv_params = {"weight": self.param(f"{m}.conv1d.weight", (C, K), reshape_from=(C, 1, K))}
        if cfg.conv_bias:
            conv_params["bias"] = self.param(f"{m}.conv1d.bias", (C,))
        (xbc,) = self.add(f"layers.{i}.conv1d", ops.CausalConv1d(C=C, K=K, has_bias=cfg.conv_bias),
                          [xbc], **conv_params)
        (xbc,) = self.add(f"layers.{i}.conv_act", ops.SiLU(d=C), [xbc])
        x, B, Cm = self.add(f"layers.{i}.split_xbc", ops.Split(sizes=(di, G * N, G * N)), [xbc],
                            [f"layers.{i}.x", f"layers.{i}.B", f"layers.{i}.C"])
        (dt,) = self.add(f"layers.{i}.dt_softplus", ops.Softplus(d=H), [dt],
                         bias=self.param(f"{m}.dt_bias", (H,)))
        (y,) = self.add(f"layers.{i}.ssm", ops.SSMScan(H=H, P=P, N=N, G=G), [x, dt, B, Cm],
                        A_log=self.param(f"{m}.A_log", (H,)), D=self.param(f"{m}.D", (H,)))
        (y,) = self.add(f"layers.{i}.norm_gated",
                        ops.GatedRMSNorm(d=di, group_size=di // G, eps=cfg.rms_norm_eps), [y, z],
                        weight=self.param(f"{m}.norm.weight", (di,)))
        out = self.projection(i, "out_proj", y, di, d)
        (r,) = self.add(f"layers.{i}.residual", ops.Add(d=d), [out, r])
        return r

    def build(self) -> Graph:
        cfg = self.cfg
        if cfg.norm_before_gate:
            raise ConfigError("config.norm_before_gate=True is not supported by the exporter")
        V, d = cfg.padded_vocab_size, cfg.d_model
        emb = self.param("backbone.embedding.weight", (V, d))
        (r,) = self.add("embedding", ops.Embedding(vocab=V, d=d), ["token"], weight=emb)
        for i in range(cfg.n_layer):
            r = self.block(i, r)
        (h,) = self.add("norm_f", ops.RMSNorm(d=d, eps=cfg.rms_norm_eps), [r],
                        weight=self.param("backbone.norm_f.weight", (d,)))
        head = emb if cfg.tie_embeddings else self.param("lm_head.weight", (V, d))
        self.add("lm_head", ops.LMHead(vocab=V, d=d), [h], ["logits"], weight=head)
        return Graph(self.nodes, self.params, ("token",), ("logits",),
                     {"config": cfg.to_mamba_ssm_dict()})


def build_graph(config: SpikingMambaConfig, state_dict: Mapping[str, Any] | None = None) -> Graph:
    """The IR graph of `config`; parameters from `state_dict` (mamba_ssm key names), taken
    without copying when they are float32/float64 CPU tensors. Without a state dict the graph
    is shape-only. Raises CheckpointError naming a missing or mis-shaped key."""
    graph = _Builder(config, state_dict).build()
    graph.verify(require_params=state_dict is not None)
    return graph


# ------------------------------------------------------------------------------------------------
# Export with self-verification
# ------------------------------------------------------------------------------------------------
VERIFY_ATOL = 1e-4
DEEPCOPY_LIMIT = 1 << 30  # below this many parameter bytes the check runs on a float64 copy


@dataclass
class ExportReport:
    """What `export_model` wrote and how the written file compared with the PyTorch model."""

    path: str
    nodes: int
    params: int
    param_bytes: int
    external_data: bool
    verified: bool
    tokens: list[int] = field(default_factory=list)
    max_abs_diff: float | None = None
    spikes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def neuron_node_name(module_name: str) -> str | None:
    """'backbone.layers.3.mixer.in_proj_neuron' -> 'layers.3.in_proj_spike' (else None)."""
    m = re.fullmatch(r"backbone\.layers\.(\d+)\.mixer\.(in_proj|out_proj)_neuron", module_name)
    return f"layers.{m.group(1)}.{m.group(2)}_spike" if m else None


_VERIFY_TEXT = b"The spike-driven model adds one weight column per spike, over D micro-steps."


def default_verify_tokens(config: SpikingMambaConfig, n: int = 4) -> list[int]:
    """A fixed prompt for the self-check: the first `n` bytes of `_VERIFY_TEXT` ("The spike
    ...", repeated when n is longer), each taken mod the vocabulary size."""
    if n < 1:
        raise ConfigError(f"export: the check needs at least 1 token, got {n}")
    text = _VERIFY_TEXT * (-(-n // len(_VERIFY_TEXT)))
    return [b % config.vocab_size for b in text[:n]]


def _reference_run(model, tokens: list[int]) -> tuple[list["torch.Tensor"], list[dict[str, int]]]:
    """The PyTorch model in float64, step-wise: logits and per-token spike sums per node name."""
    import copy

    import torch

    from snncompile.models.neurons import record_spikes

    nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
    in_place = nbytes > DEEPCOPY_LIMIT
    p0 = next(model.parameters())
    orig_dtype, was_training = p0.dtype, model.training
    m = model if in_place else copy.deepcopy(model)
    try:
        m.double().eval()
        state = m.allocate_state(1, dtype=torch.float64)
        logits, spikes = [], []
        with torch.no_grad():
            for t in tokens:
                with record_spikes(m) as rec:
                    out = m.step(torch.tensor([t], device=p0.device), state)[0]
                logits.append(out.detach().cpu())
                spikes.append({neuron_node_name(k) or k: int(v.sum_abs) for k, v in rec.items()})
    finally:
        if in_place:  # float32 / bf16 / fp16 -> float64 -> back is exact
            model.to(orig_dtype)
            model.train(was_training)
    return logits, spikes


def _interpreter_run(graph: Graph, tokens: list[int]):
    import torch

    from snncompile.backends.reference import ReferenceInterpreter

    interp = ReferenceInterpreter(graph, dtype=torch.float64)
    state = interp.init_state()
    logits, spikes = [], []
    for t in tokens:
        out, c = interp.step(t, state)
        logits.append(out.detach().cpu())
        spikes.append(c.spike_counts())
    return logits, spikes


def export_model(model, path: str | os.PathLike, verify: bool = True,
                 tokens: list[int] | None = None, atol: float = VERIFY_ATOL,
                 external_data: bool | None = None) -> ExportReport:
    """Export a `SpikingMambaLM` (spiking or dense) to an ONNX file at `path`, verified.

    The graph is written to a temporary folder beside `path`, read back with `serde.load`,
    and run step-wise by the reference interpreter (float64) against the PyTorch model in
    float64 on `tokens`: the max |logit difference| must be <= atol and every SpikeEncode
    node's spike count equal the model neuron's, token by token; otherwise IRError is raised
    and nothing is written. Weights are not copied (numpy views of the model's tensors,
    streamed to external data when large). A model above 1 GiB is converted to float64 in
    place for the check and converted back afterwards (exact); smaller ones are copied.
    """
    import time

    from snncompile.ir import serde

    t0 = time.perf_counter()
    cfg = model.config
    path = Path(path)
    tokens = list(tokens) if tokens is not None else default_verify_tokens(cfg)
    if verify and not tokens:
        raise ConfigError("export: verification needs at least one token (or verify=False)")
    bad = [t for t in tokens if not 0 <= t < cfg.padded_vocab_size]
    if bad:
        raise ConfigError(f"export: verification token {bad[0]} outside 0..{cfg.padded_vocab_size - 1}")
    graph = build_graph(cfg, model.state_dict())
    report = ExportReport(str(path), len(graph.nodes), graph.n_params(), graph.param_nbytes(),
                          False, verify, tokens if verify else [])
    if external_data is None:
        external_data = report.param_bytes > serde.EXTERNAL_THRESHOLD
    report.external_data = bool(external_data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.export-", dir=path.parent))
    try:
        tmp_model = tmpdir / path.name
        serde.save(graph, tmp_model, external_data=external_data)
        del graph  # drop the views so an in-place float64 check can free the float32 weights
        if verify:
            ref_logits, ref_spikes = _reference_run(model, tokens)
            ir_logits, ir_spikes = _interpreter_run(serde.load(tmp_model), tokens)
            diff = 0.0
            for k, (a, b) in enumerate(zip(ref_logits, ir_logits)):
                diff = max(diff, float((a.double() - b.double()).abs().max()))
                if set(ref_spikes[k]) != set(ir_spikes[k]):
                    raise IRError(f"export check: spiking nodes differ: model "
                                  f"{sorted(ref_spikes[k])} vs graph {sorted(ir_spikes[k])}")
                for name, s in ref_spikes[k].items():
                    if ir_spikes[k][name] != s:
                        raise IRError(f"export check failed at token {k}: node {name!r} "
                                      f"spikes {ir_spikes[k][name]} in the graph, {s} in the model")
                for name, s in ir_spikes[k].items():
                    report.spikes[name] = report.spikes.get(name, 0) + s
            if not diff <= atol:
                raise IRError(f"export check failed: max |logit difference| {diff:.3g} > {atol:g} "
                              f"between the graph and the PyTorch model")
            report.max_abs_diff = diff
        data = serde.data_path(path)
        tmp_data = serde.data_path(tmp_model)
        if tmp_data.exists():
            os.replace(tmp_data, data)
        elif data.exists():
            data.unlink()
        os.replace(tmp_model, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report


def export_checkpoint(folder: str | os.PathLike, path: str | os.PathLike, **kwargs) -> ExportReport:
    """Load a mamba_ssm-format checkpoint (SpikingMamba or dense Mamba2) and `export_model` it."""
    from snncompile.models.checkpoint import load_checkpoint

    return export_model(load_checkpoint(folder), path, **kwargs)

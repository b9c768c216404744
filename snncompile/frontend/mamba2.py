"""The model-to-IR frontend for (Spiking)Mamba2 LMs: config (+ state dict) -> IR graph.

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

`neuron_node_name(module)` maps a PyTorch neuron module name to the SpikeEncode node it becomes.
This module knows the IR and the model config only: no backend, no PyTorch (a state dict of
tensors is read through torch only when torch is already loaded). The verified export
(`snncompile.export`) sits on top of it.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Mapping

import numpy as np

from snncompile.errors import CheckpointError, ConfigError
from snncompile.ir import ops
from snncompile.ir.graph import Graph, Node
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


def neuron_node_name(module_name: str) -> str | None:
    """'backbone.layers.3.mixer.in_proj_neuron' -> 'layers.3.in_proj_spike' (else None)."""
    m = re.fullmatch(r"backbone\.layers\.(\d+)\.mixer\.(in_proj|out_proj)_neuron", module_name)
    return f"layers.{m.group(1)}.{m.group(2)}_spike" if m else None

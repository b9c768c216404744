"""The model a sweep compiles: an exported ONNX file, or a config with random weights.

Spec table `[model]`, exactly one of:
  onnx = "model.onnx"         an `snncompile export` file (path relative to the spec file);
                              with the dask executor the path must be readable on the workers
  config = NAME | PATH | {...} a public config name (`mamba2-130m`, ...), a config.json (or its
                              folder), or an inline table of `SpikingMambaConfig` fields
                              (d_model, n_layer, vocab_size, d_state, headdim, ...); the model is
                              always spiking, with random weights (`frontend.synthetic.
                              random_state_dict(config, seed)`), so synthetic shapes cost nothing
                              to obtain
  with config only:
    seed = 0                  the random weights' seed
    neuron = {kind, D, theta} the spike neurons (`NeuronConfig` fields)

`ModelSpec` is plain data (picklable, sent to every worker); `graph_for(spec)` builds the IR
graph once per process and keeps it (a lock makes it safe for threaded workers).
`quantized_graph_for(spec, bits)` keeps the graph after the `quantize_weights` pass at `bits`
too: the lowering leaves layers already quantized to the hardware's width alone, so points
sharing `core.weight_bits` skip re-quantizing (the same program, bit for bit, without the
pass's cost per point: 0.75 s of a 1.1 s lowering for a 130m shape).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from snncompile.errors import ConfigError
from snncompile.ir.graph import Graph

_MODEL_KEYS = ("onnx", "config", "seed", "neuron")
_CONFIG_FIELDS_NOT_INLINE = ("neuron", "layer_neurons", "spiking", "spiked_projections")


@dataclass(frozen=True)
class ModelSpec:
    """An ONNX path (absolute) or a spiking config (mamba_ssm dict form) + weight seed."""

    onnx: str | None = None
    config_json: str | None = None  # json.dumps(SpikingMambaConfig.to_mamba_ssm_dict())
    seed: int = 0

    def config(self):
        """The SpikingMambaConfig of a config model (None for an ONNX model)."""
        if self.config_json is None:
            return None
        from snncompile.models.config import SpikingMambaConfig
        return SpikingMambaConfig.from_mamba_ssm_dict(json.loads(self.config_json))

    def describe(self) -> dict[str, Any]:
        if self.onnx is not None:
            return {"onnx": self.onnx}
        return {"config": json.loads(self.config_json or "{}"), "seed": self.seed,
                "weights": "random"}


def parse_model(table: Any, base_dir: Path, where: str) -> ModelSpec:
    """`[model]` -> ModelSpec; ConfigError naming the field."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [model] must be a table")
    unknown = [k for k in table if k not in _MODEL_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown field model.{unknown[0]} (known: "
                          f"{', '.join(_MODEL_KEYS)})")
    has = [k for k in ("onnx", "config") if k in table]
    if len(has) != 1:
        raise ConfigError(f"{where}: [model] needs exactly one of model.onnx or model.config "
                          f"(got {', '.join(has) or 'neither'})")
    if "onnx" in table:
        for k in ("seed", "neuron"):
            if k in table:
                raise ConfigError(f"{where}: model.{k} applies to model.config only (an "
                                  f"exported model has its own weights and neurons)")
        p = table["onnx"]
        if not isinstance(p, str) or not p:
            raise ConfigError(f"{where}: model.onnx must be a file path, got {p!r}")
        path = (base_dir / p).resolve()
        if not path.is_file():
            raise ConfigError(f"{where}: model.onnx: no such file {str(path)!r}")
        return ModelSpec(onnx=str(path))
    seed = table.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"{where}: model.seed must be a non-negative integer, got {seed!r}")
    config = _parse_config(table["config"], table.get("neuron"), base_dir, where)
    return ModelSpec(config_json=json.dumps(config.to_mamba_ssm_dict(), sort_keys=True),
                     seed=seed)


def _parse_config(value: Any, neuron: Any, base_dir: Path, where: str):
    from snncompile.models.config import NeuronConfig, SpikingMambaConfig, resolve_config
    if isinstance(value, Mapping):
        names = {f.name for f in dataclasses.fields(SpikingMambaConfig)}
        for k in value:
            if k not in names or k in _CONFIG_FIELDS_NOT_INLINE:
                raise ConfigError(f"{where}: unknown field model.config.{k} (SpikingMambaConfig "
                                  f"shape fields, e.g. d_model, n_layer, vocab_size, d_state, "
                                  f"headdim; neurons go in model.neuron)")
        try:
            cfg = SpikingMambaConfig(**dict(value))
        except ConfigError as exc:
            raise ConfigError(f"{where}: model.{exc}") from None
        except TypeError as exc:
            raise ConfigError(f"{where}: model.config: {exc}") from None
    elif isinstance(value, str) and value:
        try:
            cfg = resolve_config(value, base_dir)
        except ConfigError as exc:
            raise ConfigError(f"{where}: model.config {exc}") from None
    else:
        raise ConfigError(f"{where}: model.config must be a config name, a path or a table, "
                          f"got {value!r}")
    changes: dict[str, Any] = {"spiking": True}
    if neuron is not None:
        if not isinstance(neuron, Mapping):
            raise ConfigError(f"{where}: model.neuron must be a table (kind, D, theta, ...)")
        known = {f.name for f in dataclasses.fields(NeuronConfig)}
        for k in neuron:
            if k not in known:
                raise ConfigError(f"{where}: unknown field model.neuron.{k} (known: "
                                  f"{', '.join(sorted(known))})")
        try:
            changes["neuron"] = NeuronConfig(**dict(neuron))
        except ConfigError as exc:
            raise ConfigError(f"{where}: model.{exc}") from None
        changes["layer_neurons"] = None
    return dataclasses.replace(cfg, **changes)


_CACHE: dict[tuple[ModelSpec, int], Graph] = {}  # (spec, 0) float graph; (spec, b) quantized
_LOCK = threading.RLock()


def graph_for(spec: ModelSpec) -> Graph:
    """The IR graph of `spec`, built once per process (ONNX: `serde.load`; config:
    `build_graph(config, random_state_dict(config, seed))`)."""
    with _LOCK:
        graph = _CACHE.get((spec, 0))
        if graph is None:
            graph = _build(spec)
            _CACHE.clear()  # one model per sweep: do not keep an old one alive
            _CACHE[(spec, 0)] = graph
        return graph


def quantized_graph_for(spec: ModelSpec, bits: int) -> Graph:
    """`graph_for(spec)` after `quantize_weights.run(graph, bits=bits)`, kept per bit width
    (layers the model already has quantized stay as they are)."""
    from snncompile.passes import quantize_weights
    with _LOCK:
        graph = _CACHE.get((spec, bits))
        if graph is None:
            graph = quantize_weights.run(graph_for(spec), bits=bits).graph
            _CACHE[(spec, bits)] = graph
        return graph


def _build(spec: ModelSpec) -> Graph:
    if spec.onnx is not None:
        from snncompile.ir import serde
        return serde.load(spec.onnx)
    from snncompile.frontend import build_graph
    from snncompile.frontend.synthetic import random_state_dict
    cfg = spec.config()
    return build_graph(cfg, random_state_dict(cfg, spec.seed))

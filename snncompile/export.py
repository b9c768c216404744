"""The verified export: (Spiking)Mamba2 LM -> IR graph -> ONNX file, checked against PyTorch.

The graph itself is built by the frontend (`snncompile.frontend.build_graph`, re-exported here
for compatibility). This module sits in the top layer (beside the CLI): its self-check runs the
reference backend.

`export_model(model, path)` / `export_checkpoint(folder, path)` write the ONNX file and verify
it first: the file read back is run by the reference interpreter against the PyTorch model,
both in float64, step by step; the max |logit difference| must be <= 1e-4 and the spike counts
identical, else IRError and nothing is written.

A tokenizer travels with the model: `export_model(..., tokenizer=T)` (or the `tokenizer.json`
of the checkpoint folder, for `export_checkpoint`) is stored in the graph metadata as
`metadata["tokenizer"] = {"name", "vocab_size", "sha256", "json"}` (the tokenizer.json text),
which lowering keeps in a program folder's graph.onnx; `snncompile.data.tokenizer.
carried_tokenizer` finds it again. The byte tokenizer needs no entry.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snncompile.atomic import atomic_files, check_outputs
from snncompile.data.tokenizer import (METADATA_TOKENIZER_KEY, Tokenizer, carried_metadata,
                                       carried_tokenizer, load_tokenizer)
from snncompile.errors import ConfigError, IRError, OutputError
from snncompile.frontend import build_graph, neuron_node_name
from snncompile.ir.graph import Graph
from snncompile.models.config import SpikingMambaConfig

__all__ = ["ExportReport", "build_graph", "default_verify_tokens", "export_checkpoint",
           "export_model", "export_tokenizer", "neuron_node_name", "VERIFY_ATOL"]


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
    tokenizer: dict[str, Any] | None = None   # Tokenizer.describe() of the carried tokenizer

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
        spikes.append({n.name: c.node(n.name).spikes for n in graph.neurons()})
    return logits, spikes


def export_tokenizer(flag: str | None, checkpoint: str | os.PathLike | None,
                     vocab_size: int) -> Tokenizer | None:
    """The tokenizer an export carries: `flag` (a tokenizer.json, a folder holding one, or
    "bytes"), else the checkpoint folder's tokenizer.json, else None. ConfigError when it has
    more tokens than the model's vocabulary (both sizes named)."""
    tok = load_tokenizer(flag) if flag is not None else carried_tokenizer(checkpoint)
    if tok is not None and tok.vocab_size > vocab_size:
        origin = f"tokenizer {flag!r}" if flag is not None else f"{str(checkpoint)!r}'s tokenizer"
        raise ConfigError(f"export: {origin} has {tok.vocab_size} tokens, more than the "
                          f"model's vocabulary of {vocab_size}")
    return tok


def export_model(model, path: str | os.PathLike, verify: bool = True,
                 tokens: list[int] | None = None, atol: float = VERIFY_ATOL,
                 external_data: bool | None = None,
                 tokenizer: Tokenizer | None = None) -> ExportReport:
    """Export a `SpikingMambaLM` (spiking or dense) to an ONNX file at `path`, verified.

    The graph is written to a staging folder beside `path` (`atomic_files`), read back with
    `serde.load` and run step-wise by the reference interpreter (float64) against the PyTorch
    model in float64 on `tokens`: the max |logit difference| must be <= atol and every SpikeEncode
    node's spike count equal the model neuron's, token by token; otherwise IRError is raised
    and nothing is written. The model file and its `.data` are published together by the shared
    atomic helper (OutputError naming `path` when that is impossible). Weights are not copied
    (numpy views of the model's tensors, streamed to external data when large). A model above
    1 GiB is converted to float64 in place for the check and converted back afterwards
    (exact); smaller ones are copied. `tokenizer` (not the byte tokenizer) is stored in the
    graph metadata (module docstring); ConfigError when it has more tokens than the model.
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
    if tokenizer is not None and tokenizer.vocab_size > cfg.vocab_size:
        raise ConfigError(f"export: tokenizer {tokenizer.name!r} has {tokenizer.vocab_size} "
                          f"tokens, more than the model's vocabulary of {cfg.vocab_size}")
    graph = build_graph(cfg, model.state_dict())
    carried = None if tokenizer is None else carried_metadata(tokenizer)
    if carried is not None:
        graph.metadata[METADATA_TOKENIZER_KEY] = carried
    report = ExportReport(str(path), len(graph.nodes), graph.n_params(), graph.param_nbytes(),
                          False, verify, tokens if verify else [],
                          tokenizer=None if carried is None else tokenizer.describe())
    if external_data is None:
        external_data = report.param_bytes > serde.EXTERNAL_THRESHOLD
    report.external_data = bool(external_data)
    data = serde.data_path(path)
    with atomic_files(path) as stage:  # model and .data appear together, or neither
        tmp_model = stage / path.name
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
    if not external_data and data.exists():  # a previous export's weights, now embedded
        try:
            data.unlink()
        except OSError as exc:
            raise OutputError(f"cannot remove stale {str(data)!r}: {exc.strerror or exc}") from exc
    report.seconds = time.perf_counter() - t0
    return report


def export_checkpoint(folder: str | os.PathLike, path: str | os.PathLike, **kwargs) -> ExportReport:
    """Load a mamba_ssm-format checkpoint (SpikingMamba or dense Mamba2) and `export_model` it
    (with the folder's tokenizer.json, when it holds one and no `tokenizer` is given)."""
    from snncompile.ir import serde
    from snncompile.models.checkpoint import load_checkpoint

    check_outputs([path, serde.data_path(path)], [folder])
    model = load_checkpoint(folder)
    if kwargs.get("tokenizer") is None:
        kwargs["tokenizer"] = export_tokenizer(None, folder, model.config.vocab_size)
    return export_model(model, path, **kwargs)

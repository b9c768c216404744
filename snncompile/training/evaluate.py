"""Evaluation: validation bits per byte, per-layer firing rates, text generation.

Bits per byte (byte-level tokens, so bits per token):
    bpb = sum over predicted bytes of -log2 softmax(y_t)[b_{t+1}]  /  number of predicted bytes
over the validation bytes cut into windows of `seq_len + 1` bytes (`eval_windows`: the model
restarts from an empty state at every window; each byte after a window's first is predicted
once). Logits of padded vocabulary rows are ignored (softmax over the 256 real bytes).
Models run in eval mode: neurons quantize, SGC is off (pure spike-driven forward).

Firing rate of a neuron (spec section 2): fr = sum|s| / (numel * D) over the same pass; a
layer's rate pools its neurons (sum of sum|s| over sum of numel * D).

Token perplexity: ppl = exp(sum of -ln p over predicted tokens / number of predicted tokens);
with byte tokens ppl = 2^bpb.

Token by token (`evaluate_stream`, for executors that run one decoding step at a time: the
reference interpreter and the simulator on an exported or lowered graph): the same windows and
the same sum, computed from the logits each step returns, so a caller that counts events in the
same walk gets quality and counters from one pass. Bits per byte divide by the bytes of text
the predicted tokens stand for (`token_bytes[id]`; 1 per token for byte tokens), so figures stay
comparable across tokenizers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from snncompile.data.corpus import eval_windows
from snncompile.errors import CheckpointError, ConfigError, IRError
from snncompile.ir.graph import first_nonfinite
from snncompile.ir.ops import SpikeEncode
from snncompile.models.lm import SpikingMambaLM
from snncompile.models.neurons import SpikeNeuron, record_spikes

_LAYER_RE = re.compile(r"layers\.(\d+)\.")


@dataclass
class EvalResult:
    """Validation figures of one model."""

    bpb: float
    n_bytes: int                     # predicted bytes
    seq_len: int
    neuron_rates: dict[str, float] = field(default_factory=dict)   # qualified name -> fr
    layer_rates: dict[int, float] = field(default_factory=dict)    # layer index -> pooled fr
    mean_rate: float | None = None                                 # all neurons pooled
    nats_per_token: float | None = None    # mean -ln p of the predicted tokens
    n_tokens: int | None = None            # predicted tokens (= n_bytes for byte tokens)

    @property
    def perplexity(self) -> float | None:
        """Token perplexity exp(nats_per_token) (module docstring)."""
        return None if self.nats_per_token is None else math.exp(self.nats_per_token)

    def to_dict(self) -> dict:
        return {"bpb": self.bpb, "n_bytes": self.n_bytes, "seq_len": self.seq_len,
                "n_tokens": self.n_tokens, "perplexity": self.perplexity,
                "mean_firing_rate": self.mean_rate,
                "layer_firing_rates": {str(k): v for k, v in sorted(self.layer_rates.items())},
                "neuron_firing_rates": dict(self.neuron_rates)}


@torch.no_grad()
def evaluate(model: SpikingMambaLM, data: np.ndarray, seq_len: int = 256, batch: int = 16,
             max_bytes: int | None = None) -> EvalResult:
    """Validation bpb and firing rates of `model` on `data` (module docstring)."""
    if batch < 1:
        raise ConfigError(f"evaluate: batch must be >= 1, got {batch}")
    check_model_values(model)
    windows = eval_windows(data, seq_len, max_bytes)
    vocab = model.config.vocab_size
    if int(windows.max()) >= vocab:
        raise ConfigError(f"evaluate: the data holds token {int(windows.max())}, the model's "
                          f"vocabulary has {vocab} (byte-level data needs vocab_size >= 256)")
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        with record_spikes(model) as stats:
            for i in range(0, windows.shape[0], batch):
                w = windows[i:i + batch]
                logits = model(w[:, :-1])[..., :vocab].double()
                logp = torch.log_softmax(logits, dim=-1)
                nll = -logp.gather(-1, w[:, 1:, None]).squeeze(-1)
                total += float(nll.sum())
    finally:
        model.train(was_training)
    n = windows.shape[0] * seq_len
    # token corpora (snncompile.data.token_corpus.SplitView) carry bytes of text per token id
    token_bytes = getattr(data, "token_bytes", None)
    n_text = (n if token_bytes is None
              else int(np.asarray(token_bytes)[windows[:, 1:].numpy()].sum()))
    result = EvalResult(bpb=total / max(n_text, 1) / math.log(2), n_bytes=n_text,
                        seq_len=seq_len, nats_per_token=total / n, n_tokens=n)
    if not math.isfinite(result.bpb):  # finite weights can still overflow the logits
        raise CheckpointError(f"evaluate: bits per byte is {result.bpb} (the model's logits are "
                              f"not finite: its weights or thresholds are out of range)")
    if stats:
        pool_rates(result, {name: (st.sum_abs, st.numel * st.D) for name, st in stats.items()})
    return result


def pool_rates(result: EvalResult, sums: dict[str, tuple[int, int]]) -> None:
    """Fill `result`'s firing rates from {neuron name: (sum |s|, slots = numel * D)}: per
    neuron sum|s| / slots, per layer (the `layers.{i}.` in the name) and over all neurons the
    pooled sum|s| over the pooled slots (module docstring)."""
    per_layer: dict[int, list[int]] = {}
    for name, (s, slots) in sums.items():
        result.neuron_rates[name] = s / slots if slots else 0.0
        m = _LAYER_RE.search(name)
        layer = int(m.group(1)) if m else -1
        acc = per_layer.setdefault(layer, [0, 0])
        acc[0] += s
        acc[1] += slots
    result.layer_rates = {k: v[0] / v[1] if v[1] else 0.0 for k, v in per_layer.items()}
    tot_s = sum(v[0] for v in per_layer.values())
    tot_n = sum(v[1] for v in per_layer.values())
    result.mean_rate = tot_s / tot_n if tot_n else 0.0


def evaluate_stream(step: Callable[[int], Any], restart: Callable[[], None],
                    windows: np.ndarray, vocab: int,
                    token_bytes: np.ndarray | None = None,
                    on_window: Callable[[int], None] | None = None) -> EvalResult:
    """Bits per byte and token perplexity of a token-by-token executor (module docstring).

    `windows` (n_windows, seq_len + 1) integer token ids (`data.corpus.eval_windows`);
    `restart()` starts a window from an empty state; `step(token)` feeds one token and returns
    the logits of the next (a float array, or a CPU tensor, of at least `vocab` entries;
    padded rows beyond `vocab` are ignored). Each window's last token is predicted, never fed.
    `token_bytes[id]`: bytes of text token `id` stands for (None: one byte per token).
    `on_window(i)` is called after each window (progress). Firing rates are the caller's (it
    owns the executor's counters); the result's rate fields stay empty."""
    windows = np.asarray(windows)
    if windows.ndim != 2 or windows.shape[1] < 2 or windows.shape[0] < 1:
        raise ConfigError(f"evaluate: windows must be (n >= 1, seq_len + 1 >= 2), got "
                          f"{windows.shape}")
    if vocab < 1:
        raise ConfigError(f"evaluate: vocab must be >= 1, got {vocab}")
    top = int(windows.max())
    if top >= vocab or int(windows.min()) < 0:
        raise ConfigError(f"evaluate: the data holds token {top}, the model's vocabulary has "
                          f"{vocab} (byte-level data needs vocab_size >= 256)")
    total = 0.0
    text_bytes = 0
    seq_len = windows.shape[1] - 1
    # logits are copied into a block of rows and scored a block at a time (vectorized), so
    # each step costs the executor's walk plus one row copy; blocks stay under 32 MiB
    rows = max(1, min(seq_len, (4 << 20) // vocab))
    buf = np.empty((rows, vocab), np.float64)
    for w_i, window in enumerate(windows.tolist()):
        restart()
        for start in range(0, seq_len, rows):
            k = min(rows, seq_len - start)
            for t in range(k):
                buf[t] = np.asarray(step(window[start + t]))[:vocab]
            z = buf[:k]
            top = z.max(axis=1)
            # -log softmax(z)[target] = logsumexp(z) - z[target], shifted by the max for range
            lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
            targets = np.asarray(window[start + 1:start + k + 1])
            total += float((lse - z[np.arange(k), targets]).sum())
        if token_bytes is not None:
            text_bytes += int(np.asarray(token_bytes)[window[1:]].sum())
        if on_window is not None:
            on_window(w_i)
    n = windows.shape[0] * seq_len
    text_bytes = n if token_bytes is None else text_bytes
    if text_bytes < 1:
        raise ConfigError("evaluate: the predicted tokens stand for no text bytes")
    result = EvalResult(bpb=total / text_bytes / math.log(2), n_bytes=text_bytes,
                        seq_len=seq_len, nats_per_token=total / n, n_tokens=n)
    if not math.isfinite(result.bpb):
        raise CheckpointError(f"evaluate: bits per byte is {result.bpb} (the model's logits are "
                              f"not finite)")
    return result


def check_model_values(model: torch.nn.Module) -> None:
    """CheckpointError naming the first parameter or buffer of `model` that holds a NaN or
    Inf (the IR's own test, `snncompile.ir.graph.first_nonfinite`), or the first spike neuron
    whose threshold theta the exporter would refuse (the IR's `SpikeEncode.verify`: theta
    must be positive and finite), so that evaluate refuses what export refuses."""
    for name, t in model.state_dict().items():
        if t.is_floating_point():
            t = t.detach().cpu()
            bad = first_nonfinite((t.float() if t.dtype == torch.bfloat16 else t).numpy())
            if bad is not None:
                raise CheckpointError(f"{name!r} holds a non-finite value ({bad})")
    for name, m in model.named_modules():
        if isinstance(m, SpikeNeuron):
            theta = float(m.theta.detach().reshape(()))
            try:
                SpikeEncode(d=1, kind=m.kind, D=m.D, theta=theta).verify()
            except IRError as exc:
                raise CheckpointError(f"{name}.theta: {exc}") from None


@torch.no_grad()
def generate(model: SpikingMambaLM, prompt: list[int], n_tokens: int, temperature: float = 0.0,
             seed: int = 0) -> list[int]:
    """Continue `prompt` (token ids) by `n_tokens` tokens with the recurrent `step`.

    temperature 0: greedy (argmax); > 0: sample from softmax(logits / temperature) with a
    torch generator seeded by `seed`. Only the real vocabulary (config.vocab_size) is sampled.
    """
    if n_tokens < 0:
        raise ConfigError(f"generate: n_tokens must be >= 0, got {n_tokens}")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ConfigError(f"generate: temperature must be >= 0, got {temperature}")
    if not prompt:
        raise ConfigError("generate: the prompt must hold at least one token")
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(int(seed))
    was_training = model.training
    model.eval()
    try:
        state = model.allocate_state(1)
        ids = torch.tensor([prompt], dtype=torch.int64)
        logits = model(ids, state=state)[0, -1, :vocab]
        out: list[int] = []
        for _ in range(n_tokens):
            if temperature == 0:
                nxt = int(torch.argmax(logits))
            else:
                probs = torch.softmax(logits.double() / temperature, dim=-1)
                nxt = int(torch.multinomial(probs, 1, generator=gen))
            out.append(nxt)
            logits = model.step(torch.tensor([nxt], dtype=torch.int64), state)[0, :vocab]
    finally:
        model.train(was_training)
    return out

"""The training loop of one stage: a dense Mamba2 teacher, or a SpikingMamba student distilled
from it (spec section 4).

teacher  model = SpikingMambaLM(config) initialised under torch.manual_seed(seed);
         loss = CE(next byte) (`losses.lm_loss`).
student  model = SpikingMambaLM.from_teacher(teacher, config): the teacher's weights plus
         neurons; thresholds calibrated on the teacher's activations (`calibration`, batches
         drawn with `batch_at` at steps -1..-calib_batches, disjoint from training steps);
         the embedding (and the tied LM head, the same tensor) is frozen;
         loss = kl_weight*KL + hidden_weight*L_Hidden + ce_weight*CE (`options`, `losses`).
Both     AdamW, `options.lr_at(step)`, gradient clipping at `grad_clip`; step k trains on
         `batch_at(train, k, batch, seq_len, seed)`; every `ckpt_every` steps (and at the end)
         the full state is written atomically (`state.save_state`). A run that finds a
         compatible checkpoint resumes from it; since the batch, learning rate and SGC weight
         of a step depend only on (options, step), the resumed run reproduces an
         uninterrupted one bit for bit (same thread count; tests/test_distill.py).
Where    `device` (cpu | cuda | auto), `options.precision` (fp32 | bf16 autocast),
         `options.grad_accum` micro-batches, and data-parallel ranks under torchrun (DDP; rank
         r trains on its shard of the step's global batch; only rank 0 writes checkpoints):
         `snncompile.training.runtime` states the global batch semantics. The loss takes hooks
         and attributes from the model inside the DDP wrapper and runs the forward through the
         wrapper. The returned model is on the CPU; only rank 0 evaluates it. A resumed
         distributed run also reproduces an uninterrupted one bit for bit (same world size;
         tests/test_distributed.py).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from snncompile.data.corpus import CorpusSplit, batch_at, load_split
from snncompile.errors import ConfigError
from snncompile.models.config import SpikingMambaConfig
from snncompile.models.kernels import Kernels, select_kernels, use_kernels
from snncompile.models.lm import SpikingMambaLM
from snncompile.models.neurons import spike_neurons
from snncompile.models.sgc import set_sgc_weight
from snncompile.training import losses, runtime, state
from snncompile.training.evaluate import EvalResult, evaluate
from snncompile.training.options import TrainOptions
from snncompile.training.progress import training_progress

# batch_at seeds of the two stages differ, so a student does not replay the teacher's batches
_STAGE_SEED_OFFSET = {"teacher": 0, "student": 1_000_003}


@dataclass
class StageResult:
    """Outcome of `train_stage`."""

    model: SpikingMambaLM
    options: TrainOptions
    losses: list[float]                     # loss of every step 0..steps-1 (resumed ones too)
    resumed_from: int | None                # step the run resumed from, None if fresh
    train_wall_s: float                     # wall time of this run's steps (not earlier runs')
    tokens_per_s: float                     # global: all ranks' tokens per wall second
    eval: EvalResult | None = None
    thetas: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    world_size: int = 1
    kernels: str = "torch"                  # what the mixers ran: 'torch' or 'mamba_ssm'

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else math.nan


@contextlib.contextmanager
def capture_mixer_outputs(model: SpikingMambaLM) -> Iterator[list[torch.Tensor]]:
    """Collect every block's mixer output (B, L, d) of each forward inside the block (`model`
    may be wrapped in DDP: the hooks go on the model inside)."""
    out: list[torch.Tensor] = []
    handles = [blk.mixer.register_forward_hook(lambda _m, _i, y: out.append(y))
               for blk in runtime.unwrap(model).backbone.layers]
    try:
        yield out
    finally:
        for h in handles:
            h.remove()


def _optimizer(model: nn.Module, options: TrainOptions) -> torch.optim.AdamW:
    """AdamW; weight decay on trainable tensors of rank >= 2 only (not norms, SSM scalars, theta)."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": options.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=options.lr, betas=(0.9, 0.95), eps=1e-8,
                             foreach=False)


def _check_model_config(options: TrainOptions, config: SpikingMambaConfig,
                        teacher: SpikingMambaLM | None) -> None:
    if options.stage == "teacher" and config.spiking:
        raise ConfigError("teacher stage: the model config must be dense (spiking=False)")
    if options.stage == "student":
        if not config.spiking:
            raise ConfigError("student stage: the model config must have spiking=True")
        if teacher is None:
            raise ConfigError("student stage needs a teacher model")
        if teacher.config.spiking:
            raise ConfigError("student stage: the teacher must be a dense model (spiking=False)")


def build_model(options: TrainOptions, config: SpikingMambaConfig,
                teacher: SpikingMambaLM | None, data: CorpusSplit) -> tuple[SpikingMambaLM, dict]:
    """The model at step 0 of a stage (seeded init, or student from teacher + calibration)."""
    torch.manual_seed(options.seed)
    if options.stage == "teacher":
        return SpikingMambaLM(config), {}
    if teacher is None:
        raise ConfigError("student stage needs a teacher model")
    calib = None
    if options.calibration != "none":
        seed = options.seed + _STAGE_SEED_OFFSET["student"]
        where = next(teacher.parameters()).device
        calib = [batch_at(data.train, -(i + 1), options.batch, options.seq_len, seed)[0]
                 .to(where) for i in range(options.calib_batches)]
    student = SpikingMambaLM.from_teacher(
        teacher, config, calibration=calib,
        method=options.calibration if calib is not None else "mse")
    student.backbone.embedding.weight.requires_grad_(False)   # frozen (tied head: same tensor)
    thetas = {n: float(m.theta.detach()) for n, m in spike_neurons(student)}
    return student, thetas


def train_stage(options: TrainOptions, config: SpikingMambaConfig, *,
                teacher: SpikingMambaLM | None = None, data: CorpusSplit | None = None,
                ckpt_dir: str | Path | None = None, resume: bool = True,
                progress: bool = False, evaluate_at_end: bool = True,
                on_step: Callable[[int, float], None] | None = None,
                device: str = "cpu") -> StageResult:
    """Train one stage (module docstring) and return the model in eval mode with its figures.

    `on_step(step, loss)` is called after every optimiser step (and after that step's
    checkpoint, if one was due); an exception from it aborts the run like a crash would.
    `device`: 'cpu' | 'cuda' | 'auto' (`runtime.resolve_device`); the teacher is moved there for
    the run and back afterwards.
    """
    _check_model_config(options, config, teacher)
    ranks = runtime.setup(device)
    per_rank = options.batch // ranks.world
    if options.batch % (ranks.world * options.grad_accum):
        raise ConfigError(f"--batch {options.batch} must be a multiple of ranks x grad_accum "
                          f"= {ranks.world} x {options.grad_accum}")
    micro = per_rank // options.grad_accum
    data = data if data is not None else load_split()
    kernels = select_kernels(ranks.device)
    with runtime.model_on(teacher, ranks.device, kernels):
        return _train(options, config, teacher, data, ckpt_dir, resume, progress,
                      evaluate_at_end, on_step, ranks, micro, kernels)


def _train(options: TrainOptions, config: SpikingMambaConfig, teacher: SpikingMambaLM | None,
           data: CorpusSplit, ckpt_dir: str | Path | None, resume: bool, progress: bool,
           evaluate_at_end: bool, on_step: Callable[[int, float], None] | None,
           ranks: runtime.Ranks, micro: int, kernels: Kernels | None) -> StageResult:
    dev = ranks.device
    model, thetas = build_model(options, config, teacher, data)
    model.to(dev)
    use_kernels(model, kernels)
    if teacher is not None:
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    optimizer = _optimizer(model, options)
    meta = {"stage": options.stage, "options": options.to_dict(),
            "model_config": config.to_mamba_ssm_dict(),
            "teacher_sha256": state.state_digest(teacher) if teacher is not None else None}

    start, history, resumed_from = 0, [], None
    if ckpt_dir is not None and resume and state.has_state(ckpt_dir):
        st = state.load_state(ckpt_dir, model, optimizer, meta)
        start, history, resumed_from = st.step, st.losses[:st.step], st.step
    ranks.barrier()   # every rank has read the checkpoint before rank 0 may replace it
    net = ranks.wrap(model)
    model.train()
    seed = options.seed + _STAGE_SEED_OFFSET[options.stage]
    vocab = config.vocab_size
    tokens = options.batch * options.seq_len
    accum = options.grad_accum
    t0 = time.perf_counter()
    with training_progress(progress and ranks.is_main) as bar:
        task = bar.add_task(options.stage, total=options.steps, completed=start,
                            loss=history[-1] if history else math.nan, tps=0.0)
        for step in range(start, options.steps):
            lr = options.lr_at(step)
            for g in optimizer.param_groups:
                g["lr"] = lr
            if config.spiking and config.sgc and config.sgc_mode == "branch" and options.sgc_anneal:
                set_sgc_weight(model, config.sgc_weight * (1.0 - step / options.steps))
            x, y = batch_at(data.train, step, options.batch, options.seq_len, seed)
            x, y = ranks.shard(x), ranks.shard(y)
            optimizer.zero_grad(set_to_none=True)
            total = None
            for m in range(accum):
                xm = x[m * micro:(m + 1) * micro].to(dev, non_blocking=True)
                ym = y[m * micro:(m + 1) * micro].to(dev, non_blocking=True)
                with runtime.no_sync(net, skip=m < accum - 1):
                    with runtime.autocast(dev, options.precision):
                        loss = _loss(net, teacher, options, xm, ym, vocab)
                    (loss / accum if accum > 1 else loss).backward()
                total = loss.detach() if total is None else total + loss.detach()
            if options.grad_clip > 0:
                nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad],
                                         options.grad_clip, foreach=False)
            optimizer.step()
            value = ranks.mean(total / accum if accum > 1 else total)
            if not math.isfinite(value):
                raise ConfigError(f"{options.stage} stage: loss became {value} at step {step}; "
                                  "lower --lr")
            history.append(value)
            done = step + 1
            if (ckpt_dir is not None and ranks.is_main
                    and (done % options.ckpt_every == 0 or done == options.steps)):
                state.save_state(ckpt_dir, model, optimizer, done, history, meta)
            elapsed = time.perf_counter() - t0
            bar.update(task, completed=done, loss=value,
                       tps=(done - start) * tokens / max(elapsed, 1e-9))
            if on_step is not None:
                on_step(step, value)
    wall = time.perf_counter() - t0
    ranks.barrier()   # rank 0's last checkpoint is written before any rank returns
    model.eval()
    use_kernels(model, None)
    model.to("cpu")
    n_run = options.steps - start
    result = StageResult(model=model, options=options, losses=history, resumed_from=resumed_from,
                         train_wall_s=wall, tokens_per_s=n_run * tokens / wall if wall > 0 else 0.0,
                         thetas=thetas, device=str(dev), world_size=ranks.world,
                         kernels=kernels.name if kernels is not None else "torch")
    if evaluate_at_end and ranks.is_main:
        result.eval = evaluate(model, data.val, options.eval_seq_len, options.batch,
                               options.eval_bytes)
    return result


def _loss(model: nn.Module, teacher: SpikingMambaLM | None, options: TrainOptions,
          x: torch.Tensor, y: torch.Tensor, vocab: int) -> torch.Tensor:
    """The stage's loss on one (micro-)batch; `model` is the student, or its DDP wrapper (the
    forward runs through it, the hooks go on the model inside)."""
    if options.stage == "teacher":
        return losses.lm_loss(model(x)[..., :vocab], y)
    if teacher is None:
        raise ConfigError("student stage needs a teacher model")
    want_mixer = options.hidden_weight > 0 and options.hidden_target == "mixer"
    with torch.no_grad():
        if want_mixer:
            with capture_mixer_outputs(teacher) as t_hidden:
                t_logits = teacher(x)[..., :vocab]
        else:
            t_logits, t_hidden = teacher(x)[..., :vocab], []
    if want_mixer:
        with capture_mixer_outputs(model) as s_hidden:
            s_logits = model(x)[..., :vocab]
    else:
        s_logits, s_hidden = model(x)[..., :vocab], []
    total = s_logits.new_zeros(())
    if options.kl_weight > 0:
        total = total + options.kl_weight * losses.kl_loss(t_logits, s_logits, options.temperature)
    if options.hidden_weight > 0:
        term = (losses.mean_hidden_loss(t_hidden, s_hidden) if want_mixer
                else losses.hidden_loss(t_logits, s_logits))
        total = total + options.hidden_weight * term
    if options.ce_weight > 0:
        total = total + options.ce_weight * losses.lm_loss(s_logits, y)
    return total

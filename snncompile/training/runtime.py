"""Where and how a training run executes: device, precision, and data-parallel ranks.

Device   'cpu' | 'cuda' | 'auto' (cuda when torch sees a GPU, else cpu). Under torchrun each
         rank on CUDA uses GPU `LOCAL_RANK`.
Precision 'fp32' | 'bf16': bf16 runs the forward passes (student and teacher) and the losses
         under `torch.autocast(device_type, torch.bfloat16)`, on CPU as on CUDA; parameters,
         gradients and optimiser state stay float32 (mixed precision, no loss scaling needed
         for bf16). The SSM scan itself runs in float32 either way (snncompile.models.mamba2).
Ranks    a run started by `torchrun --nproc_per_node R` (the environment variables RANK,
         WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) joins one process group (gloo on
         CPU, nccl on CUDA) and trains the model wrapped in DistributedDataParallel.
Kernels  on CUDA the mixers call mamba_ssm's Triton kernels when it is installed
         (snncompile.models.kernels.select_kernels), the same modules and the same code around
         the calls as on CPU.

Global batch semantics (`TrainOptions.batch` = B sequences per optimiser step, whatever R and
the gradient accumulation A):
  the step's B sequences are `batch_at(train, step, B, ...)` as in a single process;
  rank r takes rows [r*B/R, (r+1)*B/R) (its shard), split into A micro-batches of B/(R*A);
  each micro-batch loss is a mean over its positions and is back-propagated divided by A,
  DDP averages the gradients over the R ranks, so the update is the gradient of the mean loss
  over all B sequences: the single-process step, up to float rounding. B must be a multiple of
  R*A. The loss recorded per step is that mean (all-reduced over ranks).
"""

from __future__ import annotations

import atexit
import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from snncompile.errors import ConfigError
from snncompile.models.kernels import Kernels, use_kernels

DEVICES = ("cpu", "cuda", "auto")
PRECISIONS = ("fp32", "bf16")


def resolve_device(device: str = "cpu") -> torch.device:
    """'cpu' | 'cuda' | 'auto' -> a torch.device (CUDA: the rank's GPU under torchrun)."""
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: torch sees no CUDA device (torch "
                              f"{torch.__version__}, cuda build {torch.version.cuda})")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of `precision` on `device` (a no-op for fp32)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel (or FullyShardedDataParallel) wrapper: the
    one whose attributes (`backbone`, `config`) and submodules hooks must use."""
    while isinstance(model, nn.parallel.DistributedDataParallel) or \
            type(model).__name__ == "FullyShardedDataParallel":
        model = model.module
    return model


@dataclass(frozen=True)
class Ranks:
    """This process's place in a data-parallel run (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def shard(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global batch (module docstring)."""
        per = t.shape[0] // self.world
        return t[self.rank * per:(self.rank + 1) * per]

    def wrap(self, model: nn.Module) -> nn.Module:
        """`model` in DistributedDataParallel when distributed (rank 0's weights are broadcast
        to every rank on construction), else `model` itself."""
        if not self.distributed:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def mean(self, value: torch.Tensor) -> float:
        """The mean of a scalar over the ranks (the value itself in one process)."""
        if not self.distributed:
            return float(value)
        import torch.distributed as dist
        t = value.detach().to(self.device, torch.float64).reshape(1)
        dist.all_reduce(t)
        return float(t) / self.world

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist
            dist.barrier()


def no_sync(model: nn.Module, skip: bool) -> contextlib.AbstractContextManager:
    """DDP's `no_sync()` (gradients accumulate locally, no all-reduce) when `skip`."""
    if skip and isinstance(model, nn.parallel.DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


def setup(device: str = "cpu") -> Ranks:
    """Resolve the device and, under torchrun (WORLD_SIZE > 1), join the process group
    (gloo on CPU, nccl on CUDA; once per process, left at exit)."""
    dev = resolve_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks(device=dev)
    import torch.distributed as dist
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dist.is_initialized():
        if dist.get_backend() != backend:
            raise ConfigError(f"the process group uses {dist.get_backend()}, device {dev} "
                              f"needs {backend}")
    else:
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend)
        atexit.register(_leave)
    return Ranks(rank=dist.get_rank(), world=dist.get_world_size(), device=dev)


def _leave() -> None:
    import torch.distributed as dist
    if dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def model_on(model: nn.Module | None, device: torch.device,
             kernels: Kernels | None = None) -> Iterator[None]:
    """Move `model` to `device` (its mixers calling `kernels`) for the block, and back to where
    it was (PyTorch code) afterwards."""
    if model is None:
        yield
        return
    p = next(model.parameters(), None)
    home = p.device if p is not None else torch.device("cpu")
    model.to(device)
    use_kernels(model, kernels)
    try:
        yield
    finally:
        use_kernels(model, None)
        model.to(home)

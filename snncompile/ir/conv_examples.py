"""Example graphs of the convolution ops (snncompile/ir/conv_ops.py), in the form of
`snncompile.ir.examples`: token -> embedding (width 6, read as (C, L) or (C, H, W)) -> the op,
deterministic parameters. `snncompile.ir.examples.EXAMPLES` includes them."""

from __future__ import annotations

from typing import Callable

import numpy as np

from snncompile.ir import conv_ops
from snncompile.ir.graph import Graph
from snncompile.ir.nir_examples import _graph


def _conv1d() -> Graph:
    op = conv_ops.Conv1d(input_shape=(2, 3), kernel=(2,), stride=(1,), padding=(1,),
                         dilation=(1,), c_out=2, has_bias=True)
    w = np.linspace(-1, 1, 8).reshape(op.weight_shape())
    return _graph("conv1d", op, {"weight": w, "bias": np.array([0.1, -0.2])}, ("y",))


def _conv2d() -> Graph:
    op = conv_ops.Conv2d(input_shape=(1, 2, 3), kernel=(2, 2), stride=(1, 2), padding=(1, 1),
                         dilation=(1, 1), c_out=2)
    return _graph("conv2d", op, {"weight": np.linspace(-1, 1, 8).reshape(op.weight_shape())},
                  ("y",))


def _sum_pool() -> Graph:
    op = conv_ops.SumPool2d(input_shape=(1, 2, 3), kernel=(2, 2), stride=(1, 1),
                            padding=(0, 1))
    return _graph("pool", op, {}, ("y",))


CONV_EXAMPLES: dict[str, Callable[[], Graph]] = {
    "conv1d": _conv1d,
    "conv2d": _conv2d,
    "sum_pool_2d": _sum_pool,
}
